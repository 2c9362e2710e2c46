package interop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/warrenp2p/warren/udx"
)

// udxBulk is the size of each bulk transfer, in both directions.
const udxBulk = 256 << 20

func udxListen(t *testing.T, u *udx.UDX) *udx.Socket {
	t.Helper()
	s, err := u.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func jsAddr(t *testing.T, p *Proc) netip.AddrPort {
	t.Helper()
	port, err := strconv.Atoi(p.Expect(t, "port "))
	if err != nil {
		t.Fatal(err)
	}
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port))
}

// writeRandom writes n pseudo-random bytes and returns their SHA-256.
func writeRandom(w io.Writer, n int, seed byte) (string, error) {
	var key [32]byte
	key[0] = seed
	rng := rand.NewChaCha8(key)
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for n > 0 {
		b := buf[:min(n, len(buf))]
		rng.Read(b)
		h.Write(b)
		if _, err := w.Write(b); err != nil {
			return "", err
		}
		n -= len(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func readHash(r io.Reader) (int64, string, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return n, hex.EncodeToString(h.Sum(nil)), err
}

// TestInteropUDXGoToJS: a Go stream sends 256 MiB to a udx-native stream
// and half-closes; JS checks the hash, then writes after our end (the
// half-close left its side open) and ends; both sides close cleanly.
func TestInteropUDXGoToJS(t *testing.T) {
	env := Require(t)
	u := udx.New(nil)
	sock := udxListen(t, u)
	p := env.Start(t, "udx.js", "sink", "2", "1")
	s, err := udx.Connect(sock, 1, 2, jsAddr(t, p), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	fmt.Fprintf(p.Stdin, "connect %d\n", sock.LocalAddr().Port())
	start := time.Now()
	sum, err := writeRandom(s, udxBulk, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got := p.Expect(t, "recv ")
	t.Logf("Go->JS %d MiB in %v, %+v", udxBulk>>20, time.Since(start), s.Stats())
	if want := fmt.Sprintf("%d %s", udxBulk, sum); got != want {
		t.Fatalf("JS received %q, want %q", got, want)
	}
	rest, err := io.ReadAll(s)
	if err != nil || string(rest) != "after-end" {
		t.Fatalf("read after our end: %q %v", rest, err)
	}
	p.Expect(t, "closed")
	select {
	case <-s.Closed():
	case <-time.After(10 * time.Second):
		t.Fatal("Go stream did not close after both ends")
	}
	if s.Err() != nil {
		t.Fatalf("clean close reported %v", s.Err())
	}
	p.Wait(t)
}

// TestInteropUDXJSToGo: udx-native sends 256 MiB to a Go stream and ends;
// Go checks the hash against JS's, then writes back after the remote end.
func TestInteropUDXJSToGo(t *testing.T) {
	env := Require(t)
	u := udx.New(nil)
	sock := udxListen(t, u)
	p := env.Start(t, "udx.js", "source", "2", "1", strconv.Itoa(udxBulk))
	s, err := udx.Connect(sock, 1, 2, jsAddr(t, p), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	start := time.Now()
	fmt.Fprintf(p.Stdin, "connect %d\n", sock.LocalAddr().Port())
	n, sum, err := readHash(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("JS->Go %d MiB in %v", n>>20, time.Since(start))
	if got, want := p.Expect(t, "sent "), fmt.Sprintf("%d %s", n, sum); got != want {
		t.Fatalf("JS sent %q, Go received %q", got, want)
	}
	if _, err := s.Write([]byte("after-your-end")); err != nil {
		t.Fatal(err)
	}
	if err := s.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if got := p.Expect(t, "reply "); got != "after-your-end" {
		t.Fatalf("JS got reply %q", got)
	}
	p.Expect(t, "closed")
	p.Wait(t)
}

// TestInteropUDXDestroy: each side sees the other's destroy.
func TestInteropUDXDestroy(t *testing.T) {
	env := Require(t)
	t.Run("GoDestroys", func(t *testing.T) {
		u := udx.New(nil)
		sock := udxListen(t, u)
		p := env.Start(t, "udx.js", "idle", "2", "1")
		s, err := udx.Connect(sock, 1, 2, jsAddr(t, p), nil)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(p.Stdin, "connect %d\n", sock.LocalAddr().Port())
		if _, err := s.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		s.Destroy()
		if got := p.Expect(t, "error "); got != "ECONNRESET" {
			t.Fatalf("JS saw %q", got)
		}
		p.Expect(t, "closed")
		p.Wait(t)
	})
	t.Run("JSDestroys", func(t *testing.T) {
		u := udx.New(nil)
		sock := udxListen(t, u)
		p := env.Start(t, "udx.js", "idle", "2", "1")
		s, err := udx.Connect(sock, 1, 2, jsAddr(t, p), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Destroy()
		fmt.Fprintf(p.Stdin, "connect %d\ndestroy\n", sock.LocalAddr().Port())
		s.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := s.Read(make([]byte, 10)); !errors.Is(err, udx.ErrReset) {
			t.Fatalf("Go read after JS destroy: %v", err)
		}
		p.Expect(t, "closed")
		p.Wait(t)
	})
}

// TestInteropUDXDatagrams: datagrams and stream messages in both directions.
func TestInteropUDXDatagrams(t *testing.T) {
	env := Require(t)
	u := udx.New(nil)
	sock := udxListen(t, u)
	p := env.Start(t, "udx.js", "idle", "2", "1")
	js := jsAddr(t, p)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Go -> JS, and JS's echo back to Go
	if err := sock.WriteTo([]byte("hello from go"), js); err != nil {
		t.Fatal(err)
	}
	if got, want := p.Expect(t, "dgram "), fmt.Sprintf("hello from go %d", sock.LocalAddr().Port()); got != want {
		t.Fatalf("JS got %q, want %q", got, want)
	}
	d, err := sock.ReadFrom(ctx)
	if err != nil || string(d.Data) != "echo:hello from go" || d.From != js {
		t.Fatalf("echo %q from %v: %v", d.Data, d.From, err)
	}
	// JS -> Go unprompted
	fmt.Fprintf(p.Stdin, "dgram %d hello from js\n", sock.LocalAddr().Port())
	d, err = sock.ReadFrom(ctx)
	if err != nil || string(d.Data) != "hello from js" || d.From != js {
		t.Fatalf("datagram %q from %v: %v", d.Data, d.From, err)
	}

	// unordered messages on a stream
	s, err := udx.Connect(sock, 1, 2, js, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()
	fmt.Fprintf(p.Stdin, "connect %d\n", sock.LocalAddr().Port())
	time.Sleep(50 * time.Millisecond) // let JS connect before its echo
	if err := s.SendMessage([]byte("msg-go")); err != nil {
		t.Fatal(err)
	}
	if got := p.Expect(t, "message "); got != "msg-go" {
		t.Fatalf("JS message %q", got)
	}
	m, err := s.ReadMessage(ctx)
	if err != nil || string(m) != "echo:msg-go" {
		t.Fatalf("message echo %q %v", m, err)
	}
	fmt.Fprintf(p.Stdin, "message msg-js\n")
	m, err = s.ReadMessage(ctx)
	if err != nil || string(m) != "msg-js" {
		t.Fatalf("JS message %q %v", m, err)
	}
}

// TestInteropUDXChangeRemote: mid-transfer in each direction, the Go side
// moves its stream to a second socket and the JS side follows with
// changeRemote; the transfer completes intact.
func TestInteropUDXChangeRemote(t *testing.T) {
	env := Require(t)
	const size = 32 << 20
	t.Run("JSToGo", func(t *testing.T) {
		u := udx.New(nil)
		sock1, sock2 := udxListen(t, u), udxListen(t, u)
		p := env.Start(t, "udx.js", "source", "2", "1", strconv.Itoa(size))
		js := jsAddr(t, p)
		s, err := udx.Connect(sock1, 1, 2, js, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Destroy()
		fmt.Fprintf(p.Stdin, "connect %d\n", sock1.LocalAddr().Port())
		h := sha256.New()
		if _, err := io.CopyN(h, s, 8<<20); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ChangeRemote(sock2, 2, js); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(p.Stdin, "change %d\n", sock2.LocalAddr().Port())
		n, err := io.Copy(h, s)
		if err != nil {
			t.Fatal(err)
		}
		sum := hex.EncodeToString(h.Sum(nil))
		if got, want := p.Expect(t, "sent "), fmt.Sprintf("%d %s", n+8<<20, sum); got != want {
			t.Fatalf("JS sent %q, Go received %q", got, want)
		}
		s.CloseWrite()
		p.Expect(t, "closed")
	})
	t.Run("GoToJS", func(t *testing.T) {
		u := udx.New(nil)
		sock1, sock2 := udxListen(t, u), udxListen(t, u)
		p := env.Start(t, "udx.js", "sink", "2", "1")
		js := jsAddr(t, p)
		s, err := udx.Connect(sock1, 1, 2, js, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Destroy()
		fmt.Fprintf(p.Stdin, "connect %d\n", sock1.LocalAddr().Port())
		var key [32]byte
		rng := rand.NewChaCha8(key)
		data := make([]byte, size)
		rng.Read(data)
		if _, err := s.Write(data[:size/2]); err != nil {
			t.Fatal(err)
		}
		done, err := s.ChangeRemote(sock2, 2, js)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(p.Stdin, "change %d\n", sock2.LocalAddr().Port())
		if _, err := s.Write(data[size/2:]); err != nil {
			t.Fatal(err)
		}
		s.CloseWrite()
		sum := sha256.Sum256(data)
		if got, want := p.Expect(t, "recv "), fmt.Sprintf("%d %x", size, sum); got != want {
			t.Fatalf("JS received %q, want %q", got, want)
		}
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("change never completed")
		}
		if rest, err := io.ReadAll(s); err != nil || string(rest) != "after-end" {
			t.Fatalf("%q %v", rest, err)
		}
		p.Expect(t, "closed")
	})
}
