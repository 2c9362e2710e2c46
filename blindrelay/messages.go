package blindrelay

import (
	"crypto/rand"
	"encoding/binary"
	"errors"

	"github.com/warrenp2p/warren/compact"
)

// ErrMalformed reports a pair or unpair message that does not decode.
var ErrMalformed = errors.New("blindrelay: malformed message")

// Pair is the pair message: sent by a client to ask for a pairing under
// Token, with the id of the UDX stream it wants the relay to send to; sent
// back by the relay once both sides asked, with the id of the relay's own
// stream for that side.
type Pair struct {
	IsInitiator bool
	Token       [32]byte
	ID          uint64 // UDX stream id
	Seq         uint64 // first sequence number; 0
}

// Unpair cancels a pairing or tears down a paired link.
type Unpair struct {
	Token [32]byte
}

// NewToken returns a random pairing token.
func NewToken() [32]byte {
	var t [32]byte
	if _, err := rand.Read(t[:]); err != nil {
		panic("blindrelay: crypto/rand: " + err.Error())
	}
	return t
}

// Both messages start with a 7-bit bitfield (compact-encoding-bitfield):
// one byte when sent, but a decoder accepts the uint-style length prefixes
// 0xfd, 0xfe and 0xff and reads the first byte of what follows.

func appendUint(b []byte, n uint64) []byte {
	switch {
	case n < 0xfd:
		return append(b, byte(n))
	case n <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(b, 0xfd), uint16(n))
	case n <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(b, 0xfe), uint32(n))
	}
	return binary.LittleEndian.AppendUint64(append(b, 0xff), n)
}

func decodeBits(s *compact.State) (byte, error) {
	if s.Start >= s.End {
		return 0, compact.ErrTruncated
	}
	n := 1
	switch s.Buf[s.Start] {
	case 0xfd:
		n = 2
	case 0xfe:
		n = 4
	case 0xff:
		n = 8
	}
	if n > 1 {
		s.Start++
	}
	if s.End-s.Start < n {
		return 0, compact.ErrTruncated
	}
	b := s.Buf[s.Start]
	s.Start += n
	return b, nil
}

// Encode returns the wire form of p.
func (p *Pair) Encode() []byte {
	var bits byte
	if p.IsInitiator {
		bits = 1
	}
	b := append(make([]byte, 0, 1+32+10), bits)
	b = append(b, p.Token[:]...)
	b = appendUint(b, p.ID)
	return appendUint(b, p.Seq)
}

// DecodePair decodes a pair message. Bytes after it are ignored, as in JS.
func DecodePair(b []byte) (*Pair, error) {
	s := &compact.State{Buf: b, End: len(b)}
	bits, err := decodeBits(s)
	if err != nil {
		return nil, errors.Join(ErrMalformed, err)
	}
	p := &Pair{IsInitiator: bits&1 != 0}
	if p.Token, err = compact.Bytes32.Decode(s); err != nil {
		return nil, errors.Join(ErrMalformed, err)
	}
	if p.ID, err = compact.Uint.Decode(s); err != nil {
		return nil, errors.Join(ErrMalformed, err)
	}
	if p.Seq, err = compact.Uint.Decode(s); err != nil {
		return nil, errors.Join(ErrMalformed, err)
	}
	return p, nil
}

// Encode returns the wire form of u.
func (u *Unpair) Encode() []byte {
	return append([]byte{0}, u.Token[:]...)
}

// DecodeUnpair decodes an unpair message.
func DecodeUnpair(b []byte) (*Unpair, error) {
	s := &compact.State{Buf: b, End: len(b)}
	if _, err := decodeBits(s); err != nil {
		return nil, errors.Join(ErrMalformed, err)
	}
	t, err := compact.Bytes32.Decode(s)
	if err != nil {
		return nil, errors.Join(ErrMalformed, err)
	}
	return &Unpair{Token: t}, nil
}
