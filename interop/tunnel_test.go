package interop

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/internal/netlab"
	"github.com/warrenp2p/warren/internal/netlabdht"
	"github.com/warrenp2p/warren/tunnel"
	"github.com/warrenp2p/warren/udx"
)

// tunnelBulkSize is the size of the SHA-256-checked download through a
// tunnel.
const tunnelBulkSize = 100 << 20

// bulkStream writes the deterministic bulk body to w.
func bulkStream(w io.Writer) error {
	r := rand.NewChaCha8([32]byte{'t', 'u', 'n'})
	buf := make([]byte, 256*1024)
	for left := tunnelBulkSize; left > 0; left -= len(buf) {
		r.Read(buf)
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

var bulkSum = sync.OnceValue(func() [32]byte {
	h := sha256.New()
	bulkStream(h)
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
})

// httpTarget is the service behind the tunnels: "/" says hello, "/bulk"
// sends the bulk body.
func httpTarget(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.Proto)
	})
	mux.HandleFunc("/bulk", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(tunnelBulkSize))
		bulkStream(w)
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

// checkHTTP makes HTTP/1.0 and HTTP/1.1 requests through the tunnel at
// addr, and with bulk the 100 MiB download.
func checkHTTP(t *testing.T, addr string, bulk bool) { checkHTTPVia(t, nil, addr, bulk) }

// checkHTTPVia is checkHTTP dialling from h's namespace (nil: this one).
func checkHTTPVia(t *testing.T, host *netlab.Host, addr string, bulk bool) {
	t.Helper()
	dial := func(ctx context.Context) (c net.Conn, err error) {
		if host == nil {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		}
		if rerr := host.Run(func() error { c, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr); return err }); err == nil {
			err = rerr
		}
		return c, err
	}
	// HTTP/1.0: the request, then our half-close; the service answers and
	// closes, and the whole answer must arrive.
	c, err := dial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.0\r\nHost: tunnel\r\n\r\n")
	c.(*net.TCPConn).CloseWrite()
	resp, err := io.ReadAll(c)
	c.Close()
	if err != nil || !strings.HasPrefix(string(resp), "HTTP/1.0 200 OK") || !strings.HasSuffix(string(resp), "\r\n\r\nhello HTTP/1.0") {
		t.Fatalf("HTTP/1.0 through the tunnel: %q %v", resp, err)
	}
	// HTTP/1.1: two requests on one kept-alive connection.
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dial(ctx)
		},
		DisableCompression: true,
	}
	defer tr.CloseIdleConnections()
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Minute}
	for i := 0; i < 2; i++ {
		reused := false
		ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }})
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://tunnel/", nil)
		r, err := cl.Do(req)
		if err != nil {
			t.Fatalf("HTTP/1.1 request %d: %v", i, err)
		}
		b, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err != nil || string(b) != "hello HTTP/1.1" {
			t.Fatalf("HTTP/1.1 request %d: %q %v", i, b, err)
		}
		if i == 1 && !reused {
			t.Error("the second HTTP/1.1 request did not reuse the connection")
		}
	}
	if !bulk {
		return
	}
	start := time.Now()
	r, err := cl.Get("http://tunnel/bulk")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	h := sha256.New()
	n, err := io.Copy(h, r.Body)
	if err != nil || n != tunnelBulkSize {
		t.Fatalf("bulk: %d bytes, %v", n, err)
	}
	want := bulkSum()
	if !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatal("bulk: SHA-256 differs")
	}
	t.Logf("100 MiB through the tunnel in %v", time.Since(start).Round(time.Millisecond))
}

// tunnelNet is a Go bootstrapper with three persistent Go nodes on
// loopback; node starts more nodes on it.
type tunnelNet struct {
	boot string
	u    *udx.UDX
}

