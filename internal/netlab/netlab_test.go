package netlab

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

// exchange sends payload from a to b's address and returns what b read and
// the source address b saw.
func recvWithin(t *testing.T, c *net.UDPConn, d time.Duration) ([]byte, netip.AddrPort, bool) {
	t.Helper()
	buf := make([]byte, 2048)
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	n, from, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return nil, netip.AddrPort{}, false
		}
		t.Fatal(err)
	}
	return buf[:n], netip.AddrPortFrom(from.Addr().Unmap(), from.Port()), true
}

func listen(t *testing.T, h *Host) *net.UDPConn {
	t.Helper()
	c, err := h.ListenUDP(0)
	if err != nil {
		t.Fatalf("listen on %s: %v", h.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func TestPublicHostsExchange(t *testing.T) {
	t.Parallel()
	lab := New(t)
	a := lab.Host("a", HostConfig{})
	b := lab.Host("b", HostConfig{})
	if a.Addr != a.PublicIP || !PublicNet.Contains(a.Addr) || a.Addr == b.Addr {
		t.Fatalf("addresses: a=%v/%v b=%v/%v", a.Addr, a.PublicIP, b.Addr, b.PublicIP)
	}
	ca, cb := listen(t, a), listen(t, b)
	if _, err := ca.WriteToUDPAddrPort([]byte("ping"), addrOf(cb)); err != nil {
		t.Fatal(err)
	}
	got, from, ok := recvWithin(t, cb, 2*time.Second)
	if !ok || !bytes.Equal(got, []byte("ping")) || from != addrOf(ca) {
		t.Fatalf("b got %q from %v (ok=%v), want ping from %v", got, from, ok, addrOf(ca))
	}
	if _, err := cb.WriteToUDPAddrPort([]byte("pong"), from); err != nil {
		t.Fatal(err)
	}
	got, from, ok = recvWithin(t, ca, 2*time.Second)
	if !ok || !bytes.Equal(got, []byte("pong")) || from != addrOf(cb) {
		t.Fatalf("a got %q from %v (ok=%v), want pong from %v", got, from, ok, addrOf(cb))
	}
}
