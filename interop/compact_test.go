package interop

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/warrenp2p/warren/compact"
)

// jsReq and jsRes are the protocol of js/compact.js.
type jsReq struct {
	Codec string          `json:"codec"`
	Value json.RawMessage `json:"value,omitempty"`
	Hex   *string         `json:"hex,omitempty"`
}

type jsRes struct {
	Hex   *string         `json:"hex"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
}

// conv converts values of one Go type to and from the JSON form compact.js
// uses for the codec.
type conv[T any] struct {
	to   func(T) any
	from func(json.RawMessage) (T, error)
}

// ivec is one interop vector: Go and JS must produce identical bytes for
// the value and decode each other's bytes to it.
type ivec struct {
	codec    string
	goEnc    func() ([]byte, error)
	jsValue  any
	checkJS  func(json.RawMessage) error // JS decoded the Go bytes to this
	checkGo  func([]byte) error          // Go decoding of JS bytes
	goToJS   bool                        // only Go→JS (JS cannot encode the value)
	jsErrMsg string                      // Go→JS: JS is expected to reject with this
}

func vec[T any](codec string, c compact.Codec[T], cv conv[T], v T, want ...T) ivec {
	w := v
	if len(want) > 0 {
		w = want[0]
	}
	return ivec{
		codec:   codec,
		goEnc:   func() ([]byte, error) { return compact.EncodeChecked(c, v) },
		jsValue: cv.to(v),
		checkJS: func(raw json.RawMessage) error {
			got, err := cv.from(raw)
			if err != nil {
				return fmt.Errorf("JS value %s: %v", raw, err)
			}
			if !same(got, w) {
				return fmt.Errorf("JS decoded %s (%#v), want %#v", raw, got, w)
			}
			return nil
		},
		checkGo: func(b []byte) error {
			got, err := compact.DecodeExact(c, b)
			if err != nil {
				return fmt.Errorf("Go decode of JS bytes %x: %v", b, err)
			}
			if !same(got, w) {
				return fmt.Errorf("Go decoded JS bytes %x as %#v, want %#v", b, got, w)
			}
			return nil
		},
	}
}

func same(a, b any) bool {
	switch x := a.(type) {
	case float32:
		y := b.(float32)
		return x == y && math.Signbit(float64(x)) == math.Signbit(float64(y)) || x != x && y != y
	case float64:
		y := b.(float64)
		return x == y && math.Signbit(x) == math.Signbit(y) || x != x && y != y
	case []byte:
		return bytes.Equal(x, b.([]byte))
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

func unmarshal[T any](raw json.RawMessage) (T, error) {
	var v T
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	err := d.Decode(&v)
	return v, err
}

var (
	cUint = conv[uint64]{
		to: func(v uint64) any { return json.Number(strconv.FormatUint(v, 10)) },
		from: func(r json.RawMessage) (uint64, error) {
			n, err := unmarshal[json.Number](r)
			if err != nil {
				return 0, err
			}
			return strconv.ParseUint(n.String(), 10, 64)
		},
	}
	cInt = conv[int64]{
		to: func(v int64) any { return json.Number(strconv.FormatInt(v, 10)) },
		from: func(r json.RawMessage) (int64, error) {
			n, err := unmarshal[json.Number](r)
			if err != nil {
				return 0, err
			}
			return strconv.ParseInt(n.String(), 10, 64)
		},
	}
	cFloat64 = conv[float64]{
		to: func(f float64) any {
			switch {
			case math.IsNaN(f):
				return "NaN"
			case math.IsInf(f, 1):
				return "Infinity"
			case math.IsInf(f, -1):
				return "-Infinity"
			case f == 0 && math.Signbit(f):
				return "-0"
			}
			return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
		},
		from: func(r json.RawMessage) (float64, error) {
			v, err := unmarshal[any](r)
			if err != nil {
				return 0, err
			}
			switch x := v.(type) {
			case string:
				switch x {
				case "NaN":
					return math.NaN(), nil
				case "Infinity":
					return math.Inf(1), nil
				case "-Infinity":
					return math.Inf(-1), nil
				case "-0":
					return math.Copysign(0, -1), nil
				}
			case json.Number:
				return strconv.ParseFloat(x.String(), 64)
			}
			return 0, fmt.Errorf("not a float: %s", r)
		},
	}
	cFloat32 = conv[float32]{
		to: func(f float32) any { return cFloat64.to(float64(f)) },
		from: func(r json.RawMessage) (float32, error) {
			f, err := cFloat64.from(r)
			if err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) && float64(float32(f)) != f {
				err = fmt.Errorf("%v is not a float32", f)
			}
			return float32(f), err
		},
	}
	cBool   = conv[bool]{to: func(v bool) any { return v }, from: unmarshal[bool]}
	cString = conv[string]{to: func(v string) any { return v }, from: unmarshal[string]}
	cBytes  = conv[[]byte]{
		to: func(v []byte) any {
			if v == nil {
				return nil
			}
			return hex.EncodeToString(v)
		},
		from: func(r json.RawMessage) ([]byte, error) {
			s, err := unmarshal[*string](r)
			if err != nil || s == nil {
				return nil, err
			}
			return hex.DecodeString(*s)
		},
	}
	cNone = conv[struct{}]{
		to: func(struct{}) any { return nil },
		from: func(r json.RawMessage) (struct{}, error) {
			if string(r) != "null" {
				return struct{}{}, fmt.Errorf("want null, got %s", r)
			}
			return struct{}{}, nil
		},
	}
	cUint32s = conv[[]uint32]{
		to: func(v []uint32) any {
			if v == nil {
				return []uint32{}
			}
			return v
		},
		from: func(r json.RawMessage) ([]uint32, error) {
			v, err := unmarshal[[]uint32](r)
			if len(v) == 0 {
				v = nil
			}
			return v, err
		},
	}
	cBitfield = conv[uint64]{
		to: func(v uint64) any { return json.Number(strconv.FormatUint(v, 10)) },
		from: func(r json.RawMessage) (uint64, error) {
			b, err := cBytes.from(r)
			if len(b) > 8 {
				return 0, fmt.Errorf("bitfield of %d bytes", len(b))
			}
			var v uint64
			for i := len(b) - 1; i >= 0; i-- {
				v = v<<8 | uint64(b[i])
			}
			return v, err
		},
	}
	cAddr4 = conv[netip.Addr]{to: func(a netip.Addr) any { return a.Unmap().String() }, from: parseAddr}
	cAddr6 = conv[netip.Addr]{to: jsIPv6, from: parseAddr}
	cAddr  = conv[netip.Addr]{
		to: func(a netip.Addr) any {
			if a.Is4() {
				return a.String()
			}
			return jsIPv6(a)
		},
		from: parseAddr,
	}
)

// jsIPv6 formats an address as eight hex groups: compact-encoding's IPv6
// parser understands "::" but not embedded dotted IPv4.
func jsIPv6(a netip.Addr) any {
	b := a.As16()
	g := make([]string, 8)
	for i := range g {
		g[i] = strconv.FormatUint(uint64(b[2*i])<<8|uint64(b[2*i+1]), 16)
	}
	return strings.Join(g, ":")
}

func parseAddr(r json.RawMessage) (netip.Addr, error) {
	s, err := unmarshal[string](r)
	if err != nil {
		return netip.Addr{}, err
	}
	return netip.ParseAddr(s)
}

func addrPort(host conv[netip.Addr]) conv[netip.AddrPort] {
	return conv[netip.AddrPort]{
		to: func(a netip.AddrPort) any {
			return map[string]any{"host": host.to(a.Addr()), "port": a.Port()}
		},
		from: func(r json.RawMessage) (netip.AddrPort, error) {
			var m struct {
				Host   json.RawMessage
				Port   uint16
				Family int
			}
			if err := json.Unmarshal(r, &m); err != nil {
				return netip.AddrPort{}, err
			}
			a, err := host.from(m.Host)
			if err == nil && (a.Is4() && m.Family != 4 || !a.Is4() && m.Family != 6) {
				err = fmt.Errorf("family %d for %v", m.Family, a)
			}
			return netip.AddrPortFrom(a, m.Port), err
		},
	}
}

func array[T any](c conv[T]) conv[[]T] {
	return conv[[]T]{
		to: func(v []T) any {
			out := make([]any, len(v))
			for i := range v {
				out[i] = c.to(v[i])
			}
			return out
		},
		from: func(r json.RawMessage) ([]T, error) {
			raws, err := unmarshal[[]json.RawMessage](r)
			if err != nil || len(raws) == 0 {
				return nil, err
			}
			out := make([]T, len(raws))
			for i := range raws {
				if out[i], err = c.from(raws[i]); err != nil {
					return nil, err
				}
			}
			return out, nil
		},
	}
}

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func interopVectors() []ivec {
	var vs []ivec
	for _, n := range []uint64{0, 1, 0xfc, 0xfd, 0xfe, 0xff, 0x100, 0xffff, 0x10000, 1<<32 - 1, 1 << 32, 1<<53 - 1} {
		vs = append(vs, vec("uint", compact.Uint, cUint, n))
	}
	for _, n := range []uint64{0, 0xfd, 1<<32 - 1} {
		vs = append(vs, vec("uint", compact.Uint, cUint, n))
	}
	// Beyond 2^53-1 JS numbers are not exact and c.uint refuses them.
	for _, n := range []uint64{1 << 53, math.MaxUint64} {
		v := vec("uint", compact.Uint, cUint, n)
		v.goToJS, v.jsErrMsg = true, "uint must be between 0 and 9007199254740991"
		vs = append(vs, v)
	}
	vs = append(vs,
		vec("uint8", compact.Uint8, conv[uint8]{to: func(v uint8) any { return v }, from: unmarshal[uint8]}, 0),
		vec("uint8", compact.Uint8, conv[uint8]{to: func(v uint8) any { return v }, from: unmarshal[uint8]}, 255),
		vec("uint16", compact.Uint16, conv[uint16]{to: func(v uint16) any { return v }, from: unmarshal[uint16]}, 0xfffe),
		vec("port", compact.Port, conv[uint16]{to: func(v uint16) any { return v }, from: unmarshal[uint16]}, 49737),
	)
	u32 := conv[uint32]{to: func(v uint32) any { return v }, from: unmarshal[uint32]}
	vs = append(vs,
		vec("uint24", compact.Uint24, u32, 0xfffffe),
		vec("uint32", compact.Uint32, u32, 0xfffffffe),
		vec("uint32", compact.Uint32, u32, 1),
	)
	for _, c := range []struct {
		name string
		c    compact.Codec[uint64]
		v    uint64
	}{
		{"uint40", compact.Uint40, 1<<40 - 2}, {"uint48", compact.Uint48, 1234567890123},
		{"uint56", compact.Uint56, 1<<53 - 1}, {"uint64", compact.Uint64, 1<<53 - 1}, {"uint64", compact.Uint64, 0x0102030405},
	} {
		vs = append(vs, vec(c.name, c.c, cUint, c.v))
	}
	for _, n := range []int64{0, -1, 1, -126, 126, -127, -300, 300, math.MinInt32, math.MaxInt32, 1<<52 - 1, -(1 << 52)} {
		vs = append(vs, vec("int", compact.Int, cInt, n))
	}
	i8 := conv[int8]{to: func(v int8) any { return v }, from: unmarshal[int8]}
	i16 := conv[int16]{to: func(v int16) any { return v }, from: unmarshal[int16]}
	i32 := conv[int32]{to: func(v int32) any { return v }, from: unmarshal[int32]}
	vs = append(vs,
		vec("int8", compact.Int8, i8, -128), vec("int8", compact.Int8, i8, 127), vec("int8", compact.Int8, i8, -1),
		vec("int16", compact.Int16, i16, math.MinInt16), vec("int16", compact.Int16, i16, math.MaxInt16),
		vec("int24", compact.Int24, i32, -(1<<23)), vec("int24", compact.Int24, i32, 1<<23-1),
		vec("int32", compact.Int32, i32, math.MinInt32), vec("int32", compact.Int32, i32, math.MaxInt32),
		vec("int40", compact.Int40, cInt, -(1<<39)), vec("int48", compact.Int48, cInt, 1<<47-1),
		vec("int56", compact.Int56, cInt, -12345678901234), vec("int64", compact.Int64, cInt, -(1<<52)),
		vec("int64", compact.Int64, cInt, 1<<52-1),
	)
	// NaN: JS writes the canonical quiet NaN; Go writes whatever bits it is
	// given (math.NaN() is not canonical), so the vectors use canonical ones.
	nan64 := math.Float64frombits(0x7ff8000000000000)
	nan32 := math.Float32frombits(0x7fc00000)
	for _, f := range []float64{0, math.Copysign(0, -1), 1.5, 0.1, -math.Pi, math.MaxFloat64, math.SmallestNonzeroFloat64, math.Inf(1), math.Inf(-1), nan64, 1 << 60} {
		vs = append(vs, vec("float64", compact.Float64, cFloat64, f))
	}
	for _, f := range []float32{0, float32(math.Copysign(0, -1)), 0.1, -2.5, math.MaxFloat32, math.SmallestNonzeroFloat32, float32(math.Inf(1)), nan32} {
		vs = append(vs, vec("float32", compact.Float32, cFloat32, f))
	}
	vs = append(vs, vec("bool", compact.Bool, cBool, true), vec("bool", compact.Bool, cBool, false))

	// JS c.buffer cannot encode null and decodes length 0 as an empty
	// buffer; c.optionalBuffer encodes null and decodes length 0 as null.
	// Go does not tell nil from empty.
	for _, b := range [][]byte{{}, {0}, seq(3), seq(252), seq(253), seq(0xffff), seq(0x10000)} {
		vs = append(vs, vec("buffer", compact.Buffer, cBytes, b))
	}
	vs = append(vs,
		vec("optionalBuffer", compact.OptionalBuffer, cBytes, nil),
		vec("optionalBuffer", compact.OptionalBuffer, cBytes, seq(5)),
		vec("raw", compact.Raw, cBytes, seq(40)),
		vec("raw", compact.Raw, cBytes, []byte{}),
		vec("fixed32", compact.Fixed32, cBytes, seq(32)),
		vec("fixed64", compact.Fixed64, cBytes, seq(64)),
		vec("fixed(3)", compact.Fixed(3), cBytes, seq(3)),
	)
	for _, s := range []string{"", "hello", "é", "😀", "日本語テキスト", "\x00nul\x00", "\u2028\ufeff", strings.Repeat("ab€", 100), strings.Repeat("x", 0x10000)} {
		vs = append(vs, vec("string", compact.String, cString, s))
	}
	vs = append(vs,
		vec("none", compact.None, cNone, struct{}{}),
		vec("array(uint)", compact.UintArray, array(cUint), nil),
		vec("array(uint)", compact.UintArray, array(cUint), []uint64{0, 0xfd, 1 << 32, 1<<53 - 1}),
		vec("array(string)", compact.StringArray, array(cString), []string{"a", "", "ü"}),
		vec("array(buffer)", compact.BufferArray, array(cBytes), [][]byte{seq(2), {}}),
		vec("array(fixed32)", compact.Fixed32Array, array(cBytes), [][]byte{seq(32), seq(32)}),
		vec("array(array(int))", compact.Array(compact.Array(compact.Int)), array(array(cInt)), [][]int64{{-1, 1}, nil, {0}}),
		vec("uint32array", compact.Uint32Array, cUint32s, []uint32{1, 0, math.MaxUint32}),
		vec("uint32array", compact.Uint32Array, cUint32s, nil),
		vec("frame(string)", compact.Frame(compact.String), cString, "framed"),
		vec("frame(array(uint))", compact.Frame(compact.UintArray), array(cUint), []uint64{1, 0x10000}),
		vec("frame(buffer)", compact.Frame(compact.Buffer), cBytes, seq(300)),
	)

	a4 := netip.MustParseAddr("192.168.1.254")
	a6 := netip.MustParseAddr("2001:db8::ff00:42:8329")
	m6 := netip.MustParseAddr("::ffff:10.0.0.1")
	ll := netip.MustParseAddr("fe80::1")
	for _, p := range []string{"", "net."} {
		vs = append(vs,
			vec(p+"ipv4", compact.IPv4, cAddr4, a4),
			vec(p+"ipv4", compact.IPv4, cAddr4, netip.IPv4Unspecified()),
			vec(p+"ipv4", compact.IPv4, cAddr4, m6, netip.MustParseAddr("10.0.0.1")),
			vec(p+"ipv6", compact.IPv6, cAddr6, a6),
			vec(p+"ipv6", compact.IPv6, cAddr6, ll),
			vec(p+"ipv6", compact.IPv6, cAddr6, netip.IPv6Unspecified()),
			vec(p+"ipv6", compact.IPv6, cAddr6, m6),
			vec(p+"ipv6", compact.IPv6, cAddr6, a4, netip.AddrFrom16(a4.As16())),
			vec(p+"ip", compact.IP, cAddr, a4),
			vec(p+"ip", compact.IP, cAddr, a6),
			vec(p+"ip", compact.IP, cAddr, m6),
			vec(p+"ipv4Address", compact.IPv4Address, addrPort(cAddr4), netip.AddrPortFrom(a4, 49737)),
			vec(p+"ipv4Address", compact.IPv4Address, addrPort(cAddr4), netip.AddrPortFrom(a4, 0)),
			vec(p+"ipv6Address", compact.IPv6Address, addrPort(cAddr6), netip.AddrPortFrom(a6, 65535)),
			vec(p+"ipAddress", compact.IPAddress, addrPort(cAddr), netip.AddrPortFrom(a4, 1)),
			vec(p+"ipAddress", compact.IPAddress, addrPort(cAddr), netip.AddrPortFrom(ll, 0x1234)),
		)
	}
	// compact-encoding-bitfield (blind-relay): JS decodes to bytes, least
	// significant first.
	for _, c := range []struct {
		n int
		v uint64
	}{{7, 0}, {7, 5}, {7, 0x7f}, {8, 0xff}, {9, 0x1ff}, {16, 0x0102}, {17, 1}, {32, 0xffffffff}, {33, 1 << 32}, {64, 1<<53 - 1}} {
		vs = append(vs, vec(fmt.Sprintf("bitfield(%d)", c.n), compact.Bitfield(c.n), cBitfield, c.v))
	}
	// compact-encoding-net fills in localhost for a missing host; Go's
	// zero netip.Addr is that missing host.
	zero4 := vec("net.ipv4", compact.IPv4, cAddr4, netip.Addr{}, netip.MustParseAddr("127.0.0.1"))
	zero4.jsValue = ""
	zeroIP := vec("net.ip", compact.IP, cAddr, netip.Addr{}, netip.MustParseAddr("127.0.0.1"))
	zeroIP.jsValue = ""
	zero6 := vec("net.ipv6", compact.IPv6, cAddr6, netip.Addr{}, netip.IPv6Loopback())
	zero6.jsValue = ""
	vs = append(vs, zero4, zeroIP, zero6,
		vec("array(ipv4Address)", compact.IPv4AddressArray, array(addrPort(cAddr4)),
			[]netip.AddrPort{netip.AddrPortFrom(a4, 1), netip.MustParseAddrPort("8.8.8.8:53")}),
	)
	return vs
}

// TestInteropCompact: Go encodes every vector and JS decodes it to the same
// value; JS encodes the same values, the bytes must be identical, and Go
// decodes them back.
func TestInteropCompact(t *testing.T) {
	env := Require(t)
	vs := interopVectors()
	var reqs []jsReq
	goBytes := make([][]byte, len(vs))
	for i, v := range vs {
		b, err := v.goEnc()
		if err != nil {
			t.Fatalf("%s %v: Go encode: %v", v.codec, v.jsValue, err)
		}
		goBytes[i] = b
		h := hex.EncodeToString(b)
		jv, err := json.Marshal(v.jsValue)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, jsReq{Codec: v.codec, Hex: &h}, jsReq{Codec: v.codec, Value: jv})
	}
	res := runCompactJS(t, env, reqs)
	checked := 0
	for i, v := range vs {
		name := fmt.Sprintf("%s %.60v", v.codec, v.jsValue)
		dec, enc := res[2*i], res[2*i+1]
		if v.jsErrMsg != "" {
			if !strings.Contains(dec.Error, v.jsErrMsg) {
				t.Errorf("%s: JS decode of %x: want error %q, got %+v", name, goBytes[i], v.jsErrMsg, dec)
			}
		} else if dec.Error != "" {
			t.Errorf("%s: JS decode of Go bytes %x: %s", name, goBytes[i], dec.Error)
		} else if err := v.checkJS(dec.Value); err != nil {
			t.Errorf("%s: Go→JS: %v", name, err)
		}
		if v.goToJS {
			continue
		}
		if enc.Error != "" || enc.Hex == nil {
			t.Errorf("%s: JS encode: %s", name, enc.Error)
			continue
		}
		jb, _ := hex.DecodeString(*enc.Hex)
		if !bytes.Equal(jb, goBytes[i]) {
			t.Errorf("%s: JS encodes %x, Go %x", name, jb, goBytes[i])
			continue
		}
		if err := v.checkGo(jb); err != nil {
			t.Errorf("%s: JS→Go: %v", name, err)
		}
		checked++
	}
	t.Logf("%d vectors, %d byte-identical in both directions", len(vs), checked)
}

// TestInteropCompactDecode feeds the same odd or malformed bytes to both
// decoders: they must agree on failure and on the value, except where the
// Go package documents a deliberate difference.
func TestInteropCompactDecode(t *testing.T) {
	env := Require(t)
	type dcase struct {
		codec string
		hex   string
		goDec func([]byte) (any, error)
		// diverge documents a known difference; JS's result is then
		// checked to be jsWant (an error substring or value JSON).
		diverge string
		jsWant  string
	}
	u := func(b []byte) (any, error) { return compact.Decode(compact.Uint, b) }
	str := func(b []byte) (any, error) { return compact.Decode(compact.String, b) }
	// bf decodes like compact-encoding-bitfield, printed as JS's bytes.
	bf := func(n int) func([]byte) (any, error) {
		return func(b []byte) (any, error) {
			v, err := compact.Decode(compact.Bitfield(n), b)
			if err != nil {
				return nil, err
			}
			w := 1
			switch {
			case n <= 8:
			case len(b) > 0 && b[0] == 0xfd:
				w = 2
			case len(b) > 0 && b[0] == 0xfe:
				w = 4
			case len(b) > 0 && b[0] == 0xff:
				w = 8
			}
			out := make([]byte, w)
			for i := range out {
				out[i] = byte(v >> (8 * i))
			}
			return out, nil
		}
	}
	cases := []dcase{
		{codec: "uint", hex: "fd0100", goDec: u},
		{codec: "uint", hex: "fe01000000", goDec: u},
		{codec: "uint", hex: "ff0100000000000000", goDec: u},
		{codec: "uint", hex: "fd01", goDec: u},
		{codec: "uint", hex: "", goDec: u},
		{codec: "uint", hex: "ff0000000000002000", goDec: u, diverge: "JS numbers stop at 2^53-1", jsWant: "uint must be between"},
		{codec: "bool", hex: "02", goDec: func(b []byte) (any, error) { return compact.Decode(compact.Bool, b) }},
		{codec: "bool", hex: "", goDec: func(b []byte) (any, error) { return compact.Decode(compact.Bool, b) }},
		{codec: "buffer", hex: "0301", goDec: func(b []byte) (any, error) { return compact.Decode(compact.Buffer, b) }},
		{codec: "buffer", hex: "ffffffffffffffff0001", goDec: func(b []byte) (any, error) { return compact.Decode(compact.Buffer, b) }},
		{codec: "string", hex: "03e28241", goDec: str},
		{codec: "string", hex: "0280 41", goDec: str},
		{codec: "string", hex: "02c0af", goDec: str},
		{codec: "string", hex: "03eda080", goDec: str},
		{codec: "string", hex: "04f4908080", goDec: str},
		{codec: "string", hex: "02f09f", goDec: str},
		{codec: "string", hex: "01ff", goDec: str},
		{codec: "string", hex: "07 61 f0 9f 98 80 e2 82", goDec: str},
		{codec: "string", hex: "0ce0a080 efbfbd f0908080 e0 9f", goDec: str},
		{codec: "string", hex: "05 f1 80 80 e1 80", goDec: str},
		{codec: "string", hex: "0561626364", goDec: str},
		{codec: "array(uint)", hex: "fe01001000", goDec: func(b []byte) (any, error) { return compact.Decode(compact.UintArray, b) }},
		{codec: "array(uint)", hex: "fe00001000", goDec: func(b []byte) (any, error) { return compact.Decode(compact.UintArray, b) }},
		{codec: "frame(uint)", hex: "0305ffff", goDec: func(b []byte) (any, error) { return compact.Decode(compact.Frame(compact.Uint), b) }},
		{codec: "frame(uint)", hex: "0501", goDec: func(b []byte) (any, error) { return compact.Decode(compact.Frame(compact.Uint), b) }},
		{codec: "fixed32", hex: "0102", goDec: func(b []byte) (any, error) { return compact.Decode(compact.Fixed32, b) }},
		{codec: "ip", hex: "0501020304", goDec: func(b []byte) (any, error) { return compact.Decode(compact.IP, b) }},
		{codec: "ip", hex: "00000000000000000000000000000000ff", goDec: func(b []byte) (any, error) { return compact.Decode(compact.IP, b) },
			diverge: "JS reads any family but 4 as IPv6", jsWant: `"0:0:0:0:0:0:0:ff"`},
		{codec: "bitfield(7)", hex: "fd0501", goDec: bf(7)},
		{codec: "bitfield(7)", hex: "ff0102030405060708", goDec: bf(7)},
		{codec: "bitfield(7)", hex: "", goDec: bf(7)},
		{codec: "bitfield(7)", hex: "fd05", goDec: bf(7)},
		{codec: "bitfield(16)", hex: "05", goDec: bf(16)},
		{codec: "bitfield(16)", hex: "fe01020304", goDec: bf(16)},
		{codec: "uint32array", hex: "0201000000ffffff", goDec: func(b []byte) (any, error) { return compact.Decode(compact.Uint32Array, b) }},
	}
	var reqs []jsReq
	for _, c := range cases {
		h := strings.ReplaceAll(c.hex, " ", "")
		reqs = append(reqs, jsReq{Codec: c.codec, Hex: &h})
	}
	res := runCompactJS(t, env, reqs)
	for i, c := range cases {
		b, _ := hex.DecodeString(*reqs[i].Hex)
		gv, gerr := c.goDec(b)
		r := res[i]
		if c.diverge != "" {
			if !strings.Contains(r.Error, c.jsWant) && string(r.Value) != c.jsWant {
				t.Errorf("%s %s: known difference (%s) changed: JS gave %+v", c.codec, c.hex, c.diverge, r)
			}
			continue
		}
		if (gerr != nil) != (r.Error != "") {
			t.Errorf("%s %s: Go (%v, %v) and JS (%s, %s) disagree on failure", c.codec, c.hex, gv, gerr, r.Value, r.Error)
			continue
		}
		if gerr != nil {
			continue
		}
		if s, ok := gv.(string); ok && !utf8.ValidString(s) {
			t.Errorf("%s %s: Go decoded invalid UTF-8 %q", c.codec, c.hex, s)
			continue
		}
		want, err := json.Marshal(jsonOf(gv))
		if err != nil {
			t.Fatal(err)
		}
		var jv any
		_ = json.Unmarshal(r.Value, &jv)
		norm, _ := json.Marshal(jv)
		if !bytes.Equal(want, norm) {
			t.Errorf("%s %s: Go decoded %s, JS %s", c.codec, c.hex, want, norm)
		}
	}
}

// jsonOf renders a Go-decoded value the way compact.js prints it.
func jsonOf(v any) any {
	switch x := v.(type) {
	case []byte:
		return hex.EncodeToString(x)
	case []uint64:
		if x == nil {
			return []uint64{}
		}
	case netip.Addr:
		return jsIPv6(x)
	}
	return v
}

func runCompactJS(t *testing.T, env *Env, reqs []jsReq) []jsRes {
	t.Helper()
	in, err := json.Marshal(reqs)
	if err != nil {
		t.Fatal(err)
	}
	out := env.Run(t, in, "compact.js")
	var res []jsRes
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("compact.js output: %v\n%.500s", err, out)
	}
	if len(res) != len(reqs) {
		t.Fatalf("compact.js returned %d results for %d requests", len(res), len(reqs))
	}
	return res
}
