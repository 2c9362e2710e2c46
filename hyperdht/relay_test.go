package hyperdht

import (
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/secretstream"
	"github.com/warrenp2p/warren/udx"
)

// remoteOf is the address a hyperdht connection's UDX stream sends to.
func remoteOf(t *testing.T, c any) netip.AddrPort {
	t.Helper()
	sc, ok := c.(*secretstream.Conn)
	if !ok {
		t.Fatalf("%T is no secretstream.Conn", c)
	}
	st, ok := sc.NetConn().(*udx.Stream)
	if !ok {
		t.Fatalf("%T is no udx.Stream", sc.NetConn())
	}
	return st.RemoteAddrPort()
}

func echoOnce(t *testing.T, c io.ReadWriter, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("echo: %q %v", buf, err)
	}
}

// testRelayed connects a firewalled client to a firewalled server on one
// host with the local shortcuts and hole punching off, so the only way is
// the blind relay, named by the client (clientRelay) or by the server.
func testRelayed(t *testing.T, clientRelay bool) {
	tn := newTestnet(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rkp, _ := crypto.NewKeyPair()
	rn := tn.add(t, &Config{DHT: dht.Config{Firewalled: boolp(false)}, KeyPair: &rkp})
	if err := rn.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := rn.ServeBlindRelay(ctx, rkp); err != nil {
		t.Fatal(err)
	}
	relayKey := func() ed25519.PublicKey { return rkp.PublicKey }
	fw := dht.Config{Ephemeral: boolp(true), NoQuickFirewall: true}
	sn := tn.add(t, &Config{DHT: fw, Logger: testLogger(t, "server")})
	cn := tn.add(t, &Config{DHT: fw, Logger: testLogger(t, "client")})
	for _, n := range []*DHT{sn, cn} {
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
	}
	kp, _ := crypto.NewKeyPair()
	lo := &ListenOptions{NoLocalConnection: true}
	co := &ConnectOptions{NoLocalConnection: true, NoFastOpen: true, Holepunch: func(_, _ uint64) bool { return false }}
	if clientRelay {
		co.RelayThrough = relayKey
	} else {
		lo.RelayThrough = relayKey
	}
	srv, err := sn.ListenWith(ctx, kp, lo)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan any, 1)
	go func() {
		c, err := srv.Accept(ctx)
		if err != nil {
			return
		}
		accepted <- c
		io.Copy(c, c)
		c.Close()
	}()
	c, err := cn.ConnectWith(ctx, kp.PublicKey, co)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	echoOnce(t, c, "through the relay")
	relayAddr := rn.Node().LocalAddr()
	if got := remoteOf(t, c); got != relayAddr {
		t.Fatalf("client stream goes to %v, not the relay at %v", got, relayAddr)
	}
	if got := remoteOf(t, <-accepted); got != relayAddr {
		t.Fatalf("server stream goes to %v, not the relay at %v", got, relayAddr)
	}
	t.Logf("path: relay %v", relayAddr)
}

func TestConnectThroughRelayClientNamed(t *testing.T) { testRelayed(t, true) }
func TestConnectThroughRelayServerNamed(t *testing.T) { testRelayed(t, false) }

