package hyperdht

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
)

func TestImmutableAndMutable(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a, b := tn.nodes[2], tn.nodes[5]

	h, err := a.ImmutablePut(ctx, []byte("hello world"))
	if err != nil {
		t.Fatal(err)
	}
	if h != crypto.Hash([]byte("hello world")) {
		t.Fatal("wrong hash")
	}
	v, err := b.ImmutableGet(ctx, h)
	if err != nil || string(v) != "hello world" {
		t.Fatalf("immutable get: %q %v", v, err)
	}
	if _, err := b.ImmutableGet(ctx, crypto.Hash([]byte("nope"))); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing immutable: %v", err)
	}

	kp, _ := crypto.NewKeyPair()
	if err := a.MutablePut(ctx, kp, []byte("v1"), 1); err != nil {
		t.Fatal(err)
	}
	r, err := b.MutableGet(ctx, kp.PublicKey, 0)
	if err != nil || r.Seq != 1 || string(r.Value) != "v1" {
		t.Fatalf("mutable get: %+v %v", r, err)
	}
	if err := b.MutablePut(ctx, kp, []byte("v2"), 2); err != nil {
		t.Fatal(err)
	}
	r, err = a.MutableGet(ctx, kp.PublicKey, 2)
	if err != nil || r.Seq != 2 || string(r.Value) != "v2" {
		t.Fatalf("mutable get 2: %+v %v", r, err)
	}
	// An older seq is refused everywhere.
	if err := a.MutablePut(ctx, kp, []byte("old"), 1); err == nil {
		t.Fatal("seq too low accepted")
	}
	if _, err := a.MutableGet(ctx, kp.PublicKey, 3); !errors.Is(err, ErrNotFound) {
		t.Fatalf("seq filter: %v", err)
	}
}

func TestAnnounceLookup(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := crypto.Hash([]byte("topic"))
	kp, _ := crypto.NewKeyPair()
	if err := tn.nodes[1].Announce(ctx, topic, kp, nil); err != nil {
		t.Fatal(err)
	}
	found := func() bool {
		res, err := tn.nodes[4].Lookup(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			for _, p := range r.Peers {
				if bytes.Equal(p.PublicKey[:], kp.PublicKey) {
					return true
				}
			}
		}
		return false
	}
	if !found() {
		t.Fatal("announce not found")
	}
	if err := tn.nodes[1].Unannounce(ctx, topic, kp); err != nil {
		t.Fatal(err)
	}
	if found() {
		t.Fatal("still found after unannounce")
	}
}

func echoServer(t *testing.T, srv *Server) {
	go func() {
		for {
			c, err := srv.Accept(context.Background())
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
}

func testConnect(t *testing.T, serverCfg, clientCfg dht.Config) {
	tn := newTestnet(t, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sn := tn.add(t, &Config{DHT: serverCfg})
	cn := tn.add(t, &Config{DHT: clientCfg})
	if err := sn.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cn.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	kp, _ := crypto.NewKeyPair()
	seenc := make(chan []byte, 10)
	srv, err := sn.Listen(ctx, kp, func(pk ed25519.PublicKey, p *NoisePayload) error {
		seenc <- append([]byte(nil), pk...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	echoServer(t, srv)
	c, err := cn.Connect(ctx, kp.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q %v", buf, err)
	}
	if seen := <-seenc; !bytes.Equal(seen, cn.KeyPair().PublicKey) {
		t.Fatal("firewall did not see the client key")
	}
}

func TestConnectOpen(t *testing.T) {
	testConnect(t, dht.Config{Firewalled: boolp(false)}, dht.Config{Firewalled: boolp(false)})
}

func TestConnectFirewalledServer(t *testing.T) {
	testConnect(t, dht.Config{Ephemeral: boolp(true), NoQuickFirewall: true}, dht.Config{Ephemeral: boolp(true), NoQuickFirewall: true})
}
