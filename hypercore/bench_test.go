package hypercore

import (
	"crypto/rand"
	"testing"
)

// BenchmarkAppend appends 1 KiB blocks in batches of 1024, the hypercore
// append figure of DESIGN.md: each batch one write left in the kernel (the
// default, as JS hypercore on RocksDB writes), and one fsynced write
// (Options.Sync).
func BenchmarkAppend(b *testing.B) {
	for _, sync := range []bool{false, true} {
		name := "default"
		if sync {
			name = "sync"
		}
		b.Run(name, func(b *testing.B) { benchAppend(b, Options{Sync: sync}) })
	}
}

// BenchmarkAppendSingle appends one 1 KiB block at a time.
func BenchmarkAppendSingle(b *testing.B) {
	c, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	block := make([]byte, 1024)
	b.SetBytes(1024)
	for b.Loop() {
		if _, err := c.Append(block); err != nil {
			b.Fatal(err)
		}
	}
}

func benchAppend(b *testing.B, opts Options) {
	c, err := Open(b.TempDir(), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	batch := make([][]byte, 1024)
	for i := range batch {
		batch[i] = make([]byte, 1024)
		rand.Read(batch[i])
	}
	b.SetBytes(1024 * 1024)
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Append(batch...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1024)/b.Elapsed().Seconds(), "blocks/s")
}

// BenchmarkProof measures building and verifying a block proof with an
// upgrade, the per-block work of replication.
func BenchmarkProof(b *testing.B) {
	w, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	batch := make([][]byte, 1024)
	for i := range batch {
		batch[i] = make([]byte, 1024)
	}
	for range 16 {
		w.Append(batch...)
	}
	n := w.Length()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p, err := w.Proof(ProofRequest{Block: &RequestBlock{Index: uint64(i) % n}, Upgrade: &RequestUpgrade{Start: 0, Length: n}})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := verifyProof(&tree{}, memNodes{}, p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReplicate downloads 16k x 1 KiB blocks, and 1k x 64 KiB,
// from a Go writer to a Go reader over an in-memory pipe (no encryption of
// the stream).
func BenchmarkReplicate(b *testing.B) {
	b.Run("1k", func(b *testing.B) { benchReplicate(b, 16384, 1024) })
	b.Run("64k", func(b *testing.B) { benchReplicate(b, 1024, 64<<10) })
}

func benchReplicate(b *testing.B, n, size int) {
	w, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	batch := make([][]byte, min(n, 1024))
	for i := range batch {
		batch[i] = make([]byte, size)
	}
	for range n / len(batch) {
		w.Append(batch...)
	}
	key := w.Key()
	b.SetBytes(int64(n * size))
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		r, err := Open(b.TempDir(), Options{Key: key[:]})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		closeAll := pipePeersB(b, w, r)
		if err := r.Download(b.Context(), 0, uint64(n)); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		closeAll()
		r.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "blocks/s")
}

// BenchmarkApplyBatch64K applies batches of 8 proofs of 64 KiB blocks to
// a fresh reader, as a download does: the reader's share of the 64 KiB
// replication figure.
func BenchmarkApplyBatch64K(b *testing.B) {
	const n, batch = 256, 8
	w, err := Open(b.TempDir(), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	blocks := make([][]byte, n)
	for i := range blocks {
		blocks[i] = make([]byte, 64<<10)
		blocks[i][0] = byte(i)
	}
	if _, err := w.Append(blocks...); err != nil {
		b.Fatal(err)
	}
	key := w.Key()
	up, err := w.Proof(ProofRequest{Upgrade: &RequestUpgrade{Start: 0, Length: n}})
	if err != nil {
		b.Fatal(err)
	}
	up.Manifest = w.Manifest()
	var proofs []*Proof
	for i := range uint64(n) {
		p, err := w.Proof(ProofRequest{Block: &RequestBlock{Index: i, Nodes: 8}})
		if err != nil {
			b.Fatal(err)
		}
		proofs = append(proofs, p)
	}
	b.SetBytes(n * 64 << 10)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		r, err := Open(b.TempDir(), Options{Key: key[:]})
		if err != nil {
			b.Fatal(err)
		}
		if err := r.Apply(up); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i := 0; i < n; i += batch {
			if k, err := r.ApplyBatch(proofs[i : i+batch]); err != nil || k != batch {
				b.Fatalf("%d applied: %v", k, err)
			}
		}
		b.StopTimer()
		r.Close()
		b.StartTimer()
	}
}
