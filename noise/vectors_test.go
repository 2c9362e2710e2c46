package noise

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
)

// vector is one known-answer case in testdata/vectors.json, produced by
// noise-handshake + noise-curve-ed (interop/js/noise-vector.js; the
// interop test TestInteropNoiseVectors re-derives the file from the JS).
type vector struct {
	Pattern            string   `json:"pattern"`
	Prologue           string   `json:"prologue"`
	InitiatorStatic    string   `json:"initiatorStatic"`
	ResponderStatic    string   `json:"responderStatic"`
	InitiatorEphemeral string   `json:"initiatorEphemeral"`
	ResponderEphemeral string   `json:"responderEphemeral"`
	Payloads           []string `json:"payloads"`
	Messages           []string `json:"messages"`
	Hash               string   `json:"hash"`
	InitiatorTx        string   `json:"initiatorTx"`
	InitiatorRx        string   `json:"initiatorRx"`
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVectors(t *testing.T) {
	raw, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var vs []vector
	if err := json.Unmarshal(raw, &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) < 4 {
		t.Fatalf("only %d vectors", len(vs))
	}
	for i, v := range vs {
		p := XX
		if v.Pattern == "IK" {
			p = IK
		}
		is := ed25519.NewKeyFromSeed(mustHex(t, v.InitiatorStatic))
		rs := ed25519.NewKeyFromSeed(mustHex(t, v.ResponderStatic))
		ic := Config{Pattern: p, Initiator: true, StaticKey: is, Prologue: mustHex(t, v.Prologue),
			Ephemeral: ed25519.NewKeyFromSeed(mustHex(t, v.InitiatorEphemeral))}
		rc := Config{Pattern: p, StaticKey: rs, Prologue: mustHex(t, v.Prologue),
			Ephemeral: ed25519.NewKeyFromSeed(mustHex(t, v.ResponderEphemeral))}
		if p == IK {
			ic.RemoteStatic = pubOf(rs)
		}
		init, err := New(ic)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := New(rc)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Messages) != numMessages(p) {
			t.Fatalf("vector %d: %d messages", i, len(v.Messages))
		}
		w, r := init, resp
		for k, want := range v.Messages {
			var pl []byte
			if k < len(v.Payloads) {
				pl = mustHex(t, v.Payloads[k])
			}
			msg, err := w.WriteMessage(pl)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(msg); got != want {
				t.Fatalf("vector %d (%s) message %d:\n got  %s\n want %s", i, v.Pattern, k, got, want)
			}
			got, err := r.ReadMessage(mustHex(t, want))
			if err != nil || !bytes.Equal(got, pl) {
				t.Fatalf("vector %d message %d: read %x, %v", i, k, got, err)
			}
			w, r = r, w
		}
		ri, err := init.Result()
		if err != nil {
			t.Fatal(err)
		}
		rr, err := resp.Result()
		if err != nil {
			t.Fatal(err)
		}
		if hex.EncodeToString(ri.Hash[:]) != v.Hash || rr.Hash != ri.Hash {
			t.Errorf("vector %d: hash %x, want %s", i, ri.Hash, v.Hash)
		}
		if hex.EncodeToString(ri.Tx[:]) != v.InitiatorTx || hex.EncodeToString(ri.Rx[:]) != v.InitiatorRx {
			t.Errorf("vector %d: initiator tx/rx %x %x, want %s %s", i, ri.Tx, ri.Rx, v.InitiatorTx, v.InitiatorRx)
		}
		if rr.Tx != ri.Rx || rr.Rx != ri.Tx {
			t.Errorf("vector %d: responder keys do not mirror the initiator's", i)
		}
	}
}
