package udx

import (
	"encoding/binary"
	"errors"
)

// Wire constants of the libudx packet header.
const (
	// HeaderSize is the size of the fixed packet header in bytes.
	HeaderSize = 20
	// Magic is the first byte of every UDX packet.
	Magic = 0xff
	// Version is the protocol version carried in the second byte.
	Version = 1
	// MaxSACKs is the most SACK ranges a packet carries (as libudx).
	MaxSACKs = 50
)

// Packet type flags (byte 2 of the header). A packet may carry several.
const (
	FlagData      = 0x01 // carries in-order stream payload and uses a sequence number
	FlagEnd       = 0x02 // the sender has finished writing (half-close); uses a sequence number
	FlagSACK      = 0x04 // selective-ack ranges follow the header
	FlagMessage   = 0x08 // an unordered, unreliable message on the stream
	FlagDestroy   = 0x10 // the sender destroyed the stream
	FlagHeartbeat = 0x20 // a probe: the receiver answers with an ack
)

// Errors returned by the packet decoder.
var (
	ErrShortPacket = errors.New("udx: packet shorter than header")
	ErrNotUDX      = errors.New("udx: bad magic or version")
	ErrBadOffset   = errors.New("udx: data offset beyond packet end")
)

// Header is the fixed 20-byte header of a UDX packet. All integers are
// little-endian on the wire.
type Header struct {
	Type       uint8  // combination of Flag* values
	DataOffset uint8  // bytes between the header and the payload (SACKs, probe padding)
	StreamID   uint32 // the receiver's local stream id
	Window     uint32 // the sender's receive window in bytes
	Seq        uint32 // sender's sequence number
	Ack        uint32 // next sequence number the sender expects
}

// SACK is a selective-ack range of packet sequence numbers [Start, End).
type SACK struct {
	Start, End uint32
}

// Put writes h into b, which must be at least HeaderSize long.
func (h *Header) Put(b []byte) {
	_ = b[HeaderSize-1]
	b[0] = Magic
	b[1] = Version
	b[2] = h.Type
	b[3] = h.DataOffset
	binary.LittleEndian.PutUint32(b[4:], h.StreamID)
	binary.LittleEndian.PutUint32(b[8:], h.Window)
	binary.LittleEndian.PutUint32(b[12:], h.Seq)
	binary.LittleEndian.PutUint32(b[16:], h.Ack)
}

// Append appends the encoded header to dst.
func (h *Header) Append(dst []byte) []byte {
	var b [HeaderSize]byte
	h.Put(b[:])
	return append(dst, b[:]...)
}

// Decode parses the header at the start of b.
func (h *Header) Decode(b []byte) error {
	if len(b) < HeaderSize {
		return ErrShortPacket
	}
	if b[0] != Magic || b[1] != Version {
		return ErrNotUDX
	}
	h.Type = b[2]
	h.DataOffset = b[3]
	h.StreamID = binary.LittleEndian.Uint32(b[4:])
	h.Window = binary.LittleEndian.Uint32(b[8:])
	h.Seq = binary.LittleEndian.Uint32(b[12:])
	h.Ack = binary.LittleEndian.Uint32(b[16:])
	return nil
}

// IsUDX reports whether b starts like a UDX packet (magic, version and a
// full header). Datagrams that are not are handed to the socket's
// datagram reader.
func IsUDX(b []byte) bool {
	return len(b) >= HeaderSize && b[0] == Magic && b[1] == Version
}

// Packet is a decoded UDX packet. Payload and the SACK bytes alias the
// input buffer.
type Packet struct {
	Header
	sacks   []byte // raw SACK area, 8 bytes per range
	Payload []byte // bytes after the header and the data offset
}

// Decode parses b as a UDX packet, following libudx: the SACK area is the
// data offset when it is set and shorter than the rest of the packet, and
// the whole rest otherwise; the payload starts after the data offset.
func (p *Packet) Decode(b []byte) error {
	if err := p.Header.Decode(b); err != nil {
		return err
	}
	rest := b[HeaderSize:]
	p.sacks = nil
	if p.Type&FlagSACK != 0 {
		n := len(rest)
		if off := int(p.DataOffset); off > 0 && off < n {
			n = off
		}
		p.sacks = rest[:n-n%8]
	}
	if int(p.DataOffset) > len(rest) {
		p.Payload = nil
		return ErrBadOffset
	}
	p.Payload = rest[p.DataOffset:]
	return nil
}

// NumSACKs returns how many SACK ranges the packet carries.
func (p *Packet) NumSACKs() int { return len(p.sacks) / 8 }

// SACK returns the i-th SACK range.
func (p *Packet) SACK(i int) SACK {
	b := p.sacks[i*8:]
	return SACK{binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:])}
}

// SACKs returns all SACK ranges.
func (p *Packet) SACKs() []SACK {
	out := make([]SACK, p.NumSACKs())
	for i := range out {
		out[i] = p.SACK(i)
	}
	return out
}

// AppendPacket encodes a packet: the header, then the SACK ranges (when
// any; the SACK flag is set and the data offset left at zero as libudx
// does, so such packets carry no payload), then payload.
func AppendPacket(dst []byte, h Header, sacks []SACK, payload []byte) []byte {
	if len(sacks) > 0 {
		h.Type |= FlagSACK
		h.DataOffset = 0
	}
	dst = h.Append(dst)
	for _, s := range sacks {
		dst = binary.LittleEndian.AppendUint32(dst, s.Start)
		dst = binary.LittleEndian.AppendUint32(dst, s.End)
	}
	if h.DataOffset > 0 && len(sacks) == 0 {
		dst = append(dst, make([]byte, h.DataOffset)...)
	}
	return append(dst, payload...)
}
