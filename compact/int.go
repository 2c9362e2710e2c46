package compact

import (
	"encoding/binary"
	"math"
)

// Uint is the compact varint (JS c.uint): values up to 0xfc take one byte;
// larger ones a prefix byte 0xfd, 0xfe or 0xff followed by a little-endian
// uint16, uint32 or uint64. Non-minimal forms are accepted when decoding.
var Uint Codec[uint64] = uintCodec{}

// VarUint32 is Uint limited to 32 bits: decoding a larger value fails with
// ErrOverflow. The wire form is identical to Uint.
var VarUint32 Codec[uint32] = varUint32Codec{}

// Fixed-width little-endian unsigned integers (JS c.uint8 ... c.uint64).
// Encoding a value too big for the width records ErrOverflow in State.Err
// and writes its low bytes.
var (
	Uint8  Codec[uint8]  = uintN[uint8]{1}
	Uint16 Codec[uint16] = uintN[uint16]{2}
	Uint24 Codec[uint32] = uintN[uint32]{3}
	Uint32 Codec[uint32] = uintN[uint32]{4}
	Uint40 Codec[uint64] = uintN[uint64]{5}
	Uint48 Codec[uint64] = uintN[uint64]{6}
	Uint56 Codec[uint64] = uintN[uint64]{7}
	Uint64 Codec[uint64] = uintN[uint64]{8}
)

// Port is a uint16 in little-endian order (JS c.port), as used after the
// host of every address codec.
var Port = Uint16

// Int is the zig-zag varint (JS c.int): 0, -1, 1, -2, ... map to 0, 1, 2,
// 3, ... and are written with Uint.
var Int Codec[int64] = intCodec{}

// Fixed-width zig-zag integers (JS c.int8 ... c.int64): the zig-zag value is
// written with the unsigned codec of the same width, so Int8 spans -128..127.
var (
	Int8  Codec[int8]  = intN[int8]{uintN[uint64]{1}}
	Int16 Codec[int16] = intN[int16]{uintN[uint64]{2}}
	Int24 Codec[int32] = intN[int32]{uintN[uint64]{3}}
	Int32 Codec[int32] = intN[int32]{uintN[uint64]{4}}
	Int40 Codec[int64] = intN[int64]{uintN[uint64]{5}}
	Int48 Codec[int64] = intN[int64]{uintN[uint64]{6}}
	Int56 Codec[int64] = intN[int64]{uintN[uint64]{7}}
	Int64 Codec[int64] = intN[int64]{uintN[uint64]{8}}
)

// Little-endian IEEE 754 floats (JS c.float32, c.float64). NaN payloads are
// kept bit for bit.
var (
	Float32 Codec[float32] = float32Codec{}
	Float64 Codec[float64] = float64Codec{}
)

// UintSize is the number of bytes Uint writes for n.
func UintSize(n uint64) int {
	switch {
	case n <= 0xfc:
		return 1
	case n <= 0xffff:
		return 3
	case n <= 0xffffffff:
		return 5
	default:
		return 9
	}
}

// ZigZag maps a signed integer to the unsigned value written by Int.
func ZigZag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

// UnZigZag inverts ZigZag.
func UnZigZag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// putUint writes n as a varint; the caller has checked the room.
func putUint(s *State, n uint64) {
	b := s.Buf
	i := s.Start
	switch {
	case n <= 0xfc:
		b[i] = byte(n)
		s.Start = i + 1
	case n <= 0xffff:
		b = b[i : i+3]
		b[0] = 0xfd
		binary.LittleEndian.PutUint16(b[1:], uint16(n))
		s.Start = i + 3
	case n <= 0xffffffff:
		b = b[i : i+5]
		b[0] = 0xfe
		binary.LittleEndian.PutUint32(b[1:], uint32(n))
		s.Start = i + 5
	default:
		b = b[i : i+9]
		b[0] = 0xff
		binary.LittleEndian.PutUint64(b[1:], n)
		s.Start = i + 9
	}
}

// readUint reads a varint.
func readUint(s *State) (uint64, error) {
	i, end := s.Start, s.End
	if i >= end || end > len(s.Buf) || i < 0 {
		return 0, ErrTruncated
	}
	b := s.Buf[i:end]
	switch a := b[0]; {
	case a <= 0xfc:
		s.Start = i + 1
		return uint64(a), nil
	case a == 0xfd:
		if len(b) < 3 {
			return 0, ErrTruncated
		}
		s.Start = i + 3
		return uint64(binary.LittleEndian.Uint16(b[1:])), nil
	case a == 0xfe:
		if len(b) < 5 {
			return 0, ErrTruncated
		}
		s.Start = i + 5
		return uint64(binary.LittleEndian.Uint32(b[1:])), nil
	default:
		if len(b) < 9 {
			return 0, ErrTruncated
		}
		s.Start = i + 9
		return binary.LittleEndian.Uint64(b[1:]), nil
	}
}

