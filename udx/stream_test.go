package udx

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"sync"
	"testing"
	"time"
)

// lossyConn is the in-process lossy network: it drops, duplicates and
// reorders outgoing datagrams with a seeded RNG.
type lossyConn struct {
	batchConn
	mu                  sync.Mutex
	rng                 *rand.Rand
	loss, dup, reorder  float64
	held                *message
	timer               *time.Timer
	sent, dropped, dups int
}

func newLossy(inner batchConn, seed uint64, loss, dup, reorder float64) *lossyConn {
	l := &lossyConn{batchConn: inner, rng: rand.New(rand.NewPCG(seed, 1)), loss: loss, dup: dup, reorder: reorder}
	l.timer = time.AfterFunc(time.Hour, l.release)
	l.timer.Stop()
	return l
}

func (l *lossyConn) release() {
	l.mu.Lock()
	h := l.held
	l.held = nil
	l.mu.Unlock()
	if h != nil {
		_ = l.batchConn.writeBatch([]message{*h})
	}
}

func (l *lossyConn) writeBatch(ms []message) error {
	var out []message
	l.mu.Lock()
	for _, m := range ms {
		l.sent++
		r := l.rng.Float64()
		switch {
		case r < l.loss:
			l.dropped++
			continue
		case r < l.loss+l.dup:
			l.dups++
			out = append(out, m, m)
		case r < l.loss+l.dup+l.reorder && l.held == nil:
			c := m
			c.buf = append([]byte(nil), m.buf...)
			l.held = &c
			l.timer.Reset(3 * time.Millisecond)
			continue
		default:
			out = append(out, m)
		}
		if l.held != nil {
			out = append(out, *l.held)
			l.held = nil
		}
	}
	l.mu.Unlock()
	if len(out) == 0 {
		return nil
	}
	return l.batchConn.writeBatch(out)
}

func (l *lossyConn) close() error {
	l.timer.Stop()
	return l.batchConn.close()
}

func listenTest(t testing.TB, u *UDX, wrap func(batchConn) batchConn) *Socket {
	t.Helper()
	if wrap == nil {
		s, err := u.Listen("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s := u.newSocket(wrap(&plainConn{c: c}))
	t.Cleanup(func() { s.Close() })
	return s
}

// pair connects stream 1 on a to stream 2 on b.
func pair(t testing.TB, a, b *Socket) (*Stream, *Stream) {
	t.Helper()
	sa, err := Connect(a, 1, 2, b.LocalAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := Connect(b, 2, 1, a.LocalAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sa.Destroy(); sb.Destroy() })
	return sa, sb
}

func randBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// transfer sends data from w to r with a half-close and checks it arrives intact.
func transfer(t *testing.T, w, r *Stream, data []byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		if _, err := w.Write(data); err != nil {
			errc <- err
			return
		}
		errc <- w.CloseWrite()
	}()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatalf("read after %d bytes: %v", n, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	want := sha256.Sum256(data)
	if n != int64(len(data)) || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("got %d bytes, want %d (hash mismatch)", n, len(data))
	}
}

func TestStreamLoopback(t *testing.T) {
	u := New(nil)
	a, b := listenTest(t, u, nil), listenTest(t, u, nil)
	sa, sb := pair(t, a, b)
	data := randBytes(8<<20, 1)
	transfer(t, sa, sb, data)
	// the other direction still works after one side ended
	transfer(t, sb, sa, data[:1<<20])
	select {
	case <-sa.Closed():
	case <-time.After(5 * time.Second):
		t.Fatal("stream did not close after both sides ended")
	}
	if sa.Err() != nil {
		t.Fatalf("clean close err %v", sa.Err())
	}
}

func TestStreamLossy(t *testing.T) {
	cases := []struct {
		name               string
		loss, dup, reorder float64
	}{
		{"loss5", 0.05, 0, 0},
		{"loss10-dup-reorder", 0.10, 0.02, 0.05},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := New(nil)
			var shims []*lossyConn
			wrap := func(bc batchConn) batchConn {
				l := newLossy(bc, uint64(i*10+len(shims)), c.loss, c.dup, c.reorder)
				shims = append(shims, l)
				return l
			}
			a, b := listenTest(t, u, wrap), listenTest(t, u, wrap)
			sa, sb := pair(t, a, b)
			data := randBytes(2<<20, 3)
			done := make(chan struct{})
			go func() {
				defer close(done)
				transfer(t, sb, sa, data[:256<<10])
			}()
			transfer(t, sa, sb, data)
			<-done
			shims[0].mu.Lock()
			dropped, sent := shims[0].dropped, shims[0].sent
			shims[0].mu.Unlock()
			if dropped == 0 {
				t.Fatal("shim dropped nothing")
			}
			t.Logf("dropped %d/%d", dropped, sent)
		})
	}
}

