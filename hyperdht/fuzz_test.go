package hyperdht

import (
	"bytes"
	"net/netip"
	"testing"
)

// fuzzRoundTrip checks that a decoder never panics and that whatever it
// accepts re-encodes to bytes that decode and encode to the same bytes.
func fuzzRoundTrip[T any](f *testing.F, seeds [][]byte, dec func([]byte) (T, error), enc func(T) []byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := dec(b)
		if err != nil {
			return
		}
		e1 := enc(v)
		v2, err := dec(e1)
		if err != nil {
			t.Fatalf("re-decode of %x: %v", e1, err)
		}
		if e2 := enc(v2); !bytes.Equal(e1, e2) {
			t.Fatalf("round trip: %x != %x", e1, e2)
		}
	})
}

var (
	ap1 = netip.MustParseAddrPort("1.2.3.4:5678")
	ap2 = netip.MustParseAddrPort("127.0.0.1:49737")
)

func seedsOf(msgs ...interface{ Encode() []byte }) [][]byte {
	var out [][]byte
	for _, m := range msgs {
		out = append(out, m.Encode())
	}
	return append(out, nil, []byte{0xff})
}

func FuzzDecodeHandshake(f *testing.F) {
	fuzzRoundTrip(f, seedsOf(&Handshake{Mode: 2, Noise: []byte("abc"), PeerAddress: &ap1, RelayAddress: &ap2}, &Handshake{}),
		DecodeHandshake, (*Handshake).Encode)
}

func FuzzDecodeHolepunch(f *testing.F) {
	fuzzRoundTrip(f, seedsOf(&Holepunch{Mode: 1, ID: 300, Payload: []byte("x"), PeerAddress: &ap1}),
		DecodeHolepunch, (*Holepunch).Encode)
}

func FuzzDecodeNoisePayload(f *testing.F) {
	fuzzRoundTrip(f, seedsOf(&NoisePayload{Version: 1, Firewall: 1, Addresses4: []netip.AddrPort{ap1},
		Addresses6: []netip.AddrPort{netip.MustParseAddrPort("[::1]:80")},
		Holepunch:  &HolepunchInfo{ID: 1, Relays: []RelayInfo{{ap1, ap2}}}, UDX: &UDXInfo{Version: 1, ID: 7, ReusableSocket: true},
		SecretStream: true, RelayThrough: &RelayThroughInfo{Version: 1}, RelayAddresses: []netip.AddrPort{ap2}}),
		DecodeNoisePayload, (*NoisePayload).Encode)
}

func FuzzDecodeHolepunchPayload(f *testing.F) {
	var tok [32]byte
	fuzzRoundTrip(f, seedsOf(&HolepunchPayload{Connected: true, Round: 3, Addresses: []netip.AddrPort{ap1}, RemoteAddress: &ap2, Token: &tok, RemoteToken: &tok}),
		DecodeHolepunchPayload, (*HolepunchPayload).Encode)
}

func FuzzDecodePeer(f *testing.F) {
	fuzzRoundTrip(f, seedsOf(&Peer{RelayAddresses: []netip.AddrPort{ap1, ap2}}), DecodePeer, (*Peer).Encode)
}

func FuzzDecodeLookupReply(f *testing.F) {
	fuzzRoundTrip(f, seedsOf(&LookupReply{Peers: []Peer{{}, {RelayAddresses: []netip.AddrPort{ap1}}}, Bump: 9}),
		DecodeLookupReply, (*LookupReply).Encode)
}

func FuzzDecodeAnnounce(f *testing.F) {
	var r [32]byte
	var s [64]byte
	fuzzRoundTrip(f, seedsOf(&Announce{Peer: &Peer{}, Refresh: &r, Signature: &s, Bump: 5}), DecodeAnnounce, (*Announce).Encode)
}

func FuzzDecodeMutablePutRequest(f *testing.F) {
	fuzzRoundTrip(f, seedsOf(&MutablePutRequest{Seq: 1000, Value: []byte("v")}), DecodeMutablePutRequest, (*MutablePutRequest).Encode)
}

func FuzzDecodeMutableGetResponse(f *testing.F) {
	fuzzRoundTrip(f, seedsOf(&MutableGetResponse{Seq: 1 << 40, Value: []byte("v")}), DecodeMutableGetResponse, (*MutableGetResponse).Encode)
}
