package interop

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/warrenp2p/warren/corestore"
	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/hypercore"
	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/swarm"
	"github.com/warrenp2p/warren/udx"
)

// jsSwarm is a running swarm_peer.js: a Hyperswarm replicating a Corestore
// over every connection.
type jsSwarm struct {
	p         *Proc
	PublicKey string `json:"publicKey"`
}

func (j *jsSwarm) do(t *testing.T, cmd map[string]any, out any) {
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

type jsConn struct {
	RemotePublicKey string `json:"remotePublicKey"`
	HandshakeHash   string `json:"handshakeHash"`
	Initiator       bool   `json:"initiator"`
}

func (j *jsSwarm) conns(t *testing.T) []jsConn {
	t.Helper()
	var out struct {
		Conns []jsConn `json:"conns"`
	}
	j.do(t, map[string]any{"op": "conns"}, &out)
	return out.Conns
}

// swarmPair is a Go swarm and a JS swarm on one Go-bootstrapped testnet,
// each with a corestore replicated over its swarm connections.
type swarmPair struct {
	g     *swarm.Swarm
	js    *jsSwarm
	store *corestore.Store
	mu    sync.Mutex
	seen  []*swarm.Conn
}

// newSwarmPair starts the testnet, the Go swarm (key pair from goSeed) and
// the JS swarm (key pair from jsSeed).
func newSwarmPair(t *testing.T, ctx context.Context, goSeed, jsSeed []byte) *swarmPair {
	t.Helper()
	env := Require(t)
	lc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(lc.LocalAddr().(*net.UDPAddr).Port)
	lc.Close()
	u := udx.New(&udx.Config{NoBatch: true})
	boot, err := hyperdht.NewBootstrapper("127.0.0.1", port, &hyperdht.Config{DHT: dht.Config{Host: "127.0.0.1", UDX: u}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { boot.Close() })
	bs := []string{fmt.Sprintf("127.0.0.1:%d", port)}
	mk := func(cfg dht.Config, kp *crypto.KeyPair) *hyperdht.DHT {
		cfg.Host, cfg.Bootstrap, cfg.UDX = "127.0.0.1", bs, u
		d, err := hyperdht.New(&hyperdht.Config{DHT: cfg, KeyPair: kp})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if err := d.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
		return d
	}
	for i := 0; i < 5; i++ {
		mk(dht.Config{Ephemeral: boolPtr(false), Firewalled: boolPtr(false)}, nil)
	}
	kp, err := crypto.KeyPairFromSeed(goSeed)
	if err != nil {
		t.Fatal(err)
	}
	user := mk(dht.Config{Ephemeral: boolPtr(true)}, &kp)
	g, err := swarm.New(&swarm.Config{DHT: user})
	if err != nil {
		t.Fatal(err)
	}
	store, err := corestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sp := &swarmPair{g: g, store: store}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		g.Close()
		wg.Wait()
		store.Close()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := g.Accept(context.Background())
			if err != nil {
				return
			}
			sp.mu.Lock()
			sp.seen = append(sp.seen, c)
			sp.mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				rep, err := store.Replicate(rctx, c.Conn)
				cancel()
				if err != nil {
					c.Close()
					return
				}
				select {
				case <-rep.Done():
				case <-c.Done():
					rep.Close()
					<-rep.Done()
				}
			}()
		}
	}()

	sp.js = &jsSwarm{p: env.Start(t, "swarm_peer.js", bs[0], hex.EncodeToString(jsSeed))}
	if err := json.Unmarshal([]byte(sp.js.p.Expect(t, "ready ")), sp.js); err != nil {
		t.Fatal(err)
	}
	return sp
}

