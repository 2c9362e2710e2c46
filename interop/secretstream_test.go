package interop

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warrenp2p/warren/secretstream"
)

// ssPeer is one run of js/secretstream_peer.js against a Go secretstream.Conn.
type ssPeer struct {
	proc *Proc
	conn *secretstream.Conn
}

// startSecretStream starts the JS peer and connects a Go side to it: a Go
// client if goClient, else a Go server. mk builds the Go side from the TCP
// connection.
func startSecretStream(t *testing.T, goClient bool, mk func(net.Conn) *secretstream.Conn, args ...string) *ssPeer {
	t.Helper()
	env := Require(t)
	var raw net.Conn
	var p *Proc
	if goClient {
		p = env.Start(t, "secretstream_peer.js", append([]string{"--role", "server"}, args...)...)
		port := p.Expect(t, "port ")
		var err error
		raw, err = net.Dial("tcp", "127.0.0.1:"+port)
		if err != nil {
			t.Fatal(err)
		}
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
		p = env.Start(t, "secretstream_peer.js", append([]string{"--role", "client", "--port", port}, args...)...)
		raw, err = ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
	}
	c := mk(raw)
	t.Cleanup(func() { c.Close() })
	return &ssPeer{proc: p, conn: c}
}

// checkKeys compares the JS peer's "keys" line with the Go side.
func (s *ssPeer) checkKeys(t *testing.T) {
	t.Helper()
	if err := s.conn.Handshake(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(s.proc.Expect(t, "keys "))
	if len(f) != 3 {
		t.Fatalf("keys line %q", f)
	}
	if f[0] != hex.EncodeToString(s.conn.RemotePublicKey()) {
		t.Errorf("JS public key %s, Go sees remote %x", f[0], s.conn.RemotePublicKey())
	}
	if f[1] != hex.EncodeToString(s.conn.PublicKey()) {
		t.Errorf("JS sees remote %s, Go public key %x", f[1], s.conn.PublicKey())
	}
	if f[2] != hex.EncodeToString(s.conn.HandshakeHash()) {
		t.Errorf("handshake hash: JS %s, Go %x", f[2], s.conn.HandshakeHash())
	}
}

// send writes size random bytes in uneven chunks, half-closes, and returns
// the SHA-256.
func (s *ssPeer) send(t *testing.T, size int) string {
	t.Helper()
	h := sha256.New()
	buf := make([]byte, 200_000)
	for left := size; left > 0; {
		n := min(left, 1+left%len(buf))
		rand.Read(buf[:n])
		h.Write(buf[:n])
		if _, err := s.conn.Write(buf[:n]); err != nil {
			t.Fatal(err)
		}
		left -= n
	}
	if err := s.conn.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// recv reads to EOF and returns the byte count and SHA-256.
func (s *ssPeer) recv(t *testing.T) (int64, string) {
	t.Helper()
	var h hash.Hash = sha256.New()
	n, err := io.Copy(h, s.conn)
	if err != nil {
		t.Fatalf("after %d bytes: %v", n, err)
	}
	return n, hex.EncodeToString(h.Sum(nil))
}

// exchange runs the data phase in the given order and checks both
// directions: sizes and hashes match, and each side still sends after
// seeing the other's end.
func (s *ssPeer) exchange(t *testing.T, order string, goSize, jsSize int) {
	t.Helper()
	var sent string
	if order == "go-first" {
		sent = s.send(t, goSize)
	}
	n, got := s.recv(t)
	if order != "go-first" {
		sent = s.send(t, goSize)
	}
	var jsSent, jsRecv []string
	for range 2 {
		l := s.proc.Line(t)
		switch {
		case strings.HasPrefix(l, "sent "):
			jsSent = strings.Fields(l)[1:]
		case strings.HasPrefix(l, "recv "):
			jsRecv = strings.Fields(l)[1:]
		default:
			t.Fatalf("JS peer: %q", l)
		}
	}
	if jsSent == nil || jsRecv == nil {
		t.Fatal("missing report from JS peer")
	}
	if jsSent[0] != strconv.Itoa(jsSize) || jsSent[0] != strconv.FormatInt(n, 10) || jsSent[1] != got {
		t.Errorf("JS sent %v, Go received %d bytes %s", jsSent, n, got)
	}
	if jsRecv[0] != strconv.Itoa(goSize) || jsRecv[1] != sent {
		t.Errorf("Go sent %d bytes %s, JS received %v", goSize, sent, jsRecv)
	}
	s.conn.Close()
	s.proc.Expect(t, "closed")
	s.proc.Wait(t)
}

// TestInteropSecretStream runs the Noise XX handshake and the stream both
// ways round (Go client with JS server, JS client with Go server), in both
// half-close orders, with 64 MiB each way in the go-first runs.
func TestInteropSecretStream(t *testing.T) {
	const big = 64 << 20
	for _, goClient := range []bool{true, false} {
		for _, order := range []string{"go-first", "js-first"} {
			size := big
			if order == "js-first" {
				size = 1<<20 + 3
			}
			name := fmt.Sprintf("goClient=%v/%s", goClient, order)
			t.Run(name, func(t *testing.T) {
				key := newEd25519(t)
				mk := func(raw net.Conn) *secretstream.Conn {
					if goClient {
						return secretstream.Client(raw, &secretstream.Config{PrivateKey: key})
					}
					return secretstream.Server(raw, &secretstream.Config{PrivateKey: key})
				}
				p := startSecretStream(t, goClient, mk, "--size", strconv.Itoa(size+7), "--order", jsOrder(order))
				p.checkKeys(t)
				if !bytes.Equal(p.conn.PublicKey(), key.Public().(ed25519.PublicKey)) {
					t.Fatal("Go public key is not the configured one")
				}
				p.exchange(t, order, size, size+7)
			})
		}
	}
}

// jsOrder maps the Go-side order to the JS peer's flag: when Go goes
// first the JS peer reads first.
func jsOrder(goOrder string) string {
	if goOrder == "go-first" {
		return "go-first"
	}
	return "js-first"
}

func newEd25519(t *testing.T) ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestInteropSecretStreamFromHandshake starts both sides from keys of a
// handshake done elsewhere (as HyperDHT does) and exchanges data both ways.
func TestInteropSecretStreamFromHandshake(t *testing.T) {
	for _, goInitiator := range []bool{true, false} {
		t.Run(fmt.Sprintf("goInitiator=%v", goInitiator), func(t *testing.T) {
			var h secretstream.Handshake
			rand.Read(h.Tx[:])
			rand.Read(h.Rx[:])
			rand.Read(h.Hash[:])
			h.Initiator = goInitiator
			h.PublicKey = newEd25519(t).Public().(ed25519.PublicKey)
			h.RemotePublicKey = newEd25519(t).Public().(ed25519.PublicKey)
			js, _ := json.Marshal(map[string]string{
				"tx": hex.EncodeToString(h.Rx[:]), "rx": hex.EncodeToString(h.Tx[:]),
				"hash":      hex.EncodeToString(h.Hash[:]),
				"publicKey": hex.EncodeToString(h.RemotePublicKey), "remotePublicKey": hex.EncodeToString(h.PublicKey),
			})
			mk := func(raw net.Conn) *secretstream.Conn {
				c, err := secretstream.FromHandshake(raw, h, nil)
				if err != nil {
					t.Fatal(err)
				}
				return c
			}
			// The JS peer is the initiator when it is the TCP client.
			p := startSecretStream(t, goInitiator, mk, "--handshake", string(js), "--size", "300001")
			p.checkKeys(t)
			p.exchange(t, "go-first", 250_003, 300_001)
		})
	}
}

// TestInteropSecretStreamKeepAlive: JS sends keepalives (empty frames) while
// idle and Go's idle timeout does not fire, nor do empty frames show up as
// data; and the other way round, Go's keepalives keep a JS peer with
// setTimeout alive.
func TestInteropSecretStreamKeepAlive(t *testing.T) {
	t.Run("js-keepalive", func(t *testing.T) {
		mk := func(raw net.Conn) *secretstream.Conn {
			return secretstream.Server(raw, &secretstream.Config{Timeout: 1500 * time.Millisecond})
		}
		p := startSecretStream(t, false, mk, "--keepalive", "50", "--order", "js-first", "--idle", "2500", "--size", "1000")
		p.checkKeys(t)
		// Message mode would surface an empty frame; it must not.
		m, err := p.conn.ReadMessage()
		if err != nil || len(m) != 1000 {
			t.Fatalf("first message: %d bytes, %v (want the 1000-byte write)", len(m), err)
		}
		if _, err := p.conn.ReadMessage(); err != io.EOF {
			t.Fatalf("after the data: %v, want EOF", err)
		}
		p.send(t, 10)
		if l := p.proc.Expect(t, "sent "); !strings.HasPrefix(l, "1000 ") {
			t.Fatalf("JS sent %q", l)
		}
		if l := p.proc.Expect(t, "recv "); !strings.HasPrefix(l, "10 ") {
			t.Fatalf("JS recv %q", l)
		}
		p.conn.Close()
		p.proc.Expect(t, "closed")
	})
	t.Run("go-keepalive", func(t *testing.T) {
		mk := func(raw net.Conn) *secretstream.Conn {
			return secretstream.Client(raw, &secretstream.Config{KeepAlive: 50 * time.Millisecond})
		}
		p := startSecretStream(t, true, mk, "--keepalive", "0", "--timeout", "1500", "--size", "5")
		p.checkKeys(t)
		time.Sleep(2500 * time.Millisecond) // idle, but for keepalives
		sent := p.send(t, 20)
		l := strings.Fields(p.proc.Expect(t, "recv "))
		if l[0] != "20" || l[1] != sent {
			t.Fatalf("JS received %v", l)
		}
		// JS sees the keepalives as empty messages only because its
		// keepalive is off; it counts them.
		if l[2] == "0" {
			t.Error("JS saw no keepalive frames from Go")
		}
		if n, _ := p.recv(t); n != 5 {
			t.Fatalf("received %d bytes from JS", n)
		}
		p.conn.Close()
		p.proc.Expect(t, "closed")
	})
}
