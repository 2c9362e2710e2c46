package compact

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"
)

// Bool is one byte (JS c.bool): true encodes as 1, false as 0. Decoding
// matches JS: byte 1 is true and any other byte is false.
var Bool Codec[bool] = boolCodec{}

// Buffer is a varint length followed by the bytes (JS c.buffer and
// c.optionalBuffer). nil and empty encode as length 0; length 0 decodes as
// nil. A decoded slice aliases the input (capacity clipped to its length,
// so appending to it copies); copy it if the input buffer is reused.
var Buffer Codec[[]byte] = bufferCodec{}

// OptionalBuffer is Buffer under the name protomux and hypercore use.
var OptionalBuffer = Buffer

// Raw is the rest of the input with no length (JS c.raw). Decoding
// consumes everything up to State.End and aliases the input; an empty rest
// decodes as nil.
var Raw Codec[[]byte] = rawCodec{}

// String is UTF-8 with a varint byte length (JS c.string / c.utf8).
var String Codec[string] = stringCodec{}

// None encodes nothing and decodes the zero value (JS c.none).
var None Codec[struct{}] = noneCodec{}

// Fixed-size byte strings (JS c.fixed32, c.fixed64). See Fixed.
var (
	Fixed32 = Fixed(32)
	Fixed64 = Fixed(64)
)

// Array-typed fixed-size byte strings: the same bytes as Fixed32 and
// Fixed64, but a value of the wrong size cannot be built.
var (
	Bytes32 Codec[[32]byte] = bytes32Codec{}
	Bytes64 Codec[[64]byte] = bytes64Codec{}
)

// Convenience arrays.
var (
	StringArray  = Array(String)
	BufferArray  = Array(Buffer)
	UintArray    = Array(Uint)
	Fixed32Array = Array(Fixed32)
)

// Uint32Array is JS c.uint32array: a varint element count followed by that
// many little-endian uint32s. Hypercore's bitfield message uses it.
var Uint32Array Codec[[]uint32] = uint32Array{}

// MaxArrayLen is the largest element count Array decodes, as in JS.
const MaxArrayLen = 0x100000

// Fixed returns a codec for exactly n bytes with no length prefix (JS
// c.fixed(n)). Decoding aliases the input. Encoding a value whose length is
// not n cannot throw as JS does: Preencode still counts n, Encode writes the
// value truncated or zero-padded to n bytes (so the following fields stay in
// place) and records ErrInvalid in State.Err, which makes Encode return nil
// and EncodeChecked return the error.
func Fixed(n int) Codec[[]byte] {
	if n < 0 {
		n = 0
	}
	return fixedCodec{n}
}

// Array returns a codec for a varint count followed by the items (JS
// c.array). Decoding rejects counts above MaxArrayLen with ErrOverflow and
// never preallocates more items than there are bytes left. A count of 0
// decodes as nil.
//
// Items that take no bytes (Raw at the end of the input, Fixed(0)) would let
// a few bytes claim a million-item slice; so, unless T has size zero (None),
// decoding fails with ErrOverflow once such an item brings the item count
// above the number of bytes the array has consumed. No protocol of the
// stack decodes such arrays (hyperdht only encodes array(raw)).
func Array[T any](c Codec[T]) Codec[[]T] {
	return arrayCodec[T]{c, reflect.TypeFor[T]().Size() != 0}
}

// Frame returns a codec that writes the encoding of c prefixed with its
// varint byte length (JS c.frame). Decoding limits c to the frame and skips
// whatever c leaves unread inside it.
func Frame[T any](c Codec[T]) Codec[T] { return frameCodec[T]{c} }

type boolCodec struct{}

func (boolCodec) Preencode(s *State, v bool) { s.End++ }
func (boolCodec) Encode(s *State, v bool) {
	var b byte
	if v {
		b = 1
	}
	s.Buf[s.Start] = b
	s.Start++
}
func (boolCodec) Decode(s *State) (bool, error) {
	if s.Start < 0 || s.Start >= s.End || s.End > len(s.Buf) {
		return false, ErrTruncated
	}
	b := s.Buf[s.Start]
	s.Start++
	return b == 1, nil
}

type bufferCodec struct{}