// checkOneConnection waits until each side holds exactly one connection,
// to the other, and both hold the same one (same handshake hash); then
// checks that it stays so. It returns the Go side's connection.
func (sp *swarmPair) checkOneConnection(t *testing.T, ctx context.Context) *swarm.Conn {
	t.Helper()
	jsKey, _ := hex.DecodeString(sp.js.PublicKey)
	agree := func() (*swarm.Conn, []jsConn, bool) {
		gc := sp.g.Connections()
		jc := sp.js.conns(t)
		if len(gc) != 1 || len(jc) != 1 {
			return nil, jc, false
		}
		if !bytes.Equal(gc[0].Info.PublicKey, jsKey) || jc[0].RemotePublicKey != hex.EncodeToString(sp.g.PublicKey()) {
			t.Fatal("connected to the wrong peer")
		}
		return gc[0], jc, hex.EncodeToString(gc[0].HandshakeHash()) == jc[0].HandshakeHash
	}
	var gc *swarm.Conn
	var jc []jsConn
	for ok := false; !ok; {
		if gc, jc, ok = agree(); ok {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no single shared connection: go %d, js %+v", len(sp.g.Connections()), jc)
		case <-time.After(200 * time.Millisecond):
		}
	}
	time.Sleep(2 * time.Second)
	gc2, jc2, ok := agree()
	if !ok || gc2 != gc || jc2[0].HandshakeHash != jc[0].HandshakeHash {
		t.Fatalf("connection did not stay single: go %d, js %+v", len(sp.g.Connections()), jc2)
	}
	if gc.IsInitiator() == jc[0].Initiator {
		t.Fatal("both ends claim the same role")
	}
	return gc
}

