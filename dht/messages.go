package dht

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/warrenp2p/warren/compact"
	"github.com/warrenp2p/warren/crypto"
)

// Wire constants of dht-rpc 6 (lib/io.js, lib/commands.js, lib/errors.js).
const (
	version    = 0b11
	requestID  = 0b0000<<4 | version // first byte of every request
	responseID = 0b0001<<4 | version // first byte of every response
)

// Internal commands, sent with the internal flag set.
const (
	CmdPing        = 0 // keep-alive; the reply carries the observed address
	CmdPingNAT     = 1 // reply to the asker's other (server) port
	CmdFindNode    = 2 // reply with the closest nodes to the target
	CmdDownHint    = 3 // "this node you told me about is down"
	CmdDelayedPing = 4 // reply after a delay (not answered by this package)
)

// Error codes carried in responses.
const (
	ErrCodeUnknownCommand = 1
	ErrCodeInvalidToken   = 2
)

// Request flag bits.
const (
	reqFlagID       = 1
	reqFlagToken    = 2
	reqFlagInternal = 4
	reqFlagTarget   = 8
	reqFlagValue    = 16
)

// Response flag bits.
const (
	resFlagID     = 1
	resFlagToken  = 2
	resFlagCloser = 4
	resFlagError  = 8
	resFlagValue  = 16
)

// ErrMalformed is returned for a datagram that is not a dht-rpc message.
var ErrMalformed = errors.New("dht: malformed message")

// RequestMessage is the decoded form of a dht-rpc request datagram.
type RequestMessage struct {
	TID      uint16
	To       netip.AddrPort // the recipient's address as the sender sees it
	ID       *[32]byte      // sender's node id, when it claims to be persistent
	Token    *[32]byte
	Internal bool
	Command  uint64
	Target   *[32]byte
	Value    []byte // nil when absent; non-nil (maybe empty) when present
}

// ResponseMessage is the decoded form of a dht-rpc response datagram.
type ResponseMessage struct {
	TID         uint16
	To          netip.AddrPort // the requester's address as the responder sees it
	ID          *[32]byte
	Token       *[32]byte
	CloserNodes []netip.AddrPort
	Error       uint64
	Value       []byte // nil when absent; non-nil (maybe empty) when present
}

// NodeID returns the node id dht-rpc derives from an IPv4 address: BLAKE2b-256
// of the 6-byte compact ipv4Address encoding (address bytes, little-endian
// port).
func NodeID(addr netip.AddrPort) [32]byte {
	var b [6]byte
	encodeAddr(b[:], addr)
	return crypto.Hash(b[:])
}

func encodeAddr(b []byte, a netip.AddrPort) {
	ip := a.Addr().Unmap()
	if !ip.Is4() {
		ip = netip.AddrFrom4([4]byte{127, 0, 0, 1}) // same fallback as compact-encoding-net
	}
	v := ip.As4()
	copy(b, v[:])
	b[4] = byte(a.Port())
	b[5] = byte(a.Port() >> 8)
}

func appendAddr(dst []byte, a netip.AddrPort) []byte {
	var b [6]byte
	encodeAddr(b[:], a)
	return append(dst, b[:]...)
}

func appendUint(dst []byte, n uint64) []byte {
	switch {
	case n <= 0xfc:
		return append(dst, byte(n))
	case n <= 0xffff:
		return append(dst, 0xfd, byte(n), byte(n>>8))
	case n <= 0xffffffff:
		return append(dst, 0xfe, byte(n), byte(n>>8), byte(n>>16), byte(n>>24))
	default:
		dst = append(dst, 0xff)
		for i := 0; i < 8; i++ {
			dst = append(dst, byte(n>>(8*i)))
		}
		return dst
	}
}

func appendBuffer(dst, v []byte) []byte {
	dst = appendUint(dst, uint64(len(v)))
	return append(dst, v...)
}

// AppendRequest appends the encoding of m to dst.
func AppendRequest(dst []byte, m *RequestMessage) []byte {
	var flags byte
	if m.ID != nil {
		flags |= reqFlagID
	}
	if m.Token != nil {
		flags |= reqFlagToken
	}
	if m.Internal {
		flags |= reqFlagInternal
	}
	if m.Target != nil {
		flags |= reqFlagTarget
	}
	if m.Value != nil {
		flags |= reqFlagValue
	}
	dst = append(dst, requestID, flags, byte(m.TID), byte(m.TID>>8))
	dst = appendAddr(dst, m.To)
	if m.ID != nil {
		dst = append(dst, m.ID[:]...)
	}
	if m.Token != nil {
		dst = append(dst, m.Token[:]...)
	}
	dst = appendUint(dst, m.Command)
	if m.Target != nil {
		dst = append(dst, m.Target[:]...)
	}
	if m.Value != nil {
		dst = appendBuffer(dst, m.Value)
	}
	return dst
}

