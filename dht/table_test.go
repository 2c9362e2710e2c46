package dht

import (
	"crypto/rand"
	"net/netip"
	"slices"
	"strconv"
	"testing"
)

func randomID() (id [32]byte) {
	rand.Read(id[:])
	return
}

func TestTableBuckets(t *testing.T) {
	tb := newTable(randomID())
	full := 0
	tb.onFull = func(*node, []*node) { full++ }
	var added []*node
	for i := 0; i < 2000; i++ {
		n := &node{id: randomID()}
		if tb.add(n) {
			added = append(added, n)
		}
	}
	if tb.size != len(added) {
		t.Fatalf("size %d, added %d", tb.size, len(added))
	}
	// the first rows are full at K; every node sits in the row of its prefix
	if len(tb.row(0)) != K || full == 0 {
		t.Fatalf("row 0 has %d, full events %d", len(tb.row(0)), full)
	}
	for i := range tb.nrows() {
		row := tb.row(i)
		if len(row) > K {
			t.Fatalf("row %d has %d nodes", i, len(row))
		}
		for j, n := range row {
			if tb.diff(&n.id) != i {
				t.Fatalf("node in wrong row")
			}
			if j > 0 && string(row[j-1].id[:]) >= string(n.id[:]) {
				t.Fatal("row not sorted")
			}
		}
	}
	for _, n := range added {
		if tb.get(&n.id) != n {
			t.Fatal("get failed")
		}
	}
	// replace keeps the size
	again := &node{id: added[0].id}
	if !tb.add(again) || tb.get(&again.id) != again || tb.size != len(added) {
		t.Fatal("replace failed")
	}
	for _, n := range added {
		if !tb.remove(&n.id) {
			t.Fatal("remove failed")
		}
	}
	if tb.size != 0 || tb.random() != nil {
		t.Fatal("table not empty")
	}
}

func TestTableClosest(t *testing.T) {
	tb := newTable(randomID())
	var ids [][32]byte
	for i := 0; i < 60; i++ {
		id := randomID()
		if tb.add(&node{id: id}) {
			ids = append(ids, id)
		}
	}
	target := randomID()
	got := tb.closest(&target, K)
	if len(got) != K {
		t.Fatalf("closest returned %d", len(got))
	}
	// As kademlia-routing-table: the row of the target comes first, whole,
	// then the rows of shorter prefixes, then the longer ones; no repeats.
	d := tb.diff(&target)
	seen := map[[32]byte]bool{}
	for i, n := range got {
		if seen[n.id] {
			t.Fatal("duplicate")
		}
		seen[n.id] = true
		if i < len(tb.row(d)) && tb.diff(&n.id) != d {
			t.Fatalf("result %d is not from the target's row", i)
		}
	}
	// when the target's row is not empty it holds the nearest node
	if len(tb.row(d)) > 0 {
		slices.SortFunc(ids, func(a, b [32]byte) int { return xorCompare(&target, &a, &b) })
		if !seen[ids[0]] {
			t.Fatal("closest node missing")
		}
	}
	if all := tb.all(); len(all) != tb.size {
		t.Fatalf("all returned %d of %d", len(all), tb.size)
	}
}

func TestNodeListOrder(t *testing.T) {
	var l nodeList
	a, b, c := &node{}, &node{}, &node{}
	l.add(a)
	l.add(b)
	l.add(c)
	l.add(a) // refresh moves to the newest end
	if l.oldest != b || l.latest != a || l.length != 3 {
		t.Fatal("order")
	}
	l.remove(c)
	if b.next != a || a.prev != b || l.length != 2 || l.has(c) {
		t.Fatal("remove")
	}
}

func TestNATSampler(t *testing.T) {
	h := netip.MustParseAddr("1.2.3.4")
	var s natSampler
	s.add(h, 1000)
	if s.host != h || s.port != 1000 {
		t.Fatal("one sample decides")
	}
	s.add(h, 1000)
	s.add(h, 1000)
	s.add(h, 2000) // 3 of 4 agree (threshold 3)
	if s.host != h || s.port != 1000 {
		t.Fatalf("got %v:%d", s.host, s.port)
	}

	// random ports: host stable, port 0
	var r natSampler
	for i := 0; i < 10; i++ {
		r.add(h, uint16(3000+i))
	}
	if r.host != h || r.port != 0 {
		t.Fatalf("random mapping: %v:%d", r.host, r.port)
	}

	// two hosts disagreeing: nothing
	var d natSampler
	d.add(h, 1)
	d.add(netip.MustParseAddr("5.6.7.8"), 1)
	if d.host.IsValid() {
		t.Fatal("disagreeing hosts gave an answer")
	}

	// long runs stay bounded and follow the recent majority
	var l natSampler
	for i := 0; i < 1000; i++ {
		l.add(h, 1)
	}
	for i := 0; i < 16; i++ {
		l.add(netip.MustParseAddr("9.9.9.9"), 7)
	}
	if l.n != 32 || l.host != netip.MustParseAddr("9.9.9.9") || l.port != 7 {
		t.Fatalf("after change: %v:%d (%d samples)", l.host, l.port, l.n)
	}
}

// The same sequence through npm nat-sampler 1.0.1 gives this trace.
func TestNATSamplerMatchesJSTrace(t *testing.T) {
	seq := [][2]int{{1, 1}, {1, 2}, {2, 1}, {1, 1}, {1, 1}, {2, 2}, {1, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}, {3, 1}, {1, 1}}
	want := "1.0.0.1:1 1.0.0.1:0 null:0 1.0.0.1:0 1.0.0.1:0 null:0 null:0 1.0.0.1:0 1.0.0.1:0 1.0.0.1:0 1.0.0.1:0 1.0.0.1:0 1.0.0.1:0 "
	var s natSampler
	got := ""
	for _, x := range seq {
		s.add(netip.AddrFrom4([4]byte{1, 0, 0, byte(x[0])}), uint16(x[1]))
		h := "null"
		if s.host.IsValid() {
			h = s.host.String()
		}
		got += h + ":" + strconv.Itoa(int(s.port)) + " "
	}
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestHealth(t *testing.T) {
	h := newHealth()
	var res, to uint64
	step := func(dr, dt uint64) {
		res += dr
		to += dt
		h.update(res, to)
	}
	for i := 0; i < 4; i++ {
		step(10, 0)
	}
	if !h.isOnline || h.isDegraded {
		t.Fatal("healthy start")
	}
	step(0, 10)
	if !h.isOnline {
		t.Fatal("offline after one tick")
	}
	step(0, 10)
	if h.isOnline {
		t.Fatal("still online after two offline ticks")
	}
	step(1, 1) // idle: no change
	if h.isOnline {
		t.Fatal("idle tick changed state")
	}
	for i := 0; i < 4; i++ {
		step(2, 8)
	}
	if !h.isOnline || !h.isDegraded {
		t.Fatalf("want online and degraded, got %v %v", h.isOnline, h.isDegraded)
	}
	for i := 0; i < 4; i++ {
		step(10, 0)
	}
	if h.isDegraded {
		t.Fatal("still degraded")
	}
}
