package interop

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenp2p/warren/dht"
)

const dhtUserCmd = 42

type jsDHTNode struct {
	Host       string `json:"host"`
	Port       uint16 `json:"port"`
	ServerPort uint16 `json:"serverPort"`
	ID         string `json:"id"`
	TableID    string `json:"tableId"`
	Ephemeral  bool   `json:"ephemeral"`
	Firewalled bool   `json:"firewalled"`
	Nodes      []struct {
		Host string `json:"host"`
		Port uint16 `json:"port"`
	} `json:"nodes"`
}

func (n jsDHTNode) addr() netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(n.Host), n.ServerPort)
}

type jsDHTReply struct {
	From struct {
		Host string `json:"host"`
		Port uint16 `json:"port"`
	} `json:"from"`
	FromID string `json:"fromId"`
	To     struct {
		Host string `json:"host"`
		Port uint16 `json:"port"`
	} `json:"to"`
	Value *string `json:"value"`
	Token bool    `json:"token"`
	Error int     `json:"error"`
}

func (r jsDHTReply) from() netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr(r.From.Host), r.From.Port)
}

type jsDHTQueryResult struct {
	Replies []jsDHTReply `json:"replies"`
	Closest []jsDHTReply `json:"closest"`
	Error   string       `json:"error"`
}

// jsDHT is a running dht_peer.js.
type jsDHT struct {
	p     *Proc
	Nodes []jsDHTNode
}

