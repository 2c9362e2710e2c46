package hyperdht

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/warrenp2p/warren/compact"
)

// ErrMalformed is returned for a message that does not decode.
var ErrMalformed = errors.New("hyperdht: malformed message")

// Handshake is the value of a PEER_HANDSHAKE request or reply.
type Handshake struct {
	Mode         uint64
	Noise        []byte
	PeerAddress  *netip.AddrPort
	RelayAddress *netip.AddrPort
}

// Holepunch is the value of a PEER_HOLEPUNCH request or reply.
type Holepunch struct {
	Mode        uint64
	ID          uint64
	Payload     []byte
	PeerAddress *netip.AddrPort
}

// RelayInfo names a relay node and our address as it sees us.
type RelayInfo struct {
	RelayAddress netip.AddrPort
	PeerAddress  netip.AddrPort
}

// HolepunchInfo is the holepunch part of a noise payload.
type HolepunchInfo struct {
	ID     uint64
	Relays []RelayInfo
}

// UDXInfo is the UDX part of a noise payload: the sender's stream id.
type UDXInfo struct {
	Version        uint64 // 1 when encoded
	ReusableSocket bool
	ID             uint64
	Seq            uint64
}

// RelayThroughInfo asks the peer to pair through a blind relay.
type RelayThroughInfo struct {
	Version   uint64
	PublicKey [32]byte
	Token     [32]byte
}

// NoisePayload is the payload carried inside the Noise IK handshake.
type NoisePayload struct {
	Version        uint64 // 1; other versions decode with nothing else set
	Error          uint64
	Firewall       uint64
	Holepunch      *HolepunchInfo
	Addresses4     []netip.AddrPort
	Addresses6     []netip.AddrPort
	UDX            *UDXInfo
	SecretStream   bool // secret stream info (version 1) present
	RelayThrough   *RelayThroughInfo
	RelayAddresses []netip.AddrPort // nil: absent
}

// HolepunchPayload is the encrypted payload of holepunch rounds.
type HolepunchPayload struct {
	Error         uint64
	Firewall      uint64
	Round         uint64
	Connected     bool
	Punching      bool
	Addresses     []netip.AddrPort // nil: absent
	RemoteAddress *netip.AddrPort
	Token         *[32]byte
	RemoteToken   *[32]byte
}

// Peer is an announce record: a public key and the relay nodes it is
// reachable through.
type Peer struct {
	PublicKey      [32]byte
	RelayAddresses []netip.AddrPort
}

// LookupReply is the value of a LOOKUP reply.
type LookupReply struct {
	Peers []Peer
	Bump  uint64
}

// Announce is the value of ANNOUNCE and UNANNOUNCE requests.
type Announce struct {
	Peer      *Peer
	Refresh   *[32]byte
	Signature *[64]byte
	Bump      uint64
}

// MutablePutRequest is the value of a MUTABLE_PUT request.
type MutablePutRequest struct {
	PublicKey [32]byte
	Seq       uint64
	Value     []byte
	Signature [64]byte
}

// MutableGetResponse is the value of a MUTABLE_GET reply.
type MutableGetResponse struct {
	Seq       uint64
	Value     []byte
	Signature [64]byte
}

// ---- encoding helpers ----

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

func appendBuffer(b, v []byte) []byte { return append(appendUint(b, uint64(len(v))), v...) }

func appendIPv4(b []byte, a netip.AddrPort) []byte {
	ip := a.Addr().Unmap()
	if !ip.Is4() {
		ip = netip.IPv4Unspecified()
	}
	v := ip.As4()
	return binary.LittleEndian.AppendUint16(append(b, v[:]...), a.Port())
}

func appendIPv4s(b []byte, as []netip.AddrPort) []byte {
	b = appendUint(b, uint64(len(as)))
	for _, a := range as {
		b = appendIPv4(b, a)
	}
	return b
}

func appendIPv6(b []byte, a netip.AddrPort) []byte {
	v := a.Addr().As16()
	return binary.LittleEndian.AppendUint16(append(b, v[:]...), a.Port())
}

type dec struct {
	s   compact.State
	err error
}

func newDec(b []byte) *dec { return &dec{s: compact.State{Buf: b, End: len(b)}} }

func (d *dec) uint() uint64 {
	if d.err != nil {
		return 0
	}
	v, err := compact.Uint.Decode(&d.s)
	d.err = err
	return v
}

func (d *dec) buffer() []byte {
	if d.err != nil {
		return nil
	}
	v, err := compact.Buffer.Decode(&d.s)
	d.err = err
	return v
}

