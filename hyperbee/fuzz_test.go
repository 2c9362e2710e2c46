package hyperbee

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// seedBlocks returns real blocks: a header and tree blocks of a small bee
// with splits and deletes.
func seedBlocks(f *testing.F) [][]byte {
	ctx := context.Background()
	log := &MemLog{}
	b := New(log, Options{Metadata: &Metadata{ContentFeed: bytes.Repeat([]byte{1}, 32)}})
	for i := range 40 {
		if err := b.Put(ctx, tkey(i*13%40), []byte{byte(i)}); err != nil {
			f.Fatal(err)
		}
	}
	for i := range 10 {
		if err := b.Del(ctx, tkey(i*3)); err != nil {
			f.Fatal(err)
		}
	}
	var out [][]byte
	for i := range log.Length() {
		raw, _ := log.Get(ctx, i)
		out = append(out, raw)
	}
	return out
}

func FuzzDecodeHeader(f *testing.F) {
	f.Add(EncodeHeader(&Header{Protocol: Protocol}))
	f.Add(EncodeHeader(&Header{Protocol: Protocol, Metadata: &Metadata{ContentFeed: []byte("k"), UserData: []byte{}}}))
	f.Add([]byte{0x0a, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := DecodeHeader(b)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v is not ErrDecode", err)
			}
			return
		}
		h2, err := DecodeHeader(EncodeHeader(h))
		if err != nil || !reflect.DeepEqual(h, h2) {
			t.Fatalf("round trip: %+v -> %+v, %v", h, h2, err)
		}
	})
}

func FuzzDecodeNode(f *testing.F) {
	for _, b := range seedBlocks(f)[1:] {
		f.Add(b)
	}
	f.Add([]byte{0x0a, 0x00, 0x12, 0x00, 0x1a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := DecodeNode(b)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v is not ErrDecode", err)
			}
			return
		}
		n2, err := DecodeNode(EncodeNode(n))
		if err != nil || !bytes.Equal(n.Key, n2.Key) || !bytes.Equal(n.Index, n2.Index) ||
			!bytes.Equal(n.Value, n2.Value) || (n.Value == nil) != (n2.Value == nil) {
			t.Fatalf("round trip: %+v -> %+v, %v", n, n2, err)
		}
	})
}

func FuzzDecodeIndex(f *testing.F) {
	for _, b := range seedBlocks(f)[1:] {
		n, _ := DecodeNode(b)
		f.Add(n.Index)
	}
	f.Add([]byte{0x0a, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		ix, err := DecodeIndex(b)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v is not ErrDecode", err)
			}
			return
		}
		ix2, err := DecodeIndex(EncodeIndex(ix))
		if err != nil || len(ix.Levels) != len(ix2.Levels) {
			t.Fatalf("round trip: %v", err)
		}
		for i := range ix.Levels {
			if !slicesEqual(ix.Levels[i].Keys, ix2.Levels[i].Keys) || !slicesEqual(ix.Levels[i].Children, ix2.Levels[i].Children) {
				t.Fatalf("level %d: %+v -> %+v", i, ix.Levels[i], ix2.Levels[i])
			}
		}
	})
}

