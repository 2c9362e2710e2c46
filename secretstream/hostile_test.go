package secretstream

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// rawPeer writes a secret-stream by hand so tests can break it.
type rawPeer struct {
	push sodiumState
}

// testKeys returns the two sides of a made-up completed handshake.
func testKeys() (initiator, responder Handshake) {
	var h Handshake
	for i := range h.Tx {
		h.Tx[i] = byte(i)
		h.Rx[i] = byte(100 + i)
	}
	for i := range h.Hash {
		h.Hash[i] = byte(7 * i)
	}
	h.Initiator = true
	r := Handshake{Tx: h.Rx, Rx: h.Tx, Hash: h.Hash}
	return h, r
}

// header returns the header frame of side h with the given stream id
// (nil: the right one) and sets up the peer's push state.
func (p *rawPeer) header(h Handshake, id []byte) []byte {
	if id == nil {
		sid := StreamID(h.Hash[:], h.Initiator)
		id = sid[:]
	}
	var hdr [sodiumHeaderBytes]byte
	rand.Read(hdr[:])
	p.push.init(&h.Tx, &hdr)
	out := make([]byte, 3, 3+len(id)+len(hdr))
	putUint24(out, len(id)+len(hdr))
	out = append(out, id...)
	return append(out, hdr[:]...)
}

// frame returns the wire bytes of one message.
func (p *rawPeer) frame(msg []byte) []byte {
	buf := make([]byte, blockBytes+len(msg)+macBytes)
	copy(buf[blockBytes:], msg)
	p.push.seal(buf, tagMessage)
	putUint24(buf[headroom-3:], len(msg)+sodiumABytes)
	return buf[headroom-3:]
}

// hostile starts a Go responder over TCP and returns it with the raw
// socket of its peer.
func hostile(t *testing.T, cfg *Config) (*Conn, net.Conn, *rawPeer, Handshake) {
	t.Helper()
	a, b := tcpPair(t)
	ini, resp := testKeys()
	c, err := FromHandshake(b, resp, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, a, &rawPeer{}, ini
}

// expectClosed checks that the Go side closed the socket.
func expectClosed(t *testing.T, peer net.Conn) {
	t.Helper()
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, peer); err != nil && !errors.Is(err, net.ErrClosed) {
		// a reset is as good as an EOF
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the connection was not closed")
		}
	}
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestForgedFrame(t *testing.T) {
	for _, byteMode := range []bool{false, true} {
		c, peer, p, ini := hostile(t, nil)
		hdr := p.header(ini, nil)
		good, bad, after := p.frame([]byte("one")), p.frame([]byte("two")), p.frame([]byte("three"))
		bad[5] ^= 0x80 // a byte of the ciphertext of "two"
		peer.Write(cat(hdr, good, bad, after))

		var got []byte
		var err error
		if byteMode {
			got, err = io.ReadAll(c)
		} else {
			var m []byte
			m, err = c.ReadMessage()
			got = append(got, m...)
			if err == nil {
				_, err = c.ReadMessage()
			}
		}
		if !errors.Is(err, ErrAuth) {
			t.Fatalf("byteMode %v: err %v, want ErrAuth", byteMode, err)
		}
		if string(got) != "one" {
			t.Fatalf("byteMode %v: delivered %q, want only %q", byteMode, got, "one")
		}
		if _, err := c.ReadMessage(); !errors.Is(err, ErrAuth) {
			t.Fatalf("error not sticky: %v", err)
		}
		expectClosed(t, peer)
	}
}

func TestReplayedFrame(t *testing.T) {
	c, peer, p, ini := hostile(t, nil)
	hdr := p.header(ini, nil)
	one := p.frame([]byte("one"))
	peer.Write(cat(hdr, one, one))
	if m, err := c.ReadMessage(); err != nil || string(m) != "one" {
		t.Fatalf("%q %v", m, err)
	}
	if m, err := c.ReadMessage(); !errors.Is(err, ErrAuth) {
		t.Fatalf("replay: %q %v, want ErrAuth", m, err)
	}
	expectClosed(t, peer)
}

func TestReorderedFrames(t *testing.T) {
	c, peer, p, ini := hostile(t, nil)
	hdr := p.header(ini, nil)
	one, two := p.frame([]byte("one")), p.frame([]byte("two"))
	peer.Write(cat(hdr, two, one))
	if m, err := c.ReadMessage(); !errors.Is(err, ErrAuth) {
		t.Fatalf("reordered: %q %v, want ErrAuth", m, err)
	}
}

