package hypercore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
)

func mustOpen(t *testing.T, dir string, opts Options) *Core {
	t.Helper()
	c, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func appendN(t *testing.T, c *Core, from, n int) {
	t.Helper()
	var bs [][]byte
	for i := from; i < from+n; i++ {
		bs = append(bs, blockData(i))
	}
	if _, err := c.Append(bs...); err != nil {
		t.Fatal(err)
	}
}

// verifyAll recomputes the tree from the stored blocks and checks the
// head signature: a from-scratch audit of a core.
func verifyAll(t *testing.T, c *Core) {
	t.Helper()
	ctx := context.Background()
	b := newBatch(&tree{})
	for i := range c.Length() {
		v, err := c.Get(ctx, i, GetOptions{Raw: true})
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		b.append(v)
	}
	for _, n := range b.nodes {
		got, ok, err := c.st.getNode(n.Index)
		if err != nil || !ok || got != n {
			t.Fatalf("node %d: stored %v %v %v, want %v", n.Index, got, ok, err, n)
		}
	}
	if b.hash() != c.TreeHash() {
		t.Fatal("tree hash differs from the rebuilt tree")
	}
	st := treeState{hash: b.hash(), length: c.Length(), fork: c.Fork()}
	if !c.verifier.verify(st, c.Signature()) {
		t.Fatal("head signature does not verify")
	}
}

func TestAppendGetReopen(t *testing.T) {
	dir := t.TempDir()
	c := mustOpen(t, dir, Options{})
	appendN(t, c, 0, 10)
	if _, err := c.Append(blockData(10)); err != nil {
		t.Fatal(err)
	}
	if c.Length() != 11 || c.ContiguousLength() != 11 {
		t.Fatalf("length %d contiguous %d", c.Length(), c.ContiguousLength())
	}
	verifyAll(t, c)
	key := c.Key()
	if key != c.Manifest().Hash() {
		t.Fatal("default core key must be the manifest hash")
	}
	if c.DiscoveryKey() != crypto.DiscoveryKey(key) {
		t.Fatal("discovery key")
	}
	if err := c.SetUserData("hello", []byte("world")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v", err)
	}
	c.Close()
	c2 := mustOpen(t, dir, Options{Key: key[:]})
	if c2.Length() != 11 || !c2.Writable() {
		t.Fatalf("reopened length %d writable %v", c2.Length(), c2.Writable())
	}
	v, err := c2.Get(context.Background(), 3, GetOptions{})
	if err != nil || !bytes.Equal(v, blockData(3)) {
		t.Fatalf("get 3: %q %v", v, err)
	}
	if u, _ := c2.UserData("hello"); string(u) != "world" {
		t.Fatalf("user data %q", u)
	}
	if _, err := c2.Get(context.Background(), 11, GetOptions{}); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("get beyond: %v", err)
	}
	appendN(t, c2, 11, 5)
	verifyAll(t, c2)
	other := make([]byte, 32)
	other[0] = 1
	c2.Close()
	if _, err := Open(dir, Options{Key: other}); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := Open(t.TempDir(), Options{NoCreate: true}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no create: %v", err)
	}
}

func TestCompatCore(t *testing.T) {
	kp, _ := crypto.NewKeyPair()
	c := mustOpen(t, t.TempDir(), Options{KeyPair: &kp, Compat: true})
	key := c.Key()
	if !bytes.Equal(key[:], kp.PublicKey) || !c.Info().Compat {
		t.Fatal("compat key must be the public key")
	}
	appendN(t, c, 0, 7)
	verifyAll(t, c)
	if len(c.Signature()) != 64 {
		t.Fatalf("compat signature length %d", len(c.Signature()))
	}
	d := mustOpen(t, t.TempDir(), Options{KeyPair: &kp})
	appendN(t, d, 0, 1)
	if len(d.Signature()) != 68 {
		t.Fatalf("v1 signature length %d (multisig form)", len(d.Signature()))
	}
}

