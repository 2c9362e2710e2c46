package hyperblobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/warrenp2p/warren/hypercore"
)

func newCore(t *testing.T) *hypercore.Core {
	t.Helper()
	c, err := hypercore.Open(t.TempDir(), hypercore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func data(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestPutGetIDs(t *testing.T) {
	ctx := ctxT(t)
	c := newCore(t)
	b := New(c, nil)
	a := data(100, 1)
	big := data(3*DefaultBlockSize+17, 2)
	ida, err := b.Put(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	idb, err := b.Put(ctx, big)
	if err != nil {
		t.Fatal(err)
	}
	ide, err := b.Put(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if (ida != ID{0, 1, 0, 100, false}) {
		t.Fatalf("first id %+v", ida)
	}
	if (idb != ID{1, 4, 100, uint64(len(big)), false}) {
		t.Fatalf("second id %+v", idb)
	}
	if (ide != ID{5, 0, 100 + uint64(len(big)), 0, false}) {
		t.Fatalf("empty id %+v", ide)
	}
	// Blocks are cut at the block size, as hyperblobs does.
	for i, want := range []int{100, DefaultBlockSize, DefaultBlockSize, DefaultBlockSize, 17} {
		blk, _ := c.Get(ctx, uint64(i), hypercore.GetOptions{})
		if len(blk) != want {
			t.Fatalf("block %d has %d bytes, want %d", i, len(blk), want)
		}
	}
	for _, tc := range []struct {
		id   ID
		want []byte
	}{{ida, a}, {idb, big}, {ide, []byte{}}} {
		got, err := b.Get(ctx, tc.id)
		if err != nil || !bytes.Equal(got, tc.want) {
			t.Fatalf("get %+v: %v", tc.id, err)
		}
	}
	j, _ := json.Marshal(idb)
	if string(j) != `{"blockOffset":1,"byteOffset":100,"blockLength":4,"byteLength":196625}` {
		t.Fatalf("json %s", j)
	}
}

func TestWriterStreams(t *testing.T) {
	ctx := ctxT(t)
	c := newCore(t)
	b := New(c, &Options{BlockSize: 1000})
	want := data(123457, 3)
	w, err := b.NewWriter(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Odd write sizes: blocks are still cut at the block size.
	for rest := want; len(rest) > 0; {
		n := min(len(rest), 333)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	id := w.ID()
	if id.BlockLength != 124 || id.ByteLength != uint64(len(want)) {
		t.Fatalf("id %+v", id)
	}
	// A second writer waits for the first: the lock is free again.
	id2, err := b.PutReader(ctx, bytes.NewReader([]byte("tail")))
	if err != nil || id2.BlockOffset != 124 {
		t.Fatalf("second blob %+v %v", id2, err)
	}
	got, err := b.Get(ctx, id)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatal("content")
	}
}

func TestReaderRangesAndSeek(t *testing.T) {
	ctx := ctxT(t)
	c := newCore(t)
	b := New(c, &Options{BlockSize: 100})
	b.Put(ctx, []byte("prefix blob"))
	want := data(1050, 4)
	id, err := b.Put(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ start, length uint64 }{
		{0, 0}, {0, 1}, {99, 2}, {100, 100}, {1049, 0}, {1049, 5}, {500, 0}, {2000, 0}, {7, 1000},
	} {
		r := b.NewReader(ctx, id, &ReadOptions{Start: tc.start, Length: tc.length})
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		s := min(tc.start, 1050)
		e := uint64(1050)
		if tc.length > 0 {
			e = min(e, s+tc.length)
		}
		if !bytes.Equal(got, want[s:e]) {
			t.Fatalf("range %+v: got %d bytes", tc, len(got))
		}
	}
	r := b.NewReader(ctx, id, nil)
	defer r.Close()
	if _, err := r.Seek(-50, io.SeekEnd); err != nil {
		t.Fatal(err)
	}
	tail, _ := io.ReadAll(r)
	if !bytes.Equal(tail, want[1000:]) {
		t.Fatal("seek end")
	}
	buf := make([]byte, 300)
	n, err := r.ReadAt(buf, 321)
	if n != 300 || err != nil || !bytes.Equal(buf, want[321:621]) {
		t.Fatalf("readat %d %v", n, err)
	}
	n, err = r.ReadAt(buf, 900)
	if n != 150 || err != io.EOF || !bytes.Equal(buf[:n], want[900:]) {
		t.Fatalf("readat tail %d %v", n, err)
	}
}

func TestCorruptIDs(t *testing.T) {
	ctx := ctxT(t)
	c := newCore(t)
	b := New(c, nil)
	id, _ := b.Put(ctx, []byte("hello world"))
	// An ID claiming more bytes than its blocks hold.
	bad := id
	bad.ByteLength = 1000
	if _, err := b.Get(ctx, bad); err == nil {
		t.Fatal("oversized id read")
	}
	r := b.NewReader(ctx, bad, nil)
	if _, err := io.ReadAll(r); err == nil {
		t.Fatal("oversized id streamed")
	}
	r.Close()
	for _, s := range []string{
		`{"blockOffset":-1}`, `{"blockOffset":1.5}`, `{"blockOffset":"1"}`, `[]`, `null`,
		`{"blockOffset":9007199254740992}`, `{"blockOffset":9007199254740991,"blockLength":1}`,
		`{"blockLength":0,"byteLength":5}`,
	} {
		if _, err := DecodeID([]byte(s)); err == nil {
			t.Errorf("DecodeID(%s) accepted", s)
		}
	}
	got, err := DecodeID([]byte(`{"byteLength":2,"blockLength":1e0,"blockOffset":3,"byteOffset":4,"x":{},"blockMap":true}`))
	if err != nil || (got != ID{3, 1, 4, 2, true}) {
		t.Fatalf("DecodeID: %+v %v", got, err)
	}
}

func TestClear(t *testing.T) {
	ctx := ctxT(t)
	c := newCore(t)
	b := New(c, &Options{BlockSize: 10})
	id, _ := b.Put(ctx, data(45, 5))
	if !b.Has(id) {
		t.Fatal("not stored")
	}
	if err := b.Clear(ctx, id); err != nil {
		t.Fatal(err)
	}
	if c.Has(id.BlockOffset) || b.Has(id) {
		t.Fatal("cleared blocks still stored")
	}
}

func TestBlockMapRoundTrip(t *testing.T) {
	blocks := []MapBlock{{1, 10}, {5, 65536}, {1 << 40, 0}}
	enc := EncodeBlockMap(blocks)
	got, err := DecodeBlockMap(enc)
	if err != nil || len(got) != 3 || got[2] != blocks[2] {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := DecodeBlockMap([][]byte{{1, 0}}); err == nil {
		t.Fatal("version 1 map accepted")
	}
}

// TestReadBlockMapped reads a blob written with a block map (hyperblobs'
// dedup layout), built by hand: data blocks first, the map after them.
func TestReadBlockMapped(t *testing.T) {
	ctx := ctxT(t)
	c := newCore(t)
	c.Append([]byte("aaaa"), []byte("bb"), []byte("cccccc"))
	m := EncodeBlockMap([]MapBlock{{2, 6}, {0, 4}, {2, 6}, {1, 2}})
	c.Append(m...)
	b := New(c, nil)
	id := ID{BlockOffset: 3, BlockLength: 1, ByteOffset: 12, ByteLength: uint64(len(m[0])), BlockMap: true}
	got, err := b.Get(ctx, id)
	if err != nil || string(got) != "ccccccaaaaccccccbb" {
		t.Fatalf("%q %v", got, err)
	}
	if n, err := b.Size(ctx, id); n != 18 || err != nil {
		t.Fatalf("size %d %v", n, err)
	}
	r := b.NewReader(ctx, id, &ReadOptions{Start: 5, Length: 7})
	part, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(part) != "caaaacc" {
		t.Fatalf("%q %v", part, err)
	}
}

// TestIDBeyondWritableCore: on a core this process writes, an ID past its
// end fails at once instead of waiting for blocks that cannot come.
func TestIDBeyondWritableCore(t *testing.T) {
	ctx := ctxT(t)
	c := newCore(t)
	b := New(c, nil)
	b.Put(ctx, []byte("x"))
	bad := ID{BlockOffset: 1, BlockLength: 5, ByteOffset: 1, ByteLength: 5}
	if _, err := b.Get(ctx, bad); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("get: %v", err)
	}
	r := b.NewReader(ctx, bad, nil)
	defer r.Close()
	if _, err := r.Read(make([]byte, 4)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("read: %v", err)
	}
}