func TestWrongStreamID(t *testing.T) {
	c, peer, p, ini := hostile(t, nil)
	bad := StreamID(ini.Hash[:], false) // the responder's id, not the initiator's
	peer.Write(cat(p.header(ini, bad[:]), p.frame([]byte("data"))))
	buf := make([]byte, 10)
	if n, err := c.Read(buf); !errors.Is(err, ErrStreamID) || n != 0 {
		t.Fatalf("read %d, %v; want ErrStreamID", n, err)
	}
	expectClosed(t, peer)
}

func TestInvalidHeader(t *testing.T) {
	for _, size := range []int{0, 55, 57, 1000} {
		c, peer, _, _ := hostile(t, nil)
		msg := make([]byte, 3+size)
		putUint24(msg, size)
		peer.Write(msg)
		if _, err := c.ReadMessage(); !errors.Is(err, ErrInvalidHeader) {
			t.Fatalf("header of %d bytes: %v", size, err)
		}
		expectClosed(t, peer)
	}
}

func TestFrameTooLarge(t *testing.T) {
	c, peer, p, ini := hostile(t, &Config{MaxFrameSize: 1024})
	hdr := p.header(ini, nil)
	small := p.frame([]byte("small"))
	big := p.frame(make([]byte, 2000)) // authentic, but over the limit
	peer.Write(cat(hdr, small, big))
	if m, err := c.ReadMessage(); err != nil || string(m) != "small" {
		t.Fatalf("%q %v", m, err)
	}
	if m, err := c.ReadMessage(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("%d bytes, %v; want ErrFrameTooLarge", len(m), err)
	}
	expectClosed(t, peer)

	// Without a configured limit the 3-byte length caps it, and a length
	// announcing more than arrives is just a truncated stream.
	c2, peer2, p2, ini2 := hostile(t, nil)
	hdr = []byte{0xff, 0xff, 0xff, 1, 2, 3}
	peer2.Write(cat(p2.header(ini2, nil), hdr))
	peer2.(*net.TCPConn).CloseWrite()
	if _, err := c2.ReadMessage(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated: %v", err)
	}
}

func TestShortFrame(t *testing.T) {
	for _, n := range []int{0, 1, 16} {
		c, peer, p, ini := hostile(t, nil)
		f := make([]byte, 3+n)
		putUint24(f, n)
		peer.Write(cat(p.header(ini, nil), f))
		if _, err := c.ReadMessage(); !errors.Is(err, ErrShortFrame) {
			t.Fatalf("frame of %d: %v", n, err)
		}
	}
}

func TestTruncatedFrame(t *testing.T) {
	c, peer, p, ini := hostile(t, nil)
	hdr := p.header(ini, nil)
	f := p.frame([]byte("cut short"))
	peer.Write(cat(hdr, f[:len(f)-3]))
	peer.(*net.TCPConn).CloseWrite()
	if m, err := c.ReadMessage(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("%q %v", m, err)
	}
}

func TestEmptyFramesSkipped(t *testing.T) {
	c, peer, p, ini := hostile(t, nil)
	peer.Write(cat(p.header(ini, nil), p.frame(nil), p.frame(nil), p.frame([]byte("x")), p.frame(nil)))
	peer.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "x" {
		t.Fatalf("%q %v", got, err)
	}
}

func TestBadHandshake(t *testing.T) {
	cases := map[string][]byte{
		"garbage e":       cat([]byte{32, 0, 0}, bytes.Repeat([]byte{0xee}, 32)),
		"short message":   {3, 0, 0, 1, 2, 3},
		"oversized frame": {0xff, 0xff, 0x0f},
		"eof":             nil,
	}
	for name, input := range cases {
		t.Run(name, func(t *testing.T) {
			a, b := tcpPair(t)
			s := Server(b, nil)
			defer s.Close()
			a.Write(input)
			a.CloseWrite()
			err := s.Handshake(context.Background())
			if !errors.Is(err, ErrHandshake) {
				t.Fatalf("got %v, want ErrHandshake", err)
			}
			if _, err := s.Write([]byte("x")); err == nil {
				t.Fatal("write after failed handshake")
			}
		})
	}
}