// checkReplication writes a named core on each side and reads it on the
// other over the swarm connection.
func (sp *swarmPair) checkReplication(t *testing.T, ctx context.Context) {
	t.Helper()
	const blocks = 64
	c, err := sp.store.Get(ctx, corestore.GetOptions{Name: "go-core"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var bs [][]byte
	for i := range blocks {
		bs = append(bs, csBlock("go-core", i))
	}
	if _, err := c.Append(bs...); err != nil {
		t.Fatal(err)
	}
	k := c.Key()
	sp.js.do(t, map[string]any{"op": "read", "key": hex.EncodeToString(k[:]), "name": "go-core", "blocks": blocks}, nil)

	var w struct {
		Key string `json:"key"`
	}
	sp.js.do(t, map[string]any{"op": "write", "name": "js-core", "blocks": blocks}, &w)
	jk, _ := hex.DecodeString(w.Key)
	jc, err := sp.store.Get(ctx, corestore.GetOptions{Key: jk})
	if err != nil {
		t.Fatal(err)
	}
	defer jc.Close()
	for i := range blocks {
		v, err := jc.Get(ctx, uint64(i), hypercore.GetOptions{Wait: true})
		if err != nil {
			t.Fatalf("js-core block %d: %v", i, err)
		}
		if !bytes.Equal(v, csBlock("js-core", i)) {
			t.Fatalf("js-core block %d = %q", i, v)
		}
	}
}

// TestInteropSwarmGoServerJSClient: a Go swarm announces on a topic, a JS
// swarm looks it up and connects; one connection each, the same one, then
// a corestore replicates both ways over it.
func TestInteropSwarmGoServerJSClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	sp := newSwarmPair(t, ctx, seedFor("swarm go server"), seedFor("swarm js client"))
	topic := crypto.Hash([]byte("interop swarm go server"))
	d, err := sp.g.Join(topic, &swarm.JoinOptions{Server: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Flushed(ctx); err != nil {
		t.Fatal(err)
	}
	sp.js.do(t, map[string]any{"op": "join", "topic": hex.EncodeToString(topic[:]), "client": true}, nil)
	gc := sp.checkOneConnection(t, ctx)
	if gc.IsClient() || gc.IsInitiator() {
		t.Fatal("Go should be the server side")
	}
	sp.checkReplication(t, ctx)
}

// TestInteropSwarmJSServerGoClient is the reverse: JS announces, Go looks
// up and dials.
func TestInteropSwarmJSServerGoClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	sp := newSwarmPair(t, ctx, seedFor("swarm go client"), seedFor("swarm js server"))
	topic := crypto.Hash([]byte("interop swarm js server"))
	sp.js.do(t, map[string]any{"op": "join", "topic": hex.EncodeToString(topic[:]), "server": true}, nil)
	if _, err := sp.g.Join(topic, &swarm.JoinOptions{Client: true}); err != nil {
		t.Fatal(err)
	}
	if err := sp.g.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	gc := sp.checkOneConnection(t, ctx)
	if !gc.IsClient() || !gc.IsInitiator() {
		t.Fatal("Go should be the client side")
	}
	sp.checkReplication(t, ctx)
}

// TestInteropSwarmTopicBothWays: both swarms join the topic as client and
// server; whoever finds the other dials (both may, at once): exactly one
// connection survives on each side, the same one.
func TestInteropSwarmTopicBothWays(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	sp := newSwarmPair(t, ctx, seedFor("swarm topic go"), seedFor("swarm topic js"))
	topic := crypto.Hash([]byte("interop swarm topic both ways"))
	d, err := sp.g.Join(topic, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = d.Flushed(ctx)
		_ = sp.g.Flush(ctx)
	}()
	sp.js.do(t, map[string]any{"op": "join", "topic": hex.EncodeToString(topic[:]), "server": true, "client": true}, nil)
	wg.Wait()
	// A second round of lookups on both sides at once.
	wg.Add(1)
	go func() {
		defer wg.Done()
		_ = d.Refresh(ctx, nil)
		_ = sp.g.Flush(ctx)
	}()
	sp.js.do(t, map[string]any{"op": "join", "topic": hex.EncodeToString(topic[:]), "server": true, "client": true}, nil)
	wg.Wait()
	sp.checkOneConnection(t, ctx)
	sp.checkReplication(t, ctx)
}

// TestInteropSwarmSimultaneousDial: two listening swarms dial each other at
// the same moment (JoinPeer on both): of the two connections exactly one
// survives on each side, the same one, by the duplicate rule both
// implementations apply (the greater public key's dial wins unless one
// dial completed before the other began). Run with the Go key greater and
// smaller, then replicate over the survivor.
func TestInteropSwarmSimultaneousDial(t *testing.T) {
	for _, goGreater := range []bool{true, false} {
		t.Run(fmt.Sprintf("goKeyGreater=%v", goGreater), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			jsSeed := seedFor("swarm both js")
			jsKP, _ := crypto.KeyPairFromSeed(jsSeed)
			var goSeed []byte
			for i := 0; ; i++ {
				goSeed = seedFor(fmt.Sprintf("swarm both go %d", i))
				kp, _ := crypto.KeyPairFromSeed(goSeed)
				if (bytes.Compare(kp.PublicKey, jsKP.PublicKey) > 0) == goGreater {
					break
				}
			}
			sp := newSwarmPair(t, ctx, goSeed, jsSeed)
			if err := sp.g.Listen(ctx); err != nil {
				t.Fatal(err)
			}
			sp.js.do(t, map[string]any{"op": "listen"}, nil)
			jsKey, _ := hex.DecodeString(sp.js.PublicKey)
			b, _ := json.Marshal(map[string]any{"op": "joinPeer", "publicKey": hex.EncodeToString(sp.g.PublicKey())})
			fmt.Fprintf(sp.js.p.Stdin, "%s\n", b)
			sp.g.JoinPeer(jsKey)
			sp.js.p.Expect(t, "result ")
			gc := sp.checkOneConnection(t, ctx)
			t.Logf("go initiated the survivor: %v (go key greater: %v); go dials %d, go server connections %d",
				gc.IsInitiator(), goGreater, sp.g.Stats().ClientAttempted, sp.g.Stats().ServerOpened)
			sp.checkReplication(t, ctx)
		})
	}
}
