package dht

import (
	"context"
	"errors"
	"net/netip"
	"sync"
)

// memNet is an in-memory datagram network for tests: every address on
// 10.0.0.1 with its own port.
type memNet struct {
	mu    sync.Mutex
	conns map[netip.AddrPort]*memConn
	next  uint16
	// drop, if set, decides to lose a datagram.
	drop func(from, to netip.AddrPort) bool
}

func newMemNet() *memNet { return &memNet{conns: map[netip.AddrPort]*memConn{}, next: 10000} }

type memPacket struct {
	b    []byte
	from netip.AddrPort
}

type memConn struct {
	net    *memNet
	addr   netip.AddrPort
	in     chan memPacket
	closed chan struct{}
	once   sync.Once
}

var errMemClosed = errors.New("memnet: closed")

func (m *memNet) listen(a netip.AddrPort) (PacketConn, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	port := a.Port()
	if port == 0 {
		m.next++
		port = m.next
	}
	addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, 0, 1}), port)
	if m.conns[addr] != nil {
		return nil, errors.New("memnet: address in use")
	}
	c := &memConn{net: m, addr: addr, in: make(chan memPacket, 4096), closed: make(chan struct{})}
	m.conns[addr] = c
	return c, nil
}

func (c *memConn) ReadFrom(ctx context.Context) ([]byte, netip.AddrPort, error) {
	select {
	case p := <-c.in:
		return p.b, p.from, nil
	case <-c.closed:
		return nil, netip.AddrPort{}, errMemClosed
	case <-ctx.Done():
		return nil, netip.AddrPort{}, ctx.Err()
	}
}

func (c *memConn) WriteTo(b []byte, to netip.AddrPort) error {
	select {
	case <-c.closed:
		return errMemClosed
	default:
	}
	c.net.mu.Lock()
	dst := c.net.conns[to]
	drop := c.net.drop
	c.net.mu.Unlock()
	if dst == nil || (drop != nil && drop(c.addr, to)) {
		return nil
	}
	select {
	case dst.in <- memPacket{b: append([]byte(nil), b...), from: c.addr}:
	default:
	}
	return nil
}

func (c *memConn) LocalAddr() netip.AddrPort { return c.addr }

func (c *memConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.net.mu.Lock()
		delete(c.net.conns, c.addr)
		c.net.mu.Unlock()
	})
	return nil
}
