package tunnel

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/keyid"
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

// testnet is a bootstrapper and three persistent nodes on loopback.
type testnet struct {
	boot []string
	u    *udx.UDX
}

func newTestnet(t testing.TB) *testnet {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	port := freeUDPPort(t)
	u := udx.New(&udx.Config{NoBatch: true})
	b, err := hyperdht.NewBootstrapper("127.0.0.1", port, &hyperdht.Config{DHT: dht.Config{Host: "127.0.0.1", UDX: u}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	tn := &testnet{boot: []string{fmt.Sprintf("127.0.0.1:%d", port)}, u: u}
	for i := 0; i < 3; i++ {
		n := tn.node(t, nil, dht.Config{Ephemeral: boolp(false), Firewalled: boolp(false), UDX: u})
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
	}
	return tn
}

// node starts a node joining the testnet; kp nil means a random identity.
func (tn *testnet) node(t testing.TB, kp *crypto.KeyPair, cfg dht.Config) *hyperdht.DHT {
	t.Helper()
	cfg.Host = "127.0.0.1"
	cfg.Bootstrap = tn.boot
	d, err := hyperdht.New(&hyperdht.Config{DHT: cfg, KeyPair: kp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := d.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

// service runs handle for every connection to a local TCP listener.
func service(t testing.TB, handle func(c *net.TCPConn)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c.(*net.TCPConn))
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// tunnelPair starts a server for the service on port and a client for it,
// and returns the client's local address.
func tunnelPair(t testing.TB, tn *testnet, port int, private bool) (string, *Server) {
	t.Helper()
	cl, srv := tunnelPairClient(t, tn, port, private)
	return cl.Addr().String(), srv
}

// tunnelPairClient is tunnelPair returning the client.
func tunnelPairClient(t testing.TB, tn *testnet, port int, private bool) (*Client, *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sd := tn.node(t, nil, dht.Config{UDX: tn.u})
	srv, err := Serve(ctx, sd, ServerConfig{Port: port, Private: private})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	mode := Public
	if private {
		mode = Private
	}
	keys, err := ParseKey(srv.Key(), mode)
	if err != nil {
		t.Fatal(err)
	}
	var kp *crypto.KeyPair
	if p, ok := keys[0].KeyPair(); ok {
		kp = &p
	}
	cd := tn.node(t, kp, dht.Config{UDX: tn.u})
	key, rec, err := Resolve(ctx, cd, keys)
	if err != nil {
		t.Fatal(err)
	}
	if rec == nil || rec.Port != port || rec.Host != "127.0.0.1" {
		t.Fatalf("record %+v, want 127.0.0.1:%d", rec, port)
	}
	cl, err := Listen(ctx, cd, ClientConfig{Key: key, Record: rec, Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close() })
	return cl, srv
}

func dial(t testing.TB, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(90 * time.Second))
	return c.(*net.TCPConn)
}

// The service reads the whole request (until the client's half-close), then
// answers and closes: HTTP/1.0 style. And the other way round: the service
// speaks first and half-closes, then reads the client's whole reply.
func TestHalfCloseBothDirections(t *testing.T) {
	tn := newTestnet(t)
	got := make(chan []byte, 1)
	port := service(t, func(c *net.TCPConn) {
		first := make([]byte, 1)
		if _, err := io.ReadFull(c, first); err != nil {
			return
		}
		if first[0] == 'Q' { // client speaks first
			req, _ := io.ReadAll(c)
			c.Write(append([]byte("answer to "), req...))
			c.CloseWrite()
			return
		}
		// server speaks first: greeting, half-close, then read the reply
		c.Write(bytes.Repeat([]byte("greeting "), 10000))
		c.CloseWrite()
		reply, _ := io.ReadAll(c)
		got <- reply
	})
	addr, _ := tunnelPair(t, tn, port, false)

	c := dial(t, addr)
	req := bytes.Repeat([]byte("request "), 20000)
	c.Write([]byte("Q"))
	c.Write(req)
	c.CloseWrite()
	resp, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte("answer to "), req...); !bytes.Equal(resp, want) {
		t.Fatalf("response of %d bytes, want %d", len(resp), len(want))
	}

	c2 := dial(t, addr)
	c2.Write([]byte("S"))
	greeting, err := io.ReadAll(c2)
	if err != nil {
		t.Fatal(err)
	}
	if want := bytes.Repeat([]byte("greeting "), 10000); !bytes.Equal(greeting, want) {
		t.Fatalf("greeting of %d bytes, want %d", len(greeting), len(want))
	}
	reply := bytes.Repeat([]byte("reply "), 30000)
	c2.Write(reply)
	c2.CloseWrite()
	select {
	case r := <-got:
		if !bytes.Equal(r, reply) {
			t.Fatalf("service read %d bytes, want %d", len(r), len(reply))
		}
	case <-time.After(60 * time.Second):
		t.Fatal("service did not get the reply")
	}
	// After both half-closes the tunnel closes the connection.
	if _, err := c2.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read after both ends: %v, want EOF", err)
	}
}

func echo(c *net.TCPConn) {
	io.Copy(c, c)
	c.CloseWrite()
}

func TestManyConcurrentConnections(t *testing.T) {
	tn := newTestnet(t)
	addr, _ := tunnelPair(t, tn, service(t, echo), false)
	const n = 24
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(120 * time.Second))
			msg := make([]byte, 32*1024+i)
			for j := range msg {
				msg[j] = byte(i + j)
			}
			go func() {
				c.Write(msg)
				c.(*net.TCPConn).CloseWrite()
			}()
			back, err := io.ReadAll(c)
			if err != nil {
				errs <- fmt.Errorf("conn %d: %w", i, err)
				return
			}
			if !bytes.Equal(back, msg) {
				errs <- fmt.Errorf("conn %d: echoed %d bytes, want %d", i, len(back), len(msg))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// bulkSize is the size of the SHA-256-checked transfer.
const bulkSize = 100 << 20

func TestBulkTransferSHA256(t *testing.T) {
	if testing.Short() {
		t.Skip("100 MiB transfer")
	}
	tn := newTestnet(t)
	var sent [32]byte
	var mu sync.Mutex
	port := service(t, func(c *net.TCPConn) {
		h := sha256.New()
		r := rand.NewChaCha8([32]byte{7})
		buf := make([]byte, 256*1024)
		for left := bulkSize; left > 0; left -= len(buf) {
			r.Read(buf)
			h.Write(buf)
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
		mu.Lock()
		copy(sent[:], h.Sum(nil))
		mu.Unlock()
		c.CloseWrite()
		io.Copy(io.Discard, c)
	})
	addr, _ := tunnelPair(t, tn, port, true)
	c := dial(t, addr)
	c.SetDeadline(time.Now().Add(10 * time.Minute))
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil {
		t.Fatal(err)
	}
	if n != bulkSize {
		t.Fatalf("got %d bytes, want %d", n, bulkSize)
	}
	mu.Lock()
	defer mu.Unlock()
	if !bytes.Equal(h.Sum(nil), sent[:]) {
		t.Fatal("SHA-256 of the received bytes differs")
	}
}

func TestServiceDownClosesClient(t *testing.T) {
	tn := newTestnet(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // nothing listens there now
	addr, _ := tunnelPair(t, tn, port, false)
	c := dial(t, addr)
	c.Write([]byte("hello?"))
	n, err := c.Read(make([]byte, 16))
	if n != 0 || err == nil {
		t.Fatalf("read %d bytes, %v; want the connection closed", n, err)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection not closed: %v", err)
	}
}

func TestPrivateRejectsOtherKeys(t *testing.T) {
	tn := newTestnet(t)
	addr, srv := tunnelPair(t, tn, service(t, echo), true)
	// The owner of the seed gets through.
	c := dial(t, addr)
	c.Write([]byte("ping"))
	c.CloseWrite()
	if b, err := io.ReadAll(c); err != nil || string(b) != "ping" {
		t.Fatalf("private echo: %q %v", b, err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// A node with another key pair, knowing the public key, is refused
	// (the server does not answer its handshake): the local connection is
	// closed.
	other := tn.node(t, nil, dht.Config{UDX: tn.u})
	cl, err := Listen(ctx, other, ClientConfig{Key: Key{PublicKey: srv.PublicKey()}, Port: -1, ConnectTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c2 := dial(t, cl.Addr().String())
	c2.Write([]byte("ping"))
	if n, err := c2.Read(make([]byte, 4)); n != 0 || err == nil {
		t.Fatalf("rejected client read %d bytes, %v", n, err)
	}
	// A private key on a node without its key pair is a configuration error.
	keys, _ := ParseKey(srv.Key(), Private)
	if _, err := Listen(ctx, other, ClientConfig{Key: keys[0], Port: -1}); !errors.Is(err, ErrKeyPairMismatch) {
		t.Fatalf("Listen with a foreign private key: %v, want ErrKeyPairMismatch", err)
	}
}

// Serving the same key again with the same target keeps the record's seq;
// a new target bumps it, as holesail-server.
func TestRecordSeq(t *testing.T) {
	tn := newTestnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := tn.node(t, nil, dht.Config{UDX: tn.u})
	kp, _ := crypto.KeyPairFromSeed(SeedFromSecret("a secret of at least thirty-two characters"))
	for i, c := range []struct {
		port int
		seq  uint64
	}{{8000, 0}, {8000, 0}, {8001, 1}, {8001, 1}, {8000, 2}} {
		v := Record{Host: "127.0.0.1", Port: c.port}.Encode()
		seq, err := PutRecord(ctx, d, kp, v)
		if err != nil {
			t.Fatal(err)
		}
		if seq != c.seq {
			t.Fatalf("put %d: seq %d, want %d", i, seq, c.seq)
		}
		r, err := GetRecord(ctx, d, kp.PublicKey)
		if err != nil || r.Port != c.port {
			t.Fatalf("get %d: %+v %v", i, r, err)
		}
	}
}

// Pipe passes half-closes on over plain TCP too, with no DHT involved.
func TestPipeTCP(t *testing.T) {
	port := service(t, func(c *net.TCPConn) {
		b, _ := io.ReadAll(c)
		c.Write(b)
		c.Write([]byte("!"))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan error, 1)
	go func() {
		a, err := ln.Accept()
		if err != nil {
			done <- err
			return
		}
		b, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			a.Close()
			done <- err
			return
		}
		done <- Pipe(a, b)
	}()
	c := dial(t, ln.Addr().String())
	c.Write([]byte("half"))
	c.CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "half!" {
		t.Fatalf("%q %v", b, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Pipe: %v", err)
	}
}

// Closing the server closes the tunnelled connections (the client's local
// connection reads the end); closing a client closes its local
// connections. Neither Close hangs.
func TestCloseEndsConnections(t *testing.T) {
	tn := newTestnet(t)
	for _, which := range []string{"server", "client"} {
		cl, srv := tunnelPairClient(t, tn, service(t, echo), false)
		c := dial(t, cl.Addr().String())
		c.Write([]byte("x"))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			if which == "server" {
				done <- srv.Close()
			} else {
				done <- cl.Close()
			}
		}()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatalf("%s Close hangs", which)
		}
		if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
			t.Fatalf("read after %s close: %d %v", which, n, err)
		}
		if which == "server" {
			// New connections to a server that is gone are closed.
			c := dial(t, cl.Addr().String())
			if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
				t.Fatalf("read with the server gone: %d %v", n, err)
			}
		}
	}
}

// Resolve picks the reading whose key holds a record, even one that is not
// holesail's JSON (then with no record), and falls back on the last
// reading when no key holds one.
func TestResolveReadings(t *testing.T) {
	tn := newTestnet(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := tn.node(t, nil, dht.Config{UDX: tn.u})
	secret := "a-secret-that-is-long-enough-for-holesail"
	keys, err := ParseKey(secret, Auto)
	if err != nil || len(keys) != 1 {
		t.Fatal(keys, err)
	}
	seed := keys[0].Seed
	z := keyid.ZBase32Encode(seed)
	all, err := ParseKey(z, Auto) // seed, secret reading of the text, public
	if err != nil || len(all) != 3 {
		t.Fatal(all, err)
	}
	if k, rec, err := Resolve(ctx, d, all); err != nil || rec != nil || k.Private() {
		t.Fatalf("no records: %+v %+v %v, want the public reading", k, rec, err)
	}
	kp, _ := crypto.KeyPairFromSeed(seed)
	if err := d.MutablePut(ctx, kp, []byte("not json {"), 0); err != nil {
		t.Fatal(err)
	}
	k, rec, err := Resolve(ctx, d, all)
	if err != nil || rec != nil || !k.Private() || !bytes.Equal(k.PublicKey, kp.PublicKey) {
		t.Fatalf("junk record: %+v %+v %v, want the seed reading without a record", k, rec, err)
	}
}
