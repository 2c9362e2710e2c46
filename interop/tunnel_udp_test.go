package interop

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/internal/netlab"
	"github.com/warrenp2p/warren/internal/netlabdht"
	"github.com/warrenp2p/warren/tunnel"
)

// udpEchoTarget is the UDP service behind the tunnels: it sends every
// datagram back to its sender.
func udpEchoTarget(t testing.TB) int {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, tunnel.MaxDatagram)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	t.Cleanup(func() { pc.Close(); <-done })
	return pc.LocalAddr().(*net.UDPAddr).Port
}

// udpSenders runs senders local UDP sockets at once, each sending count
// datagrams (a window of 16 at a time, 5 to 1404 bytes of random content
// under its id and sequence number) through the tunnel at addr and
// checking that every reply is one of its own, byte for byte. It fails the
// test on a foreign or corrupted reply, or when fewer than 90% come back
// (UDP on loopback may drop a few), and returns the total that came back.
func udpSenders(t *testing.T, addr string, senders, count int) int {
	t.Helper()
	return udpSendersVia(t, nil, addr, senders, count)
}

// udpSendersVia is udpSenders with the senders' sockets in h's namespace
// (nil: this one).
func udpSendersVia(t *testing.T, h *netlab.Host, addr string, senders, count int) int {
	t.Helper()
	var wg sync.WaitGroup
	got := make([]int, senders)
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i] = udpSender(t, h, addr, byte(i+1), count)
		}()
	}
	wg.Wait()
	total := 0
	for i, n := range got {
		total += n
		if n < count*9/10 {
			t.Errorf("sender %d: %d of %d datagrams came back", i+1, n, count)
		}
	}
	t.Logf("datagrams back per sender: %v of %d", got, count)
	return total
}

// udpDial opens a UDP socket to addr in h's namespace (nil: this one).
func udpDial(h *netlab.Host, addr string) (c net.Conn, err error) {
	if h == nil {
		return net.Dial("udp4", addr)
	}
	if rerr := h.Run(func() error { c, err = net.Dial("udp4", addr); return err }); err == nil {
		err = rerr
	}
	return c, err
}

func udpSender(t *testing.T, h *netlab.Host, addr string, id byte, count int) int {
	c, err := udpDial(h, addr)
	if err != nil {
		t.Error(err)
		return 0
	}
	defer c.Close()
	r := rand.New(rand.NewPCG(uint64(id), 7))
	sent := map[uint32][]byte{}
	got := 0
	buf := make([]byte, tunnel.MaxDatagram)
	for seq := 0; seq < count; {
		for i := 0; i < 16 && seq < count; i, seq = i+1, seq+1 {
			p := make([]byte, 5+r.IntN(1400))
			p[0] = id
			binary.BigEndian.PutUint32(p[1:], uint32(seq))
			for j := 5; j < len(p); j++ {
				p[j] = byte(r.Uint32())
			}
			sent[uint32(seq)] = p
			if _, err := c.Write(p); err != nil {
				t.Errorf("sender %d: %v", id, err)
				return got
			}
		}
		// Wait for the window's echoes. What is lost (UDP; or written to a
		// tunnel connection that failed) is sent once more, as an
		// application over UDP would; an echo of a datagram already back
		// is then a late copy, not an error.
		resent := map[uint32]bool{}
		for pass := 0; pass < 2 && len(sent) > 0; pass++ {
			if pass == 1 {
				for s, p := range sent {
					resent[s] = true
					c.Write(p)
				}
			}
			for len(sent) > 0 {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				n, err := c.Read(buf)
				if err != nil {
					break // lost
				}
				if n < 5 || buf[0] != id {
					t.Errorf("sender %d got a datagram that is not its own (%d bytes)", id, n)
					return got
				}
				s := binary.BigEndian.Uint32(buf[1:])
				want, ok := sent[s]
				if !ok && resent[s] {
					continue // the first copy of a datagram sent twice
				}
				if !ok || !bytes.Equal(want, buf[:n]) {
					t.Errorf("sender %d: datagram %d corrupted or repeated", id, s)
					return got
				}
				delete(sent, s)
				got++
			}
		}
		clear(sent)
	}
	return got
}

// udpRoundTrip sends p from a new socket through the tunnel at addr until
// it comes back whole (a few tries: UDP).
func udpRoundTrip(t *testing.T, addr string, p []byte) {
	t.Helper()
	udpRoundTripVia(t, nil, addr, p)
}

