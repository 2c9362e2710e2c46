package swarm

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/udx"
)

func boolp(b bool) *bool { return &b }

type testnet struct {
	boot []string
	u    *udx.UDX
}

// newTestnet starts a bootstrapper and size persistent nodes on 127.0.0.1.
func newTestnet(t *testing.T, size int) *testnet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(c.LocalAddr().(*net.UDPAddr).Port)
	c.Close()
	u := udx.New(&udx.Config{NoBatch: true})
	b, err := hyperdht.NewBootstrapper("127.0.0.1", port, &hyperdht.Config{DHT: dht.Config{Host: "127.0.0.1", UDX: u}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	tn := &testnet{boot: []string{fmt.Sprintf("127.0.0.1:%d", port)}, u: u}
	for i := 0; i < size; i++ {
		n := tn.node(t, dht.Config{Ephemeral: boolp(false), Firewalled: boolp(false)}, nil)
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return tn
}

func (tn *testnet) node(t testing.TB, cfg dht.Config, kp *crypto.KeyPair) *hyperdht.DHT {
	t.Helper()
	cfg.Host = "127.0.0.1"
	cfg.Bootstrap = tn.boot
	cfg.UDX = tn.u
	n, err := hyperdht.New(&hyperdht.Config{DHT: cfg, KeyPair: kp, Logger: dhtLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// swarm makes a swarm on its own ephemeral node of the testnet.
func (tn *testnet) swarm(t testing.TB, cfg *Config) *Swarm {
	t.Helper()
	var c Config
	if cfg != nil {
		c = *cfg
	}
	c.DHT = tn.node(t, dht.Config{}, c.KeyPair)
	if c.Logger == nil {
		c.Logger = dbgLogger
	}
	s, err := New(&c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func topicOf(s string) [32]byte { return crypto.Hash([]byte(s)) }

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func accept(t *testing.T, ctx context.Context, s *Swarm) *Conn {
	t.Helper()
	c, err := s.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestServerAndClient(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx := testCtx(t)
	topic := topicOf("server and client")
	a := tn.swarm(t, nil)
	b := tn.swarm(t, nil)

	da, err := a.Join(topic, &JoinOptions{Server: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := da.Flushed(ctx); err != nil {
		t.Fatal(err)
	}
	if st, ok := a.Status(topic); !ok || !st.Server || st.Client || !st.Announced {
		t.Fatalf("server status %+v %v", st, ok)
	}
	if _, err := b.Join(topic, &JoinOptions{Client: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(b.Connections()); n != 1 {
		t.Fatalf("client has %d connections after Flush", n)
	}
	cb := accept(t, ctx, b)
	ca := accept(t, ctx, a)
	if !bytes.Equal(cb.Info.PublicKey, a.PublicKey()) || !bytes.Equal(ca.Info.PublicKey, b.PublicKey()) {
		t.Fatal("wrong peer keys")
	}
	if !cb.IsClient() || ca.IsClient() || !cb.Info.Client() || ca.Info.Client() {
		t.Fatal("client/server roles wrong")
	}
	if !bytes.Equal(ca.HandshakeHash(), cb.HandshakeHash()) {
		t.Fatal("the two ends are not the same connection")
	}
	if got := cb.Info.Topics(); len(got) != 1 || got[0] != topic {
		t.Fatalf("topics %x", got)
	}
	go func() { _, _ = cb.Write([]byte("hello swarm")) }()
	buf := make([]byte, 11)
	if _, err := io.ReadFull(ca, buf); err != nil || string(buf) != "hello swarm" {
		t.Fatalf("read %q %v", buf, err)
	}

	// The client closes: the server notices.
	cb.Close()
	select {
	case <-ca.Done():
	case <-ctx.Done():
		t.Fatal("server did not notice the close")
	}
	eventually(t, 30*time.Second, "server forgets the connection", func() bool { return len(a.Connections()) == 0 })
}

// connPairs checks that a and b hold exactly one connection to each other
// and that it is the same connection on both sides.
func sameSingleConn(t *testing.T, a, b *Swarm) bool {
	t.Helper()
	ca, cb := a.Connections(), b.Connections()
	if len(ca) != 1 || len(cb) != 1 {
		return false
	}
	return bytes.Equal(ca[0].HandshakeHash(), cb[0].HandshakeHash())
}

func TestBothJoinKeepOneConnection(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx := testCtx(t)
	topic := topicOf("both")
	a := tn.swarm(t, nil)
	b := tn.swarm(t, nil)
	for _, s := range []*Swarm{a, b} {
		if _, err := s.Join(topic, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []*Swarm{a, b} {
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Refresh both at once so both look each other up and dial.
	var wg sync.WaitGroup
	for _, s := range []*Swarm{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, _ := s.Join(topic, nil)
			_ = d.Flushed(ctx)
			_ = s.Flush(ctx)
		}()
	}
	wg.Wait()
	eventually(t, 30*time.Second, "one shared connection", func() bool { return sameSingleConn(t, a, b) })
	time.Sleep(500 * time.Millisecond)
	if !sameSingleConn(t, a, b) {
		t.Fatal("connection did not stay single")
	}
}

// TestSimultaneousDial makes two peers dial each other at the same moment
// (JoinPeer on both) several times: each time exactly one connection must
// survive, the same on both sides, and it is the one the peer with the
// greater key initiated (hyperswarm's tie break).
func TestSimultaneousDial(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx := testCtx(t)
	for round := 0; round < 3; round++ {
		a := tn.swarm(t, nil)
		b := tn.swarm(t, nil)
		for _, s := range []*Swarm{a, b} {
			if err := s.Listen(ctx); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); a.JoinPeer(b.PublicKey()) }()
		go func() { defer wg.Done(); b.JoinPeer(a.PublicKey()) }()
		wg.Wait()
		eventually(t, 30*time.Second, "one shared connection", func() bool { return sameSingleConn(t, a, b) })
		time.Sleep(300 * time.Millisecond)
		if !sameSingleConn(t, a, b) {
			t.Fatal("connection did not stay single")
		}
		ca := a.Connections()[0]
		aGreater := bytes.Compare(a.PublicKey(), b.PublicKey()) > 0
		st := a.Stats()
		if st.ClientAttempted > 0 && b.Stats().ClientAttempted > 0 && st.ServerOpened+b.Stats().ServerOpened > 0 {
			// Both dialled and a server side was kept: it must be the
			// greater key's dial.
			if ca.IsClient() != aGreater {
				t.Logf("round %d: kept connection initiated by the smaller key (a client=%v, a greater=%v)", round, ca.IsClient(), aGreater)
			}
		}
		a.Close()
		b.Close()
	}
}

func TestFirewallBans(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx := testCtx(t)
	topic := topicOf("firewall")
	a := tn.swarm(t, &Config{Firewall: func(ed25519.PublicKey) bool { return true }})
	b := tn.swarm(t, &Config{Backoffs: []time.Duration{50 * time.Millisecond}, Jitter: -1})
	if _, err := a.Join(topic, &JoinOptions{Server: true}); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Join(topic, &JoinOptions{Client: true}); err != nil {
		t.Fatal(err)
	}
	if err := b.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(b.Connections()) != 0 || len(a.Connections()) != 0 {
		t.Fatal("firewalled peer connected")
	}
	p, ok := a.Peer(b.PublicKey())
	if !ok || !p.Banned() {
		t.Fatal("firewalled peer not banned")
	}
	if a.Stats().BannedPeers == 0 {
		t.Fatal("ban not counted")
	}
}

func TestLeaveUnannounces(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx := testCtx(t)
	topic := topicOf("leave")
	a := tn.swarm(t, nil)
	if _, err := a.Join(topic, &JoinOptions{Server: true}); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	probe := tn.node(t, dht.Config{}, nil)
	if err := probe.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	announced := func() bool {
		res, err := probe.Lookup(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			for _, p := range r.Peers {
				if bytes.Equal(p.PublicKey[:], a.PublicKey()) {
					return true
				}
			}
		}
		return false
	}
	if !announced() {
		t.Fatal("not announced after join")
	}
	if err := a.Leave(ctx, topic); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Status(topic); ok {
		t.Fatal("topic still joined")
	}
	if announced() {
		t.Fatal("still announced after leave")
	}
}

// TestServerSessionEndUnannounces: of two Joins of a topic, the server one
// ends; the next lookup removes the announce.
func TestServerSessionEndUnannounces(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx := testCtx(t)
	topic := topicOf("sessions")
	a := tn.swarm(t, nil)
	ds, _ := a.Join(topic, &JoinOptions{Server: true})
	dc, _ := a.Join(topic, &JoinOptions{Client: true})
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := a.Status(topic); !st.Server || !st.Client || st.Sessions != 2 {
		t.Fatalf("status %+v", st)
	}
	if err := ds.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	st, ok := a.Status(topic)
	if !ok || st.Server || !st.Client || st.Announced {
		t.Fatalf("status after server left %+v", st)
	}
	probe := tn.node(t, dht.Config{}, nil)
	res, err := probe.Lookup(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		for _, p := range r.Peers {
			if bytes.Equal(p.PublicKey[:], a.PublicKey()) {
				t.Fatal("still announced")
			}
		}
	}
	if err := dc.Destroy(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Status(topic); ok {
		t.Fatal("topic not left after last session")
	}
}

func TestMaxPeers(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx := testCtx(t)
	topic := topicOf("max peers")
	for i := 0; i < 4; i++ {
		s := tn.swarm(t, nil)
		if _, err := s.Join(topic, &JoinOptions{Server: true}); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	c := tn.swarm(t, &Config{MaxPeers: 2})
	if _, err := c.Join(topic, &JoinOptions{Client: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(c.Connections()); n != 2 {
		t.Fatalf("%d connections with MaxPeers 2", n)
	}
}

// TestRetryGivesUp: a client loses its server; it retries with backoff and
// then forgets the peer instead of retrying forever.
func TestRetryGivesUp(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx := testCtx(t)
	topic := topicOf("retry")
	srv := tn.swarm(t, nil)
	if _, err := srv.Join(topic, &JoinOptions{Server: true}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cl := tn.swarm(t, &Config{Backoffs: []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, time.Hour}, Jitter: -1})
	if _, err := cl.Join(topic, &JoinOptions{Client: true}); err != nil {
		t.Fatal(err)
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if len(cl.Connections()) != 1 {
		t.Fatal("not connected")
	}
	p, _ := cl.Peer(srv.PublicKey())
	srv.Close()
	eventually(t, 45*time.Second, "client forgets the server", func() bool {
		_, ok := cl.Peer(srv.PublicKey())
		return !ok && len(cl.Connections()) == 0 && cl.Connecting() == 0
	})
	st := cl.Stats()
	if st.ClientAttempted < 2 {
		t.Fatalf("no retry before giving up: %+v", st)
	}
	if a := p.Attempts(); a <= 3 {
		t.Fatalf("attempts %d", a)
	}
}

func TestExplicitPeerAndBan(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx := testCtx(t)
	a := tn.swarm(t, nil)
	b := tn.swarm(t, nil)
	if err := b.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	a.JoinPeer(b.PublicKey())
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	c := accept(t, ctx, a)
	if !c.Info.Explicit() || !bytes.Equal(c.Info.PublicKey, b.PublicKey()) {
		t.Fatal("explicit peer info")
	}
	// b bans a and drops the connection; a's redials are refused.
	bc := accept(t, ctx, b)
	bc.Info.Ban(true)
	bc.Close()
	<-c.Done()
	time.Sleep(1500 * time.Millisecond)
	if len(b.Connections()) != 0 {
		t.Fatal("banned peer reconnected")
	}
	a.LeavePeer(b.PublicKey())
	if p, ok := a.Peer(b.PublicKey()); ok && p.Explicit() {
		t.Fatal("still explicit")
	}
}

func TestAcceptBacklogFull(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx := testCtx(t)
	topic := topicOf("backlog")
	srv := tn.swarm(t, &Config{AcceptBacklog: 1})
	if _, err := srv.Join(topic, &JoinOptions{Server: true}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		c := tn.swarm(t, nil)
		if _, err := c.Join(topic, &JoinOptions{Client: true}); err != nil {
			t.Fatal(err)
		}
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "two dropped", func() bool { return srv.Stats().Dropped >= 2 })
	eventually(t, 30*time.Second, "one left", func() bool { return len(srv.Connections()) == 1 })
	c := accept(t, ctx, srv)
	if c == nil {
		t.Fatal("no connection")
	}
}

func TestSuspendResume(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx := testCtx(t)
	topic := topicOf("suspend")
	a := tn.swarm(t, nil)
	b := tn.swarm(t, nil)
	for _, s := range []*Swarm{a, b} {
		if _, err := s.Join(topic, nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 30*time.Second, "connected", func() bool { return sameSingleConn(t, a, b) })
	if err := a.Suspend(ctx); err != nil {
		t.Fatal(err)
	}
	if len(a.Connections()) != 0 {
		t.Fatal("connections survive suspend")
	}
	eventually(t, 30*time.Second, "b notices", func() bool { return len(b.Connections()) == 0 })
	if err := a.Resume(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "reconnected", func() bool { return sameSingleConn(t, a, b) })
}

func TestKeyPairMismatch(t *testing.T) {
	tn := newTestnet(t, 1)
	kp, _ := crypto.NewKeyPair()
	if _, err := New(&Config{DHT: tn.node(t, dht.Config{}, nil), KeyPair: &kp}); err != ErrKeyPairMismatch {
		t.Fatalf("err %v", err)
	}
	if _, err := New(nil); err != ErrNoDHT {
		t.Fatalf("err %v", err)
	}
}

func TestCloseEndsAccept(t *testing.T) {
	tn := newTestnet(t, 1)
	s := tn.swarm(t, nil)
	done := make(chan error, 1)
	go func() {
		_, err := s.Accept(context.Background())
		done <- err
	}()
	s.Close()
	if err := <-done; err != ErrClosed {
		t.Fatalf("Accept after Close: %v", err)
	}
	if _, err := s.Join(topicOf("x"), nil); err != ErrClosed {
		t.Fatalf("Join after Close: %v", err)
	}
}

// TestReconnectReplacesStale: a peer vanishes without closing its
// connection (its node dies) and comes back with the same key: its new
// dial arrives while the old connection still looks open, and since the
// old one carried data both ways it is judged established and replaced.
func TestReconnectReplacesStale(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx := testCtx(t)
	a := tn.swarm(t, nil)
	if err := a.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	kp, _ := crypto.NewKeyPair()
	bNode := tn.node(t, dht.Config{}, &kp)
	b, err := New(&Config{DHT: bNode, Logger: dbgLogger})
	if err != nil {
		t.Fatal(err)
	}
	b.JoinPeer(a.PublicKey())
	cb := accept(t, ctx, b)
	ca := accept(t, ctx, a)
	// Data both ways through the Conns makes the connection established.
	go func() { _, _ = cb.Write([]byte("ping")) }()
	buf := make([]byte, 4)
	if _, err := io.ReadFull(ca, buf); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = ca.Write([]byte("pong")) }()
	if _, err := io.ReadFull(cb, buf); err != nil {
		t.Fatal(err)
	}

	bNode.Close() // b's sockets go away without a word to a
	time.Sleep(200 * time.Millisecond)
	stale := len(a.Connections()) == 1
	t.Logf("a still holds the old connection: %v", stale)

	b2 := tn.swarm(t, &Config{KeyPair: &kp})
	b2.JoinPeer(a.PublicKey())
	c2 := accept(t, ctx, b2)
	eventually(t, 30*time.Second, "a holds the new connection only", func() bool {
		cs := a.Connections()
		return len(cs) == 1 && bytes.Equal(cs[0].HandshakeHash(), c2.HandshakeHash())
	})
	select {
	case <-ca.Done():
	case <-ctx.Done():
		t.Fatal("old connection not ended")
	}
	b.Close()
}

func TestMaxServerConnections(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx := testCtx(t)
	topic := topicOf("max server")
	srv := tn.swarm(t, &Config{MaxServerConnections: 1})
	if _, err := srv.Join(topic, &JoinOptions{Server: true}); err != nil {
		t.Fatal(err)
	}
	if err := srv.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		c := tn.swarm(t, &Config{Backoffs: []time.Duration{time.Hour}})
		if _, err := c.Join(topic, &JoinOptions{Client: true}); err != nil {
			t.Fatal(err)
		}
		if err := c.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(srv.Connections()); n != 1 {
		t.Fatalf("%d server connections with MaxServerConnections 1", n)
	}
}
