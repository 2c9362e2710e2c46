package hypercore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/warrenp2p/warren/compact"
	"github.com/warrenp2p/warren/flattree"
)

// checkBits compares every bit of the core's bitfield below n, as read back
// from storage, with want.
func checkBits(t *testing.T, c *Core, want []bool) {
	t.Helper()
	c.pagesMu.Lock()
	c.pages = map[uint64][]byte{}
	c.pagesMu.Unlock()
	for i, w := range want {
		if got := c.hasLocked(uint64(i)); got != w {
			t.Fatalf("bit %d = %v, want %v", i, got, w)
		}
	}
}

// TestBitfieldSegments sets and clears random ranges, storing only the
// segments each change touched, and reads the bitfield back from storage
// after every change and after reopening.
func TestBitfieldSegments(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3*bitfieldPageBits + 100
	want := make([]bool, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 60 {
		start := uint64(rng.IntN(n))
		end := start + uint64(rng.IntN(3000))
		if round%7 == 0 {
			end = start + uint64(rng.IntN(2*bitfieldPageBits))
		}
		end = min(end, n)
		on := rng.IntN(3) != 0
		c.mu.Lock()
		dirty := c.setBits(start, end, on)
		wb := c.st.db.NewBatch()
		c.writePages(wb, dirty)
		if err := wb.Commit(c.st.wo); err != nil {
			t.Fatal(err)
		}
		wb.Close()
		for i := start; i < end; i++ {
			want[i] = on
		}
		if round%10 == 0 {
			checkBits(t, c, want)
		}
		c.mu.Unlock()
	}
	c.Close()
	if c, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	checkBits(t, c, want)
}

// TestBitfieldLegacyPages reads a store written with whole bitfield pages:
// the page holds the bits, and a segment stored later overrides its part.
func TestBitfieldLegacyPages(t *testing.T) {
	c, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	page := make([]byte, bitfieldPageBytes)
	for i := range page {
		page[i] = 0xff
	}
	seg := make([]byte, bitfieldSegmentBytes) // segment 1 of page 1: all clear
	wb := c.st.db.NewBatch()
	wb.Set(c.st.idx(keyBitfield, 1), page, nil)
	wb.Set(c.st.idx(keySegment, segmentsPerPage+1), seg, nil)
	if err := wb.Commit(c.st.wo); err != nil {
		t.Fatal(err)
	}
	wb.Close()
	want := make([]bool, 2*bitfieldPageBits)
	for i := bitfieldPageBits; i < len(want); i++ {
		want[i] = i < bitfieldPageBits+bitfieldSegmentBits || i >= bitfieldPageBits+2*bitfieldSegmentBits
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	checkBits(t, c, want)
}

// TestSharedStorage keeps two cores in one Storage: each sees only its own
// records, a truncation of one leaves the other alone, and both read back
// after the storage is reopened.
func TestSharedStorage(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenStorage(dir, StorageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenStorage(dir, StorageOptions{}); !errors.Is(err, ErrLocked) {
		t.Fatalf("second OpenStorage: %v", err)
	}
	a, err := s.Open([]byte("core-a"), filepath.Join(dir, "a"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	// "core-a" must not be a prefix of "core-ab" in the key space.
	b, err := s.Open([]byte("core-ab"), filepath.Join(dir, "b"), Options{EncryptionKey: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open([]byte("core-a"), filepath.Join(dir, "a"), Options{}); !errors.Is(err, ErrAlreadyOpen) {
		t.Fatalf("second open of one id: %v", err)
	}
	appendN(t, a, 0, 3000)
	appendN(t, b, 0, 1000)
	if err := a.SetUserData("x", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if err := b.Truncate(500); err != nil {
		t.Fatal(err)
	}
	appendN(t, b, 500, 10)
	ka, kb := a.Key(), b.Key()
	if ka == kb {
		t.Fatal("two cores, one key")
	}
	// Close the storage first: it stays usable until its cores are closed.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Open([]byte("core-c"), filepath.Join(dir, "c"), Options{}); !errors.Is(err, ErrStorageClosed) {
		t.Fatalf("open after Close: %v", err)
	}
	appendN(t, a, 3000, 1)
	a.Close()
	b.Close()

	s, err = OpenStorage(dir, StorageOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, id := range []string{"core-a", "core-ab", "core-b"} {
		ok, err := s.Has([]byte(id))
		if err != nil || ok != (id != "core-b") {
			t.Fatalf("Has(%s) = %v %v", id, ok, err)
		}
	}
	if _, err := s.Open([]byte("core-b"), filepath.Join(dir, "x"), Options{NoCreate: true}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("NoCreate of a missing core: %v", err)
	}
	a, err = s.Open([]byte("core-a"), filepath.Join(dir, "a"), Options{Key: ka[:]})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err = s.Open([]byte("core-ab"), filepath.Join(dir, "b"), Options{Key: kb[:], EncryptionKey: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if a.Length() != 3001 || b.Length() != 510 || b.Fork() != 1 || a.Fork() != 0 {
		t.Fatalf("lengths %d/%d forks %d/%d", a.Length(), b.Length(), a.Fork(), b.Fork())
	}
	if v, err := a.UserData("x"); err != nil || string(v) != "a" {
		t.Fatalf("user data %q %v", v, err)
	}
	if v, err := b.UserData("x"); err != nil || v != nil {
		t.Fatalf("user data of the other core %q %v", v, err)
	}
	verifyAll(t, a)
	verifyAll(t, b)
	for i := range uint64(510) {
		v, err := b.Get(t.Context(), i, GetOptions{})
		if err != nil || !bytes.Equal(v, blockData(int(i))) {
			t.Fatalf("block %d of b: %q %v", i, v, err)
		}
	}
	if _, err := s.Open(nil, dir, Options{}); !errors.Is(err, ErrBadID) {
		t.Fatalf("empty id: %v", err)
	}
}

// TestAppendUint: the allocation-free encoder writes what compact.Uint
// writes, at every width.
func TestAppendUint(t *testing.T) {
	for _, v := range []uint64{0, 1, 0xfc, 0xfd, 0xfe, 0xff, 0x100, 0xffff, 0x10000, 0xffffffff, 0x100000000, 1<<53 - 1, ^uint64(0)} {
		if got, want := appendUint([]byte{9}, v), binaryAppendUint([]byte{9}, v); !bytes.Equal(got, want) {
			t.Fatalf("%#x: %x, want %x", v, got, want)
		}
	}
}

// TestWriteBlocksAt writes more blocks than one pwritev takes, of uneven
// sizes (some empty), and reads them back in place.
func TestWriteBlocksAt(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(3, 4))
	var bs [][]byte
	var want []byte
	for i := range 2500 {
		b := make([]byte, rng.IntN(300))
		for j := range b {
			b[j] = byte(i + j)
		}
		bs = append(bs, b)
		want = append(want, b...)
	}
	const off = 1000
	if err := writeBlocksAt(f, bs, off); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := f.ReadAt(got, off); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back differs (%v)", err)
	}
	for _, n := range []int{0, 1, len(bs[0]), len(want) - 1, len(want)} {
		var rest []byte
		for _, b := range skipBytesOrAll(bs, n) {
			rest = append(rest, b...)
		}
		if !bytes.Equal(rest, want[n:]) {
			t.Fatalf("skip %d: %d bytes left, want %d", n, len(rest), len(want)-n)
		}
	}
}

// TestNodeCache: cached nodes come back under their own index only, a
// growing cache keeps what it held, and a reset empties it.
func TestNodeCache(t *testing.T) {
	var s store
	if _, ok := s.cacheGet(1); ok {
		t.Fatal("hit in an empty cache")
	}
	node := func(i uint64) Node { return Node{Index: i, Size: i * 3, Hash: [32]byte{byte(i)}} }
	// Upper nodes of a tree (2^k - 1) must not all share one slot.
	var uppers []Node
	for k := 1; k < 20; k++ {
		uppers = append(uppers, node(1<<k-1))
	}
	s.cachePut(uppers...)
	for _, n := range uppers {
		if got, ok := s.cacheGet(n.Index); !ok || got != n {
			t.Fatalf("node %d: %v %v", n.Index, got, ok)
		}
	}
	if _, ok := s.cacheGet(1<<20 - 1); ok {
		t.Fatal("hit for a node never put")
	}
	small := len(s.cache)
	s.cacheFit(nodeCacheMax * 4)
	if len(s.cache) != nodeCacheMax || len(s.cache) <= small {
		t.Fatalf("cache of %d slots after fit (was %d)", len(s.cache), small)
	}
	for _, n := range uppers {
		if got, ok := s.cacheGet(n.Index); !ok || got != n {
			t.Fatalf("node %d lost when the cache grew", n.Index)
		}
	}
	s.cacheReset()
	if _, ok := s.cacheGet(uppers[0].Index); ok {
		t.Fatal("hit after reset")
	}
}

// TestWriteRecords: records of one batch are stored whatever their order,
// and of two records for one index the later one wins.
func TestWriteRecords(t *testing.T) {
	c, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	node := func(i uint64) Node { return Node{Index: i, Size: i + 1, Hash: [32]byte{byte(i), 1}} }
	recs := []nodeRecord{
		{n: node(6)}, {n: node(2)}, {n: node(5)},
		{n: node(4), offset: 9, hasOffset: true}, {n: node(4)}, // later: no offset
		{n: node(0)}, {n: node(0), offset: 7, hasOffset: true}, // later: offset 7
	}
	wb := c.st.db.NewBatch()
	c.st.writeRecords(wb, recs)
	if err := wb.Commit(c.st.wo); err != nil {
		t.Fatal(err)
	}
	wb.Close()
	for _, i := range []uint64{0, 2, 4, 5, 6} {
		got, ok, err := c.st.getNode(i)
		if err != nil || !ok || got != node(i) {
			t.Fatalf("node %d: %v %v %v", i, got, ok, err)
		}
	}
	if _, off, has, ok, err := c.st.leaf(0); err != nil || !ok || !has || off != 7 {
		t.Fatalf("leaf 0: offset %d %v %v %v", off, has, ok, err)
	}
	if _, _, has, ok, err := c.st.leaf(1); err != nil || !ok || has {
		t.Fatalf("leaf 2 (block 1): has offset %v %v %v", has, ok, err)
	}
	if _, _, has, ok, err := c.st.leaf(2); err != nil || !ok || has {
		t.Fatalf("leaf 4 (block 2): the later record has no offset, got %v %v %v", has, ok, err)
	}
}

// TestDownloadsSurviveReopen: downloads are committed without waiting for
// pebble's log writer; closing the core still makes every one durable, in
// a core of its own and in a shared Storage.
func TestDownloadsSurviveReopen(t *testing.T) {
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, 3000)
	key := w.Key()
	for _, shared := range []bool{false, true} {
		dir := t.TempDir()
		open := func() *Core {
			c, err := openCrashCore(dir, Options{Key: key[:]}, shared)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
		r := open()
		pipePeers(t, w, r, nil)
		waitBlocks(t, r, 3000)
		r.Close()
		r = open()
		if r.Length() != 3000 || r.ContiguousLength() != 3000 {
			t.Fatalf("shared %v: reopened length %d contiguous %d", shared, r.Length(), r.ContiguousLength())
		}
		verifyAll(t, r)
		waitBlocks(t, r, 3000)
		r.Close()
	}
}

// TestSortNodes: dense, sparse and duplicate index sets come out sorted.
func TestSortNodes(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, spread := range []int{1, 2, 3, 100} {
		for _, n := range []int{0, 1, 2, 7, 2047} {
			nodes := make([]Node, n)
			for i := range nodes {
				nodes[i] = Node{Index: uint64(1000 + rng.IntN(n*spread+1)), Size: uint64(i)}
			}
			want := append([]Node(nil), nodes...)
			slices.SortStableFunc(want, func(x, y Node) int { return cmp.Compare(x.Index, y.Index) })
			sortNodes(nodes)
			for i := range nodes {
				if nodes[i].Index != want[i].Index {
					t.Fatalf("spread %d n %d: position %d has %d, want %d", spread, n, i, nodes[i].Index, want[i].Index)
				}
			}
		}
	}
	// A real append: the batch's nodes in build order.
	b := newBatch(&tree{})
	for i := range uint64(1500) {
		b.appendRoot(leafNode(2*i, []byte{byte(i)}), flattree.NewIterator(2*i))
	}
	sortNodes(b.nodes)
	for i := 1; i < len(b.nodes); i++ {
		if b.nodes[i-1].Index >= b.nodes[i].Index {
			t.Fatalf("append nodes out of order at %d", i)
		}
	}
}

// serveAll asks w for the proofs of blocks order (as reader r asks for
// them) and applies them to r, checking each served block against w.
func serveAll(t *testing.T, w, r *Core, order []uint64) {
	t.Helper()
	ctx := context.Background()
	for _, i := range order {
		rb, err := r.BlockRequest(i)
		if err != nil {
			t.Fatal(err)
		}
		p, err := w.Proof(ProofRequest{Block: rb})
		if err != nil {
			t.Fatalf("proof of block %d: %v", i, err)
		}
		want, err := w.Get(ctx, i, GetOptions{Raw: true})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(p.Block.Value, want) {
			t.Fatalf("block %d served as %q, stored %q", i, p.Block.Value, want)
		}
		p.Block.Value[0] ^= 0xff // a caller may scribble on what it got
		p.Block.Value[0] ^= 0xff
		if err := r.Apply(p); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
	}
}

// TestServeReadahead: blocks served in order are read ahead in windows;
// whatever the order, sizes, gaps or truncations, every proof carries the
// stored block and verifies.
func TestServeReadahead(t *testing.T) {
	w := mustOpen(t, t.TempDir(), Options{})
	var bs [][]byte
	for i := range 300 {
		b := blockData(i)
		if i%50 == 7 {
			b = bytes.Repeat(b, 12000) // larger than a readahead window
		}
		bs = append(bs, b)
	}
	if _, err := w.Append(bs...); err != nil {
		t.Fatal(err)
	}
	key := w.Key()
	newReader := func() *Core {
		r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
		p, err := w.Proof(ProofRequest{Upgrade: &RequestUpgrade{Start: 0, Length: w.Length()}})
		if err != nil {
			t.Fatal(err)
		}
		p.Manifest = w.Manifest()
		if err := r.Apply(p); err != nil {
			t.Fatal(err)
		}
		return r
	}
	seq := func(from, to uint64) []uint64 {
		var out []uint64
		for i := from; i < to; i++ {
			out = append(out, i)
		}
		return out
	}
	// In order, then jumps back and forth.
	r := newReader()
	serveAll(t, w, r, seq(0, 150))
	serveAll(t, w, r, []uint64{290, 160, 161, 162, 299, 151, 152})
	serveAll(t, w, r, seq(163, 290))
	serveAll(t, w, r, seq(291, 299))
	serveAll(t, w, r, append(seq(153, 160), 150))
	verifyAll(t, r)

	// A core with gaps serves what it has and refuses the rest (not
	// available, or a proof node missing), in order or not.
	mid := newReader()
	serveAll(t, w, mid, append(seq(0, 20), seq(25, 40)...))
	r2 := newReader()
	serveAll(t, mid, r2, seq(0, 20))
	for _, i := range []uint64{20, 24, 41} {
		rb, _ := r2.BlockRequest(i)
		if _, err := mid.Proof(ProofRequest{Block: rb}); err == nil {
			t.Fatalf("block %d of a core without it: %v", i, err)
		}
	}
	serveAll(t, mid, r2, seq(25, 40))

	// After a truncation the blocks under the same indexes are new: what
	// was read ahead before must not be served.
	w2 := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w2, 0, 100)
	key2 := w2.Key()
	r3 := mustOpen(t, t.TempDir(), Options{Key: key2[:]})
	p, err := w2.Proof(ProofRequest{Upgrade: &RequestUpgrade{Start: 0, Length: 100}})
	if err != nil {
		t.Fatal(err)
	}
	p.Manifest = w2.Manifest()
	if err := r3.Apply(p); err != nil {
		t.Fatal(err)
	}
	serveAll(t, w2, r3, seq(0, 40))
	if err := w2.Truncate(30); err != nil {
		t.Fatal(err)
	}
	var more [][]byte
	for i := range 70 {
		more = append(more, []byte(fmt.Sprintf("forked-%d-and-longer", i)))
	}
	if _, err := w2.Append(more...); err != nil {
		t.Fatal(err)
	}
	r4 := mustOpen(t, t.TempDir(), Options{Key: key2[:]})
	p, err = w2.Proof(ProofRequest{Upgrade: &RequestUpgrade{Start: 0, Length: 100}})
	if err != nil {
		t.Fatal(err)
	}
	p.Manifest = w2.Manifest()
	if err := r4.Apply(p); err != nil {
		t.Fatal(err)
	}
	serveAll(t, w2, r4, seq(0, 100))
	verifyAll(t, r4)
}

// TestVerifyStopsAtTrustedNode: a reader that asked for many blocks at
// once gets proofs sized for its state at the time; verifying them in
// order stops at the first node already verified. The block is still
// checked against that node, a wrong node below it fails the proof, and
// the nodes above it are neither trusted nor stored.
func TestVerifyStopsAtTrustedNode(t *testing.T) {
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, 64)
	key := w.Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
	up, err := w.Proof(ProofRequest{Upgrade: &RequestUpgrade{Start: 0, Length: 64}})
	if err != nil {
		t.Fatal(err)
	}
	up.Manifest = w.Manifest()
	if err := r.Apply(up); err != nil {
		t.Fatal(err)
	}
	var proofs []*Proof
	for i := range uint64(64) {
		rb, err := r.BlockRequest(i)
		if err != nil {
			t.Fatal(err)
		}
		p, err := w.Proof(ProofRequest{Block: rb})
		if err != nil {
			t.Fatal(err)
		}
		proofs = append(proofs, p)
	}
	clone := func(p *Proof) *Proof {
		q := *p
		b := *p.Block
		b.Value = append([]byte(nil), b.Value...)
		b.Nodes = append([]Node(nil), b.Nodes...)
		q.Block = &b
		return &q
	}
	if err := r.Apply(proofs[0]); err != nil {
		t.Fatal(err)
	}
	// Block 1's leaf came with block 0's proof: a wrong block 1 fails on
	// it, and so does a right block 1 whose proof carries a wrong node
	// above the leaf (compared with the trusted node, not hashed): a
	// peer that lies anywhere in an answer gets nothing stored.
	bad := clone(proofs[1])
	bad.Block.Value[0] ^= 1
	if err := r.Apply(bad); !errors.Is(err, ErrInvalidChecksum) {
		t.Fatalf("wrong block: %v", err)
	}
	if r.Has(1) {
		t.Fatal("wrong block stored")
	}
	top := clone(proofs[1])
	top.Block.Nodes[len(top.Block.Nodes)-1].Hash[0] ^= 1
	if err := r.Apply(top); !errors.Is(err, ErrInvalidChecksum) {
		t.Fatalf("block 1 with a wrong node above its trusted leaf: %v", err)
	}
	if r.Has(1) {
		t.Fatal("block 1 stored from a proof with a wrong node")
	}
	if err := r.Apply(clone(proofs[1])); err != nil {
		t.Fatal(err)
	}
	// Block 2: its sibling (block 3's leaf) is new and must be right.
	bad = clone(proofs[2])
	bad.Block.Nodes[0].Hash[0] ^= 1
	if _, err := r.ApplyBatch([]*Proof{bad}); err == nil {
		t.Fatal("wrong sibling accepted")
	}
	// The rest in batches, as a peer answers a pipelined download. Had the
	// spoilt node of block 1 been stored, they would fail against it.
	for i := 2; i < 64; i += 16 {
		var batch []*Proof
		for _, p := range proofs[i:min(i+16, 64)] {
			batch = append(batch, clone(p))
		}
		n, err := r.ApplyBatch(batch)
		if err != nil || n != len(batch) {
			t.Fatalf("batch at %d: %d applied, %v", i, n, err)
		}
	}
	verifyAll(t, r)
	if r.ContiguousLength() != 64 {
		t.Fatalf("contiguous %d", r.ContiguousLength())
	}
}

// FuzzNodeRecordCompact: the hand-written node record decoder accepts
// exactly what compact-encoding's uint, 32 bytes and an optional uint
// (leaves only) accept, with the same values.
func FuzzNodeRecordCompact(f *testing.F) {
	f.Add(uint64(4), encodeLeafRecord(Node{Size: 1 << 20, Hash: [32]byte{1}}, 1<<33))
	f.Add(uint64(5), encodeNodeRecord(Node{Size: 70000, Hash: [32]byte{2}}))
	f.Add(uint64(6), append([]byte{0xfd, 1}, make([]byte, 33)...))
	f.Fuzz(func(t *testing.T, index uint64, b []byte) {
		n, off, has, err := decodeNodeRecordOffset(index, b)
		// The reference, with compact.
		s := &compact.State{Buf: b, End: len(b)}
		size, e1 := compact.Uint.Decode(s)
		h, e2 := compact.Bytes32.Decode(s)
		ok := e1 == nil && e2 == nil
		var roff uint64
		rhas := false
		if ok && s.Start != s.End {
			var e3 error
			roff, e3 = compact.Uint.Decode(s)
			rhas = true
			ok = index&1 == 0 && e3 == nil && s.Start == s.End && roff <= maxSafe
		}
		if ok != (err == nil) {
			t.Fatalf("%x: decoder err %v, reference ok %v", b, err, ok)
		}
		if !ok {
			return
		}
		if n != (Node{Index: index, Size: size, Hash: h}) || has != rhas || off != roff {
			t.Fatalf("%x: %v %d %v, reference %d %x %d %v", b, n, off, has, size, h, roff, rhas)
		}
	})
}

// TestDownloadReturns: Download returns once every block of its range is
// stored (whatever order they arrive in), at once for a stored range, with
// the context's error when it ends first and ErrClosed when the core
// closes.
func TestDownloadReturns(t *testing.T) {
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, 20)
	key := w.Key()
	r, err := Open(t.TempDir(), Options{Key: key[:]})
	if err != nil {
		t.Fatal(err)
	}
	up, err := w.Proof(ProofRequest{Upgrade: &RequestUpgrade{Start: 0, Length: 20}})
	if err != nil {
		t.Fatal(err)
	}
	up.Manifest = w.Manifest()
	if err := r.Apply(up); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- r.Download(ctx, 5, 15) }()
	for _, i := range []uint64{14, 3, 5, 9, 6, 7, 8, 10, 11, 12, 13} {
		select {
		case err := <-done:
			t.Fatalf("Download returned %v before block %d", err, i)
		default:
		}
		rb, _ := r.BlockRequest(i)
		p, err := w.Proof(ProofRequest{Block: rb})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Apply(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := r.Download(ctx, 5, 15); err != nil {
		t.Fatalf("stored range: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	if err := r.Download(short, 0, 20); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("missing blocks, context ended: %v", err)
	}
	go func() { done <- r.Download(ctx, 15, 20) }()
	time.Sleep(20 * time.Millisecond)
	r.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("core closed: %v", err)
	}
}

// TestApplyBatchLargeBlocks: in a batch of large blocks each is checked
// against its own proof, so a spoilt one stops the batch there and the
// ones before it are stored.
func TestApplyBatchLargeBlocks(t *testing.T) {
	w := mustOpen(t, t.TempDir(), Options{})
	var bs [][]byte
	for i := range 12 {
		bs = append(bs, bytes.Repeat([]byte{byte(i)}, 16<<10+i*1000))
	}
	if _, err := w.Append(bs...); err != nil {
		t.Fatal(err)
	}
	key := w.Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
	up, err := w.Proof(ProofRequest{Upgrade: &RequestUpgrade{Start: 0, Length: 12}})
	if err != nil {
		t.Fatal(err)
	}
	up.Manifest = w.Manifest()
	if err := r.Apply(up); err != nil {
		t.Fatal(err)
	}
	var proofs []*Proof
	for i := range uint64(12) {
		rb, _ := r.BlockRequest(i)
		p, err := w.Proof(ProofRequest{Block: rb})
		if err != nil {
			t.Fatal(err)
		}
		proofs = append(proofs, p)
	}
	spoilt := *proofs[5]
	blk := *spoilt.Block
	blk.Value = append([]byte(nil), blk.Value...)
	blk.Value[100] ^= 1
	spoilt.Block = &blk
	batch := append(append(append([]*Proof{}, proofs[:5]...), &spoilt), proofs[6:]...)
	n, err := r.ApplyBatch(batch)
	if n != 5 || !errors.Is(err, ErrInvalidChecksum) {
		t.Fatalf("%d applied, %v", n, err)
	}
	for i := range uint64(12) {
		if r.Has(i) != (i < 5) {
			t.Fatalf("block %d stored: %v", i, r.Has(i))
		}
	}
	// The same block twice, the first copy spoilt: the good copy must not
	// vouch for the spoilt one.
	n, err = r.ApplyBatch([]*Proof{&spoilt, proofs[5]})
	if n != 0 || err == nil {
		t.Fatalf("spoilt first: %d applied, %v", n, err)
	}
	if n, err := r.ApplyBatch(proofs[5:]); n != 7 || err != nil {
		t.Fatalf("rest: %d applied, %v", n, err)
	}
	verifyAll(t, r)
}

// TestServeCutDataFile: when the data file lost its bytes under a core,
// serving a block (read ahead or not) fails with ErrCorrupt instead of
// handing out short or zeroed blocks.
func TestServeCutDataFile(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, dir, Options{})
	appendN(t, w, 0, 100)
	if err := os.Truncate(filepath.Join(dir, "blocks"), 0); err != nil {
		t.Fatal(err)
	}
	for _, i := range []uint64{0, 1, 50, 99} {
		if _, err := w.Proof(ProofRequest{Block: &RequestBlock{Index: i, Nodes: 0}}); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("block %d: %v", i, err)
		}
	}
}
