package interop

import (
	"context"
	"fmt"
	"maps"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenp2p/warren/compact"
	"github.com/warrenp2p/warren/protomux"
	"github.com/warrenp2p/warren/secretstream"
)

// tapConn records, for the frame being handled, its number and first
// bytes, and counts the frames written.
type tapConn struct {
	protomux.MessageConn
	mu      sync.Mutex
	reads   int
	first   string
	written int
}

func (c *tapConn) ReadMessage() ([]byte, error) {
	b, err := c.MessageConn.ReadMessage()
	if err == nil {
		c.mu.Lock()
		c.reads++
		c.first = fmt.Sprintf("%x", b[:min(2, len(b))])
		c.mu.Unlock()
	}
	return b, err
}

func (c *tapConn) WriteMessage(p []byte) error {
	c.mu.Lock()
	c.written++
	c.mu.Unlock()
	return c.MessageConn.WriteMessage(p)
}

func (c *tapConn) frame() (int, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.reads, c.first
}

func (c *tapConn) writes() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.written
}

func describeBuffer(b []byte) string {
	sum := 0
	for _, x := range b {
		sum = (sum + int(x)) % 65536
	}
	return fmt.Sprintf("b:%d:%x:%d", len(b), b[:min(8, len(b))], sum)
}

func bigBuffer(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + seed)
	}
	return b
}

// goChannel is the Go side of one channel of the scenario.
type goChannel struct {
	name   string
	ch     *protomux.Channel
	str    *protomux.TypedMessage[string]
	num    *protomux.TypedMessage[uint64]
	buf    *protomux.TypedMessage[[]byte]
	tag    *protomux.TypedMessage[string]
	hs     chan string
	closed chan bool
}

type batchSeen struct {
	v     string
	frame int
	first string
}

type scenario struct {
	t        *testing.T
	mux      *protomux.Mux
	tap      *tapConn
	mu       sync.Mutex
	received map[string][]string
	gotAll   chan struct{}
	batch    []batchSeen
	batchAll chan struct{}
	chans    map[string]*goChannel
}

var channelNames = []string{"A", "B1", "B2", "C"}

const perChannel = 8

func (s *scenario) record(name, v string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.received[name] = append(s.received[name], v)
	for _, n := range channelNames {
		if len(s.received[n]) < perChannel {
			return
		}
	}
	select {
	case <-s.gotAll:
	default:
		close(s.gotAll)
	}
}

// newChannel creates and opens the Go side of a channel of the scenario.
func (s *scenario) newChannel(name, protocol string, id []byte, handshake string) *goChannel {
	t := s.t
	g := &goChannel{name: name, hs: make(chan string, 1), closed: make(chan bool, 1)}
	ch, err := s.mux.Channel(protomux.ChannelOptions{
		Protocol: protocol,
		ID:       id,
		OnOpen: func(hs []byte) error {
			if len(hs) == 0 {
				g.hs <- "-"
				return nil
			}
			v, err := compact.Decode(compact.String, hs)
			g.hs <- v
			return err
		},
		OnClose: func(remote bool) { g.closed <- remote },
	})
	if err != nil {
		t.Errorf("channel %s: %v", name, err)
		return g
	}
	g.ch = ch
	g.str = protomux.AddTypedMessage(ch, compact.String, func(v string) error { s.record(name, "s:"+v); return nil })
	g.num = protomux.AddTypedMessage(ch, compact.Uint, func(v uint64) error { s.record(name, "u:"+strconv.FormatUint(v, 10)); return nil })
	g.buf = protomux.AddTypedMessage(ch, compact.Buffer, func(v []byte) error { s.record(name, describeBuffer(v)); return nil })
	g.tag = protomux.AddTypedMessage(ch, compact.String, func(v string) error {
		frame, first := s.tap.frame()
		s.mu.Lock()
		defer s.mu.Unlock()
		s.batch = append(s.batch, batchSeen{v, frame, first})
		if len(s.batch) == 4 {
			close(s.batchAll)
		}
		return nil
	})
	var hs []byte
	if handshake != "" {
		hs = compact.Encode(compact.String, handshake)
	}
	if err := ch.Open(hs); err != nil {
		t.Errorf("open %s: %v", name, err)
	}
	s.mu.Lock()
	s.chans[name] = g
	s.mu.Unlock()
	return g
}

