package tunnel

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/udx"
)

// udpEcho starts a UDP echo service on loopback and returns its port.
func udpEcho(t testing.TB) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, MaxDatagram)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().(*net.UDPAddr).Port
}

func TestFrames(t *testing.T) {
	var stream []byte
	want := [][]byte{{}, []byte("a"), bytes.Repeat([]byte{7}, 3000), make([]byte, MaxDatagram)}
	for _, p := range want {
		stream = appendFrame(stream, p)
	}
	// One byte at a time: frames are put back together from any split.
	fr := newFrameReader(io.LimitReader(&oneByteReader{bytes.NewReader(stream)}, int64(len(stream))))
	for i, w := range want {
		p, err := fr.next()
		if err != nil || !bytes.Equal(p, w) {
			t.Fatalf("frame %d: %d bytes, %v", i, len(p), err)
		}
	}
	if _, err := fr.next(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want EOF", err)
	}
	// Cut inside a frame.
	fr = newFrameReader(bytes.NewReader(stream[:len(stream)-1]))
	var err error
	for err == nil {
		_, err = fr.next()
	}
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated: %v", err)
	}
	fr = newFrameReader(bytes.NewReader([]byte{0, 0}))
	if _, err := fr.next(); err != io.ErrUnexpectedEOF {
		t.Fatalf("truncated header: %v", err)
	}
	// Lengths over MaxDatagram are refused before anything is allocated.
	fr = newFrameReader(bytes.NewReader([]byte{0xff, 0xff, 0xff, 0xff}))
	if _, err := fr.next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("huge length: %v", err)
	}
	fr = newFrameReader(bytes.NewReader(binary.BigEndian.AppendUint32(nil, MaxDatagram+1)))
	if _, err := fr.next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("MaxDatagram+1: %v", err)
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type oneByteReader struct{ r io.Reader }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

func FuzzFrameReader(f *testing.F) {
	f.Add(appendFrame(appendFrame(nil, []byte("hello")), nil))
	f.Add([]byte{0, 0, 0, 5, 'a'})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := newFrameReader(bytes.NewReader(b))
		var again []byte
		for {
			p, err := fr.next()
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, ErrFrameTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if len(p) > MaxDatagram {
				t.Fatalf("frame of %d bytes", len(p))
			}
			again = appendFrame(again, p)
		}
		if !bytes.HasPrefix(b, again) {
			t.Fatal("re-encoded frames differ from the input")
		}
	})
}

// relayDatagrams on its own: frames written in pieces reach the service
// whole, replies come back framed, and a hostile length ends the session
// with ErrFrameTooLarge.
func TestRelayDatagrams(t *testing.T) {
	port := udpEcho(t)
	dial := func() net.Conn {
		c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	remote, peer := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- relayDatagrams(remote, dial(), 0) }()
	peer.SetDeadline(time.Now().Add(30 * time.Second))
	stream := appendFrame(appendFrame(nil, []byte("first")), []byte("second"))
	for _, b := range stream {
		if _, err := peer.Write([]byte{b}); err != nil {
			t.Fatal(err)
		}
	}
	fr := newFrameReader(peer)
	for _, w := range []string{"first", "second"} {
		p, err := fr.next()
		if err != nil || string(p) != w {
			t.Fatalf("reply %q %v, want %q", p, err, w)
		}
	}
	peer.Close()
	if err := <-done; err != nil {
		t.Fatalf("orderly end: %v", err)
	}

	remote, peer = net.Pipe()
	go func() { done <- relayDatagrams(remote, dial(), 0) }()
	peer.Write([]byte{0, 1, 0, 0}) // 65536
	if err := <-done; !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("hostile frame: %v", err)
	}
	if _, err := peer.Read(make([]byte, 1)); err == nil {
		t.Fatal("the remote is not closed after a hostile frame")
	}

	// Idle expiry closes the session.
	remote, peer = net.Pipe()
	go func() { done <- relayDatagrams(remote, dial(), 200*time.Millisecond) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("idle end: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("an idle session does not end")
	}
	peer.Close()
}

