package netlab

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// recvWithin reads one datagram from c, waiting at most d; ok is false on
// timeout.
func recvWithin(t *testing.T, c *net.UDPConn, d time.Duration) (data []byte, from netip.AddrPort, ok bool) {
	t.Helper()
	buf := make([]byte, 2048)
	if err := c.SetReadDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	n, src, err := c.ReadFromUDPAddrPort(buf)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, netip.AddrPort{}, false
		}
		t.Fatal(err)
	}
	return buf[:n], netip.AddrPortFrom(src.Addr().Unmap(), src.Port()), true
}

// listen opens a UDP socket on h, closed when the test ends.
func listen(t *testing.T, h *Host) *net.UDPConn {
	t.Helper()
	c, err := h.ListenUDP(0)
	if err != nil {
		t.Fatalf("listen on %s: %v", h.Name, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// bigBuffer gives c an 8 MiB receive buffer, beyond net.core.rmem_max
// (the tests run as root), so a briefly descheduled reader loses nothing.
func bigBuffer(t *testing.T, c *net.UDPConn) {
	t.Helper()
	raw, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	}); err != nil || serr != nil {
		t.Fatalf("SO_RCVBUFFORCE: %v %v", err, serr)
	}
}

func addrOf(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func send(t *testing.T, c *net.UDPConn, to netip.AddrPort, msg string) {
	t.Helper()
	if _, err := c.WriteToUDPAddrPort([]byte(msg), to); err != nil {
		t.Fatalf("send to %v: %v", to, err)
	}
}

// udpStats returns the host's UDP counters and its eth0 statistics, for
// failure messages.
func udpStats(h *Host) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, _ := h.Command(ctx, "sh", "-c", "grep Udp: /proc/net/snmp; ip -s link show dev eth0").CombinedOutput()
	return h.Name + ":\n" + string(out)
}

// expect reads one datagram and checks its content and source.
func expect(t *testing.T, c *net.UDPConn, msg string, from netip.AddrPort) {
	t.Helper()
	got, src, ok := recvWithin(t, c, 2*time.Second)
	if !ok {
		t.Fatalf("no datagram %q within 2s", msg)
	}
	if string(got) != msg || (from.IsValid() && src != from) {
		t.Fatalf("got %q from %v, want %q from %v", got, src, msg, from)
	}
}

// expectNothing checks that no datagram arrives within d.
func expectNothing(t *testing.T, c *net.UDPConn, d time.Duration) {
	t.Helper()
	if got, src, ok := recvWithin(t, c, d); ok {
		t.Fatalf("unexpected datagram %q from %v", got, src)
	}
}

func TestPublicHostsExchange(t *testing.T) {
	t.Parallel()
	lab := New(t)
	a := lab.Host("a", HostConfig{})
	b := lab.Host("b", HostConfig{})
	if a.Addr != a.PublicIP || !PublicNet.Contains(a.Addr) || !PublicNet.Contains(b.Addr) || a.Addr == b.Addr {
		t.Fatalf("addresses: a=%v/%v b=%v/%v", a.Addr, a.PublicIP, b.Addr, b.PublicIP)
	}
	ca, cb := listen(t, a), listen(t, b)
	if addrOf(ca).Addr() != a.Addr {
		t.Fatalf("socket bound to %v, want %v", addrOf(ca), a.Addr)
	}
	send(t, ca, addrOf(cb), "ping")
	expect(t, cb, "ping", addrOf(ca))
	send(t, cb, addrOf(ca), "pong")
	expect(t, ca, "pong", addrOf(cb))
}

// natMapping sends from one socket on n to two public hosts and returns the
// sources they saw; it also checks that both can answer.
func natMapping(t *testing.T, nat NAT) (n *Host, seen [2]netip.AddrPort, third *net.UDPConn, cn *net.UDPConn) {
	lab := New(t)
	n = lab.Host("n", HostConfig{NAT: nat})
	a := lab.Host("a", HostConfig{})
	b := lab.Host("b", HostConfig{})
	c := lab.Host("c", HostConfig{})
	if !n.Addr.IsPrivate() || !PublicNet.Contains(n.PublicIP) || n.Addr == n.PublicIP {
		t.Fatalf("NAT host addresses: %v behind %v", n.Addr, n.PublicIP)
	}
	cn = listen(t, n)
	peers := []*net.UDPConn{listen(t, a), listen(t, b)}
	for i, p := range peers {
		send(t, cn, addrOf(p), "out")
		_, src, ok := recvWithin(t, p, 2*time.Second)
		if !ok {
			t.Fatalf("peer %d got nothing from the NAT host", i)
		}
		if src.Addr() != n.PublicIP {
			t.Fatalf("peer %d saw %v, want the router's address %v", i, src, n.PublicIP)
		}
		seen[i] = src
		send(t, p, src, "back")
		expect(t, cn, "back", addrOf(p))
	}
	return n, seen, listen(t, c), cn
}

func TestNATEndpointIndependent(t *testing.T) {
	t.Parallel()
	_, seen, stranger, cn := natMapping(t, EndpointIndependent)
	if seen[0] != seen[1] {
		t.Fatalf("endpoint-independent NAT showed %v and %v to two destinations", seen[0], seen[1])
	}
	// Filtering stays per remote: a host the NAT host never sent to cannot
	// use the mapping.
	send(t, stranger, seen[0], "unsolicited")
	expectNothing(t, cn, 300*time.Millisecond)
}

func TestNATRandomPort(t *testing.T) {
	t.Parallel()
	_, seen, _, _ := natMapping(t, RandomPort)
	if seen[0].Port() == seen[1].Port() {
		t.Fatalf("random-port NAT showed port %d to both destinations", seen[0].Port())
	}
}

func TestFirewall(t *testing.T) {
	t.Parallel()
	for _, nat := range []NAT{NoNAT, EndpointIndependent} {
		t.Run(nat.String(), func(t *testing.T) {
			t.Parallel()
			lab := New(t)
			f := lab.Host("f", HostConfig{NAT: nat, Firewall: true})
			p := lab.Host("p", HostConfig{})
			cf, cp, cp2 := listen(t, f), listen(t, p), listen(t, p)
			target := netip.AddrPortFrom(f.PublicIP, addrOf(cf).Port())

			send(t, cp, target, "unsolicited")
			expectNothing(t, cf, 300*time.Millisecond)

			send(t, cf, addrOf(cp), "hello")
			_, src, ok := recvWithin(t, cp, 2*time.Second)
			if !ok {
				t.Fatal("outbound datagram lost")
			}
			send(t, cp, src, "reply")
			expect(t, cf, "reply", addrOf(cp))

			// Another port of the same peer is still unsolicited.
			send(t, cp2, src, "other port")
			expectNothing(t, cf, 300*time.Millisecond)
		})
	}
}

// blast sends count numbered datagrams from c to dst, paced so that socket
// buffers do not overflow, and returns the sequence numbers dst's socket
// received in arrival order, waiting until idle for quiet.
func blast(t *testing.T, from, to *net.UDPConn, count int, size int, quiet time.Duration) []uint32 {
	t.Helper()
	bigBuffer(t, to)
	var got []uint32
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			_ = to.SetReadDeadline(time.Now().Add(quiet))
			n, err := to.Read(buf)
			if err != nil {
				return
			}
			if n >= 4 {
				got = append(got, binary.BigEndian.Uint32(buf))
			}
		}
	}()
	msg := make([]byte, max(size, 4))
	dst := addrOf(to)
	for i := range count {
		binary.BigEndian.PutUint32(msg, uint32(i))
		if _, err := from.WriteToUDPAddrPort(msg, dst); err != nil {
			t.Errorf("send %d: %v", i, err)
			break
		}
		if i%50 == 49 {
			time.Sleep(time.Millisecond)
		}
	}
	wg.Wait()
	return got
}

