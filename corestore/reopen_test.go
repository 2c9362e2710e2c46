package corestore

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/hypercore"
	"github.com/warrenp2p/warren/protomux"
	"github.com/warrenp2p/warren/secretstream"
)

// TestReopenAfterReject: the remote rejects the channel a Get offered (it
// did not have the core yet), then opens the core itself at once, as a
// remote whose own Get raced our offer does. The remote's reject and open
// arrive in one batch, so the store sees the open while the peer of the
// rejected channel may still be winding down: the open must be accepted
// all the same (it was refused, and the remote's read of the core never
// answered: TestReplicateConcurrentGets and the JS interop read timed out).
func TestReopenAfterReject(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := openStore(t, t.TempDir(), testPK)

	ma, mb, cb := storeAndRemote(t, ctx, w)
	// The remote refuses every offer, holding its reject back (corked)
	// until it has opened the core itself.
	asked := make(chan []byte, 16)
	mb.Pair(hypercore.Protocol, nil, func(id []byte) {
		mb.Cork()
		asked <- id
	})
	ma.Start()
	mb.Start()

	const n = 6
	for i := range n {
		name := string(rune('a' + i))
		wc, err := w.Get(ctx, GetOptions{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		defer wc.Close()
		if _, err := wc.Append([]byte(name + "-0")); err != nil {
			t.Fatal(err)
		}
		select {
		case <-asked:
		case <-ctx.Done():
			t.Fatal("the store did not offer the core")
		}
		rc, err := hypercore.Open(t.TempDir(), hypercore.Options{Key: func() []byte { k := wc.Key(); return k[:] }()})
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		p, err := rc.Replicate(mb, cb.IsInitiator(), cb.HandshakeHash())
		if err != nil {
			mb.Uncork()
			t.Fatal(err)
		}
		mb.Uncork()
		got := make(chan error, 1)
		go func() {
			v, err := rc.Get(ctx, 0, hypercore.GetOptions{Wait: true})
			if err == nil && string(v) != name+"-0" {
				err = fmt.Errorf("block 0 = %q", v)
			}
			got <- err
		}()
		select {
		case err := <-got:
			if err != nil {
				t.Fatalf("core %s: %v", name, err)
			}
		case <-p.Done():
			t.Fatalf("core %s: the store refused the remote's open after its reject", name)
		}
	}
}

// TestGetRacesIdleClose: a Get pins an on-demand core just as its channel
// closes because neither side downloads. Whichever comes first, the
// pinned core ends up with a live channel on the stream (the Get either
// keeps the channel or reopens it), never with a channel closed right
// after the Get looked at it.
func TestGetRacesIdleClose(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	wdir := t.TempDir()
	w := openStore(t, wdir, nil)
	const n = 8
	keys := make([][32]byte, n)
	for i := range n {
		keys[i] = writeCore(t, w, fmt.Sprintf("c%d", i), 3)
	}
	w.Close()
	w = openStore(t, wdir, nil)
	r := openStore(t, t.TempDir(), nil)
	_, wr := replicatePair(t, r, w)
	for i, key := range keys {
		dk := crypto.DiscoveryKey(key)
		s, err := r.Get(ctx, GetOptions{Key: key[:], Sparse: true})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if v, err := s.Get(ctx, 0, hypercore.GetOptions{Wait: true}); err != nil || string(v) != fmt.Sprintf("c%d-0", i) {
			t.Fatalf("core %d block 0 = %q, %v", i, v, err)
		}
		// The reader stops downloading: the writer's on-demand channel is
		// about to close as idle while the writer's Get pins the core.
		s.SetDownloading(false)
		if i%2 == 1 {
			runtime.Gosched()
		}
		ws, err := w.Get(ctx, GetOptions{Key: key[:]})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.Close()
		live := func() bool {
			p := wr.Peer(dk)
			if p == nil {
				return false
			}
			select {
			case <-p.Closed():
				return false
			default:
				return true
			}
		}
		waitFor(t, "a live channel for the pinned core", live)
		// Give a close that raced the Get time to land: the channel is
		// then reopened (not necessarily at once on a loaded machine).
		time.Sleep(100 * time.Millisecond)
		waitFor(t, fmt.Sprintf("core %d: a live channel after a close that raced the Get", i), live)
	}
}

// TestReopenCapped: a remote that accepts every channel the store opens
// for a pinned core and closes it moments later cannot make the store
// reopen it in a loop: reopens of one core are at least reopenGap apart.
func TestReopenCapped(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	w := openStore(t, t.TempDir(), testPK)
	wc, err := w.Get(ctx, GetOptions{Name: "pinned"})
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	if _, err := wc.Append([]byte("block")); err != nil {
		t.Fatal(err)
	}
	key := wc.Key()
	rc, err := hypercore.Open(t.TempDir(), hypercore.Options{Key: key[:]})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()

	ma, mb, cb := storeAndRemote(t, ctx, w)
	// The remote accepts each open with a valid capability, then closes
	// the channel 10 ms later.
	var opens atomic.Int64
	mb.Pair(hypercore.Protocol, nil, func([]byte) {
		p, err := rc.Replicate(mb, cb.IsInitiator(), cb.HandshakeHash())
		if err != nil {
			return
		}
		opens.Add(1)
		time.AfterFunc(10*time.Millisecond, func() { p.Close() })
	})
	ma.Start()
	mb.Start()
	const watch = 2500 * time.Millisecond
	time.Sleep(watch)
	// The first open, then at most one reopen a second (reopenGap), plus
	// one in flight.
	if n, most := opens.Load(), int64(watch/time.Second)+2; n < 2 || n > most {
		t.Fatalf("the store opened the pinned core's channel %d times in %v, want 2 to %d", n, watch, most)
	}
}

// storeAndRemote connects w, replicating on mux ma, to a bare remote mux mb
// over a secret stream (cb is the remote's end). Neither mux is started:
// the test registers the remote's handlers first. Both close at cleanup.
func storeAndRemote(t *testing.T, ctx context.Context, w *Store) (ma, mb *protomux.Mux, cb *secretstream.Conn) {
	t.Helper()
	ca, cb := pipePair(t)
	errc := make(chan error, 1)
	go func() { errc <- cb.Handshake(ctx) }()
	if err := ca.Handshake(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ma = protomux.New(ca, &protomux.Config{DeferStart: true})
	mb = protomux.New(cb, &protomux.Config{DeferStart: true})
	t.Cleanup(func() { ma.Close(); mb.Close(); <-ma.Done(); <-mb.Done() })
	if _, err := w.ReplicateMux(ma, ca.IsInitiator(), ca.HandshakeHash()); err != nil {
		t.Fatal(err)
	}
	return ma, mb, cb
}
