package corestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/warrenp2p/warren/hypercore"
	"github.com/warrenp2p/warren/protomux"
)

// TestReplicateMuxShared: ReplicateMux runs on a mux the caller owns;
// Close detaches the store and leaves the mux running.
func TestReplicateMuxShared(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	w := openStore(t, t.TempDir(), nil)
	wc, err := w.Get(ctx, GetOptions{Name: "m"})
	if err != nil {
		t.Fatal(err)
	}
	defer wc.Close()
	if _, err := wc.Append([]byte("m-0"), []byte("m-1")); err != nil {
		t.Fatal(err)
	}
	r := openStore(t, t.TempDir(), nil)
	k := wc.Key()
	rc, err := r.Get(ctx, GetOptions{Key: k[:]})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()

	ca, cb := pipePair(t)
	errc := make(chan error, 1)
	go func() { errc <- cb.Handshake(ctx) }()
	if err := ca.Handshake(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	ma := protomux.New(ca, &protomux.Config{DeferStart: true})
	mb := protomux.New(cb, &protomux.Config{DeferStart: true})
	defer func() { ma.Close(); mb.Close(); <-ma.Done(); <-mb.Done() }()
	ra, err := r.ReplicateMux(ma, ca.IsInitiator(), ca.HandshakeHash())
	if err != nil {
		t.Fatal(err)
	}
	rb, err := w.ReplicateMux(mb, cb.IsInitiator(), cb.HandshakeHash())
	if err != nil {
		t.Fatal(err)
	}
	ma.Start()
	mb.Start()
	waitBlocks(t, rc, "m", 2)
	if err := ra.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ra.Done():
	case <-ctx.Done():
		t.Fatal("detached replication not done")
	}
	select {
	case <-ma.Done():
		t.Fatal("ReplicateMux Close closed the caller's mux")
	case <-time.After(50 * time.Millisecond):
	}
	// The writer's side sees its channel closed; its mux lives on too.
	select {
	case <-rb.Peer(wc.DiscoveryKey()).Done():
	case <-ctx.Done():
		t.Fatal("remote peer did not end")
	}
	if mb.Err() != nil {
		t.Fatal(mb.Err())
	}
}

// TestReplicateConcurrentGets: cores opened from many goroutines while the
// stream runs, on both sides, all sync.
func TestReplicateConcurrentGets(t *testing.T) {
	ctx := context.Background()
	w := openStore(t, t.TempDir(), testPK)
	r := openStore(t, t.TempDir(), nil)
	replicatePair(t, w, r)
	const n = 12
	keys := make([][32]byte, n)
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("c%d", i)
			c, err := w.Namespace("conc").Get(ctx, GetOptions{Name: name})
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if _, err := c.Append([]byte(name+"-0"), []byte(name+"-1"), []byte(name+"-2")); err != nil {
				errs <- err
			}
			keys[i] = c.Key()
		})
	}
	wg.Wait()
	for i := range n {
		wg.Go(func() {
			c, err := r.Get(ctx, GetOptions{Key: keys[i][:]})
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			for j := range 3 {
				v, err := c.Get(cctx, uint64(j), hypercore.GetOptions{Wait: true})
				if want := fmt.Sprintf("c%d-%d", i, j); err != nil || string(v) != want {
					errs <- fmt.Errorf("core %d block %d = %q, %v", i, j, v, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestEncryptionMismatch(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), nil)
	ek := bytes.Repeat([]byte{5}, 32)
	c, err := s.Get(ctx, GetOptions{Name: "enc", EncryptionKey: ek})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Append([]byte("secret")); err != nil {
		t.Fatal(err)
	}
	raw, _ := c.Get(ctx, 0, hypercore.GetOptions{Raw: true})
	if bytes.Contains(raw, []byte("secret")) {
		t.Fatal("block stored in the clear")
	}
	plain, err := s.Get(ctx, GetOptions{Name: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := s.Get(ctx, GetOptions{Name: "plain", EncryptionKey: ek}); !errors.Is(err, ErrEncryptionMismatch) {
		t.Fatalf("encrypted get of a plain open core: %v", err)
	}
}
