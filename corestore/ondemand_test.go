package corestore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/hypercore"
	"github.com/warrenp2p/warren/protomux"
)

// writeCore creates the core called name in s with n blocks "name-i" and
// returns its key; the session is closed (the store keeps the core open).
func writeCore(t *testing.T, s *Store, name string, n int) [32]byte {
	t.Helper()
	c, err := s.Get(context.Background(), GetOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var blocks [][]byte
	for i := range n {
		blocks = append(blocks, []byte(fmt.Sprintf("%s-%d", name, i)))
	}
	if _, err := c.Append(blocks...); err != nil {
		t.Fatal(err)
	}
	return c.Key()
}

// heldBlocks counts the blocks of c stored locally.
func heldBlocks(c *hypercore.Session) int {
	n := 0
	for i := range c.Length() {
		if c.Has(i) {
			n++
		}
	}
	return n
}

// openCoreOf returns the core dk the store has open (nil if none) and
// whether it is an on-demand one.
func openCoreOf(s *Store, dk [32]byte) (*hypercore.Core, bool) {
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	return s.r.cores[dk], s.r.onDemandLocked(dk)
}

// waitFor polls cond until it holds or 30 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A stored core opened on demand because a remote offers it is sparse: it
// takes the remote's length but downloads no block until a Get asks, and a
// Get without Sparse then makes it download everything. It is not offered
// on other streams.
func TestOnDemandCoreIsSparse(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := openStore(t, t.TempDir(), nil)
	key := writeCore(t, w, "big", 200)
	dk := crypto.DiscoveryKey(key)

	// The reader stores the first 10 blocks from an earlier run.
	rdir := t.TempDir()
	r := openStore(t, rdir, nil)
	s, err := r.Get(ctx, GetOptions{Key: key[:], Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	ra, _ := replicatePair(t, r, w)
	if err := s.Download(ctx, 0, 10); err != nil {
		t.Fatal(err)
	}
	s.Close()
	ra.Close()
	r.Close()

	r = openStore(t, rdir, nil)
	replicatePair(t, r, w)
	waitFor(t, "the on-demand open", func() bool { c, od := openCoreOf(r, dk); return c != nil && od })
	c, _ := openCoreOf(r, dk)
	if !c.Sparse() {
		t.Fatal("on-demand core is not sparse")
	}
	// A third stream is not offered the on-demand core.
	other := openStore(t, t.TempDir(), nil)
	rx, _ := replicatePair(t, r, other)
	if rx.Peer(dk) != nil {
		t.Fatal("on-demand core offered on a stream whose remote did not ask for it")
	}

	// A sparse Get keeps it sparse: block 150 comes alone. (An eager core
	// would have requested every missing block as soon as it learnt the
	// length, ahead of block 150.)
	s, err = r.Get(ctx, GetOptions{Key: key[:], Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, err := s.Get(ctx, 150, hypercore.GetOptions{Wait: true}); err != nil || string(v) != "big-150" {
		t.Fatalf("block 150 = %q, %v", v, err)
	}
	if s.Length() != 200 {
		t.Fatalf("length %d, want 200", s.Length())
	}
	if n := heldBlocks(s); n != 11 {
		t.Fatalf("sparse core holds %d blocks, want 11", n)
	}
	if _, od := openCoreOf(r, dk); od {
		t.Fatal("core still on demand after a Get")
	}
	// Now offered on the other stream too, as a core opened by Get.
	if rx.Peer(dk) == nil {
		t.Fatal("core opened by Get not offered on every stream")
	}

	// A Get without Sparse turns it eager.
	e, err := r.Get(ctx, GetOptions{Key: key[:]})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if e.Sparse() {
		t.Fatal("core still sparse after a Get without Sparse")
	}
	waitFor(t, "every block", func() bool { return heldBlocks(e) == 200 })
}

// An on-demand core is closed once no stream uses it; a Get keeps it.
func TestOnDemandCoreClosedWhenIdle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wdir := t.TempDir()
	w := openStore(t, wdir, nil)
	key := writeCore(t, w, "c", 5)
	dk := crypto.DiscoveryKey(key)
	w.Close()
	w = openStore(t, wdir, nil)
	w.r.idleTick = 10 * time.Millisecond

	read := func() *Replication {
		r := openStore(t, t.TempDir(), nil)
		s, err := r.Get(ctx, GetOptions{Key: key[:], Sparse: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		_, wr := replicatePair(t, r, w)
		if v, err := s.Get(ctx, 3, hypercore.GetOptions{Wait: true}); err != nil || string(v) != "c-3" {
			t.Fatalf("block 3 = %q, %v", v, err)
		}
		return wr
	}
	wr := read()
	if c, od := openCoreOf(w, dk); c == nil || !od {
		t.Fatal("served core is not open on demand")
	}
	// In use: the sweeps leave it alone.
	time.Sleep(20 * w.r.idleTick)
	if c, _ := openCoreOf(w, dk); c == nil {
		t.Fatal("on-demand core closed while a stream uses it")
	}
	wr.Close()
	waitFor(t, "the idle core to close", func() bool { c, _ := openCoreOf(w, dk); return c == nil })
	w.r.mu.Lock()
	stopped := w.r.sweepStop == nil && len(w.r.demand) == 0
	w.r.mu.Unlock()
	if !stopped {
		t.Fatal("sweeper still running with no on-demand core")
	}

	// Served again on demand; then a Get keeps it once the stream ends.
	wr = read()
	s, err := w.Get(ctx, GetOptions{Key: key[:]})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	wr.Close()
	<-wr.Done()
	time.Sleep(20 * w.r.idleTick)
	if c, od := openCoreOf(w, dk); c == nil || od {
		t.Fatalf("core asked for by Get: open %v, on demand %v", c != nil, od)
	}

	// Closing the store with a sweeper running ends it.
	read()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// At most maxDemand cores are open on demand; more asks are refused until
// one closes.
func TestOnDemandLimit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wdir := t.TempDir()
	w := openStore(t, wdir, nil)
	var keys [][32]byte
	for i := range 3 {
		keys = append(keys, writeCore(t, w, fmt.Sprint("k", i), 2))
	}
	w.Close()
	w = openStore(t, wdir, nil)
	w.r.maxDemand = 2
	w.r.idleTick = 10 * time.Millisecond

	r := openStore(t, t.TempDir(), nil)
	var sess []*hypercore.Session
	get := func(k [32]byte) {
		s, err := r.Get(ctx, GetOptions{Key: k[:]})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		sess = append(sess, s)
	}
	get(keys[0])
	get(keys[1])
	ra, wr := replicatePair(t, r, w)
	waitBlocks(t, sess[0], "k0", 2)
	waitBlocks(t, sess[1], "k1", 2)
	// The third ask is refused: its channel is closed on the reader.
	get(keys[2])
	waitFor(t, "the refused channel", func() bool {
		p := ra.Peer(crypto.DiscoveryKey(keys[2]))
		if p == nil {
			return false
		}
		select {
		case <-p.Done():
			return true
		default:
			return false
		}
	})
	if c, _ := openCoreOf(w, crypto.DiscoveryKey(keys[2])); c != nil {
		t.Fatal("third core opened over the limit")
	}
	if sess[2].Length() != 0 {
		t.Fatal("refused core replicated")
	}
	wr.Close()
	<-ra.Done()
	waitFor(t, "idle cores to close", func() bool {
		w.r.mu.Lock()
		defer w.r.mu.Unlock()
		return len(w.r.demand) == 0
	})
	// A new stream gets the third.
	r2 := openStore(t, t.TempDir(), nil)
	s, err := r2.Get(ctx, GetOptions{Key: keys[2][:]})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	replicatePair(t, r2, w)
	waitBlocks(t, s, "k2", 2)
}

// The syncs of an on-demand core say it is not downloading: once the
// remote is not downloading either the channel closes, and the idle core
// with it; a core opened by Get says it is downloading.
func TestOnDemandIdleChannelCloses(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wdir := t.TempDir()
	w := openStore(t, wdir, nil)
	key := writeCore(t, w, "c", 5)
	dk := crypto.DiscoveryKey(key)
	w.Close()
	w = openStore(t, wdir, nil)
	w.r.idleTick = 10 * time.Millisecond

	r := openStore(t, t.TempDir(), nil)
	s, err := r.Get(ctx, GetOptions{Key: key[:], Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Downloading() {
		t.Fatal("core opened by Get says it is not downloading")
	}
	ra, wr := replicatePair(t, r, w)
	if v, err := s.Get(ctx, 2, hypercore.GetOptions{Wait: true}); err != nil || string(v) != "c-2" {
		t.Fatalf("block 2 = %q, %v", v, err)
	}
	c, _ := openCoreOf(w, dk)
	if c == nil || c.Downloading() {
		t.Fatal("on-demand core says it is downloading")
	}
	p := wr.Peer(dk)
	// The reader stops downloading (as a JS core whose sessions went
	// inactive): the channel closes on both sides, the stream lives on.
	s.SetDownloading(false)
	select {
	case <-p.Done():
	case <-ctx.Done():
		t.Fatal("idle channel not closed")
	}
	select {
	case <-ra.Peer(dk).Done():
	case <-ctx.Done():
		t.Fatal("reader's side of the idle channel not closed")
	}
	waitFor(t, "the idle core to close", func() bool { c, _ := openCoreOf(w, dk); return c == nil })
	select {
	case <-wr.Done():
		t.Fatal("replication ended with the idle channel")
	default:
	}
	if wr.Peer(dk) != nil {
		t.Fatal("the live stream keeps the ended peer of a closed on-demand core")
	}
}

// A remote opening channels for thousands of cores the store does not hold
// gets them all refused with nothing created; one for a stored core with a
// forged capability opens it on demand, loses the stream, and the core is
// closed again once idle.
func TestOnDemandHostileOpens(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wdir := t.TempDir()
	w := openStore(t, wdir, nil)
	key := writeCore(t, w, "c", 3)
	dk := crypto.DiscoveryKey(key)
	w.Close()
	w = openStore(t, wdir, nil)
	w.r.idleTick = 10 * time.Millisecond

	ca, cb := pipePair(t)
	errc := make(chan error, 1)
	go func() { errc <- ca.Handshake(ctx) }()
	wr, err := w.Replicate(ctx, cb)
	if err != nil {
		t.Fatal(err)
	}
	defer wr.Close()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	mux := protomux.New(ca, nil)
	defer mux.Close()
	var chans []*protomux.Channel
	for range 2000 {
		ch, err := mux.Channel(protomux.ChannelOptions{Protocol: hypercore.Protocol, ID: crypto.RandomBytes(32)})
		if err != nil {
			t.Fatal(err)
		}
		if err := ch.Open(nil); err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	for i, ch := range chans {
		select {
		case <-ch.Closed():
		case <-ctx.Done():
			t.Fatalf("open %d of an unknown core not refused", i)
		}
	}
	if l, err := w.List(); err != nil || len(l) != 1 {
		t.Fatalf("store lists %d cores (%v), want 1", len(l), err)
	}
	if c, _ := openCoreOf(w, dk); c != nil {
		t.Fatal("stored core opened though nobody asked")
	}

	// The stored core with a forged capability (flags, then 32 bytes).
	ch, err := mux.Channel(protomux.ChannelOptions{Protocol: hypercore.Protocol, ID: dk[:]})
	if err != nil {
		t.Fatal(err)
	}
	if err := ch.Open(append([]byte{1}, make([]byte, 32)...)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-wr.Done():
	case <-ctx.Done():
		t.Fatal("a forged capability did not end the stream")
	}
	waitFor(t, "the on-demand core to close", func() bool {
		w.r.mu.Lock()
		defer w.r.mu.Unlock()
		return len(w.r.cores) == 0 && len(w.r.demand) == 0 && w.r.sweepStop == nil
	})
}
