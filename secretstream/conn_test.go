package secretstream

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

// tcpPair returns the two ends of a TCP connection on loopback.
func tcpPair(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			ch <- nil
			return
		}
		ch <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-ch
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

func newKey(t testing.TB) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// handshakePair connects a Client and a Server over TCP and handshakes both.
func handshakePair(t testing.TB, ccfg, scfg *Config) (*Conn, *Conn) {
	t.Helper()
	a, b := tcpPair(t)
	c, s := Client(a, ccfg), Server(b, scfg)
	errs := make(chan error, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() { errs <- c.Handshake(ctx) }()
	go func() { errs <- s.Handshake(ctx) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

func TestHandshakeAndData(t *testing.T) {
	ck, sk := newKey(t), newKey(t)
	c, s := handshakePair(t, &Config{PrivateKey: ck}, &Config{PrivateKey: sk})
	if !c.IsInitiator() || s.IsInitiator() {
		t.Fatal("roles")
	}
	if !bytes.Equal(c.RemotePublicKey(), sk.Public().(ed25519.PublicKey)) ||
		!bytes.Equal(s.RemotePublicKey(), ck.Public().(ed25519.PublicKey)) {
		t.Fatal("remote public keys do not match the peers' keys")
	}
	if !bytes.Equal(c.PublicKey(), s.RemotePublicKey()) || !bytes.Equal(s.PublicKey(), c.RemotePublicKey()) {
		t.Fatal("public keys")
	}
	if len(c.HandshakeHash()) != 64 || !bytes.Equal(c.HandshakeHash(), s.HandshakeHash()) {
		t.Fatal("handshake hashes differ")
	}

	if err := c.WriteMessage([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage([]byte("world!")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"hello", "world!"} {
		m, err := s.ReadMessage()
		if err != nil || string(m) != want {
			t.Fatalf("ReadMessage = %q, %v; want %q", m, err, want)
		}
	}
	if _, err := s.Write([]byte("back")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 2)
	var got []byte
	for len(got) < 4 {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "back" {
		t.Fatalf("got %q", got)
	}
}

func TestImplicitHandshake(t *testing.T) {
	a, b := tcpPair(t)
	c, s := Client(a, nil), Server(b, nil)
	defer c.Close()
	defer s.Close()
	go func() {
		c.Write([]byte("implicit"))
	}()
	buf := make([]byte, 16)
	n, err := s.Read(buf)
	if err != nil || string(buf[:n]) != "implicit" {
		t.Fatalf("%q %v", buf[:n], err)
	}
	if s.PublicKey() == nil || c.RemotePublicKey() == nil {
		t.Fatal("keys missing")
	}
}

func TestRemotePublicKey(t *testing.T) {
	sk := newKey(t)
	// Expected key: fine.
	handshakePair(t, &Config{RemotePublicKey: sk.Public().(ed25519.PublicKey)}, &Config{PrivateKey: sk})

	// Another key: the client refuses, the server sees the stream end.
	a, b := tcpPair(t)
	other := newKey(t).Public().(ed25519.PublicKey)
	c := Client(a, &Config{RemotePublicKey: other})
	s := Server(b, &Config{PrivateKey: sk})
	errs := make(chan error, 1)
	go func() { errs <- s.Handshake(context.Background()) }()
	if err := c.Handshake(context.Background()); !errors.Is(err, ErrRemoteKey) {
		t.Fatalf("client: %v, want ErrRemoteKey", err)
	}
	if err := <-errs; err == nil {
		t.Fatal("server handshake succeeded with a client that gave up")
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, ErrRemoteKey) {
		t.Fatalf("write after failed handshake: %v", err)
	}
}

func TestHalfClose(t *testing.T) {
	c, s := handshakePair(t, nil, nil)
	if _, err := c.Write([]byte("request")); err != nil {
		t.Fatal(err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("more")); !errors.Is(err, ErrShutdown) {
		t.Fatalf("write after CloseWrite: %v", err)
	}
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "request" {
		t.Fatalf("server read %q, %v", got, err)
	}
	if _, err := s.Write([]byte("response")); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	got, err = io.ReadAll(c)
	if err != nil || string(got) != "response" {
		t.Fatalf("client read %q, %v", got, err)
	}
}

func TestBulkConcurrent(t *testing.T) {
	c, s := handshakePair(t, nil, nil)
	const size = 8<<20 + 12345
	data := make([]byte, size)
	rand.Read(data)
	want := sha256.Sum256(data)
	var wg sync.WaitGroup
	for _, pair := range [][2]*Conn{{c, s}, {s, c}} {
		w, r := pair[0], pair[1]
		wg.Add(2)
		go func() {
			defer wg.Done()
			src := bytes.NewReader(data)
			buf := make([]byte, 7777) // odd sizes take the slow MAC path
			for {
				n, err := src.Read(buf)
				if n > 0 {
					if _, err := w.Write(buf[:n]); err != nil {
						t.Error(err)
						return
					}
				}
				if err != nil {
					break
				}
			}
			if err := w.CloseWrite(); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			h := sha256.New()
			n, err := io.Copy(h, r)
			if err != nil || n != size || !bytes.Equal(h.Sum(nil), want[:]) {
				t.Errorf("received %d bytes, err %v, hash ok %v", n, err, bytes.Equal(h.Sum(nil), want[:]))
			}
		}()
	}
	wg.Wait()
}

func TestFromHandshake(t *testing.T) {
	a, b := tcpPair(t)
	var h Handshake
	rand.Read(h.Tx[:])
	rand.Read(h.Rx[:])
	rand.Read(h.Hash[:])
	h.Initiator = true
	h.PublicKey = newKey(t).Public().(ed25519.PublicKey)
	h.RemotePublicKey = newKey(t).Public().(ed25519.PublicKey)
	r := Handshake{Initiator: false, Tx: h.Rx, Rx: h.Tx, Hash: h.Hash, PublicKey: h.RemotePublicKey, RemotePublicKey: h.PublicKey}

	c, err := FromHandshake(a, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := FromHandshake(b, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer s.Close()
	if !bytes.Equal(c.RemotePublicKey(), h.RemotePublicKey) || !bytes.Equal(s.HandshakeHash(), h.Hash[:]) {
		t.Fatal("keys or hash not kept")
	}
	if err := s.Handshake(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.WriteMessage([]byte("from handshake"))
	m, err := s.ReadMessage()
	if err != nil || string(m) != "from handshake" {
		t.Fatalf("%q %v", m, err)
	}

	// Mismatched roles: both claim to be the initiator, so each expects
	// the responder's stream id and sees the initiator's.
	a2, b2 := tcpPair(t)
	c2, _ := FromHandshake(a2, h, nil)
	bad := r
	bad.Initiator = true
	s2, _ := FromHandshake(b2, bad, nil)
	defer c2.Close()
	defer s2.Close()
	if _, err := s2.ReadMessage(); !errors.Is(err, ErrStreamID) {
		t.Fatalf("wrong role: %v, want ErrStreamID", err)
	}
}

func TestStreamIDNamespaces(t *testing.T) {
	// Known answers from hypercore-crypto and NoiseSecretStream.id.
	want := map[[32]byte]string{
		nsInitiator: "a931a0155b5c09e6d28628236af83c4b8a6af9af60986edeede9dc5d63192bf7",
		nsResponder: "742c9d833d430af4c48a8705e91631eecf295442bbca18996e597097723b1061",
	}
	for ns, hexWant := range want {
		if got := hexEncode(ns[:]); got != hexWant {
			t.Errorf("namespace %s, want %s", got, hexWant)
		}
	}
	var hash [64]byte
	for i := range hash {
		hash[i] = byte(i)
	}
	if got := hexEncode(sliceOf(StreamID(hash[:], true))); got != streamIDInitiator0to63 {
		t.Errorf("initiator id %s", got)
	}
	if got := hexEncode(sliceOf(StreamID(hash[:], false))); got != streamIDResponder0to63 {
		t.Errorf("responder id %s", got)
	}
}

// NoiseSecretStream.id(hash, isInitiator) for hash = 0, 1, ..., 63.
const (
	streamIDInitiator0to63 = "6a6344079ec552b1b651071f41f6731d07896fe7381cf27ed929c44d972bfcf9"
	streamIDResponder0to63 = "4858b029dfec176e417def1e8004aab76bceffa36b0d3ceacd656175608e2372"
)

func sliceOf(a [32]byte) []byte { return a[:] }

func hexEncode(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, v := range b {
		out[2*i], out[2*i+1] = digits[v>>4], digits[v&15]
	}
	return string(out)
}

func TestReadDeadlineRecoverable(t *testing.T) {
	c, s := handshakePair(t, nil, nil)
	s.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := s.Read(make([]byte, 10)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v, want deadline", err)
	}
	s.SetReadDeadline(time.Time{})
	c.Write([]byte("after"))
	buf := make([]byte, 10)
	n, err := s.Read(buf)
	if err != nil || string(buf[:n]) != "after" {
		t.Fatalf("%q %v", buf[:n], err)
	}
}

func TestHandshakeContext(t *testing.T) {
	a, _ := tcpPair(t)
	s := Server(a, nil)
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Handshake(ctx); !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("got %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("handshake did not honour the context")
	}

	b, _ := tcpPair(t)
	s2 := Server(b, &Config{HandshakeTimeout: 40 * time.Millisecond})
	defer s2.Close()
	if err := s2.Handshake(context.Background()); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("HandshakeTimeout: got %v", err)
	}
}

func TestKeepAliveAndTimeout(t *testing.T) {
	// The client sends keepalives; the server's idle timeout never fires,
	// and the empty frames never show up as data.
	// (Generous ratios: CI machines stall timers for hundreds of ms.)
	c, s := handshakePair(t, &Config{KeepAlive: 20 * time.Millisecond}, &Config{Timeout: time.Second})
	done := make(chan error, 1)
	go func() {
		m, err := s.ReadMessage()
		if err == nil && string(m) != "data" {
			err = errors.New("unexpected message " + string(m))
		}
		done <- err
	}()
	time.Sleep(1500 * time.Millisecond)
	// Empty frames arrived in the meantime (and were not delivered).
	if got := time.Duration(s.lastRecv.Load()); got < time.Second {
		t.Fatalf("last receive at %v: no keepalives seen", got)
	}
	c.WriteMessage([]byte("data"))
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// A silent peer: the server times out. (The timeout is long enough for
	// the handshake on a loaded machine; the bound below only catches a
	// timer that never fires.)
	_, s2 := handshakePair(t, nil, &Config{Timeout: time.Second})
	start := time.Now()
	if _, err := s2.ReadMessage(); !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

// TestTimeoutDuringHandshake: an idle timeout that fires before the
// handshake completes is reported as ErrTimeout, not as the closed socket.
func TestTimeoutDuringHandshake(t *testing.T) {
	a, _ := tcpPair(t) // the peer never answers
	c := Client(a, &Config{Timeout: 20 * time.Millisecond})
	if err := c.Handshake(context.Background()); !errors.Is(err, ErrTimeout) {
		t.Fatalf("got %v, want ErrTimeout", err)
	}
}

func TestWriteMessageTooLarge(t *testing.T) {
	c, _ := handshakePair(t, nil, nil)
	if err := c.WriteMessage(make([]byte, MaxMessageSize+1)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("got %v", err)
	}
	if err := c.WriteMessage([]byte("still fine")); err != nil {
		t.Fatal(err)
	}
}

func TestLargeMessage(t *testing.T) {
	c, s := handshakePair(t, nil, nil)
	msg := make([]byte, 3<<20+5)
	rand.Read(msg)
	go c.WriteMessage(msg)
	got, err := s.ReadMessage()
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("large message: %d bytes, %v", len(got), err)
	}
}

func TestCloseUnblocks(t *testing.T) {
	c, _ := handshakePair(t, nil, nil)
	errs := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		errs <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-errs:
		if err == nil {
			t.Fatal("read returned no error after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock Read")
	}
	if err := c.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close: %v", err)
	}
}

// TestSteadyStateAllocs checks that the frame path allocates nothing once
// the buffers exist.
func TestSteadyStateAllocs(t *testing.T) {
	c, s := handshakePair(t, nil, nil)
	for _, size := range []int{100, 1001, 16 << 10, 64 << 10} {
		msg := make([]byte, size)
		buf := make([]byte, size)
		// Warm up buffers.
		for range 3 {
			c.WriteMessage(msg)
			s.ReadMessage()
		}
		allocs := testing.AllocsPerRun(200, func() {
			if err := c.WriteMessage(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ReadMessage(); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Write(msg); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("size %d: %v allocs per write+read", size, allocs)
		}
	}
}
