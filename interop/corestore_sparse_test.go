package interop

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/warrenp2p/warren/corestore"
	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/hypercore"
	"github.com/warrenp2p/warren/secretstream"
)

// spStart runs corestore-sparse.js with cfg and returns it with the port it
// listens on and, for the writing roles, the core key.
func spStart(t *testing.T, env *Env, cfg map[string]any) (*Proc, string, []byte) {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	js := env.Start(t, "corestore-sparse.js", string(b))
	var key []byte
	if cfg["role"] != "reader" {
		if key, err = hex.DecodeString(js.Expect(t, "key ")); err != nil || len(key) != 32 {
			t.Fatalf("JS key: %v", err)
		}
	}
	return js, js.Expect(t, "port "), key
}

// spDial connects to the JS peer on port and replicates s over it (Go is
// the secret-stream initiator).
func spDial(t *testing.T, s *corestore.Store, port string) *corestore.Replication {
	t.Helper()
	conn, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := s.Replicate(ctx, secretstream.Client(conn, nil))
	if err != nil {
		conn.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { rep.Close(); <-rep.Done() })
	return rep
}

// spHeld counts the blocks of c stored locally.
func spHeld(c *hypercore.Session) int {
	n := 0
	for i := range c.Length() {
		if c.Has(i) {
			n++
		}
	}
	return n
}

// spWait polls cond until it holds or 30 s pass.
func spWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func spCmd(t *testing.T, js *Proc, cmd, reply string) string {
	t.Helper()
	io.WriteString(js.Stdin, cmd+"\n")
	return js.Expect(t, reply)
}

// TestInteropCorestoreSparseGoServes: a Go store holding a core it does not
// have open serves a JS reader: the JS channel makes Go open the core on
// demand, sparse and with no session, and it answers a single block and
// then the whole core.
func TestInteropCorestoreSparseGoServes(t *testing.T) {
	env := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	s, err := corestore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Get(ctx, corestore.GetOptions{Name: "big"})
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]byte
	for i := range 300 {
		blocks = append(blocks, []byte(fmt.Sprintf("big-%d", i)))
	}
	if _, err := c.Append(blocks...); err != nil {
		t.Fatal(err)
	}
	key := c.Key()
	c.Close()
	s.Close()
	if s, err = corestore.Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	js, port, _ := spStart(t, env, map[string]any{"role": "reader", "key": hex.EncodeToString(key[:])})
	rep := spDial(t, s, port)
	if got := spCmd(t, js, "get 123", "got "); got != "123 big-123" {
		t.Fatalf("JS got %q", got)
	}
	if got := spCmd(t, js, "held", "held "); got != "1 length 300" {
		t.Fatalf("JS reader holds %q, want one block", got)
	}
	if p := rep.Peer(crypto.DiscoveryKey(key)); p == nil || p.Err() != nil {
		t.Fatalf("no healthy on-demand peer: %v", p)
	}
	if got := spCmd(t, js, "download", "downloaded "); got != "300" {
		t.Fatalf("JS downloaded %q", got)
	}
	if got := spCmd(t, js, "held", "held "); got != "300 length 300" {
		t.Fatalf("JS reader holds %q after download", got)
	}
	io.WriteString(js.Stdin, "exit\n")
	js.Wait(t)
}

// TestInteropCorestoreSparseIdleChannel: the syncs of a Go core opened on
// demand say it is not downloading, so when the JS reader stops
// downloading too the channel closes, as between two JS peers; when the
// reader becomes active again it reopens the channel and Go serves it.
func TestInteropCorestoreSparseIdleChannel(t *testing.T) {
	env := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	s, err := corestore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Get(ctx, corestore.GetOptions{Name: "idle"})
	if err != nil {
		t.Fatal(err)
	}
	var blocks [][]byte
	for i := range 50 {
		blocks = append(blocks, []byte(fmt.Sprintf("idle-%d", i)))
	}
	if _, err := c.Append(blocks...); err != nil {
		t.Fatal(err)
	}
	key := c.Key()
	c.Close()
	s.Close()
	if s, err = corestore.Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dk := crypto.DiscoveryKey(key)

	js, port, _ := spStart(t, env, map[string]any{"role": "reader", "key": hex.EncodeToString(key[:])})
	rep := spDial(t, s, port)
	if got := spCmd(t, js, "get 7", "got "); got != "7 idle-7" {
		t.Fatalf("JS got %q", got)
	}
	p := rep.Peer(dk)
	if p == nil {
		t.Fatal("no on-demand peer")
	}
	spCmd(t, js, "idle", "idle")
	select {
	case <-p.Done():
	case <-ctx.Done():
		t.Fatal("the channel of an on-demand core stayed open with both sides idle")
	}
	if p.Err() != nil {
		t.Fatalf("idle close ended the peer with %v", p.Err())
	}
	spCmd(t, js, "active", "active")
	if got := spCmd(t, js, "get 42", "got "); got != "42 idle-42" {
		t.Fatalf("JS got %q after reopening", got)
	}
	if q := rep.Peer(dk); q == nil || q == p {
		t.Fatal("no new peer for the reopened channel")
	}
	io.WriteString(js.Stdin, "exit\n")
	js.Wait(t)
}

