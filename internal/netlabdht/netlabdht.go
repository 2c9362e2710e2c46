//go:build linux

// Package netlabdht starts HyperDHT nodes inside internal/netlab
// namespaces for tests: a small DHT (a bootstrapper and persistent,
// reachable nodes) on a lab's public segment, and peers on any lab host,
// behind a NAT or not. Every node's sockets live in its host's namespace
// and every node is closed when the test ends.
package netlabdht

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"testing"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/internal/netlab"
	"github.com/warrenp2p/warren/udx"
)

// BootstrapPort is the port the bootstrapper of Public listens on.
const BootstrapPort = 49737

// Options configures Node. The zero value is a plain node with a random
// identity, not bootstrapping, its own UDX instance and no logs.
type Options struct {
	// Bootstrapper makes the node a bootstrapper on BootstrapPort.
	Bootstrapper bool
	// KeyPair is the node's identity; nil means a random one.
	KeyPair *crypto.KeyPair
	// DHT is the node's dht configuration; Host is set to the host's
	// address and UDX to a new instance when nil.
	DHT dht.Config
	// Logger receives the node's logs; nil is silent.
	Logger *slog.Logger
	// Config, if not nil, adjusts the hyperdht configuration last.
	Config func(*hyperdht.Config)
}

// Node starts a hyperdht node on h: its sockets are opened inside h's
// namespace and it announces h's address. It fails the test on error.
func Node(tb testing.TB, h *netlab.Host, o Options) *hyperdht.DHT {
	tb.Helper()
	c := &hyperdht.Config{KeyPair: o.KeyPair, Logger: o.Logger, DHT: o.DHT, Listen: func(u *udx.UDX, network, addr string) (s *udx.Socket, err error) {
		if err2 := h.Run(func() error { s, err = u.Listen(network, addr); return err }); err == nil {
			err = err2
		}
		return s, err
	}}
	if c.DHT.UDX == nil {
		c.DHT.UDX = udx.New(nil)
	}
	c.DHT.Host = h.Addr.String()
	if o.Config != nil {
		o.Config(c)
	}
	var d *hyperdht.DHT
	err := h.Run(func() (err error) {
		if o.Bootstrapper {
			d, err = hyperdht.NewBootstrapper(h.Addr.String(), BootstrapPort, c)
		} else {
			d, err = hyperdht.New(c)
		}
		return err
	})
	if err != nil {
		tb.Fatalf("netlabdht: node on %s: %v", h.Name, err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// Public builds a small DHT on lab's public segment: a bootstrapper on a
// host named "pub" and n persistent, reachable nodes on hosts "pub0",
// "pub1", ... It waits until they have bootstrapped and returns the
// bootstrap list. logger, if not nil, gives each node a logger (by host).
func Public(tb testing.TB, ctx context.Context, lab *netlab.Lab, n int, logger func(*netlab.Host) *slog.Logger) []string {
	tb.Helper()
	log := func(h *netlab.Host) *slog.Logger {
		if logger == nil {
			return nil
		}
		return logger(h)
	}
	pub := lab.Host("pub", netlab.HostConfig{})
	Node(tb, pub, Options{Bootstrapper: true, Logger: log(pub)})
	bs := []string{netip.AddrPortFrom(pub.Addr, BootstrapPort).String()}
	no := false
	for i := 0; i < n; i++ {
		h := lab.Host(fmt.Sprintf("pub%d", i), netlab.HostConfig{})
		d := Node(tb, h, Options{Logger: log(h), DHT: dht.Config{Bootstrap: bs, Ephemeral: &no, Firewalled: &no}})
		if err := d.Bootstrapped(ctx); err != nil {
			tb.Fatalf("netlabdht: bootstrapping %s: %v", h.Name, err)
		}
	}
	return bs
}

// Peer starts a node on h (behind a NAT or not) that joins the DHT of
// bootstrap, and waits until it has bootstrapped. o.DHT.Bootstrap is set
// to bootstrap.
func Peer(tb testing.TB, ctx context.Context, h *netlab.Host, bootstrap []string, o Options) *hyperdht.DHT {
	tb.Helper()
	o.DHT.Bootstrap = bootstrap
	d := Node(tb, h, o)
	if err := d.Bootstrapped(ctx); err != nil {
		tb.Fatalf("netlabdht: bootstrapping %s: %v", h.Name, err)
	}
	return d
}
