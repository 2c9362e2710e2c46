package netlab

import (
	"encoding/binary"
)

// virtio-net header fields used here (struct virtio_net_hdr, little-endian
// on the hosts this runs on).
const (
	vnetGSOUDPL4 = 5 // VIRTIO_NET_HDR_GSO_UDP_L4
	vnetGSOECN   = 0x80
)

// splitUDPGSO splits a UDP GSO frame (a batch sent with UDP_SEGMENT) into
// one frame per datagram with complete checksums, so impairments act on
// datagrams as they would on a wire. Anything else, or a frame it cannot
// parse, comes back unchanged as the only element.
func splitUDPGSO(frame []byte) [][]byte {
	if len(frame) < vnetHdrLen+14 || frame[1]&^vnetGSOECN != vnetGSOUDPL4 {
		return [][]byte{frame}
	}
	gsoSize := int(binary.LittleEndian.Uint16(frame[4:6]))
	pkt := frame[vnetHdrLen:]
	var ipLen int
	v6 := false
	switch binary.BigEndian.Uint16(pkt[12:14]) {
	case 0x0800:
		if len(pkt) < 14+20 || pkt[14]>>4 != 4 || pkt[14+9] != 17 {
			return [][]byte{frame}
		}
		ipLen = int(pkt[14]&0x0f) * 4
	case 0x86dd:
		if len(pkt) < 14+40 || pkt[14+6] != 17 {
			return [][]byte{frame}
		}
		ipLen, v6 = 40, true
	default:
		return [][]byte{frame}
	}
	hdrs := 14 + ipLen + 8
	if ipLen < 20 || len(pkt) <= hdrs || gsoSize <= 0 {
		return [][]byte{frame}
	}
	payload := pkt[hdrs:]
	out := make([][]byte, 0, (len(payload)+gsoSize-1)/gsoSize)
	for i := 0; len(payload) > 0; i++ {
		n := min(gsoSize, len(payload))
		seg := make([]byte, vnetHdrLen+hdrs+n) // zero virtio header: nothing left to offload
		copy(seg[vnetHdrLen:], pkt[:hdrs])
		copy(seg[vnetHdrLen+hdrs:], payload[:n])
		payload = payload[n:]
		p := seg[vnetHdrLen:]
		ip := p[14 : 14+ipLen]
		udp := p[14+ipLen:]
		udpLen := 8 + n
		binary.BigEndian.PutUint16(udp[4:6], uint16(udpLen))
		binary.BigEndian.PutUint16(udp[6:8], 0)
		var sum uint32
		if v6 {
			binary.BigEndian.PutUint16(ip[4:6], uint16(udpLen))
			sum = sumBytes(ip[8:40], 0) // source and destination
		} else {
			binary.BigEndian.PutUint16(ip[2:4], uint16(ipLen+udpLen))
			id := binary.BigEndian.Uint16(ip[4:6])
			binary.BigEndian.PutUint16(ip[4:6], id+uint16(i))
			binary.BigEndian.PutUint16(ip[10:12], 0)
			binary.BigEndian.PutUint16(ip[10:12], ^fold(sumBytes(ip, 0)))
			sum = sumBytes(ip[12:20], 0)
		}
		sum += 17 + uint32(udpLen)
		c := ^fold(sumBytes(udp[:udpLen], sum))
		if c == 0 {
			c = 0xffff
		}
		binary.BigEndian.PutUint16(udp[6:8], c)
		out = append(out, seg)
	}
	return out
}

// sumBytes adds b as big-endian 16-bit words to sum (one's complement,
// unfolded).
func sumBytes(b []byte, sum uint32) uint32 {
	for len(b) >= 2 {
		sum += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint32(b[0]) << 8
	}
	return sum
}

// fold folds a one's complement sum to 16 bits.
func fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	return uint16(sum)
}
