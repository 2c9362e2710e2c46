package compact

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

type tcase struct {
	name string
	run  func(t *testing.T)
}

// vec checks that v encodes to hexs (byte vectors produced by JS
// compact-encoding 3.5.2) and that hexs decodes exactly back to v.
func vec[T any](name string, c Codec[T], v T, hexs string) tcase {
	return tcase{name, func(t *testing.T) {
		t.Helper()
		want := mustHex(t, hexs)
		got, err := EncodeChecked(c, v)
		if err != nil {
			t.Fatalf("encode %v: %v", v, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("encode %v = %x, want %x", v, got, want)
		}
		back, err := DecodeExact(c, want)
		if err != nil {
			t.Fatalf("decode %x: %v", want, err)
		}
		if !same(back, v) {
			t.Fatalf("decode %x = %#v, want %#v", want, back, v)
		}
		// Every strict prefix must be rejected (no codec here can end early).
		for i := 0; i < len(want); i++ {
			if _, err := Decode(c, want[:i]); !errors.Is(err, ErrTruncated) {
				t.Fatalf("decode prefix %x: err %v, want ErrTruncated", want[:i], err)
			}
		}
	}}
}

// dec checks that hexs decodes (ignoring trailing bytes) to v.
func dec[T any](name string, c Codec[T], hexs string, v T) tcase {
	return tcase{name, func(t *testing.T) {
		t.Helper()
		got, err := Decode(c, mustHex(t, hexs))
		if err != nil {
			t.Fatalf("decode %s: %v", hexs, err)
		}
		if !same(got, v) {
			t.Fatalf("decode %s = %#v, want %#v", hexs, got, v)
		}
	}}
}

// decErr checks that decoding hexs fails with want.
func decErr[T any](name string, c Codec[T], hexs string, want error) tcase {
	return tcase{name, func(t *testing.T) {
		t.Helper()
		got, err := DecodeExact(c, mustHex(t, hexs))
		if !errors.Is(err, want) {
			t.Fatalf("decode %s = %#v, %v; want error %v", hexs, got, err, want)
		}
	}}
}

// encErr checks that encoding v records want and that Encode returns nil.
func encErr[T any](name string, c Codec[T], v T, want error) tcase {
	return tcase{name, func(t *testing.T) {
		t.Helper()
		if b, err := EncodeChecked(c, v); !errors.Is(err, want) {
			t.Fatalf("encode %v = %x, %v; want error %v", v, b, err, want)
		}
		if b := Encode(c, v); b != nil {
			t.Fatalf("Encode returned %x despite the error", b)
		}
	}}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// same is reflect.DeepEqual, except that floats compare by bits and nil
// and empty byte slices are equal.
func same(a, b any) bool {
	switch x := a.(type) {
	case float32:
		return math.Float32bits(x) == math.Float32bits(b.(float32))
	case float64:
		return math.Float64bits(x) == math.Float64bits(b.(float64))
	case []byte:
		return bytes.Equal(x, b.([]byte))
	case []float64:
		y := b.([]float64)
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if !same(x[i], y[i]) {
				return false
			}
		}
		return true
	case [][]byte:
		y := b.([][]byte)
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if !bytes.Equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func hexSeq(n int) string { return hex.EncodeToString(seq(n)) }

var (
	addr4  = netip.MustParseAddr("1.2.3.4")
	addr6  = netip.MustParseAddr("2001:db8::ff00:42:8329")
	addr4m = netip.MustParseAddr("::ffff:1.2.3.4")
)

func TestVectors(t *testing.T) {
	cases := []tcase{
		// Uint: the varint boundaries.
		vec("uint 0", Uint, 0, "00"),
		vec("uint fc", Uint, 0xfc, "fc"),
		vec("uint fd", Uint, 0xfd, "fdfd00"),
		vec("uint ffff", Uint, 0xffff, "fdffff"),
		vec("uint 10000", Uint, 0x10000, "fe00000100"),
		vec("uint 2^32-1", Uint, 1<<32-1, "feffffffff"),
		vec("uint 2^32", Uint, 1<<32, "ff0000000001000000"),
		vec("uint 2^53-1", Uint, 1<<53-1, "ffffffffffffff1f00"),
		vec("uint 2^64-1", Uint, math.MaxUint64, "ffffffffffffffffff"),
		vec("varuint32 max", VarUint32, math.MaxUint32, "feffffffff"),
		vec("flags", FlagsCodec, Flags(0x105), "fd0501"),

		// compact-encoding-bitfield.
		vec("bitfield(7)", Bitfield(7), 5, "05"),
		vec("bitfield(8)", Bitfield(8), 0xff, "fdff00"),
		vec("bitfield(16)", Bitfield(16), 0x0102, "fd0201"),
		vec("bitfield(32)", Bitfield(32), 1, "fe01000000"),
		vec("bitfield(33)", Bitfield(33), 1, "ff0100000000000000"),
		vec("bitfield(99)", Bitfield(99), math.MaxUint64, "ffffffffffffffffff"),

		// Fixed-width unsigned, little endian.
		vec("uint8", Uint8, 0xab, "ab"),
		vec("uint16", Uint16, 0x0102, "0201"),
		vec("port", Port, 49737, "49c2"),
		vec("uint24", Uint24, 0xffffff, "ffffff"),
		vec("uint32", Uint32, 0x01020304, "04030201"),
		vec("uint40", Uint40, 1<<40-1, "ffffffffff"),
		vec("uint48", Uint48, 1234567890123, "cb04fb711f01"),
		vec("uint56", Uint56, 1<<53-1, "ffffffffffff1f"),
		vec("uint56 max", Uint56, 1<<56-1, "ffffffffffffff"),
		vec("uint64", Uint64, 1<<53-1, "ffffffffffff1f00"),
		vec("uint64 max", Uint64, math.MaxUint64, "ffffffffffffffff"),

		// Zig-zag.
		vec("int 0", Int, 0, "00"),
		vec("int -1", Int, -1, "01"),
		vec("int 1", Int, 1, "02"),
		vec("int -300", Int, -300, "fd5702"),
		vec("int 2^52-1", Int, 1<<52-1, "fffeffffffffff1f00"),
		vec("int -2^52", Int, -(1 << 52), "ffffffffffffff1f00"),
		vec("int min", Int, math.MinInt64, "ffffffffffffffffff"),
		vec("int max", Int, math.MaxInt64, "fffeffffffffffffff"),
		vec("int8 min", Int8, -128, "ff"),
		vec("int8 max", Int8, 127, "fe"),
		vec("int16", Int16, -2, "0300"),
		vec("int24 min", Int24, -(1 << 23), "ffffff"),
		vec("int32 min", Int32, math.MinInt32, "ffffffff"),
		vec("int40", Int40, -1, "0100000000"),
		vec("int48", Int48, 1<<46, "000000000080"),
		vec("int56", Int56, -(1 << 55), "ffffffffffffff"),
		vec("int64", Int64, -(1 << 52), "ffffffffffff1f00"),

		// Floats.
		vec("float64", Float64, 1.5, "000000000000f83f"),
		vec("float64 -0", Float64, math.Copysign(0, -1), "0000000000000080"),
		vec("float64 inf", Float64, math.Inf(1), "000000000000f07f"),
		vec("float32", Float32, -0.25, "000080be"),
		vec("float32 nan", Float32, float32(math.NaN()), "0000c07f"),

		// Bool.
		vec("bool true", Bool, true, "01"),
		vec("bool false", Bool, false, "00"),

		// Buffers and strings.
		vec("buffer nil", Buffer, nil, "00"),
		vec("buffer", Buffer, []byte{1, 2, 3}, "03010203"),
		vec("buffer 253", Buffer, seq(253), "fdfd00"+hexSeq(253)),
		vec("string empty", String, "", "00"),
		vec("string", String, "hello", "0568656c6c6f"),
		vec("string unicode", String, "é😀", "06c3a9f09f9880"),
		vec("fixed32", Fixed32, seq(32), hexSeq(32)),
		vec("fixed64", Fixed64, seq(64), hexSeq(64)),
		vec("fixed(3)", Fixed(3), []byte{9, 8, 7}, "090807"),
		vec("bytes32", Bytes32, [32]byte(seq(32)), hexSeq(32)),
		vec("bytes64", Bytes64, [64]byte(seq(64)), hexSeq(64)),

		// Arrays and frames.
		vec("array nil", UintArray, nil, "00"),
		vec("array uint", UintArray, []uint64{1, 0xfd, 1 << 32}, "0301fdfd00ff0000000001000000"),
		vec("array string", StringArray, []string{"a", "é"}, "02016102c3a9"),
		vec("array buffer", BufferArray, [][]byte{{1}, nil}, "02010100"),
		vec("array array", Array(Array(Int)), [][]int64{{-1}, nil}, "02010100"),
		vec("uint32array", Uint32Array, []uint32{1, math.MaxUint32}, "0201000000ffffffff"),
		vec("frame string", Frame(String), "hi", "03026869"),
		vec("frame array", Frame(UintArray), []uint64{0xfd}, "0401fdfd00"),
		vec("frame empty", Frame(None), struct{}{}, "00"),

		// Net.
		vec("ipv4", IPv4, addr4, "01020304"),
		vec("ipv4 mapped in", IPv4, netip.AddrFrom4([4]byte{1, 2, 3, 4}), "01020304"),
		vec("ipv6", IPv6, addr6, "20010db8000000000000ff0000428329"),
		vec("ipv6 mapped", IPv6, addr4m, "00000000000000000000ffff01020304"),
		vec("ip 4", IP, addr4, "0401020304"),
		vec("ip 6", IP, addr6, "0620010db8000000000000ff0000428329"),
		vec("ip mapped", IP, addr4m, "0600000000000000000000ffff01020304"),
		vec("ipv4Address", IPv4Address, netip.AddrPortFrom(addr4, 258), "010203040201"),
		vec("ipv6Address", IPv6Address, netip.AddrPortFrom(addr6, 0xfffe), "20010db8000000000000ff0000428329feff"),
		vec("ipAddress 4", IPAddress, netip.AddrPortFrom(addr4, 1), "04010203040100"),
		vec("ipAddress 6", IPAddress, netip.AddrPortFrom(addr6, 1), "0620010db8000000000000ff00004283290100"),
		vec("ipv4Address array", IPv4AddressArray,
			[]netip.AddrPort{netip.AddrPortFrom(addr4, 1), netip.AddrPortFrom(addr4, 2)},
			"02010203040100010203040200"),
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

func TestDecodeLenient(t *testing.T) {
	// What JS accepts, Go accepts, with the same result.
	cases := []tcase{
		dec("uint non-minimal fd", Uint, "fd0100", 1),
		dec("uint non-minimal fe", Uint, "fe01000000", 1),
		dec("uint non-minimal ff", Uint, "ff0100000000000000", 1),
		dec("varuint32 from ff", VarUint32, "ffffffffff00000000", math.MaxUint32),
		dec("buffer non-minimal length", Buffer, "fd0100aa", []byte{0xaa}),
		dec("bool 2 is false", Bool, "02", false),
		dec("bool ff is false", Bool, "ff", false),
		dec("trailing ignored", Uint8, "0102", 1),
		dec("raw rest", Raw, "010203", []byte{1, 2, 3}),
		dec("raw empty", Raw, "", []byte(nil)),
		dec("buffer empty is nil", Buffer, "00", []byte(nil)),
		dec("frame skips unread", Frame(Uint), "0305ffff", 5),
		dec("frame inside array", Array(Frame(Uint8)), "02020102020304", []uint8{1, 3}),
		dec("none", None, "", struct{}{}),
		dec("array(raw) of two", Array(Raw), "02616263", [][]byte{[]byte("abc"), nil}),
		dec("array(fixed(0)) of one", Array(Fixed(0)), "01", [][]byte{{}}),
		dec("array(none) of max", Array(None), "fe00001000", make([]struct{}, MaxArrayLen)),
		dec("bitfield(7) long form", Bitfield(7), "fe05060708", 5),
		dec("bitfield(16) short form", Bitfield(16), "05", 5),
		dec("bitfield(16) long form", Bitfield(16), "ff0102030405060708", 0x0807060504030201),
		dec("ipv4 any", IPv4, "00000000", netip.IPv4Unspecified()),
		dec("ipv6 is not unmapped", IPv6, "00000000000000000000ffff7f000001", netip.MustParseAddr("::ffff:127.0.0.1")),
		// Malformed UTF-8 turns into U+FFFD per maximal subpart, as in Node.
		dec("utf8 truncated 3-byte", String, "03e28241", "\uFFFDA"),
		dec("utf8 lone continuation", String, "0280 41", "\uFFFDA"),
		dec("utf8 overlong", String, "02c0af", "\uFFFD\uFFFD"),
		dec("utf8 surrogate", String, "03eda080", "\uFFFD\uFFFD\uFFFD"),
		dec("utf8 above 10ffff", String, "04f4908080", "\uFFFD\uFFFD\uFFFD\uFFFD"),
		dec("utf8 truncated at end", String, "02f09f", "\uFFFD"),
		dec("utf8 f5", String, "01f5", "\uFFFD"),
		dec("utf8 mixed", String, "07 61 f0 9f 98 80 e2 82", "a😀\uFFFD"),
		dec("utf8 e0 lower bound", String, "03e08080", "\uFFFD\uFFFD\uFFFD"),
		dec("utf8 valid e0", String, "03e0a080", "\u0800"),
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

func TestDecodeErrors(t *testing.T) {
	cases := []tcase{
		decErr("uint empty", Uint, "", ErrTruncated),
		decErr("uint fd short", Uint, "fd01", ErrTruncated),
		decErr("uint fe short", Uint, "fe010203", ErrTruncated),
		decErr("uint ff short", Uint, "ff01020304050607", ErrTruncated),
		decErr("varuint32 overflow", VarUint32, "ff0000000001000000", ErrOverflow),
		decErr("uint8 empty", Uint8, "", ErrTruncated),
		decErr("uint40 short", Uint40, "01020304", ErrTruncated),
		decErr("int8 empty", Int8, "", ErrTruncated),
		decErr("int short", Int, "fe01", ErrTruncated),
		decErr("float64 short", Float64, "00000000000000", ErrTruncated),
		decErr("float32 short", Float32, "000000", ErrTruncated),
		decErr("bool empty", Bool, "", ErrTruncated),
		decErr("buffer length beyond input", Buffer, "0301", ErrTruncated),
		decErr("buffer length 2^64-1", Buffer, "ffffffffffffffffff01", ErrTruncated),
		decErr("buffer no length", Buffer, "", ErrTruncated),
		decErr("string length beyond input", String, "05616263", ErrTruncated),
		decErr("string huge length", String, "feffffffff61", ErrTruncated),
		decErr("fixed32 short", Fixed32, hexSeq(31), ErrTruncated),
		decErr("bytes64 short", Bytes64, hexSeq(63), ErrTruncated),
		decErr("array too big", UintArray, "fe01001000", ErrOverflow),
		decErr("array huge count", UintArray, "ffffffffffffffffff", ErrOverflow),
		decErr("array max count, no items", UintArray, "fe00001000", ErrTruncated),
		decErr("array(raw) amplification", Array(Raw), "fe0000100061", ErrOverflow),
		decErr("array(fixed(0)) amplification", Array(Fixed(0)), "02", ErrOverflow),
		decErr("array item short", StringArray, "020161", ErrTruncated),
		decErr("bitfield empty", Bitfield(7), "", ErrTruncated),
		decErr("bitfield short", Bitfield(7), "fd05", ErrTruncated),
		decErr("uint32array short", Uint32Array, "0201000000ffffff", ErrTruncated),
		decErr("uint32array huge", Uint32Array, "ffffffffffffffff7f", ErrTruncated),
		decErr("frame beyond input", Frame(Uint), "0501", ErrTruncated),
		decErr("frame inner short", Frame(Uint16), "0101ff", ErrTruncated),
		decErr("ip family 5", IP, "0501020304", ErrInvalid),
		decErr("ip family 0", IP, "0000000000000000000000000000000000", ErrInvalid),
		decErr("ip empty", IP, "", ErrTruncated),
		decErr("ip 4 short", IP, "04010203", ErrTruncated),
		decErr("ip 6 short", IP, "06"+hexSeq(15), ErrTruncated),
		decErr("ipv4Address no port", IPv4Address, "0102030401", ErrTruncated),
		decErr("ipAddress bad family", IPAddress, "07010203040100", ErrInvalid),
		decErr("ipv6Address short", IPv6Address, hexSeq(16), ErrTruncated),
		decErr("trailing", Uint, "0000", ErrTrailing),
		decErr("trailing after frame", Frame(Uint), "010100", ErrTrailing),
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

func TestEncodeErrors(t *testing.T) {
	cases := []tcase{
		encErr("fixed32 short", Fixed32, seq(31), ErrInvalid),
		encErr("fixed32 long", Fixed32, seq(33), ErrInvalid),
		encErr("fixed32 nil", Fixed32, nil, ErrInvalid),
		encErr("fixed64 in array", Array(Fixed64), [][]byte{seq(64), seq(1)}, ErrInvalid),
		encErr("bitfield(7) overflow", Bitfield(7), 0x80, ErrOverflow),
		encErr("bitfield(8) overflow", Bitfield(8), 0x100, ErrOverflow),
		encErr("uint24 overflow", Uint24, 1<<24, ErrOverflow),
		encErr("uint40 overflow", Uint40, 1<<40, ErrOverflow),
		encErr("uint56 overflow", Uint56, 1<<56, ErrOverflow),
		encErr("int24 overflow", Int24, 1<<23, ErrOverflow),
		encErr("int40 overflow", Int40, -(1<<39)-1, ErrOverflow),
		encErr("ipv4 given ipv6", IPv4, addr6, ErrInvalid),
		encErr("ipv4Address given ipv6", IPv4Address, netip.AddrPortFrom(addr6, 1), ErrInvalid),
		encErr("bad codec", Codec[uint64](liar{}), 1, ErrInvalid),
	}
	for _, c := range cases {
		t.Run(c.name, c.run)
	}
}

// liar announces more bytes than it writes.
type liar struct{}

func (liar) Preencode(s *State, v uint64)    { s.End += 2 }
func (liar) Encode(s *State, v uint64)       { s.Start++ }
func (liar) Decode(s *State) (uint64, error) { return 0, nil }

type pair struct {
	key []byte
	n   uint64
}

type pairCodec struct{}

func (pairCodec) Preencode(s *State, v pair) {
	Fixed32.Preencode(s, v.key)
	Uint.Preencode(s, v.n)
}
func (pairCodec) Encode(s *State, v pair) {
	Fixed32.Encode(s, v.key)
	Uint.Encode(s, v.n)
}
func (pairCodec) Decode(s *State) (v pair, err error) {
	if v.key, err = Fixed32.Decode(s); err != nil {
		return v, err
	}
	v.n, err = Uint.Decode(s)
	return v, err
}

func TestFixedWrongLengthKeepsLayout(t *testing.T) {
	// Preencode counts 32 bytes whatever the value, Encode pads (or
	// truncates) to 32 so the next field stays in place, and the error is
	// recorded rather than lost.
	s := &State{}
	v := pair{seq(3), 7}
	pairCodec{}.Preencode(s, v)
	s.Buf = make([]byte, s.End)
	pairCodec{}.Encode(s, v)
	if !errors.Is(s.Err, ErrInvalid) || s.Start != 33 || s.Buf[32] != 7 || !bytes.Equal(s.Buf[:4], []byte{0, 1, 2, 0}) {
		t.Fatalf("state %+v", s)
	}
	if _, err := EncodeChecked(Codec[pair](pairCodec{}), v); !errors.Is(err, ErrInvalid) {
		t.Fatalf("EncodeChecked: %v", err)
	}
	s = &State{Buf: make([]byte, 33)}
	pairCodec{}.Encode(s, pair{seq(40), 7})
	if !errors.Is(s.Err, ErrInvalid) || s.Start != 33 || s.Buf[32] != 7 || s.Buf[31] != 31 {
		t.Fatalf("long: state %+v", s)
	}
}

func TestZeroAddr(t *testing.T) {
	// As compact-encoding-net: a missing host is localhost.
	if b := Encode(IPv4, netip.Addr{}); !bytes.Equal(b, []byte{127, 0, 0, 1}) {
		t.Fatalf("ipv4 zero = %x", b)
	}
	if b := Encode(IP, netip.Addr{}); !bytes.Equal(b, []byte{4, 127, 0, 0, 1}) {
		t.Fatalf("ip zero = %x", b)
	}
	if b := Encode(IPv6, netip.Addr{}); !bytes.Equal(b, netip.IPv6Loopback().AsSlice()) {
		t.Fatalf("ipv6 zero = %x", b)
	}
	if b := Encode(IPv4Address, netip.AddrPort{}); !bytes.Equal(b, []byte{127, 0, 0, 1, 0, 0}) {
		t.Fatalf("ipv4Address zero = %x", b)
	}
	// Zones are dropped; IPv4 under IPv6 is written mapped.
	if b := Encode(IPv6, netip.MustParseAddr("fe80::1%eth0")); !bytes.Equal(b, netip.MustParseAddr("fe80::1").AsSlice()) {
		t.Fatalf("zone = %x", b)
	}
	if b := Encode(IPv6, addr4); !bytes.Equal(b, addr4m.AsSlice()) {
		t.Fatalf("ipv4 under ipv6 = %x", b)
	}
}

func TestFlags(t *testing.T) {
	f := Flags(0).With(1, true).With(2, false).With(8, true)
	if f != 9 || !f.Has(1) || f.Has(2) || !f.Has(9) || f.Has(3) {
		t.Fatalf("flags %b", f)
	}
}

func TestBufferAliases(t *testing.T) {
	in := []byte{2, 'a', 'b', 'c'}
	b, err := Decode(Buffer, in)
	if err != nil || &b[0] != &in[1] || cap(b) != 2 {
		t.Fatalf("buffer %q cap %d err %v", b, cap(b), err)
	}
	_ = append(b, 'x')
	if in[3] != 'c' {
		t.Fatal("append to a decoded buffer wrote into the input")
	}
}

func TestStateBoundsNeverPanic(t *testing.T) {
	buf := []byte{0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	for start := -2; start <= len(buf)+2; start++ {
		for end := -2; end <= len(buf)+2; end++ {
			for _, c := range fuzzCodecs {
				s := &State{Start: start, End: end, Buf: buf}
				c.decodeState(s)
			}
		}
	}
}

func TestAllocs(t *testing.T) {
	s := &State{}
	buf := make([]byte, 64)
	payload := seq(40)
	frame := Frame(Buffer)
	hugeLen := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}
	hugeCount := []byte{0xfe, 0, 0, 0x10, 0, 1, 2}
	checks := []struct {
		name string
		want float64
		f    func()
	}{
		{"Encode(Uint)", 1, func() { _ = Encode(Uint, 1<<40) }},
		{"Encode(Buffer)", 1, func() { _ = Encode(Buffer, payload) }},
		{"Decode(Uint)", 0, func() { _, _ = Decode(Uint, buf) }},
		{"Decode(Buffer)", 0, func() { _, _ = Decode(Buffer, buf) }},
		{"Uint.Encode", 0, func() { *s = State{Buf: buf}; Uint.Encode(s, 1<<40) }},
		{"Uint64.Decode", 0, func() { *s = State{Buf: buf, End: 64}; _, _ = Uint64.Decode(s) }},
		{"Int.Decode", 0, func() { *s = State{Buf: buf, End: 64}; _, _ = Int.Decode(s) }},
		{"Fixed32.Decode", 0, func() { *s = State{Buf: buf, End: 64}; _, _ = Fixed32.Decode(s) }},
		{"Bytes32.Decode", 0, func() { *s = State{Buf: buf, End: 64}; _, _ = Bytes32.Decode(s) }},
		{"IPv4Address.Decode", 0, func() { *s = State{Buf: buf, End: 64}; _, _ = IPv4Address.Decode(s) }},
		{"Frame.Encode", 0, func() { *s = State{Buf: buf}; frame.Encode(s, payload[:8]) }},
		{"huge buffer length", 0, func() { _, _ = Decode(Buffer, hugeLen) }},
		{"huge array count", 1, func() { _, _ = Decode(UintArray, hugeCount) }},
	}
	for _, c := range checks {
		if got := testing.AllocsPerRun(100, c.f); got > c.want {
			t.Errorf("%s: %v allocations, want <= %v", c.name, got, c.want)
		}
	}
}
