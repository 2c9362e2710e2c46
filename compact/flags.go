package compact

// Flags is the bitfield pattern of hypercore, dht-rpc and hyperdht
// messages: a Uint whose bits say which optional fields follow. Encode it
// with Uint(uint64(f)) before the fields and test bits after decoding:
//
//	var f compact.Flags
//	f = f.With(1, m.Fork != 0).With(2, m.Length != 0)
//	compact.Uint.Encode(s, uint64(f))
//	...
//	u, err := compact.Uint.Decode(s)
//	f := compact.Flags(u)
//	if f.Has(1) { m.Fork, err = compact.Uint.Decode(s) }
//
// Unknown bits are ignored by the JS decoders; do the same unless a message
// says otherwise.
type Flags uint64

// Has reports whether every bit of mask is set.
func (f Flags) Has(mask Flags) bool { return f&mask == mask }

// With returns f with the bits of mask set when on is true, f otherwise.
func (f Flags) With(mask Flags, on bool) Flags {
	if on {
		return f | mask
	}
	return f
}

// FlagsCodec encodes Flags as a Uint.
var FlagsCodec Codec[Flags] = flagsCodec{}

type flagsCodec struct{}

func (flagsCodec) Preencode(s *State, f Flags) { s.End += UintSize(uint64(f)) }
func (flagsCodec) Encode(s *State, f Flags)    { putUint(s, uint64(f)) }
func (flagsCodec) Decode(s *State) (Flags, error) {
	u, err := readUint(s)
	return Flags(u), err
}

// Bitfield returns the codec of compact-encoding-bitfield (used by
// blind-relay) for a field of length bits, read and written as a uint64
// whose bit i is bit i of the JS bit array (least significant bit first).
//
// Its layout resembles Uint but the width follows length, not the value:
// fewer than 8 bits take one byte; 8 to 16 bits a 0xfd prefix and 2 bytes
// (so even length 8 uses the prefixed form); up to 32 bits 0xfe and 4
// bytes; up to 64 bits 0xff and 8 bytes. A length above 64 (JS throws) is
// treated as 64. Decoding accepts any of the four forms whatever the
// length and keeps the bits JS keeps: the first data byte for lengths up to
// 8, all data bytes otherwise, so a decoded value can have bits at or above
// length (mask them if they matter). Encoding such a value records
// ErrOverflow: JS would write it unchecked, and in the one-byte form a
// value from 0xfd up would read back as a prefix.
func Bitfield(length int) Codec[uint64] {
	length = max(0, min(length, 64))
	w := 8
	switch {
	case length < 8:
		w = 1
	case length <= 16:
		w = 2
	case length <= 32:
		w = 4
	}
	return bitfieldCodec{length: length, width: w}
}

type bitfieldCodec struct{ length, width int }

func (c bitfieldCodec) Preencode(s *State, v uint64) {
	if c.width == 1 {
		s.End++
	} else {
		s.End += 1 + c.width
	}
}

func (c bitfieldCodec) Encode(s *State, v uint64) {
	if c.length < 64 && v>>c.length != 0 {
		s.Fail(ErrOverflow)
		v &= 1<<c.length - 1
	}
	switch c.width {
	case 1:
		s.Buf[s.Start] = byte(v)
		s.Start++
		return
	case 2:
		s.Buf[s.Start] = 0xfd
	case 4:
		s.Buf[s.Start] = 0xfe
	default:
		s.Buf[s.Start] = 0xff
	}
	s.Start++
	uintN[uint64]{c.width}.put(s, v)
}

func (c bitfieldCodec) Decode(s *State) (uint64, error) {
	i := s.Start
	if i < 0 || i >= s.End || s.End > len(s.Buf) {
		return 0, ErrTruncated
	}
	var w int
	switch s.Buf[i] {
	case 0xfd:
		w = 2
	case 0xfe:
		w = 4
	case 0xff:
		w = 8
	default:
		w = 1
	}
	if w > 1 {
		i++
	}
	if s.End-i < w {
		return 0, ErrTruncated
	}
	s.Start = i
	v, _ := uintN[uint64]{w}.get(s)
	if c.length <= 8 {
		v &= 0xff
	}
	return v, nil
}
