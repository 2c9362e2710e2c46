package hyperbee

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/warrenp2p/warren/hypercore"
)

// benchKey is a 16-byte key in random order.
func benchKey(rng *rand.Rand) []byte {
	k := make([]byte, 16)
	binary.BigEndian.PutUint64(k, rng.Uint64())
	binary.BigEndian.PutUint64(k[8:], rng.Uint64())
	return k
}

func benchPuts(b *testing.B, log Log) {
	ctx := context.Background()
	bee := New(log, Options{})
	rng := rand.New(rand.NewPCG(1, 1))
	val := make([]byte, 32)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := bee.Put(ctx, benchKey(rng), val); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

func BenchmarkPutMem(b *testing.B) { benchPuts(b, &MemLog{}) }

func BenchmarkPutCore(b *testing.B) {
	core, err := hypercore.Open(b.TempDir(), hypercore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer core.Close()
	benchPuts(b, CoreLog{Core: core})
}

func BenchmarkBatchPutCore(b *testing.B) {
	core, err := hypercore.Open(b.TempDir(), hypercore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer core.Close()
	ctx := context.Background()
	bee := New(CoreLog{Core: core}, Options{})
	rng := rand.New(rand.NewPCG(1, 1))
	val := make([]byte, 32)
	b.ReportAllocs()
	n := 0
	bt := bee.Batch()
	for b.Loop() {
		if err := bt.Put(ctx, benchKey(rng), val); err != nil {
			b.Fatal(err)
		}
		if n++; n%1000 == 0 {
			if err := bt.Flush(ctx); err != nil {
				b.Fatal(err)
			}
			bt = bee.Batch()
		}
	}
	if err := bt.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "puts/s")
}

// filled returns a bee on a core holding n random keys, and the keys.
func filled(b *testing.B, n int) (*Bee, [][]byte) {
	core, err := hypercore.Open(b.TempDir(), hypercore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { core.Close() })
	ctx := context.Background()
	bee := New(CoreLog{Core: core}, Options{})
	rng := rand.New(rand.NewPCG(2, 2))
	keys := make([][]byte, n)
	bt := bee.Batch()
	for i := range keys {
		keys[i] = benchKey(rng)
		if err := bt.Put(ctx, keys[i], keys[i]); err != nil {
			b.Fatal(err)
		}
	}
	if err := bt.Flush(ctx); err != nil {
		b.Fatal(err)
	}
	return bee, keys
}

func BenchmarkGetCore(b *testing.B) {
	bee, keys := filled(b, 100000)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(3, 3))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e, err := bee.Get(ctx, keys[rng.IntN(len(keys))])
		if err != nil || e == nil {
			b.Fatal(e, err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
}

func BenchmarkRangeCore(b *testing.B) {
	bee, _ := filled(b, 100000)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for b.Loop() {
		for _, err := range bee.Range(ctx, Range{Limit: 1000}) {
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "entries/s")
}
