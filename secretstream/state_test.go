package secretstream

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests walk the paths by which a read could reach the frame decoder
// before the receive cipher exists: a Handshake that failed (context
// already over, context or HandshakeTimeout ending during the header wait,
// a header that arrives in pieces around the timeout), a Close during the
// header wait, and Read, Handshake, Close and datagrams racing. None may
// panic, and a read after a failed Handshake returns that failure.

// TestHandshakeExpiredContextThenRead: a Handshake given a context that is
// already over fails, closes the connection, and every later Read, Write
// and Handshake returns that same error.
func TestHandshakeExpiredContextThenRead(t *testing.T) {
	for _, explicit := range []bool{false, true} {
		var c *Conn
		var peer net.Conn
		var p *rawPeer
		var ini Handshake
		if explicit {
			c, peer, p, ini = hostile(t, nil) // FromHandshake: Noise done, header pending
		} else {
			a, b := tcpPair(t)
			c, peer = Server(b, nil), a // the Noise handshake has not run
			t.Cleanup(func() { c.Close() })
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := c.Handshake(ctx)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("explicit=%v: Handshake: %v, want context.Canceled", explicit, err)
		}
		if p != nil {
			// The header and data arrive after the failure: they must not
			// be read, and certainly not decrypted without a cipher.
			peer.Write(cat(p.header(ini, nil), p.frame([]byte("late"))))
		}
		if _, rerr := c.Read(make([]byte, 8)); !errors.Is(rerr, context.Canceled) {
			t.Fatalf("explicit=%v: Read after failed Handshake: %v", explicit, rerr)
		}
		if _, rerr := c.ReadMessage(); !errors.Is(rerr, context.Canceled) {
			t.Fatalf("explicit=%v: ReadMessage after failed Handshake: %v", explicit, rerr)
		}
		if herr := c.Handshake(context.Background()); !errors.Is(herr, context.Canceled) {
			t.Fatalf("explicit=%v: second Handshake: %v", explicit, herr)
		}
		if _, werr := c.Write([]byte("x")); werr == nil {
			t.Fatalf("explicit=%v: Write after failed Handshake succeeded", explicit)
		}
		expectClosed(t, peer)
	}
}

