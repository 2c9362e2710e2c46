package secretstream

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/warrenp2p/warren/udx"
)

// udxPair returns two connected UDX streams on loopback.
func udxPair(t *testing.T) (*udx.Stream, *udx.Stream) {
	t.Helper()
	u := udx.New(nil)
	sa, err := u.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sb, err := u.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sa.Close(); sb.Close() })
	addr := func(s *udx.Socket) netip.AddrPort { return s.LocalAddr() }
	a, err := udx.Connect(sa, 1, 2, addr(sb), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := udx.Connect(sb, 2, 1, addr(sa), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Destroy(); b.Destroy() })
	return a, b
}

func fromHandshakePair(t *testing.T, a, b net.Conn) (*Conn, *Conn) {
	t.Helper()
	var h Handshake
	rand.Read(h.Tx[:])
	rand.Read(h.Rx[:])
	rand.Read(h.Hash[:])
	h.Initiator = true
	ca, err := FromHandshake(a, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	h2 := h
	h2.Initiator = false
	h2.Tx, h2.Rx = h.Rx, h.Tx
	cb, err := FromHandshake(b, h2, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ca, cb
}

func TestDatagramsOverUDX(t *testing.T) {
	a, b := udxPair(t)
	ca, cb := fromHandshakePair(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i, pair := range [][2]*Conn{{ca, cb}, {cb, ca}} {
		for _, msg := range []string{"hello", "", "third"} {
			if err := pair[0].SendDatagram([]byte(msg)); err != nil {
				t.Fatal(err)
			}
			got, err := pair[1].ReadDatagram(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != msg {
				t.Fatalf("direction %d: got %q want %q", i, got, msg)
			}
		}
	}
	// Junk and a datagram boxed under the wrong key are dropped; the
	// next good one still arrives.
	a.SendMessage([]byte("short"))
	junk := make([]byte, 64)
	a.SendMessage(junk)
	ca.SendDatagram([]byte("after junk"))
	got, err := cb.ReadDatagram(ctx)
	if err != nil || string(got) != "after junk" {
		t.Fatalf("got %q, %v", got, err)
	}
	// The byte stream still works beside the datagrams.
	go ca.Write([]byte("stream"))
	buf := make([]byte, 6)
	if _, err := cb.Read(buf); err != nil || string(buf) != "stream" {
		t.Fatalf("stream read %q %v", buf, err)
	}
}

func TestDatagramNoMessageConn(t *testing.T) {
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	go func() {
		buf := make([]byte, 128)
		for {
			if _, err := p2.Read(buf); err != nil {
				return
			}
		}
	}()
	h := Handshake{Initiator: true}
	c, err := FromHandshake(p1, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SendDatagram([]byte("x")); !errors.Is(err, ErrNoDatagrams) {
		t.Fatalf("got %v", err)
	}
}

func TestDatagramKeysAndNonces(t *testing.T) {
	hash := make([]byte, 64)
	rand.Read(hash)
	ini := newDatagramState(hash, true)
	res := newDatagramState(hash, false)
	if ini.send != res.recv || ini.recv != res.send || ini.send == ini.recv {
		t.Fatal("keys do not pair up")
	}
	b1, _ := ini.seal([]byte("a"))
	b2, _ := ini.seal([]byte("a"))
	if string(b1[:8]) == string(b2[:8]) {
		t.Fatal("counter did not advance")
	}
	if p, err := OpenDatagram(&res.recv, b1); err != nil || string(p) != "a" {
		t.Fatalf("open: %q %v", p, err)
	}
	b1[len(b1)-1] ^= 1
	if _, err := OpenDatagram(&res.recv, b1); !errors.Is(err, ErrDatagramFormat) {
		t.Fatalf("tampered: %v", err)
	}
	// The counter wraps back to its start: exhausted.
	ini.counter = ini.initial - 1
	if _, err := ini.seal(nil); !errors.Is(err, ErrNonceExhausted) {
		t.Fatalf("got %v", err)
	}
}

func FuzzOpenDatagram(f *testing.F) {
	var key [32]byte
	s := &datagramState{send: key, recv: key}
	b, _ := s.seal([]byte("seed"))
	f.Add(b)
	f.Add([]byte{})
	f.Add(make([]byte, 24))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := OpenDatagram(&key, b)
		if err == nil && len(p) != len(b)-DatagramOverhead {
			t.Fatalf("plaintext %d from %d bytes", len(p), len(b))
		}
	})
}
