package interop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/hypercore"
	"github.com/warrenp2p/warren/protomux"
	"github.com/warrenp2p/warren/secretstream"
)

// listen opens a loopback TCP listener for one JS peer.
func listen(t *testing.T) (net.Listener, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// replicatePair links two Go cores over TCP + secret-stream + protomux and
// returns b's peer.
func replicatePair(t *testing.T, a, b *hypercore.Core) *hypercore.Peer {
	t.Helper()
	ln, _ := listen(t)
	type res struct {
		p   *hypercore.Peer
		err error
	}
	ch := make(chan res, 1)
	go func() {
		conn, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			ch <- res{nil, err}
			return
		}
		ss := secretstream.Client(conn, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := ss.Handshake(ctx); err != nil {
			ch <- res{nil, err}
			return
		}
		mux := protomux.New(ss, &protomux.Config{DeferStart: true})
		t.Cleanup(func() { mux.Close(); <-mux.Done() })
		p, err := a.Replicate(mux, true, ss.HandshakeHash())
		mux.Start()
		ch <- res{p, err}
	}()
	pb := acceptReplicate(t, ln, b)
	if r := <-ch; r.err != nil {
		t.Fatal(r.err)
	}
	return pb
}

// blockSum is the sha256 of replBlock(start..end-1).
func blockSum(start, end int) string {
	h := sha256.New()
	for i := start; i < end; i++ {
		h.Write(replBlock(i))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// goSeeder opens a Go writer from seed holding replBlock(0..n-1): the same
// core, byte for byte, as a JS writer from that seed.
func goSeeder(t *testing.T, seed []byte, n int) *hypercore.Core {
	t.Helper()
	kp, err := crypto.KeyPairFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	w, err := hypercore.Open(t.TempDir(), hypercore.Options{KeyPair: &kp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	for i := 0; i < n; i += 4096 {
		var bs [][]byte
		for j := i; j < min(i+4096, n); j++ {
			bs = append(bs, replBlock(j))
		}
		if _, err := w.Append(bs...); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func openReader(t *testing.T, key []byte, sparse bool) *hypercore.Core {
	t.Helper()
	r, err := hypercore.Open(t.TempDir(), hypercore.Options{Key: key, Sparse: sparse})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func countHas(c *hypercore.Core, n int) int {
	k := 0
	for i := range uint64(n) {
		if c.Has(i) {
			k++
		}
	}
	return k
}

// jsVerifies has a fresh JS reader replicate c (served by Go) and fetch,
// verifying every proof against the key, its first n blocks.
func jsVerifies(t *testing.T, env *Env, c *hypercore.Core, n int) {
	t.Helper()
	ln, port := listen(t)
	key := c.Key()
	js := env.Start(t, "hypercore-peer.js", port, replCfg(map[string]any{"role": "reader", "key": hex.EncodeToString(key[:])}))
	acceptReplicate(t, ln, c)
	io.WriteString(js.Stdin, fmt.Sprintf("get %d\n", n))
	if got, want := js.Expect(t, "got "), fmt.Sprintf("%d %s fork %d", n, blockSum(0, n), c.Fork()); got != want {
		t.Fatalf("JS reader of the Go store got %s, want %s", got, want)
	}
	io.WriteString(js.Stdin, "exit\n")
	js.Wait(t)
}

// TestInteropHypercoreBulk replicates 100k small blocks (25k under -race)
// each way over TCP + secret-stream, with blocks appended while the
// download runs and, JS to Go, a truncation the Go reader follows.
func TestInteropHypercoreBulk(t *testing.T) {
	env := Require(t)
	const n = bulkBlocks
	t.Run("JSToGo", func(t *testing.T) {
		ln, port := listen(t)
		js := env.Start(t, "hypercore-peer.js", port, replCfg(map[string]any{
			"role": "writer", "seed": hex.EncodeToString(seedFor("bulk")), "blocks": n,
		}))
		key, _ := hex.DecodeString(js.Expect(t, "key "))
		r := openReader(t, key, false)
		start := time.Now()
		peer := acceptReplicate(t, ln, r)
		waitGoBlocks(t, r, 0, n/2)
		io.WriteString(js.Stdin, "append 500\n")
		js.Expect(t, "length ")
		waitGoBlocks(t, r, n/2, n+500)
		t.Logf("JS->Go: %d blocks in %v", n+500, time.Since(start))
		if r.ContiguousLength() != n+500 || peer.Err() != nil {
			t.Fatalf("contiguous %d, peer %v", r.ContiguousLength(), peer.Err())
		}
		io.WriteString(js.Stdin, fmt.Sprintf("truncate %d\n", n-1000))
		js.Expect(t, "fork ")
		io.WriteString(js.Stdin, "append 10\n")
		js.Expect(t, "length ")
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		for r.Fork() != 1 || r.Length() != n-990 {
			if ctx.Err() != nil {
				t.Fatalf("reader did not follow the truncation: length %d fork %d", r.Length(), r.Fork())
			}
			time.Sleep(20 * time.Millisecond)
		}
		for i := n - 1000; i < n-990; i++ {
			v, err := r.Get(ctx, uint64(i), hypercore.GetOptions{Wait: true})
			if err != nil || string(v) != fmt.Sprintf("f1-block-%d", i) {
				t.Fatalf("block %d after truncation: %q %v", i, v, err)
			}
		}
		io.WriteString(js.Stdin, "exit\n")
		js.Wait(t)
	})
	t.Run("GoToJS", func(t *testing.T) {
		ln, port := listen(t)
		w := goSeeder(t, seedFor("bulk-go"), n)
		key := w.Key()
		js := env.Start(t, "hypercore-peer.js", port, replCfg(map[string]any{"role": "reader", "key": hex.EncodeToString(key[:])}))
		start := time.Now()
		acceptReplicate(t, ln, w)
		io.WriteString(js.Stdin, fmt.Sprintf("get %d\n", n+500))
		// Appended while the JS reader downloads.
		time.Sleep(200 * time.Millisecond)
		var more [][]byte
		for i := n; i < n+500; i++ {
			more = append(more, replBlock(i))
		}
		if _, err := w.Append(more...); err != nil {
			t.Fatal(err)
		}
		if got, want := js.Expect(t, "got "), fmt.Sprintf("%d %s fork 0", n+500, blockSum(0, n+500)); got != want {
			t.Fatalf("JS got %s, want %s", got, want)
		}
		t.Logf("Go->JS: %d blocks in %v", n+500, time.Since(start))
		io.WriteString(js.Stdin, "exit\n")
		js.Wait(t)
	})
}

// TestInteropHypercoreSparse: a sparse reader downloads only a range and a
// single block, each way.
func TestInteropHypercoreSparse(t *testing.T) {
	env := Require(t)
	const n = 20_000
	t.Run("JSToGo", func(t *testing.T) {
		ln, port := listen(t)
		js := env.Start(t, "hypercore-peer.js", port, replCfg(map[string]any{
			"role": "writer", "seed": hex.EncodeToString(seedFor("sparse")), "blocks": n,
		}))
		key, _ := hex.DecodeString(js.Expect(t, "key "))
		r := openReader(t, key, true)
		acceptReplicate(t, ln, r)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := r.Download(ctx, 12_000, 12_500); err != nil {
			t.Fatal(err)
		}
		v, err := r.Get(ctx, 17_777, hypercore.GetOptions{Wait: true})
		if err != nil || string(v) != string(replBlock(17_777)) {
			t.Fatalf("block 17777: %q %v", v, err)
		}
		waitGoBlocks(t, r, 12_000, 12_500)
		if k := countHas(r, n); k != 501 || r.Length() != n {
			t.Fatalf("sparse reader holds %d blocks of %d", k, r.Length())
		}
		// A Get waiting for a block not appended yet gets it when it is.
		got := make(chan error, 1)
		go func() {
			v, err := r.Get(ctx, n+3, hypercore.GetOptions{Wait: true})
			if err == nil && string(v) != string(replBlock(n+3)) {
				err = fmt.Errorf("block %d = %q", n+3, v)
			}
			got <- err
		}()
		time.Sleep(100 * time.Millisecond)
		io.WriteString(js.Stdin, "append 5\n")
		js.Expect(t, "length ")
		if err := <-got; err != nil {
			t.Fatal(err)
		}
		if k := countHas(r, n+5); k != 502 || r.Length() != n+5 {
			t.Fatalf("after the live get the sparse reader holds %d blocks of %d", k, r.Length())
		}
		io.WriteString(js.Stdin, "exit\n")
		js.Wait(t)
	})
	t.Run("GoToJS", func(t *testing.T) {
		ln, port := listen(t)
		w := goSeeder(t, seedFor("sparse-go"), n)
		key := w.Key()
		js := env.Start(t, "hypercore-peer.js", port, replCfg(map[string]any{"role": "reader", "key": hex.EncodeToString(key[:])}))
		acceptReplicate(t, ln, w)
		io.WriteString(js.Stdin, "range 12000 12500\n")
		if got, want := js.Expect(t, "range "), "12000 12500 "+blockSum(12_000, 12_500); got != want {
			t.Fatalf("JS range %s, want %s", got, want)
		}
		io.WriteString(js.Stdin, fmt.Sprintf("have %d\n", n))
		if got := js.Expect(t, "have "); got != "500" {
			t.Fatalf("JS sparse reader holds %s blocks", got)
		}
		io.WriteString(js.Stdin, "exit\n")
		js.Wait(t)
	})
}

// TestInteropHypercoreSparseSeeder: a Go reader holding only a middle
// range (nothing contiguous from 0) serves it to a JS reader, which learns
// what Go holds through want and bitfield messages, and later through the
// range messages Go sends for blocks it fetches afterwards.
func TestInteropHypercoreSparseSeeder(t *testing.T) {
	env := Require(t)
	const n = 5000
	w := goSeeder(t, seedFor("sparse-seeder"), n)
	key := w.Key()
	s := openReader(t, key[:], true)
	replicatePair(t, w, s)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Download(ctx, 3000, 3300); err != nil {
		t.Fatal(err)
	}
	if k := countHas(s, n); k != 300 {
		t.Fatalf("seeder holds %d blocks", k)
	}
	ln, port := listen(t)
	js := env.Start(t, "hypercore-peer.js", port, replCfg(map[string]any{"role": "reader", "key": hex.EncodeToString(key[:])}))
	acceptReplicate(t, ln, s)
	io.WriteString(js.Stdin, "range 3100 3200\n")
	if got, want := js.Expect(t, "range "), "3100 3200 "+blockSum(3100, 3200); got != want {
		t.Fatalf("JS range %s, want %s", got, want)
	}
	// JS asks for blocks the seeder does not hold yet; the seeder fetches
	// them from the writer afterwards and announces them with range
	// messages, and JS gets them from it.
	io.WriteString(js.Stdin, "range 4500 4600\n")
	time.Sleep(200 * time.Millisecond)
	if err := s.Download(ctx, 4500, 4600); err != nil {
		t.Fatal(err)
	}
	if got, want := js.Expect(t, "range "), "4500 4600 "+blockSum(4500, 4600); got != want {
		t.Fatalf("JS range %s, want %s", got, want)
	}
	io.WriteString(js.Stdin, "exit\n")
	js.Wait(t)
}

// TestInteropHypercoreExtension: extension messages between Go's
// Core.RegisterExtension and hypercore's registerExtension, both ways.
func TestInteropHypercoreExtension(t *testing.T) {
	env := Require(t)
	ln, port := listen(t)
	w := goSeeder(t, seedFor("ext"), 10)
	got := make(chan string, 8)
	var ext *hypercore.Extension
	ext = w.RegisterExtension("warren-echo", func(p *hypercore.Peer, msg []byte) {
		got <- string(msg)
		if len(msg) < 3 || string(msg[:3]) != "re:" {
			ext.Send(p, append([]byte("re:"), msg...))
		}
	})
	defer ext.Close()
	key := w.Key()
	js := env.Start(t, "hypercore-peer.js", port, replCfg(map[string]any{"role": "reader", "key": hex.EncodeToString(key[:])}))
	acceptReplicate(t, ln, w)
	io.WriteString(js.Stdin, "get 10\n")
	js.Expect(t, "got ")
	if k := ext.Broadcast([]byte("from-go")); k != 1 {
		t.Fatalf("broadcast reached %d peers", k)
	}
	if m := js.Expect(t, "ext "); m != "from-go" {
		t.Fatalf("JS received %q", m)
	}
	expect := func(want string) {
		t.Helper()
		select {
		case m := <-got:
			if m != want {
				t.Fatalf("Go received %q, want %q", m, want)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no extension message %q", want)
		}
	}
	expect("re:from-go")
	io.WriteString(js.Stdin, "ext from-js\n")
	expect("from-js")
	if m := js.Expect(t, "ext "); m != "re:from-js" {
		t.Fatalf("JS received %q", m)
	}
	io.WriteString(js.Stdin, "exit\n")
	js.Wait(t)
}

// TestInteropHypercoreManyPeers: a Go reader downloads from two JS writers
// and a Go writer of the same core (one seed) at once; one JS writer dies
// mid-download and the reader finishes from the others.
func TestInteropHypercoreManyPeers(t *testing.T) {
	env := Require(t)
	const n = manyPeersBlocks
	seed := seedFor("many")
	cfg := replCfg(map[string]any{"role": "writer", "seed": hex.EncodeToString(seed), "blocks": n})
	ln1, port1 := listen(t)
	ln2, port2 := listen(t)
	js1 := env.Start(t, "hypercore-peer.js", port1, cfg)
	js2 := env.Start(t, "hypercore-peer.js", port2, cfg)
	key, _ := hex.DecodeString(js1.Expect(t, "key "))
	if k2 := js2.Expect(t, "key "); k2 != hex.EncodeToString(key) {
		t.Fatal("JS writers disagree on the key")
	}
	g := goSeeder(t, seed, n)
	if gk := g.Key(); hex.EncodeToString(gk[:]) != hex.EncodeToString(key) {
		t.Fatal("Go writer from the same seed has another key")
	}
	r := openReader(t, key, false)
	p1 := acceptReplicate(t, ln1, r)
	p2 := acceptReplicate(t, ln2, r)
	pg := replicatePair(t, g, r)
	waitGoBlocks(t, r, 0, n/4)
	io.WriteString(js1.Stdin, "die\n")
	waitGoBlocks(t, r, n/4, n)
	select {
	case <-p1.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the dead peer's channel is still open")
	}
	served := 0
	var total uint64
	// A Get may see the last block an instant before its peer counts it.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if p1.Stats().Blocks+p2.Stats().Blocks+pg.Stats().Blocks >= n {
			break
		}
	}
	for i, p := range []*hypercore.Peer{p1, p2, pg} {
		st := p.Stats()
		t.Logf("peer %d delivered %d blocks (%d timeouts)", i, st.Blocks, st.Timeouts)
		total += st.Blocks
		if st.Blocks > 0 {
			served++
		}
		if p != p1 && p.Err() != nil {
			t.Fatalf("peer %d: %v", i, p.Err())
		}
	}
	if served < 2 || total < n {
		t.Fatalf("%d blocks from %d peers", total, served)
	}
	if r.ContiguousLength() != n {
		t.Fatalf("contiguous %d", r.ContiguousLength())
	}
	io.WriteString(js2.Stdin, "exit\n")
	js2.Wait(t)
}

// TestInteropHypercoreHostile: a JS peer running the real hypercore but
// corrupting its data messages (upgrade signature, upgrade proof node,
// block proof node, block values) is dropped by the Go reader, nothing it
// sent is stored, and the reader completes from an honest JS writer. A
// fresh JS reader then fetches and verifies the whole core from the Go
// store.
func TestInteropHypercoreHostile(t *testing.T) {
	env := Require(t)
	const n = 600
	for _, tc := range []struct {
		tamper   string
		together bool
	}{{"signature", false}, {"proof", false}, {"blockproof", true}, {"block", true}} {
		t.Run(tc.tamper, func(t *testing.T) {
			seed := hex.EncodeToString(seedFor("hostile"))
			lnBad, portBad := listen(t)
			bad := env.Start(t, "hypercore-peer.js", portBad, replCfg(map[string]any{"role": "writer", "seed": seed, "blocks": n, "tamper": tc.tamper}))
			key, _ := hex.DecodeString(bad.Expect(t, "key "))
			r := openReader(t, key, false)
			startHonest := func() {
				ln, port := listen(t)
				good := env.Start(t, "hypercore-peer.js", port, replCfg(map[string]any{"role": "writer", "seed": seed, "blocks": n}))
				good.Expect(t, "key ")
				acceptReplicate(t, ln, r)
			}
			pBad := acceptReplicate(t, lnBad, r)
			if tc.together {
				startHonest()
			}
			select {
			case <-pBad.Done():
			case <-time.After(30 * time.Second):
				t.Fatal("hostile peer not dropped")
			}
			if err := pBad.Err(); !errors.Is(err, hypercore.ErrBadPeer) {
				t.Fatalf("hostile peer error: %v", err)
			}
			if st := pBad.Stats(); st.Blocks != 0 {
				t.Fatalf("%d blocks stored from the hostile peer", st.Blocks)
			}
			if !tc.together {
				if r.Length() != 0 || countHas(r, n) != 0 {
					t.Fatalf("hostile upgrade stored: length %d", r.Length())
				}
				startHonest()
			}
			waitGoBlocks(t, r, 0, n)
			jsVerifies(t, env, r, n)
		})
	}
}

// TestInteropHypercoreReorgAncestor: a Go reader holds a whole core; the
// JS writer of the same core truncates it inside a big subtree and appends
// other blocks while the reader is away. When they connect, the reader
// finds where the forks part by asking the JS writer for tree nodes (hash
// requests), keeps every block below the truncation point and fetches only
// the new ones.
func TestInteropHypercoreReorgAncestor(t *testing.T) {
	env := Require(t)
	seed := seedFor("reorg-ancestor")
	const n, cut, more = 2048, 1500, 20 // 2048 blocks: one root
	g := goSeeder(t, seed, n)
	key := g.Key()
	r := openReader(t, key[:], false)
	replicatePair(t, g, r)
	waitGoBlocks(t, r, 0, n)

	ln, port := listen(t)
	js := env.Start(t, "hypercore-peer.js", port, replCfg(map[string]any{"role": "writer", "seed": hex.EncodeToString(seed), "blocks": n}))
	if got := js.Expect(t, "key "); got != hex.EncodeToString(key[:]) {
		t.Fatalf("JS writer key %s", got)
	}
	io.WriteString(js.Stdin, fmt.Sprintf("truncate %d\n", cut))
	js.Expect(t, "fork ")
	io.WriteString(js.Stdin, fmt.Sprintf("append %d\n", more))
	js.Expect(t, "length ")
	peer := acceptReplicate(t, ln, r)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for r.Fork() != 1 || r.Length() != cut+more {
		if ctx.Err() != nil {
			t.Fatalf("reader did not follow: length %d fork %d", r.Length(), r.Fork())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for i := 0; i < cut; i++ {
		if !r.Has(uint64(i)) {
			t.Fatalf("block %d below the truncation point was cleared", i)
		}
	}
	for i := cut; i < cut+more; i++ {
		v, err := r.Get(ctx, uint64(i), hypercore.GetOptions{Wait: true})
		if err != nil || string(v) != fmt.Sprintf("f1-block-%d", i) {
			t.Fatalf("block %d: %q %v", i, v, err)
		}
	}
	waitGoBlocks(t, r, 0, cut)
	for want := uint64(more); peer.Stats().Blocks != want; time.Sleep(10 * time.Millisecond) {
		if got := peer.Stats().Blocks; got > want || ctx.Err() != nil {
			t.Fatalf("reader fetched %d blocks from the JS writer, want %d", got, want)
		}
	}
	if err := peer.Err(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(js.Stdin, "exit\n")
	js.Wait(t)
}
