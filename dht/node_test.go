package dht

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"
)

type testnet struct {
	net   *memNet
	boot  *Node
	nodes []*Node
	bs    []string
}

func boolp(b bool) *bool { return &b }

func newTestnet(t *testing.T, size int) *testnet {
	t.Helper()
	tn := &testnet{net: newMemNet()}
	boot, err := NewBootstrapper("10.0.0.1", 9999, &Config{Listen: tn.net.listen})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { boot.Close() })
	tn.boot = boot
	tn.bs = []string{"10.0.0.1:9999"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := boot.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < size; i++ {
		n := tn.add(t, &Config{Ephemeral: boolp(false), Firewalled: boolp(false)})
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return tn
}

func (tn *testnet) add(t *testing.T, cfg *Config) *Node {
	t.Helper()
	c := *cfg
	c.Listen = tn.net.listen
	if c.Bootstrap == nil {
		c.Bootstrap = tn.bs
	}
	n, err := New(&c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	tn.nodes = append(tn.nodes, n)
	return n
}

func TestBootstrapperIsPersistent(t *testing.T) {
	tn := newTestnet(t, 0)
	id, ok := tn.boot.ID()
	if !ok {
		t.Fatal("bootstrapper is ephemeral")
	}
	want := NodeID(netip.MustParseAddrPort("10.0.0.1:9999"))
	if id != want {
		t.Fatalf("bootstrapper id %x, want %x", id, want)
	}
	if tn.boot.Firewalled() {
		t.Fatal("bootstrapper firewalled")
	}
}

func TestTestnetPersistentIDs(t *testing.T) {
	tn := newTestnet(t, 8)
	for _, n := range tn.nodes {
		id, ok := n.ID()
		if !ok {
			t.Fatal("node stayed ephemeral")
		}
		if id != NodeID(n.LocalAddr()) {
			t.Fatalf("id %x is not the hash of %v", id, n.LocalAddr())
		}
		if got := n.RemoteAddr(); got != n.LocalAddr() {
			t.Fatalf("remote addr %v, want %v", got, n.LocalAddr())
		}
	}
	// the bootstrapper learned about the nodes
	if got := len(tn.boot.Nodes()); got < 8 {
		t.Fatalf("bootstrapper knows %d nodes, want 8", got)
	}
}

func TestFindNodeFindsClosest(t *testing.T) {
	tn := newTestnet(t, 30)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var target [32]byte
	copy(target[:], "find the nodes closest to this!!")

	all := append([]*Node{tn.boot}, tn.nodes...)
	var ids [][32]byte
	for _, n := range all {
		id, _ := n.ID()
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b [32]byte) int { return xorCompare(&target, &a, &b) })

	client := tn.add(t, &Config{}) // ephemeral, firewalled
	if err := client.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	q := client.FindNode(ctx, target, nil)
	replies := 0
	visited := map[[32]byte]bool{}
	for {
		r, err := q.Next(ctx)
		if r != nil && r.FromID != nil {
			visited[*r.FromID] = true
		}
		if err != nil {
			if err.Error() != "EOF" {
				t.Fatal(err)
			}
			break
		}
		replies++
	}
	if replies == 0 {
		t.Fatal("no replies")
	}
	closest := q.Closest()
	if len(closest) != K {
		t.Fatalf("closest has %d, want %d", len(closest), K)
	}
	// closest replies are sorted by distance; the nearest ones are exact
	// (farther ones depend on which nodes the tables happened to return,
	// as in dht-rpc).
	for i := 1; i < len(closest); i++ {
		if xorCompare(&target, closest[i-1].FromID, closest[i].FromID) >= 0 {
			t.Fatal("closest not sorted")
		}
	}
	for i, r := range closest[:8] {
		if *r.FromID != ids[i] {
			t.Fatalf("closest[%d] = %x, want %x (visited %v)", i, r.FromID[:4], ids[i][:4], visited[ids[i]])
		}
	}
	if _, ok := client.ID(); ok {
		t.Fatal("adaptive client became persistent right away")
	}
}

func TestUserCommandQueryAndCommit(t *testing.T) {
	tn := newTestnet(t, 24)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const cmdStore = 42
	stored := make(chan netip.AddrPort, 100)
	for _, n := range append([]*Node{tn.boot}, tn.nodes...) {
		self := n.LocalAddr()
		n.Handle(cmdStore, func(ctx context.Context, req *Request) {
			if req.Token != nil {
				stored <- self
				req.Reply([]byte("stored"), nil)
				return
			}
			req.Reply(append([]byte("hello "), req.Value...), nil)
		})
	}
	client := tn.add(t, &Config{})
	if err := client.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	var target [32]byte
	target[0] = 0xaa
	q := client.Query(ctx, target, cmdStore, []byte("world"), &QueryOptions{AutoCommit: true})
	n := 0
	for {
		r, err := q.Next(ctx)
		if err != nil {
			break
		}
		if string(r.Value) != "hello world" {
			t.Fatalf("reply %q", r.Value)
		}
		if r.Token == nil {
			t.Fatal("reply without token")
		}
		n++
	}
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if n < K {
		t.Fatalf("only %d replies", n)
	}
	if len(stored) != K {
		t.Fatalf("%d commits, want %d", len(stored), K)
	}
}

func TestRequestErrors(t *testing.T) {
	tn := newTestnet(t, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := tn.nodes[0], tn.nodes[1]

	// unknown user command
	res, err := a.Request(ctx, b.LocalAddr(), 77, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var re *RemoteError
	if !errors.As(res.Err(), &re) || re.Code != ErrCodeUnknownCommand || !errors.Is(res.Err(), ErrUnknownCommand) || errors.Is(res.Err(), ErrInvalidToken) {
		t.Fatalf("got %v, want unknown command", res.Err())
	}

	// a wrong token
	b.Handle(5, func(ctx context.Context, req *Request) { req.Reply(nil, nil) })
	bad := [32]byte{1}
	res, err = a.Request(ctx, b.LocalAddr(), 5, nil, &RequestOptions{Token: &bad})
	if err != nil {
		t.Fatal(err)
	}
	if res.Error != ErrCodeInvalidToken || res.Token == nil {
		t.Fatalf("error %d token %v, want invalid token with a fresh token", res.Error, res.Token)
	}
	// the fresh token works
	res, err = a.Request(ctx, b.LocalAddr(), 5, nil, &RequestOptions{Token: res.Token})
	if err != nil || res.Error != 0 {
		t.Fatalf("with token: %v %v", err, res.Err())
	}

	// ping tells us our address
	res, err = a.Ping(ctx, b.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	if res.To != a.LocalAddr() {
		t.Fatalf("ping to %v, want %v", res.To, a.LocalAddr())
	}
	if res.FromID == nil || *res.FromID != NodeID(b.LocalAddr()) {
		t.Fatal("ping reply lacks the persistent id")
	}

	// nobody there: times out after retries
	zero := 0
	start := time.Now()
	_, err = a.Request(ctx, netip.MustParseAddrPort("10.0.0.1:1"), 5, nil, &RequestOptions{Retries: &zero, Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want timeout", err)
	}
	if time.Since(start) < 100*time.Millisecond {
		t.Fatal("timed out too early")
	}

	// context cancel
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	_, err = a.Request(cctx, netip.MustParseAddrPort("10.0.0.1:1"), 5, nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want canceled", err)
	}
}

func TestTokenRotation(t *testing.T) {
	tn := newTestnet(t, 0)
	n := tn.boot
	host := netip.MustParseAddr("1.2.3.4")
	n.mu.Lock()
	t1 := n.token(host, 1)
	for i := 0; i < rotateDrains; i++ {
		n.drain()
	}
	// the old current token is now the previous one, still accepted
	if n.token(host, 0) != t1 {
		t.Error("token not kept for one rotation")
	}
	if n.token(host, 1) == t1 {
		t.Error("secret did not rotate")
	}
	if n.token(netip.MustParseAddr("1.2.3.5"), 1) == n.token(host, 1) {
		t.Error("token not bound to the host")
	}
	for i := 0; i < rotateDrains; i++ {
		n.drain()
	}
	if n.token(host, 0) == t1 || n.token(host, 1) == t1 {
		t.Error("token accepted after two rotations")
	}
	n.mu.Unlock()
}

func TestQuickFirewallCheck(t *testing.T) {
	t.Parallel()
	tn := newTestnet(t, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// asks to be persistent, starts firewalled: PING_NAT to its server
	// socket proves it reachable.
	open := tn.add(t, &Config{Ephemeral: boolp(false)})
	if err := open.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	if open.Firewalled() || open.Ephemeral() {
		t.Fatal("reachable node still firewalled or ephemeral")
	}
	if open.TableID() != NodeID(open.LocalAddr()) {
		t.Fatal("table id not derived from the public address")
	}

	// unreachable server socket: nothing may reach it from outside
	tn.net.mu.Lock()
	var closedAddr netip.AddrPort
	tn.net.drop = func(from, to netip.AddrPort) bool { return to == closedAddr && from.Port() != to.Port() }
	tn.net.mu.Unlock()
	tn.net.mu.Lock()
	tn.net.next += 10
	closedAddr = netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 1}), tn.net.next+1)
	tn.net.mu.Unlock()
	fw := tn.add(t, &Config{Ephemeral: boolp(false)})
	if fw.LocalAddr() != closedAddr {
		t.Fatalf("server socket %v, expected %v", fw.LocalAddr(), closedAddr)
	}
	if err := fw.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	if !fw.Firewalled() || !fw.Ephemeral() {
		t.Fatal("unreachable node believes it is reachable")
	}
	// still a working client
	var target [32]byte
	if err := fw.FindNode(ctx, target, nil).Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestForcedPersistentBecomesPersistent(t *testing.T) {
	tn := newTestnet(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := tn.add(t, &Config{Ephemeral: boolp(false)}) // firewalled until checked
	if err := n.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-n.Persistent():
	case <-ctx.Done():
		t.Fatal("not persistent")
	}
	if n.Firewalled() {
		t.Fatal("still firewalled")
	}
	id, ok := n.ID()
	if !ok || id != NodeID(n.LocalAddr()) {
		t.Fatal("wrong id")
	}
}

func TestEphemeralNodesStayOutOfTables(t *testing.T) {
	tn := newTestnet(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e := tn.add(t, &Config{Ephemeral: boolp(true)})
	if err := e.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	for _, n := range append([]*Node{tn.boot}, tn.nodes[:3]...) {
		for _, a := range n.Nodes() {
			if a == e.LocalAddr() || a == e.ClientSocket().LocalAddr() {
				t.Fatalf("%v added ephemeral node %v", n.LocalAddr(), a)
			}
		}
	}
}

func TestFloodKeepsMemoryBoundedAndNodeAnswering(t *testing.T) {
	tn := newTestnet(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	target := tn.nodes[0]
	var junk [][]byte
	junk = append(junk, []byte{requestID}, []byte{requestID, 0xff, 0xff}, []byte{responseID, 0, 1, 2, 3})
	id := [32]byte{9}
	valid := AppendRequest(nil, &RequestMessage{TID: 1, To: target.LocalAddr(), ID: &id, Internal: true, Command: CmdFindNode, Target: &id})
	junk = append(junk, valid, AppendRequest(nil, &RequestMessage{TID: 2, Command: 1234, Value: bytes.Repeat([]byte{1}, 1000)}))
	// many source ports, many datagrams: valid ones with ids too (each
	// source's own id, so they pass validation)
	flood := func(round int) {
		for i := 0; i < 300; i++ {
			c, err := tn.net.listen(netip.AddrPort{})
			if err != nil {
				t.Fatal(err)
			}
			sid := NodeID(c.LocalAddr())
			own := AppendRequest(nil, &RequestMessage{TID: uint16(i), To: target.LocalAddr(), ID: &sid, Internal: true, Command: CmdFindNode, Target: &sid})
			for j := 0; j < 200; j++ {
				if j%2 == 0 {
					c.WriteTo(own, target.LocalAddr())
				} else {
					c.WriteTo(junk[(i+j)%len(junk)], target.LocalAddr())
				}
			}
			c.Close()
			if i%20 == 0 {
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapInuse
	}
	flood(0)
	h1 := heap()
	flood(1)
	flood(2)
	h2 := heap()
	if h2 > h1+16<<20 {
		t.Fatalf("heap grew from %d to %d over two more floods", h1, h2)
	}
	t.Logf("heap after one flood %d KiB, after three %d KiB", h1>>10, h2>>10)
	target.mu.Lock()
	lim := len(target.limiter.counts)
	tsize := target.tbl.size
	inflight := len(target.inflight)
	target.mu.Unlock()
	if lim > maxLimiterEntries || tsize > 256*K || inflight > 100 {
		t.Fatalf("state grew: limiter %d table %d inflight %d", lim, tsize, inflight)
	}
	if _, err := tn.boot.Ping(ctx, target.LocalAddr()); err != nil {
		t.Fatalf("node not answering after flood: %v", err)
	}
	st := target.Stats()
	if st.Malformed == 0 || st.RequestsReceived == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestRateLimitPerSource(t *testing.T) {
	var l rateLimiter
	a := netip.MustParseAddrPort("1.1.1.1:1")
	allowed := 0
	for i := 0; i < 1000; i++ {
		if l.allow(a, 100) {
			allowed++
		}
	}
	if allowed != 75 {
		t.Fatalf("allowed %d, want 75 per window", allowed)
	}
	if !l.allow(netip.MustParseAddrPort("1.1.1.1:2"), 100) {
		t.Fatal("other source limited")
	}
	l.reset()
	if !l.allow(a, 100) {
		t.Fatal("not reset")
	}
	for i := 0; i < 2*maxLimiterEntries; i++ {
		l.allow(netip.AddrPortFrom(netip.MustParseAddr("2.2.2.2"), uint16(i+1)), 100)
	}
	if len(l.counts) > maxLimiterEntries {
		t.Fatalf("limiter holds %d sources", len(l.counts))
	}
}

func TestCloseEndsEverything(t *testing.T) {
	tn := newTestnet(t, 2)
	n := tn.nodes[0]
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		_, err := n.Request(ctx, netip.MustParseAddrPort("10.0.0.1:2"), 5, nil, nil)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	n.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
	if _, err := n.Ping(ctx, tn.boot.LocalAddr()); !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v after close", err)
	}
	if err := n.FindNode(ctx, [32]byte{}, nil).Wait(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("query after close: %v", err)
	}
}

func ExampleNode_Handle() {
	n, err := New(&Config{Host: "127.0.0.1"})
	if err != nil {
		panic(err)
	}
	defer n.Close()
	n.Handle(100, func(ctx context.Context, req *Request) {
		req.Reply(append([]byte("echo: "), req.Value...), nil)
	})
	fmt.Println("ready")
	// Output: ready
}