func newTunnelNet(t testing.TB, ctx context.Context) *tunnelNet {
	t.Helper()
	lc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := uint16(lc.LocalAddr().(*net.UDPAddr).Port)
	lc.Close()
	u := udx.New(&udx.Config{NoBatch: true})
	boot, err := hyperdht.NewBootstrapper("127.0.0.1", port, &hyperdht.Config{DHT: dht.Config{Host: "127.0.0.1", UDX: u}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { boot.Close() })
	tn := &tunnelNet{boot: fmt.Sprintf("127.0.0.1:%d", port), u: u}
	for i := 0; i < 3; i++ {
		tn.node(t, ctx, nil, dht.Config{Ephemeral: boolPtr(false), Firewalled: boolPtr(false), UDX: u})
	}
	return tn
}

func (tn *tunnelNet) node(t testing.TB, ctx context.Context, kp *crypto.KeyPair, cfg dht.Config) *hyperdht.DHT {
	t.Helper()
	cfg.Host = "127.0.0.1"
	cfg.Bootstrap = []string{tn.boot}
	d, err := hyperdht.New(&hyperdht.Config{DHT: cfg, KeyPair: kp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	if err := d.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

// A warren tunnel server and a holesail-style JS client: public, private
// (the z32 seed, as holesail-server hands out) and a holesail --key secret
// (SHA-256 on both sides, as the holesail CLI).
func TestInteropTunnelGoServerJSClient(t *testing.T) {
	env := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tn := newTunnelNet(t, ctx)
	port := httpTarget(t)
	secret := "interop-secret-of-at-least-32-characters"
	for _, mode := range []string{"public", "private", "secret"} {
		t.Run(mode, func(t *testing.T) {
			cfg := tunnel.ServerConfig{Port: port, Private: mode != "public"}
			if mode == "secret" {
				cfg.Seed = tunnel.SeedFromSecret(secret)
			}
			srv, err := tunnel.Serve(ctx, tn.node(t, ctx, nil, dht.Config{UDX: tn.u}), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			key := srv.Key()
			if mode == "secret" {
				key = secret
			}
			js := env.Start(t, "tunnel_peer.js", "client", tn.boot, key, mode)
			if rec, want := js.Expect(t, "record "), fmt.Sprintf(`{"host":"127.0.0.1","port":%d}`, port); rec != want {
				t.Fatalf("JS read the record %s, want %s", rec, want)
			}
			addr := "127.0.0.1:" + js.Expect(t, "listening ")
			if mode == "public" {
				// A tunnelled connection idle for longer than the keepalive
				// interval (warren's UDX heartbeats, JS's empty frames)
				// still works.
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				time.Sleep(tunnel.KeepAlive + 2*time.Second)
				c.SetDeadline(time.Now().Add(60 * time.Second))
				fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
				b, err := io.ReadAll(c)
				c.Close()
				if err != nil || !strings.HasSuffix(string(b), "hello HTTP/1.0") {
					t.Fatalf("after idling: %q %v", b, err)
				}
			}
			checkHTTP(t, addr, mode == "private")
			js.Wait(t)
		})
	}
}

// A holesail-style JS tunnel server and a warren tunnel client, public and
// private; the client finds the mode from the record (Auto).
func TestInteropTunnelJSServerGoClient(t *testing.T) {
	env := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tn := newTunnelNet(t, ctx)
	port := httpTarget(t)
	for _, mode := range []string{"public", "private"} {
		t.Run(mode, func(t *testing.T) {
			seed := make([]byte, 32)
			seed[0] = byte(len(mode))
			js := env.Start(t, "tunnel_peer.js", "server", tn.boot, strconv.Itoa(port), hex.EncodeToString(seed), mode)
			key := js.Expect(t, "key ")
			pk := js.Expect(t, "publickey ")
			keys, err := tunnel.ParseKey(key, tunnel.Auto)
			if err != nil {
				t.Fatal(err)
			}
			var kp *crypto.KeyPair
			if p, ok := keys[0].KeyPair(); ok {
				kp = &p
			}
			d := tn.node(t, ctx, kp, dht.Config{UDX: tn.u})
			k, rec, err := tunnel.Resolve(ctx, d, keys)
			if err != nil {
				t.Fatal(err)
			}
			if k.Private() != (mode == "private") || hex.EncodeToString(k.PublicKey) != pk {
				t.Fatalf("resolved private=%v key %x, want %s %s", k.Private(), k.PublicKey, mode, pk)
			}
			if rec == nil || rec.Port != port || rec.Host != "127.0.0.1" || rec.UDP {
				t.Fatalf("record %+v", rec)
			}
			cl, err := tunnel.Listen(ctx, d, tunnel.ClientConfig{Key: k, Record: rec, Port: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			checkHTTP(t, cl.Addr().String(), mode == "private")
			js.Wait(t)
		})
	}
}

// startLabTunnelJS runs tunnel_peer.js inside h's namespace, its DHT node
// on h's address.
func startLabTunnelJS(t *testing.T, env *Env, h *netlab.Host, args ...string) *Proc {
	t.Helper()
	return startLabTunnelScript(t, env, h, "tunnel_peer.js", args...)
}

// startLabTunnelScript runs a tunnel peer script inside h's namespace, its
// DHT node on h's address.
func startLabTunnelScript(t *testing.T, env *Env, h *netlab.Host, script string, args ...string) *Proc {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	cmd := h.Command(ctx, env.Node, append([]string{env.Script(script)}, args...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(env.Dir, "node_modules"), "TUNNEL_DHT_HOST="+h.Addr.String())
	return env.StartCmd(t, cmd, cancel)
}

// Warren and holesail-style JS tunnels across two consistent NATs (each
// peer behind its own endpoint-independent NAT with a firewall, the DHT on
// the public segment), in both directions, private mode: HTTP/1.0 and 1.1
// and the 100 MiB download. A JS peer's TCP end lives in its namespace, so
// the service it serves and the listener it opens are reached there.
func TestInteropTunnelNetlab(t *testing.T) {
	env := Require(t)
	for _, dir := range []string{"go-server", "js-server"} {
		t.Run(dir, func(t *testing.T) {
			lab := netlab.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			bs := netlabdht.Public(t, ctx, lab, 4, labLogger)
			gh := lab.Host("gopeer", netlab.HostConfig{NAT: netlab.EndpointIndependent, Firewall: true})
			jh := lab.Host("jspeer", netlab.HostConfig{NAT: netlab.EndpointIndependent, Firewall: true})

			if dir == "go-server" {
				port := httpTarget(t) // on this process's loopback, where the Go server dials
				d := netlabdht.Peer(t, ctx, gh, bs, netlabdht.Options{Logger: labLogger(gh)})
				srv, err := tunnel.Serve(ctx, d, tunnel.ServerConfig{Port: port, Private: true})
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Close()
				js := startLabTunnelJS(t, env, jh, "client", bs[0], srv.Key(), "private")
				js.Expect(t, "record ")
				jsPort := js.Expect(t, "listening ")
				// The JS client listens on the loopback of its namespace.
				checkHTTPVia(t, jh, "127.0.0.1:"+jsPort, true)
				js.Wait(t)
				return
			}
			// The JS server dials the service on the loopback of its namespace.
			var port int
			if err := jh.Run(func() error { port = httpTarget(t); return nil }); err != nil {
				t.Fatal(err)
			}
			seed := bytes.Repeat([]byte{9}, 32)
			js := startLabTunnelJS(t, env, jh, "server", bs[0], strconv.Itoa(port), hex.EncodeToString(seed), "private")
			keys, err := tunnel.ParseKey(js.Expect(t, "key "), tunnel.Private)
			if err != nil {
				t.Fatal(err)
			}
			kp, _ := keys[0].KeyPair()
			d := netlabdht.Peer(t, ctx, gh, bs, netlabdht.Options{KeyPair: &kp, Logger: labLogger(gh)})
			k, rec, err := tunnel.Resolve(ctx, d, keys)
			if err != nil || rec == nil {
				t.Fatalf("resolve: %+v %v", rec, err)
			}
			cl, err := tunnel.Listen(ctx, d, tunnel.ClientConfig{Key: k, Record: rec, Port: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			checkHTTPVia(t, nil, cl.Addr().String(), true)
			js.Wait(t)
		})
	}
}

// holesailEnv names a node_modules directory holding holesail 2.4.1 for
// TestInteropTunnelHolesail (for example after `npm install holesail@2.4.1`
// in a scratch directory).
const holesailEnv = "WARREN_HOLESAIL_MODULES"

// holesail itself (its Holesail class, as the holesail CLI runs it) against
// warren, both ways: private with a generated key, private with a --key
// secret, public; the keys go over as the hs:// URLs and bare keys the two
// print. holesail is not among the pinned JS modules, so this runs only
// when WARREN_HOLESAIL_MODULES is set.
func TestInteropTunnelHolesail(t *testing.T) {
	env := Require(t)
	mods := os.Getenv(holesailEnv)
	if mods == "" {
		t.Skipf("%s is not set (a node_modules directory with holesail 2.4.1)", holesailEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tn := newTunnelNet(t, ctx)
	port := httpTarget(t)
	start := func(t *testing.T, args ...string) *Proc {
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		cmd := env.Command(ctx, "tunnel_holesail.js", append([]string{tn.boot}, args...)...)
		cmd.Env = append(cmd.Env, "HOLESAIL_MODULES="+mods)
		return env.StartCmd(t, cmd, cancel)
	}
	secret := "holesail-interop-secret-longer-than-32"

	t.Run("warren-server", func(t *testing.T) {
		for _, c := range []struct {
			name    string
			private bool
			secret  string
		}{{"private", true, ""}, {"secret", true, secret}, {"public", false, ""}} {
			t.Run(c.name, func(t *testing.T) {
				cfg := tunnel.ServerConfig{Port: port, Private: c.private}
				key := ""
				switch {
				case c.secret != "":
					cfg.Seed = tunnel.SeedFromSecret(c.secret)
					key = tunnel.URL(true, c.secret)
				case c.private:
					s, _ := tunnel.NewSecret()
					cfg.Seed = tunnel.SeedFromSecret(s)
					key = tunnel.URL(true, s)
				}
				srv, err := tunnel.Serve(ctx, tn.node(t, ctx, nil, dht.Config{UDX: tn.u}), cfg)
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Close()
				if !c.private {
					key = srv.Key() // a bare public key: holesail reads it as public
				}
				hs := start(t, "client", key)
				hs.Expect(t, "info ")
				checkHTTP(t, "127.0.0.1:"+hs.Expect(t, "listening "), c.name == "private")
				hs.Wait(t)
			})
		}
	})

	t.Run("holesail-server", func(t *testing.T) {
		for _, c := range []struct{ name, mode, key string }{{"private", "private", ""}, {"secret", "private", secret}, {"public", "public", ""}} {
			t.Run(c.name, func(t *testing.T) {
				args := []string{"server", strconv.Itoa(port), c.mode}
				if c.key != "" {
					args = append(args, c.key)
				}
				hs := start(t, args...)
				var info struct{ Key, URL string }
				if err := json.Unmarshal([]byte(hs.Expect(t, "info ")), &info); err != nil {
					t.Fatal(err)
				}
				for _, key := range []string{info.URL, info.Key} {
					keys, err := tunnel.ParseKey(key, tunnel.Auto)
					if err != nil {
						t.Fatal(err)
					}
					d := tn.node(t, ctx, nil, dht.Config{UDX: tn.u})
					k, rec, err := tunnel.Resolve(ctx, d, keys)
					if err != nil || rec == nil || rec.Port != port {
						t.Fatalf("%s: resolve: %+v %v", key, rec, err)
					}
					if k.Private() != (c.mode == "private") {
						t.Fatalf("%s: resolved private=%v", key, k.Private())
					}
					if kp, ok := k.KeyPair(); ok {
						d = tn.node(t, ctx, &kp, dht.Config{UDX: tn.u})
					}
					cl, err := tunnel.Listen(ctx, d, tunnel.ClientConfig{Key: k, Record: rec, Port: -1})
					if err != nil {
						t.Fatal(err)
					}
					checkHTTP(t, cl.Addr().String(), c.name == "private" && key == info.URL)
					cl.Close()
				}
				hs.Wait(t)
			})
		}
	})
}
