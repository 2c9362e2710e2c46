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
