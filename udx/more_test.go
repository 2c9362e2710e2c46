package udx

import (
	"errors"
	"io"
	"net/netip"
	"os"
	"testing"
	"time"
)

func TestIPv6Stream(t *testing.T) {
	u := New(nil)
	a, err := u.Listen("udp6", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	defer a.Close()
	b, err := u.Listen("udp", "[::]:0") // dual stack
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	bAddr := netip.AddrPortFrom(netip.IPv6Loopback(), b.LocalAddr().Port())
	sa, err := Connect(a, 1, 2, bAddr, nil)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := Connect(b, 2, 1, a.LocalAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Destroy()
	defer sb.Destroy()
	transfer(t, sa, sb, randBytes(1<<20, 5))
	// the dual-stack socket also talks to IPv4
	c := listenTest(t, u, nil)
	if err := c.WriteTo([]byte("v4"), netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), b.LocalAddr().Port())); err != nil {
		t.Fatal(err)
	}
	d, err := b.ReadFrom(t.Context())
	if err != nil || string(d.Data) != "v4" || d.From != c.LocalAddr() {
		t.Fatalf("%+v %v", d, err)
	}
}

func TestTTL(t *testing.T) {
	u := New(nil)
	a, b := listenTest(t, u, nil), listenTest(t, u, nil)
	if err := a.SetTTL(5); err != nil {
		t.Fatal(err)
	}
	if ttl, err := a.TTL(); err != nil || ttl != 5 {
		t.Fatalf("ttl %d %v", ttl, err)
	}
	if err := a.SendTTL([]byte("low"), b.LocalAddr(), 2); err != nil {
		t.Fatal(err)
	}
	if ttl, _ := a.TTL(); ttl != 5 {
		t.Fatalf("SendTTL did not restore the TTL: %d", ttl)
	}
	if d, err := b.ReadFrom(t.Context()); err != nil || string(d.Data) != "low" {
		t.Fatalf("%+v %v", d, err)
	}
}

func TestKeepAlive(t *testing.T) {
	u := New(nil)
	a, b := listenTest(t, u, nil), listenTest(t, u, nil)
	sa, sb := pair(t, a, b)
	sa.SetKeepAlive(20 * time.Millisecond)
	time.Sleep(250 * time.Millisecond)
	// heartbeats went out and each was answered with an ack
	if st := sa.Stats(); st.PacketsSent < 5 || st.PacketsRecv < 5 {
		t.Fatalf("keepalive: %+v", st)
	}
	if st := sb.Stats(); st.PacketsRecv < 5 {
		t.Fatalf("remote saw %+v", st)
	}
}

// TestFlowControl: a receiver that does not read closes its window; the
// writer blocks (here until its deadline) and resumes when reading does.
func TestFlowControl(t *testing.T) {
	u := New(nil)
	a, b := listenTest(t, u, nil), listenTest(t, u, nil)
	sa, err := Connect(a, 1, 2, b.LocalAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := Connect(b, 2, 1, a.LocalAddr(), &StreamConfig{ReceiveWindow: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer sa.Destroy()
	defer sb.Destroy()
	data := randBytes(4<<20, 6)
	sa.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	n, err := sa.Write(data)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("write of %d into a closed window: %v", n, err)
	}
	if n >= len(data) || n < 64<<10 {
		t.Fatalf("wrote %d", n)
	}
	sa.SetWriteDeadline(time.Time{})
	go func() {
		sa.Write(data[n:])
		sa.Close()
	}()
	got, err := io.ReadAll(sb)
	if err != nil || len(got) != len(data) {
		t.Fatalf("read %d: %v", len(got), err)
	}
}

// TestCloseDelivers: Close waits for the remote to acknowledge what was
// written before it returns.
func TestCloseDelivers(t *testing.T) {
	u := New(nil)
	a, b := listenTest(t, u, nil), listenTest(t, u, nil)
	sa, sb := pair(t, a, b)
	data := randBytes(1<<20, 8)
	if _, err := sa.Write(data); err != nil {
		t.Fatal(err)
	}
	done := make(chan []byte)
	go func() {
		got, _ := io.ReadAll(sb)
		done <- got
	}()
	if err := sa.Close(); err != nil {
		t.Fatal(err)
	}
	if got := <-done; len(got) != len(data) {
		t.Fatalf("got %d of %d", len(got), len(data))
	}
}

func TestSocketCloseEndsStreams(t *testing.T) {
	u := New(nil)
	a, b := listenTest(t, u, nil), listenTest(t, u, nil)
	sa, _ := pair(t, a, b)
	a.Close()
	select {
	case <-sa.Closed():
	case <-time.After(2 * time.Second):
		t.Fatal("stream outlived its socket")
	}
	if _, err := sa.Read(make([]byte, 1)); err == nil {
		t.Fatal("read on closed stream")
	}
	if _, err := a.ReadFrom(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("ReadFrom after Close: %v", err)
	}
	if _, err := u.NewStream(1, nil); err != nil {
		t.Fatalf("id not released: %v", err)
	}
}
