package hyperbee

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/warrenp2p/warren/hypercore"
)

func TestSubDatabases(t *testing.T) {
	ctx := context.Background()
	b := New(&MemLog{}, Options{})
	users, posts := b.Sub([]byte("users"), nil), b.Sub([]byte("posts"), nil)
	for i := range 20 {
		if err := users.Put(ctx, tkey(i), []byte("u")); err != nil {
			t.Fatal(err)
		}
		if err := posts.Put(ctx, tkey(i), []byte("p")); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Put(ctx, []byte("users"), []byte("root")); err != nil {
		t.Fatal(err)
	}
	e, err := users.Get(ctx, tkey(3))
	if err != nil || e == nil || string(e.Key) != string(tkey(3)) || string(e.Value) != "u" {
		t.Fatalf("sub get: %+v %v", e, err)
	}
	e, err = b.Get(ctx, append([]byte("posts\x00"), tkey(3)...))
	if err != nil || e == nil || string(e.Value) != "p" {
		t.Fatalf("prefixed key from the root: %+v %v", e, err)
	}
	got := collect(t, users, Range{})
	if len(got) != 20 || got[0] != string(tkey(0)) {
		t.Fatalf("sub range: %q", got)
	}
	if got := collect(t, users, Range{GTE: tkey(5), LT: tkey(8), Reverse: true}); !slices.Equal(got, []string{string(tkey(7)), string(tkey(6)), string(tkey(5))}) {
		t.Fatalf("bounded sub range: %q", got)
	}
	if n := len(collect(t, b, Range{})); n != 41 {
		t.Fatalf("root sees %d keys", n)
	}
	nested := users.Sub([]byte("x"), nil)
	if err := nested.Put(ctx, []byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if e, _ := b.Get(ctx, []byte("users\x00x\x00k")); e == nil {
		t.Fatal("nested prefix not stored as users\\0x\\0k")
	}
	// The nested key is inside users' range, as in hyperbee.
	if n := len(collect(t, users, Range{})); n != 21 {
		t.Fatalf("users sees %d keys", n)
	}
	// A batch on a sub writes prefixed keys.
	bt := posts.Batch()
	if err := bt.Put(ctx, []byte("zz"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	if e, err := bt.Peek(ctx, Range{GT: []byte("z")}); err != nil || e == nil || string(e.Key) != "zz" {
		t.Fatalf("peek in a sub batch: %+v %v", e, err)
	}
	if err := bt.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if e, _ := b.Get(ctx, []byte("posts\x00zz")); e == nil {
		t.Fatal("batch on a sub")
	}
}

func TestCheckoutAndReadOnly(t *testing.T) {
	ctx := context.Background()
	b := New(&MemLog{}, Options{})
	for i := range 50 {
		if err := b.Put(ctx, tkey(i), fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	old := b.Checkout(21) // header + 20 puts
	if err := b.Put(ctx, tkey(0), []byte("new")); err != nil {
		t.Fatal(err)
	}
	if n := len(collect(t, old, Range{})); n != 20 {
		t.Fatalf("checkout has %d keys", n)
	}
	e, _ := old.Get(ctx, tkey(0))
	if string(e.Value) != "0" {
		t.Fatalf("checkout sees %q", e.Value)
	}
	if e, _ := old.Get(ctx, tkey(30)); e != nil {
		t.Fatal("checkout sees a later key")
	}
	if err := old.Put(ctx, []byte("x"), nil); !errors.Is(err, ErrReadOnly) {
		t.Fatal(err)
	}
	if err := old.Batch().Put(ctx, []byte("x"), nil); !errors.Is(err, ErrReadOnly) {
		t.Fatal(err)
	}
	snap := b.Snapshot()
	b.Put(ctx, []byte("later"), nil)
	if e, _ := snap.Get(ctx, []byte("later")); e != nil || snap.Version() != b.Version()-1 {
		t.Fatal("snapshot moved")
	}
	if e, err := b.GetBySeq(ctx, 5); err != nil || string(e.Key) != string(tkey(4)) {
		t.Fatalf("by seq: %+v %v", e, err)
	}
}

func TestHistory(t *testing.T) {
	ctx := context.Background()
	b := New(&MemLog{}, Options{})
	for i := range 10 {
		b.Put(ctx, tkey(i), []byte("v"))
	}
	b.Del(ctx, tkey(3))
	b.Del(ctx, tkey(99)) // absent: no block
	hist := func(o HistoryOptions) (seqs []uint64, dels []uint64) {
		for e, err := range b.History(ctx, o) {
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, e.Seq)
			if e.Deleted {
				dels = append(dels, e.Seq)
				if e.Value != nil || string(e.Key) != string(tkey(3)) {
					t.Fatalf("delete entry %+v", e)
				}
			}
		}
		return
	}
	seqs, dels := hist(HistoryOptions{})
	if len(seqs) != 11 || seqs[0] != 1 || !slices.Equal(dels, []uint64{11}) {
		t.Fatalf("history %v dels %v", seqs, dels)
	}
	if s, _ := hist(HistoryOptions{GT: 3, LTE: 6}); !slices.Equal(s, []uint64{4, 5, 6}) {
		t.Fatal(s)
	}
	if s, _ := hist(HistoryOptions{GTE: -3, Reverse: true}); !slices.Equal(s, []uint64{11, 10, 9}) {
		t.Fatal(s)
	}
	if s, _ := hist(HistoryOptions{Limit: 2, Reverse: true}); !slices.Equal(s, []uint64{11, 10}) {
		t.Fatal(s)
	}

	for _, err := range b.History(ctx, HistoryOptions{Live: true, Reverse: true}) {
		if !errors.Is(err, ErrLiveReverse) {
			t.Fatal(err)
		}
	}

	// Live history follows appends until ctx ends.
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	got := make(chan uint64, 100)
	done := make(chan error, 1)
	go func() {
		var err error
		for e, ierr := range b.History(lctx, HistoryOptions{GTE: 10, Live: true}) {
			if ierr != nil {
				err = ierr
				break
			}
			got <- e.Seq
		}
		done <- err
	}()
	b.Put(ctx, []byte("live"), []byte("1"))
	want := []uint64{10, 11, 12}
	for _, w := range want {
		select {
		case s := <-got:
			if s != w {
				t.Fatalf("live got %d want %d", s, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("live history stalled")
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatal(err)
	}
}

func TestDiff(t *testing.T) {
	ctx := context.Background()
	b := New(&MemLog{}, Options{})
	for i := range 200 {
		b.Put(ctx, tkey(i), []byte("a"))
	}
	v1 := b.Version()
	b.Put(ctx, tkey(10), []byte("b"))
	b.Del(ctx, tkey(20))
	b.Put(ctx, tkey(500), []byte("c"))
	diffs := map[string][2]string{}
	for d, err := range b.Diff(ctx, b.Checkout(v1), Range{}) {
		if err != nil {
			t.Fatal(err)
		}
		var k, l, r string
		if d.Left != nil {
			k, l = string(d.Left.Key), string(d.Left.Value)
		} else {
			l = "-"
		}
		if d.Right != nil {
			k, r = string(d.Right.Key), string(d.Right.Value)
		} else {
			r = "-"
		}
		diffs[k] = [2]string{l, r}
	}
	want := map[string][2]string{
		string(tkey(10)):  {"b", "a"},
		string(tkey(20)):  {"-", "a"},
		string(tkey(500)): {"c", "-"},
	}
	if fmt.Sprint(diffs) != fmt.Sprint(want) {
		t.Fatalf("diff %v, want %v", diffs, want)
	}
	n := 0
	for _, err := range b.Diff(ctx, b.Checkout(v1), Range{GT: tkey(15)}) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("bounded diff: %d", n)
	}
	for range b.Diff(ctx, b.Snapshot(), Range{}) {
		t.Fatal("a version differs from itself")
	}
}

func TestWatch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := New(&MemLog{}, Options{})
	b.Put(ctx, []byte("a/1"), []byte("x"))
	wctx, stop := context.WithCancel(ctx)
	events := make(chan Change, 10)
	done := make(chan error, 1)
	go func() {
		var err error
		for c, ierr := range b.Watch(wctx, Range{GTE: []byte("b/"), LT: []byte("b0")}) {
			if ierr != nil {
				err = ierr
				break
			}
			events <- c
		}
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	b.Put(ctx, []byte("a/2"), []byte("x")) // outside the range: no event
	b.Put(ctx, []byte("b/1"), []byte("y"))
	select {
	case c := <-events:
		if e, _ := c.Current.Get(ctx, []byte("b/1")); e == nil {
			t.Fatal("current lacks the change")
		}
		if e, _ := c.Previous.Get(ctx, []byte("b/1")); e != nil {
			t.Fatal("previous has the change")
		}
	case <-ctx.Done():
		t.Fatal("no watch event")
	}
	select {
	case c := <-events:
		t.Fatalf("extra event %d -> %d", c.Previous.Version(), c.Current.Version())
	case <-time.After(100 * time.Millisecond):
	}
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, err := range b.Checkout(2).Watch(ctx, Range{}) {
		if !errors.Is(err, ErrReadOnly) {
			t.Fatal(err)
		}
	}
}

func TestCoreLog(t *testing.T) {
	ctx := context.Background()
	core, err := hypercore.Open(t.TempDir(), hypercore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	b := New(CoreLog{Core: core}, Options{})
	bt := b.Batch()
	for i := range 100 {
		bt.Put(ctx, tkey(i), []byte("v"))
	}
	if err := bt.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if core.Length() != 101 {
		t.Fatal(core.Length())
	}
	if n := len(collect(t, b, Range{})); n != 100 {
		t.Fatal(n)
	}
	wctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := (CoreLog{Core: core}).WaitLength(wctx, 101); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatal(err)
	}
}

func TestConcurrentReadsAndWrites(t *testing.T) {
	ctx := context.Background()
	b := New(&MemLog{}, Options{CacheBlocks: 64})
	for i := range 200 {
		b.Put(ctx, tkey(i), []byte("v"))
	}
	done := make(chan struct{})
	errs := make(chan error, 4)
	go func() {
		defer close(done)
		for i := 200; i < 600; i++ {
			if err := b.Put(ctx, tkey(i), []byte("w")); err != nil {
				errs <- err
				return
			}
			if i%3 == 0 {
				if err := b.Del(ctx, tkey(i-150)); err != nil {
					errs <- err
					return
				}
			}
		}
	}()
	for r := range 3 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				snap := b.Snapshot()
				n := 0
				for _, err := range snap.Range(ctx, Range{Reverse: r == 1}) {
					if err != nil {
						errs <- err
						return
					}
					n++
				}
				again := 0
				for _, err := range snap.Range(ctx, Range{}) {
					if err != nil {
						errs <- err
						return
					}
					again++
				}
				if again != n {
					errs <- fmt.Errorf("snapshot changed: %d then %d keys", n, again)
					return
				}
				if _, err := b.Get(ctx, tkey(n%600)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := IsHyperbee(ctx, b.Log()); !ok || err != nil {
		t.Fatal(ok, err)
	}
}

func TestWatchKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := New(&MemLog{}, Options{})
	b.Put(ctx, []byte("k"), []byte("1"))
	wctx, stop := context.WithCancel(ctx)
	got := make(chan string, 10)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e, err := range b.WatchKey(wctx, []byte("k")) {
			switch {
			case err != nil:
				got <- "error " + err.Error()
			case e == nil:
				got <- "deleted"
			default:
				got <- string(e.Value)
			}
		}
	}()
	next := func() string {
		select {
		case s := <-got:
			return s
		case <-ctx.Done():
			return "timeout"
		}
	}
	if s := next(); s != "1" {
		t.Fatal(s)
	}
	b.Put(ctx, []byte("other"), []byte("x"))
	b.Put(ctx, []byte("k"), []byte("2"))
	if s := next(); s != "2" {
		t.Fatal(s)
	}
	b.Del(ctx, []byte("k"))
	if s := next(); s != "deleted" {
		t.Fatal(s)
	}
	stop()
	<-done
	select {
	case s := <-got:
		t.Fatalf("extra %q", s)
	default:
	}
}