func (d *dec) fixed32() (r [32]byte) {
	if d.err != nil {
		return
	}
	r, d.err = compact.Bytes32.Decode(&d.s)
	return
}

func (d *dec) fixed64() (r [64]byte) {
	if d.err != nil {
		return
	}
	r, d.err = compact.Bytes64.Decode(&d.s)
	return
}

func (d *dec) ipv4() (r netip.AddrPort) {
	if d.err != nil {
		return
	}
	r, d.err = compact.IPv4Address.Decode(&d.s)
	return
}

func (d *dec) ipv4p() *netip.AddrPort { a := d.ipv4(); return &a }

func (d *dec) count() int {
	n := d.uint()
	if d.err == nil && n > compact.MaxArrayLen {
		d.err = ErrMalformed
	}
	if d.err == nil && n > uint64(d.s.End-d.s.Start) {
		d.err = compact.ErrTruncated
	}
	return int(n)
}

func (d *dec) ipv4s() []netip.AddrPort {
	n := d.count()
	if d.err != nil {
		return nil
	}
	out := make([]netip.AddrPort, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, d.ipv4())
	}
	return out
}

func (d *dec) ipv6s() []netip.AddrPort {
	n := d.count()
	if d.err != nil {
		return nil
	}
	out := make([]netip.AddrPort, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		var a netip.AddrPort
		a, d.err = compact.IPv6Address.Decode(&d.s)
		out = append(out, a)
	}
	return out
}

func (d *dec) more() bool { return d.err == nil && d.s.Start < d.s.End }

func (d *dec) done() error {
	if d.err != nil {
		return errors.Join(ErrMalformed, d.err)
	}
	return nil
}

// ---- messages ----

// Encode returns the wire form of h.
func (h *Handshake) Encode() []byte {
	var flags uint64
	if h.PeerAddress != nil {
		flags |= 1
	}
	if h.RelayAddress != nil {
		flags |= 2
	}
	b := appendUint(nil, flags)
	b = appendUint(b, h.Mode)
	b = appendBuffer(b, h.Noise)
	if h.PeerAddress != nil {
		b = appendIPv4(b, *h.PeerAddress)
	}
	if h.RelayAddress != nil {
		b = appendIPv4(b, *h.RelayAddress)
	}
	return b
}

// DecodeHandshake decodes a PEER_HANDSHAKE value.
func DecodeHandshake(b []byte) (*Handshake, error) {
	d := newDec(b)
	flags := d.uint()
	h := &Handshake{Mode: d.uint(), Noise: d.buffer()}
	if flags&1 != 0 {
		h.PeerAddress = d.ipv4p()
	}
	if flags&2 != 0 {
		h.RelayAddress = d.ipv4p()
	}
	return h, d.done()
}

// Encode returns the wire form of h.
func (h *Holepunch) Encode() []byte {
	var flags uint64
	if h.PeerAddress != nil {
		flags = 1
	}
	b := appendUint(nil, flags)
	b = appendUint(b, h.Mode)
	b = appendUint(b, h.ID)
	b = appendBuffer(b, h.Payload)
	if h.PeerAddress != nil {
		b = appendIPv4(b, *h.PeerAddress)
	}
	return b
}

// DecodeHolepunch decodes a PEER_HOLEPUNCH value.
func DecodeHolepunch(b []byte) (*Holepunch, error) {
	d := newDec(b)
	flags := d.uint()
	h := &Holepunch{Mode: d.uint(), ID: d.uint(), Payload: d.buffer()}
	if flags&1 != 0 {
		h.PeerAddress = d.ipv4p()
	}
	return h, d.done()
}

