package hyperbee

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

// model is the obvious sorted map a bee must agree with.
type model map[string]string

func (m model) sorted(r Range) []string {
	var ks []string
	for k := range m {
		if r.GT != nil && k <= string(r.GT) || r.GTE != nil && k < string(r.GTE) {
			continue
		}
		if r.LT != nil && k >= string(r.LT) || r.LTE != nil && k > string(r.LTE) {
			continue
		}
		ks = append(ks, k)
	}
	sort.Strings(ks)
	if r.Reverse {
		slices.Reverse(ks)
	}
	if r.Limit > 0 && len(ks) > r.Limit {
		ks = ks[:r.Limit]
	}
	return ks
}

func collect(t *testing.T, b *Bee, r Range) []string {
	t.Helper()
	var out []string
	for e, err := range b.Range(context.Background(), r) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(e.Key))
	}
	return out
}

func tkey(i int) []byte { return fmt.Appendf(nil, "k%05d", i) }

func TestPutGetDelAgainstModel(t *testing.T) {
	ctx := context.Background()
	b := New(&MemLog{}, Options{})
	m := model{}
	rng := rand.New(rand.NewPCG(1, 2))
	for op := 0; op < 5000; op++ {
		k := tkey(rng.IntN(1500))
		if rng.IntN(4) == 0 {
			if err := b.Del(ctx, k); err != nil {
				t.Fatal(err)
			}
			delete(m, string(k))
		} else {
			v := fmt.Sprintf("v%d", op)
			if err := b.Put(ctx, k, []byte(v)); err != nil {
				t.Fatal(err)
			}
			m[string(k)] = v
		}
	}
	for i := 0; i < 1500; i++ {
		e, err := b.Get(ctx, tkey(i))
		if err != nil {
			t.Fatal(err)
		}
		want, ok := m[string(tkey(i))]
		if !ok {
			if e != nil {
				t.Fatalf("key %d: got %q, want none", i, e.Value)
			}
			continue
		}
		if e == nil || string(e.Value) != want {
			t.Fatalf("key %d: got %+v, want %q", i, e, want)
		}
	}
	ranges := []Range{
		{},
		{Reverse: true},
		{GT: tkey(100), LT: tkey(900)},
		{GTE: tkey(100), LTE: tkey(900), Reverse: true},
		{GTE: tkey(500), Limit: 17},
		{LT: tkey(700), Limit: 33, Reverse: true},
		{GT: []byte("k00123x"), LTE: []byte("k01000")},
		{GT: []byte("z")},
		{LT: []byte("a"), Reverse: true},
	}
	for _, r := range ranges {
		got, want := collect(t, b, r), m.sorted(r)
		if !slices.Equal(got, want) {
			t.Fatalf("range %+v: got %d keys, want %d", r, len(got), len(want))
		}
	}
}

