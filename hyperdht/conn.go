package hyperdht

import (
	"crypto/ed25519"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/warrenp2p/warren/noise"
	"github.com/warrenp2p/warren/secretstream"
	"github.com/warrenp2p/warren/udx"
)

// rawStream is the UDX stream of a connection being set up: it connects to
// the first address that sends to it (once the remote stream id is known)
// or to the address chosen by the connect logic, whichever comes first.
type rawStream struct {
	stream *udx.Stream

	mu        sync.Mutex
	remoteID  uint32
	known     bool
	early     *udx.Socket
	earlyAddr netip.AddrPort
	done      bool
	connected chan struct{}
	relaySock *udx.Socket    // the connection to a blind relay, whose
	relayAddr netip.AddrPort // packets are not the peer's
}

func (d *DHT) newRawStream() (*rawStream, error) {
	rs := &rawStream{connected: make(chan struct{})}
	s, err := d.newStream(&udx.StreamConfig{Firewall: rs.firewall})
	if err != nil {
		return nil, err
	}
	rs.stream = s
	return rs, nil
}

func (rs *rawStream) firewall(_ *udx.Stream, sock *udx.Socket, from netip.AddrPort) bool {
	rs.mu.Lock()
	if rs.relaySock == sock && rs.relayAddr == from {
		rs.mu.Unlock()
		return false // relay traffic before our pairing finished
	}
	if !rs.known {
		if rs.early == nil {
			rs.early, rs.earlyAddr = sock, from
		}
		rs.mu.Unlock()
		return false
	}
	rs.mu.Unlock()
	return rs.connect(sock, from)
}

// setRemote records the remote stream id; it returns the socket and address
// of a packet that came before, if any.
func (rs *rawStream) setRemote(id uint32) (*udx.Socket, netip.AddrPort) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	rs.remoteID, rs.known = id, true
	return rs.early, rs.earlyAddr
}

// connect connects the stream once; later calls report whether this one won.
func (rs *rawStream) connect(sock *udx.Socket, addr netip.AddrPort) bool {
	rs.mu.Lock()
	if rs.done || !rs.known {
		rs.mu.Unlock()
		return false
	}
	rs.done = true
	id := rs.remoteID
	rs.mu.Unlock()
	if err := rs.stream.Connect(sock, id, addr); err != nil {
		rs.stream.Destroy()
		return false
	}
	close(rs.connected)
	return true
}

// setRelay names the socket and address of the blind relay being paired
// through.
func (rs *rawStream) setRelay(sock *udx.Socket, addr netip.AddrPort) {
	rs.mu.Lock()
	rs.relaySock, rs.relayAddr = sock, addr
	rs.mu.Unlock()
}

// connectTo connects the stream once to remote stream id at addr (a blind
// relay's stream); it reports whether this call won.
func (rs *rawStream) connectTo(sock *udx.Socket, id uint32, addr netip.AddrPort) bool {
	rs.mu.Lock()
	if rs.done {
		rs.mu.Unlock()
		return false
	}
	rs.done = true
	rs.mu.Unlock()
	if err := rs.stream.Connect(sock, id, addr); err != nil {
		rs.stream.Destroy()
		return false
	}
	rs.openRelayPath()
	close(rs.connected)
	return true
}

// relaySettle bounds how long a stream paired through a blind relay waits
// for the peer's first packet before sending.
const relaySettle = 300 * time.Millisecond

// openRelayPath sends an empty UDX message, which connects the relay's
// stream for our side, and waits (up to relaySettle) for a packet from the
// peer, which shows the relay's stream for its side is connected too. A
// relay drops what it cannot forward yet, so data sent before would wait
// for a retransmission timeout. (secret-stream drops empty messages.)
func (rs *rawStream) openRelayPath() {
	_ = rs.stream.SendMessage(nil)
	deadline := time.Now().Add(relaySettle)
	for rs.stream.Stats().PacketsRecv == 0 && time.Now().Before(deadline) {
		select {
		case <-rs.stream.Closed():
			return
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// isDone reports whether the stream was connected or destroyed.
func (rs *rawStream) isDone() bool {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.done
}

func (rs *rawStream) destroy() {
	rs.mu.Lock()
	rs.done = true
	rs.mu.Unlock()
	rs.stream.Destroy()
}

// secure starts the secretstream over the connected stream with the keys of
// the IK handshake.
func secure(s *udx.Stream, initiator bool, res noise.Result, local ed25519.PublicKey, keepAlive time.Duration) (net.Conn, error) {
	return secretstream.FromHandshake(s, secretstream.Handshake{
		Initiator:       initiator,
		Tx:              res.Tx,
		Rx:              res.Rx,
		Hash:            res.Hash,
		PublicKey:       local,
		RemotePublicKey: res.RemoteStatic,
	}, &secretstream.Config{KeepAlive: keepAlive})
}

// localAddresses lists the addresses of this host the server socket is
// reachable at, as hyperdht's holepuncher does.
func (d *DHT) localAddresses() []netip.AddrPort {
	la := d.node.LocalAddr()
	if la.Addr().IsLoopback() || (la.Addr().IsValid() && !la.Addr().IsUnspecified()) {
		return []netip.AddrPort{la}
	}
	var out []netip.AddrPort
	ifs, _ := net.InterfaceAddrs()
	for _, a := range ifs {
		pfx, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := pfx.Addr().Unmap()
		if !ip.Is4() || ip.IsLoopback() {
			continue
		}
		out = append(out, netip.AddrPortFrom(ip, la.Port()))
	}
	if len(out) == 0 {
		out = append(out, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), la.Port()))
	}
	return out
}

// isBogon reports addresses that are not publicly routable: private or
// reserved, with the ranges hyperdht's bogon check uses.
func isBogon(a netip.Addr) bool {
	return !a.IsValid() || isPrivateAddr(a) || isReservedAddr(a)
}

// isPrivateAddr reports IPv4 private-use, carrier-grade NAT, loopback and
// link-local addresses (IPv6 has none in this sense).
func isPrivateAddr(a netip.Addr) bool {
	a = a.Unmap()
	if !a.Is4() {
		return false
	}
	b := a.As4()
	return b[0] == 10 || (b[0] == 100 && b[1]&0xc0 == 64) || b[0] == 127 ||
		(b[0] == 169 && b[1] == 254) || (b[0] == 172 && b[1]&0xf0 == 16) || (b[0] == 192 && b[1] == 168)
}

// reservedPrefixes are the special-purpose ranges that never reach a peer
// on the internet: documentation, benchmarking, protocol assignments,
// multicast, future use, and their IPv6 counterparts.
var reservedPrefixes = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15", "198.51.100.0/24",
		"203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
		"::/127", "::ffff:0:0/96", "::/96", "100::/64", "2001:10::/28", "2001:20::/28",
		"2001:db8::/32", "fc00::/7", "fe80::/10", "ff00::/8",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// isReservedAddr reports special-purpose addresses (see reservedPrefixes).
func isReservedAddr(a netip.Addr) bool {
	for _, p := range reservedPrefixes {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
