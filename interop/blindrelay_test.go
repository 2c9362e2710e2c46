package interop

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/secretstream"
	"github.com/warrenp2p/warren/udx"
)

// connRemote is where a hyperdht connection's UDX stream sends.
func connRemote(t *testing.T, c net.Conn) netip.AddrPort {
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

// echoAll echoes stream data and datagrams on every accepted connection
// and hands each connection to seen.
func echoAll(srv *hyperdht.Server, seen chan<- net.Conn) {
	go func() {
		for {
			c, err := srv.Accept(context.Background())
			if err != nil {
				return
			}
			if seen != nil {
				select {
				case seen <- c:
				default:
				}
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
			if sc, ok := c.(*secretstream.Conn); ok {
				go func() {
					for {
						m, err := sc.ReadDatagram(context.Background())
						if err != nil {
							return
						}
						sc.SendDatagram(m)
					}
				}()
			}
		}
	}()
}

// goDatagramEcho sends msg as a datagram until the peer sends it back.
func goDatagramEcho(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	sc := c.(*secretstream.Conn)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	got := make(chan []byte, 1)
	go func() {
		m, err := sc.ReadDatagram(ctx)
		if err == nil {
			got <- m
		}
		close(got)
	}()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		if err := sc.SendDatagram([]byte(msg)); err != nil {
			t.Fatalf("SendDatagram: %v", err)
		}
		select {
		case m, ok := <-got:
			if !ok || string(m) != msg {
				t.Fatalf("datagram echo: %q (ok %v)", m, ok)
			}
			return
		case <-tick.C:
		}
	}
}

func goConnectEcho(t *testing.T, ctx context.Context, d *hyperdht.DHT, pk []byte, opts *hyperdht.ConnectOptions, msg string) net.Conn {
	t.Helper()
	c, err := d.ConnectWith(ctx, pk, opts)
	if err != nil {
		t.Fatalf("Go connect: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != msg {
		t.Fatalf("Go echo: %q %v", buf, err)
	}
	c.SetReadDeadline(time.Time{})
	return c
}

// startJSRelayPeer runs blindrelay_peer.js; it answers the same way as
// hyperdht_peer.js.
func startJSRelayPeer(t *testing.T, args ...string) *jsHyperDHT {
	t.Helper()
	env := Require(t)
	j := &jsHyperDHT{p: env.Start(t, "blindrelay_peer.js", args...)}
	if err := json.Unmarshal([]byte(j.p.Expect(t, "ready ")), j); err != nil {
		t.Fatal(err)
	}
	return j
}

type jsConnectResult struct {
	Echo     string  `json:"echo"`
	Datagram *string `json:"datagram"`
	Remote   string  `json:"remote"`
}

// TestInteropBlindRelay: a Go client reaches a JS server through a JS blind
// relay, and a JS client a Go server through a Go blind relay, with the
// relay named by the client or by the server. Both user nodes are
// firewalled on one host with the local shortcuts, fast open and hole
// punching off (the client declines after the probe round, as hyperdht's
// holepunch option does), so the relay is the fallback taken; each side
// checks its stream runs to the relay's address, and stream data and
// datagrams are echoed.
func TestInteropBlindRelay(t *testing.T) {
	js := startJSRelayPeer(t, "testnet", "3")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	user, nodes := goHyperDHTNodesFW(t, ctx, js.Bootstrap, 3, boolPtr(true))

	var jr struct {
		PublicKey string `json:"publicKey"`
		Port      int    `json:"port"`
	}
	js.do(t, map[string]any{"op": "relay"}, &jr)
	jsRelay, _ := hex.DecodeString(jr.PublicKey)
	jsRelayAddr := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(jr.Port))

	rkp, _ := crypto.NewKeyPair()
	goRelayNode := nodes[0]
	if _, err := goRelayNode.ServeBlindRelay(ctx, rkp); err != nil {
		t.Fatal(err)
	}
	goRelayAddr := goRelayNode.Node().LocalAddr()

	jsAccepted := func() []string {
		var a struct {
			Remotes []string `json:"remotes"`
		}
		js.do(t, map[string]any{"op": "accepted"}, &a)
		return a.Remotes
	}

	for i, serverNames := range []bool{false, true} {
		name := fmt.Sprintf("go-client/js-relay/js-server/relay-named-by-server=%v", serverNames)
		t.Run(name, func(t *testing.T) {
			var l struct {
				PublicKey string `json:"publicKey"`
			}
			cmd := map[string]any{"op": "listen", "seed": hex.EncodeToString(bytes.Repeat([]byte{byte(20 + i)}, 32))}
			opts := &hyperdht.ConnectOptions{NoLocalConnection: true, NoFastOpen: true,
				Holepunch: func(_, _ uint64) bool { return false }}
			if serverNames {
				cmd["relayThrough"] = jr.PublicKey
			} else {
				opts.RelayThrough = func() ed25519.PublicKey { return jsRelay }
			}
			js.do(t, cmd, &l)
			pk, _ := hex.DecodeString(l.PublicKey)
			c := goConnectEcho(t, ctx, user, pk, opts, "go through a js relay")
			if got := connRemote(t, c); got != jsRelayAddr {
				t.Fatalf("Go client's stream goes to %v, not the JS relay at %v", got, jsRelayAddr)
			}
			goDatagramEcho(t, c, "datagram through a js relay")
			remotes := jsAccepted()
			if len(remotes) == 0 || remotes[len(remotes)-1] != jsRelayAddr.String() {
				t.Fatalf("JS server's streams go to %v, not the JS relay at %v", remotes, jsRelayAddr)
			}
			t.Logf("path: %v", jsRelayAddr)
		})
	}

	for i, serverNames := range []bool{false, true} {
		name := fmt.Sprintf("js-client/go-relay/go-server/relay-named-by-server=%v", serverNames)
		t.Run(name, func(t *testing.T) {
			kp, _ := crypto.KeyPairFromSeed(bytes.Repeat([]byte{byte(30 + i)}, 32))
			lo := &hyperdht.ListenOptions{NoLocalConnection: true}
			cmd := map[string]any{"op": "connect", "publicKey": hex.EncodeToString(kp.PublicKey),
				"data": "js through a go relay", "datagram": "datagram through a go relay", "noPunch": true}
			if serverNames {
				lo.RelayThrough = func() ed25519.PublicKey { return rkp.PublicKey }
			} else {
				cmd["relayThrough"] = hex.EncodeToString(rkp.PublicKey)
			}
			srv, err := user.ListenWith(ctx, kp, lo)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			seen := make(chan net.Conn, 1)
			echoAll(srv, seen)
			var r jsConnectResult
			js.do(t, cmd, &r)
			if r.Echo != "js through a go relay" {
				t.Fatalf("JS echo: %q", r.Echo)
			}
			if r.Datagram == nil || *r.Datagram != "datagram through a go relay" {
				t.Fatalf("JS datagram echo: %v", r.Datagram)
			}
			if r.Remote != goRelayAddr.String() {
				t.Fatalf("JS client's stream goes to %s, not the Go relay at %v", r.Remote, goRelayAddr)
			}
			if got := connRemote(t, <-seen); got != goRelayAddr {
				t.Fatalf("Go server's stream goes to %v, not the Go relay at %v", got, goRelayAddr)
			}
			t.Logf("path: %v", goRelayAddr)
		})
	}
}
