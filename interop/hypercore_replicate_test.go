package interop

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/hypercore"
	"github.com/warrenp2p/warren/protomux"
	"github.com/warrenp2p/warren/secretstream"
)

// replBlock is the content hypercore-replicate.js gives block i.
func replBlock(i int) []byte { return []byte(fmt.Sprintf("block-%d", i)) }

// acceptReplicate accepts one TCP connection on ln, runs secret-stream as
// responder and protomux over it, and replicates c.
func acceptReplicate(t *testing.T, ln net.Listener, c *hypercore.Core) *hypercore.Peer {
	t.Helper()
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	ss := secretstream.Server(conn, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ss.Handshake(ctx); err != nil {
		t.Fatal(err)
	}
	mux := protomux.New(ss, &protomux.Config{DeferStart: true})
	t.Cleanup(func() { mux.Close(); <-mux.Done() })
	p, err := c.Replicate(mux, ss.IsInitiator(), ss.HandshakeHash())
	if err != nil {
		t.Fatal(err)
	}
	mux.Start()
	return p
}

func waitGoBlocks(t *testing.T, c *hypercore.Core, from, to int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := from; i < to; i++ {
		v, err := c.Get(ctx, uint64(i), hypercore.GetOptions{Wait: true})
		if err != nil {
			t.Fatalf("block %d: %v (length %d)", i, err, c.Length())
		}
		if string(v) != string(replBlock(i)) {
			t.Fatalf("block %d = %q", i, v)
		}
	}
}

func replCfg(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// TestInteropHypercoreReplicateJSToGo: a JS writer (hypercore 11) serves a
// Go reader over TCP + secret-stream + protomux: the Go reader downloads
// every block, follows live appends, for plain and encrypted cores.
func TestInteropHypercoreReplicateJSToGo(t *testing.T) {
	env := Require(t)
	for _, tc := range []struct {
		name   string
		compat bool
		enc    string
	}{{"v1", false, ""}, {"compat", true, ""}, {"encrypted", false, strings.Repeat("33", 32)}} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			const n = 2000
			js := env.Start(t, "hypercore-replicate.js", fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), replCfg(map[string]any{
				"role": "writer", "seed": hex.EncodeToString(seedFor("repl-" + tc.name)), "compat": tc.compat,
				"encryptionKey": tc.enc, "blocks": n,
			}))
			keyHex := js.Expect(t, "key ")
			key, _ := hex.DecodeString(keyHex)
			ek, _ := hex.DecodeString(tc.enc)
			if tc.enc == "" {
				ek = nil
			}
			r, err := hypercore.Open(t.TempDir(), hypercore.Options{Key: key, EncryptionKey: ek})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			peer := acceptReplicate(t, ln, r)
			waitGoBlocks(t, r, 0, n)
			io.WriteString(js.Stdin, "append 37\n")
			js.Expect(t, "length ")
			waitGoBlocks(t, r, n, n+37)
			if err := peer.Err(); err != nil {
				t.Fatal(err)
			}
			if r.Length() != n+37 || r.ContiguousLength() != n+37 {
				t.Fatalf("reader length %d contiguous %d", r.Length(), r.ContiguousLength())
			}
			// The writer truncates and appends other blocks: the reader follows.
			io.WriteString(js.Stdin, "truncate 1500\n")
			js.Expect(t, "fork ")
			io.WriteString(js.Stdin, "append 20\n")
			js.Expect(t, "length ")
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			for r.Fork() != 1 || r.Length() != 1520 {
				if ctx.Err() != nil {
					t.Fatalf("reader did not follow the truncation: length %d fork %d", r.Length(), r.Fork())
				}
				time.Sleep(10 * time.Millisecond)
			}
			for i := 1500; i < 1520; i++ {
				v, err := r.Get(ctx, uint64(i), hypercore.GetOptions{Wait: true})
				if err != nil || string(v) != fmt.Sprintf("f1-block-%d", i) {
					t.Fatalf("block %d after truncation: %q %v", i, v, err)
				}
			}
			waitGoBlocks(t, r, 0, 1500)
			// The blocks below the truncation point were kept (the reader
			// asked the JS writer for the nodes that show where the forks
			// part): only the 20 new ones were fetched again.
			for want := uint64(n + 37 + 20); peer.Stats().Blocks != want; time.Sleep(10 * time.Millisecond) {
				if got := peer.Stats().Blocks; got > want || ctx.Err() != nil {
					t.Fatalf("reader received %d blocks, want %d", got, want)
				}
			}
			io.WriteString(js.Stdin, "exit\n")
			js.Wait(t)
		})
	}
}

