package dht

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

// A response, and a request, from a node in the routing table refreshes
// its entry as dht-rpc does: seen and pinged become the current tick and
// it moves to the newest end of the node list (the same entry, not a new
// one).
func TestTrafficBumpsRoutingEntry(t *testing.T) {
	tn := newTestnet(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := tn.nodes[0], tn.nodes[1]
	bid, _ := b.ID()

	stale := func() (*node, uint32) {
		a.mu.Lock()
		defer a.mu.Unlock()
		x := a.tbl.get(&bid)
		if x == nil {
			a.addNode(&node{id: bid, addr: toAddr4(b.LocalAddr())})
			x = a.tbl.get(&bid)
		}
		a.tick += 50
		x.seen, x.pinged = a.tick-40, a.tick-40
		// make another entry the newest
		for y := a.nodes.oldest; y != nil; y = y.next {
			if y != x {
				a.nodes.add(y)
				break
			}
		}
		if a.nodes.latest == x {
			t.Fatal("could not make the entry old")
		}
		return x, a.tick
	}
	check := func(what string, x *node, tick uint32) {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.tbl.get(&bid) != x {
			t.Fatalf("%s: entry replaced", what)
		}
		if x.seen != tick || x.pinged != tick || a.nodes.latest != x {
			t.Fatalf("%s: seen %d pinged %d (tick %d), newest %v", what, x.seen, x.pinged, tick, a.nodes.latest == x)
		}
	}

	x, tick := stale()
	if _, err := a.Ping(ctx, b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	check("response", x, tick)

	x, tick = stale()
	if _, err := b.Ping(ctx, a.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	check("request", x, tick)
}

// fillRow0 adds dead nodes (memnet ports nobody listens on) to n's table
// until its row 0 (ids whose first bit differs from n's) is full, and
// returns a further id and address for that row. n.mu held.
func fillRow0(n *Node, port uint16) (netip.AddrPort, [32]byte) {
	next := func() (netip.AddrPort, [32]byte) {
		for {
			port++
			a := netip.AddrPortFrom(netip.MustParseAddr("10.0.0.1"), port)
			id := NodeID(a)
			if n.tbl.diff(&id) == 0 {
				return a, id
			}
		}
	}
	for len(n.tbl.row(0)) < K {
		a, id := next()
		n.addFresh(addr4{}, id, toAddr4(a))
	}
	return next()
}

// A node that does not fit its full row makes the node ping the row's
// oldest entry (dht-rpc's _repingAndSwap): a dead oldest entry is replaced
// by the newcomer, a live one that answers stays and the newcomer is
// dropped.
func TestFullRowPingsOldestBeforeReplacing(t *testing.T) {
	tn := newTestnet(t, 8)
	a := tn.nodes[0]
	// a live node of row 0, if the testnet has one
	var live *Node
	for _, x := range tn.nodes[1:] {
		id, _ := x.ID()
		a.mu.Lock()
		d := a.tbl.diff(&id)
		a.mu.Unlock()
		if d == 0 {
			live = x
			break
		}
	}

	// dead oldest: replaced
	var liveID [32]byte
	if live != nil {
		liveID, _ = live.ID()
	}
	a.mu.Lock()
	newAddr, newID := fillRow0(a, 40000)
	a.tick += 20
	row := a.tbl.row(0)
	var oldest *node
	for _, x := range row {
		x.pinged, x.seen = a.tick-1, a.tick-1
		if oldest == nil && x.id != liveID {
			oldest = x
		}
	}
	oldest.pinged, oldest.seen = a.tick-15, a.tick-15
	oldID := oldest.id
	a.addFresh(addr4{}, newID, toAddr4(newAddr))
	if a.tbl.get(&newID) != nil {
		a.mu.Unlock()
		t.Fatal("newcomer added to a full row without a ping")
	}
	a.mu.Unlock()
	waitCond(t, "the dead oldest entry to be swapped", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.tbl.get(&oldID) == nil && a.tbl.get(&newID) != nil
	})

	if live == nil {
		t.Log("no live node in row 0; the live case is not run")
		return
	}
	// live oldest: kept, the newcomer dropped
	a.mu.Lock()
	a.tick += 20
	for _, x := range a.tbl.row(0) {
		x.pinged, x.seen = a.tick-1, a.tick-1
	}
	x := a.tbl.get(&liveID)
	if x == nil {
		a.mu.Unlock()
		t.Skip("live node not in row 0 any more")
	}
	newAddr2, newID2 := fillRow0(a, 50000)
	x.pinged, x.seen = a.tick-15, a.tick-15
	a.addFresh(addr4{}, newID2, toAddr4(newAddr2))
	if a.repinging != 1 {
		a.mu.Unlock()
		t.Fatal("no re-ping of the oldest entry")
	}
	a.mu.Unlock()
	waitCond(t, "the live oldest entry to answer", func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.repinging == 0
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tbl.get(&liveID) == nil || a.tbl.get(&newID2) != nil {
		t.Fatalf("live oldest kept %v, newcomer added %v", a.tbl.get(&liveID) != nil, a.tbl.get(&newID2) != nil)
	}
}

func waitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}
