package compact

import (
	"encoding/binary"
	"net/netip"
)

// Codecs of compact-encoding-net (and the identical ones built into
// compact-encoding 3.x, which dht-rpc and hyperdht use), over net/netip.
//
// Layouts, all without length prefixes:
//
//	IPv4        4 address bytes in network order
//	IPv6        16 address bytes in network order
//	IP          family byte (4 or 6) then IPv4 or IPv6
//	IPv4Address IPv4 then the port as a little-endian uint16
//	IPv6Address IPv6 then the port as a little-endian uint16
//	IPAddress   IP then the port as a little-endian uint16
//
// Note the port is little endian, unlike the address bytes.
//
// The JS codecs take host strings and parse them without validation: a host
// name such as "example.com" is silently turned into garbage bytes, so only
// IP literals are meaningful on the wire. Go takes netip values, which
// cannot hold host names; resolve names before encoding. Zones ("%eth0")
// are not part of the layout and are dropped.
//
// Like compact-encoding-net, the zero (invalid) netip.Addr encodes as
// 127.0.0.1 with IPv4 and IP, and as ::1 with IPv6.
//
// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d): IPv4 accepts them and writes
// the IPv4 bytes; IPv6 and IP write them as 16-byte IPv6 (IP with family
// 6, as JS picks family 6 for any host containing ':'); they decode as
// IPv6 addresses, not unmapped (call Unmap if wanted). IPv6 given a plain
// IPv4 address writes its mapped form. IPv4 given any other IPv6 address
// writes 0.0.0.0 and records ErrInvalid in State.Err.
//
// Decoding IP (and IPAddress) rejects a family byte other than 4 or 6 with
// ErrInvalid, where JS reads anything but 4 as IPv6.
var (
	IPv4 Codec[netip.Addr] = ipv4Codec{}
	IPv6 Codec[netip.Addr] = ipv6Codec{}
	IP   Codec[netip.Addr] = ipCodec{}

	IPv4Address Codec[netip.AddrPort] = addrPort{IPv4}
	IPv6Address Codec[netip.AddrPort] = addrPort{IPv6}
	IPAddress   Codec[netip.AddrPort] = addrPort{IP}

	IPv4AddressArray = Array(IPv4Address)
	IPv6AddressArray = Array(IPv6Address)
)

var (
	localhost4 = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	localhost6 = netip.IPv6Loopback()
)

type ipv4Codec struct{}

func (ipv4Codec) Preencode(s *State, a netip.Addr) { s.End += 4 }
func (ipv4Codec) Encode(s *State, a netip.Addr) {
	if !a.IsValid() {
		a = localhost4
	}
	a = a.Unmap()
	var b [4]byte
	if a.Is4() {
		b = a.As4()
	} else {
		s.Fail(ErrInvalid)
	}
	s.Start += copy(s.Buf[s.Start:s.Start+4], b[:])
}
func (ipv4Codec) Decode(s *State) (netip.Addr, error) {
	var b [4]byte
	if err := readArray(s, b[:]); err != nil {
		return netip.Addr{}, err
	}
	return netip.AddrFrom4(b), nil
}

type ipv6Codec struct{}

func (ipv6Codec) Preencode(s *State, a netip.Addr) { s.End += 16 }
func (ipv6Codec) Encode(s *State, a netip.Addr) {
	if !a.IsValid() {
		a = localhost6
	}
	b := a.As16()
	s.Start += copy(s.Buf[s.Start:s.Start+16], b[:])
}
func (ipv6Codec) Decode(s *State) (netip.Addr, error) {
	var b [16]byte
	if err := readArray(s, b[:]); err != nil {
		return netip.Addr{}, err
	}
	return netip.AddrFrom16(b), nil
}

type ipCodec struct{}

func (ipCodec) Preencode(s *State, a netip.Addr) {
	if !a.IsValid() || a.Is4() {
		s.End += 5
	} else {
		s.End += 17
	}
}
func (ipCodec) Encode(s *State, a netip.Addr) {
	if !a.IsValid() || a.Is4() {
		s.Buf[s.Start] = 4
		s.Start++
		ipv4Codec{}.Encode(s, a)
		return
	}
	s.Buf[s.Start] = 6
	s.Start++
	ipv6Codec{}.Encode(s, a)
}
func (ipCodec) Decode(s *State) (netip.Addr, error) {
	if s.Start < 0 || s.Start >= s.End || s.End > len(s.Buf) {
		return netip.Addr{}, ErrTruncated
	}
	f := s.Buf[s.Start]
	s.Start++
	switch f {
	case 4:
		return ipv4Codec{}.Decode(s)
	case 6:
		return ipv6Codec{}.Decode(s)
	}
	return netip.Addr{}, ErrInvalid
}

type addrPort struct{ host Codec[netip.Addr] }

func (c addrPort) Preencode(s *State, a netip.AddrPort) {
	c.host.Preencode(s, a.Addr())
	s.End += 2
}
func (c addrPort) Encode(s *State, a netip.AddrPort) {
	c.host.Encode(s, a.Addr())
	binary.LittleEndian.PutUint16(s.Buf[s.Start:s.Start+2], a.Port())
	s.Start += 2
}
func (c addrPort) Decode(s *State) (netip.AddrPort, error) {
	a, err := c.host.Decode(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	p, err := uintN[uint16]{2}.Decode(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	return netip.AddrPortFrom(a, p), nil
}
