package hypercore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/warrenp2p/warren/protomux"
)

// pipePeers connects a and b over an in-memory framed pipe and replicates.
func pipePeers(t *testing.T, a, b *Core, tamperA func(*Data)) (*Peer, *Peer) {
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
	pa.mu.Lock()
	pa.tamper = tamperA
	pa.mu.Unlock()
	ma.Start()
	mb.Start()
	return pa, pb
}

func waitBlocks(t *testing.T, c *Core, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
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
	pipePeers(t, w, r, nil)
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

// TestReplicateMaliciousPeer has a writer peer corrupt its data messages:
// a bad signature, a bad proof node, a block that does not match its hash.
// The reader drops the peer and stores nothing from the bad message.
func TestReplicateMaliciousPeer(t *testing.T) {
	cases := map[string]func(d *Data){
		"signature": func(d *Data) {
			if d.Upgrade != nil {
				d.Upgrade.Signature[5] ^= 1
			}
		},
		"proof": func(d *Data) {
			if d.Upgrade != nil && len(d.Upgrade.Nodes) > 0 {
				d.Upgrade.Nodes[0].Hash[0] ^= 1
			}
		},
		"block": func(d *Data) {
			if d.Block != nil && d.Block.Index == 7 {
				d.Block.Value = []byte("not block 7")
			}
		},
	}
	for name, tamper := range cases {
		t.Run(name, func(t *testing.T) {
			w := mustOpen(t, t.TempDir(), Options{})
			appendN(t, w, 0, 20)
			key := w.Key()
			r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
			_, pr := pipePeers(t, w, r, tamper)
			select {
			case <-pr.Done():
			case <-time.After(60 * time.Second):
				t.Fatal("reader kept the malicious peer")
			}
			if err := pr.Err(); !errors.Is(err, ErrBadPeer) {
				t.Fatalf("peer error %v", err)
			}
			if name == "block" {
				if r.Has(7) {
					t.Fatal("tampered block stored")
				}
				return
			}
			if r.Length() != 0 || r.Manifest() != nil {
				t.Fatalf("bad upgrade stored: length %d", r.Length())
			}
		})
	}
}

func pipePeersB(tb testing.TB, a, b *Core) func() {
	ca, cb := net.Pipe()
	ma := protomux.New(protomux.Framed(ca), &protomux.Config{DeferStart: true})
	mb := protomux.New(protomux.Framed(cb), &protomux.Config{DeferStart: true})
	hs := bytes.Repeat([]byte{0xab}, 64)
	if _, err := a.Replicate(ma, true, hs); err != nil {
		tb.Fatal(err)
	}
	if _, err := b.Replicate(mb, false, hs); err != nil {
		tb.Fatal(err)
	}
	ma.Start()
	mb.Start()
	return func() { ma.Close(); mb.Close(); <-ma.Done(); <-mb.Done() }
}

// TestReplicateFollowsTruncation: the writer truncates and appends other
// blocks; the reader moves to the new fork, keeps the shared prefix and
// fetches the new blocks.
func TestReplicateFollowsTruncation(t *testing.T) {
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, 100)
	key := w.Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
	pipePeers(t, w, r, nil)
	waitBlocks(t, r, 100)
	if err := w.Truncate(60); err != nil {
		t.Fatal(err)
	}
	var more [][]byte
	for i := range 30 {
		more = append(more, []byte(fmt.Sprintf("fork1-%d", i)))
	}
	if _, err := w.Append(more...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := 60; i < 90; i++ {
		for {
			// Only a read begun on the new fork must see the new block: one
			// begun before the reorg may still return the old one.
			fork := r.Fork()
			v, err := r.Get(ctx, uint64(i), GetOptions{Wait: true})
			if err != nil {
				t.Fatalf("block %d: %v (length %d fork %d)", i, err, r.Length(), r.Fork())
			}
			if fork == 1 {
				if string(v) != fmt.Sprintf("fork1-%d", i-60) {
					t.Fatalf("block %d = %q", i, v)
				}
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if r.Length() != 90 || r.Fork() != 1 {
		t.Fatalf("reader length %d fork %d", r.Length(), r.Fork())
	}
	waitBlocks(t, r, 60)
	verifyAll(t, r)
}

// TestReplicateSparse: a sparse reader fetches only what it asks for.
func TestReplicateSparse(t *testing.T) {
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, 500)
	key := w.Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:], Sparse: true})
	pipePeers(t, w, r, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	v, err := r.Get(ctx, 321, GetOptions{Wait: true})
	if err != nil || !bytes.Equal(v, blockData(321)) {
		t.Fatalf("sparse get: %q %v", v, err)
	}
	if err := r.Download(ctx, 100, 150); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	n := 0
	for i := range uint64(500) {
		if r.Has(i) {
			n++
		}
	}
	if n != 51 || r.Length() != 500 {
		t.Fatalf("sparse reader holds %d blocks of %d", n, r.Length())
	}
	if r.ContiguousLength() != 0 {
		t.Fatal("contiguous length of a sparse reader")
	}
}

// TestReplicateNothingAfterBadBlock: a peer is dropped at its first bad
// answer and none of its answers after that one is stored, even those
// that arrived with it and verify (answers are applied in chunks, with
// requests sent in between).
func TestReplicateNothingAfterBadBlock(t *testing.T) {
	const n, bad = 400, 60
	w := mustOpen(t, t.TempDir(), Options{})
	value := bytes.Repeat([]byte{'v'}, 16<<10) // 16 blocks a chunk
	batch := make([][]byte, n)
	for i := range batch {
		batch[i] = value
	}
	if _, err := w.Append(batch...); err != nil {
		t.Fatal(err)
	}
	key := w.Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
	_, pr := pipePeers(t, w, r, func(d *Data) {
		if d.Block != nil && d.Block.Index == bad {
			d.Block.Value[0] ^= 1
		}
	})
	select {
	case <-pr.Done():
	case <-time.After(60 * time.Second):
		t.Fatal("reader kept the malicious peer")
	}
	if err := pr.Err(); !errors.Is(err, ErrBadPeer) {
		t.Fatalf("peer error %v", err)
	}
	for i := uint64(bad); i < n; i++ {
		if r.Has(i) {
			t.Fatalf("block %d, answered after the bad block %d, was stored", i, bad)
		}
	}
}