func TestNetemLossDuplicateReorder(t *testing.T) {
	t.Parallel()
	lab := New(t)
	a := lab.Host("a", HostConfig{})
	b := lab.Host("b", HostConfig{})
	ca, cb := listen(t, a), listen(t, b)
	const n = 2000

	if got := blast(t, ca, cb, n, 64, 300*time.Millisecond); len(got) < n-10 {
		t.Fatalf("perfect link delivered %d of %d\n%s\n%s", len(got), n, udpStats(a), udpStats(b))
	}

	if err := a.SetNetem(Netem{Loss: 10}); err != nil {
		t.Fatal(err)
	}
	got := blast(t, ca, cb, n, 64, 300*time.Millisecond)
	t.Logf("10%% loss: %d of %d delivered", len(got), n)
	if len(got) < 1650 || len(got) > 1950 {
		t.Fatalf("10%% loss delivered %d of %d, want about 1800", len(got), n)
	}

	if err := a.SetNetem(Netem{Duplicate: 10}); err != nil {
		t.Fatal(err)
	}
	got = blast(t, ca, cb, n, 64, 300*time.Millisecond)
	t.Logf("10%% duplication: %d datagrams for %d sent", len(got), n)
	if len(got) < 2050 || len(got) > 2350 {
		t.Fatalf("10%% duplication delivered %d for %d sent, want about 2200", len(got), n)
	}

	if err := a.SetNetem(Netem{Delay: 5 * time.Millisecond, Reorder: 25}); err != nil {
		t.Fatal(err)
	}
	got = blast(t, ca, cb, 400, 64, 300*time.Millisecond)
	late, highest := 0, uint32(0)
	for _, seq := range got {
		if seq < highest {
			late++
		}
		highest = max(highest, seq)
	}
	t.Logf("25%% reorder: %d of %d arrived after a later one", late, len(got))
	if len(got) < 390 || late < 40 {
		t.Fatalf("reorder: %d delivered, %d out of order", len(got), late)
	}

	if err := a.SetNetem(Netem{}); err != nil {
		t.Fatal(err)
	}
	if got := blast(t, ca, cb, n, 64, 300*time.Millisecond); len(got) < n-10 {
		t.Fatalf("link restored to perfect delivered %d of %d", len(got), n)
	}
}

