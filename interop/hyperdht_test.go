package interop

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/udx"
)

// jsHyperDHT is a running hyperdht_peer.js; commands run on its user node.
type jsHyperDHT struct {
	p          *Proc
	Bootstrap  []string `json:"bootstrap"`
	Ports      []int    `json:"ports"`
	Firewalled bool     `json:"firewalled"`
}

func startJSHyperDHT(t *testing.T, args ...string) *jsHyperDHT {
	t.Helper()
	env := Require(t)
	j := &jsHyperDHT{p: env.Start(t, "hyperdht_peer.js", args...)}
	if err := json.Unmarshal([]byte(j.p.Expect(t, "ready ")), j); err != nil {
		t.Fatal(err)
	}
	return j
}

// do sends one command and decodes its result into out.
func (j *jsHyperDHT) do(t *testing.T, cmd map[string]any, out any) {
	t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := fmt.Fprintf(j.p.Stdin, "%s\n", b); err != nil {
		t.Fatal(err)
	}
	res := j.p.Expect(t, "result ")
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(res), &e)
	if e.Error != "" {
		t.Fatalf("JS %v: %s", cmd["op"], e.Error)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(res), out); err != nil {
			t.Fatal(err)
		}
	}
}

// goHyperDHTNodes starts n persistent Go nodes and one ephemeral user node
// (returned first) joining bootstrap.
func goHyperDHTNodes(t *testing.T, ctx context.Context, bootstrap []string, n int) (*hyperdht.DHT, []*hyperdht.DHT) {
	return goHyperDHTNodesFW(t, ctx, bootstrap, n, nil)
}

// goHyperDHTNodesFW is goHyperDHTNodes with a user node that stays
// firewalled (true) or is declared reachable (false); nil is dht's default.
func goHyperDHTNodesFW(t *testing.T, ctx context.Context, bootstrap []string, n int, firewalled *bool) (*hyperdht.DHT, []*hyperdht.DHT) {
	t.Helper()
	u := udx.New(&udx.Config{NoBatch: true})
	var nodes []*hyperdht.DHT
	mk := func(cfg dht.Config) *hyperdht.DHT {
		cfg.Host = "127.0.0.1"
		cfg.Bootstrap = bootstrap
		cfg.UDX = u
		d, err := hyperdht.New(&hyperdht.Config{DHT: cfg})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if err := d.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
		return d
	}
	for i := 0; i < n; i++ {
		nodes = append(nodes, mk(dht.Config{Ephemeral: boolPtr(false), Firewalled: boolPtr(false)}))
	}
	ucfg := dht.Config{Ephemeral: boolPtr(true)}
	if firewalled != nil {
		ucfg.NoQuickFirewall = *firewalled
		ucfg.Firewalled = firewalled
	}
	user := mk(ucfg)
	return user, nodes
}

func echoAccept(t *testing.T, srv *hyperdht.Server) {
	go func() {
		for {
			c, err := srv.Accept(context.Background())
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				io.Copy(c, c)
			}(c)
		}
	}()
}