// TestInteropHypercoreReplicateGoToJS: a Go writer serves a JS reader: the
// JS core fetches (and verifies) every block, then blocks appended live.
func TestInteropHypercoreReplicateGoToJS(t *testing.T) {
	env := Require(t)
	for _, tc := range []struct {
		name   string
		compat bool
		enc    string
	}{{"v1", false, ""}, {"compat", true, ""}, {"encrypted", false, strings.Repeat("44", 32)}} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			kp, _ := crypto.NewKeyPair()
			ek, _ := hex.DecodeString(tc.enc)
			if tc.enc == "" {
				ek = nil
			}
			w, err := hypercore.Open(t.TempDir(), hypercore.Options{KeyPair: &kp, Compat: tc.compat, EncryptionKey: ek})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			const n = 2000
			var blocks [][]byte
			for i := range n {
				blocks = append(blocks, replBlock(i))
			}
			if _, err := w.Append(blocks...); err != nil {
				t.Fatal(err)
			}
			key := w.Key()
			js := env.Start(t, "hypercore-replicate.js", fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), replCfg(map[string]any{
				"role": "reader", "key": hex.EncodeToString(key[:]), "compat": tc.compat, "encryptionKey": tc.enc,
			}))
			acceptReplicate(t, ln, w)
			sum := func(m int) string {
				h := sha256.New()
				for i := range m {
					h.Write(replBlock(i))
				}
				return hex.EncodeToString(h.Sum(nil))
			}
			io.WriteString(js.Stdin, fmt.Sprintf("get %d\n", n))
			if got := js.Expect(t, "got "); got != fmt.Sprintf("%d %s fork 0", n, sum(n)) {
				t.Fatalf("JS got %s", got)
			}
			var more [][]byte
			for i := n; i < n+25; i++ {
				more = append(more, replBlock(i))
			}
			if _, err := w.Append(more...); err != nil {
				t.Fatal(err)
			}
			io.WriteString(js.Stdin, fmt.Sprintf("get %d\n", n+25))
			if got := js.Expect(t, "got "); got != fmt.Sprintf("%d %s fork 0", n+25, sum(n+25)) {
				t.Fatalf("JS got %s after live append", got)
			}
			// Truncate and append other blocks: the JS reader follows.
			if err := w.Truncate(1500); err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			for i := range 1500 {
				h.Write(replBlock(i))
			}
			var other [][]byte
			for i := 1500; i < 1530; i++ {
				b := []byte(fmt.Sprintf("f1-block-%d", i))
				other = append(other, b)
				h.Write(b)
			}
			if _, err := w.Append(other...); err != nil {
				t.Fatal(err)
			}
			want := fmt.Sprintf("1530 %s fork 1", hex.EncodeToString(h.Sum(nil)))
			deadline := time.Now().Add(60 * time.Second)
			for {
				io.WriteString(js.Stdin, "get 1530\n")
				got := js.Expect(t, "got ")
				if got == want {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("JS reader did not follow the truncation: %s", got)
				}
				time.Sleep(100 * time.Millisecond)
			}
			io.WriteString(js.Stdin, "exit\n")
			js.Wait(t)
		})
	}
}
