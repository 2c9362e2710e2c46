package udx

import (
	"net"
	"net/netip"
)

// maxDatagram is the largest UDP payload the socket reads in one message
// (without GRO).
const maxDatagram = 2048

// message is one datagram in a batch.
type message struct {
	buf  []byte         // the datagram (read: capacity to fill, n bytes valid)
	n    int            // bytes read
	addr netip.AddrPort // source (read) or destination (write)
	seg  int            // read: GRO segment size when several datagrams were coalesced
}

// batchConn is the packet I/O the socket runs on: a UDP socket, with
// recvmmsg/sendmmsg where the platform has them, or a test shim.
type batchConn interface {
	readBatch(ms []message) (int, error)
	writeBatch(ms []message) error
	localAddr() netip.AddrPort
	setTTL(ttl int) error
	ttl() (int, error)
	close() error
}

// plainConn does one syscall per datagram (portable fallback).
type plainConn struct {
	c  *net.UDPConn
	v6 bool
}

func (p *plainConn) readBatch(ms []message) (int, error) {
	n, addr, err := p.c.ReadFromUDPAddrPort(ms[0].buf[:cap(ms[0].buf)])
	if err != nil {
		return 0, err
	}
	ms[0].n, ms[0].addr, ms[0].seg = n, unmapAddr(addr), 0
	return 1, nil
}

func (p *plainConn) writeBatch(ms []message) error {
	var first error
	for i := range ms {
		if _, err := p.c.WriteToUDPAddrPort(ms[i].buf, p.dest(ms[i].addr)); err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (p *plainConn) dest(a netip.AddrPort) netip.AddrPort {
	if p.v6 && a.Addr().Is4() {
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr().As16()), a.Port())
	}
	return a
}

func (p *plainConn) localAddr() netip.AddrPort {
	return p.c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func (p *plainConn) close() error { return p.c.Close() }

func unmapAddr(a netip.AddrPort) netip.AddrPort {
	if a.Addr().Is4In6() {
		return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	}
	return a
}