// Encode returns the wire form of p (always version 1).
func (p *NoisePayload) Encode() []byte {
	var flags uint64
	if p.Holepunch != nil {
		flags |= 1
	}
	if len(p.Addresses4) > 0 {
		flags |= 2
	}
	if len(p.Addresses6) > 0 {
		flags |= 4
	}
	if p.UDX != nil {
		flags |= 8
	}
	if p.SecretStream {
		flags |= 16
	}
	if p.RelayThrough != nil {
		flags |= 32
	}
	if p.RelayAddresses != nil {
		flags |= 64
	}
	b := appendUint(nil, 1)
	b = appendUint(b, flags)
	b = appendUint(b, p.Error)
	b = appendUint(b, p.Firewall)
	if h := p.Holepunch; h != nil {
		b = appendUint(b, h.ID)
		b = appendUint(b, uint64(len(h.Relays)))
		for _, r := range h.Relays {
			b = appendIPv4(b, r.RelayAddress)
			b = appendIPv4(b, r.PeerAddress)
		}
	}
	if len(p.Addresses4) > 0 {
		b = appendIPv4s(b, p.Addresses4)
	}
	if len(p.Addresses6) > 0 {
		b = appendUint(b, uint64(len(p.Addresses6)))
		for _, a := range p.Addresses6 {
			b = appendIPv6(b, a)
		}
	}
	if u := p.UDX; u != nil {
		b = appendUint(b, 1)
		var f uint64
		if u.ReusableSocket {
			f = 1
		}
		b = appendUint(b, f)
		b = appendUint(b, u.ID)
		b = appendUint(b, u.Seq)
	}
	if p.SecretStream {
		b = appendUint(b, 1)
	}
	if r := p.RelayThrough; r != nil {
		b = appendUint(b, 1)
		b = appendUint(b, 0)
		b = append(b, r.PublicKey[:]...)
		b = append(b, r.Token[:]...)
	}
	if p.RelayAddresses != nil {
		b = appendIPv4s(b, p.RelayAddresses)
	}
	return b
}

// DecodeNoisePayload decodes the payload of a handshake message. A version
// other than 1 is returned with only Version set, as JS does.
func DecodeNoisePayload(b []byte) (*NoisePayload, error) {
	d := newDec(b)
	p := &NoisePayload{Version: d.uint()}
	if d.err != nil || p.Version != 1 {
		return p, d.done()
	}
	flags := d.uint()
	p.Error = d.uint()
	p.Firewall = d.uint()
	if flags&1 != 0 {
		h := &HolepunchInfo{ID: d.uint()}
		n := d.count()
		for i := 0; i < n && d.err == nil; i++ {
			h.Relays = append(h.Relays, RelayInfo{RelayAddress: d.ipv4(), PeerAddress: d.ipv4()})
		}
		p.Holepunch = h
	}
	if flags&2 != 0 {
		p.Addresses4 = d.ipv4s()
	}
	if flags&4 != 0 {
		p.Addresses6 = d.ipv6s()
	}
	if flags&8 != 0 {
		u := &UDXInfo{Version: d.uint()}
		u.ReusableSocket = d.uint()&1 != 0
		u.ID = d.uint()
		u.Seq = d.uint()
		p.UDX = u
	}
	if flags&16 != 0 {
		d.uint()
		p.SecretStream = true
	}
	if flags&32 != 0 {
		r := &RelayThroughInfo{Version: d.uint()}
		d.uint()
		r.PublicKey = d.fixed32()
		r.Token = d.fixed32()
		p.RelayThrough = r
	}
	if flags&64 != 0 {
		p.RelayAddresses = d.ipv4s()
		if p.RelayAddresses == nil {
			p.RelayAddresses = []netip.AddrPort{}
		}
	}
	return p, d.done()
}

// Encode returns the wire form of p.
func (p *HolepunchPayload) Encode() []byte {
	var flags uint64
	if p.Connected {
		flags |= 1
	}
	if p.Punching {
		flags |= 2
	}
	if p.Addresses != nil {
		flags |= 4
	}
	if p.RemoteAddress != nil {
		flags |= 8
	}
	if p.Token != nil {
		flags |= 16
	}
	if p.RemoteToken != nil {
		flags |= 32
	}
	b := appendUint(nil, flags)
	b = appendUint(b, p.Error)
	b = appendUint(b, p.Firewall)
	b = appendUint(b, p.Round)
	if p.Addresses != nil {
		b = appendIPv4s(b, p.Addresses)
	}
	if p.RemoteAddress != nil {
		b = appendIPv4(b, *p.RemoteAddress)
	}
	if p.Token != nil {
		b = append(b, p.Token[:]...)
	}
	if p.RemoteToken != nil {
		b = append(b, p.RemoteToken[:]...)
	}
	return b
}

// DecodeHolepunchPayload decodes a decrypted holepunch payload.
func DecodeHolepunchPayload(b []byte) (*HolepunchPayload, error) {
	d := newDec(b)
	flags := d.uint()
	p := &HolepunchPayload{Error: d.uint(), Firewall: d.uint(), Round: d.uint()}
	p.Connected = flags&1 != 0
	p.Punching = flags&2 != 0
	if flags&4 != 0 {
		p.Addresses = d.ipv4s()
		if p.Addresses == nil && d.err == nil {
			p.Addresses = []netip.AddrPort{}
		}
	}
	if flags&8 != 0 {
		p.RemoteAddress = d.ipv4p()
	}
	if flags&16 != 0 {
		t := d.fixed32()
		p.Token = &t
	}
	if flags&32 != 0 {
		t := d.fixed32()
		p.RemoteToken = &t
	}
	return p, d.done()
}

