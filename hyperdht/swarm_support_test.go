package hyperdht

import (
	"bytes"
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
)

func TestQueryTopic(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := crypto.Hash([]byte("query topic"))
	kp, _ := crypto.NewKeyPair()
	a, b := tn.nodes[1], tn.nodes[4]
	if _, err := a.QueryTopic(ctx, topic, &TopicQueryOptions{Announce: true}); err == nil {
		t.Fatal("announce without a key pair")
	}
	found := func() bool {
		seen := false
		_, err := b.QueryTopic(ctx, topic, &TopicQueryOptions{OnPeers: func(r LookupResult) {
			for _, p := range r.Peers {
				seen = seen || bytes.Equal(p.PublicKey[:], kp.PublicKey)
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		return seen
	}
	// Announce with clear, twice: the second clears the first's records
	// before announcing again, and the record stays.
	var closest [][]netip.AddrPort
	for i := 0; i < 2; i++ {
		c, err := a.QueryTopic(ctx, topic, &TopicQueryOptions{KeyPair: &kp, Announce: true, Unannounce: true})
		if err != nil {
			t.Fatal(err)
		}
		closest = append(closest[:0], c)
	}
	if !found() {
		t.Fatal("announce not found")
	}
	// Unannounce on the closest nodes only, without walking.
	if _, err := a.QueryTopic(ctx, topic, &TopicQueryOptions{KeyPair: &kp, Unannounce: true, Nodes: closest[0], OnlyClosestNodes: true}); err != nil {
		t.Fatal(err)
	}
	if found() {
		t.Fatal("still announced after unannounce")
	}
}