// TestInteropCorestoreSparseGoOnDemand: a Go store holding the first 10
// blocks of a JS core, with the core not open, replicates with the JS
// writer: the core Go opens on demand takes the new length but downloads
// nothing; a sparse Get then fetches exactly the block it reads, and a Get
// without Sparse fetches the rest.
func TestInteropCorestoreSparseGoOnDemand(t *testing.T) {
	env := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js, port, key := spStart(t, env, map[string]any{"role": "writer", "name": "big", "blocks": 300})

	dir := t.TempDir()
	s, err := corestore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Get(ctx, corestore.GetOptions{Key: key, Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	rep := spDial(t, s, port)
	if err := c.Download(ctx, 0, 10); err != nil {
		t.Fatal(err)
	}
	c.Close()
	rep.Close()
	<-rep.Done()
	s.Close()

	if s, err = corestore.Open(dir, nil); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dk := crypto.DiscoveryKey([32]byte(key))
	rep = spDial(t, s, port)
	spWait(t, "the on-demand open", func() bool { return rep.Peer(dk) != nil })

	c, err = s.Get(ctx, corestore.GetOptions{Key: key, Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// An eager core would have asked for every missing block as soon as it
	// learnt the length, ahead of this one.
	if v, err := c.Get(ctx, 250, hypercore.GetOptions{Wait: true}); err != nil || string(v) != "big-250" {
		t.Fatalf("block 250 = %q, %v", v, err)
	}
	if n := spHeld(c); n != 11 || c.Length() != 300 {
		t.Fatalf("on-demand core holds %d of %d blocks, want 11 of 300", n, c.Length())
	}

	e, err := s.Get(ctx, corestore.GetOptions{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	spWait(t, "every block", func() bool { return spHeld(e) == 300 })
	for i := range uint64(300) {
		if v, err := e.Get(ctx, i, hypercore.GetOptions{}); err != nil || string(v) != fmt.Sprintf("big-%d", i) {
			t.Fatalf("block %d = %q, %v", i, v, err)
		}
	}
	io.WriteString(js.Stdin, "exit\n")
	js.Wait(t)
}

// TestInteropCorestoreSparseJSServes: a JS store holding a core it does not
// have open (corestore opens it on demand, with no session) serves a
// sparse Go reader, which stores exactly the block it reads; a Get without
// Sparse then fetches the whole core from it.
func TestInteropCorestoreSparseJSServes(t *testing.T) {
	env := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js, port, key := spStart(t, env, map[string]any{"role": "stored", "name": "big", "blocks": 300})

	s, err := corestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.Get(ctx, corestore.GetOptions{Key: key, Sparse: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	spDial(t, s, port)
	if v, err := c.Get(ctx, 42, hypercore.GetOptions{Wait: true}); err != nil || string(v) != "big-42" {
		t.Fatalf("block 42 = %q, %v", v, err)
	}
	if n := spHeld(c); n != 1 || c.Length() != 300 {
		t.Fatalf("sparse reader holds %d of %d blocks, want 1 of 300", n, c.Length())
	}

	e, err := s.Get(ctx, corestore.GetOptions{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	spWait(t, "every block", func() bool { return spHeld(e) == 300 })
	if v, err := e.Get(ctx, 299, hypercore.GetOptions{}); err != nil || !strings.HasPrefix(string(v), "big-299") {
		t.Fatalf("block 299 = %q, %v", v, err)
	}
	io.WriteString(js.Stdin, "exit\n")
	js.Wait(t)
}