func TestEmptyBee(t *testing.T) {
	ctx := context.Background()
	log := &MemLog{}
	b := New(log, Options{})
	if e, err := b.Get(ctx, []byte("x")); e != nil || err != nil {
		t.Fatal(e, err)
	}
	if got := collect(t, b, Range{}); len(got) != 0 {
		t.Fatal(got)
	}
	if b.Version() != 1 {
		t.Fatal(b.Version())
	}
	// A delete on an empty log writes only the header, as hyperbee does.
	if err := b.Del(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if log.Length() != 1 {
		t.Fatalf("length %d", log.Length())
	}
	h, err := b.Header(ctx)
	if err != nil || h.Protocol != Protocol {
		t.Fatal(h, err)
	}
}

func TestDeleteEverything(t *testing.T) {
	ctx := context.Background()
	b := New(&MemLog{}, Options{})
	rng := rand.New(rand.NewPCG(3, 4))
	perm := rng.Perm(600)
	for _, i := range perm {
		if err := b.Put(ctx, tkey(i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	perm = rng.Perm(600)
	for n, i := range perm {
		if err := b.Del(ctx, tkey(i)); err != nil {
			t.Fatal(err)
		}
		if e, err := b.Get(ctx, tkey(i)); e != nil || err != nil {
			t.Fatalf("deleted key %d still there: %v %v", i, e, err)
		}
		if n%97 == 0 {
			if got := collect(t, b, Range{}); len(got) != 600-n-1 {
				t.Fatalf("after %d deletes: %d keys", n+1, len(got))
			}
		}
	}
	if got := collect(t, b, Range{}); len(got) != 0 {
		t.Fatal(got)
	}
}

func TestBatchMatchesSingleReads(t *testing.T) {
	ctx := context.Background()
	b := New(&MemLog{}, Options{})
	bt := b.Batch()
	for i := 0; i < 300; i++ {
		if err := bt.Put(ctx, tkey(i*7%300), []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 300; i += 3 {
		if err := bt.Del(ctx, tkey(i)); err != nil {
			t.Fatal(err)
		}
	}
	e, err := bt.Get(ctx, tkey(1))
	if err != nil || e == nil {
		t.Fatal(e, err)
	}
	if e, _ := bt.Get(ctx, tkey(3)); e != nil {
		t.Fatal("deleted key visible in batch")
	}
	if got := b.Log().Length(); got != 1 {
		t.Fatalf("log has %d blocks before flush", got)
	}
	if err := bt.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.Log().Length(); got != 1+300+100 {
		t.Fatalf("log has %d blocks after flush", got)
	}
	got := collect(t, b, Range{})
	if len(got) != 200 {
		t.Fatalf("%d keys", len(got))
	}
	// As in hyperbee, only the last block of a batch holds a whole root:
	// the blocks before it keep only the nodes nothing later rewrote.
	if n := len(collect(t, b.Checkout(b.Version()), Range{})); n != 200 {
		t.Fatalf("checkout at the end: %d keys", n)
	}
	if err := bt.Put(ctx, tkey(1), nil); err != ErrBatchClosed {
		t.Fatal(err)
	}
}

func TestCAS(t *testing.T) {
	ctx := context.Background()
	b := New(&MemLog{}, Options{})
	ok, err := b.PutCAS(ctx, []byte("a"), []byte("1"), func(prev, next *Entry) bool { return false })
	if err != nil || !ok {
		t.Fatal("a new key is written whatever the cas says", ok, err)
	}
	length := b.Log().Length()
	ok, err = b.PutCAS(ctx, []byte("a"), []byte("2"), func(prev, next *Entry) bool {
		return !bytes.Equal(prev.Value, []byte("1"))
	})
	if err != nil || ok || b.Log().Length() != length {
		t.Fatal("refused cas wrote", ok, err)
	}
	var seenPrev, seenNext *Entry
	ok, err = b.PutCAS(ctx, []byte("a"), []byte("2"), func(prev, next *Entry) bool {
		seenPrev, seenNext = prev, next
		return true
	})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if string(seenPrev.Value) != "1" || seenPrev.Seq != 1 || string(seenNext.Value) != "2" || seenNext.Seq != 2 {
		t.Fatalf("cas saw %+v %+v", seenPrev, seenNext)
	}
	ok, err = b.DelCAS(ctx, []byte("a"), func(prev, next *Entry) bool { return next.Value != nil })
	if err != nil || ok {
		t.Fatal(ok, err)
	}
	ok, err = b.DelCAS(ctx, []byte("a"), func(prev, next *Entry) bool { return string(prev.Value) == "2" })
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if e, _ := b.Get(ctx, []byte("a")); e != nil {
		t.Fatal(e)
	}
}

func TestSkipSameValue(t *testing.T) {
	ctx := context.Background()
	b := New(&MemLog{}, Options{SkipSameValue: true})
	for range 3 {
		if err := b.Put(ctx, []byte("a"), []byte("1")); err != nil {
			t.Fatal(err)
		}
	}
	if b.Log().Length() != 2 {
		t.Fatal(b.Log().Length())
	}
	d := New(&MemLog{}, Options{})
	for range 3 {
		if err := d.Put(ctx, []byte("a"), []byte("1")); err != nil {
			t.Fatal(err)
		}
	}
	if d.Log().Length() != 4 {
		t.Fatal(d.Log().Length())
	}
}