func (bufferCodec) Preencode(s *State, v []byte) { s.End += UintSize(uint64(len(v))) + len(v) }
func (bufferCodec) Encode(s *State, v []byte) {
	putUint(s, uint64(len(v)))
	s.Start += copy(s.Buf[s.Start:], v)
}
func (bufferCodec) Decode(s *State) ([]byte, error) {
	n, err := readLen(s)
	if err != nil || n == 0 {
		return nil, err
	}
	i := s.Start
	s.Start = i + n
	return s.Buf[i : i+n : i+n], nil
}

type rawCodec struct{}

func (rawCodec) Preencode(s *State, v []byte) { s.End += len(v) }
func (rawCodec) Encode(s *State, v []byte)    { s.Start += copy(s.Buf[s.Start:], v) }
func (rawCodec) Decode(s *State) ([]byte, error) {
	i, end := s.Start, s.End
	if i < 0 || i > end || end > len(s.Buf) {
		return nil, ErrTruncated
	}
	s.Start = end
	if i == end {
		return nil, nil
	}
	return s.Buf[i:end:end], nil
}

type stringCodec struct{}

func (stringCodec) Preencode(s *State, v string) { s.End += UintSize(uint64(len(v))) + len(v) }
func (stringCodec) Encode(s *State, v string) {
	putUint(s, uint64(len(v)))
	s.Start += copy(s.Buf[s.Start:], v)
}
func (stringCodec) Decode(s *State) (string, error) {
	n, err := readLen(s)
	if err != nil || n == 0 {
		return "", err
	}
	b := s.Buf[s.Start : s.Start+n]
	s.Start += n
	return decodeUTF8(b), nil
}

// decodeUTF8 converts b to a string the way the WHATWG UTF-8 decoder (and
// so Node's Buffer.toString) does: each maximal invalid subpart becomes one
// U+FFFD.
func decodeUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	var cp rune
	needed, seen := 0, 0
	lower, upper := byte(0x80), byte(0xbf)
	for i := 0; i < len(b); {
		c := b[i]
		if needed == 0 {
			i++
			switch {
			case c <= 0x7f:
				sb.WriteByte(c)
			case c >= 0xc2 && c <= 0xdf:
				needed, cp = 1, rune(c&0x1f)
			case c >= 0xe0 && c <= 0xef:
				if c == 0xe0 {
					lower = 0xa0
				} else if c == 0xed {
					upper = 0x9f
				}
				needed, cp = 2, rune(c&0x0f)
			case c >= 0xf0 && c <= 0xf4:
				if c == 0xf0 {
					lower = 0x90
				} else if c == 0xf4 {
					upper = 0x8f
				}
				needed, cp = 3, rune(c&0x07)
			default:
				sb.WriteRune(utf8.RuneError)
			}
			continue
		}
		if c < lower || c > upper {
			// Emit one replacement for the subpart and reprocess c.
			cp, needed, seen = 0, 0, 0
			lower, upper = 0x80, 0xbf
			sb.WriteRune(utf8.RuneError)
			continue
		}
		i++
		lower, upper = 0x80, 0xbf
		cp = cp<<6 | rune(c&0x3f)
		seen++
		if seen == needed {
			sb.WriteRune(cp)
			cp, needed, seen = 0, 0, 0
		}
	}
	if needed != 0 {
		sb.WriteRune(utf8.RuneError)
	}
	return sb.String()
}

type noneCodec struct{}

func (noneCodec) Preencode(*State, struct{}) {}
func (noneCodec) Encode(*State, struct{})    {}
func (noneCodec) Decode(*State) (struct{}, error) {
	return struct{}{}, nil
}

type fixedCodec struct{ n int }

func (c fixedCodec) Preencode(s *State, v []byte) { s.End += c.n }
func (c fixedCodec) Encode(s *State, v []byte) {
	dst := s.Buf[s.Start : s.Start+c.n]
	m := copy(dst, v)
	if len(v) != c.n {
		clear(dst[m:])
		s.Fail(fmt.Errorf("%w: fixed(%d) given %d bytes", ErrInvalid, c.n, len(v)))
	}
	s.Start += c.n
}
func (c fixedCodec) Decode(s *State) ([]byte, error) {
	i := s.Start
	if i < 0 || s.End-i < c.n || s.End > len(s.Buf) {
		return nil, ErrTruncated
	}
	s.Start = i + c.n
	return s.Buf[i : i+c.n : i+c.n], nil
}

