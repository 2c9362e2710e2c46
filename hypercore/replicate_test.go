package hypercore

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/warrenp2p/warren/protomux"
)

// pipePeers connects a and b over an in-memory framed pipe and replicates.
func pipePeers(t *testing.T, a, b *Core) (*Peer, *Peer) {
	t.Helper()
	ca, cb := net.Pipe()
	ma := protomux.New(protomux.Framed(ca), &protomux.Config{DeferStart: true})
	mb := protomux.New(protomux.Framed(cb), &protomux.Config{DeferStart: true})
	t.Cleanup(func() { ma.Close(); mb.Close(); <-ma.Done(); <-mb.Done() })
	hs := bytes.Repeat([]byte{0xab}, 64)
	pa, err := a.Replicate(ma, true, hs)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := b.Replicate(mb, false, hs)
	if err != nil {
		t.Fatal(err)
	}
	ma.Start()
	mb.Start()
	return pa, pb
}

func waitBlocks(t *testing.T, c *Core, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range n {
		v, err := c.Get(ctx, uint64(i), GetOptions{Wait: true})
		if err != nil {
			t.Fatalf("block %d: %v (length %d)", i, err, c.Length())
		}
		if !bytes.Equal(v, blockData(i)) {
			t.Fatalf("block %d = %q", i, v)
		}
	}
}

func TestReplicateGoGo(t *testing.T) {
	w := mustOpen(t, t.TempDir(), Options{EncryptionKey: bytes.Repeat([]byte{5}, 32)})
	appendN(t, w, 0, 300)
	key := w.Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:], EncryptionKey: bytes.Repeat([]byte{5}, 32)})
	pipePeers(t, w, r)
	waitBlocks(t, r, 300)
	// Live appends reach the reader.
	appendN(t, w, 300, 50)
	waitBlocks(t, r, 350)
	verifyAll(t, r)
	if r.Manifest() == nil || r.Length() != 350 {
		t.Fatal("reader state")
	}
}

func TestReplicateBadCapability(t *testing.T) {
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, 3)
	key := w.Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
	ca, cb := net.Pipe()
	ma := protomux.New(protomux.Framed(ca), &protomux.Config{DeferStart: true})
	mb := protomux.New(protomux.Framed(cb), &protomux.Config{DeferStart: true})
	defer func() { ma.Close(); mb.Close(); <-ma.Done(); <-mb.Done() }()
	if _, err := w.Replicate(ma, true, bytes.Repeat([]byte{1}, 64)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Replicate(mb, false, bytes.Repeat([]byte{2}, 64)); err != nil {
		t.Fatal(err)
	}
	ma.Start()
	mb.Start()
	select {
	case <-mb.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("a wrong capability must end the connection")
	}
	if r.Length() != 0 {
		t.Fatal("data arrived despite a bad capability")
	}
}