// udpRoundTripVia is udpRoundTrip from h's namespace (nil: this one).
func udpRoundTripVia(t *testing.T, h *netlab.Host, addr string, p []byte) {
	t.Helper()
	c, err := udpDial(h, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, tunnel.MaxDatagram)
	for try := 0; ; try++ {
		c.Write(p)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := c.Read(buf)
		if err == nil && bytes.Equal(buf[:n], p) {
			return
		}
		if try == 3 {
			t.Fatalf("%d-byte datagram: %d bytes back, %v", len(p), n, err)
		}
	}
}

type udpPeerStats struct {
	Connections int `json:"connections"`
	Failed      int `json:"failed"` // client connections that failed (each replaced by a new one)
	ToServer    int `json:"toServer"`
	ToSenders   int `json:"toSenders"`
}

// senders is how many connections a peer should have had for n senders:
// one each, plus one for every connection of its own that failed (a JS
// client's connect can fail under load; its sender's next datagram opens
// another).
func (s udpPeerStats) senders(n int) int { return n + s.Failed }

// stopUDPPeer closes the peer's stdin, reads its stats and waits for it.
func stopUDPPeer(t *testing.T, p *Proc) udpPeerStats {
	t.Helper()
	p.Stdin.Close()
	var s udpPeerStats
	if err := json.Unmarshal([]byte(p.Expect(t, "stats ")), &s); err != nil {
		t.Fatal(err)
	}
	p.Wait(t)
	return s
}

// A warren UDP tunnel server and a holesail-style JS UDP client
// (interop/js/tunnel_udp_peer.js), public and private: the JS client reads
// the record as holesail writes it ("udp":true between host and port),
// four local senders at once each get back only their own datagrams,
// intact, and each sender had its own DHT connection; a 60,000-byte
// datagram goes through whole.
func TestInteropTunnelUDPGoServerJSClient(t *testing.T) {
	env := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tn := newTunnelNet(t, ctx)
	port := udpEchoTarget(t)
	for _, mode := range []string{"public", "private"} {
		t.Run(mode, func(t *testing.T) {
			srv, err := tunnel.Serve(ctx, tn.node(t, ctx, nil, dht.Config{UDX: tn.u}), tunnel.ServerConfig{Port: port, UDP: true, Private: mode == "private"})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			js := env.Start(t, "tunnel_udp_peer.js", "client", tn.boot, srv.Key(), mode)
			if rec, want := js.Expect(t, "record "), fmt.Sprintf(`{"host":"127.0.0.1","udp":true,"port":%d}`, port); rec != want {
				t.Fatalf("JS read the record %s, want %s", rec, want)
			}
			addr := "127.0.0.1:" + js.Expect(t, "listening ")
			const senders, count = 4, 300
			back := udpSenders(t, addr, senders, count)
			udpRoundTrip(t, addr, bytes.Repeat([]byte("0123456789"), 6000))
			s := stopUDPPeer(t, js)
			if s.Connections != s.senders(senders+1) || s.ToSenders < back+1 {
				t.Fatalf("JS client stats %+v: want %d connections (one per sender) and at least %d replies", s, senders+1, back+1)
			}
		})
	}
}