// With a relay named but hole punching possible, the peers punch and the
// relay stays unused.
func TestConnectRelayUnusedWhenPunching(t *testing.T) {
	tn := newTestnet(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rkp, _ := crypto.NewKeyPair()
	rn := tn.add(t, &Config{DHT: dht.Config{Firewalled: boolp(false)}})
	if err := rn.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	relay, err := rn.ServeBlindRelay(ctx, rkp)
	if err != nil {
		t.Fatal(err)
	}
	fw := dht.Config{Ephemeral: boolp(true), NoQuickFirewall: true}
	sn := tn.add(t, &Config{DHT: fw})
	cn := tn.add(t, &Config{DHT: fw, RelayThrough: func() ed25519.PublicKey { return rkp.PublicKey }})
	for _, n := range []*DHT{sn, cn} {
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
	}
	kp, _ := crypto.NewKeyPair()
	srv, err := sn.ListenWith(ctx, kp, &ListenOptions{NoLocalConnection: true})
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, srv)
	c, err := cn.ConnectWith(ctx, kp.PublicKey, &ConnectOptions{NoLocalConnection: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	echoOnce(t, c, "punched")
	if got := remoteOf(t, c); got == rn.Node().LocalAddr() {
		t.Fatalf("went through the relay at %v", got)
	}
	_ = relay
	t.Logf("path: punched to %v", remoteOf(t, c))
}

// testLogger logs at debug level with -v and WARREN_DEBUG set.
func testLogger(t *testing.T, name string) *slog.Logger {
	if !testing.Verbose() || os.Getenv("WARREN_DEBUG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", name)
}

// relayEnv is a loopback testnet with a blind relay and two firewalled
// peers that cannot reach each other but through it.
type relayEnv struct {
	relayNode, sn, cn *DHT
	relay             *Server
	rkp               crypto.KeyPair
}

func newRelayEnv(t *testing.T, ctx context.Context) *relayEnv {
	tn := newTestnet(t, 4)
	e := &relayEnv{}
	e.rkp, _ = crypto.NewKeyPair()
	e.relayNode = tn.add(t, &Config{DHT: dht.Config{Firewalled: boolp(false)}})
	fw := dht.Config{Ephemeral: boolp(true), NoQuickFirewall: true}
	e.sn = tn.add(t, &Config{DHT: fw})
	e.cn = tn.add(t, &Config{DHT: fw})
	for _, n := range []*DHT{e.relayNode, e.sn, e.cn} {
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if e.relay, err = e.relayNode.ServeBlindRelay(ctx, e.rkp); err != nil {
		t.Fatal(err)
	}
	return e
}

func noPunch(relay ed25519.PublicKey) *ConnectOptions {
	return &ConnectOptions{NoLocalConnection: true, NoFastOpen: true, Holepunch: func(_, _ uint64) bool { return false },
		RelayThrough: func() ed25519.PublicKey { return relay }}
}

// A relay that goes away takes the relayed connection with it.
func TestRelayGoneEndsConnection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e := newRelayEnv(t, ctx)
	kp, _ := crypto.NewKeyPair()
	srv, err := e.sn.ListenWith(ctx, kp, &ListenOptions{NoLocalConnection: true})
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, srv)
	c, err := e.cn.ConnectWith(ctx, kp.PublicKey, noPunch(e.rkp.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	echoOnce(t, c, "before")
	e.relayNode.Close()
	buf := make([]byte, 1)
	_, err = c.Read(buf)
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("read through a closed relay: %v", err)
	}
}

// A named relay that does not exist fails the connection with
// ErrRelayFailed once punching was declined.
func TestRelayMissing(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	e := newRelayEnv(t, ctx)
	kp, _ := crypto.NewKeyPair()
	srv, err := e.sn.ListenWith(ctx, kp, &ListenOptions{NoLocalConnection: true})
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, srv)
	nobody, _ := crypto.NewKeyPair()
	_, err = e.cn.ConnectWith(ctx, kp.PublicKey, noPunch(nobody.PublicKey))
	if !errors.Is(err, ErrRelayFailed) {
		t.Fatalf("got %v, want ErrRelayFailed", err)
	}
}

// Config.BlindRelay makes a node a relay under its key pair once it has
// bootstrapped.
func TestConfigBlindRelay(t *testing.T) {
	tn := newTestnet(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	rkp, _ := crypto.NewKeyPair()
	rn := tn.add(t, &Config{DHT: dht.Config{Firewalled: boolp(false)}, KeyPair: &rkp, BlindRelay: true})
	fw := dht.Config{Ephemeral: boolp(true), NoQuickFirewall: true}
	sn := tn.add(t, &Config{DHT: fw})
	cn := tn.add(t, &Config{DHT: fw})
	for _, n := range []*DHT{rn, sn, cn} {
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
	}
	kp, _ := crypto.NewKeyPair()
	srv, err := sn.ListenWith(ctx, kp, &ListenOptions{NoLocalConnection: true})
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, srv)
	// The relay announces itself in the background: retry until it can
	// be found.
	for {
		c, err := cn.ConnectWith(ctx, kp.PublicKey, noPunch(rkp.PublicKey))
		if err == nil {
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			echoOnce(t, c, "via a Config.BlindRelay node")
			if got := remoteOf(t, c); got != rn.Node().LocalAddr() {
				t.Fatalf("stream goes to %v, not the relay at %v", got, rn.Node().LocalAddr())
			}
			return
		}
		if ctx.Err() != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Connect remembers the nodes that led to a server and goes through them
// the next time; ConnectOptions.RelayAddresses names them up front.
func TestRelayAddressesRemembered(t *testing.T) {
	tn := newTestnet(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fw := dht.Config{Ephemeral: boolp(true), NoQuickFirewall: true}
	sn := tn.add(t, &Config{DHT: fw})
	cn := tn.add(t, &Config{DHT: fw})
	cn2 := tn.add(t, &Config{DHT: fw})
	for _, n := range []*DHT{sn, cn, cn2} {
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
	}
	kp, _ := crypto.NewKeyPair()
	srv, err := sn.Listen(ctx, kp, nil)
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, srv)
	for i := 0; i < 2; i++ {
		c, err := cn.Connect(ctx, kp.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		echoOnce(t, c, "again")
		c.Close()
		via := cn.cachedRelayAddresses(crypto.Hash(kp.PublicKey))
		if len(via) == 0 {
			t.Fatal("no relay addresses remembered")
		}
		for _, a := range via {
			found := false
			for _, r := range srv.RelayAddresses() {
				found = found || r == a
			}
			if !found {
				t.Fatalf("remembered %v, not one of the server's relays %v", a, srv.RelayAddresses())
			}
		}
	}
	// Another node given the addresses connects through them.
	c, err := cn2.ConnectWith(ctx, kp.PublicKey, &ConnectOptions{RelayAddresses: srv.RelayAddresses()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	echoOnce(t, c, "named nodes")
}

func TestRelayKeys(t *testing.T) {
	a, _ := crypto.NewKeyPair()
	b, _ := crypto.NewKeyPair()
	pick := RelayKeys(a.PublicKey, b.PublicKey)
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		seen[string(pick())] = true
	}
	if len(seen) != 2 {
		t.Fatalf("picked %d different keys", len(seen))
	}
	if RelayKeys()() != nil {
		t.Fatal("no keys should pick none")
	}
	if pickRelay(func() ed25519.PublicKey { return []byte{1, 2} }, nil) != nil {
		t.Fatal("a short key was accepted")
	}
}

// Declining to punch with no relay named fails with ErrHolepunchDeclined.
func TestHolepunchDeclined(t *testing.T) {
	tn := newTestnet(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	fw := dht.Config{Ephemeral: boolp(true), NoQuickFirewall: true}
	sn := tn.add(t, &Config{DHT: fw})
	cn := tn.add(t, &Config{DHT: fw})
	for _, n := range []*DHT{sn, cn} {
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
	}
	kp, _ := crypto.NewKeyPair()
	srv, err := sn.ListenWith(ctx, kp, &ListenOptions{NoLocalConnection: true})
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, srv)
	var seen [2]uint64
	_, err = cn.ConnectWith(ctx, kp.PublicKey, &ConnectOptions{NoLocalConnection: true, NoFastOpen: true,
		Holepunch: func(remote, local uint64) bool { seen = [2]uint64{remote, local}; return false }})
	if !errors.Is(err, ErrHolepunchDeclined) {
		t.Fatalf("got %v, want ErrHolepunchDeclined", err)
	}
	if seen[0] == FirewallUnknown || seen[1] == FirewallUnknown {
		t.Fatalf("Holepunch saw firewalls %v", seen)
	}
}
