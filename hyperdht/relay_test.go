package hyperdht

import (
	"context"
	"crypto/ed25519"
	"io"
	"log/slog"
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