type bytes32Codec struct{}

func (bytes32Codec) Preencode(s *State, v [32]byte) { s.End += 32 }
func (bytes32Codec) Encode(s *State, v [32]byte)    { s.Start += copy(s.Buf[s.Start:], v[:]) }
func (bytes32Codec) Decode(s *State) (v [32]byte, err error) {
	err = readArray(s, v[:])
	return v, err
}

type bytes64Codec struct{}

func (bytes64Codec) Preencode(s *State, v [64]byte) { s.End += 64 }
func (bytes64Codec) Encode(s *State, v [64]byte)    { s.Start += copy(s.Buf[s.Start:], v[:]) }
func (bytes64Codec) Decode(s *State) (v [64]byte, err error) {
	err = readArray(s, v[:])
	return v, err
}

// readArray fills dst from the input.
func readArray(s *State, dst []byte) error {
	i := s.Start
	if i < 0 || s.End-i < len(dst) || s.End > len(s.Buf) {
		return ErrTruncated
	}
	s.Start = i + copy(dst, s.Buf[i:])
	return nil
}

type arrayCodec[T any] struct {
	c     Codec[T]
	sized bool // T takes memory
}

func (a arrayCodec[T]) Preencode(s *State, v []T) {
	s.End += UintSize(uint64(len(v)))
	for i := range v {
		a.c.Preencode(s, v[i])
	}
}
func (a arrayCodec[T]) Encode(s *State, v []T) {
	putUint(s, uint64(len(v)))
	for i := range v {
		a.c.Encode(s, v[i])
	}
}
func (a arrayCodec[T]) Decode(s *State) ([]T, error) {
	start := s.Start
	n, err := readUint(s)
	if err != nil {
		return nil, err
	}
	if n > MaxArrayLen {
		return nil, ErrOverflow
	}
	if n == 0 {
		return nil, nil
	}
	prealloc := int(n)
	if r := s.End - s.Start; prealloc > r {
		prealloc = r
	}
	out := make([]T, 0, prealloc)
	for range n {
		at := s.Start
		v, err := a.c.Decode(s)
		if err != nil {
			return nil, err
		}
		if s.Start == at && a.sized && len(out) >= s.Start-start {
			return nil, ErrOverflow
		}
		out = append(out, v)
	}
	return out, nil
}

type frameCodec[T any] struct{ c Codec[T] }

func (f frameCodec[T]) Preencode(s *State, v T) {
	end := s.End
	f.c.Preencode(s, v)
	s.End += UintSize(uint64(s.End - end))
}
func (f frameCodec[T]) Encode(s *State, v T) {
	// Measure the inner value with the state itself: Preencode only adds
	// to End, which is restored afterwards.
	end := s.End
	s.End = 0
	f.c.Preencode(s, v)
	n := s.End
	s.End = end
	putUint(s, uint64(n))
	f.c.Encode(s, v)
}
func (f frameCodec[T]) Decode(s *State) (T, error) {
	var zero T
	n, err := readLen(s)
	if err != nil {
		return zero, err
	}
	end := s.End
	s.End = s.Start + n
	v, err := f.c.Decode(s)
	s.Start = s.End
	s.End = end
	if err != nil {
		return zero, err
	}
	return v, nil
}

type uint32Array struct{}

func (uint32Array) Preencode(s *State, v []uint32) { s.End += UintSize(uint64(len(v))) + 4*len(v) }
func (uint32Array) Encode(s *State, v []uint32) {
	putUint(s, uint64(len(v)))
	b := s.Buf[s.Start : s.Start+4*len(v)]
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], x)
	}
	s.Start += 4 * len(v)
}
func (uint32Array) Decode(s *State) ([]uint32, error) {
	n, err := readUint(s)
	if err != nil {
		return nil, err
	}
	if n > uint64(s.End-s.Start)/4 {
		return nil, ErrTruncated
	}
	if n == 0 {
		return nil, nil
	}
	b := s.Buf[s.Start : s.Start+4*int(n)]
	s.Start += len(b)
	out := make([]uint32, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return out, nil
}