// readLen reads a varint length and checks that that many bytes remain.
func readLen(s *State) (int, error) {
	n, err := readUint(s)
	if err != nil {
		return 0, err
	}
	if n > uint64(s.End-s.Start) {
		return 0, ErrTruncated
	}
	return int(n), nil
}

type uintCodec struct{}

func (uintCodec) Preencode(s *State, n uint64)    { s.End += UintSize(n) }
func (uintCodec) Encode(s *State, n uint64)       { putUint(s, n) }
func (uintCodec) Decode(s *State) (uint64, error) { return readUint(s) }

type varUint32Codec struct{}

func (varUint32Codec) Preencode(s *State, n uint32) { s.End += UintSize(uint64(n)) }
func (varUint32Codec) Encode(s *State, n uint32)    { putUint(s, uint64(n)) }
func (varUint32Codec) Decode(s *State) (uint32, error) {
	n, err := readUint(s)
	if err != nil {
		return 0, err
	}
	if n > math.MaxUint32 {
		return 0, ErrOverflow
	}
	return uint32(n), nil
}

type intCodec struct{}

func (intCodec) Preencode(s *State, v int64) { s.End += UintSize(ZigZag(v)) }
func (intCodec) Encode(s *State, v int64)    { putUint(s, ZigZag(v)) }
func (intCodec) Decode(s *State) (int64, error) {
	n, err := readUint(s)
	return UnZigZag(n), err
}

type unsigned interface {
	~uint8 | ~uint16 | ~uint32 | ~uint64
}

type signed interface {
	~int8 | ~int16 | ~int32 | ~int64
}

// uintN is a little-endian unsigned integer of n bytes.
type uintN[T unsigned] struct{ n int }

func (c uintN[T]) Preencode(s *State, v T) { s.End += c.n }

func (c uintN[T]) Encode(s *State, v T) { c.put(s, uint64(v)) }

func (c uintN[T]) put(s *State, v uint64) {
	if c.n < 8 && v>>(8*c.n) != 0 {
		s.Fail(ErrOverflow)
	}
	b := s.Buf[s.Start : s.Start+c.n]
	switch c.n {
	case 1:
		b[0] = byte(v)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(v))
	case 4:
		binary.LittleEndian.PutUint32(b, uint32(v))
	case 8:
		binary.LittleEndian.PutUint64(b, v)
	default:
		for i := range b {
			b[i] = byte(v)
			v >>= 8
		}
	}
	s.Start += c.n
}

func (c uintN[T]) Decode(s *State) (T, error) {
	v, err := c.get(s)
	return T(v), err
}

func (c uintN[T]) get(s *State) (uint64, error) {
	i := s.Start
	if s.End-i < c.n || i < 0 || s.End > len(s.Buf) {
		return 0, ErrTruncated
	}
	b := s.Buf[i : i+c.n]
	s.Start = i + c.n
	switch c.n {
	case 1:
		return uint64(b[0]), nil
	case 2:
		return uint64(binary.LittleEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.LittleEndian.Uint32(b)), nil
	case 8:
		return binary.LittleEndian.Uint64(b), nil
	}
	var v uint64
	for j := len(b) - 1; j >= 0; j-- {
		v = v<<8 | uint64(b[j])
	}
	return v, nil
}

// intN is a zig-zag integer stored in u.
type intN[T signed] struct{ u uintN[uint64] }

func (c intN[T]) Preencode(s *State, v T) { s.End += c.u.n }
func (c intN[T]) Encode(s *State, v T)    { c.u.put(s, ZigZag(int64(v))) }
func (c intN[T]) Decode(s *State) (T, error) {
	u, err := c.u.get(s)
	if err != nil {
		return 0, err
	}
	v := UnZigZag(u)
	if int64(T(v)) != v {
		return 0, ErrOverflow
	}
	return T(v), nil
}

type float32Codec struct{}

func (float32Codec) Preencode(s *State, v float32) { s.End += 4 }
func (float32Codec) Encode(s *State, v float32)    { uint32Put(s, math.Float32bits(v)) }
func (float32Codec) Decode(s *State) (float32, error) {
	u, err := uintN[uint32]{4}.get(s)
	return math.Float32frombits(uint32(u)), err
}

type float64Codec struct{}

func (float64Codec) Preencode(s *State, v float64) { s.End += 8 }
func (float64Codec) Encode(s *State, v float64)    { uintN[uint64]{8}.put(s, math.Float64bits(v)) }
func (float64Codec) Decode(s *State) (float64, error) {
	u, err := uintN[uint64]{8}.get(s)
	return math.Float64frombits(u), err
}

func uint32Put(s *State, v uint32) { uintN[uint32]{4}.put(s, uint64(v)) }
