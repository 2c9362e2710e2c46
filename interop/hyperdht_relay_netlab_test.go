package interop

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/internal/netlab"
)

// startLabRelayJS runs blindrelay_peer.js inside h's namespace.
func startLabRelayJS(t *testing.T, env *Env, h *netlab.Host, args ...string) *jsHyperDHT {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	cmd := h.Command(ctx, env.Node, append([]string{env.Script("blindrelay_peer.js")}, args...)...)
	p := env.StartCmd(t, cmd, cancel)
	j := &jsHyperDHT{p: p}
	if err := json.Unmarshal([]byte(p.Expect(t, "ready ")), j); err != nil {
		t.Fatal(err)
	}
	return j
}

// A Go peer and a JS peer, each behind a random-port NAT (no hole punching
// can work), with a Go blind relay on the public segment: the client names
// the relay, hole punching gives up after the probe round, and both fall
// back on the relay. Both directions; the path is checked on both ends.
func TestInteropHyperDHTNetlabRelay(t *testing.T) {
	env := Require(t)
	lab := netlab.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	pub := lab.Host("pub", netlab.HostConfig{})
	labHyperDHT(t, pub, true, dht.Config{})
	bs := []string{netip.AddrPortFrom(pub.Addr, 49737).String()}
	var relayNode *hyperdht.DHT
	for i := 0; i < 4; i++ {
		h := lab.Host(fmt.Sprintf("pub%d", i), netlab.HostConfig{})
		n := labHyperDHT(t, h, false, dht.Config{Bootstrap: bs, Ephemeral: boolPtr(false), Firewalled: boolPtr(false)})
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
		relayNode = n
	}
	rkp, _ := crypto.NewKeyPair()
	if _, err := relayNode.ServeBlindRelay(ctx, rkp); err != nil {
		t.Fatal(err)
	}
	relayAddr := relayNode.Node().LocalAddr()

	gh := lab.Host("gopeer", netlab.HostConfig{NAT: netlab.RandomPort, Firewall: true})
	jh := lab.Host("jspeer", netlab.HostConfig{NAT: netlab.RandomPort, Firewall: true})
	user := labHyperDHT(t, gh, false, dht.Config{Bootstrap: bs})
	if err := user.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	js := startLabRelayJS(t, env, jh, "join", bs[0], "0", "host="+jh.Addr.String())
	if !user.Node().Firewalled() || !js.Firewalled {
		t.Fatalf("peers behind NATs should be firewalled: go %v js %v", user.Node().Firewalled(), js.Firewalled)
	}

	t.Run("go-client/js-server", func(t *testing.T) {
		var l struct {
			PublicKey string `json:"publicKey"`
		}
		js.do(t, map[string]any{"op": "listen", "seed": hex.EncodeToString(bytes.Repeat([]byte{7}, 32))}, &l)
		pk, _ := hex.DecodeString(l.PublicKey)
		start := time.Now()
		c := goConnectEcho(t, ctx, user, pk, &hyperdht.ConnectOptions{RelayThrough: func() ed25519.PublicKey { return rkp.PublicKey }}, "hi js via the relay")
		if got := connRemote(t, c); got != relayAddr {
			t.Fatalf("Go client's stream goes to %v, not the relay at %v", got, relayAddr)
		}
		goDatagramEcho(t, c, "datagram via the relay")
		t.Logf("Go->JS path: blind relay at %v (both behind random NATs), %v", relayAddr, time.Since(start).Round(time.Millisecond))
	})
	t.Run("js-client/go-server", func(t *testing.T) {
		kp := mustKeyPair(t, bytes.Repeat([]byte{9}, 32))
		srv, err := user.Listen(ctx, kp, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		seen := make(chan net.Conn, 1)
		echoAll(srv, seen)
		start := time.Now()
		var r jsConnectResult
		js.do(t, map[string]any{"op": "connect", "publicKey": hex.EncodeToString(kp.PublicKey), "data": "hi go via the relay",
			"datagram": "datagram via the relay", "relayThrough": hex.EncodeToString(rkp.PublicKey)}, &r)
		if r.Echo != "hi go via the relay" {
			t.Fatalf("JS echo: %q", r.Echo)
		}
		if r.Datagram == nil || *r.Datagram != "datagram via the relay" {
			t.Fatalf("JS datagram echo: %v", r.Datagram)
		}
		if r.Remote != relayAddr.String() {
			t.Fatalf("JS client's stream goes to %s, not the relay at %v", r.Remote, relayAddr)
		}
		if got := connRemote(t, <-seen); got != relayAddr {
			t.Fatalf("Go server's stream goes to %v, not the relay at %v", got, relayAddr)
		}
		t.Logf("JS->Go path: blind relay at %v (both behind random NATs), %v", relayAddr, time.Since(start).Round(time.Millisecond))
	})
}