func TestStreamDestroy(t *testing.T) {
	u := New(nil)
	a, b := listenTest(t, u, nil), listenTest(t, u, nil)
	sa, sb := pair(t, a, b)
	if _, err := sa.Write([]byte("hi")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if n, err := sb.Read(buf); err != nil || string(buf[:n]) != "hi" {
		t.Fatalf("read %q %v", buf[:n], err)
	}
	sa.Destroy()
	if _, err := sb.Read(buf); !errors.Is(err, ErrReset) {
		t.Fatalf("read after remote destroy: %v", err)
	}
	if _, err := sa.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after destroy: %v", err)
	}
}

func TestStreamDeadlines(t *testing.T) {
	u := New(nil)
	a, b := listenTest(t, u, nil), listenTest(t, u, nil)
	sa, _ := pair(t, a, b)
	sa.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if _, err := sa.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	sa.SetReadDeadline(time.Time{})
}

func TestStreamMessages(t *testing.T) {
	u := New(nil)
	a, b := listenTest(t, u, nil), listenTest(t, u, nil)
	sa, sb := pair(t, a, b)
	if err := sa.SendMessage([]byte("unordered")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	m, err := sb.ReadMessage(ctx)
	if err != nil || string(m) != "unordered" {
		t.Fatalf("%q %v", m, err)
	}
}

func TestSocketDatagramsAndGarbage(t *testing.T) {
	u := New(nil)
	a, b := listenTest(t, u, nil), listenTest(t, u, nil)
	sa, sb := pair(t, a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := a.WriteTo([]byte("dgram"), b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	d, err := b.ReadFrom(ctx)
	if err != nil || string(d.Data) != "dgram" || d.From != a.LocalAddr() {
		t.Fatalf("%+v %v", d, err)
	}
	// garbage: random bytes, truncated headers, UDX-shaped packets for a
	// live stream with nonsense fields
	rng := rand.New(rand.NewPCG(7, 7))
	raw, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer raw.Close()
	dst := net.UDPAddrFromAddrPort(b.LocalAddr())
	for i := 0; i < 2000; i++ {
		p := randBytes(rng.IntN(100), uint64(i))
		if i%2 == 0 && len(p) >= HeaderSize {
			p[0], p[1] = Magic, Version
			p[4], p[5], p[6], p[7] = 2, 0, 0, 0 // sb's id
		}
		raw.WriteToUDP(p, dst)
	}
	transfer(t, sa, sb, randBytes(1<<20, 9))
}

func TestFirewallAccept(t *testing.T) {
	u1, u2 := New(nil), New(nil)
	a, b := listenTest(t, u1, nil), listenTest(t, u2, nil)
	var seen netip.AddrPort
	var sb *Stream
	var err error
	sb, err = u2.NewStream(2, &StreamConfig{Firewall: func(s *Stream, sock *Socket, from netip.AddrPort) bool {
		seen = from
		return s.Connect(sock, 1, from) == nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := Connect(a, 1, 2, b.LocalAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Destroy()
	defer sb.Destroy()
	transfer(t, sa, sb, []byte("through the firewall"))
	if seen != a.LocalAddr() {
		t.Fatalf("firewall saw %v", seen)
	}
}

func TestChangeRemoteAndRelay(t *testing.T) {
	// a <-> relay(r1, r2) <-> b, then a moves to a direct path to b.
	u := New(nil)
	a, r, b := listenTest(t, u, nil), listenTest(t, u, nil), listenTest(t, u, nil)
	sa, _ := Connect(a, 1, 10, r.LocalAddr(), nil)
	r1, _ := Connect(r, 10, 1, a.LocalAddr(), nil)
	r2, _ := Connect(r, 20, 2, b.LocalAddr(), nil)
	sb, _ := Connect(b, 2, 20, r.LocalAddr(), nil)
	if err := r1.RelayTo(r2); err != nil {
		t.Fatal(err)
	}
	if err := r2.RelayTo(r1); err != nil {
		t.Fatal(err)
	}
	data := randBytes(1<<20, 4)
	go sa.Write(data)
	got := make([]byte, len(data))
	if _, err := io.ReadFull(sb, got[:len(data)/2]); err != nil {
		t.Fatal(err)
	}
	// move both ends onto the direct path mid-transfer
	da, err := sa.ChangeRemote(a, 2, b.LocalAddr())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sb.ChangeRemote(b, 1, a.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(sb, got[len(data)/2:]); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("data corrupted across relay and remote change")
	}
	select {
	case <-da:
	case <-time.After(5 * time.Second):
		t.Fatal("remote change never completed")
	}
	transfer(t, sb, sa, []byte("direct now"))
	r1.Destroy()
	r2.Destroy()
}