// AppendResponse appends the encoding of m to dst.
func AppendResponse(dst []byte, m *ResponseMessage) []byte {
	var flags byte
	if m.ID != nil {
		flags |= resFlagID
	}
	if m.Token != nil {
		flags |= resFlagToken
	}
	if len(m.CloserNodes) > 0 {
		flags |= resFlagCloser
	}
	if m.Error > 0 {
		flags |= resFlagError
	}
	if m.Value != nil {
		flags |= resFlagValue
	}
	dst = append(dst, responseID, flags, byte(m.TID), byte(m.TID>>8))
	dst = appendAddr(dst, m.To)
	if m.ID != nil {
		dst = append(dst, m.ID[:]...)
	}
	if m.Token != nil {
		dst = append(dst, m.Token[:]...)
	}
	if len(m.CloserNodes) > 0 {
		dst = appendUint(dst, uint64(len(m.CloserNodes)))
		for _, a := range m.CloserNodes {
			dst = appendAddr(dst, a)
		}
	}
	if m.Error > 0 {
		dst = appendUint(dst, m.Error)
	}
	if m.Value != nil {
		dst = appendBuffer(dst, m.Value)
	}
	return dst
}

type decoder struct {
	s   compact.State
	err error
}

func newDecoder(b []byte) *decoder {
	d := &decoder{}
	d.s.Buf = b
	d.s.Start = 1 // past the type byte
	d.s.End = len(b)
	return d
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := compact.Uint.Decode(&d.s)
	d.err = err
	return v
}

func (d *decoder) uint16() uint16 {
	if d.err != nil {
		return 0
	}
	v, err := compact.Uint16.Decode(&d.s)
	d.err = err
	return v
}

func (d *decoder) addr() netip.AddrPort {
	if d.err != nil {
		return netip.AddrPort{}
	}
	v, err := compact.IPv4Address.Decode(&d.s)
	d.err = err
	return v
}

func (d *decoder) fixed32() *[32]byte {
	if d.err != nil {
		return nil
	}
	v, err := compact.Bytes32.Decode(&d.s)
	if err != nil {
		d.err = err
		return nil
	}
	return &v
}

func (d *decoder) buffer() []byte {
	if d.err != nil {
		return nil
	}
	v, err := compact.Buffer.Decode(&d.s)
	if err != nil {
		d.err = err
		return nil
	}
	if v == nil {
		v = []byte{} // present but empty, as JS gives an empty buffer
	}
	return v
}

func (d *decoder) addrs() []netip.AddrPort {
	if d.err != nil {
		return nil
	}
	v, err := compact.IPv4AddressArray.Decode(&d.s)
	d.err = err
	return v
}

func (d *decoder) done() error {
	if d.err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, d.err)
	}
	return nil
}

// DecodeRequest decodes a request datagram, including its type byte.
// Bytes after the message are ignored, as in JS. Values alias b.
func DecodeRequest(b []byte) (*RequestMessage, error) {
	if len(b) < 2 || b[0] != requestID {
		return nil, ErrMalformed
	}
	d := newDecoder(b)
	flags := d.uint()
	m := &RequestMessage{}
	m.TID = d.uint16()
	m.To = d.addr()
	if flags&reqFlagID != 0 {
		m.ID = d.fixed32()
	}
	if flags&reqFlagToken != 0 {
		m.Token = d.fixed32()
	}
	m.Internal = flags&reqFlagInternal != 0
	m.Command = d.uint()
	if flags&reqFlagTarget != 0 {
		m.Target = d.fixed32()
	}
	if flags&reqFlagValue != 0 {
		m.Value = d.buffer()
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return m, nil
}

// DecodeResponse decodes a response datagram, including its type byte.
// Bytes after the message are ignored, as in JS. Values alias b.
func DecodeResponse(b []byte) (*ResponseMessage, error) {
	if len(b) < 2 || b[0] != responseID {
		return nil, ErrMalformed
	}
	d := newDecoder(b)
	flags := d.uint()
	m := &ResponseMessage{}
	m.TID = d.uint16()
	m.To = d.addr()
	if flags&resFlagID != 0 {
		m.ID = d.fixed32()
	}
	if flags&resFlagToken != 0 {
		m.Token = d.fixed32()
	}
	if flags&resFlagCloser != 0 {
		m.CloserNodes = d.addrs()
	}
	if flags&resFlagError != 0 {
		m.Error = d.uint()
	}
	if flags&resFlagValue != 0 {
		m.Value = d.buffer()
	}
	if err := d.done(); err != nil {
		return nil, err
	}
	return m, nil
}
