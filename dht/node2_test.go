package dht

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestQueryRepliesIterator(t *testing.T) {
	tn := newTestnet(t, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	q := tn.nodes[0].FindNode(ctx, [32]byte{7}, nil)
	n := 0
	for r := range q.Replies(ctx) {
		if r.Error != 0 || r.FromID == nil {
			t.Fatalf("reply %+v", r)
		}
		n++
	}
	if q.Err() != nil || n != 5 { // every other node of the network
		t.Fatalf("%d replies, err %v", n, q.Err())
	}
	ok, errs := q.Stats()
	if ok != n || errs != 0 {
		t.Fatalf("stats %d %d", ok, errs)
	}

	// a cancelled context ends the query with its error
	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	q = tn.nodes[0].FindNode(cctx, [32]byte{8}, nil)
	for range q.Replies(ctx) {
	}
	if err := q.Wait(ctx); err != context.Canceled {
		t.Fatalf("cancelled query: %v", err)
	}
}

// A DOWN_HINT about a dead node makes the receiver ping it and drop it.
func TestDownHintRemovesDeadNode(t *testing.T) {
	t.Parallel()
	tn := newTestnet(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dead := tn.nodes[2]
	deadAddr := dead.LocalAddr()
	known := func() bool {
		for _, a := range tn.boot.Nodes() {
			if a == deadAddr {
				return true
			}
		}
		return false
	}
	if !known() {
		t.Fatal("bootstrapper does not know the node")
	}
	dead.Close()
	res, err := tn.nodes[0].Request(ctx, tn.boot.LocalAddr(), CmdDownHint, appendAddr(nil, deadAddr), &RequestOptions{Internal: true})
	if err != nil || res.Error != 0 {
		t.Fatalf("down hint: %v %v", err, res)
	}
	waitFor(t, "dead node removal", func() bool { return !known() })
}

// A query that meets a dead node tells the nodes that pointed to it.
func TestQuerySendsDownHints(t *testing.T) {
	t.Parallel()
	tn := newTestnet(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dead := tn.nodes[3]
	deadID, _ := dead.ID()
	dead.Close()
	client := tn.add(t, &Config{Ephemeral: boolp(true), Firewalled: boolp(true)})
	if err := client.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	q := client.FindNode(ctx, deadID, &QueryOptions{Retries: -1})
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for _, r := range q.Closest() {
		if *r.FromID == deadID {
			t.Fatal("dead node in closest")
		}
	}
	waitFor(t, "down hints to drop the dead node everywhere", func() bool {
		for _, n := range append([]*Node{tn.boot}, tn.nodes[:3]...) {
			for _, a := range n.Nodes() {
				if a == dead.LocalAddr() {
					return false
				}
			}
		}
		return true
	})
}

// Relay forwards a request with the original tid; the final node answers
// the original asker (via ReplyOptions.To), which matches it by tid.
func TestRelayAndReplyTo(t *testing.T) {
	tn := newTestnet(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b, c := tn.nodes[0], tn.nodes[1], tn.nodes[2]
	const cmd = 9
	b.Handle(cmd, func(ctx context.Context, req *Request) {
		// put the asker's address in the value so c can answer it
		req.Relay(appendAddr(nil, req.From), c.LocalAddr(), nil)
	})
	c.Handle(cmd, func(ctx context.Context, req *Request) {
		var asker netip.AddrPort
		if len(req.Value) == 6 {
			asker = netip.AddrPortFrom(netip.AddrFrom4([4]byte(req.Value[:4])), uint16(req.Value[4])|uint16(req.Value[5])<<8)
		}
		req.Reply([]byte("from c"), &ReplyOptions{To: asker, NoToken: true})
	})
	res, err := a.Request(ctx, b.LocalAddr(), cmd, []byte("hi"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(res.Value) != "from c" || res.From != c.LocalAddr() || res.Token != nil {
		t.Fatalf("got %+v", res)
	}
}

// Requests may go out through another socket whose datagrams the owner
// feeds back with HandleDatagram (hyperdht's hole-punching sockets).
func TestRequestThroughOtherSocket(t *testing.T) {
	tn := newTestnet(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := tn.nodes[0]
	extra, err := tn.net.listen(netip.AddrPort{})
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	go func() {
		for {
			b, from, err := extra.ReadFrom(ctx)
			if err != nil {
				return
			}
			n.HandleDatagram(extra, b, from)
		}
	}()
	res, err := n.Request(ctx, tn.boot.LocalAddr(), CmdPing, nil, &RequestOptions{Internal: true, Conn: extra})
	if err != nil {
		t.Fatal(err)
	}
	if res.To != extra.LocalAddr() || res.Conn != extra {
		t.Fatalf("reply seen at %v via %v", res.To, res.Conn)
	}
}

// An adaptive node becomes persistent once its stable period ends (20
// minutes in dht-rpc; the tick counter is advanced by hand here).
func TestAdaptiveBecomesPersistentWhenStable(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := tn.add(t, &Config{})
	if err := n.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	if !n.Ephemeral() {
		t.Fatal("persistent too early")
	}
	n.mu.Lock()
	n.stableTicks = 1
	n.lastTick = time.Now()
	n.onTick()
	n.mu.Unlock()
	select {
	case <-n.Persistent():
	case <-ctx.Done():
		t.Fatal("adaptive node never became persistent")
	}
	id, ok := n.ID()
	if !ok || id != NodeID(n.LocalAddr()) || n.Firewalled() {
		t.Fatalf("persistent %v firewalled %v", ok, n.Firewalled())
	}
	// other nodes now learn it as a routing node
	if _, err := n.Ping(ctx, tn.boot.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range tn.boot.Nodes() {
		found = found || a == n.LocalAddr()
	}
	if !found {
		t.Fatal("bootstrapper did not add the now persistent node")
	}

	// The same host again later does not trigger another check.
	n.mu.Lock()
	n.stableTicks = 1
	n.lastHost = n.nat.host
	n.ephemeral = true // pretend it went back (wakeup)
	n.onTick()
	updating := n.updating
	n.ephemeral = false
	n.mu.Unlock()
	if updating {
		t.Fatal("rechecked the same network")
	}
}

func TestDelayedPing(t *testing.T) {
	tn := newTestnet(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	if _, err := tn.nodes[0].DelayedPing(ctx, tn.boot.LocalAddr(), 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) < 200*time.Millisecond {
		t.Fatal("answered before the delay")
	}
}
