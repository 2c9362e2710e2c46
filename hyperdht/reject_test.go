package hyperdht

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
)

// TestFirewallRejects checks that a firewall returning ErrRejected answers
// the client, which fails with ErrRejected (not a timeout), while a client
// the firewall lets in still connects; for firewalled and open servers.
func TestFirewallRejects(t *testing.T) {
	tn := newTestnet(t, 4)
	for _, open := range []bool{false, true} {
		t.Run(fmt.Sprintf("open=%v", open), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cfg := dht.Config{Ephemeral: boolp(true), NoQuickFirewall: true}
			if open {
				cfg = dht.Config{Firewalled: boolp(false)}
			}
			sn := tn.add(t, &Config{DHT: cfg})
			good := tn.add(t, &Config{DHT: dht.Config{Ephemeral: boolp(true), NoQuickFirewall: true}})
			bad := tn.add(t, &Config{DHT: dht.Config{Ephemeral: boolp(true), NoQuickFirewall: true}})
			for _, n := range []*DHT{sn, good, bad} {
				if err := n.Bootstrapped(ctx); err != nil {
					t.Fatal(err)
				}
			}
			kp, _ := crypto.NewKeyPair()
			srv, err := sn.Listen(ctx, kp, func(pk ed25519.PublicKey, _ *NoisePayload) error {
				if !bytes.Equal(pk, good.KeyPair().PublicKey) {
					return fmt.Errorf("not on the list: %w", ErrRejected)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			echoServer(t, srv)
			_, err = bad.Connect(ctx, kp.PublicKey)
			var se *ServerError
			if !errors.Is(err, ErrRejected) || !errors.Is(err, ErrServerError) || !errors.As(err, &se) || se.Code != ErrCodeAborted {
				t.Fatalf("rejected client: %v", err)
			}
			if ctx.Err() != nil {
				t.Fatal("the rejection only came with the deadline")
			}
			c, err := good.Connect(ctx, kp.PublicKey)
			if err != nil {
				t.Fatalf("accepted client: %v", err)
			}
			c.Close()
		})
	}
}
