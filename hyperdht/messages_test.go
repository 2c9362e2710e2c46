package hyperdht

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"reflect"
	"testing"

	"github.com/warrenp2p/warren/crypto"
)

// jsVectors were printed by interop/js/hyperdht_vectors.js (hyperdht
// 6.34.0); TestInteropHyperDHTMessageVectors checks them against live JS.
var jsVectors = map[string]string{
	"handshake":           "0302056e6f697365010203042e167f00000149c2",
	"handshakeBare":       "0004016e",
	"holepunch":           "0101fd2c01037061797f00000149c2",
	"noisePayload":        "017f00020301010203042e167f00000149c202010203042e167f00000149c2010000000000000000000000000000000150000101fe7011010000010100abababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababab017f00000149c2",
	"noisePayloadMin":     "011803000100050001",
	"holepunchPayload":    "3f00010201010203042e167f00000149c2abababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababababab",
	"peer":                "abababababababababababababababababababababababababababababababab02010203042e167f00000149c2",
	"lookupReply":         "01abababababababababababababababababababababababababababababababab01010203042e16fdd204",
	"announce":            "0fabababababababababababababababababababababababababababababababab00ababababababababababababababababababababababababababababababababcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd4d",
	"mutablePut":          "ababababababababababababababababababababababababababababababababff01000000010000000576616c7565cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
	"mutableGet":          "090176cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
	"nsAnnounce":          "36386adddf9f6fd60db83a6f42fc159d1146aa8644037664230aaa1f0179d497",
	"nsUnannounce":        "ded293cd93fb395e756ecf5fff426529e72c36eacc22e5ed944d9099a2561e32",
	"nsMutablePut":        "668e823edd5ce7f5338d68bf1161f4a3c28ce437ee2ab49efd30d99366039b1e",
	"nsPeerHandshake":     "14d6d4b49214ab1033ed204976caa258bae9e1e8543b9ad1fd996a910b0c4e3a",
	"nsPeerHolepunch":     "f1191cd5e67b10b54a507033280ed1ff0e12278268d5679c8f93d417210d168b",
	"nsPlugin":            "6b8a2a8623f28c6c02a1e22abe515ce31cafd9af61d4b69970639aa7eb96a8d5",
	"mutableSignature":    "563f636d6d357642b088e989ccaf880f196dc28dca9e6bc00ff9612ce20eeef535aed98997424eb6caabd42545691df10e1ab9132748c1012c963869db33e406",
	"announceSignature":   "2fb1b062caabd4059e252ce056f5eb6f23b5c581f64aa667675fe28113033ad8bf8f57a7ef32ff57bf4b1138e869a7bf9870bc35e60324c4b37fcf94c4fcac03",
	"unannounceSignature": "78803b0e1486a7544bb1a574f1a626f7795ef99a4d4dce796975147ad1f7beed6ae41818b93b8b992b532384dd91e320962f750c25d036d26dedf45674210a08",
}

// GoVectors builds the messages of hyperdht_vectors.js in Go.
func goVectors() map[string][]byte {
	a1 := netip.MustParseAddrPort("1.2.3.4:5678")
	a2 := netip.MustParseAddrPort("127.0.0.1:49737")
	var k32 [32]byte
	var s64 [64]byte
	for i := range k32 {
		k32[i] = 0xab
	}
	for i := range s64 {
		s64[i] = 0xcd
	}
	fill := func(b byte) (r [32]byte) {
		for i := range r {
			r[i] = b
		}
		return
	}
	kp, _ := crypto.KeyPairFromSeed(bytes.Repeat([]byte{1}, 32))
	var pk [32]byte
	copy(pk[:], kp.PublicKey)
	sign := func(ns [32]byte, p *Peer) []byte {
		return crypto.Sign(annSignable(ns, k32, fill(3), fill(2), p, nil), kp.SecretKey)
	}
	ms := SignMutable(kp, 5, []byte("hello"))
	return map[string][]byte{
		"handshake":     (&Handshake{Mode: 2, Noise: []byte("noise"), PeerAddress: &a1, RelayAddress: &a2}).Encode(),
		"handshakeBare": (&Handshake{Mode: 4, Noise: []byte("n")}).Encode(),
		"holepunch":     (&Holepunch{Mode: 1, ID: 300, Payload: []byte("pay"), PeerAddress: &a2}).Encode(),
		"noisePayload": (&NoisePayload{Version: 1, Firewall: 2,
			Holepunch:      &HolepunchInfo{ID: 3, Relays: []RelayInfo{{a1, a2}}},
			Addresses4:     []netip.AddrPort{a1, a2},
			Addresses6:     []netip.AddrPort{netip.MustParseAddrPort("[::1]:80")},
			UDX:            &UDXInfo{Version: 1, ReusableSocket: true, ID: 70000},
			SecretStream:   true,
			RelayThrough:   &RelayThroughInfo{Version: 1, PublicKey: k32, Token: k32},
			RelayAddresses: []netip.AddrPort{a2}}).Encode(),
		"noisePayloadMin": (&NoisePayload{Version: 1, Error: 3, UDX: &UDXInfo{Version: 1, ID: 5}, SecretStream: true}).Encode(),
		"holepunchPayload": (&HolepunchPayload{Firewall: 1, Round: 2, Connected: true, Punching: true,
			Addresses: []netip.AddrPort{a1}, RemoteAddress: &a2, Token: &k32, RemoteToken: &k32}).Encode(),
		"peer":                (&Peer{PublicKey: k32, RelayAddresses: []netip.AddrPort{a1, a2}}).Encode(),
		"lookupReply":         (&LookupReply{Peers: []Peer{{PublicKey: k32, RelayAddresses: []netip.AddrPort{a1}}}, Bump: 1234}).Encode(),
		"announce":            (&Announce{Peer: &Peer{PublicKey: k32}, Refresh: &k32, Signature: &s64, Bump: 77}).Encode(),
		"mutablePut":          (&MutablePutRequest{PublicKey: k32, Seq: 0x100000001, Value: []byte("value"), Signature: s64}).Encode(),
		"mutableGet":          (&MutableGetResponse{Seq: 9, Value: []byte("v"), Signature: s64}).Encode(),
		"nsAnnounce":          NSAnnounce[:],
		"nsUnannounce":        NSUnannounce[:],
		"nsMutablePut":        NSMutablePut[:],
		"nsPeerHandshake":     NSPeerHandshake[:],
		"nsPeerHolepunch":     NSPeerHolepunch[:],
		"nsPlugin":            NSPlugin[:],
		"mutableSignature":    ms[:],
		"announceSignature":   sign(NSAnnounce, &Peer{PublicKey: pk, RelayAddresses: []netip.AddrPort{a1}}),
		"unannounceSignature": sign(NSUnannounce, &Peer{PublicKey: pk}),
	}
}

