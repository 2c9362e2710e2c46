package hyperdrive

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/warrenp2p/warren/corestore"
)

// BenchmarkPut writes a 16 MiB file (MB/s of file data).
func BenchmarkPut(b *testing.B) {
	ctx := context.Background()
	s, err := corestore.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	d, err := Open(ctx, s, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	data := pattern(16<<20, 1)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for i := range b.N {
		if err := d.Put(ctx, fmt.Sprintf("/f%d", i), data, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCloneMirror replicates a drive (one 16 MiB file and 200 files
// of 4 KiB) over an in-memory pipe into a fresh store and mirrors it into
// a local folder: what `warren clone` does, without the network stack.
func BenchmarkCloneMirror(b *testing.B) {
	b.Run("fsync", func(b *testing.B) { benchCloneMirror(b, false) })
	b.Run("nosync", func(b *testing.B) { benchCloneMirror(b, true) })
}

func benchCloneMirror(b *testing.B, noSync bool) {
	ctx := context.Background()
	ws, err := corestore.Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ws.Close()
	w, err := Open(ctx, ws, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	w.Put(ctx, "/big", pattern(16<<20, 2), nil)
	for i := range 200 {
		w.Put(ctx, fmt.Sprintf("/small/%03d", i), pattern(4096, byte(i)), nil)
	}
	b.SetBytes(16<<20 + 200*4096)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		rs, err := corestore.Open(b.TempDir(), nil)
		if err != nil {
			b.Fatal(err)
		}
		key := w.Key()
		r, err := Open(ctx, rs, key[:], nil)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		replicateBench(b, ws, rs)
		if err := r.WaitVersion(ctx, w.Version()); err != nil {
			b.Fatal(err)
		}
		ld, _ := NewLocalDir(filepath.Join(b.TempDir(), "out"))
		ld.NoSync = noSync
		c, err := Mirror(ctx, r, ld, nil)
		if err != nil || c.Add != 201 {
			b.Fatalf("%+v %v", c, err)
		}
		b.StopTimer()
		r.Close()
		rs.Close()
		b.StartTimer()
	}
}