// memConn is a net.Conn that reads from a buffer and discards writes.
type memConn struct {
	r io.Reader
}

func (m *memConn) Read(p []byte) (int, error)         { return m.r.Read(p) }
func (m *memConn) Write(p []byte) (int, error)        { return len(p), nil }
func (m *memConn) Close() error                       { return nil }
func (m *memConn) LocalAddr() net.Addr                { return &net.TCPAddr{} }
func (m *memConn) RemoteAddr() net.Addr               { return &net.TCPAddr{} }
func (m *memConn) SetDeadline(t time.Time) error      { return nil }
func (m *memConn) SetReadDeadline(t time.Time) error  { return nil }
func (m *memConn) SetWriteDeadline(t time.Time) error { return nil }

// FuzzReadFrames feeds arbitrary bytes to the receiving side after a
// completed handshake. Seeds are valid streams; the property is that
// nothing panics and a valid stream decodes to its messages.
func FuzzReadFrames(f *testing.F) {
	ini, resp := testKeys()
	// The fuzzer cannot find valid MACs, so seeds carry the good paths and
	// mutations explore the failure paths.
	msgs := [][]byte{[]byte("hello"), nil, make([]byte, 1000), []byte("world")}
	var p rawPeer
	valid := p.header(ini, nil)
	for _, m := range msgs {
		valid = append(valid, p.frame(m)...)
	}
	f.Add(valid, true)
	f.Add(valid[:len(valid)-1], false)
	f.Add(valid[:59], false)
	f.Add([]byte{0, 0, 0}, false)
	f.Add([]byte{0xff, 0xff, 0xff}, false)
	f.Fuzz(func(t *testing.T, data []byte, isValid bool) {
		c, err := FromHandshake(&memConn{r: bytes.NewReader(data)}, resp, &Config{MaxFrameSize: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		var got [][]byte
		for {
			m, err := c.ReadMessage()
			if err != nil {
				if isValid && bytes.Equal(data, valid) {
					if err != io.EOF {
						t.Fatalf("valid stream failed: %v", err)
					}
					want := [][]byte{msgs[0], msgs[2], msgs[3]}
					if len(got) != len(want) {
						t.Fatalf("got %d messages", len(got))
					}
					for i := range want {
						if !bytes.Equal(got[i], want[i]) {
							t.Fatalf("message %d differs", i)
						}
					}
				}
				return
			}
			got = append(got, bytes.Clone(m))
		}
	})
}

// FuzzHandshake feeds arbitrary bytes to both roles of the Noise
// handshake; it must fail cleanly, never panic.
func FuzzHandshake(f *testing.F) {
	f.Add([]byte{32, 0, 0, 1, 2, 3}, false)
	f.Add(cat([]byte{32, 0, 0}, bytes.Repeat([]byte{9}, 32)), false)
	f.Add(cat([]byte{96, 0, 0}, bytes.Repeat([]byte{9}, 96)), true)
	f.Fuzz(func(t *testing.T, data []byte, initiator bool) {
		raw := &memConn{r: bytes.NewReader(data)}
		c := newConn(raw, &Config{HandshakeTimeout: -1}, initiator)
		if err := c.Handshake(context.Background()); err == nil {
			t.Fatal("handshake with random bytes succeeded")
		}
	})
}

// FuzzSealOpen checks the round trip of the primitive for any message and
// tag, and that any change to the ciphertext is rejected.
func FuzzSealOpen(f *testing.F) {
	f.Add([]byte("message"), byte(0), 3)
	f.Add([]byte{}, byte(2), 0)
	f.Add(make([]byte, 129), byte(3), 100)
	f.Fuzz(func(t *testing.T, msg []byte, tag byte, flip int) {
		var key [32]byte
		var header [sodiumHeaderBytes]byte
		key[0], header[0] = 1, 2
		var push, pull sodiumState
		push.init(&key, &header)
		pull.init(&key, &header)
		c := sealMessage(&push, msg, tag)
		if flip >= 0 && flip < len(c) {
			bad := bytes.Clone(c)
			bad[flip] ^= 1
			if _, _, err := openMessage(&pull, bad); err == nil {
				t.Fatal("tampered message opened")
			}
		}
		gotTag, got, err := openMessage(&pull, c)
		if err != nil || gotTag != tag || !bytes.Equal(got, msg) {
			t.Fatalf("round trip: tag %d err %v", gotTag, err)
		}
	})
}
