// Package compact implements compact-encoding (npm compact-encoding 3.5.2)
// and compact-encoding-net (1.3.0), the byte layouts used by every
// Hypercore/Hyperswarm wire message.
//
// A [Codec] works in three passes like its JS counterpart: Preencode adds
// the encoded size to State.End, Encode writes at State.Start, Decode reads
// from State.Start up to State.End. [Encode], [Decode] and [DecodeExact] run
// the passes for one top-level value.
//
// # Compatibility notes
//
//   - Varints (Uint, Int, lengths, counts) are accepted in non-minimal form
//     (e.g. 0xfd 0x01 0x00 for 1), as JS accepts them. Encoders always write
//     the minimal form, so bytes re-encoded by Go can differ from such input.
//   - JS numbers are exact only up to 2^53-1: JS c.uint/c.uint64 throw when
//     encoding or decoding a larger value and c.int* accept only
//     -(2^52)..2^52-1. Go encodes and decodes the full 64-bit range; a Go
//     peer must not put larger values on the wire where a JS peer reads them.
//   - Bool decodes byte 1 as true and every other byte as false, exactly as
//     JS does (no error for 2..255).
//   - Buffer decodes length 0 as nil (JS c.buffer gives an empty buffer,
//     c.optionalBuffer gives null; Go does not distinguish the two).
//   - String decoding replaces malformed UTF-8 with U+FFFD the way the
//     WHATWG decoder used by Node does, so Go sees the same string a JS peer
//     sees. Encoding writes the bytes of a Go string as they are.
//   - Array rejects counts above 0x100000 like JS ("Array is too big").
//   - Floats are written bit for bit: JS writes every NaN as the canonical
//     quiet NaN (0x7ff8000000000000), Go writes the NaN it is given
//     (math.NaN() is 0x7ff8000000000001).
//   - The net codecs (IPv4, IP, IPv4Address, ...) document their own
//     differences: no host names, zones dropped, family bytes other than 4
//     and 6 rejected.
//
// Implemented are the codecs the wire formats of protomux, hypercore,
// dht-rpc, hyperdht and blind-relay use, plus the other numeric ones. Not
// implemented: any, json, ndjson, date, bigint/biguint, lexint, the string
// encodings other than UTF-8, typed arrays other than uint32array,
// arraybuffer, bitarray, record and from.
//
// Decoders never panic and never allocate more than the input can justify.
// A decoder that fails leaves State.Start at an unspecified position.
//
// Encoders cannot return errors (the JS shape has none). Values a codec
// cannot encode (a Fixed buffer of the wrong length, a Uint24 above 2^24-1,
// an IPv6 address given to IPv4, ...) are recorded in State.Err; the bytes
// written keep the layout Preencode announced, so nothing beyond the value
// is corrupted. [Encode] returns nil when State.Err is set and
// [EncodeChecked] returns the error.
package compact

import (
	"errors"
	"fmt"
	"sync"
)

// State is a cursor over Buf: during preencode End accumulates the size;
// during encode Start is the write position; during decode Start is the read
// position and End the end of input.
type State struct {
	Start int
	End   int
	Buf   []byte
	// Err is the first encoding error recorded by a codec that was handed a
	// value it cannot represent (see Fail). Decoders return errors instead.
	Err error
}

// Fail records err as the state's encoding error unless one is recorded
// already.
func (s *State) Fail(err error) {
	if s.Err == nil {
		s.Err = err
	}
}

// Remaining is the number of unread bytes during decode.
func (s *State) Remaining() int { return s.End - s.Start }

// Codec encodes and decodes values of type T, in the three passes of
// compact-encoding: size (Preencode), write (Encode), read (Decode).
type Codec[T any] interface {
	Preencode(s *State, v T)
	Encode(s *State, v T)
	Decode(s *State) (T, error)
}

var (
	// ErrTruncated means the input ended early (JS "Out of bounds").
	ErrTruncated = errors.New("compact: out of bounds")
	// ErrOverflow means a value does not fit its target (a varint bigger
	// than the field, an array count above the limit, ...).
	ErrOverflow = errors.New("compact: value out of range")
	// ErrInvalid means otherwise malformed input or an unencodable value.
	ErrInvalid = errors.New("compact: invalid value")
	// ErrTrailing means DecodeExact found bytes after the value.
	ErrTrailing = errors.New("compact: trailing bytes")
)

var statePool = sync.Pool{New: func() any { return new(State) }}

// Encode preencodes v, allocates the output once and encodes into it. It
// returns nil if a codec recorded an encoding error (see EncodeChecked).
func Encode[T any](c Codec[T], v T) []byte {
	b, err := EncodeChecked(c, v)
	if err != nil {
		return nil
	}
	return b
}

// EncodeChecked is Encode that reports the encoding error a codec recorded
// in State.Err (for example ErrInvalid for a Fixed32 value of 31 bytes).
func EncodeChecked[T any](c Codec[T], v T) ([]byte, error) {
	s := statePool.Get().(*State)
	*s = State{}
	c.Preencode(s, v)
	n := s.End
	if n < 0 {
		n = 0
	}
	s.Buf = make([]byte, n)
	s.End = n
	c.Encode(s, v)
	b, start, err := s.Buf, s.Start, s.Err
	*s = State{}
	statePool.Put(s)
	if err == nil && start != n {
		err = fmt.Errorf("%w: codec wrote %d bytes after preencoding %d", ErrInvalid, start, n)
	}
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Decode decodes one value from the start of b. Like JS c.decode, bytes
// after the value are ignored. Values of Buffer, Raw and Fixed alias b.
func Decode[T any](c Codec[T], b []byte) (T, error) {
	s := statePool.Get().(*State)
	*s = State{End: len(b), Buf: b}
	v, err := c.Decode(s)
	*s = State{}
	statePool.Put(s)
	return v, err
}

// DecodeExact is Decode that fails with ErrTrailing if bytes remain after
// the value.
func DecodeExact[T any](c Codec[T], b []byte) (T, error) {
	s := statePool.Get().(*State)
	*s = State{End: len(b), Buf: b}
	v, err := c.Decode(s)
	if err == nil && s.Start != s.End {
		err = ErrTrailing
	}
	*s = State{}
	statePool.Put(s)
	if err != nil {
		var zero T
		return zero, err
	}
	return v, nil
}