// udpTunnel starts a UDP tunnel server for the service on port and a
// client for it that finds the UDP mode in the record.
func udpTunnel(t testing.TB, tn *testnet, port int, private bool, idle time.Duration) (*Client, *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := Serve(ctx, tn.node(t, nil, dht.Config{UDX: tn.u}), ServerConfig{Port: port, UDP: true, Private: private, IdleTimeout: idle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	keys, err := ParseKey(srv.Key(), Auto)
	if err != nil {
		t.Fatal(err)
	}
	var kp *crypto.KeyPair
	if p, ok := keys[0].KeyPair(); ok && private {
		kp = &p
	}
	d := tn.node(t, kp, dht.Config{UDX: tn.u})
	k, rec, err := Resolve(ctx, d, keys)
	if err != nil {
		t.Fatal(err)
	}
	if rec == nil || !rec.UDP || rec.Port != port {
		t.Fatalf("record %+v", rec)
	}
	cl, err := Listen(ctx, d, ClientConfig{Key: k, Record: rec, Port: -1, IdleTimeout: idle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	if !cl.UDP() {
		t.Fatal("the client did not take UDP mode from the record")
	}
	return cl, srv
}

// udpExchange sends count datagrams from a new local socket to addr, a
// window at a time, and checks every reply is one of its own, whole. It
// returns how many came back.
func udpExchange(t *testing.T, addr string, id byte, count int) int {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer c.Close()
	r := rand.New(rand.NewPCG(uint64(id), 1))
	sent := map[uint32][]byte{}
	got := 0
	buf := make([]byte, MaxDatagram)
	const window = 16
	for seq := 0; seq < count; {
		for i := 0; i < window && seq < count; i, seq = i+1, seq+1 {
			p := make([]byte, 5+r.IntN(1400))
			p[0] = id
			binary.BigEndian.PutUint32(p[1:], uint32(seq))
			for j := 5; j < len(p); j++ {
				p[j] = byte(r.Uint32())
			}
			sent[uint32(seq)] = p
			c.Write(p)
		}
		// Read this window's replies (and any late ones).
		for len(sent) > 0 {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, err := c.Read(buf)
			if err != nil {
				break // a drop: go on with the next window
			}
			if n < 5 || buf[0] != id {
				t.Errorf("sender %d got another's datagram (%d bytes, id %d)", id, n, buf[0])
				return got
			}
			seq := binary.BigEndian.Uint32(buf[1:])
			want, ok := sent[seq]
			if !ok || !bytes.Equal(want, buf[:n]) {
				t.Errorf("sender %d: datagram %d corrupted or repeated", id, seq)
				return got
			}
			delete(sent, seq)
			got++
		}
		clear(sent)
	}
	return got
}

// A UDP tunnel, Go to Go: several local senders at once, each getting back
// only its own datagrams, intact; a large datagram; then the sessions idle
// out on both sides and a new datagram starts a new one.
func TestUDPTunnel(t *testing.T) {
	tn := newTestnet(t)
	for _, private := range []bool{false, true} {
		t.Run(fmt.Sprintf("private=%v", private), func(t *testing.T) {
			cl, srv := udpTunnel(t, tn, udpEcho(t), private, time.Second)
			addr := cl.Addr().String()
			const senders, count = 4, 200
			var wg sync.WaitGroup
			got := make([]int, senders)
			for i := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got[i] = udpExchange(t, addr, byte(i+1), count)
				}()
			}
			wg.Wait()
			for i, n := range got {
				if n < count*9/10 {
					t.Errorf("sender %d: %d of %d datagrams came back", i+1, n, count)
				}
			}
			t.Logf("datagrams back per sender: %v of %d", got, count)

			c, err := net.Dial("udp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			big := bytes.Repeat([]byte("0123456789"), 6000)
			buf := make([]byte, MaxDatagram)
			roundTrip := func(p []byte) {
				t.Helper()
				for try := 0; ; try++ {
					c.Write(p)
					c.SetReadDeadline(time.Now().Add(10 * time.Second))
					n, err := c.Read(buf)
					if err == nil && bytes.Equal(buf[:n], p) {
						return
					}
					if try == 3 {
						t.Fatalf("%d-byte datagram: %d bytes back, %v", len(p), n, err)
					}
				}
			}
			roundTrip(big)

			// Every session idles out, on the client and on the server.
			deadline := time.Now().Add(30 * time.Second)
			for cl.udp.len() > 0 || srv.conns.len() > 0 {
				if time.Now().After(deadline) {
					t.Fatalf("sessions left after idling: client %d, server conns %d", cl.udp.len(), srv.conns.len())
				}
				time.Sleep(50 * time.Millisecond)
			}
			roundTrip([]byte("after idling"))
		})
	}
}

// A DHT client speaking to a UDP server directly: a frame announcing more
// than MaxDatagram closes its connection.
func TestUDPServerRejectsHugeFrame(t *testing.T) {
	tn := newTestnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	srv, err := Serve(ctx, tn.node(t, nil, dht.Config{UDX: tn.u}), ServerConfig{Port: udpEcho(t), UDP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c, err := tn.node(t, nil, dht.Config{UDX: tn.u}).Connect(ctx, srv.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	c.Write(appendFrame(nil, []byte("ok")))
	p, err := newFrameReader(c).next()
	if err != nil || string(p) != "ok" {
		t.Fatalf("echo %q %v", p, err)
	}
	c.Write([]byte{0x7f, 0, 0, 0})
	if n, err := c.Read(make([]byte, 16)); err == nil {
		t.Fatalf("connection still open after a huge frame (read %d bytes)", n)
	}
}

// A server session outlives "connection refused" from a service that is
// not listening yet: once the service is up, datagrams flow.
func TestRelayDatagramsServiceLate(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	local, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	remote, peer := net.Pipe()
	done := make(chan error, 1)
	go func() { done <- relayDatagrams(remote, local, 0) }()
	defer func() {
		peer.Close()
		if err := <-done; err != nil {
			t.Errorf("relay: %v", err)
		}
	}()
	peer.SetDeadline(time.Now().Add(30 * time.Second))
	// Nobody listens: the kernel answers with port unreachable.
	for range 3 {
		if _, err := peer.Write(appendFrame(nil, []byte("too early"))); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	svc, err := net.ListenPacket("udp", addr)
	if err != nil {
		t.Skipf("the port was taken meanwhile: %v", err)
	}
	defer svc.Close()
	go func() {
		buf := make([]byte, 100)
		for {
			n, from, err := svc.ReadFrom(buf)
			if err != nil {
				return
			}
			if string(buf[:n]) != "too early" {
				svc.WriteTo(buf[:n], from)
			}
		}
	}()
	if _, err := peer.Write(appendFrame(nil, []byte("in time"))); err != nil {
		t.Fatal(err)
	}
	p, err := newFrameReader(peer).next()
	if err != nil || string(p) != "in time" {
		t.Fatalf("reply %q %v", p, err)
	}
}

// A UDP client whose server cannot be reached drops the sender's datagrams,
// ends the session, and tries again on the next datagram; Close does not
// hang.
func TestUDPClientServerUnreachable(t *testing.T) {
	tn := newTestnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kp, _ := crypto.NewKeyPair()
	var logs lockedBuffer
	cl, err := Listen(ctx, tn.node(t, nil, dht.Config{UDX: tn.u}), ClientConfig{
		Key: Key{PublicKey: kp.PublicKey}, UDP: true, Port: -1, ConnectTimeout: 2 * time.Second,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("udp", cl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for round := 1; round <= 2; round++ {
		c.Write([]byte("anyone?"))
		deadline := time.Now().Add(30 * time.Second)
		for strings.Count(logs.String(), "cannot connect to the tunnel server") < round || cl.udp.len() > 0 {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: sessions %d, logs:\n%s", round, cl.udp.len(), logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- cl.Close() }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("Close hangs")
	}
}

// Closing a UDP server or client with live sessions ends them and does not
// hang.
func TestUDPCloseWithSessions(t *testing.T) {
	tn := newTestnet(t)
	for _, which := range []string{"server", "client"} {
		cl, srv := udpTunnel(t, tn, udpEcho(t), false, 0)
		c, err := net.Dial("udp", cl.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, 10)
		for try := 0; ; try++ {
			c.Write([]byte("x"))
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := c.Read(buf); err == nil {
				break
			} else if try == 3 {
				t.Fatal(err)
			}
		}
		done := make(chan error, 1)
		go func() {
			if which == "server" {
				done <- srv.Close()
			} else {
				done <- cl.Close()
			}
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s Close hangs", which)
		}
		if which == "server" {
			// The client's session ends when the server's side goes.
			deadline := time.Now().Add(30 * time.Second)
			for cl.udp.len() > 0 {
				if time.Now().After(deadline) {
					t.Fatal("the client's session outlives the server")
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
	}
}

// BenchmarkUDPTunnel echoes 1 KiB datagrams through a Go UDP tunnel on
// loopback, 32 in flight, from one sender.
func BenchmarkUDPTunnel(b *testing.B) {
	tn := newTestnet(b)
	cl, _ := udpTunnel(b, tn, udpEcho(b), false, 0)
	c, err := net.Dial("udp", cl.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	p := make([]byte, 1024)
	buf := make([]byte, 2048)
	// The first datagram opens the session.
	for {
		c.Write(p)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(buf); err == nil {
			break
		}
	}
	const window = 32
	b.SetBytes(int64(len(p)))
	b.ResetTimer()
	lost := 0
	for sent := 0; sent < b.N; {
		n := min(window, b.N-sent)
		for range n {
			c.Write(p)
		}
		sent += n
		for i := 0; i < n; i++ {
			c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := c.Read(buf); err != nil {
				lost += n - i
				break
			}
		}
	}
	b.ReportMetric(float64(b.N-lost)/b.Elapsed().Seconds(), "echoes/s")
	b.ReportMetric(float64(lost), "lost")
}

// Closing a server whose clients vanished without a word (their node shut
// down) does not wait for them to acknowledge anything.
func TestServerCloseWithVanishedClients(t *testing.T) {
	tn := newTestnet(t)
	for _, udp := range []bool{false, true} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		port := udpEcho(t)
		if !udp {
			port = service(t, echo)
		}
		srv, err := Serve(ctx, tn.node(t, nil, dht.Config{UDX: tn.u}), ServerConfig{Port: port, UDP: udp})
		if err != nil {
			t.Fatal(err)
		}
		gone := tn.node(t, nil, dht.Config{UDX: udx.New(nil)})
		for range 3 {
			c, err := gone.Connect(ctx, srv.PublicKey())
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte("x")
			if udp {
				msg = appendFrame(nil, msg)
			}
			c.Write(msg)
			c.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
				t.Fatal(err)
			}
		}
		// The client's socket goes away under its streams.
		gone.Close()
		start := time.Now()
		srv.Close()
		if d := time.Since(start); d > 7*time.Second {
			t.Errorf("udp=%v: Close took %v (lingering on peers that are gone)", udp, d)
		}
	}
}

// A hostile server answering a UDP client with a frame longer than
// MaxDatagram ends that sender's session; nothing reaches the sender.
func TestUDPClientHostileServer(t *testing.T) {
	tn := newTestnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	kp, _ := crypto.NewKeyPair()
	hs, err := tn.node(t, nil, dht.Config{UDX: tn.u}).Listen(ctx, kp, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer hs.Close()
	go func() {
		c, err := hs.Accept(ctx)
		if err != nil {
			return
		}
		defer c.Close()
		newFrameReader(c).next() // the sender's datagram
		c.Write([]byte{0xff, 0xff, 0xff, 0xff, 'x'})
		io.Copy(io.Discard, c)
	}()
	var logs lockedBuffer
	cl, err := Listen(ctx, tn.node(t, nil, dht.Config{UDX: tn.u}), ClientConfig{
		Key: Key{PublicKey: kp.PublicKey}, UDP: true, Port: -1,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c, err := net.Dial("udp", cl.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "UDP session closed") || cl.udp.len() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("sessions %d, logs:\n%s", cl.udp.len(), logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 10)); err == nil {
		t.Fatalf("the sender got %d bytes", n)
	}
}
