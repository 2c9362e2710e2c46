package blindrelay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenp2p/warren/protomux"
	"github.com/warrenp2p/warren/udx"
)

type env struct {
	u      *udx.UDX
	relay  *udx.Socket
	srv    *Server
	nextID atomic.Uint32
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{u: udx.New(nil)}
	e.nextID.Store(1000)
	var err error
	if e.relay, err = e.u.Listen("udp4", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	e.srv = NewServer(ServerConfig{NewStream: func(cfg *udx.StreamConfig) (*udx.Stream, error) {
		return e.u.NewStream(e.nextID.Add(1), cfg)
	}})
	t.Cleanup(func() { e.srv.Close(); e.relay.Close() })
	return e
}

// session connects a client to the server over an in-memory pipe.
func (e *env) session(t *testing.T, id string) *Client {
	t.Helper()
	a, b := net.Pipe()
	sm := protomux.New(protomux.Framed(b), &protomux.Config{DeferStart: true})
	if _, err := e.srv.Accept(sm, []byte(id)); err != nil {
		t.Fatal(err)
	}
	sm.Start()
	cm := protomux.New(protomux.Framed(a), &protomux.Config{DeferStart: true})
	c, err := NewClient(cm, []byte(id))
	if err != nil {
		t.Fatal(err)
	}
	cm.Start()
	t.Cleanup(func() { cm.Close(); sm.Close() })
	return c
}

// peer is one client's UDX side: its own socket and stream.
func (e *env) peer(t *testing.T, id uint32) (*udx.Stream, *udx.Socket) {
	t.Helper()
	sock, err := e.u.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	st, err := e.u.NewStream(id, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Destroy(); sock.Close() })
	return st, sock
}

