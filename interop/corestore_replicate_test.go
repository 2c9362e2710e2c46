package interop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/warrenp2p/warren/corestore"
	"github.com/warrenp2p/warren/hypercore"
	"github.com/warrenp2p/warren/secretstream"
)

// csBlock is the content corestore-replicate.js gives block i of core name.
func csBlock(name string, i int) []byte { return []byte(fmt.Sprintf("%s-%d", name, i)) }

func csSum(name string, n int) string {
	h := sha256.New()
	for i := range n {
		h.Write(csBlock(name, i))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// csAccept accepts the JS peer's TCP connection and replicates store over
// it, as secret-stream initiator or responder.
func csAccept(t *testing.T, ln net.Listener, s *corestore.Store, initiator bool) *corestore.Replication {
	t.Helper()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	var ss *secretstream.Conn
	if initiator {
		ss = secretstream.Client(conn, nil)
	} else {
		ss = secretstream.Server(conn, nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rep, err := s.Replicate(ctx, ss)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close(); <-rep.Done() })
	return rep
}

func csWait(t *testing.T, c *hypercore.Session, name string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range n {
		v, err := c.Get(ctx, uint64(i), hypercore.GetOptions{Wait: true})
		if err != nil {
			t.Fatalf("%s block %d: %v (length %d)", name, i, err, c.Length())
		}
		if string(v) != string(csBlock(name, i)) {
			t.Fatalf("%s block %d = %q", name, i, v)
		}
	}
}

var csNames = []string{"alpha", "beta", "gamma"}

const csBlocks = 400

// TestInteropCorestoreReplicateJSToGo: a JS corestore holding three named
// cores (none of them open: JS opens each on demand when the Go channel
// for it arrives) replicates over one TCP + secret-stream connection to a Go
// store that knows the keys. Two cores are open in Go before the stream
// starts, the third joins the running stream later; a live append in JS
// reaches Go. Go derives the same keys from the same primary key.
func TestInteropCorestoreReplicateJSToGo(t *testing.T) {
	env := Require(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	pk := seedFor("cs-repl-js-to-go")
	js := env.Start(t, "corestore-replicate.js", fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), replCfg(map[string]any{
		"role": "writer", "primaryKey": hex.EncodeToString(pk), "names": csNames, "blocks": csBlocks, "initiator": true,
	}))
	var keys map[string]string
	if err := json.Unmarshal([]byte(js.Expect(t, "keys ")), &keys); err != nil {
		t.Fatal(err)
	}
	js.Expect(t, "replicating")

	// Same primary key in Go: same core keys.
	twin, err := corestore.Open(t.TempDir(), &corestore.Options{PrimaryKey: pk})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range csNames {
		c, err := twin.Get(context.Background(), corestore.GetOptions{Name: n})
		if err != nil {
			t.Fatal(err)
		}
		if k := c.Key(); hex.EncodeToString(k[:]) != keys[n] {
			t.Fatalf("%s: Go key %x, JS key %s", n, k, keys[n])
		}
		c.Close()
	}
	twin.Close()

	s, err := corestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	get := func(n string) *hypercore.Session {
		k, _ := hex.DecodeString(keys[n])
		c, err := s.Get(context.Background(), corestore.GetOptions{Key: k})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	a, b := get("alpha"), get("beta")
	rep := csAccept(t, ln, s, false)
	start := time.Now()
	csWait(t, a, "alpha", csBlocks)
	csWait(t, b, "beta", csBlocks)
	g := get("gamma") // joins the running stream
	csWait(t, g, "gamma", csBlocks)
	t.Logf("3 cores x %d blocks in %v", csBlocks, time.Since(start))

	io.WriteString(js.Stdin, "append beta 50\n")
	if got := js.Expect(t, "length "); got != fmt.Sprintf("beta %d", csBlocks+50) {
		t.Fatalf("JS append: %s", got)
	}
	csWait(t, b, "beta", csBlocks+50)
	for _, c := range []*hypercore.Session{a, b, g} {
		if p := rep.Peer(c.DiscoveryKey()); p == nil || p.Err() != nil {
			t.Fatalf("peer of %x: %v", c.DiscoveryKey(), p)
		}
	}
	io.WriteString(js.Stdin, "exit\n")
	js.Wait(t)
}

// TestInteropCorestoreReplicateGoToJS: a Go store holding three named cores,
// reopened so that none is open, replicates to a JS corestore that knows
// the keys: the JS channels make Go open each core on demand. Go is the
// secret-stream initiator here. JS downloads and checks every block, then a
// block appended live in Go.
func TestInteropCorestoreReplicateGoToJS(t *testing.T) {
	env := Require(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dir := t.TempDir()
	ctx := context.Background()
	s, err := corestore.Open(dir, &corestore.Options{PrimaryKey: seedFor("cs-repl-go-to-js")})
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, n := range csNames {
		c, err := s.Get(ctx, corestore.GetOptions{Name: n})
		if err != nil {
			t.Fatal(err)
		}
		var blocks [][]byte
		for i := range csBlocks {
			blocks = append(blocks, csBlock(n, i))
		}
		if _, err := c.Append(blocks...); err != nil {
			t.Fatal(err)
		}
		k := c.Key()
		keys[n] = hex.EncodeToString(k[:])
		c.Close()
	}
	s.Close()
	if s, err = corestore.Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	js := env.Start(t, "corestore-replicate.js", fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), replCfg(map[string]any{
		"role": "reader", "keys": keys, "initiator": false,
	}))
	js.Expect(t, "replicating")
	rep := csAccept(t, ln, s, true)
	start := time.Now()
	for _, n := range csNames {
		io.WriteString(js.Stdin, fmt.Sprintf("get %s %d\n", n, csBlocks))
		if got := js.Expect(t, "got "); got != fmt.Sprintf("%s %d %s", n, csBlocks, csSum(n, csBlocks)) {
			t.Fatalf("JS got %s", got)
		}
	}
	t.Logf("3 cores x %d blocks in %v", csBlocks, time.Since(start))

	c, err := s.Get(ctx, corestore.GetOptions{Name: "gamma"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Writable() || c.Length() != csBlocks {
		t.Fatalf("reopened gamma: writable %v length %d", c.Writable(), c.Length())
	}
	var more [][]byte
	for i := csBlocks; i < csBlocks+30; i++ {
		more = append(more, csBlock("gamma", i))
	}
	if _, err := c.Append(more...); err != nil {
		t.Fatal(err)
	}
	io.WriteString(js.Stdin, fmt.Sprintf("get gamma %d\n", csBlocks+30))
	if got := js.Expect(t, "got "); got != fmt.Sprintf("gamma %d %s", csBlocks+30, csSum("gamma", csBlocks+30)) {
		t.Fatalf("JS got %s after live append", got)
	}
	for _, n := range csNames {
		k, _ := hex.DecodeString(keys[n])
		c, err := s.Get(ctx, corestore.GetOptions{Key: k, NoCreate: true})
		if err != nil {
			t.Fatal(err)
		}
		if p := rep.Peer(c.DiscoveryKey()); p == nil || p.Err() != nil {
			t.Fatalf("%s: peer %v", n, p)
		}
		c.Close()
	}
	io.WriteString(js.Stdin, "exit\n")
	js.Wait(t)
}

// TestInteropCorestoreReplicateTwoSources: a Go store replicates the same
// three named cores from two JS corestores (same primary key, so the same
// cores) over two streams at once; the blocks of every core are spread
// across both sources and each is fetched once.
func TestInteropCorestoreReplicateTwoSources(t *testing.T) {
	env := Require(t)
	const n = 2000
	pk := seedFor("cs-two-sources")
	cfg := replCfg(map[string]any{
		"role": "writer", "primaryKey": hex.EncodeToString(pk), "names": csNames, "blocks": n, "initiator": true,
	})
	ln1, port1 := listen(t)
	ln2, port2 := listen(t)
	js1 := env.Start(t, "corestore-replicate.js", port1, cfg)
	js2 := env.Start(t, "corestore-replicate.js", port2, cfg)
	var keys, keys2 map[string]string
	if err := json.Unmarshal([]byte(js1.Expect(t, "keys ")), &keys); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(js2.Expect(t, "keys ")), &keys2); err != nil {
		t.Fatal(err)
	}
	for _, name := range csNames {
		if keys[name] != keys2[name] {
			t.Fatalf("%s: the two JS stores disagree on the key", name)
		}
	}
	s, err := corestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var cores []*hypercore.Session
	for _, name := range csNames {
		k, _ := hex.DecodeString(keys[name])
		c, err := s.Get(context.Background(), corestore.GetOptions{Key: k})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cores = append(cores, c)
	}
	rep1 := csAccept(t, ln1, s, false)
	rep2 := csAccept(t, ln2, s, false)
	var fromEach [2]uint64
	for i, c := range cores {
		csWait(t, c, csNames[i], n)
		var peers []*hypercore.Peer
		for j, rep := range []*corestore.Replication{rep1, rep2} {
			p := rep.Peer(c.DiscoveryKey())
			if p == nil || p.Err() != nil {
				t.Fatalf("%s: source %d peer %v", csNames[i], j, p)
			}
			peers = append(peers, p)
		}
		// A Get may see the last block an instant before its peer counts it.
		var sum uint64
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			sum = peers[0].Stats().Blocks + peers[1].Stats().Blocks
			if sum >= n || time.Now().After(deadline) {
				break
			}
		}
		for j, p := range peers {
			fromEach[j] += p.Stats().Blocks
		}
		if sum < n || sum > n+n/10 {
			t.Fatalf("%s: %d blocks received for %d", csNames[i], sum, n)
		}
	}
	t.Logf("blocks from each source: %v", fromEach)
	if fromEach[0] == 0 || fromEach[1] == 0 {
		t.Fatalf("blocks from each source: %v", fromEach)
	}
	for _, js := range []*Proc{js1, js2} {
		io.WriteString(js.Stdin, "exit\n")
		js.Wait(t)
	}
}