func goEcho(t *testing.T, ctx context.Context, d *hyperdht.DHT, pk []byte, msg string) {
	t.Helper()
	c, err := d.Connect(ctx, pk)
	if err != nil {
		t.Fatalf("Go connect: %v", err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("Go echo: %q %v", buf, err)
	}
}

// checkConnectBothWays runs a JS server reached by the Go user node and a Go
// server reached by the JS user node, echoing data both ways.
func checkConnectBothWays(t *testing.T, ctx context.Context, js *jsHyperDHT, user *hyperdht.DHT) {
	seed := bytes.Repeat([]byte{7}, 32)
	var l struct {
		PublicKey string `json:"publicKey"`
	}
	js.do(t, map[string]any{"op": "listen", "seed": hex.EncodeToString(seed)}, &l)
	pk, _ := hex.DecodeString(l.PublicKey)
	goEcho(t, ctx, user, pk, "hello from go")

	kp, _ := crypto.KeyPairFromSeed(bytes.Repeat([]byte{9}, 32))
	srv, err := user.Listen(ctx, kp, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	echoAccept(t, srv)
	var e struct {
		Echo string `json:"echo"`
	}
	js.do(t, map[string]any{"op": "connect", "publicKey": hex.EncodeToString(kp.PublicKey), "data": "hello from js"}, &e)
	if e.Echo != "hello from js" {
		t.Fatalf("JS echo: %q", e.Echo)
	}
}

func checkRecordsBothWays(t *testing.T, ctx context.Context, js *jsHyperDHT, d *hyperdht.DHT) {
	// Immutable: Go writes, JS reads; JS writes, Go reads.
	h, err := d.ImmutablePut(ctx, []byte("written by go"))
	if err != nil {
		t.Fatal(err)
	}
	var iv struct {
		Value *string `json:"value"`
	}
	js.do(t, map[string]any{"op": "immutableGet", "hash": hex.EncodeToString(h[:])}, &iv)
	if iv.Value == nil || *iv.Value != "written by go" {
		t.Fatalf("JS immutableGet: %v", iv.Value)
	}
	var ih struct {
		Hash string `json:"hash"`
	}
	js.do(t, map[string]any{"op": "immutablePut", "value": "written by js"}, &ih)
	var jh [32]byte
	hex.Decode(jh[:], []byte(ih.Hash))
	v, err := d.ImmutableGet(ctx, jh)
	if err != nil || string(v) != "written by js" {
		t.Fatalf("Go ImmutableGet: %q %v", v, err)
	}

	// Mutable: Go writes seq 1, JS reads it and writes seq 2, Go reads that.
	seed := bytes.Repeat([]byte{3}, 32)
	kp, _ := crypto.KeyPairFromSeed(seed)
	if err := d.MutablePut(ctx, kp, []byte("go v1"), 1); err != nil {
		t.Fatal(err)
	}
	var mv struct {
		Seq   *uint64 `json:"seq"`
		Value *string `json:"value"`
	}
	js.do(t, map[string]any{"op": "mutableGet", "publicKey": hex.EncodeToString(kp.PublicKey)}, &mv)
	if mv.Seq == nil || *mv.Seq != 1 || *mv.Value != "go v1" {
		t.Fatalf("JS mutableGet: %+v", mv)
	}
	js.do(t, map[string]any{"op": "mutablePut", "seed": hex.EncodeToString(seed), "value": "js v2", "seq": 2}, nil)
	r, err := d.MutableGet(ctx, kp.PublicKey, 2)
	if err != nil || r.Seq != 2 || string(r.Value) != "js v2" {
		t.Fatalf("Go MutableGet: %+v %v", r, err)
	}

	// Announce on one side, lookup on the other.
	topic := crypto.Hash([]byte("interop topic"))
	akp, _ := crypto.KeyPairFromSeed(bytes.Repeat([]byte{4}, 32))
	if err := d.Announce(ctx, topic, akp, nil); err != nil {
		t.Fatal(err)
	}
	var lk struct {
		Peers []string `json:"peers"`
	}
	js.do(t, map[string]any{"op": "lookup", "topic": hex.EncodeToString(topic[:])}, &lk)
	if !strings.Contains(strings.Join(lk.Peers, ","), hex.EncodeToString(akp.PublicKey)) {
		t.Fatalf("JS lookup did not find the Go announce: %v", lk.Peers)
	}
	jseed := bytes.Repeat([]byte{5}, 32)
	jkp, _ := crypto.KeyPairFromSeed(jseed)
	js.do(t, map[string]any{"op": "announce", "topic": hex.EncodeToString(topic[:]), "seed": hex.EncodeToString(jseed)}, nil)
	res, err := d.Lookup(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range res {
		for _, p := range r.Peers {
			found = found || bytes.Equal(p.PublicKey[:], jkp.PublicKey)
		}
	}
	if !found {
		t.Fatal("Go lookup did not find the JS announce")
	}
}

// Go nodes join a JS hyperdht testnet: connections both ways and records
// written by each side read by the other.
func TestInteropHyperDHTGoJoinsJSTestnet(t *testing.T) {
	js := startJSHyperDHT(t, "testnet", "5")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	user, _ := goHyperDHTNodes(t, ctx, js.Bootstrap, 3)
	checkRecordsBothWays(t, ctx, js, user)
	checkConnectBothWays(t, ctx, js, user)
}

// JS nodes join a network bootstrapped by Go.
func TestInteropHyperDHTJSJoinsGoNetwork(t *testing.T) {
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	lc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(lc.LocalAddr().(*net.UDPAddr).Port)
	lc.Close()
	boot, err := hyperdht.NewBootstrapper("127.0.0.1", port, &hyperdht.Config{DHT: dht.Config{Host: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer boot.Close()
	bs := []string{fmt.Sprintf("127.0.0.1:%d", port)}
	user, _ := goHyperDHTNodes(t, ctx, bs, 3)
	js := startJSHyperDHT(t, "join", bs[0], "3")
	checkConnectBothWays(t, ctx, js, user)
	checkRecordsBothWays(t, ctx, js, user)
}

// Every pairing of firewalled and reachable peers on one host connects, in
// both directions: a firewalled JS server answers through its hole puncher's
// socket, a firewalled Go server through the socket the relay knows.
func TestInteropHyperDHTFirewalled(t *testing.T) {
	for _, c := range []struct{ goFW, jsFW bool }{{true, true}, {true, false}, {false, true}, {false, false}} {
		t.Run(fmt.Sprintf("goFirewalled=%v,jsFirewalled=%v", c.goFW, c.jsFW), func(t *testing.T) {
			args := []string{"testnet", "5"}
			if c.jsFW {
				args = append(args, "firewalled")
			} else {
				args = append(args, "open")
			}
			js := startJSHyperDHT(t, args...)
			if js.Firewalled != c.jsFW {
				t.Fatalf("JS user node firewalled=%v", js.Firewalled)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			user, _ := goHyperDHTNodesFW(t, ctx, js.Bootstrap, 3, &c.goFW)
			if user.Node().Firewalled() != c.goFW {
				t.Fatalf("Go user node firewalled=%v", user.Node().Firewalled())
			}
			checkConnectBothWays(t, ctx, js, user)
		})
	}
}

// A connection between firewalled peers on one host outlives the 10 s after
// which hyperdht servers drop the handshake state and hole punchers, in
// both directions (the "opens and then times out" failure mode).
func TestInteropHyperDHTFirewalledLongLived(t *testing.T) {
	js := startJSHyperDHT(t, "testnet", "5", "firewalled")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	fw := true
	user, _ := goHyperDHTNodesFW(t, ctx, js.Bootstrap, 3, &fw)

	var l struct {
		PublicKey string `json:"publicKey"`
	}
	js.do(t, map[string]any{"op": "listen", "seed": hex.EncodeToString(bytes.Repeat([]byte{8}, 32))}, &l)
	pk, _ := hex.DecodeString(l.PublicKey)
	c, err := user.Connect(ctx, pk)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	kp, _ := crypto.KeyPairFromSeed(bytes.Repeat([]byte{6}, 32))
	srv, err := user.Listen(ctx, kp, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	echoAccept(t, srv)
	var e struct {
		Echo  string `json:"echo"`
		Later string `json:"later"`
	}
	// The JS client holds its connection to the Go server for 12 s while
	// the Go client's connection to the JS server idles just as long.
	js.do(t, map[string]any{"op": "connect", "publicKey": hex.EncodeToString(kp.PublicKey), "data": "x", "holdMs": 12000}, &e)
	if e.Echo != "x" || e.Later != "x" {
		t.Fatalf("JS client to Go server: echo %q, after 12 s %q", e.Echo, e.Later)
	}
	for _, msg := range []string{"still", "there"} {
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, len(msg))
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
			t.Fatalf("Go client to JS server after 12 s: %q %v", buf, err)
		}
	}
}
