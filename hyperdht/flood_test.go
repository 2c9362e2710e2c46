package hyperdht

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
)

// A flood of junk handshakes and of valid records beyond the store bounds
// leaves every store bounded and the node answering.
func TestFloodBounded(t *testing.T) {
	tn := newTestnet(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	victim := tn.add(t, &Config{MaxSize: 64, DHT: dht.Config{Ephemeral: boolp(false), Firewalled: boolp(false)}})
	if err := victim.Bootstrapped(ctx); err != nil {
		t.Fatal(err)
	}
	kp, _ := crypto.NewKeyPair()
	srv, err := victim.Listen(ctx, kp, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	attacker := tn.nodes[1].Node()
	to := victim.Node().LocalAddr()
	target := crypto.Hash(kp.PublicKey)
	noRetry := 0
	quick := &dht.RequestOptions{Target: &target, Retries: &noRetry, Timeout: 50 * time.Millisecond}

	// Junk handshakes for the server: nothing answers, nothing piles up.
	for i := 0; i < 300; i++ {
		junk := make([]byte, 64)
		rand.Read(junk)
		msg := (&Handshake{Mode: ModeFromClient, Noise: junk}).Encode()
		go attacker.Request(ctx, to, CmdPeerHandshake, msg, quick)
	}

	// Valid records, many more than the stores hold.
	res, err := attacker.Request(ctx, to, CmdImmutableGet, nil, &dht.RequestOptions{Target: &target})
	if err != nil || res.Token == nil {
		t.Fatalf("token: %v", err)
	}
	tok := res.Token
	for i := 0; i < 200; i++ {
		v := []byte(fmt.Sprintf("value %d", i))
		h := crypto.Hash(v)
		if _, err := attacker.Request(ctx, to, CmdImmutablePut, v, &dht.RequestOptions{Target: &h, Token: tok}); err != nil {
			t.Fatal(err)
		}
		topic := crypto.Hash([]byte(fmt.Sprintf("topic %d", i)))
		r, err := attacker.Request(ctx, to, CmdLookup, nil, &dht.RequestOptions{Target: &topic})
		if err != nil {
			t.Fatal(err)
		}
		akp, _ := crypto.NewKeyPair()
		if err := tn.nodes[1].requestAnnounce(ctx, CmdAnnounce, topic, akp, r, nil); err != nil {
			t.Fatal(err)
		}
	}
	if n := victim.immutables.len(); n > 32 {
		t.Fatalf("%d immutables stored, bound is 32", n)
	}
	if n := victim.records.all.len(); n > 64 {
		t.Fatalf("%d records stored, bound is 64", n)
	}
	victim.records.mu.Lock()
	topics := len(victim.records.topics)
	victim.records.mu.Unlock()
	if topics > 2*64+1 {
		t.Fatalf("%d topics indexed", topics)
	}
	// The junk requests may still be arriving; give them time to be dropped.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		srv.mu.Lock()
		pending := len(srv.connects)
		srv.mu.Unlock()
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d junk handshakes remembered", pending)
		}
	}
	if _, err := attacker.Ping(ctx, to); err != nil {
		t.Fatalf("victim stopped answering: %v", err)
	}
	// The newest records are still served.
	v := []byte("value 199")
	if got, err := tn.nodes[2].ImmutableGet(ctx, crypto.Hash(v)); err != nil || string(got) != string(v) {
		t.Fatalf("newest immutable: %q %v", got, err)
	}
}
