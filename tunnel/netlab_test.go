//go:build linux

package tunnel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/internal/netlab"
	"github.com/warrenp2p/warren/udx"
)

// labNode starts a hyperdht node whose sockets live in h's namespace.
func labNode(t *testing.T, h *netlab.Host, boot bool, kp *crypto.KeyPair, cfg dht.Config) *hyperdht.DHT {
	t.Helper()
	u := udx.New(nil)
	c := &hyperdht.Config{KeyPair: kp, DHT: cfg, Listen: func(u *udx.UDX, network, addr string) (s *udx.Socket, err error) {
		if err2 := h.Run(func() error { s, err = u.Listen(network, addr); return err }); err == nil {
			err = err2
		}
		return s, err
	}}
	c.DHT.UDX = u
	c.DHT.Host = h.Addr.String()
	var d *hyperdht.DHT
	err := h.Run(func() (err error) {
		if boot {
			d, err = hyperdht.NewBootstrapper(h.Addr.String(), 49737, c)
		} else {
			d, err = hyperdht.New(c)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// A tunnel between two peers, each behind its own consistent
// (endpoint-independent) NAT with a firewall, on a DHT on the public
// segment: the DHT connection is hole punched. The TCP ends (the service
// and the client's listener) are on this process's loopback; only the DHT
// and UDX traffic crosses the lab. Private mode, HTTP/1.0-style half-close
// and 16 MiB by SHA-256.
func TestNetlabTunnelAcrossNATs(t *testing.T) {
	lab := netlab.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	pub := lab.Host("pub", netlab.HostConfig{})
	labNode(t, pub, true, nil, dht.Config{})
	bs := []string{netip.AddrPortFrom(pub.Addr, 49737).String()}
	for i := 0; i < 4; i++ {
		h := lab.Host(fmt.Sprintf("pub%d", i), netlab.HostConfig{})
		n := labNode(t, h, false, nil, dht.Config{Bootstrap: bs, Ephemeral: boolp(false), Firewalled: boolp(false)})
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
	}
	sh := lab.Host("server", netlab.HostConfig{NAT: netlab.EndpointIndependent, Firewall: true})
	ch := lab.Host("client", netlab.HostConfig{NAT: netlab.EndpointIndependent, Firewall: true})

	const size = 16 << 20
	var sum [32]byte
	port := service(t, func(c *net.TCPConn) {
		req, _ := io.ReadAll(c) // until the client's half-close
		if string(req) != "GET /bulk HTTP/1.0\r\n\r\n" {
			return
		}
		h := sha256.New()
		w := io.MultiWriter(c, h)
		r := rand.NewChaCha8([32]byte{1})
		buf := make([]byte, 64*1024)
		for left := size; left > 0; left -= len(buf) {
			r.Read(buf)
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
		copy(sum[:], h.Sum(nil))
	})

	sn := labNode(t, sh, false, nil, dht.Config{Bootstrap: bs})
	if err := sn.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	srv, err := Serve(ctx, sn, ServerConfig{Port: port, Private: true})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()

	keys, err := ParseKey(srv.Key(), Auto)
	if err != nil {
		t.Fatal(err)
	}
	kp, _ := keys[0].KeyPair()
	cn := labNode(t, ch, false, &kp, dht.Config{Bootstrap: bs})
	if err := cn.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	if !sn.Node().Firewalled() || !cn.Node().Firewalled() {
		t.Fatalf("peers behind NATs should be firewalled: server %v client %v", sn.Node().Firewalled(), cn.Node().Firewalled())
	}
	k, rec, err := Resolve(ctx, cn, keys)
	if err != nil || rec == nil || !k.Private() {
		t.Fatalf("resolve: %+v %+v %v", k, rec, err)
	}
	cl, err := Listen(ctx, cn, ClientConfig{Key: k, Record: rec, Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()

	c := dial(t, cl.Addr().String())
	c.Write([]byte("GET /bulk HTTP/1.0\r\n\r\n"))
	c.CloseWrite()
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil || n != size {
		t.Fatalf("got %d bytes, %v", n, err)
	}
	if !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatal("SHA-256 differs")
	}
	// The path is punched: a connection of the client's node goes straight
	// to the server's NAT.
	dc, err := cn.Connect(ctx, srv.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	if ra, _ := netip.ParseAddrPort(dc.RemoteAddr().String()); ra.Addr() != sh.PublicIP {
		t.Fatalf("stream goes to %v, not the server's NAT %v", ra, sh.PublicIP)
	}
}