func slicesEqual(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzHostileTree serves a bee whose last block is attacker-chosen (and may
// point anywhere, loop inside itself or be malformed): every read must end
// with an answer or an error, never a panic or a hang.
func FuzzHostileTree(f *testing.F) {
	blocks := seedBlocks(f)
	for _, b := range blocks[1:] {
		f.Add(b)
	}
	// A root whose child is itself.
	self := EncodeNode(&Node{Key: []byte("k"), Value: []byte("v"), Index: EncodeIndex(&Index{Levels: []Level{
		{Keys: []uint64{uint64(len(blocks))}, Children: []uint64{uint64(len(blocks)), 0, uint64(len(blocks)), 0}},
	}})})
	f.Add(self)
	f.Fuzz(func(t *testing.T, last []byte) {
		ctx := context.Background()
		log := &MemLog{}
		for _, b := range blocks {
			log.Append(ctx, b)
		}
		log.Append(ctx, last)
		b := New(log, Options{})
		b.Get(ctx, tkey(5))
		b.Get(ctx, []byte("k"))
		n := 0
		for _, err := range b.Range(ctx, Range{}) {
			if err != nil {
				break
			}
			if n++; n > 10000 {
				t.Fatal("range does not end")
			}
		}
		for _, err := range b.Range(ctx, Range{GTE: tkey(7), Reverse: true}) {
			if err != nil {
				break
			}
		}
		for _, err := range b.Diff(ctx, b.Checkout(uint64(len(blocks))), Range{}) {
			if err != nil {
				break
			}
			if n++; n > 20000 {
				t.Fatal("diff does not end")
			}
		}
		for _, err := range b.History(ctx, HistoryOptions{}) {
			if err != nil {
				break
			}
		}
		// Writing on top of a hostile tree fails or succeeds, but cleanly.
		b.Put(ctx, tkey(3), []byte("x"))
		b.Del(ctx, tkey(9))
	})
}

func TestHostileEmptyLeaf(t *testing.T) {
	ctx := context.Background()
	log := &MemLog{}
	log.Append(ctx, EncodeHeader(&Header{Protocol: Protocol}))
	// Block 1: root with key 1 and two children, both empty leaves in the
	// same block.
	log.Append(ctx, EncodeNode(&Node{Key: []byte("m"), Value: []byte{}, Index: EncodeIndex(&Index{Levels: []Level{
		{Keys: []uint64{1}, Children: []uint64{1, 1, 1, 2}}, {}, {},
	}})}))
	b := New(log, Options{})
	if err := b.Del(ctx, []byte("m")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("del on empty leaves: %v", err)
	}
	for _, err := range b.Diff(ctx, b.Checkout(1), Range{}) {
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("diff: %v", err)
		}
	}
	// A root that is its own child: reads stop at the depth bound.
	log.Append(ctx, EncodeNode(&Node{Key: []byte("a"), Value: []byte{}, Index: EncodeIndex(&Index{Levels: []Level{
		{Keys: []uint64{2}, Children: []uint64{2, 0, 2, 0}},
	}})}))
	if _, err := b.Get(ctx, []byte("b")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("get in a loop: %v", err)
	}
	var err error
	for _, err = range b.Range(ctx, Range{}) {
		if err != nil {
			break
		}
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("range in a loop: %v", err)
	}
	// A pointer past the end of the log is a block that is not there.
	log.Append(ctx, EncodeNode(&Node{Key: []byte("a"), Index: EncodeIndex(&Index{Levels: []Level{{Keys: []uint64{9}}}})}))
	if _, err := b.Get(ctx, []byte("b")); !errors.Is(err, ErrNotAvailable) {
		t.Fatalf("forward pointer: %v", err)
	}
	// A pointer to a later block that points back makes a loop over two
	// blocks: stopped by the depth bound.
	log.Append(ctx, EncodeNode(&Node{Key: []byte("x"), Value: []byte{}, Index: EncodeIndex(&Index{Levels: []Level{
		{Keys: []uint64{4}, Children: []uint64{5, 0, 5, 0}},
	}})}))
	log.Append(ctx, EncodeNode(&Node{Key: []byte("y"), Value: []byte{}, Index: EncodeIndex(&Index{Levels: []Level{
		{Keys: []uint64{5}, Children: []uint64{4, 0, 4, 0}},
	}})}))
	if _, err := b.Get(ctx, []byte("a")); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("two-block loop: %v", err)
	}
	if err := b.Put(ctx, []byte("a"), nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("put in a two-block loop: %v", err)
	}
}

func FuzzDecodeExtension(f *testing.F) {
	f.Add(EncodeExtension(&ExtensionMessage{Cache: &ExtCache{Start: 1, End: 9, Blocks: []uint64{1, 5, 8}}}))
	f.Add(EncodeExtension(&ExtensionMessage{Get: &ExtGet{Version: 12, Key: []byte("k")}}))
	f.Add(EncodeExtension(&ExtensionMessage{Iterator: &ExtIterator{Version: 5, GTE: []byte("a"), LT: []byte{}, Limit: 3, Reverse: true, Checkpoint: []uint64{4, 0, 1}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeExtension(b)
		if err != nil {
			if !errors.Is(err, ErrDecode) {
				t.Fatalf("error %v is not ErrDecode", err)
			}
			return
		}
		m2, err := DecodeExtension(EncodeExtension(m))
		if err != nil {
			t.Fatal(err)
		}
		// Packed lists decode empty as nil and repeated fields merge, so
		// compare the re-encodings.
		if !bytes.Equal(EncodeExtension(m), EncodeExtension(m2)) {
			t.Fatalf("round trip: %+v -> %+v", m, m2)
		}
	})
}

// TestHostileSharedChildren: 40 blocks whose nodes both point at the
// node below make 2^40 paths; walks refuse to meet a node twice.
func TestHostileSharedChildren(t *testing.T) {
	ctx := context.Background()
	log := &MemLog{}
	log.Append(ctx, EncodeHeader(&Header{Protocol: Protocol}))
	log.Append(ctx, EncodeNode(&Node{Key: []byte("k001"), Value: []byte{}, Index: EncodeIndex(&Index{Levels: []Level{{Keys: []uint64{1}}}})}))
	for s := uint64(2); s <= 40; s++ {
		log.Append(ctx, EncodeNode(&Node{Key: fmt.Appendf(nil, "k%03d", s), Value: []byte{}, Index: EncodeIndex(&Index{Levels: []Level{
			{Keys: []uint64{s}, Children: []uint64{s - 1, 0, s - 1, 0}},
		}})}))
	}
	b := New(log, Options{})
	for _, r := range []Range{{}, {Reverse: true}, {GTE: []byte("k")}} {
		var err error
		n := 0
		for _, err = range b.Range(ctx, r) {
			if err != nil {
				break
			}
			n++
		}
		if !errors.Is(err, ErrCorrupt) || n > 100 {
			t.Fatalf("range %+v: %d entries, then %v", r, n, err)
		}
	}
	var err error
	for _, err = range b.Diff(ctx, b.Checkout(2), Range{}) {
		if err != nil {
			break
		}
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("diff: %v", err)
	}
}