func TestTruncateAndClear(t *testing.T) {
	c := mustOpen(t, t.TempDir(), Options{})
	appendN(t, c, 0, 20)
	snap := c.Snapshot()
	if err := c.Truncate(13); err != nil {
		t.Fatal(err)
	}
	if c.Length() != 13 || c.Fork() != 1 {
		t.Fatalf("length %d fork %d", c.Length(), c.Fork())
	}
	verifyAll(t, c)
	appendN(t, c, 100, 4)
	verifyAll(t, c)
	v, err := c.Get(context.Background(), 14, GetOptions{})
	if err != nil || !bytes.Equal(v, blockData(101)) {
		t.Fatalf("after truncate+append %q %v", v, err)
	}
	if _, err := snap.Get(context.Background(), 14, GetOptions{}); !errors.Is(err, ErrTruncated) {
		t.Fatalf("snapshot of a truncated block: %v", err)
	}
	if v, err := snap.Get(context.Background(), 2, GetOptions{}); err != nil || !bytes.Equal(v, blockData(2)) {
		t.Fatalf("snapshot block 2: %q %v", v, err)
	}
	if err := c.Clear(2, 5); err != nil {
		t.Fatal(err)
	}
	if c.Has(3) || !c.Has(5) || c.ContiguousLength() != 2 {
		t.Fatalf("clear: has3 %v has5 %v contiguous %d", c.Has(3), c.Has(5), c.ContiguousLength())
	}
	if _, err := c.Get(context.Background(), 3, GetOptions{}); !errors.Is(err, ErrNotAvailable) {
		t.Fatal(err)
	}
	// A cleared block comes back from a proof and is verified against the tree.
	if err := c.Truncate(0); err != nil {
		t.Fatal(err)
	}
	if c.Length() != 0 || c.ByteLength() != 0 {
		t.Fatal("truncate to 0")
	}
	appendN(t, c, 0, 3)
	verifyAll(t, c)
}

func TestEncryptedCore(t *testing.T) {
	ek := bytes.Repeat([]byte{7}, 32)
	c := mustOpen(t, t.TempDir(), Options{EncryptionKey: ek})
	appendN(t, c, 0, 9)
	verifyAll(t, c)
	raw, _ := c.Get(context.Background(), 4, GetOptions{Raw: true})
	if len(raw) != len(blockData(4))+8 || bytes.Contains(raw, []byte("block")) {
		t.Fatal("stored block is not encrypted")
	}
	v, err := c.Get(context.Background(), 4, GetOptions{})
	if err != nil || !bytes.Equal(v, blockData(4)) {
		t.Fatalf("decrypt %q %v", v, err)
	}
	want := 0
	for i := range 9 {
		want += len(blockData(i))
	}
	if c.ByteLength() != uint64(want) {
		t.Fatalf("byte length %d want %d", c.ByteLength(), want)
	}
	all, err := io.ReadAll(c.NewReader(context.Background(), 0, 0, false))
	if err != nil {
		t.Fatal(err)
	}
	var exp []byte
	for i := range 9 {
		exp = append(exp, blockData(i)...)
	}
	if !bytes.Equal(all, exp) {
		t.Fatalf("reader: %q", all)
	}
}

func TestReplicateBetweenGoCores(t *testing.T) {
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, 25)
	key := w.Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
	if r.Writable() {
		t.Fatal("reader must not be writable")
	}
	if r.Manifest() != nil {
		t.Fatal("reader learns the manifest from the writer")
	}
	// First an upgrade with block 7, then the rest block by block.
	p, err := w.Proof(ProofRequest{Block: &RequestBlock{Index: 7}, Upgrade: &RequestUpgrade{Start: 0, Length: 25}})
	if err != nil {
		t.Fatal(err)
	}
	p.Manifest = w.Manifest()
	// Tampering with the signature is refused and stores nothing.
	bad := *p
	up := *p.Upgrade
	up.Signature = append([]byte{}, up.Signature...)
	up.Signature[10] ^= 1
	bad.Upgrade = &up
	if err := r.Apply(&bad); !errors.Is(err, ErrSignature) {
		t.Fatalf("bad signature: %v", err)
	}
	if r.Length() != 0 {
		t.Fatal("a rejected proof changed the reader")
	}
	if err := r.Apply(p); err != nil {
		t.Fatal(err)
	}
	if r.Length() != 25 || !r.Has(7) || r.Has(6) {
		t.Fatalf("reader length %d", r.Length())
	}
	for i := uint64(0); i < 25; i++ {
		if i == 7 {
			continue
		}
		rb, err := r.BlockRequest(i)
		if err != nil {
			t.Fatal(err)
		}
		p, err := w.Proof(ProofRequest{Block: rb})
		if err != nil {
			t.Fatal(err)
		}
		// Wire round trip.
		d := &Data{Request: 9, Proof: *p}
		enc := encodeData(d)
		back, err := decodeData(enc)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Apply(&back.Proof); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
	}
	verifyAll(t, r)
	if r.ContiguousLength() != 25 {
		t.Fatalf("contiguous %d", r.ContiguousLength())
	}
	// A block that does not match its hash is refused.
	appendN(t, w, 25, 1)
	p, _ = w.Proof(ProofRequest{Block: &RequestBlock{Index: 25}, Upgrade: &RequestUpgrade{Start: 25, Length: 1}})
	p.Block.Value = []byte("evil")
	if err := r.Apply(p); err == nil {
		t.Fatal("tampered block accepted")
	}
	if r.Length() != 25 {
		t.Fatal("rejected proof upgraded the reader")
	}
}

