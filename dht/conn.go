package dht

import (
	"context"
	"net/netip"

	"github.com/warrenp2p/warren/udx"
)

// PacketConn is the datagram transport a Node runs on: one UDP socket in
// production (a UDXConn), anything that moves datagrams in tests.
type PacketConn interface {
	// ReadFrom waits for the next datagram. The returned slice is owned by
	// the caller.
	ReadFrom(ctx context.Context) ([]byte, netip.AddrPort, error)
	// WriteTo sends one datagram.
	WriteTo(b []byte, to netip.AddrPort) error
	// LocalAddr is the bound address.
	LocalAddr() netip.AddrPort
	// Close releases the socket and makes ReadFrom return an error.
	Close() error
}

// TTLWriter is implemented by transports that can send one datagram with
// a given IP TTL (hole punching uses low TTLs).
type TTLWriter interface {
	SendTTL(b []byte, to netip.AddrPort, ttl int) error
}

// HandlerConn is implemented by transports that can hand each received
// datagram to a function on their own receive goroutine (UDXConn does). A
// Node sets one on such sockets instead of running a goroutine of its own
// that loops on ReadFrom: in a process with many nodes that goroutine's
// stack is a good part of a node's memory. The handler owns b; it does not
// block.
type HandlerConn interface {
	SetDatagramHandler(h func(b []byte, from netip.AddrPort))
}

// UDXConn adapts a *udx.Socket to PacketConn. Socket stays reachable so
// that UDX streams can share the port, as hyperdht does.
type UDXConn struct {
	*udx.Socket
}

// ReadFrom implements PacketConn.
func (c UDXConn) ReadFrom(ctx context.Context) ([]byte, netip.AddrPort, error) {
	d, err := c.Socket.ReadFrom(ctx)
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	return d.Data, d.From, nil
}

// SetDatagramHandler implements HandlerConn with udx.Socket.SetHandler;
// nil goes back to ReadFrom.
func (c UDXConn) SetDatagramHandler(h func(b []byte, from netip.AddrPort)) {
	if h == nil {
		c.Socket.SetHandler(nil)
		return
	}
	c.Socket.SetHandler(func(d udx.Datagram) { h(d.Data, d.From) })
}

// ListenUDX opens a UDX socket of its own UDX instance on an IPv4 address.
func ListenUDX(addr netip.AddrPort) (PacketConn, error) {
	s, err := udx.Listen("udp4", addr.String())
	if err != nil {
		return nil, err
	}
	return UDXConn{s}, nil
}

func writeTTL(c PacketConn, b []byte, to netip.AddrPort, ttl int) error {
	if ttl > 0 {
		if t, ok := c.(TTLWriter); ok {
			return t.SendTTL(b, to, ttl)
		}
	}
	return c.WriteTo(b, to)
}
