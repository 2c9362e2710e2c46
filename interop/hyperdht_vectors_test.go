package interop

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/hyperdht"
)

// JS encodes every hyperdht message; Go decodes each and re-encodes the
// same bytes, and verifies the JS-made mutable signature.
func TestInteropHyperDHTMessageVectors(t *testing.T) {
	env := Require(t)
	var v map[string]string
	if err := json.Unmarshal(env.Run(t, nil, "hyperdht_vectors.js"), &v); err != nil {
		t.Fatal(err)
	}
	b := func(k string) []byte {
		x, err := hex.DecodeString(v[k])
		if err != nil || len(x) == 0 {
			t.Fatalf("vector %s missing", k)
		}
		return x
	}
	check := func(k string, enc func([]byte) ([]byte, error)) {
		t.Helper()
		got, err := enc(b(k))
		if err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		if !bytes.Equal(got, b(k)) {
			t.Errorf("%s: go %x js %x", k, got, b(k))
		}
	}
	check("handshake", func(x []byte) ([]byte, error) { m, err := hyperdht.DecodeHandshake(x); return m.Encode(), err })
	check("handshakeBare", func(x []byte) ([]byte, error) { m, err := hyperdht.DecodeHandshake(x); return m.Encode(), err })
	check("holepunch", func(x []byte) ([]byte, error) { m, err := hyperdht.DecodeHolepunch(x); return m.Encode(), err })
	check("noisePayload", func(x []byte) ([]byte, error) { m, err := hyperdht.DecodeNoisePayload(x); return m.Encode(), err })
	check("noisePayloadMin", func(x []byte) ([]byte, error) { m, err := hyperdht.DecodeNoisePayload(x); return m.Encode(), err })
	check("holepunchPayload", func(x []byte) ([]byte, error) {
		m, err := hyperdht.DecodeHolepunchPayload(x)
		return m.Encode(), err
	})
	check("peer", func(x []byte) ([]byte, error) { m, err := hyperdht.DecodePeer(x); return m.Encode(), err })
	check("lookupReply", func(x []byte) ([]byte, error) { m, err := hyperdht.DecodeLookupReply(x); return m.Encode(), err })
	check("announce", func(x []byte) ([]byte, error) { m, err := hyperdht.DecodeAnnounce(x); return m.Encode(), err })
	check("mutablePut", func(x []byte) ([]byte, error) {
		m, err := hyperdht.DecodeMutablePutRequest(x)
		return m.Encode(), err
	})
	check("mutableGet", func(x []byte) ([]byte, error) {
		m, err := hyperdht.DecodeMutableGetResponse(x)
		return m.Encode(), err
	})
	for k, ns := range map[string][32]byte{
		"nsAnnounce": hyperdht.NSAnnounce, "nsUnannounce": hyperdht.NSUnannounce, "nsMutablePut": hyperdht.NSMutablePut,
		"nsPeerHandshake": hyperdht.NSPeerHandshake, "nsPeerHolepunch": hyperdht.NSPeerHolepunch, "nsPlugin": hyperdht.NSPlugin,
	} {
		if !bytes.Equal(ns[:], b(k)) {
			t.Errorf("%s: go %x js %s", k, ns, v[k])
		}
	}
	secret := hyperdht.HolepunchSecret(bytes.Repeat([]byte{1}, 64))
	if !bytes.Equal(secret[:], b("holepunchSecret")) {
		t.Errorf("holepunch secret: go %x js %s", secret, v["holepunchSecret"])
	}
	if p, err := hyperdht.OpenHolepunchPayload(&secret, b("holepunchBox")); err != nil || p.Round != 1 || !p.Punching {
		t.Errorf("JS holepunch box: %+v %v", p, err)
	}
	kp, _ := crypto.KeyPairFromSeed(bytes.Repeat([]byte{1}, 32))
	if !hyperdht.VerifyMutable(kp.PublicKey, 5, []byte("hello"), b("mutableSignature")) {
		t.Error("JS mutable signature does not verify in Go")
	}
	if s := hyperdht.SignMutable(kp, 5, []byte("hello")); !bytes.Equal(s[:], b("mutableSignature")) {
		t.Error("Go mutable signature differs from JS")
	}
}
