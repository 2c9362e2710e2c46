package compact

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
)

// fuzzCodec decodes with one codec and checks the round trip.
type fuzzCodec interface {
	name() string
	decodeState(s *State) error
	roundTrip(t *testing.T, data []byte)
}

type fz[T any] struct {
	n string
	c Codec[T]
	// loose is set where decoding accepts more than encoding produces:
	// malformed UTF-8 decodes to U+FFFD, which can take more bytes than
	// the input did; Bitfield accepts every width and keeps bits beyond
	// its length, as JS does. The re-encoding may then be longer, or fail
	// with ErrOverflow.
	loose bool
}

func (f fz[T]) name() string { return f.n }

func (f fz[T]) decodeState(s *State) error {
	_, err := f.c.Decode(s)
	return err
}

// roundTrip decodes data; on success the value must re-encode, the
// encoding must be no longer than what was consumed, and it must decode
// exactly to the same value and re-encode to the same bytes.
func (f fz[T]) roundTrip(t *testing.T, data []byte) {
	s := &State{End: len(data), Buf: data}
	v, err := f.c.Decode(s)
	if err != nil {
		return
	}
	if s.Start < 0 || s.Start > len(data) {
		t.Fatalf("%s: decode left Start at %d of %d", f.n, s.Start, len(data))
	}
	b, err := EncodeChecked(f.c, v)
	if f.loose && errors.Is(err, ErrOverflow) {
		return
	}
	if err != nil {
		t.Fatalf("%s: re-encoding %#v: %v", f.n, v, err)
	}
	if len(b) > s.Start && !f.loose {
		t.Fatalf("%s: %x decoded from %d bytes re-encodes to %d: %x", f.n, data, s.Start, len(b), b)
	}
	v2, err := DecodeExact(f.c, b)
	if err != nil {
		t.Fatalf("%s: decoding re-encoded %x: %v", f.n, b, err)
	}
	if !same(v, v2) {
		t.Fatalf("%s: %#v re-decoded as %#v", f.n, v, v2)
	}
	if b2 := Encode(f.c, v2); !bytes.Equal(b, b2) {
		t.Fatalf("%s: encodings differ: %x then %x", f.n, b, b2)
	}
}

var fuzzCodecs = []fuzzCodec{
	fz[uint64]{"uint", Uint, false},
	fz[uint32]{"varuint32", VarUint32, false},
	fz[Flags]{"flags", FlagsCodec, false},
	fz[uint64]{"bitfield(7)", Bitfield(7), true},
	fz[uint64]{"bitfield(16)", Bitfield(16), true},
	fz[uint64]{"bitfield(64)", Bitfield(64), true},
	fz[uint8]{"uint8", Uint8, false},
	fz[uint16]{"uint16", Uint16, false},
	fz[uint32]{"uint24", Uint24, false},
	fz[uint32]{"uint32", Uint32, false},
	fz[uint64]{"uint40", Uint40, false},
	fz[uint64]{"uint48", Uint48, false},
	fz[uint64]{"uint56", Uint56, false},
	fz[uint64]{"uint64", Uint64, false},
	fz[int64]{"int", Int, false},
	fz[int8]{"int8", Int8, false},
	fz[int16]{"int16", Int16, false},
	fz[int32]{"int24", Int24, false},
	fz[int32]{"int32", Int32, false},
	fz[int64]{"int40", Int40, false},
	fz[int64]{"int48", Int48, false},
	fz[int64]{"int56", Int56, false},
	fz[int64]{"int64", Int64, false},
	fz[float32]{"float32", Float32, false},
	fz[float64]{"float64", Float64, false},
	fz[bool]{"bool", Bool, false},
	fz[[]byte]{"buffer", Buffer, false},
	fz[[]byte]{"raw", Raw, false},
	fz[string]{"string", String, true},
	fz[struct{}]{"none", None, false},
	fz[[]byte]{"fixed32", Fixed32, false},
	fz[[]byte]{"fixed64", Fixed64, false},
	fz[[]byte]{"fixed(0)", Fixed(0), false},
	fz[[]byte]{"fixed(3)", Fixed(3), false},
	fz[[32]byte]{"bytes32", Bytes32, false},
	fz[[64]byte]{"bytes64", Bytes64, false},
	fz[[]string]{"array(string)", StringArray, true},
	fz[[][]byte]{"array(buffer)", BufferArray, false},
	fz[[]uint64]{"array(uint)", UintArray, false},
	fz[[][]byte]{"array(fixed32)", Fixed32Array, false},
	fz[[][]byte]{"array(raw)", Array(Raw), false},
	fz[[][]int64]{"array(array(int))", Array(Array(Int)), false},
	fz[[]uint32]{"uint32array", Uint32Array, false},
	fz[string]{"frame(string)", Frame(String), true},
	fz[[]uint64]{"frame(array(uint))", Frame(UintArray), false},
	fz[[][]byte]{"array(frame(buffer))", Array(Frame(Buffer)), false},
	fz[[]float64]{"array(float64)", Array(Float64), false},
	fz[netip.Addr]{"ipv4", IPv4, false},
	fz[netip.Addr]{"ipv6", IPv6, false},
	fz[netip.Addr]{"ip", IP, false},
	fz[netip.AddrPort]{"ipv4Address", IPv4Address, false},
	fz[netip.AddrPort]{"ipv6Address", IPv6Address, false},
	fz[netip.AddrPort]{"ipAddress", IPAddress, false},
	fz[[]netip.AddrPort]{"array(ipv4Address)", IPv4AddressArray, false},
}

// FuzzDecode decodes arbitrary bytes with every codec: nothing may panic,
// and whatever decodes must survive re-encoding.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"", "00", "fc", "fd0100", "fdffff", "fe00000100", "ff0000000001000000",
		"ffffffffffffffffff", "03010203", "0568656c6c6f", "03e28241", "02c0af",
		"0401020304", "0620010db8000000000000ff0000428329", "0501020304",
		"0305ffff", "fe00001000", "0201000000ffffffff", "02020102020304",
	} {
		f.Add(mustHex(f, s))
	}
	f.Add(seq(70))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range fuzzCodecs {
			c.roundTrip(t, data)
		}
	})
}
