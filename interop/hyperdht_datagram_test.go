package interop

import (
	"bytes"
	"context"
	"encoding/hex"
	"net"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
)

// TestInteropHyperDHTDatagrams: secret-stream's unordered messages over a
// direct hyperdht connection, both ways: the Go client sends datagrams that
// a JS server echoes with send, and a JS client's datagrams are echoed by a
// Go server with SendDatagram. (TestInteropBlindRelay does the same through
// relays.)
func TestInteropHyperDHTDatagrams(t *testing.T) {
	js := startJSRelayPeer(t, "testnet", "3", "open")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	user, _ := goHyperDHTNodes(t, ctx, js.Bootstrap, 3)

	var l struct {
		PublicKey string `json:"publicKey"`
	}
	js.do(t, map[string]any{"op": "listen", "seed": hex.EncodeToString(bytes.Repeat([]byte{41}, 32))}, &l)
	pk, _ := hex.DecodeString(l.PublicKey)
	c := goConnectEcho(t, ctx, user, pk, nil, "stream first")
	for _, m := range []string{"go datagram", "", string(bytes.Repeat([]byte{'d'}, 1000))} {
		goDatagramEcho(t, c, m)
	}

	kp, _ := crypto.KeyPairFromSeed(bytes.Repeat([]byte{42}, 32))
	srv, err := user.Listen(ctx, kp, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	seen := make(chan net.Conn, 1)
	echoAll(srv, seen)
	var r jsConnectResult
	js.do(t, map[string]any{"op": "connect", "publicKey": hex.EncodeToString(kp.PublicKey), "data": "js stream", "datagram": "js datagram"}, &r)
	if r.Echo != "js stream" || r.Datagram == nil || *r.Datagram != "js datagram" {
		t.Fatalf("JS: echo %q datagram %v", r.Echo, r.Datagram)
	}
}