// Encode returns the wire form of p.
func (p *Peer) Encode() []byte { return p.appendTo(nil) }

func (p *Peer) appendTo(b []byte) []byte {
	b = append(b, p.PublicKey[:]...)
	return appendIPv4s(b, p.RelayAddresses)
}

func (d *dec) peer() Peer {
	return Peer{PublicKey: d.fixed32(), RelayAddresses: d.ipv4s()}
}

// DecodePeer decodes an announce record.
func DecodePeer(b []byte) (*Peer, error) {
	d := newDec(b)
	p := d.peer()
	return &p, d.done()
}

// Encode returns the wire form of l.
func (l *LookupReply) Encode() []byte {
	b := appendUint(nil, uint64(len(l.Peers)))
	for i := range l.Peers {
		b = l.Peers[i].appendTo(b)
	}
	return appendUint(b, l.Bump)
}

// encodeLookupRaw builds a LOOKUP reply from already encoded records.
func encodeLookupRaw(records [][]byte, bump uint64) []byte {
	b := appendUint(nil, uint64(len(records)))
	for _, r := range records {
		b = append(b, r...)
	}
	return appendUint(b, bump)
}

// DecodeLookupReply decodes a LOOKUP reply (the bump is optional).
func DecodeLookupReply(b []byte) (*LookupReply, error) {
	d := newDec(b)
	n := d.count()
	l := &LookupReply{}
	for i := 0; i < n && d.err == nil; i++ {
		l.Peers = append(l.Peers, d.peer())
	}
	if d.more() {
		l.Bump = d.uint()
	}
	return l, d.done()
}

// Encode returns the wire form of a.
func (a *Announce) Encode() []byte {
	var flags uint64
	if a.Peer != nil {
		flags |= 1
	}
	if a.Refresh != nil {
		flags |= 2
	}
	if a.Signature != nil {
		flags |= 4
	}
	if a.Bump != 0 {
		flags |= 8
	}
	b := appendUint(nil, flags)
	if a.Peer != nil {
		b = a.Peer.appendTo(b)
	}
	if a.Refresh != nil {
		b = append(b, a.Refresh[:]...)
	}
	if a.Signature != nil {
		b = append(b, a.Signature[:]...)
	}
	if a.Bump != 0 {
		b = appendUint(b, a.Bump)
	}
	return b
}

// DecodeAnnounce decodes an ANNOUNCE or UNANNOUNCE value.
func DecodeAnnounce(b []byte) (*Announce, error) {
	d := newDec(b)
	flags := d.uint()
	a := &Announce{}
	if flags&1 != 0 {
		p := d.peer()
		a.Peer = &p
	}
	if flags&2 != 0 {
		r := d.fixed32()
		a.Refresh = &r
	}
	if flags&4 != 0 {
		s := d.fixed64()
		a.Signature = &s
	}
	if flags&8 != 0 {
		a.Bump = d.uint()
	}
	return a, d.done()
}

// encodeMutableSignable is the encoding of {seq, value} that mutable
// signatures hash.
func encodeMutableSignable(seq uint64, value []byte) []byte {
	return appendBuffer(appendUint(nil, seq), value)
}

// Encode returns the wire form of m.
func (m *MutablePutRequest) Encode() []byte {
	b := append([]byte(nil), m.PublicKey[:]...)
	b = appendUint(b, m.Seq)
	b = appendBuffer(b, m.Value)
	return append(b, m.Signature[:]...)
}

// DecodeMutablePutRequest decodes a MUTABLE_PUT value.
func DecodeMutablePutRequest(b []byte) (*MutablePutRequest, error) {
	d := newDec(b)
	m := &MutablePutRequest{PublicKey: d.fixed32(), Seq: d.uint(), Value: d.buffer(), Signature: d.fixed64()}
	return m, d.done()
}

// Encode returns the wire form of m.
func (m *MutableGetResponse) Encode() []byte {
	b := appendUint(nil, m.Seq)
	b = appendBuffer(b, m.Value)
	return append(b, m.Signature[:]...)
}

// DecodeMutableGetResponse decodes a MUTABLE_GET reply.
func DecodeMutableGetResponse(b []byte) (*MutableGetResponse, error) {
	d := newDec(b)
	m := &MutableGetResponse{Seq: d.uint(), Value: d.buffer(), Signature: d.fixed64()}
	return m, d.done()
}

func decodeUint(b []byte) (uint64, error) {
	d := newDec(b)
	v := d.uint()
	return v, d.done()
}