// minRTT measures the smallest of count round trips from c to an echoing
// socket e.
func minRTT(t *testing.T, c, e *net.UDPConn, count int) time.Duration {
	t.Helper()
	best := time.Duration(1<<63 - 1)
	for i := range count {
		t0 := time.Now()
		send(t, c, addrOf(e), "ping")
		_, src, ok := recvWithin(t, e, 2*time.Second)
		if !ok {
			t.Fatalf("ping %d lost", i)
		}
		send(t, e, src, "pong")
		if _, _, ok := recvWithin(t, c, 2*time.Second); !ok {
			t.Fatalf("pong %d lost", i)
		}
		best = min(best, time.Since(t0))
	}
	return best
}

func TestNetemDelayAndRate(t *testing.T) {
	t.Parallel()
	lab := New(t)
	a := lab.Host("a", HostConfig{})
	b := lab.Host("b", HostConfig{})
	ca, cb := listen(t, a), listen(t, b)

	base := minRTT(t, ca, cb, 10)
	if err := a.SetNetem(Netem{Delay: 20 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	delayed := minRTT(t, ca, cb, 10)
	if err := a.SetNetemEach(Netem{Delay: 30 * time.Millisecond}, Netem{}); err != nil {
		t.Fatal(err)
	}
	oneWay := minRTT(t, ca, cb, 5)
	if err := a.SetNetem(Netem{}); err != nil {
		t.Fatal(err)
	}
	restored := minRTT(t, ca, cb, 10)
	t.Logf("min RTT: base %v, 20ms each way %v, 30ms out only %v, restored %v", base, delayed, oneWay, restored)
	if delayed < 40*time.Millisecond || delayed > 40*time.Millisecond+base+30*time.Millisecond {
		t.Fatalf("RTT with 20ms delay each way is %v", delayed)
	}
	if oneWay < 30*time.Millisecond || oneWay > 40*time.Millisecond+base+20*time.Millisecond {
		t.Fatalf("RTT with 30ms delay out only is %v", oneWay)
	}
	if base > 20*time.Millisecond || restored > 20*time.Millisecond {
		t.Fatalf("RTT without delay: before %v, after %v", base, restored)
	}

	// 250 datagrams of 1000 bytes are at least 2 Mbit: 200ms at 10 Mbit/s.
	if err := a.SetNetem(Netem{Rate: "10mbit"}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	got := blast(t, ca, cb, 250, 1000, 200*time.Millisecond)
	took := time.Since(t0) - 200*time.Millisecond
	t.Logf("10mbit: %d datagrams in %v", len(got), took)
	if len(got) != 250 || took < 180*time.Millisecond {
		t.Fatalf("10mbit: %d of 250 datagrams in %v, want all in at least 200ms\n%s\n%s", len(got), took, udpStats(a), udpStats(b))
	}
}

func TestCleanupRemovesEverything(t *testing.T) {
	t.Parallel()
	var tag string
	var made []string
	t.Run("lab", func(t *testing.T) {
		lab := New(t)
		tag = lab.Tag()
		h := lab.Host("n", HostConfig{NAT: RandomPort, Firewall: true})
		lab.Host("p", HostConfig{Firewall: true})
		if err := h.SetNetem(Netem{Delay: time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		made = lab.Namespaces()
		if len(made) != 6 {
			t.Fatalf("namespaces %v, want 6", made)
		}
		if out := netnsList(t); !strings.Contains(out, tag) {
			t.Fatalf("ip netns list does not show the lab %s:\n%s", tag, out)
		}
	})
	if tag == "" {
		t.Fatal("subtest did not build a lab")
	}
	if out := netnsList(t); strings.Contains(out, tag) {
		t.Fatalf("namespaces of lab %s left after cleanup:\n%s", tag, out)
	}
}

func netnsList(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "list").CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns list: %v: %s", err, out)
	}
	return string(out)
}

func TestRunAndCommand(t *testing.T) {
	t.Parallel()
	lab := New(t)
	h := lab.Host("h", HostConfig{NAT: EndpointIndependent})

	var addrs []net.Addr
	if err := h.Run(func() error {
		var err error
		addrs, err = net.InterfaceAddrs()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if !containsAddr(addrs, h.Addr) {
		t.Fatalf("inside the host, addresses are %v; want %v among them", addrs, h.Addr)
	}
	// The caller's own namespace is untouched.
	for range 20 {
		_ = h.Run(func() error { return nil })
	}
	own, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	if containsAddr(own, h.Addr) {
		t.Fatalf("the test process sees the lab address %v: %v", h.Addr, own)
	}

	sentinel := errors.New("sentinel")
	if err := h.Run(func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Fatalf("Run returned %v, want fn's error", err)
	}
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Fatalf("recovered %v, want boom", v)
			}
		}()
		_ = h.Run(func() error { panic("boom") })
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := h.Command(ctx, "ip", "-4", "-o", "addr", "show", "dev", "eth0").CombinedOutput()
	if err != nil {
		t.Fatalf("command: %v: %s", err, out)
	}
	if !bytes.Contains(out, []byte(h.Addr.String()+"/24")) {
		t.Fatalf("ip addr inside the host shows %q, want %v", out, h.Addr)
	}
	out, err = h.Command(ctx, "ip", "-4", "route", "show", "default").CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("via")) {
		t.Fatalf("NAT host default route: %v: %s", err, out)
	}
}

func containsAddr(addrs []net.Addr, want netip.Addr) bool {
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr() == want {
			return true
		}
	}
	return false
}

func TestAddHostErrors(t *testing.T) {
	t.Parallel()
	lab := New(t)
	lab.Host("x", HostConfig{})
	for _, name := range []string{"", "x", "has space", "slash/y", strings.Repeat("n", 25)} {
		if _, err := lab.AddHost(name, HostConfig{}); !errors.Is(err, ErrBadName) {
			t.Errorf("AddHost(%q) = %v, want ErrBadName", name, err)
		}
	}
	if _, err := lab.AddHost("y", HostConfig{NAT: NAT(9)}); err == nil {
		t.Error("AddHost with an unknown NAT succeeded")
	}
	if _, err := lab.AddHost("z", HostConfig{NAT: EndpointIndependent, LAN: netip.MustParsePrefix("10.1.0.0/16")}); err == nil {
		t.Error("AddHost with a /16 LAN succeeded")
	}
	h, err := lab.AddHost("lan", HostConfig{NAT: EndpointIndependent, LAN: netip.MustParsePrefix("172.16.5.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	if h.Addr != netip.MustParseAddr("172.16.5.2") {
		t.Fatalf("host on 172.16.5.0/24 got %v", h.Addr)
	}
	for _, n := range []Netem{{Loss: -1}, {Loss: 101}, {Reorder: 5}, {Delay: -time.Second}, {Rate: "fast"}, {Rate: "0mbit"}} {
		if err := h.SetNetem(n); !errors.Is(err, ErrNetem) {
			t.Errorf("SetNetem(%+v) = %v, want ErrNetem", n, err)
		}
	}
}

func TestNetemBehindNAT(t *testing.T) {
	t.Parallel()
	lab := New(t)
	n := lab.Host("n", HostConfig{NAT: EndpointIndependent})
	p := lab.Host("p", HostConfig{})
	cn, cp := listen(t, n), listen(t, p)
	if err := n.SetNetem(Netem{Delay: 10 * time.Millisecond, Jitter: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	send(t, cn, addrOf(cp), "hi")
	_, src, ok := recvWithin(t, cp, 2*time.Second)
	if !ok || src.Addr() != n.PublicIP {
		t.Fatalf("public host got ok=%v from %v, want from %v", ok, src, n.PublicIP)
	}
	best := time.Duration(1<<63 - 1)
	for range 5 {
		t0 := time.Now()
		send(t, cn, addrOf(cp), "ping")
		if _, _, ok := recvWithin(t, cp, 2*time.Second); !ok {
			t.Fatal("ping lost")
		}
		send(t, cp, src, "pong")
		expect(t, cn, "pong", addrOf(cp))
		best = min(best, time.Since(t0))
	}
	t.Logf("min RTT through the NAT with 10±1ms each way: %v", best)
	if best < 18*time.Millisecond || best > 100*time.Millisecond {
		t.Fatalf("RTT %v, want about 20ms", best)
	}
}
