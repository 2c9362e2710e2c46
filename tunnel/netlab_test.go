//go:build linux

package tunnel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/warrenp2p/warren/internal/netlab"
	"github.com/warrenp2p/warren/internal/netlabdht"
)

// A tunnel between two peers, each behind its own consistent
// (endpoint-independent) NAT with a firewall, on a DHT on the public
// segment: the DHT connection is hole punched. The TCP ends (the service
// and the client's listener) are on this process's loopback; only the DHT
// and UDX traffic crosses the lab. Private mode, HTTP/1.0-style half-close
// and 16 MiB by SHA-256; then a UDP tunnel between the same nodes.
func TestNetlabTunnelAcrossNATs(t *testing.T) {
	lab := netlab.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	bs := netlabdht.Public(t, ctx, lab, 4, nil)
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

	sn := netlabdht.Peer(t, ctx, sh, bs, netlabdht.Options{})
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
	cn := netlabdht.Peer(t, ctx, ch, bs, netlabdht.Options{KeyPair: &kp})
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

	// A public UDP tunnel between the same two nodes: senders on this
	// process's loopback each get back only their own datagrams, intact.
	usrv, err := Serve(ctx, sn, ServerConfig{Port: udpEcho(t), UDP: true})
	if err != nil {
		t.Fatal(err)
	}
	defer usrv.Close()
	ukeys, err := ParseKey(usrv.Key(), Public)
	if err != nil {
		t.Fatal(err)
	}
	uk, urec, err := Resolve(ctx, cn, ukeys)
	if err != nil || urec == nil || !urec.UDP {
		t.Fatalf("resolve the UDP server: %+v %v", urec, err)
	}
	ucl, err := Listen(ctx, cn, ClientConfig{Key: uk, Record: urec, Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer ucl.Close()
	for id := byte(1); id <= 2; id++ {
		if got := udpExchange(t, ucl.Addr().String(), id, 100); got < 90 {
			t.Fatalf("sender %d: %d of 100 datagrams came back", id, got)
		}
	}
}