// TestHandshakeTimeoutThenRead: the peer's header comes after the
// Handshake gave up (by its context or by Config.HandshakeTimeout), in one
// piece or split around the timeout. The Handshake error sticks: a later
// Read returns it instead of reading frames with no receive cipher.
func TestHandshakeTimeoutThenRead(t *testing.T) {
	for _, byCtx := range []bool{false, true} {
		for _, split := range []bool{false, true} {
			cfg := &Config{HandshakeTimeout: 50 * time.Millisecond}
			if byCtx {
				cfg = nil
			}
			c, peer, p, ini := hostile(t, cfg)
			hdr := p.header(ini, nil)
			if split {
				peer.Write(hdr[:10]) // the length and part of the id
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			err := c.Handshake(ctx)
			cancel()
			if err == nil {
				t.Fatalf("ctx=%v split=%v: Handshake succeeded without a header", byCtx, split)
			}
			if split {
				hdr = hdr[10:]
			}
			peer.Write(cat(hdr, p.frame([]byte("after the timeout"))))
			if _, rerr := c.ReadMessage(); !errors.Is(rerr, err) {
				t.Fatalf("ctx=%v split=%v: ReadMessage: %v, want the Handshake error %v", byCtx, split, rerr, err)
			}
			expectClosed(t, peer)
		}
	}
}

// TestReadDeadlineBeforeHeader: a Read (not a Handshake) whose deadline
// passes while the header is half there leaves the connection usable, and
// the next Read decrypts the data once the rest of the header arrives.
func TestReadDeadlineBeforeHeader(t *testing.T) {
	c, peer, p, ini := hostile(t, nil)
	hdr := p.header(ini, nil)
	peer.Write(hdr[:20])
	c.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	if _, err := c.ReadMessage(); !isTimeout(err) {
		t.Fatalf("got %v, want a deadline error", err)
	}
	c.SetReadDeadline(time.Time{})
	peer.Write(cat(hdr[20:], p.frame([]byte("whole"))))
	m, err := c.ReadMessage()
	if err != nil || string(m) != "whole" {
		t.Fatalf("got %q %v", m, err)
	}
}

// TestCloseDuringHeaderWait: Close while a Handshake and a Read wait for
// the header ends both with an error, and the late header is not read.
func TestCloseDuringHeaderWait(t *testing.T) {
	c, peer, p, ini := hostile(t, nil)
	errs := make(chan error, 2)
	go func() { errs <- c.Handshake(context.Background()) }()
	go func() { _, err := c.ReadMessage(); errs <- err }()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	for range 2 {
		select {
		case err := <-errs:
			if err == nil {
				t.Fatal("no error after Close")
			}
		case <-time.After(30 * time.Second):
			t.Fatal("Close did not unblock the header wait")
		}
	}
	peer.Write(cat(p.header(ini, nil), p.frame([]byte("late"))))
	if _, err := c.ReadMessage(); err == nil {
		t.Fatal("read after Close succeeded")
	}
}

// TestOpenWithoutCipher: the frame decoder refuses, as an error value, to
// open a frame with a state that was never set up.
func TestOpenWithoutCipher(t *testing.T) {
	var s sodiumState
	frame := make([]byte, headroom+sodiumABytes+5)
	if _, _, err := s.open(frame); !errors.Is(err, errNoCipher) {
		t.Fatalf("got %v, want errNoCipher", err)
	}
}

// TestConcurrentReadHandshakeClose races, on one connection, a reader, a
// Handshake with a short random deadline, datagram calls, a keepalive
// writer and a Close, while the peer sends its header and data after a
// random delay, sometimes in pieces. Run it with -race -count=200; it must
// never panic, and a read either gets the data in order or fails.
func TestConcurrentReadHandshakeClose(t *testing.T) {
	const rounds = 8
	for range rounds {
		c, peer, p, ini := hostile(t, &Config{KeepAlive: time.Millisecond})
		wire := cat(p.header(ini, nil), p.frame([]byte("one")), p.frame(nil), p.frame([]byte("two")))
		var wg sync.WaitGroup
		wg.Add(5)
		go func() { // the peer
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
			cut := rand.IntN(len(wire) + 1)
			peer.Write(wire[:cut])
			time.Sleep(time.Duration(rand.IntN(2000)) * time.Microsecond)
			peer.Write(wire[cut:])
		}()
		go func() { // the reader
			defer wg.Done()
			for _, want := range []string{"one", "two"} {
				m, err := c.ReadMessage()
				if err != nil {
					return
				}
				if string(m) != want {
					t.Errorf("read %q, want %q", m, want)
					return
				}
			}
		}()
		go func() { // a Handshake with a short deadline
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rand.IntN(4000))*time.Microsecond)
			defer cancel()
			if err := c.Handshake(ctx); err != nil {
				if _, rerr := c.Read(make([]byte, 1)); rerr == nil {
					t.Error("Read succeeded after a failed Handshake")
				}
			}
		}()
		go func() { // datagrams: not a DatagramConn, must just fail
			defer wg.Done()
			_ = c.SendDatagram([]byte("d"))
			ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
			defer cancel()
			_, _ = c.ReadDatagram(ctx)
		}()
		go func() { // a Close at a random moment
			defer wg.Done()
			time.Sleep(time.Duration(rand.IntN(5000)) * time.Microsecond)
			c.Close()
		}()
		wg.Wait()
	}
}

// hookConn is a net.Conn that reads from r and runs onRead (once) just
// before its first Read returns: the place where a Close that races with
// a read lands after the bytes came in but before they are checked.
type hookConn struct {
	memConn
	once   sync.Once
	onRead func()
}

func (h *hookConn) Read(p []byte) (int, error) {
	n, err := h.memConn.Read(p)
	h.once.Do(h.onRead)
	return n, err
}

