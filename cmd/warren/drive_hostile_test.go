package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/warrenp2p/warren/corestore"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/hypercore"
	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/hyperdrive"
	"github.com/warrenp2p/warren/keyid"
	"github.com/warrenp2p/warren/protomux"
	"github.com/warrenp2p/warren/swarm"
)

// forgingConn replaces from with to in the messages it sends while on is
// set: a peer serving blocks that do not match the signed tree.
type forgingConn struct {
	protomux.MessageConn
	from, to []byte
	on       *atomic.Bool
	hits     *atomic.Int64
}

func (c *forgingConn) WriteMessage(p []byte) error {
	if c.on.Load() && bytes.Contains(p, c.from) {
		c.hits.Add(1)
		p = bytes.ReplaceAll(p, c.from, c.to)
	}
	return c.MessageConn.WriteMessage(p)
}

// A peer that serves a drive's blob block with forged content cannot get
// it written: the clone never writes the file (nor any forged byte) and
// the block is not stored. Once the same peer serves honestly, the same
// clone run again completes with the real content.
func TestDriveHostilePeer(t *testing.T) {
	boot := localBootstrap(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	store, err := corestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	d, err := hyperdrive.Open(ctx, store, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	good := bytes.Repeat([]byte("GOODDATA"), 1000)
	if err := d.Put(ctx, "/secret.txt", good, nil); err != nil {
		t.Fatal(err)
	}
	node, err := hyperdht.New(&hyperdht.Config{DHT: dht.Config{Bootstrap: []string{boot}, Host: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	if err := node.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	sw, err := swarm.New(&swarm.Config{DHT: node})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	var forging atomic.Bool
	var hits atomic.Int64
	forging.Store(true)
	go func() {
		for {
			c, err := sw.Accept(ctx)
			if err != nil {
				return
			}
			mc := &forgingConn{MessageConn: c.Conn, from: []byte("GOODDATA"), to: []byte("EVILDATA"), on: &forging, hits: &hits}
			mux := protomux.New(mc, &protomux.Config{DeferStart: true})
			rep, err := store.ReplicateMux(mux, c.IsInitiator(), c.HandshakeHash())
			if err != nil {
				c.Close()
				continue
			}
			mux.Start()
			go func() {
				<-c.Done()
				rep.Close()
				mux.Close()
			}()
		}
	}()
	if _, err := sw.Join(d.DiscoveryKey(), &swarm.JoinOptions{Server: true, Client: true}); err != nil {
		t.Fatal(err)
	}
	if err := sw.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	key := d.Key()
	zkey := keyid.ZBase32Encode(key[:])

	storage := t.TempDir()
	dst := filepath.Join(t.TempDir(), "copy")
	cl := start(t, "--bootstrap", boot, "--storage", storage, "clone", zkey, dst)
	deadline := time.Now().Add(90 * time.Second)
	for hits.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if hits.Load() == 0 {
		t.Fatal("the clone never asked for the block")
	}
	// Let the forged block reach the clone (and a redial or two happen).
	time.Sleep(3 * time.Second)
	cl.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-cl.done:
	case <-time.After(30 * time.Second):
		t.Fatal("clone did not exit on SIGINT")
	}
	if cl.err == nil {
		t.Fatal("clone exited 0 without the file")
	}
	if _, err := os.Stat(filepath.Join(dst, "secret.txt")); err == nil {
		t.Fatal("secret.txt was written from forged data")
	}
	filepath.WalkDir(dst, func(p string, de os.DirEntry, err error) error {
		if err == nil && !de.IsDir() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("EVILDATA")) {
				t.Errorf("%s holds forged bytes", p)
			}
		}
		return nil
	})
	if _, blobs := heldBlocks(t, storage, zkey); blobs[0] != 0 {
		t.Fatalf("the store kept %d blob blocks from the forging peer", blobs[0])
	}

	forging.Store(false)
	cloneOnce(t, boot, storage, zkey, dst)
	b, err := os.ReadFile(filepath.Join(dst, "secret.txt"))
	if err != nil || !bytes.Equal(b, good) {
		t.Fatalf("after honest serving: %v, %q...", err, strings.TrimSpace(string(b[:min(len(b), 16)])))
	}
}

// seed keeps a plain hypercore (not a drive) fully downloaded: it reports
// the core synced, and its store then holds every block.
func TestDriveSeedPlainCore(t *testing.T) {
	boot := localBootstrap(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	store, err := corestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	core, err := store.Get(ctx, corestore.GetOptions{Name: "plain"})
	if err != nil {
		t.Fatal(err)
	}
	defer core.Close()
	for i := range 300 {
		if _, err := core.Append([]byte(strings.Repeat("block ", i+1))); err != nil {
			t.Fatal(err)
		}
	}
	node, err := hyperdht.New(&hyperdht.Config{DHT: dht.Config{Bootstrap: []string{boot}, Host: "127.0.0.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer node.Close()
	if err := node.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	sw, err := swarm.New(&swarm.Config{DHT: node})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Close()
	go func() {
		for {
			c, err := sw.Accept(ctx)
			if err != nil {
				return
			}
			go func() {
				rep, err := store.Replicate(ctx, c.Conn)
				if err != nil {
					c.Close()
					return
				}
				<-c.Done()
				rep.Close()
			}()
		}
	}()
	if _, err := sw.Join(core.DiscoveryKey(), &swarm.JoinOptions{Server: true, Client: true}); err != nil {
		t.Fatal(err)
	}
	if err := sw.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	key := core.Key()
	zkey := keyid.ZBase32Encode(key[:])
	storage := t.TempDir()
	sd := start(t, "--bootstrap", boot, "--storage", storage, "seed", zkey)
	if l := sd.line(t); l != "seeding "+zkey {
		t.Fatalf("seed printed %q", l)
	}
	if l := sd.line(t); l != "synced "+zkey+" length=300" {
		t.Fatalf("seed printed %q, want synced length=300", l)
	}
	sd.stop(t)

	st, err := corestore.Open(filepath.Join(storage, "corestore"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := st.Get(ctx, corestore.GetOptions{Key: key[:], NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Length() != 300 || s.ContiguousLength() != 300 {
		t.Fatalf("seeder holds %d of %d blocks", s.ContiguousLength(), s.Length())
	}
	b, err := s.Get(ctx, 299, hypercore.GetOptions{})
	if err != nil || string(b) != strings.Repeat("block ", 300) {
		t.Fatalf("block 299: %v", err)
	}
}
