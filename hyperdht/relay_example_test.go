package hyperdht_test

import (
	"context"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/hyperdht"
)

// A relay node, a server that names it and a client: when the two cannot
// punch a hole to each other (say both are behind random NATs), they meet
// on the relay instead of failing.
func Example_blindRelay() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := dht.Config{Bootstrap: []string{"bootstrap.example:49737"}}

	// Any reachable node can relay, under its key pair.
	relayKeys, _ := crypto.NewKeyPair()
	relayNode, err := hyperdht.New(&hyperdht.Config{DHT: cfg, KeyPair: &relayKeys, BlindRelay: true})
	if err != nil {
		return
	}
	defer relayNode.Close()

	// The server names the relay (Config.RelayThrough would name it for
	// every server and connection of the node).
	server, _ := hyperdht.New(&hyperdht.Config{DHT: cfg})
	defer server.Close()
	kp, _ := crypto.NewKeyPair()
	srv, err := server.ListenWith(ctx, kp, &hyperdht.ListenOptions{RelayThrough: hyperdht.RelayKeys(relayKeys.PublicKey)})
	if err != nil {
		return
	}
	defer srv.Close()

	// The client learns the relay from the handshake; it punches first
	// and falls back on the relay.
	client, _ := hyperdht.New(&hyperdht.Config{DHT: cfg})
	defer client.Close()
	conn, err := client.Connect(ctx, kp.PublicKey)
	if err != nil {
		return
	}
	defer conn.Close()
}
