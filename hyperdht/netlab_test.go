package hyperdht

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/internal/netlab"
	"github.com/warrenp2p/warren/udx"
)

// labNode starts a hyperdht node whose sockets live in h's namespace;
// each of more adjusts its Config.
func labNode(t *testing.T, h *netlab.Host, boot bool, cfg dht.Config, more ...func(*Config)) *DHT {
	t.Helper()
	u := udx.New(nil)
	var log *slog.Logger
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("host", h.Name)
	}
	c := &Config{Logger: log, DHT: cfg, Listen: func(u *udx.UDX, network, addr string) (s *udx.Socket, err error) {
		err2 := h.Run(func() error { s, err = u.Listen(network, addr); return err })
		if err == nil {
			err = err2
		}
		return s, err
	}}
	c.DHT.UDX = u
	c.DHT.Host = h.Addr.String()
	for _, f := range more {
		f(c)
	}
	var d *DHT
	err := h.Run(func() (err error) {
		if boot {
			d, err = NewBootstrapper(h.Addr.String(), 49737, c)
		} else {
			d, err = New(c)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// Two peers, each behind its own NAT with a firewall, the DHT on the
// public segment: consistent/consistent and consistent/random pairs (both
// ways round) are hole punched; random/random fails cleanly without a
// relay (TestNetlabRelayFallback has one).
func TestNetlabHolepunch(t *testing.T) {
	ei, rp := netlab.EndpointIndependent, netlab.RandomPort
	for _, c := range []struct {
		server, client netlab.NAT
		err            error
	}{{ei, ei, nil}, {ei, rp, nil}, {rp, ei, nil}, {rp, rp, ErrDoubleRandomNAT}} {
		t.Run(fmt.Sprintf("server=%v,client=%v", c.server, c.client), func(t *testing.T) {
			testNetlabHolepunch(t, c.server, c.client, c.err)
		})
	}
}

func testNetlabHolepunch(t *testing.T, serverNAT, clientNAT netlab.NAT, wantErr error) {
	lab := netlab.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pub := lab.Host("pub", netlab.HostConfig{})
	labNode(t, pub, true, dht.Config{})
	bs := []string{netip.AddrPortFrom(pub.Addr, 49737).String()}
	for i := 0; i < 4; i++ {
		h := lab.Host(fmt.Sprintf("pub%d", i), netlab.HostConfig{})
		n := labNode(t, h, false, dht.Config{Bootstrap: bs, Ephemeral: boolp(false), Firewalled: boolp(false)})
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sh := lab.Host("server", netlab.HostConfig{NAT: serverNAT, Firewall: true})
	ch := lab.Host("client", netlab.HostConfig{NAT: clientNAT, Firewall: true})
	sn := labNode(t, sh, false, dht.Config{Bootstrap: bs})
	cn := labNode(t, ch, false, dht.Config{Bootstrap: bs})
	if err := sn.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cn.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	if !sn.Node().Firewalled() || !cn.Node().Firewalled() {
		t.Fatalf("peers behind NATs should be firewalled: server %v client %v", sn.Node().Firewalled(), cn.Node().Firewalled())
	}
	kp, _ := crypto.NewKeyPair()
	srv, err := sn.Listen(ctx, kp, nil)
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, srv)
	start := time.Now()
	c, err := cn.Connect(ctx, kp.PublicKey)
	if wantErr != nil {
		// The server may see both NATs random first and abort, as
		// hyperdht's does: that is the same failure.
		if !errors.Is(err, wantErr) && !(wantErr == ErrDoubleRandomNAT && errors.Is(err, ErrRemoteAborted)) {
			t.Fatalf("connect: %v, want %v", err, wantErr)
		}
		t.Logf("path: none (%v)", err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("punched")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "punched" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	ra, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	if ra.Addr() != sh.PublicIP {
		t.Fatalf("stream goes to %v, not the server's NAT %v", ra, sh.PublicIP)
	}
	t.Logf("path: punched, client stream to %v (server behind %v NAT at %v), %v", ra, serverNAT, sh.PublicIP, time.Since(start).Round(time.Millisecond))
}

// Two Go peers on one host behind a NAT without hairpinning connect through
// the server's local address.
func TestNetlabSameNAT(t *testing.T) {
	lab := netlab.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pub := lab.Host("pub", netlab.HostConfig{})
	labNode(t, pub, true, dht.Config{})
	bs := []string{netip.AddrPortFrom(pub.Addr, 49737).String()}
	for i := 0; i < 4; i++ {
		h := lab.Host(fmt.Sprintf("pub%d", i), netlab.HostConfig{})
		n := labNode(t, h, false, dht.Config{Bootstrap: bs, Ephemeral: boolp(false), Firewalled: boolp(false)})
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
	}
	h := lab.Host("home", netlab.HostConfig{NAT: netlab.EndpointIndependent, Firewall: true})
	sn := labNode(t, h, false, dht.Config{Bootstrap: bs})
	cn := labNode(t, h, false, dht.Config{Bootstrap: bs})
	if err := sn.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cn.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	kp, _ := crypto.NewKeyPair()
	srv, err := sn.Listen(ctx, kp, nil)
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, srv)
	c, err := cn.Connect(ctx, kp.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("lan")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "lan" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	t.Logf("path: client stream to %v (host %v behind NAT %v)", c.RemoteAddr(), h.Addr, h.PublicIP)
}

// Two peers behind random NATs (no punching possible) with a blind relay
// on the public segment connect through it, the relay named by the client
// (Config.RelayThrough) or by the server (ListenOptions.RelayThrough);
// peers behind consistent NATs punch and leave the relay unused.
func TestNetlabRelayFallback(t *testing.T) {
	ei, rp := netlab.EndpointIndependent, netlab.RandomPort
	for _, c := range []struct {
		nat         netlab.NAT
		serverNames bool
	}{{rp, false}, {rp, true}, {ei, false}} {
		t.Run(fmt.Sprintf("nats=%v,named-by-server=%v", c.nat, c.serverNames), func(t *testing.T) {
			testNetlabRelay(t, c.nat, c.serverNames)
		})
	}
}

func testNetlabRelay(t *testing.T, nat netlab.NAT, serverNames bool) {
	lab := netlab.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	pub := lab.Host("pub", netlab.HostConfig{})
	labNode(t, pub, true, dht.Config{})
	bs := []string{netip.AddrPortFrom(pub.Addr, 49737).String()}
	var relayNode *DHT
	for i := 0; i < 4; i++ {
		h := lab.Host(fmt.Sprintf("pub%d", i), netlab.HostConfig{})
		n := labNode(t, h, false, dht.Config{Bootstrap: bs, Ephemeral: boolp(false), Firewalled: boolp(false)})
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
		relayNode = n
	}
	rkp, _ := crypto.NewKeyPair()
	if _, err := relayNode.ServeBlindRelay(ctx, rkp); err != nil {
		t.Fatal(err)
	}
	relayKey := func() ed25519.PublicKey { return rkp.PublicKey }
	sh := lab.Host("server", netlab.HostConfig{NAT: nat, Firewall: true})
	ch := lab.Host("client", netlab.HostConfig{NAT: nat, Firewall: true})
	sn := labNode(t, sh, false, dht.Config{Bootstrap: bs})
	cn := labNode(t, ch, false, dht.Config{Bootstrap: bs}, func(c *Config) {
		if !serverNames {
			c.RelayThrough = relayKey
		}
	})
	if err := sn.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cn.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	kp, _ := crypto.NewKeyPair()
	lo := &ListenOptions{}
	if serverNames {
		lo.RelayThrough = relayKey
	}
	srv, err := sn.ListenWith(ctx, kp, lo)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan netip.AddrPort, 1)
	go func() {
		c, err := srv.Accept(ctx)
		if err != nil {
			return
		}
		accepted <- remoteOf(t, c)
		io.Copy(c, c)
		c.Close()
	}()
	start := time.Now()
	c, err := cn.Connect(ctx, kp.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	echoOnce(t, c, "relayed past two NATs")
	relayAddr := relayNode.Node().LocalAddr()
	if nat != netlab.RandomPort {
		ra := remoteOf(t, c)
		if ra.Addr() != sh.PublicIP {
			t.Fatalf("stream goes to %v, not punched to the server's NAT %v", ra, sh.PublicIP)
		}
		t.Logf("path: punched to %v, relay at %v unused, %v", ra, relayAddr, time.Since(start).Round(time.Millisecond))
		return
	}
	if got := remoteOf(t, c); got != relayAddr {
		t.Fatalf("client stream goes to %v, not the relay at %v", got, relayAddr)
	}
	select {
	case got := <-accepted:
		if got != relayAddr {
			t.Fatalf("server stream goes to %v, not the relay at %v", got, relayAddr)
		}
	case <-ctx.Done():
		t.Fatal("server accepted nothing")
	}
	t.Logf("path: blind relay at %v (both peers behind random NATs), %v", relayAddr, time.Since(start).Round(time.Millisecond))
}
