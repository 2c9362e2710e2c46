package hyperbee

import (
	"context"
	"encoding/hex"
	"fmt"
	"testing"
)

// TestBatchKeepsRefusedWriteTraces: a refused compare-and-swap at the start
// of a batch leaves the nodes it walked marked as changed, and hyperbee
// writes them into the batch's next block. The expected block is what
// hyperbee 2.27.3 wrote for the same operations.
func TestBatchKeepsRefusedWriteTraces(t *testing.T) {
	ctx := context.Background()
	log := &MemLog{}
	b := New(log, Options{})
	for i := range 100 {
		if err := b.Put(ctx, fmt.Appendf(nil, "k%03d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	bt := b.Batch()
	if ok, err := bt.PutCAS(ctx, []byte("k050"), []byte("x"), func(prev, next *Entry) bool { return false }); ok || err != nil {
		t.Fatal(ok, err)
	}
	if err := bt.Put(ctx, []byte("k000a"), []byte("y")); err != nil {
		t.Fatal(err)
	}
	if err := bt.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ := log.Get(ctx, log.Length()-1)
	const want = "0a420a0f0a0319324b120865014a01650364010a120a04050a0f14120a65020e01130118011d010a070a0501650203040a120a04373c4146120a3b02400245024a034f0212056b303030611a0179"
	if hex.EncodeToString(got) != want {
		t.Fatalf("block\n got  %x\n want %s", got, want)
	}
}
