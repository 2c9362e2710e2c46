package swarm

import (
	"bytes"
	"context"
	"io"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestMeshOfFifty: 50 swarms join one topic one after the other; each
// dials the ones before it, so all end connected to all (49 connections
// each, one per pair) and stay so. Then one leaves: every other notices,
// and the ones that had dialled it retry with backoff and then forget it.
func TestMeshOfFifty(t *testing.T) {
	const n = 50
	tn := newTestnet(t, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Second) // about 160 s at a load of 16 on 2 cores
	defer cancel()
	topic := topicOf("mesh of fifty")
	cfg := &Config{Logger: dbgLogger, MaxParallel: 8, Backoffs: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, time.Hour}, Jitter: -1}
	swarms := make([]*Swarm, n)
	var wg sync.WaitGroup
	t.Cleanup(wg.Wait)
	for i := range swarms {
		s := tn.swarm(t, cfg)
		swarms[i] = s
		wg.Add(1)
		go func() { // a reader on every connection, closing it when it ends
			defer wg.Done()
			for {
				c, err := s.Accept(context.Background())
				if err != nil {
					return
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _ = io.Copy(io.Discard, c)
					c.Close()
				}()
			}
		}()
	}
	// The swarms join in groups of ten (each group's announces done before
	// the next joins, so its lookups find the earlier groups) while the
	// dials of earlier ones run. Peers of one group find each other later.
	start := time.Now()
	discs := make([]*Discovery, n)
	for g := 0; g < n; g += 10 {
		var jw sync.WaitGroup
		for i := g; i < g+10 && i < n; i++ {
			d, err := swarms[i].Join(topic, nil)
			if err != nil {
				t.Fatal(err)
			}
			discs[i] = d
			jw.Add(1)
			go func() {
				defer jw.Done()
				if err := d.Flushed(ctx); err != nil {
					t.Errorf("swarm %d announce: %v", i, err)
				}
			}()
		}
		jw.Wait()
	}
	t.Logf("joined in %v", time.Since(start))
	for i, s := range swarms {
		if err := s.Flush(ctx); err != nil {
			t.Fatalf("swarm %d flush: %v", i, err)
		}
	}
	t.Logf("flushed in %v", time.Since(start))
	full := func(k int) func() bool {
		return func() bool {
			for _, s := range swarms[:k] {
				if len(s.Connections()) != k-1 {
					return false
				}
			}
			return true
		}
	}
	counts := func(ss []*Swarm) []int {
		var c []int
		for _, s := range ss {
			c = append(c, len(s.Connections()))
		}
		return c
	}
	dialling := func(ss []*Swarm) []int {
		var c []int
		for _, s := range ss {
			s.mu.Lock()
			c = append(c, s.connecting*1000+s.queue.len())
			s.mu.Unlock()
		}
		return c
	}
	// A DHT node answers a lookup with at most 20 of the 49 announces, so a
	// join may miss a few peers; the periodic refresh is what finds them,
	// run here at once, a few times if need be. A connection one side lost
	// without the other knowing (a duplicate destroyed before its stream
	// was connected) is found dead by the keepalives within seconds, and
	// healed the same way. The mesh must then stay full for 3 s.
	heal := func(target func() bool, live []*Swarm, want int) {
		for round := 0; round < 10; round++ {
			if target() {
				time.Sleep(3 * time.Second)
				if target() {
					return
				}
			}
			t.Logf("refresh round %d: %v", round, counts(live))
			var rw sync.WaitGroup
			for i, s := range swarms {
				if len(s.Connections()) == want || !slices.Contains(live, s) {
					continue
				}
				rw.Add(1)
				go func() {
					defer rw.Done()
					_ = discs[i].Refresh(ctx, nil)
					_ = s.Flush(ctx)
				}()
			}
			rw.Wait()
		}
		t.Fatalf("not fully connected: %v dialling*1000+queued %v", counts(live), dialling(live))
	}
	heal(full(n), swarms, n-1)
	t.Logf("full mesh after %v", time.Since(start))
	for i, s := range swarms {
		if st := s.Stats(); st.ClientOpened+st.ServerOpened < n-1 {
			t.Fatalf("swarm %d stats %+v", i, st)
		}
	}

	// The 11th leaves.
	leaver := swarms[10]
	rest := append(append([]*Swarm(nil), swarms[:10]...), swarms[11:]...)
	leaver.Close()
	waitFor(t, ctx, "everyone notices the leaver", func() bool {
		for _, s := range rest {
			for _, c := range s.Connections() {
				if bytes.Equal(c.Info.PublicKey, leaver.PublicKey()) {
					return false
				}
			}
		}
		return true
	}, func() any { return counts(rest) })
	// The rest stay (or get back, as above) fully connected.
	heal(func() bool {
		for _, s := range rest {
			if len(s.Connections()) != n-2 {
				return false
			}
		}
		return true
	}, rest, n-2)
	waitFor(t, ctx, "everyone forgets the leaver", func() bool {
		for _, s := range rest {
			if _, ok := s.Peer(leaver.PublicKey()); ok {
				return false
			}
		}
		return true
	}, func() any { return nil })
	for i, s := range rest {
		if c := s.Connecting(); c != 0 {
			t.Fatalf("swarm %d still dialling %d", i, c)
		}
	}
}

func waitFor(t *testing.T, ctx context.Context, what string, cond func() bool, state func() any) {
	t.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s: %v", what, state())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
