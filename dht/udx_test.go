package dht

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/warrenp2p/warren/udx"
)

// The default transport: UDX sockets on 127.0.0.1.
func TestUDXTestnet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	boot, err := New(&Config{Host: "127.0.0.1", Ephemeral: boolp(false), Firewalled: boolp(false)})
	if err != nil {
		t.Fatal(err)
	}
	defer boot.Close()
	if err := boot.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	// no public address known without peers or a bootstrapper address
	if _, ok := boot.ID(); ok {
		t.Fatal("lone node became persistent without knowing its address")
	}
	bs := []string{boot.LocalAddr().String()}
	var nodes []*Node
	for i := 0; i < 4; i++ {
		n, err := New(&Config{Host: "127.0.0.1", Bootstrap: bs, Ephemeral: boolp(false)})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes[1:] {
		if id, ok := n.ID(); !ok || id != NodeID(n.LocalAddr()) {
			t.Fatalf("node %v not persistent", n.LocalAddr())
		}
	}
	id, _ := nodes[3].ID()
	q := nodes[0].FindNode(ctx, id, nil)
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if c := q.Closest(); len(c) == 0 || *c[0].FromID != id {
		t.Fatal("walk did not find the target node")
	}
}

func TestCongestionWindow(t *testing.T) {
	c := congestion{max: 2}
	c.send()
	if c.full() {
		t.Fatal("full at 1")
	}
	c.send()
	if !c.full() {
		t.Fatal("not full at max in one slot")
	}
	c.drain()
	c.send()
	c.send()
	if !c.full() || c.total != 4 {
		t.Fatal("total limit")
	}
	c.recv()
	if c.full() {
		t.Fatal("full after a response")
	}
	for i := 0; i < 4; i++ {
		c.drain()
	}
	if c.total != 0 {
		t.Fatalf("total %d after draining every slot", c.total)
	}
}

// Requests beyond the window wait and go out on later drains.
func TestCongestionQueuesRequests(t *testing.T) {
	tn := newTestnet(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := tn.add(t, &Config{MaxWindow: 2, Ephemeral: boolp(false), Firewalled: boolp(false)})
	if err := n.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 10)
	for i := 0; i < 10; i++ {
		go func() {
			_, err := n.Ping(ctx, tn.boot.LocalAddr())
			errs <- err
		}()
	}
	for i := 0; i < 10; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// On UDX sockets a node runs no goroutine of its own once bootstrapped:
// datagrams come through the sockets' handlers and the drain and tick
// timers re-arm themselves. Close leaves nothing behind.
func TestUDXNodeGoroutines(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	before := runtime.NumGoroutine()
	u := udx.New(nil)
	boot, err := NewBootstrapper("127.0.0.1", freePort(t), &Config{Host: "127.0.0.1", UDX: u})
	if err != nil {
		t.Fatal(err)
	}
	nodes := []*Node{boot}
	bs := []string{boot.LocalAddr().String()}
	const size = 12
	for i := 1; i < size; i++ {
		n, err := New(&Config{Host: "127.0.0.1", Bootstrap: bs, Ephemeral: boolp(false), Firewalled: boolp(false), UDX: u})
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	for _, n := range nodes {
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// two socket readers per node; allow for timer callbacks running now
	if g := runtime.NumGoroutine() - before; g > 2*size+4 {
		t.Errorf("%d goroutines for %d nodes", g, size)
	}
	// a walk still works through the handlers
	id, _ := nodes[size-1].ID()
	q := nodes[1].FindNode(ctx, id, nil)
	if err := q.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if c := q.Closest(); len(c) == 0 || *c[0].FromID != id {
		t.Fatal("walk did not find the target node")
	}
	for _, n := range nodes {
		n.Close()
	}
	waitGoroutines(t, before)
}

// waitGoroutines waits until at most n goroutines run (timer callbacks
// that already fired may still be returning).
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if runtime.NumGoroutine() <= n {
			return
		}
	}
	t.Fatalf("%d goroutines after Close, %d before", runtime.NumGoroutine(), n)
}

// freePort finds a UDP port that is free on 127.0.0.1 now.
func freePort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// A flood of junk and of valid requests from many ports, on UDX sockets
// (datagrams through the socket handler): the node keeps answering and
// gains no goroutines.
func TestUDXFloodNodeAnswers(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	u := udx.New(nil)
	target, err := NewBootstrapper("127.0.0.1", freePort(t), &Config{Host: "127.0.0.1", UDX: u})
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	if err := target.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	before := runtime.NumGoroutine()
	to := target.LocalAddr()
	junk := [][]byte{{requestID}, {requestID, 0xff, 0xff}, {responseID, 0, 1, 2, 3}, make([]byte, 1400)}
	for i := 0; i < 50; i++ {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		from := c.LocalAddr().(*net.UDPAddr).AddrPort()
		sid := NodeID(from)
		own := AppendRequest(nil, &RequestMessage{TID: uint16(i), To: to, ID: &sid, Internal: true, Command: CmdFindNode, Target: &sid})
		for j := 0; j < 100; j++ {
			b := own
			if j%2 == 1 {
				b = junk[(i+j)%len(junk)]
			}
			c.WriteToUDPAddrPort(b, to)
		}
		c.Close()
		if i%10 == 9 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	pinger, err := New(&Config{Host: "127.0.0.1", UDX: u})
	if err != nil {
		t.Fatal(err)
	}
	defer pinger.Close()
	if _, err := pinger.Ping(ctx, to); err != nil {
		t.Fatalf("node not answering after flood: %v", err)
	}
	if st := target.Stats(); st.Malformed == 0 || st.RequestsReceived == 0 {
		t.Fatalf("stats %+v", st)
	}
	// the pinger's two socket readers, and timer callbacks finishing
	if g := runtime.NumGoroutine() - before; g > 2+4 {
		t.Fatalf("%d more goroutines after the flood", g)
	}
}
