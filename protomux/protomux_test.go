package protomux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/warrenp2p/warren/compact"
)

// echoChannel creates and opens a channel whose message 0 (raw) is
// collected into got.
func rawChannel(t *testing.T, m *Mux, protocol string, id []byte, hs string) (*Channel, *Message, chan string) {
	t.Helper()
	got := make(chan string, 100)
	ch, err := m.Channel(ChannelOptions{Protocol: protocol, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	msg := ch.AddMessage(func(p []byte) error { got <- string(p); return nil })
	if err := ch.Open([]byte(hs)); err != nil {
		t.Fatal(err)
	}
	return ch, msg, got
}

func TestOpenBothPreCreated(t *testing.T) {
	a, b, _, _ := muxPair(t, &Config{DeferStart: true}, &Config{DeferStart: true})
	ca, ma, gotA := rawChannel(t, a, "proto", nil, "from-a")
	cb, mb, gotB := rawChannel(t, b, "proto", nil, "from-b")
	a.Start()
	b.Start()
	mustOpened(t, ca, cb)
	if string(ca.Handshake()) != "from-b" || string(cb.Handshake()) != "from-a" {
		t.Fatalf("handshakes %q %q", ca.Handshake(), cb.Handshake())
	}
	if err := ma.Send([]byte("hello b")); err != nil {
		t.Fatal(err)
	}
	if err := mb.Send([]byte("hello a")); err != nil {
		t.Fatal(err)
	}
	if g := recvT(t, gotB); g != "hello b" {
		t.Fatal(g)
	}
	if g := recvT(t, gotA); g != "hello a" {
		t.Fatal(g)
	}
	if !a.Opened("proto", nil) || a.Opened("proto", []byte{1}) {
		t.Fatal("Opened")
	}
}

// One side opens, the other answers later from its own goroutine: the
// first open waits in the remote's outgoing list.
func TestOpenOneThenOther(t *testing.T) {
	a, b, _, _ := muxPair(t, nil, nil)
	ca, _, _ := rawChannel(t, a, "p", []byte("x"), "")
	// b has no pair: a's open is rejected.
	if err := ca.Opened(ctxT(t)); !errors.Is(err, ErrChannelClosed) {
		t.Fatalf("unpaired open: %v", err)
	}

	// Now b opens first and a answers through a pair.
	opened := make(chan []byte, 1)
	a.Pair("p", []byte("x"), func(id []byte) {
		ch, err := a.Channel(ChannelOptions{Protocol: "p", ID: id, OnOpen: func(hs []byte) error {
			opened <- hs
			return nil
		}})
		if err != nil {
			t.Error(err)
			return
		}
		if err := ch.Open([]byte("answer")); err != nil {
			t.Error(err)
		}
	})
	cb, _, _ := rawChannel(t, b, "p", []byte("x"), "first")
	mustOpened(t, cb)
	if hs := recvT(t, opened); string(hs) != "first" {
		t.Fatalf("paired handshake %q", hs)
	}
	if string(cb.Handshake()) != "answer" {
		t.Fatalf("answer %q", cb.Handshake())
	}
	if !a.Opened("p", []byte("x")) {
		t.Fatal("a has no open channel")
	}
}

func TestPairWildcardID(t *testing.T) {
	a, b, _, _ := muxPair(t, nil, nil)
	ids := make(chan string, 10)
	a.Pair("w", nil, func(id []byte) {
		ids <- string(id)
		ch, err := a.Channel(ChannelOptions{Protocol: "w", ID: id})
		if err == nil {
			err = ch.Open(nil)
		}
		if err != nil {
			t.Error(err)
		}
	})
	for _, id := range []string{"k1", "k2"} {
		ch, _, _ := rawChannel(t, b, "w", []byte(id), "")
		mustOpened(t, ch)
		if got := recvT(t, ids); got != id {
			t.Fatalf("notify id %q want %q", got, id)
		}
	}
	a.Unpair("w", nil)
	ch, _, _ := rawChannel(t, b, "w", []byte("k3"), "")
	if err := ch.Opened(ctxT(t)); !errors.Is(err, ErrChannelClosed) {
		t.Fatalf("after unpair: %v", err)
	}
}

func TestManyChannels(t *testing.T) {
	a, b, _, _ := muxPair(t, &Config{DeferStart: true}, &Config{DeferStart: true})
	type side struct {
		ch  *Channel
		msg *Message
		got chan string
	}
	names := []struct{ p, id string }{{"alpha", ""}, {"beta", "1"}, {"beta", "2"}, {"beta", "3"}, {"gamma", ""}}
	var as, bs []side
	for _, n := range names {
		var id []byte
		if n.id != "" {
			id = []byte(n.id)
		}
		c, m, g := rawChannel(t, a, n.p, id, "")
		as = append(as, side{c, m, g})
		c, m, g = rawChannel(t, b, n.p, id, "")
		bs = append(bs, side{c, m, g})
	}
	a.Start()
	b.Start()
	for i := range names {
		mustOpened(t, as[i].ch, bs[i].ch)
	}
	var wg sync.WaitGroup
	for i := range names {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := range 50 {
				if err := as[i].msg.Send(fmt.Appendf(nil, "a%d-%d", i, j)); err != nil {
					t.Error(err)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for j := range 50 {
				if err := bs[i].msg.Send(fmt.Appendf(nil, "b%d-%d", i, j)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for i := range names {
		for j := range 50 {
			if g, w := recvT(t, bs[i].got), fmt.Sprintf("a%d-%d", i, j); g != w {
				t.Fatalf("b got %q want %q", g, w)
			}
			if g, w := recvT(t, as[i].got), fmt.Sprintf("b%d-%d", i, j); g != w {
				t.Fatalf("a got %q want %q", g, w)
			}
		}
	}
}

type point struct {
	X uint64
	S string
}

type pointCodec struct{}

func (pointCodec) Preencode(s *compact.State, v point) {
	compact.Uint.Preencode(s, v.X)
	compact.String.Preencode(s, v.S)
}
func (pointCodec) Encode(s *compact.State, v point) {
	compact.Uint.Encode(s, v.X)
	compact.String.Encode(s, v.S)
}
func (pointCodec) Decode(s *compact.State) (point, error) {
	x, err := compact.Uint.Decode(s)
	if err != nil {
		return point{}, err
	}
	str, err := compact.String.Decode(s)
	return point{x, str}, err
}

func TestTypedMessages(t *testing.T) {
	a, b, _, _ := muxPair(t, &Config{DeferStart: true}, &Config{DeferStart: true})
	mk := func(m *Mux) (*Channel, *TypedMessage[string], *TypedMessage[uint64], *TypedMessage[point], chan any) {
		got := make(chan any, 10)
		ch, err := m.Channel(ChannelOptions{Protocol: "typed"})
		if err != nil {
			t.Fatal(err)
		}
		s := AddTypedMessage(ch, compact.String, func(v string) error { got <- v; return nil })
		u := AddTypedMessage(ch, compact.Uint, func(v uint64) error { got <- v; return nil })
		p := AddTypedMessage(ch, pointCodec{}, func(v point) error { got <- v; return nil })
		if s.Type() != 0 || u.Type() != 1 || p.Type() != 2 {
			t.Fatal("type ids")
		}
		if err := ch.Open(nil); err != nil {
			t.Fatal(err)
		}
		return ch, s, u, p, got
	}
	ca, sa, ua, pa, gotA := mk(a)
	cb, _, _, _, gotB := mk(b)
	a.Start()
	b.Start()
	mustOpened(t, ca, cb)
	_ = gotA
	if err := sa.Send("héllo"); err != nil {
		t.Fatal(err)
	}
	if err := ua.Send(1 << 40); err != nil {
		t.Fatal(err)
	}
	if err := pa.Send(point{7, "seven"}); err != nil {
		t.Fatal(err)
	}
	if g := recvT(t, gotB); g != "héllo" {
		t.Fatal(g)
	}
	if g := recvT(t, gotB); g != uint64(1<<40) {
		t.Fatal(g)
	}
	if g := recvT(t, gotB); g != (point{7, "seven"}) {
		t.Fatal(g)
	}
}

// A message its codec cannot decode destroys the mux, as in JS.
func TestDecodeErrorDestroys(t *testing.T) {
	a, b, _, _ := muxPair(t, &Config{DeferStart: true}, &Config{DeferStart: true})
	ca, ma, _ := rawChannel(t, a, "t", nil, "")
	cb, err := b.Channel(ChannelOptions{Protocol: "t"})
	if err != nil {
		t.Fatal(err)
	}
	AddTypedMessage(cb, compact.String, func(string) error { return nil })
	if err := cb.Open(nil); err != nil {
		t.Fatal(err)
	}
	a.Start()
	b.Start()
	mustOpened(t, ca, cb)
	if err := ma.Send([]byte{5, 'a'}); err != nil { // string of 5 bytes, 1 present
		t.Fatal(err)
	}
	waitDone(t, b)
	if !errors.Is(b.Err(), ErrProtocol) || !errors.Is(b.Err(), compact.ErrTruncated) {
		t.Fatalf("err %v", b.Err())
	}
	waitClosed(t, ca)
	waitDone(t, a)
	if a.Err() != nil {
		t.Fatalf("remote side err %v", a.Err())
	}
}

func TestHandlerErrorDestroys(t *testing.T) {
	a, b, _, _ := muxPair(t, &Config{DeferStart: true}, &Config{DeferStart: true})
	ca, ma, _ := rawChannel(t, a, "t", nil, "")
	closedRemote := make(chan bool, 1)
	cb, err := b.Channel(ChannelOptions{Protocol: "t", OnClose: func(r bool) { closedRemote <- r }})
	if err != nil {
		t.Fatal(err)
	}
	cb.AddMessage(func([]byte) error { return errTest })
	cb.Open(nil)
	a.Start()
	b.Start()
	mustOpened(t, ca, cb)
	ma.Send([]byte("boom"))
	waitDone(t, b)
	if !errors.Is(b.Err(), errTest) {
		t.Fatalf("err %v", b.Err())
	}
	if !recvT(t, closedRemote) {
		t.Fatal("shutdown close should be remote=true as in JS")
	}
	if err := ma.Send([]byte("x")); err == nil {
		waitClosed(t, ca)
	}
}

func TestCloseAndReopen(t *testing.T) {
	a, b, ca0, _ := muxPair(t, nil, nil)
	closes := make(chan string, 10)
	b.Pair("r", nil, func(id []byte) {
		ch, err := b.Channel(ChannelOptions{Protocol: "r", OnClose: func(remote bool) {
			closes <- fmt.Sprint("b remote=", remote)
		}})
		if err != nil {
			t.Error(err)
			return
		}
		ch.AddMessage(nil)
		ch.Open(nil)
	})
	for round := range 3 {
		ch, err := a.Channel(ChannelOptions{Protocol: "r", OnClose: func(remote bool) {
			closes <- fmt.Sprint("a remote=", remote)
		}})
		if err != nil {
			t.Fatal(err)
		}
		msg := ch.AddMessage(nil)
		if err := ch.Open(nil); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Channel(ChannelOptions{Protocol: "r"}); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("duplicate: %v", err)
		}
		dup, err := a.Channel(ChannelOptions{Protocol: "r", AllowDuplicates: true})
		if err != nil {
			t.Fatal(err)
		}
		dup.Close() // never opened: nothing on the wire
		mustOpened(t, ch)
		if err := ch.Close(); err != nil {
			t.Fatal(err)
		}
		// a's OnClose runs after its close frame is queued, so b may see
		// the close first: either order is right.
		got := []string{recvT(t, closes), recvT(t, closes)}
		slices.Sort(got)
		if got[0] != "a remote=false" || got[1] != "b remote=true" {
			t.Fatal(got)
		}
		if err := msg.Send(nil); !errors.Is(err, ErrChannelClosed) {
			t.Fatalf("send after close: %v", err)
		}
		if err := ch.Open(nil); !errors.Is(err, ErrChannelClosed) {
			t.Fatalf("open after close: %v", err)
		}
		if b.Opened("r", nil) {
			t.Fatalf("round %d: b still open", round)
		}
		// Every round reuses local id 1: the open frame is 0 1 1 ...
		w := ca0.written()
		var last []byte
		for _, f := range w {
			if len(f) > 2 && f[0] == 0 && f[1] == 1 {
				last = f
			}
		}
		if last[2] != 1 {
			t.Fatalf("round %d: local id %d not reused", round, last[2])
		}
	}
}

func TestWireBytes(t *testing.T) {
	c := newFakeConn()
	m := New(c, nil)
	defer m.Close()
	ch, err := m.Channel(ChannelOptions{Protocol: "p", ID: []byte{0xaa, 0xbb}})
	if err != nil {
		t.Fatal(err)
	}
	msg0 := ch.AddMessage(nil)
	msg1 := AddTypedMessage[uint64](ch, compact.Uint, nil)
	if err := msg0.Send(nil); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("send before open: %v", err)
	}
	ch.Open([]byte("hs"))
	msg0.Send([]byte("x"))
	msg1.Send(300)
	m.Cork()
	ch2, _ := m.Channel(ChannelOptions{Protocol: "q"})
	ch2m := ch2.AddMessage(nil)
	ch2.Open(nil)
	msg0.Send([]byte("a"))
	msg0.Send([]byte("b"))
	ch2m.Send([]byte("c"))
	m.Uncork()
	ch.Close()
	want := [][]byte{
		{0, 1, 1, 1, 'p', 2, 0xaa, 0xbb, 'h', 's'},
		{1, 0, 'x'},
		{1, 1, 0xfd, 0x2c, 0x01},
		{0, 0, 0, 5, 1, 2, 1, 'q', 0, 0, 1, 2, 0, 'a', 2, 0, 'b', 0, 2, 2, 0, 'c'},
		{0, 3, 1},
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(c.written()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	got := c.written()
	if len(got) != len(want) {
		t.Fatalf("got %d frames: %x", len(got), got)
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("frame %d: got %x want %x", i, got[i], want[i])
		}
	}
}

func TestCorkOneFrame(t *testing.T) {
	a, b, ca, cb := muxPair(t, &Config{DeferStart: true}, &Config{DeferStart: true})
	var order []string
	var mu sync.Mutex
	done := make(chan struct{})
	var chs []*Channel
	var msgs []*Message
	for i, p := range []string{"x", "y", "z"} {
		c1, m1, _ := rawChannel(t, a, p, nil, "")
		chs = append(chs, c1)
		msgs = append(msgs, m1)
		c2, err := b.Channel(ChannelOptions{Protocol: p})
		if err != nil {
			t.Fatal(err)
		}
		c2.AddMessage(func(pl []byte) error {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, fmt.Sprintf("%d:%s@%d", i, pl, cb.reads))
			if len(order) == 7 {
				close(done)
			}
			return nil
		})
		c2.Open(nil)
		chs = append(chs, c2)
	}
	a.Start()
	b.Start()
	mustOpened(t, chs...)
	before := len(ca.written())
	a.Cork()
	a.Cork() // nested
	msgs[0].Send([]byte("1"))
	msgs[1].Send([]byte("2"))
	msgs[1].Send([]byte("3"))
	a.Uncork()
	msgs[2].Send([]byte("4"))
	msgs[0].Send([]byte("5"))
	msgs[2].Send([]byte("6"))
	msgs[2].Send([]byte("7"))
	if n := len(ca.written()); n != before {
		t.Fatalf("corked mux wrote %d frames", n-before)
	}
	a.Uncork()
	<-done
	w := ca.written()
	if len(w) != before+1 {
		t.Fatalf("uncork wrote %d frames, want 1", len(w)-before)
	}
	if f := w[before]; f[0] != 0 || f[1] != 0 {
		t.Fatalf("not a batch frame: %x", f)
	}
	mu.Lock()
	defer mu.Unlock()
	frame := cb.reads
	var want []string
	for i, s := range []struct {
		ch int
		p  string
	}{{0, "1"}, {1, "2"}, {1, "3"}, {2, "4"}, {0, "5"}, {2, "6"}, {2, "7"}} {
		_ = i
		want = append(want, fmt.Sprintf("%d:%s@%d", s.ch, s.p, frame))
	}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("order %v want %v", order, want)
	}
}

func TestTeardownClosesEverything(t *testing.T) {
	base := runtime.NumGoroutine()
	ca, cb := pipe()
	a, b := New(ca, &Config{DeferStart: true}), New(cb, &Config{DeferStart: true})
	var closes sync.WaitGroup
	var chs []*Channel
	for i := range 4 {
		for _, m := range []*Mux{a, b} {
			closes.Add(1)
			ch, err := m.Channel(ChannelOptions{Protocol: "t", ID: []byte{byte(i)}, OnClose: func(remote bool) {
				if !remote {
					t.Error("teardown close should be remote")
				}
				closes.Done()
			}})
			if err != nil {
				t.Fatal(err)
			}
			ch.Open(nil)
			chs = append(chs, ch)
		}
	}
	// A channel that was created but never opened closes too.
	closes.Add(1)
	if _, err := a.Channel(ChannelOptions{Protocol: "never", OnClose: func(bool) { closes.Done() }}); err != nil {
		t.Fatal(err)
	}
	a.Start()
	b.Start()
	mustOpened(t, chs...)
	a.Close()
	waitDone(t, a)
	waitDone(t, b)
	closes.Wait()
	if a.Err() != nil || b.Err() != nil {
		t.Fatalf("errs %v %v", a.Err(), b.Err())
	}
	if _, err := a.Channel(ChannelOptions{Protocol: "late"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("channel after close: %v", err)
	}
	checkGoroutines(t, base)
}

func TestDeferredNeverStartedClose(t *testing.T) {
	base := runtime.NumGoroutine()
	ca, cb := pipe()
	a := New(ca, &Config{DeferStart: true})
	a.Close()
	waitDone(t, a)
	cb.Close()
	checkGoroutines(t, base)
}

func TestShutdownFlushes(t *testing.T) {
	base := runtime.NumGoroutine()
	ca, cb := pipe()
	a, b := New(ca, &Config{DeferStart: true}), New(cb, &Config{DeferStart: true})
	c1, m1, _ := rawChannel(t, a, "s", nil, "")
	c2, _, got := rawChannel(t, b, "s", nil, "")
	a.Start()
	b.Start()
	mustOpened(t, c1, c2)
	for i := range 100 {
		m1.Send(fmt.Appendf(nil, "%d", i))
	}
	c1.Close()
	if err := a.Shutdown(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		if g := recvT(t, got); g != fmt.Sprint(i) {
			t.Fatalf("got %s want %d", g, i)
		}
	}
	waitClosed(t, c2)
	waitDone(t, a)
	waitDone(t, b)
	if a.Err() != nil || b.Err() != nil {
		t.Fatalf("errs %v %v", a.Err(), b.Err())
	}
	checkGoroutines(t, base)
}

// A writer that blocks makes Drained false and WaitDrain wait.
func TestDrain(t *testing.T) {
	c := &blockConn{fakeConn: newFakeConn(), release: make(chan struct{})}
	drains := make(chan struct{}, 10)
	m := New(c, &Config{HighWaterMark: 100})
	defer func() { m.Close(); waitDone(t, m) }()
	ch, _ := m.Channel(ChannelOptions{Protocol: "d", OnDrain: func() { drains <- struct{}{} }})
	msg := ch.AddMessage(nil)
	ch.Open(nil)
	if !m.Drained() {
		t.Fatal("not drained at start")
	}
	msg.Send(make([]byte, 200))
	if m.Drained() {
		t.Fatal("drained after 200 bytes with hwm 100")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := m.WaitDrain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitDrain: %v", err)
	}
	close(c.release)
	if err := m.WaitDrain(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	recvT(t, drains)
	if !m.Drained() {
		t.Fatal("not drained")
	}
}

type blockConn struct {
	*fakeConn
	release chan struct{}
}

func (b *blockConn) WriteMessage(p []byte) error {
	select {
	case <-b.release:
	case <-b.closed:
		return context.Canceled
	}
	return b.fakeConn.WriteMessage(p)
}

// Callbacks may call back into the mux, including Close, without
// deadlocking.
func TestReentrantCallbacks(t *testing.T) {
	a, b, _, _ := muxPair(t, &Config{DeferStart: true}, &Config{DeferStart: true})
	var cb *Channel
	var reply *Message
	ca, ma, gotA := rawChannel(t, a, "e", nil, "")
	cb, err := b.Channel(ChannelOptions{Protocol: "e", OnOpen: func([]byte) error {
		return reply.Send([]byte("welcome"))
	}})
	if err != nil {
		t.Fatal(err)
	}
	reply = cb.AddMessage(func(p []byte) error {
		if string(p) == "bye" {
			return cb.Close()
		}
		return reply.Send(append([]byte("echo "), p...))
	})
	cb.Open(nil)
	a.Start()
	b.Start()
	mustOpened(t, ca, cb)
	if g := recvT(t, gotA); g != "welcome" {
		t.Fatal(g)
	}
	ma.Send([]byte("hi"))
	if g := recvT(t, gotA); g != "echo hi" {
		t.Fatal(g)
	}
	ma.Send([]byte("bye"))
	waitClosed(t, ca)
	waitClosed(t, cb)
}
