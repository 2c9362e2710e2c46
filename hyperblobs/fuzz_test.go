package hyperblobs

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/warrenp2p/warren/hypercore"
)

func FuzzDecodeID(f *testing.F) {
	f.Add([]byte(`{"blockOffset":1,"byteOffset":100,"blockLength":4,"byteLength":196625}`))
	f.Add([]byte(`{"blockOffset":0,"byteOffset":0,"blockLength":1,"byteLength":3,"blockMap":true}`))
	f.Add([]byte(`{"blockOffset":1e3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := DecodeID(b)
		if err != nil {
			return
		}
		// A decoded ID re-encodes to JSON that decodes to the same ID.
		j, _ := json.Marshal(id)
		id2, err := DecodeID(j)
		if err != nil || id2 != id {
			t.Fatalf("%s -> %+v -> %s -> %+v %v", b, id, j, id2, err)
		}
	})
}

func FuzzDecodeBlockMap(f *testing.F) {
	for _, p := range EncodeBlockMap([]MapBlock{{1, 2}, {300, 65536}}) {
		f.Add(p)
	}
	f.Add([]byte{0, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeBlockMap([][]byte{b})
		if err != nil {
			return
		}
		back, err := DecodeBlockMap(EncodeBlockMap(m))
		if err != nil || len(back) != len(m) {
			t.Fatalf("round trip of %x: %v", b, err)
		}
	})
}

// FuzzReader reads arbitrary ids (as a hostile entry could give them) over
// a real core, from arbitrary offsets: errors are fine, panics and
// endless loops are not, and what an honest id reads is its data.
func FuzzReader(f *testing.F) {
	dir := f.TempDir()
	c, err := hypercore.Open(dir, hypercore.Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer c.Close()
	b := New(c, &Options{BlockSize: 100})
	ctx := context.Background()
	want := make([]byte, 1234)
	for i := range want {
		want[i] = byte(i * 13)
	}
	b.Put(ctx, []byte("head"))
	honest, err := b.Put(ctx, want)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(honest.BlockOffset, honest.BlockLength, honest.ByteOffset, honest.ByteLength, uint64(0), uint64(0), int64(5))
	f.Add(uint64(0), uint64(14), uint64(0), uint64(1238), uint64(3), uint64(500), int64(77))
	f.Add(uint64(2), uint64(3), uint64(900), uint64(5000), uint64(1), uint64(0), int64(0))
	f.Fuzz(func(t *testing.T, bo, bl, yo, yl, start, length uint64, at int64) {
		id := ID{BlockOffset: bo % 20, BlockLength: bl % 20, ByteOffset: yo % 3000, ByteLength: yl % 3000}
		r := b.NewReader(ctx, id, &ReadOptions{Start: start % 3000, Length: length % 3000})
		defer r.Close()
		got, err := io.ReadAll(r)
		if id == honest && err == nil {
			s := min(start%3000, uint64(len(want)))
			e := uint64(len(want))
			if length%3000 > 0 {
				e = min(e, s+length%3000)
			}
			if !bytes.Equal(got, want[s:e]) {
				t.Fatalf("honest id read %d bytes wrong", len(got))
			}
		}
		buf := make([]byte, 64)
		r.ReadAt(buf, at%4000)
		r.Seek(at%4000, io.SeekStart)
		r.Read(buf)
	})
}