func TestGetWait(t *testing.T) {
	c := mustOpen(t, t.TempDir(), Options{})
	got := make(chan []byte, 1)
	go func() {
		v, _ := c.Get(context.Background(), 2, GetOptions{Wait: true})
		got <- v
	}()
	time.Sleep(20 * time.Millisecond)
	appendN(t, c, 0, 3)
	select {
	case v := <-got:
		if !bytes.Equal(v, blockData(2)) {
			t.Fatalf("waited get %q", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Get with Wait did not wake up")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := c.Get(ctx, 10, GetOptions{Wait: true}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", err)
	}
}

func TestReaderAndSeek(t *testing.T) {
	c := mustOpen(t, t.TempDir(), Options{})
	var all []byte
	for i := range 50 {
		b := bytes.Repeat([]byte{byte(i)}, i%7+1)
		all = append(all, b...)
		if _, err := c.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	for off := range uint64(len(all)) {
		idx, rel, err := c.Seek(off)
		if err != nil {
			t.Fatal(err)
		}
		if all[off] != byte(idx) || (rel > 0 && all[off-1] != byte(idx)) {
			t.Fatalf("seek %d = %d+%d", off, idx, rel)
		}
	}
	if _, _, err := c.Seek(uint64(len(all))); !errors.Is(err, ErrOutOfRange) {
		t.Fatalf("seek end: %v", err)
	}
	r := c.NewReader(context.Background(), 10, 100, false)
	got, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(got, all[10:100]) {
		t.Fatalf("range read %v", err)
	}
	buf := make([]byte, 13)
	n, err := r.ReadAt(buf, 40)
	if n != 13 || err != nil || !bytes.Equal(buf, all[50:63]) {
		t.Fatalf("ReadAt %d %v", n, err)
	}
	var seen int
	for b, err := range c.Blocks(context.Background(), 5, 9) {
		if err != nil || b[0] != byte(5+seen) {
			t.Fatal("blocks iterator")
		}
		seen++
	}
	if seen != 4 {
		t.Fatal(seen)
	}
}

func TestSessions(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Session()
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := s.Append([]byte("x")); err != nil {
		t.Fatalf("session after core close: %v", err)
	}
	s.Close()
	s.Close()
	if _, err := s.Append([]byte("y")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after last close: %v", err)
	}
	c2 := mustOpen(t, dir, Options{})
	if c2.Length() != 1 {
		t.Fatal(c2.Length())
	}
}

func ExampleOpen() {
	dir, _ := tmpDir()
	c, _ := Open(dir, Options{})
	defer c.Close()
	c.Append([]byte("hello"), []byte("world"))
	b, _ := c.Get(context.Background(), 1, GetOptions{})
	fmt.Println(c.Length(), string(b))
	// Output: 2 world
}

func tmpDir() (string, error) { return osMkdirTemp() }

// TestSparseOrderKeepsBlocks fetches blocks out of order and from the end:
// proofs that carry the leaf of an already stored block must not hide it.
func TestSparseOrderKeepsBlocks(t *testing.T) {
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, 9)
	key := w.Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
	p, _ := w.Proof(ProofRequest{Block: &RequestBlock{Index: 8}, Upgrade: &RequestUpgrade{Start: 0, Length: 9}})
	p.Manifest = w.Manifest()
	if err := r.Apply(p); err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{3, 2, 7, 0, 5, 1, 6, 4} {
		rb, err := r.BlockRequest(i)
		if err != nil {
			t.Fatal(err)
		}
		// Ask for more nodes than needed so siblings of stored blocks come along.
		rb.Nodes++
		p, err := w.Proof(ProofRequest{Block: rb})
		if err != nil {
			rb.Nodes--
			if p, err = w.Proof(ProofRequest{Block: rb}); err != nil {
				t.Fatal(err)
			}
		}
		if err := r.Apply(p); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
	}
	verifyAll(t, r)
}