func TestRelayPairsAndSplices(t *testing.T) {
	e := newEnv(t)
	ca := e.session(t, "alice")
	cb := e.session(t, "bob")
	sa, socka := e.peer(t, 1)
	sb, sockb := e.peer(t, 2)
	token := NewToken()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type res struct {
		id  uint32
		err error
	}
	got := make(chan res, 1)
	go func() {
		id, err := cb.Pair(ctx, false, token, sb.ID())
		got <- res{id, err}
	}()
	ida, err := ca.Pair(ctx, true, token, sa.ID())
	if err != nil {
		t.Fatal(err)
	}
	rb := <-got
	if rb.err != nil {
		t.Fatal(rb.err)
	}
	if ida == rb.id {
		t.Fatal("both sides got the same relay stream")
	}
	relay := e.relay.LocalAddr()
	if err := sa.Connect(socka, ida, relay); err != nil {
		t.Fatal(err)
	}
	if err := sb.Connect(sockb, rb.id, relay); err != nil {
		t.Fatal(err)
	}
	msg := bytes.Repeat([]byte("relayed "), 20000)
	go func() { sa.Write(msg); sb.Write([]byte("back")) }()
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(sb, buf); err != nil || !bytes.Equal(buf, msg) {
		t.Fatalf("b read: %v", err)
	}
	back := make([]byte, 4)
	if _, err := io.ReadFull(sa, back); err != nil || string(back) != "back" {
		t.Fatalf("a read %q: %v", back, err)
	}
	if st := e.srv.Stats(); st.Links != 2 || st.Matched != 1 || st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Unpairing tears the link down.
	if err := ca.Unpair(token); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for e.srv.Stats().Links != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("links left: %+v", e.srv.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPairCancelAndClose(t *testing.T) {
	e := newEnv(t)
	ca := e.session(t, "alice")
	token := NewToken()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := ca.Pair(ctx, true, token, 7); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for e.srv.Stats().Pending != 0 {
		if time.Now().After(deadline) {
			t.Fatal("unpair did not cancel the pending pairing")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// A pairing pending when the client closes fails with ErrClosed.
	done := make(chan error, 1)
	go func() {
		_, err := ca.Pair(context.Background(), true, token, 7)
		done <- err
	}()
	for e.srv.Stats().Pending != 1 {
		if time.Now().After(deadline) {
			t.Fatal("pair did not arrive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, err := ca.Pair(context.Background(), true, token, 8); !errors.Is(err, ErrAlreadyPairing) {
		t.Fatalf("second pair: %v", err)
	}
	ca.Close()
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v", err)
	}
	for e.srv.Stats().Pending != 0 || e.srv.Stats().Sessions != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("session not cleaned up: %+v", e.srv.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHostileMessages(t *testing.T) {
	e := newEnv(t)
	a, b := net.Pipe()
	sm := protomux.New(protomux.Framed(b), &protomux.Config{DeferStart: true})
	if _, err := e.srv.Accept(sm, nil); err != nil {
		t.Fatal(err)
	}
	sm.Start()
	cm := protomux.New(protomux.Framed(a), &protomux.Config{DeferStart: true})
	defer cm.Close()
	ch, _ := cm.Channel(protomux.ChannelOptions{Protocol: Protocol})
	pair := ch.AddMessage(nil)
	ch.Open(nil)
	cm.Start()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ch.Opened(ctx); err != nil {
		t.Fatal(err)
	}
	// Stream id 0 and ids over 32 bits are ignored; many pairs stay bounded.
	tok := NewToken()
	pair.Send((&Pair{Token: tok, ID: 0}).Encode())
	pair.Send((&Pair{Token: tok, ID: 1 << 40}).Encode())
	pair.Send([]byte{1, 2, 3}) // truncated: the session ends, as in JS
	select {
	case <-sm.Done():
	case <-ctx.Done():
		t.Fatal("malformed pair did not end the session")
	}
	if st := e.srv.Stats(); st.Pending != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestMessagesRoundTrip(t *testing.T) {
	p := &Pair{IsInitiator: true, Token: NewToken(), ID: 70000, Seq: 0}
	q, err := DecodePair(p.Encode())
	if err != nil || *q != *p {
		t.Fatalf("%+v %v", q, err)
	}
	u := &Unpair{Token: NewToken()}
	v, err := DecodeUnpair(u.Encode())
	if err != nil || *v != *u {
		t.Fatalf("%+v %v", v, err)
	}
	// The bitfield's wide forms decode too.
	wide := append([]byte{0xfd, 1, 0}, p.Encode()[1:]...)
	if q, err := DecodePair(wide); err != nil || !q.IsInitiator || q.ID != 70000 {
		t.Fatalf("%+v %v", q, err)
	}
	for _, b := range [][]byte{nil, {0}, {0xff, 1}, {1, 2}} {
		if _, err := DecodePair(b); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%x: %v", b, err)
		}
	}
}

// The JS encoding of pair{isInitiator: true, token: 0x01*32, id: 5, seq: 0}.
func TestPairWireBytes(t *testing.T) {
	var tok [32]byte
	for i := range tok {
		tok[i] = 1
	}
	b := (&Pair{IsInitiator: true, Token: tok, ID: 5}).Encode()
	want := append(append([]byte{1}, tok[:]...), 5, 0)
	if !bytes.Equal(b, want) {
		t.Fatalf("%x", b)
	}
	if u := (&Unpair{Token: tok}).Encode(); !bytes.Equal(u, append([]byte{0}, tok[:]...)) {
		t.Fatalf("%x", u)
	}
}

func FuzzDecodePair(f *testing.F) {
	f.Add((&Pair{IsInitiator: true, Token: NewToken(), ID: 9}).Encode())
	f.Add([]byte{0xfe, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if p, err := DecodePair(b); err == nil {
			q, err := DecodePair(p.Encode())
			if err != nil || *q != *p {
				t.Fatalf("re-encode: %+v %v", q, err)
			}
		}
	})
}

func FuzzDecodeUnpair(f *testing.F) {
	f.Add((&Unpair{Token: NewToken()}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		if u, err := DecodeUnpair(b); err == nil {
			if v, err := DecodeUnpair(u.Encode()); err != nil || *v != *u {
				t.Fatal("re-encode")
			}
		}
	})
}

// One session cannot hold more than MaxPerSession pairings, nor the
// server more than MaxPending.
func TestPairingBounds(t *testing.T) {
	e := newEnv(t)
	setBounds := func(perSession, pending int) {
		e.srv.mu.Lock()
		e.srv.maxPerSess, e.srv.maxPending = perSession, pending
		e.srv.mu.Unlock()
	}
	// waitPending waits until n pairings are pending, then checks that no
	// more come.
	waitPending := func(n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for e.srv.Stats().Pending < n && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		time.Sleep(200 * time.Millisecond)
		if got := e.srv.Stats().Pending; got != n {
			t.Fatalf("pending %d, want %d", got, n)
		}
	}
	setBounds(3, 4096)
	c := e.session(t, "greedy")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 10; i++ {
		go c.Pair(ctx, true, NewToken(), uint32(100+i))
	}
	waitPending(3)
	setBounds(100, 5)
	c2 := e.session(t, "other")
	for i := 0; i < 10; i++ {
		go c2.Pair(ctx, true, NewToken(), uint32(200+i))
	}
	waitPending(5)
}

// Random pair and unpair messages from several raw sessions, then every
// session closes: nothing is left pending or linked, and the server's
// watchers end.
func TestRandomTraffic(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	type raw struct {
		mux          *protomux.Mux
		pair, unpair *protomux.Message
	}
	var sessions []raw
	for i := 0; i < 3; i++ {
		a, b := net.Pipe()
		sm := protomux.New(protomux.Framed(b), &protomux.Config{DeferStart: true})
		if _, err := e.srv.Accept(sm, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
		sm.Start()
		cm := protomux.New(protomux.Framed(a), &protomux.Config{DeferStart: true})
		ch, _ := cm.Channel(protomux.ChannelOptions{Protocol: Protocol, ID: []byte{byte(i)}})
		r := raw{mux: cm, pair: ch.AddMessage(nil), unpair: ch.AddMessage(nil)}
		ch.Open(nil)
		cm.Start()
		if err := ch.Opened(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cm.Close(); sm.Close() })
		sessions = append(sessions, r)
	}
	var tokens [4][32]byte
	for i := range tokens {
		tokens[i] = NewToken()
	}
	rng := uint64(12345)
	next := func(n int) int {
		rng = rng*6364136223846793005 + 1442695040888963407
		return int(rng>>33) % n
	}
	for i := 0; i < 400; i++ {
		s := sessions[next(len(sessions))]
		tok := tokens[next(len(tokens))]
		if next(4) == 0 {
			s.unpair.Send((&Unpair{Token: tok}).Encode())
		} else {
			s.pair.Send((&Pair{IsInitiator: next(2) == 0, Token: tok, ID: uint64(1 + next(1<<20))}).Encode())
		}
	}
	if st := e.srv.Stats(); st.Pending > len(tokens) {
		t.Fatalf("stats %+v", st)
	}
	for _, s := range sessions {
		s.mux.Close()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := e.srv.Stats()
		if st.Sessions == 0 && st.Pending == 0 && st.Links == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("left after every session closed: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
