package interop

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/hyperdht"
)

// TestInteropHyperDHTRejected: a Go server whose firewall refuses with
// hyperdht.ErrRejected answers a JS client with an error code, and the JS
// client fails with hyperdht's SERVER_ERROR instead of timing out.
func TestInteropHyperDHTRejected(t *testing.T) {
	js := startJSHyperDHT(t, "testnet", "4")
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	user, _ := goHyperDHTNodes(t, ctx, js.Bootstrap, 2)
	kp, _ := crypto.NewKeyPair()
	srv, err := user.Listen(ctx, kp, func(ed25519.PublicKey, *hyperdht.NoisePayload) error { return hyperdht.ErrRejected })
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	b, _ := json.Marshal(map[string]any{"op": "connect", "publicKey": hex.EncodeToString(kp.PublicKey), "data": "x"})
	if _, err := fmt.Fprintf(js.p.Stdin, "%s\n", b); err != nil {
		t.Fatal(err)
	}
	var res struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal([]byte(js.p.Expect(t, "result ")), &res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(res.Error, "SERVER_ERROR") {
		t.Fatalf("JS client refused by a Go server: %q, want SERVER_ERROR", res.Error)
	}
}
