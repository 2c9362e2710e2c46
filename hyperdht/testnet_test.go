package hyperdht

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/udx"
)

func boolp(b bool) *bool { return &b }

func freeUDPPort(t testing.TB) uint16 {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

type testnet struct {
	boot  []string
	nodes []*DHT
}

// newTestnet starts a bootstrapper and size persistent nodes on 127.0.0.1.
func newTestnet(t *testing.T, size int) *testnet { return newTestnetB(t, size) }

// newTestnetB is newTestnet for any test or benchmark.
func newTestnetB(t testing.TB, size int) *testnet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	port := freeUDPPort(t)
	u := udx.New(&udx.Config{NoBatch: true})
	b, err := NewBootstrapper("127.0.0.1", port, &Config{DHT: dht.Config{Host: "127.0.0.1", UDX: u}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	tn := &testnet{boot: []string{fmt.Sprintf("127.0.0.1:%d", port)}, nodes: []*DHT{b}}
	for i := 0; i < size; i++ {
		n := tn.addB(t, &Config{DHT: dht.Config{Ephemeral: boolp(false), Firewalled: boolp(false), UDX: u}})
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return tn
}

func (tn *testnet) add(t *testing.T, cfg *Config) *DHT { return tn.addB(t, cfg) }

func (tn *testnet) addB(t testing.TB, cfg *Config) *DHT {
	t.Helper()
	c := *cfg
	c.DHT.Host = "127.0.0.1"
	if c.DHT.Bootstrap == nil {
		c.DHT.Bootstrap = tn.boot
	}
	n, err := New(&c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	tn.nodes = append(tn.nodes, n)
	return n
}
