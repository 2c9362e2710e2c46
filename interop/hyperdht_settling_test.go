package interop

import (
	"bytes"
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/hyperdht"
)

// TestInteropHyperDHTSettlingServer connects a Go client several times to a
// JS server that started listening before its node was fully bootstrapped,
// so its firewall state changes between the connections, with a reusable
// socket as holesail's server has.
func TestInteropHyperDHTSettlingServer(t *testing.T) {
	for _, tc := range []struct {
		net      string
		fw       *bool
		wildcard bool // the Go client binds 0.0.0.0
	}{{"js", nil, false}, {"go", nil, false}, {"go", boolPtr(true), false}, {"go", boolPtr(false), false}, {"go", nil, true}, {"js", nil, true}} {
		net := tc.net
		t.Run(fmt.Sprintf("%s-network/goFirewalled=%v/wildcard=%v", net, ptrString(tc.fw), tc.wildcard), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			var js *jsHyperDHT
			var user *hyperdht.DHT
			var bs []string
			if net == "js" {
				js = startJSHyperDHT(t, "testnet", "4", "nowait", "adaptive")
				bs = js.Bootstrap
				user, _ = goHyperDHTNodes(t, ctx, bs, 2)
			} else {
				bs = goBootstrapper(t)
				user, _ = goHyperDHTNodesFW(t, ctx, bs, 4, tc.fw)
				js = startJSHyperDHT(t, "join", bs[0], "0", "nowait", "adaptive")
			}
			if tc.wildcard {
				u, err := hyperdht.New(&hyperdht.Config{DHT: dht.Config{Host: "0.0.0.0", Bootstrap: bs}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { u.Close() })
				if err := u.Bootstrapped(ctx); err != nil {
					t.Fatal(err)
				}
				user = u
			}
			var l struct {
				PublicKey string `json:"publicKey"`
			}
			js.do(t, map[string]any{"op": "listen", "seed": hex.EncodeToString(bytes.Repeat([]byte{9}, 32)), "reusableSocket": true}, &l)
			pk, _ := hex.DecodeString(l.PublicKey)
			for i := range 6 {
				var info map[string]any
				js.do(t, map[string]any{"op": "info"}, &info)
				t.Logf("connection %d, JS server node: %v", i, info)
				goEcho(t, ctx, user, pk, "hello")
				time.Sleep(100 * time.Millisecond)
			}
		})
	}
}

func goBootstrapper(t *testing.T) []string {
	t.Helper()
	Require(t)
	lc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(lc.LocalAddr().(*net.UDPAddr).Port)
	lc.Close()
	boot, err := hyperdht.NewBootstrapper("127.0.0.1", port, &hyperdht.Config{DHT: dht.Config{Host: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { boot.Close() })
	return []string{fmt.Sprintf("127.0.0.1:%d", port)}
}

func ptrString(b *bool) string {
	if b == nil {
		return "default"
	}
	return fmt.Sprint(*b)
}

// TestInteropHyperDHTSettledOpenServer: a JS server that listened (and
// announced, from its client socket) while firewalled and then became
// reachable answers relayed handshakes from that client socket but says it
// is reachable at its DHT socket, and opens its side of the stream from
// there to a reachable client. A reachable Go client on the same host must
// dial the DHT socket, not the address the relay saw.
func TestInteropHyperDHTSettledOpenServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	bs := goBootstrapper(t)
	user, _ := goHyperDHTNodesFW(t, ctx, bs, 3, boolPtr(false))
	js := startJSHyperDHT(t, "join", bs[0], "0", "firewalled")
	var l struct {
		PublicKey string `json:"publicKey"`
	}
	js.do(t, map[string]any{"op": "listen", "seed": hex.EncodeToString(bytes.Repeat([]byte{5}, 32)), "reusableSocket": true}, &l)
	pk, _ := hex.DecodeString(l.PublicKey)
	var st struct {
		RemoteAddress *struct{ Port int } `json:"remoteAddress"`
	}
	js.do(t, map[string]any{"op": "settle"}, &st)
	if st.RemoteAddress == nil {
		t.Fatal("the settled JS node has no remote address")
	}
	for range 3 {
		goEcho(t, ctx, user, pk, "hello")
	}
}

// TestInteropHyperDHTSettledGoServer: Go servers that listened (announcing
// from their client sockets) before their firewall check passed, then
// became reachable, are reached by a firewalled JS client on the same host.
// Such a server waits for the client's first packet instead of opening the
// stream itself (the JS client dials the address the relay saw, a Go client
// the advertised one), and accepts the connection once the client's header
// frame arrived.
func TestInteropHyperDHTSettledGoServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	bs := goBootstrapper(t)
	goHyperDHTNodesFW(t, ctx, bs, 3, boolPtr(false))
	js := startJSHyperDHT(t, "join", bs[0], "0", "firewalled")
	type server struct {
		d  *hyperdht.DHT
		kp crypto.KeyPair
	}
	var servers []server
	for i := range 3 {
		d, err := hyperdht.New(&hyperdht.Config{DHT: dht.Config{Host: "127.0.0.1", Bootstrap: bs}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		kp, _ := crypto.KeyPairFromSeed(bytes.Repeat([]byte{byte(40 + i)}, 32))
		srv, err := d.Listen(ctx, kp, nil)
		if err != nil {
			t.Fatal(err)
		}
		echoAccept(t, srv)
		servers = append(servers, server{d, kp})
	}
	for i, s := range servers {
		for !s.d.Node().RemoteAddr().IsValid() {
			select {
			case <-ctx.Done():
				t.Skipf("server %d never learned it is reachable", i)
			case <-time.After(20 * time.Millisecond):
			}
		}
		for j := range 3 {
			var e struct {
				Echo string `json:"echo"`
			}
			js.do(t, map[string]any{"op": "connect", "publicKey": hex.EncodeToString(s.kp.PublicKey), "data": "hello settled go"}, &e)
			if e.Echo != "hello settled go" {
				t.Fatalf("server %d, connection %d: JS echo %q", i, j, e.Echo)
			}
		}
	}
}