func wait[T any](t *testing.T, what string, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(20 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// TestInteropProtomux runs a JS Protomux against the Go one over TCP with
// uint24 framing: four channels (two protocols, one of them with two ids)
// opened from both sides and accepted by pair and by pre-created channels,
// typed messages both ways, a corked batch from each side, channel closes
// from each side, and the whole mux ended by Go or by JS.
func TestInteropProtomux(t *testing.T) {
	for _, closer := range []string{"go", "js"} {
		t.Run(closer+"-ends", func(t *testing.T) { runProtomuxScenario(t, closer, "framed") })
	}
}

// TestInteropProtomuxSecretStream runs the same scenario over
// secret-stream, as the stack uses protomux: once with JS as the Noise
// initiator and once with Go, and with either side ending the mux.
func TestInteropProtomuxSecretStream(t *testing.T) {
	for _, transport := range []string{"secret-init", "secret-resp"} {
		for _, closer := range []string{"go", "js"} {
			t.Run(transport+"/"+closer+"-ends", func(t *testing.T) { runProtomuxScenario(t, closer, transport) })
		}
	}
}

// protomuxTransport wraps the accepted TCP connection as the JS peer's
// transport expects: plain uint24 framing, or a secret-stream in the role
// opposite to the JS side's.
func protomuxTransport(t *testing.T, conn net.Conn, transport string) protomux.MessageConn {
	t.Helper()
	var sc *secretstream.Conn
	switch transport {
	case "framed":
		return protomux.Framed(conn)
	case "secret-init": // JS initiates the handshake
		sc = secretstream.Server(conn, nil)
	case "secret-resp":
		sc = secretstream.Client(conn, nil)
	default:
		t.Fatalf("unknown transport %q", transport)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := sc.Handshake(ctx); err != nil {
		t.Fatalf("secret-stream handshake: %v", err)
	}
	if sc.IsInitiator() != (transport == "secret-resp") {
		t.Fatalf("Go side initiator=%v for transport %s", sc.IsInitiator(), transport)
	}
	return sc
}

func runProtomuxScenario(t *testing.T, closer, transport string) {
	env := Require(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	p := env.Start(t, "protomux.js", strconv.Itoa(ln.Addr().(*net.TCPAddr).Port), transport)
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	tap := &tapConn{MessageConn: protomuxTransport(t, conn, transport)}
	s := &scenario{
		t:        t,
		tap:      tap,
		received: map[string][]string{},
		gotAll:   make(chan struct{}),
		batchAll: make(chan struct{}),
		chans:    map[string]*goChannel{},
	}
	s.mux = protomux.New(tap, &protomux.Config{DeferStart: true})
	defer func() {
		s.mux.Close()
		<-s.mux.Done()
	}()

	// C: pre-created here, opened by JS. A and B1: opened by Go (JS accepts
	// A through its pair and B1 with its own pre-created channel). B2:
	// opened by JS, accepted here through Pair.
	s.newChannel("C", "warren/c", nil, "go-hs-C")
	s.newChannel("A", "warren/a", nil, "")
	s.newChannel("B1", "warren/b", []byte{1}, "go-hs-B1")
	paired := make(chan []byte, 1)
	s.mux.Pair("warren/b", []byte{2}, func(id []byte) {
		s.newChannel("B2", "warren/b", id, "go-hs-B2")
		paired <- id
	})
	s.mux.Start()

	if id := wait(t, "pair of B2", paired); string(id) != "\x02" {
		t.Fatalf("pair id %x", id)
	}
	s.mu.Lock()
	chans := maps.Clone(s.chans)
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wantHS := map[string]string{"A": "-", "B1": "js-hs-B1", "B2": "js-hs-B2", "C": "js-hs-C"}
	for _, n := range channelNames {
		g := chans[n]
		if err := g.ch.Opened(ctx); err != nil {
			t.Fatalf("%s not opened: %v", n, err)
		}
		if hs := wait(t, "handshake", g.hs); hs != wantHS[n] {
			t.Errorf("%s: handshake from JS %q, want %q", n, hs, wantHS[n])
		}
	}
	// JS saw our handshakes (A has no handshake encoding on the JS side).
	jsOpen := map[string]string{}
	for {
		l := p.Line(t)
		if l == "all-open" {
			break
		}
		if f := strings.Fields(l); len(f) == 3 && f[0] == "open" {
			jsOpen[f[1]] = f[2]
		}
	}
	for n, want := range map[string]string{"A": "-", "B1": "go-hs-B1", "B2": "go-hs-B2", "C": "go-hs-C"} {
		if jsOpen[n] != want {
			t.Errorf("JS %s: handshake %q, want %q", n, jsOpen[n], want)
		}
	}

	// Typed messages both ways.
	expectGo := map[string][]string{}
	for i, n := range channelNames {
		g := chans[n]
		var want []string
		for j := range 3 {
			v := fmt.Sprintf("go-%s-%d", n, j)
			must(t, g.str.Send(v))
			want = append(want, "s:"+v)
		}
		for _, u := range []uint64{0, 300, 1 << 40} {
			must(t, g.num.Send(u))
			want = append(want, "u:"+strconv.FormatUint(u, 10))
		}
		small := []byte("go-" + n)
		big := bigBuffer(100000+i, i)
		must(t, g.buf.Send(small))
		must(t, g.buf.Send(big))
		want = append(want, describeBuffer(small), describeBuffer(big))
		expectGo[n] = want
	}
	for _, n := range channelNames {
		got := p.Expect(t, "got "+n+" ")
		if want := strings.Join(expectGo[n], "|"); got != want {
			t.Errorf("JS got on %s:\n%s\nwant\n%s", n, got, want)
		}
	}
	p.Expect(t, "got-all")
	wait(t, "messages from JS", s.gotAll)
	s.mu.Lock()
	for _, n := range channelNames {
		var want []string
		for j := range 3 {
			want = append(want, fmt.Sprintf("s:js-%s-%d", n, j))
		}
		want = append(want, "u:1", "u:65536", "u:"+strconv.FormatUint(1<<50, 10))
		want = append(want, describeBuffer([]byte("js-"+n)), describeBuffer(bigBuffer(100000, len(n))))
		if got := strings.Join(s.received[n], "|"); got != strings.Join(want, "|") {
			t.Errorf("Go got on %s:\n%s\nwant\n%s", n, got, strings.Join(want, "|"))
		}
	}
	s.mu.Unlock()

	// A corked batch from JS arrives as one frame of type batch (0 0).
	fmt.Fprintln(p.Stdin, "batch")
	p.Expect(t, "sent-batch")
	wait(t, "batch from JS", s.batchAll)
	s.mu.Lock()
	for i, b := range s.batch {
		if b.frame != s.batch[0].frame || b.first != "0000" || b.v != "js-batch-"+channelNames[i] {
			t.Errorf("batch message %d: %+v (first %+v)", i, b, s.batch[0])
		}
	}
	s.mu.Unlock()

	// A corked batch from Go is one frame, seen by JS as one frame.
	before := tap.writes()
	s.mux.Cork()
	for _, n := range channelNames {
		must(t, chans[n].tag.Send("go-batch-"+n))
	}
	s.mux.Uncork()
	if got := p.Expect(t, "batch-recv "); got != "frames=1 first=0000 msgs=go-batch-A,go-batch-B1,go-batch-B2,go-batch-C" {
		t.Errorf("JS batch: %s", got)
	}
	if n := tap.writes() - before; n != 1 {
		t.Errorf("Go batch took %d frames", n)
	}

	// Closing a channel from Go: JS sees a remote close.
	must(t, chans["A"].ch.Close())
	if r := wait(t, "A closed", chans["A"].closed); r {
		t.Error("local close reported as remote")
	}
	p.Expect(t, "close A remote=true")
	// Closing a channel from JS: Go sees a remote close.
	fmt.Fprintln(p.Stdin, "close B2")
	if r := wait(t, "B2 closed", chans["B2"].closed); !r {
		t.Error("JS close not reported as remote")
	}
	p.Expect(t, "close B2 remote=false")
	if s.mux.Opened("warren/b", []byte{2}) || !s.mux.Opened("warren/b", []byte{1}) {
		t.Error("Opened after B2 closed")
	}
	if err := chans["B2"].str.Send("late"); err == nil {
		t.Error("send on closed channel")
	}

	// The whole mux ends: remaining channels close on both sides.
	switch closer {
	case "go":
		sctx, scancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer scancel()
		if err := s.mux.Shutdown(sctx); err != nil {
			t.Fatal(err)
		}
	case "js":
		fmt.Fprintln(p.Stdin, "end")
	}
	wait(t, "mux done", s.mux.Done())
	if err := s.mux.Err(); err != nil {
		t.Errorf("mux error %v", err)
	}
	for _, n := range []string{"B1", "C"} {
		if r := wait(t, n+" closed", chans[n].closed); !r {
			t.Errorf("%s: mux end should close channels as remote", n)
		}
	}
	jsClosed := map[string]bool{}
	for {
		l := p.Line(t)
		if l == "mux-closed" {
			break
		}
		jsClosed[l] = true
	}
	for _, l := range []string{"close B1 remote=true", "close C remote=true"} {
		if !jsClosed[l] {
			t.Errorf("JS did not print %q (got %v)", l, jsClosed)
		}
	}
	p.Wait(t)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