func TestJSVectors(t *testing.T) {
	got := goVectors()
	if len(got) != len(jsVectors) {
		t.Fatalf("%d Go vectors, %d JS vectors", len(got), len(jsVectors))
	}
	for k, want := range jsVectors {
		if g := hex.EncodeToString(got[k]); g != want {
			t.Errorf("%s:\n go %s\n js %s", k, g, want)
		}
	}
}

// Decoding the JS bytes gives back the values they were made from.
func TestDecodeJSVectors(t *testing.T) {
	b := func(k string) []byte { v, _ := hex.DecodeString(jsVectors[k]); return v }
	hs, err := DecodeHandshake(b("handshake"))
	if err != nil || hs.Mode != 2 || string(hs.Noise) != "noise" || hs.PeerAddress.String() != "1.2.3.4:5678" || hs.RelayAddress.String() != "127.0.0.1:49737" {
		t.Fatalf("handshake: %+v %v", hs, err)
	}
	np, err := DecodeNoisePayload(b("noisePayload"))
	if err != nil || np.Firewall != 2 || np.UDX.ID != 70000 || !np.UDX.ReusableSocket || len(np.Addresses4) != 2 ||
		len(np.Addresses6) != 1 || np.RelayThrough == nil || len(np.RelayAddresses) != 1 || np.Holepunch.Relays[0].PeerAddress.Port() != 49737 {
		t.Fatalf("noise payload: %+v %v", np, err)
	}
	mp, err := DecodeMutablePutRequest(b("mutablePut"))
	if err != nil || mp.Seq != 0x100000001 || string(mp.Value) != "value" {
		t.Fatalf("mutable put: %+v %v", mp, err)
	}
	lr, err := DecodeLookupReply(b("lookupReply"))
	if err != nil || lr.Bump != 1234 || len(lr.Peers) != 1 {
		t.Fatalf("lookup: %+v %v", lr, err)
	}
	// A lookup reply without the bump (older JS) still decodes.
	old := b("lookupReply")
	lr2, err := DecodeLookupReply(old[:len(old)-3])
	if err != nil || lr2.Bump != 0 || !reflect.DeepEqual(lr2.Peers, lr.Peers) {
		t.Fatalf("lookup without bump: %+v %v", lr2, err)
	}
	kp, _ := crypto.KeyPairFromSeed(bytes.Repeat([]byte{1}, 32))
	if !VerifyMutable(kp.PublicKey, 5, []byte("hello"), b("mutableSignature")) {
		t.Fatal("JS mutable signature does not verify")
	}
	if VerifyMutable(kp.PublicKey, 6, []byte("hello"), b("mutableSignature")) {
		t.Fatal("signature verifies for another seq")
	}
	// Truncations of every vector fail without panicking.
	for k := range jsVectors {
		v := b(k)
		for i := 0; i < len(v); i++ {
			DecodeHandshake(v[:i])
			DecodeNoisePayload(v[:i])
			DecodeAnnounce(v[:i])
		}
	}
}

// The holepunch secret and a payload JS sealed with it (hyperdht_vectors.js).
func TestJSHolepunchBox(t *testing.T) {
	secret := HolepunchSecret(bytes.Repeat([]byte{1}, 64))
	if hex.EncodeToString(secret[:]) != "1a9dc3d3df28e4523937abdab0ddb8faf7c293634b33629b851b9b612c170780" {
		t.Fatalf("holepunch secret %x", secret)
	}
	box, _ := hex.DecodeString("3c2eae83c85302de907225e3b932cea8aec9405951a6646cc064cea9541b187d063ac30247d9b656d59c85652fa31bf44b763bb89de61241206c4af39e298e633fec71590bbf7180ca1223f20f43d8457ecd30")
	p, err := OpenHolepunchPayload(&secret, box)
	if err != nil || p.Firewall != 2 || p.Round != 1 || !p.Punching || len(p.Addresses) != 1 || p.Token == nil || p.Token[0] != 0xab {
		t.Fatalf("JS box: %+v %v", p, err)
	}
	box[30] ^= 1
	if _, err := OpenHolepunchPayload(&secret, box); err == nil {
		t.Fatal("tampered box opened")
	}
	// Go seals, Go opens (JS opening Go's box is covered by the netlab interop test).
	sp := &securePayload{secret: secret}
	q, err := sp.decrypt(sp.encrypt(&HolepunchPayload{Round: 7}))
	if err != nil || q.Round != 7 {
		t.Fatalf("round trip: %+v %v", q, err)
	}
}