func startJSDHT(t *testing.T, args ...string) *jsDHT {
	t.Helper()
	env := Require(t)
	p := env.Start(t, "dht_peer.js", args...)
	var ready struct {
		Nodes []jsDHTNode `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(p.Expect(t, "ready ")), &ready); err != nil {
		t.Fatal(err)
	}
	return &jsDHT{p: p, Nodes: ready.Nodes}
}

// do sends one command and decodes its result, skipping "stored" lines.
func (j *jsDHT) do(t *testing.T, cmd map[string]any, out any) {
	t.Helper()
	b, _ := json.Marshal(cmd)
	if _, err := fmt.Fprintf(j.p.Stdin, "%s\n", b); err != nil {
		t.Fatal(err)
	}
	line := j.p.Expect(t, "result ")
	if err := json.Unmarshal([]byte(line), out); err != nil {
		t.Fatalf("%v: %s", err, line)
	}
}

func (j *jsDHT) info(t *testing.T) []jsDHTNode {
	var out []jsDHTNode
	j.do(t, map[string]any{"op": "info"}, &out)
	return out
}

func freeUDPPort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

func goDHTServe(n *dht.Node, stored chan<- string) {
	port := n.LocalAddr().Port()
	n.Handle(dhtUserCmd, func(ctx context.Context, req *dht.Request) {
		if req.Token != nil {
			if stored != nil {
				select {
				case stored <- fmt.Sprintf("%d %s", port, req.Value):
				default:
				}
			}
			req.Reply([]byte("stored"), nil)
			return
		}
		req.Reply([]byte(fmt.Sprintf("go:%d:%s", port, req.Value)), nil)
	})
}

func newGoDHT(t *testing.T, cfg dht.Config) *dht.Node {
	t.Helper()
	cfg.Host = "127.0.0.1"
	n, err := dht.New(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func boolPtr(b bool) *bool { return &b }

func hexID(id [32]byte) string { return hex.EncodeToString(id[:]) }

// TestInteropDHTGoJoinsJS: Go nodes join a JS dht-rpc testnet, become
// persistent with ids the JS nodes accept, walk the JS nodes with
// FIND_NODE and a user command (with commit), ping both ways, and the JS
// side walks the Go nodes.
func TestInteropDHTGoJoinsJS(t *testing.T) {
	js := startJSDHT(t, "testnet", "5")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bs := []string{js.Nodes[0].addr().String()}

	stored := make(chan string, 64)
	var goNodes []*dht.Node
	for i := 0; i < 3; i++ {
		n := newGoDHT(t, dht.Config{Bootstrap: bs, Ephemeral: boolPtr(false), Firewalled: boolPtr(false)})
		goDHTServe(n, stored)
		goNodes = append(goNodes, n)
	}
	// checked asks to be persistent but starts firewalled: it must pass
	// the PING_NAT check, answered by JS nodes to its server socket.
	checked := newGoDHT(t, dht.Config{Bootstrap: bs, Ephemeral: boolPtr(false)})
	goDHTServe(checked, stored)
	adaptive := newGoDHT(t, dht.Config{Bootstrap: bs})
	goDHTServe(adaptive, stored)
	for _, n := range append(goNodes, checked, adaptive) {
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range goNodes {
		id, ok := n.ID()
		if !ok || id != dht.NodeID(n.LocalAddr()) {
			t.Fatalf("go node %v not persistent with its address id", n.LocalAddr())
		}
	}
	if id, ok := checked.ID(); !ok || checked.Firewalled() || id != dht.NodeID(checked.LocalAddr()) {
		t.Fatalf("go node did not pass the firewall check against JS: persistent %v firewalled %v", ok, checked.Firewalled())
	}
	goNodes = append(goNodes, checked)
	// The adaptive node stays ephemeral (it would need ~20 stable minutes).
	if !adaptive.Ephemeral() {
		t.Fatal("adaptive go node became persistent at once")
	}

	// Go -> JS: FIND_NODE towards a JS node's id reaches it and returns
	// ids JS derived itself.
	jsByAddr := map[netip.AddrPort]jsDHTNode{}
	for _, n := range js.Nodes {
		jsByAddr[n.addr()] = n
	}
	target, _ := hex.DecodeString(js.Nodes[3].ID)
	var tgt [32]byte
	copy(tgt[:], target)
	q := adaptive.FindNode(ctx, tgt, nil)
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	closest := q.Closest()
	if len(closest) == 0 || hexID(*closest[0].FromID) != js.Nodes[3].ID {
		t.Fatalf("closest to JS node %s is not itself", js.Nodes[3].ID[:8])
	}
	jsSeen := 0
	for _, r := range closest {
		if n, ok := jsByAddr[r.From]; ok {
			jsSeen++
			if hexID(*r.FromID) != n.ID {
				t.Fatalf("id of %v: go %x, js %s", r.From, r.FromID[:4], n.ID[:8])
			}
		}
	}
	if jsSeen != len(js.Nodes) {
		t.Fatalf("go walk found %d of %d JS nodes", jsSeen, len(js.Nodes))
	}

	// Go -> JS ping: the JS node reports our address and its id.
	res, err := goNodes[0].Ping(ctx, js.Nodes[1].addr())
	if err != nil {
		t.Fatal(err)
	}
	if res.To != goNodes[0].LocalAddr() || res.FromID == nil || hexID(*res.FromID) != js.Nodes[1].ID {
		t.Fatalf("ping reply to=%v id=%v", res.To, res.FromID)
	}

	// JS tables now hold the persistent Go nodes (not the ephemeral one).
	info := js.info(t)
	inJS := map[netip.AddrPort]bool{}
	for _, n := range info {
		for _, x := range n.Nodes {
			inJS[netip.AddrPortFrom(netip.MustParseAddr(x.Host), x.Port)] = true
		}
	}
	for _, n := range goNodes {
		if !inJS[n.LocalAddr()] {
			t.Fatalf("no JS routing table holds go node %v", n.LocalAddr())
		}
	}
	if inJS[adaptive.LocalAddr()] || inJS[adaptive.ClientSocket().LocalAddr()] {
		t.Fatal("JS added the ephemeral go node to a routing table")
	}

	// JS -> Go ping.
	var pr jsDHTReply
	js.do(t, map[string]any{"op": "ping", "node": 2, "host": "127.0.0.1", "port": goNodes[1].LocalAddr().Port()}, &pr)
	if pr.FromID != hexID(dht.NodeID(goNodes[1].LocalAddr())) {
		t.Fatalf("JS ping of go node: %+v", pr)
	}
	if pr.To.Port != js.Nodes[2].ServerPort {
		t.Fatalf("go node saw JS at port %d, want %d", pr.To.Port, js.Nodes[2].ServerPort)
	}

	// JS -> Go FIND_NODE towards a Go node's id.
	var fr jsDHTQueryResult
	gid, _ := goNodes[2].ID()
	js.do(t, map[string]any{"op": "findNode", "node": 1, "target": hexID(gid)}, &fr)
	if fr.Error != "" || len(fr.Closest) == 0 || fr.Closest[0].FromID != hexID(gid) {
		t.Fatalf("JS walk to go node: %+v", fr)
	}

	// Go asks a JS node for a DELAYED_PING.
	start := time.Now()
	if _, err := goNodes[0].DelayedPing(ctx, js.Nodes[2].addr(), 300*time.Millisecond); err != nil || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("delayed ping of JS: %v after %v", err, time.Since(start))
	}

	// User command both ways, with commit.
	checkUserQuery := func(replies []string, from string) {
		t.Helper()
		goSeen, jsSeen := 0, 0
		for _, v := range replies {
			switch {
			case strings.HasPrefix(v, "go:") && strings.HasSuffix(v, ":"+from):
				goSeen++
			case strings.HasPrefix(v, "js:") && strings.HasSuffix(v, ":"+from):
				jsSeen++
			default:
				t.Fatalf("unexpected reply %q", v)
			}
		}
		if goSeen == 0 || jsSeen == 0 {
			t.Fatalf("replies from go %d, js %d: %q", goSeen, jsSeen, replies)
		}
	}
	var ur jsDHTQueryResult
	js.do(t, map[string]any{"op": "query", "node": 4, "target": hexID(gid), "command": dhtUserCmd, "value": "from-js", "commit": true}, &ur)
	if ur.Error != "" {
		t.Fatal(ur.Error)
	}
	var vals []string
	for _, r := range ur.Replies {
		vals = append(vals, *r.Value)
	}
	checkUserQuery(vals, "from-js")
	select {
	case s := <-stored:
		if !strings.HasSuffix(s, " from-js") {
			t.Fatalf("go stored %q", s)
		}
	case <-ctx.Done():
		t.Fatal("JS commit did not reach a go node")
	}

	uq := adaptive.Query(ctx, tgt, dhtUserCmd, []byte("from-go"), &dht.QueryOptions{AutoCommit: true})
	vals = nil
	for {
		r, err := uq.Next(ctx)
		if err != nil {
			break
		}
		vals = append(vals, string(r.Value))
	}
	if err := uq.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	checkUserQuery(vals, "from-go")
	t.Logf("go query replies: %q", vals)
	if got := js.p.Expect(t, "stored "); !strings.HasSuffix(got, " from-go") {
		t.Fatalf("JS stored %q", got)
	}
}

// TestInteropDHTJSJoinsGo: JS nodes bootstrap from a Go bootstrapper and
// Go nodes, become persistent, and both sides walk and query each other.
func TestInteropDHTJSJoinsGo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	port := freeUDPPort(t)
	boot, err := dht.NewBootstrapper("127.0.0.1", port, &dht.Config{Host: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { boot.Close() })
	goDHTServe(boot, nil)
	if err := boot.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	bs := []string{boot.LocalAddr().String()}
	var goNodes []*dht.Node
	for i := 0; i < 4; i++ {
		n := newGoDHT(t, dht.Config{Bootstrap: bs, Ephemeral: boolPtr(false), Firewalled: boolPtr(false)})
		goDHTServe(n, nil)
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
		goNodes = append(goNodes, n)
	}
	goNodes = append(goNodes, boot)

	js := startJSDHT(t, "join", bs[0], "4", "checked", "adaptive")
	jsPersistent := js.Nodes[:5]
	for _, n := range jsPersistent {
		if n.Ephemeral || n.Firewalled || n.ID != hexID(dht.NodeID(n.addr())) {
			t.Fatalf("JS node did not become persistent through the go network: %+v", n)
		}
	}
	// jsPersistent[4] started firewalled and passed its PING_NAT check
	// against Go nodes (checked above); the adaptive one stays ephemeral.
	if a := js.Nodes[5]; !a.Ephemeral {
		t.Fatalf("adaptive JS node: %+v", a)
	}

	// The Go bootstrapper knows the persistent JS nodes (a few ms after
	// their last request), not the adaptive one.
	known := map[netip.AddrPort]bool{}
	for _, a := range boot.Nodes() {
		known[a] = true
	}
	for _, n := range jsPersistent {
		if !known[n.addr()] {
			t.Fatalf("go bootstrapper does not know JS node %v", n.addr())
		}
	}
	if known[js.Nodes[5].addr()] {
		t.Fatal("go added the ephemeral JS node")
	}

	// JS -> Go walk from the adaptive JS node towards a Go node.
	gid, _ := goNodes[1].ID()
	var fr jsDHTQueryResult
	js.do(t, map[string]any{"op": "findNode", "node": 5, "target": hexID(gid)}, &fr)
	if fr.Error != "" || len(fr.Closest) < 9 || fr.Closest[0].FromID != hexID(gid) {
		t.Fatalf("JS walk: %+v", fr)
	}

	// Go -> JS walk from a fresh ephemeral Go client towards a JS node.
	client := newGoDHT(t, dht.Config{Bootstrap: bs, Ephemeral: boolPtr(true)})
	if err := client.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	var tgt [32]byte
	b, _ := hex.DecodeString(jsPersistent[2].ID)
	copy(tgt[:], b)
	q := client.FindNode(ctx, tgt, nil)
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	cl := q.Closest()
	if len(cl) < 9 || hexID(*cl[0].FromID) != jsPersistent[2].ID {
		t.Fatalf("go walk found %d nodes", len(cl))
	}

	// Pings both ways.
	res, err := client.Ping(ctx, jsPersistent[0].addr())
	if err != nil || res.FromID == nil || hexID(*res.FromID) != jsPersistent[0].ID {
		t.Fatalf("go->js ping: %v %v", err, res)
	}
	if res.To != client.Socket().LocalAddr() {
		t.Fatalf("js saw the go client at %v, want its sending socket %v", res.To, client.Socket().LocalAddr())
	}
	var pr jsDHTReply
	js.do(t, map[string]any{"op": "ping", "node": 0, "host": "127.0.0.1", "port": boot.LocalAddr().Port()}, &pr)
	if pr.FromID != hexID(dht.NodeID(boot.LocalAddr())) {
		t.Fatalf("js->go ping: %+v", pr)
	}

	// DELAYED_PING: the Go node answers after the asked delay.
	var dr struct {
		jsDHTReply
		Elapsed int `json:"elapsed"`
	}
	js.do(t, map[string]any{"op": "delayedPing", "node": 0, "host": "127.0.0.1", "port": goNodes[0].LocalAddr().Port(), "delay": 300}, &dr)
	if dr.FromID != hexID(dht.NodeID(goNodes[0].LocalAddr())) || dr.Elapsed < 300 {
		t.Fatalf("delayed ping: %+v", dr)
	}

	// A user request each way, and an unknown command answered as such.
	var rr jsDHTReply
	js.do(t, map[string]any{"op": "request", "node": 1, "host": "127.0.0.1", "port": goNodes[0].LocalAddr().Port(), "command": dhtUserCmd, "value": "direct"}, &rr)
	if rr.Value == nil || *rr.Value != fmt.Sprintf("go:%d:direct", goNodes[0].LocalAddr().Port()) || !rr.Token {
		t.Fatalf("js->go request: %+v", rr)
	}
	js.do(t, map[string]any{"op": "request", "node": 1, "host": "127.0.0.1", "port": goNodes[0].LocalAddr().Port(), "command": 999}, &rr)
	if rr.Error != dht.ErrCodeUnknownCommand {
		t.Fatalf("js->go unknown command: %+v", rr)
	}
	res, err = client.Request(ctx, jsPersistent[3].addr(), dhtUserCmd, []byte("direct"), nil)
	if err != nil || string(res.Value) != fmt.Sprintf("js:%d:direct", jsPersistent[3].ServerPort) || res.Token == nil {
		t.Fatalf("go->js request: %v %+v", err, res)
	}
	// commit with the JS token: accepted by the JS node
	res, err = client.Request(ctx, jsPersistent[3].addr(), dhtUserCmd, []byte("tok"), &dht.RequestOptions{Token: res.Token})
	if err != nil || string(res.Value) != "stored" {
		t.Fatalf("go->js commit: %v %+v", err, res)
	}
	if got := js.p.Expect(t, "stored "); got != fmt.Sprintf("%d tok", jsPersistent[3].ServerPort) {
		t.Fatalf("JS stored %q", got)
	}
	// a forged token is refused
	bad := [32]byte{1, 2, 3}
	res, err = client.Request(ctx, jsPersistent[3].addr(), dhtUserCmd, []byte("bad"), &dht.RequestOptions{Token: &bad})
	if err != nil || res.Error != dht.ErrCodeInvalidToken {
		t.Fatalf("go->js forged token: %v %+v", err, res)
	}
}

func hasAddr(list []netip.AddrPort, a netip.AddrPort) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// mutedConn is a socket that can go silent: once muted it drops what it
// receives and what it is asked to send, and keeps its port bound. A node
// on muted sockets looks dead to the network, and no other process can
// take its port and answer in its place, as one could after Close.
type mutedConn struct {
	dht.PacketConn
	muted *atomic.Bool
}

func (c mutedConn) ReadFrom(ctx context.Context) ([]byte, netip.AddrPort, error) {
	for {
		b, from, err := c.PacketConn.ReadFrom(ctx)
		if err != nil || !c.muted.Load() {
			return b, from, err
		}
	}
}

func (c mutedConn) WriteTo(b []byte, to netip.AddrPort) error {
	if c.muted.Load() {
		return nil
	}
	return c.PacketConn.WriteTo(b, to)
}

// newMutableGoDHT is newGoDHT on sockets that go silent when the returned
// flag is set.
func newMutableGoDHT(t *testing.T, cfg dht.Config) (*dht.Node, *atomic.Bool) {
	t.Helper()
	muted := new(atomic.Bool)
	cfg.Listen = func(a netip.AddrPort) (dht.PacketConn, error) {
		c, err := dht.ListenUDX(a)
		if err != nil {
			return nil, err
		}
		return mutedConn{c, muted}, nil
	}
	return newGoDHT(t, cfg), muted
}

// TestInteropDHTDownHints: a walk that meets a dead node sends DOWN_HINT
// to the nodes that pointed to it, which ping it and drop it, JS to Go and
// Go to JS. The dead nodes go silent rather than close, so that their
// ports cannot be taken by another process's node that would answer for
// them (a CI run failed that way, most likely: the JS walk took under 3.5 s
// instead of the 6 s of retries to a dead node, and sent no hints).
func TestInteropDHTDownHints(t *testing.T) {
	js := startJSDHT(t, "testnet", "3")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bs := []string{js.Nodes[0].addr().String()}
	var goNodes []*dht.Node
	var dead *dht.Node
	var mute *atomic.Bool
	for i := 0; i < 3; i++ {
		cfg := dht.Config{Bootstrap: bs, Ephemeral: boolPtr(false), Firewalled: boolPtr(false)}
		var n *dht.Node
		if i == 2 {
			n, mute = newMutableGoDHT(t, cfg)
			dead = n
		} else {
			n = newGoDHT(t, cfg)
		}
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
		goNodes = append(goNodes, n)
	}

	// JS -> Go: the last Go node dies; Go nodes that know it get hints.
	deadAddr := dead.LocalAddr()
	deadID, ok := dead.ID()
	if !ok {
		t.Fatal("the node to kill is not persistent")
	}
	var knowers []*dht.Node
	for _, n := range goNodes[:2] {
		if hasAddr(n.Nodes(), deadAddr) {
			knowers = append(knowers, n)
		}
	}
	if len(knowers) == 0 {
		t.Fatal("no go node knows the node to kill")
	}
	mute.Store(true)
	var fr jsDHTQueryResult
	start := time.Now()
	js.do(t, map[string]any{"op": "findNode", "node": 1, "target": hexID(deadID)}, &fr)
	walk := time.Since(start)
	if fr.Error != "" {
		t.Fatalf("JS walk: %s", fr.Error)
	}
	for _, r := range fr.Replies {
		if r.From.Port == deadAddr.Port() {
			t.Fatalf("the dead node's address answered the JS walk: %+v", r)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		hinted, gone := 0, 0
		for _, n := range knowers {
			if n.Stats().DownHintsReceived > 0 {
				hinted++
			}
			if !hasAddr(n.Nodes(), deadAddr) {
				gone++
			}
		}
		if hinted > 0 && gone == len(knowers) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the JS walk (%v, %d replies): %d go nodes got hints, %d of %d dropped the dead node",
				walk, len(fr.Replies), hinted, gone, len(knowers))
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Go -> JS: a JS node dies; a Go walk towards it hints the JS nodes
	// that returned it.
	var dd map[string]any
	js.do(t, map[string]any{"op": "mute", "node": 3}, &dd)
	deadJS := js.Nodes[3]
	var tgt [32]byte
	b, _ := hex.DecodeString(deadJS.ID)
	copy(tgt[:], b)
	walker := goNodes[0]
	q := walker.FindNode(ctx, tgt, &dht.QueryOptions{Retries: -1})
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if walker.Stats().DownHintsSent == 0 {
		t.Fatal("go walk sent no down hints")
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		still := 0
		for _, n := range js.info(t)[:3] {
			for _, x := range n.Nodes {
				if x.Port == deadJS.ServerPort {
					still++
				}
			}
		}
		if still == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d JS nodes still list the dead JS node", still)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
