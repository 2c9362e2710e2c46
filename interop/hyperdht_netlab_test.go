package interop

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/internal/netlab"
	"github.com/warrenp2p/warren/internal/netlabdht"
)

// labLogger is a lab node's logger: debug logs on stderr under -v,
// silent otherwise.
func labLogger(h *netlab.Host) *slog.Logger {
	if !testing.Verbose() {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("host", h.Name)
}

// labHyperDHT starts a Go hyperdht node whose sockets live in h's
// namespace (a bootstrapper on netlabdht.BootstrapPort with boot).
func labHyperDHT(t *testing.T, h *netlab.Host, boot bool, cfg dht.Config) *hyperdht.DHT {
	t.Helper()
	return netlabdht.Node(t, h, netlabdht.Options{Bootstrapper: boot, DHT: cfg, Logger: labLogger(h)})
}

// startLabJS runs hyperdht_peer.js inside h's namespace.
func startLabJS(t *testing.T, env *Env, h *netlab.Host, args ...string) *jsHyperDHT {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	cmd := h.Command(ctx, env.Node, append([]string{env.Script("hyperdht_peer.js")}, args...)...)
	p := env.StartCmd(t, cmd, cancel)
	j := &jsHyperDHT{p: p}
	if err := json.Unmarshal([]byte(p.Expect(t, "ready ")), j); err != nil {
		t.Fatal(err)
	}
	return j
}

// A Go peer and a JS peer, each behind its own NAT (with a firewall
// dropping unsolicited packets), find each other on a Go-run DHT on the
// public segment and connect by hole punching: consistent/consistent both
// ways in one network, and each consistent/random pairing in each direction
// (one random punch per network: hyperdht allows one per 20 s).
func TestInteropHyperDHTNetlabHolepunch(t *testing.T) {
	ei, rp := netlab.EndpointIndependent, netlab.RandomPort
	for _, c := range []struct {
		goNAT, jsNAT netlab.NAT
		dir          string // "both", "go->js" or "js->go"
	}{
		{ei, ei, "both"},
		{rp, ei, "go->js"}, {rp, ei, "js->go"},
		{ei, rp, "go->js"}, {ei, rp, "js->go"},
	} {
		t.Run(fmt.Sprintf("go=%v,js=%v,%s", c.goNAT, c.jsNAT, c.dir), func(t *testing.T) {
			testInteropNetlabHolepunch(t, c.goNAT, c.jsNAT, c.dir)
		})
	}
}

func testInteropNetlabHolepunch(t *testing.T, goNAT, jsNAT netlab.NAT, dir string) {
	env := Require(t)
	lab := netlab.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	bs := netlabdht.Public(t, ctx, lab, 4, labLogger)
	gh := lab.Host("gopeer", netlab.HostConfig{NAT: goNAT, Firewall: true})
	jh := lab.Host("jspeer", netlab.HostConfig{NAT: jsNAT, Firewall: true})
	user := netlabdht.Peer(t, ctx, gh, bs, netlabdht.Options{Logger: labLogger(gh)})
	js := startLabJS(t, env, jh, "join", bs[0], "0", "host="+jh.Addr.String())
	if !user.Node().Firewalled() || !js.Firewalled {
		t.Fatalf("peers behind NATs should be firewalled: go %v js %v", user.Node().Firewalled(), js.Firewalled)
	}

	if dir == "both" || dir == "go->js" {
		// Go client, JS server. The stream goes straight to the JS peer's
		// NAT (its public address): punched, not relayed.
		var l struct {
			PublicKey string `json:"publicKey"`
		}
		js.do(t, map[string]any{"op": "listen", "seed": hex.EncodeToString(bytes.Repeat([]byte{7}, 32))}, &l)
		pk, _ := hex.DecodeString(l.PublicKey)
		start := time.Now()
		c, err := user.Connect(ctx, pk)
		if err != nil {
			t.Fatalf("Go connect: %v", err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("hi js")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5)
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "hi js" {
			t.Fatalf("Go echo: %q %v", buf, err)
		}
		ra, _ := netip.ParseAddrPort(c.RemoteAddr().String())
		if ra.Addr() != jh.PublicIP {
			t.Fatalf("Go client stream goes to %v, not the JS peer's NAT %v", ra, jh.PublicIP)
		}
		t.Logf("Go->JS path: punched, stream to %v (JS behind %v NAT), %v", ra, jsNAT, time.Since(start).Round(time.Millisecond))
	}
	if dir == "both" || dir == "js->go" {
		kp := mustKeyPair(t, bytes.Repeat([]byte{9}, 32))
		srv, err := user.Listen(ctx, kp, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		echoAccept(t, srv)
		start := time.Now()
		var e struct {
			Echo string `json:"echo"`
		}
		js.do(t, map[string]any{"op": "connect", "publicKey": hex.EncodeToString(kp.PublicKey), "data": "hi go"}, &e)
		if e.Echo != "hi go" {
			t.Fatalf("JS echo: %q", e.Echo)
		}
		t.Logf("JS->Go path: punched (Go behind %v NAT, JS behind %v NAT), %v", goNAT, jsNAT, time.Since(start).Round(time.Millisecond))
	}
	var info struct {
		Stats map[string]int `json:"stats"`
	}
	js.do(t, map[string]any{"op": "info"}, &info)
	t.Logf("JS punch stats (fast-mode punches are not counted): %v", info.Stats)
}

func mustKeyPair(t *testing.T, seed []byte) crypto.KeyPair {
	t.Helper()
	kp, err := crypto.KeyPairFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	return kp
}

// A Go peer and a JS peer on one host behind a NAT without hairpinning:
// the relay sees both at the NAT's public address, which neither can reach
// from inside, so they must use the local addresses (or punch). Both ways.
func TestInteropHyperDHTNetlabSameNAT(t *testing.T) {
	env := Require(t)
	lab := netlab.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	bs := netlabdht.Public(t, ctx, lab, 4, labLogger)
	h := lab.Host("home", netlab.HostConfig{NAT: netlab.EndpointIndependent, Firewall: true})
	user := netlabdht.Peer(t, ctx, h, bs, netlabdht.Options{Logger: labLogger(h)})
	js := startLabJS(t, env, h, "join", bs[0], "0", "host="+h.Addr.String())
	checkConnectBothWays(t, ctx, js, user)
}