// A holesail-style JS UDP tunnel server and a warren UDP client, public and
// private; the client takes UDP mode and the mode of the key from the
// record, and the JS server saw one DHT connection per local sender.
func TestInteropTunnelUDPJSServerGoClient(t *testing.T) {
	env := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tn := newTunnelNet(t, ctx)
	port := udpEchoTarget(t)
	for _, mode := range []string{"public", "private"} {
		t.Run(mode, func(t *testing.T) {
			seed := bytes.Repeat([]byte{byte(len(mode))}, 32)
			js := env.Start(t, "tunnel_udp_peer.js", "server", tn.boot, strconv.Itoa(port), hex.EncodeToString(seed), mode)
			keys, err := tunnel.ParseKey(js.Expect(t, "key "), tunnel.Auto)
			if err != nil {
				t.Fatal(err)
			}
			var kp *crypto.KeyPair
			if p, ok := keys[0].KeyPair(); ok && mode == "private" {
				kp = &p
			}
			d := tn.node(t, ctx, kp, dht.Config{UDX: tn.u})
			k, rec, err := tunnel.Resolve(ctx, d, keys)
			if err != nil {
				t.Fatal(err)
			}
			if rec == nil || !rec.UDP || rec.Port != port || k.Private() != (mode == "private") {
				t.Fatalf("record %+v, private %v", rec, k.Private())
			}
			cl, err := tunnel.Listen(ctx, d, tunnel.ClientConfig{Key: k, Record: rec, Port: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			if !cl.UDP() {
				t.Fatal("the client did not take UDP mode from the record")
			}
			addr := cl.Addr().String()
			const senders, count = 4, 300
			back := udpSenders(t, addr, senders, count)
			udpRoundTrip(t, addr, bytes.Repeat([]byte("9876543210"), 6000))
			cl.Close()
			s := stopUDPPeer(t, js)
			if s.Connections != s.senders(senders+1) || s.ToServer < back+1 {
				t.Fatalf("JS server stats %+v: want %d connections (one per sender) and at least %d datagrams", s, senders+1, back+1)
			}
		})
	}
}

// holesail 2.4.1 itself in UDP mode (holesail --udp; its Holesail class, as
// the CLI runs it) against warren, both ways, private and public: opt-in
// like TestInteropTunnelHolesail (WARREN_HOLESAIL_MODULES).
func TestInteropTunnelHolesailUDP(t *testing.T) {
	env := Require(t)
	mods := os.Getenv(holesailEnv)
	if mods == "" {
		t.Skipf("%s is not set (a node_modules directory with holesail 2.4.1)", holesailEnv)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tn := newTunnelNet(t, ctx)
	port := udpEchoTarget(t)
	start := func(t *testing.T, args ...string) *Proc {
		ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
		cmd := env.Command(ctx, "tunnel_holesail.js", append([]string{tn.boot}, args...)...)
		cmd.Env = append(cmd.Env, "HOLESAIL_MODULES="+mods, "HOLESAIL_UDP=1")
		return env.StartCmd(t, cmd, cancel)
	}
	const senders, count = 3, 200
	for _, private := range []bool{true, false} {
		name := map[bool]string{true: "private", false: "public"}[private]
		t.Run("warren-server/"+name, func(t *testing.T) {
			cfg := tunnel.ServerConfig{Port: port, UDP: true, Private: private}
			s, _ := tunnel.NewSecret()
			key := tunnel.URL(true, s)
			if private {
				cfg.Seed = tunnel.SeedFromSecret(s)
			}
			srv, err := tunnel.Serve(ctx, tn.node(t, ctx, nil, dht.Config{UDX: tn.u}), cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			if !private {
				key = srv.Key()
			}
			hs := start(t, "client", key)
			var info struct{ Protocol string }
			if err := json.Unmarshal([]byte(hs.Expect(t, "info ")), &info); err != nil || info.Protocol != "udp" {
				t.Fatalf("holesail client protocol %q %v, want udp", info.Protocol, err)
			}
			addr := "127.0.0.1:" + hs.Expect(t, "listening ")
			udpSenders(t, addr, senders, count)
			udpRoundTrip(t, addr, bytes.Repeat([]byte("0123456789"), 6000))
			hs.Wait(t)
		})
		t.Run("holesail-server/"+name, func(t *testing.T) {
			hs := start(t, "server", strconv.Itoa(port), name)
			var info struct{ Key, URL string }
			if err := json.Unmarshal([]byte(hs.Expect(t, "info ")), &info); err != nil {
				t.Fatal(err)
			}
			keys, err := tunnel.ParseKey(info.URL, tunnel.Auto)
			if err != nil {
				t.Fatal(err)
			}
			d := tn.node(t, ctx, nil, dht.Config{UDX: tn.u})
			k, rec, err := tunnel.Resolve(ctx, d, keys)
			if err != nil || rec == nil || !rec.UDP || rec.Port != port {
				t.Fatalf("resolve: %+v %v", rec, err)
			}
			if kp, ok := k.KeyPair(); ok {
				d = tn.node(t, ctx, &kp, dht.Config{UDX: tn.u})
			}
			cl, err := tunnel.Listen(ctx, d, tunnel.ClientConfig{Key: k, Record: rec, Port: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			udpSenders(t, cl.Addr().String(), senders, count)
			udpRoundTrip(t, cl.Addr().String(), bytes.Repeat([]byte("9876543210"), 6000))
			cl.Close()
			hs.Wait(t)
		})
	}
}

// Warren and holesail-style JS UDP tunnels across two consistent NATs
// (each peer behind its own endpoint-independent NAT with a firewall, the
// DHT on the public segment), both directions, private mode. The JS client
// connects without a reusable socket, as holesail's UDP client does. A JS
// peer's UDP end lives in its namespace, so its service and its listener
// are reached there.
func TestInteropTunnelUDPNetlab(t *testing.T) {
	env := Require(t)
	for _, dir := range []string{"go-server", "js-server"} {
		t.Run(dir, func(t *testing.T) {
			lab := netlab.New(t)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			bs := netlabdht.Public(t, ctx, lab, 4, labLogger)
			gh := lab.Host("gopeer", netlab.HostConfig{NAT: netlab.EndpointIndependent, Firewall: true})
			jh := lab.Host("jspeer", netlab.HostConfig{NAT: netlab.EndpointIndependent, Firewall: true})
			const senders, count = 2, 150
			if dir == "go-server" {
				d := netlabdht.Peer(t, ctx, gh, bs, netlabdht.Options{Logger: labLogger(gh)})
				srv, err := tunnel.Serve(ctx, d, tunnel.ServerConfig{Port: udpEchoTarget(t), UDP: true, Private: true})
				if err != nil {
					t.Fatal(err)
				}
				defer srv.Close()
				js := startLabTunnelScript(t, env, jh, "tunnel_udp_peer.js", "client", bs[0], srv.Key(), "private")
				js.Expect(t, "record ")
				addr := "127.0.0.1:" + js.Expect(t, "listening ")
				udpSendersVia(t, jh, addr, senders, count)
				udpRoundTripVia(t, jh, addr, bytes.Repeat([]byte("0123456789"), 6000))
				if s := stopUDPPeer(t, js); s.Connections != s.senders(senders+1) {
					t.Fatalf("JS client stats %+v, want %d connections", s, senders+1)
				}
				return
			}
			var port int
			if err := jh.Run(func() error { port = udpEchoTarget(t); return nil }); err != nil {
				t.Fatal(err)
			}
			seed := bytes.Repeat([]byte{5}, 32)
			js := startLabTunnelScript(t, env, jh, "tunnel_udp_peer.js", "server", bs[0], strconv.Itoa(port), hex.EncodeToString(seed), "private")
			keys, err := tunnel.ParseKey(js.Expect(t, "key "), tunnel.Private)
			if err != nil {
				t.Fatal(err)
			}
			kp, _ := keys[0].KeyPair()
			d := netlabdht.Peer(t, ctx, gh, bs, netlabdht.Options{KeyPair: &kp, Logger: labLogger(gh)})
			k, rec, err := tunnel.Resolve(ctx, d, keys)
			if err != nil || rec == nil || !rec.UDP {
				t.Fatalf("resolve: %+v %v", rec, err)
			}
			cl, err := tunnel.Listen(ctx, d, tunnel.ClientConfig{Key: k, Record: rec, Port: -1})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			udpSenders(t, cl.Addr().String(), senders, count)
			udpRoundTrip(t, cl.Addr().String(), bytes.Repeat([]byte("9876543210"), 6000))
			cl.Close()
			if s := stopUDPPeer(t, js); s.Connections != s.senders(senders+1) {
				t.Fatalf("JS server stats %+v, want %d connections", s, senders+1)
			}
		})
	}
}

// BenchmarkInteropTunnelUDP echoes 1 KiB datagrams (32 in flight, one
// sender) through UDP tunnels on loopback: Go server and client, the
// holesail-style JS pair (tunnel_udp_peer.js), and the two mixed pairs.
// echoes/s is the figure to compare.
func BenchmarkInteropTunnelUDP(b *testing.B) {
	env := Require(b)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tn := newTunnelNet(b, ctx)
	port := udpEchoTarget(b)
	goServer := func(b *testing.B) string {
		srv, err := tunnel.Serve(ctx, tn.node(b, ctx, nil, dht.Config{UDX: tn.u}), tunnel.ServerConfig{Port: port, UDP: true})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { srv.Close() })
		return srv.Key()
	}
	jsServer := func(b *testing.B) string {
		js := env.Start(b, "tunnel_udp_peer.js", "server", tn.boot, strconv.Itoa(port), hex.EncodeToString(bytes.Repeat([]byte{3}, 32)), "public")
		return js.Expect(b, "key ")
	}
	goClient := func(b *testing.B, key string) string {
		keys, err := tunnel.ParseKey(key, tunnel.Public)
		if err != nil {
			b.Fatal(err)
		}
		d := tn.node(b, ctx, nil, dht.Config{UDX: tn.u})
		k, rec, err := tunnel.Resolve(ctx, d, keys)
		if err != nil {
			b.Fatal(err)
		}
		cl, err := tunnel.Listen(ctx, d, tunnel.ClientConfig{Key: k, Record: rec, Port: -1})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { cl.Close() })
		return cl.Addr().String()
	}
	jsClient := func(b *testing.B, key string) string {
		js := env.Start(b, "tunnel_udp_peer.js", "client", tn.boot, key, "public")
		return "127.0.0.1:" + js.Expect(b, "listening ")
	}
	for _, c := range []struct {
		name   string
		server func(*testing.B) string
		client func(*testing.B, string) string
	}{
		{"go-go", goServer, goClient},
		{"js-js", jsServer, jsClient},
		{"go-server-js-client", goServer, jsClient},
		{"js-server-go-client", jsServer, goClient},
	} {
		b.Run(c.name, func(b *testing.B) {
			benchUDPEcho(b, c.client(b, c.server(b)))
		})
	}
}

// benchUDPEcho sends b.N 1 KiB datagrams to addr, 32 in flight, and reads
// their echoes.
func benchUDPEcho(b *testing.B, addr string) {
	c, err := net.Dial("udp4", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	p := make([]byte, 1024)
	buf := make([]byte, 2048)
	for try := 0; ; try++ { // the first datagram opens the session
		c.Write(p)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(buf); err == nil {
			break
		} else if try == 5 {
			b.Fatal(err)
		}
	}
	const window = 32
	b.SetBytes(int64(len(p)))
	b.ResetTimer()
	lost := 0
	for sent := 0; sent < b.N; {
		n := min(window, b.N-sent)
		for range n {
			c.Write(p)
		}
		sent += n
		for i := 0; i < n; i++ {
			c.SetReadDeadline(time.Now().Add(time.Second))
			if _, err := c.Read(buf); err != nil {
				lost += n - i
				break
			}
		}
	}
	b.ReportMetric(float64(b.N-lost)/b.Elapsed().Seconds(), "echoes/s")
	b.ReportMetric(float64(lost), "lost")
}

// Idle UDP sessions end on the warren side and the holesail-style JS peer
// follows: a warren server ends an idle session and the JS client opens a
// new connection on the sender's next datagram; a warren client ends its
// idle session and opens a new connection to the JS server. Each JS peer
// counts two connections for the one sender.
func TestInteropTunnelUDPIdle(t *testing.T) {
	env := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	tn := newTunnelNet(t, ctx)
	port := udpEchoTarget(t)
	const idle = 500 * time.Millisecond
	twice := func(t *testing.T, addr string) {
		t.Helper()
		c, err := net.Dial("udp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		buf := make([]byte, 100)
		for round := range 2 {
			if round == 1 {
				time.Sleep(6 * idle) // the session idles out meanwhile
			}
			for try := 0; ; try++ {
				c.Write([]byte("still there?"))
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				if n, err := c.Read(buf); err == nil && string(buf[:n]) == "still there?" {
					break
				} else if try == 3 {
					t.Fatalf("round %d: %q %v", round, buf[:n], err)
				}
			}
		}
	}
	t.Run("go-server", func(t *testing.T) {
		srv, err := tunnel.Serve(ctx, tn.node(t, ctx, nil, dht.Config{UDX: tn.u}), tunnel.ServerConfig{Port: port, UDP: true, IdleTimeout: idle})
		if err != nil {
			t.Fatal(err)
		}
		defer srv.Close()
		js := env.Start(t, "tunnel_udp_peer.js", "client", tn.boot, srv.Key(), "public")
		js.Expect(t, "record ")
		twice(t, "127.0.0.1:"+js.Expect(t, "listening "))
		if s := stopUDPPeer(t, js); s.Connections != 2 { // the idle end counts as failed to the JS client
			t.Fatalf("JS client stats %+v, want 2 connections", s)
		}
	})
	t.Run("go-client", func(t *testing.T) {
		js := env.Start(t, "tunnel_udp_peer.js", "server", tn.boot, strconv.Itoa(port), hex.EncodeToString(bytes.Repeat([]byte{4}, 32)), "public")
		keys, err := tunnel.ParseKey(js.Expect(t, "key "), tunnel.Public)
		if err != nil {
			t.Fatal(err)
		}
		d := tn.node(t, ctx, nil, dht.Config{UDX: tn.u})
		k, rec, err := tunnel.Resolve(ctx, d, keys)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := tunnel.Listen(ctx, d, tunnel.ClientConfig{Key: k, Record: rec, Port: -1, IdleTimeout: idle})
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		twice(t, cl.Addr().String())
		cl.Close()
		if s := stopUDPPeer(t, js); s.Connections != 2 {
			t.Fatalf("JS server stats %+v, want 2 connections", s)
		}
	})
}