// TestCloseWhileCheckingHeader: Close runs after the raw read returned a
// bad header (wrong stream id, wrong size, oversized) or a bad first frame,
// but before the check. The check's failure must still be returned: it
// used to come back as nil (Close records no failure), and the reader then
// decrypted the next frame with no receive cipher, a nil-pointer panic.
func TestCloseWhileCheckingHeader(t *testing.T) {
	ini, resp := testKeys()
	var p rawPeer
	good := p.header(ini, nil)
	// Messages of a multiple of 8 bytes take the AEAD path of open, where
	// the missing cipher used to be dereferenced.
	frames := cat(p.frame([]byte("message1")), p.frame([]byte("message2")))
	var q rawPeer
	q.header(ini, nil)
	forgedFrame := q.frame([]byte("forged!!")) // under another header's key
	wrongID := make([]byte, 32)
	cases := map[string][]byte{
		"stream id":      cat(p.header(ini, wrongID), frames),
		"header size":    cat([]byte{40, 0, 0}, make([]byte, 40), frames),
		"header too big": cat([]byte{0xff, 0xff, 0x0f}, make([]byte, 100)),
		"forged frame":   cat(good, forgedFrame),
		"short frame":    cat(good, []byte{3, 0, 0, 1, 2, 3}),
		"frame too big":  cat(good, []byte{0xff, 0xff, 0xff}),
	}
	for name, wire := range cases {
		t.Run(name, func(t *testing.T) {
			for _, viaHandshake := range []bool{false, true} {
				hc := &hookConn{memConn: memConn{r: bytes.NewReader(wire)}}
				c, err := FromHandshake(hc, resp, &Config{MaxFrameSize: 1 << 20})
				if err != nil {
					t.Fatal(err)
				}
				hc.onRead = func() { c.Close() }
				if viaHandshake {
					err = c.Handshake(context.Background())
					if err == nil && !strings.Contains(name, "frame") {
						t.Fatal("Handshake accepted a bad header")
					}
				}
				for range 3 {
					if m, err := c.ReadMessage(); err == nil {
						t.Fatalf("handshake=%v: read %q from a bad stream", viaHandshake, m)
					}
				}
			}
		})
	}
}

// TestHandshakeAfterClose: a handshake on a closed connection fails, and
// so does a read; neither panics nor pretends to have a stream.
func TestHandshakeAfterClose(t *testing.T) {
	for _, explicit := range []bool{false, true} {
		var c *Conn
		if explicit {
			c, _, _, _ = hostile(t, nil)
		} else {
			_, b := tcpPair(t)
			c = Client(b, nil)
		}
		c.Close()
		if err := c.Handshake(context.Background()); err == nil {
			t.Fatalf("explicit=%v: handshake on a closed connection succeeded", explicit)
		}
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Fatalf("explicit=%v: read on a closed connection succeeded", explicit)
		}
	}
}

// FuzzReadAfterClose feeds arbitrary bytes to a receiving side that is
// closed just after its first raw read returned them, the race that used
// to let a bad header pass. Property: no panic, nothing but an error once
// one was returned, and optionally an explicit Handshake first.
func FuzzReadAfterClose(f *testing.F) {
	ini, resp := testKeys()
	var p rawPeer
	valid := p.header(ini, nil)
	valid = append(valid, p.frame([]byte("message1"))...)
	var q rawPeer
	q.header(ini, nil)
	f.Add(valid, false)
	f.Add(valid, true)
	f.Add(cat(q.header(ini, make([]byte, 32)), q.frame([]byte("message1"))), false)
	f.Add(cat([]byte{40, 0, 0}, make([]byte, 40), p.frame([]byte("message2"))), true)
	f.Fuzz(func(t *testing.T, data []byte, handshake bool) {
		hc := &hookConn{memConn: memConn{r: bytes.NewReader(data)}}
		c, err := FromHandshake(hc, resp, &Config{MaxFrameSize: 1 << 16})
		if err != nil {
			t.Fatal(err)
		}
		hc.onRead = func() { c.Close() }
		if handshake {
			_ = c.Handshake(context.Background())
		}
		failed := false
		for range 4 {
			_, err := c.ReadMessage()
			if err == nil && failed {
				t.Fatal("a read succeeded after an error")
			}
			failed = failed || err != nil
		}
	})
}
