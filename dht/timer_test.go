package dht

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"
)

// The deadline heap hands out requests in deadline order whatever was
// added, moved and removed.
func TestDeadlineHeap(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var h deadlineHeap
	var live []*outRequest
	for i := 0; i < 2000; i++ {
		switch {
		case len(live) > 0 && rng.IntN(4) == 0:
			k := rng.IntN(len(live))
			h.remove(live[k])
			h.remove(live[k]) // twice is harmless
			live = slices.Delete(live, k, k+1)
		case len(live) > 0 && rng.IntN(4) == 0:
			r := live[rng.IntN(len(live))]
			r.deadline = rng.Int64N(1000)
			h.set(r)
		default:
			r := &outRequest{hidx: -1, deadline: rng.Int64N(1000)}
			h.set(r)
			live = append(live, r)
		}
	}
	if len(h) != len(live) {
		t.Fatalf("heap has %d, want %d", len(h), len(live))
	}
	prev := int64(-1)
	for r := h.first(); r != nil; r = h.first() {
		if r.deadline < prev {
			t.Fatalf("deadline %d after %d", r.deadline, prev)
		}
		prev = r.deadline
		h.remove(r)
		if r.hidx != -1 {
			t.Fatal("removed request keeps its index")
		}
	}
}

// Thousands of requests waiting for a node that never answers cost no
// goroutine each: they all time out through the node's one timer.
func TestManyTimeoutsNoGoroutines(t *testing.T) {
	tn := newTestnet(t, 0)
	n := tn.boot
	dead := netip.MustParseAddrPort("10.0.0.1:45000")
	const count = 3000
	before := runtime.NumGoroutine()
	errs := make(chan error, count)
	n.mu.Lock()
	for i := 0; i < count; i++ {
		r := n.newRequest(dead, nil, nil, true, CmdPing, nil, nil)
		if r == nil {
			n.mu.Unlock()
			t.Fatal("request refused")
		}
		r.retries = 0 // a retry would wait for the congestion window
		r.timeout = 200 * time.Millisecond
		r.onError = func(err error) { errs <- err }
		r.send(true)
	}
	n.mu.Unlock()
	peak := 0
	for i := 0; i < count; i++ {
		select {
		case err := <-errs:
			if err != ErrTimeout {
				t.Fatalf("request %d: %v", i, err)
			}
		case <-time.After(60 * time.Second):
			t.Fatalf("%d of %d requests timed out", i, count)
		}
		peak = max(peak, runtime.NumGoroutine()-before)
	}
	if peak > 20 {
		t.Errorf("%d goroutines more while %d requests waited", peak, count)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.deadlines) != 0 || len(n.inflight) != 0 {
		t.Fatalf("%d deadlines, %d in flight left", len(n.deadlines), len(n.inflight))
	}
	if n.stats.Timeouts < count {
		t.Fatalf("%d timeouts counted", n.stats.Timeouts)
	}
}
