package hyperdht

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/noise"
	"github.com/warrenp2p/warren/udx"
)

// Connect connects to the server listening on publicKey: it finds the
// server's relays with FIND_PEER, does the Noise IK handshake through one of
// them (PEER_HANDSHAKE), then opens a UDX stream directly to the server and
// returns the secretstream over it.
func (d *DHT) Connect(ctx context.Context, publicKey ed25519.PublicKey) (net.Conn, error) {
	return d.ConnectWith(ctx, publicKey, nil)
}

// ConnectWith is Connect with options: a blind relay to fall back on when
// the peers cannot reach each other without hole punching, and no local
// shortcuts. opts may be nil.
func (d *DHT) ConnectWith(ctx context.Context, publicKey ed25519.PublicKey, opts *ConnectOptions) (net.Conn, error) {
	var o ConnectOptions
	if opts != nil {
		o = *opts
	}
	if len(publicKey) != 32 {
		return nil, errors.New("hyperdht: public key must be 32 bytes")
	}
	target := crypto.Hash(publicKey)
	rs, err := d.newRawStream()
	if err != nil {
		return nil, err
	}
	c := &connector{d: d, rs: rs, target: target, remote: publicKey, noLocal: o.NoLocalConnection, holepunchFilter: o.Holepunch, noFastOpen: o.NoFastOpen,
		relay: newRelayPlan(pickRelay(o.RelayThrough, d.relayThrough)), nodes: o.RelayAddresses}
	conn, err := c.run(ctx)
	if err != nil {
		rs.destroy()
		return nil, err
	}
	return conn, nil
}

type connector struct {
	d      *DHT
	rs     *rawStream
	target [32]byte
	remote ed25519.PublicKey
	hs     *noise.Handshake
	msg    []byte
	fw     uint64

	noLocal         bool
	holepunchFilter func(remoteFirewall, localFirewall uint64) bool
	noFastOpen      bool
	relay           *relayPlan       // our own relay choice, nil for none
	path            string           // how the connection was made, for logs
	nodes           []netip.AddrPort // DHT nodes to try before a query
	remoteRelays    []netip.AddrPort // the server's relay addresses, from its payload
}

func (c *connector) run(ctx context.Context) (net.Conn, error) {
	d := c.d
	hs, err := noise.New(noise.Config{Pattern: noise.IK, Initiator: true, StaticKey: d.kp.SecretKey, RemoteStatic: c.remote, Prologue: NSPeerHandshake[:]})
	if err != nil {
		return nil, err
	}
	c.hs = hs
	var addrs []netip.AddrPort
	if a := d.node.RemoteAddr(); a.IsValid() {
		addrs = append(addrs, a)
		c.fw = FirewallOpen
	}
	addrs = append(addrs, d.localAddresses()...)
	p := &NoisePayload{Version: 1, Firewall: c.fw, Addresses4: addrs, SecretStream: true,
		UDX: &UDXInfo{Version: 1, ID: uint64(c.rs.stream.ID())}, RelayThrough: c.relay.info()}
	if c.msg, err = hs.WriteMessage(p.Encode()); err != nil {
		return nil, err
	}

	tried := map[netip.AddrPort]bool{}
	var lastErr error
	try := func(addr netip.AddrPort) (net.Conn, bool) {
		if tried[addr] {
			return nil, false
		}
		tried[addr] = true
		conn, final, err := c.through(ctx, addr)
		if err != nil {
			c.d.log.Debug("hyperdht: connect through node failed", "node", addr, "err", err)
			lastErr = err
		}
		if conn != nil {
			lastErr = nil
			// Remember the way for the next time, the server's own
			// view of its relays first, as hyperdht does.
			via := c.remoteRelays
			if len(via) == 0 {
				via = []netip.AddrPort{addr}
			}
			d.cacheRelayAddresses(c.target, via)
		}
		return conn, final || conn != nil
	}
	// Nodes named by the caller or that led to this server before, then a
	// node that relays for the server itself, know the way.
	nodes := c.nodes
	if len(nodes) == 0 {
		nodes = d.cachedRelayAddresses(c.target)
	}
	for _, a := range nodes {
		if conn, final := try(a); final {
			return conn, lastErr
		}
	}
	if r, ok := d.routes.get(c.target); ok && r.server == nil {
		if conn, final := try(r.relay); final {
			return conn, lastErr
		}
	}
	for attempt := 0; attempt < 2; attempt++ {
		q := d.node.Query(ctx, c.target, CmdFindPeer, nil, nil)
		for r := range q.Replies(ctx) {
			if len(r.Value) == 0 {
				continue
			}
			if conn, final := try(r.From); final {
				q.Close()
				return conn, lastErr
			}
		}
		q.Close()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if lastErr != nil {
		return nil, errors.Join(ErrConnectFailed, lastErr)
	}
	if len(tried) > 0 {
		return nil, ErrConnectFailed
	}
	return nil, ErrPeerNotFound
}

// through does the handshake through the node at addr. final is true when
// the handshake state is used up (success or a definite answer).
func (c *connector) through(ctx context.Context, addr netip.AddrPort) (net.Conn, bool, error) {
	d := c.d
	res, err := d.node.Request(ctx, addr, CmdPeerHandshake,
		(&Handshake{Mode: ModeFromClient, Noise: c.msg}).Encode(), &dht.RequestOptions{Target: &c.target})
	if err != nil {
		return nil, false, err
	}
	hs, err := DecodeHandshake(res.Value)
	if err != nil || hs.Mode != ModeReply || res.From != addr || hs.Noise == nil {
		mode := -1
		if hs != nil {
			mode = int(hs.Mode)
		}
		// An empty value is a node that knows no route to the server
		// (it left, or moved to other relays): hyperdht answers so.
		d.log.Debug("hyperdht: bad handshake reply", "node", addr, "from", res.From, "empty", len(res.Value) == 0, "mode", mode, "err", err)
		return nil, false, errors.New("hyperdht: bad handshake reply")
	}
	relayed := hs.PeerAddress != nil
	serverAddr := addr
	if relayed {
		serverAddr = *hs.PeerAddress
	}
	clientAddr := res.To
	pl, err := c.hs.ReadMessage(hs.Noise)
	if err != nil {
		return nil, true, err
	}
	payload, err := DecodeNoisePayload(pl)
	if err != nil {
		return nil, true, err
	}
	c.remoteRelays = payload.RelayAddresses
	switch {
	case payload.Version != 1:
		return nil, true, ErrIncompatible
	case payload.Error != ErrCodeNone:
		return nil, true, &ServerError{Code: payload.Error}
	case payload.UDX == nil:
		return nil, true, ErrServerError
	}
	result, err := c.hs.Result()
	if err != nil {
		return nil, true, err
	}
	rs := c.rs
	earlySock, earlyAddr := rs.setRemote(uint32(payload.UDX.ID))
	sock, err := d.socket()
	if err != nil {
		return nil, true, err
	}
	holepunchable := payload.Holepunch != nil && len(payload.Holepunch.Relays) > 0
	wait := handshakeTimeout
	relay := plan(false, c.relay, payload.RelayThrough)
	var relayErr chan error
	var punch *puncher // punching in the background, if any
	var lan netip.AddrPort
	d.log.Debug("hyperdht: handshake done", "relayed", relayed, "server", serverAddr, "client", clientAddr,
		"serverFirewall", payload.Firewall, "holepunchable", holepunchable, "addresses", payload.Addresses4)
	switch {
	case earlySock != nil:
		rs.connect(earlySock, earlyAddr)
	case !relayed:
		rs.connect(sock, addr)
	case payload.Firewall == FirewallOpen || (!holepunchable && relay == nil):
		// The server's first public address, else the one the relay saw.
		// On one host over loopback the server opens its stream to our
		// loopback address and answers only from there, so its other
		// (LAN or public) addresses would lead nowhere; and a reachable
		// server there is dialled at the address it names first, its own
		// DHT socket: it may have answered the relay from another socket
		// (a hyperdht node whose firewall check just passed replies from
		// its client socket) while it opens its side of the stream, to a
		// reachable client, from the DHT socket.
		to := serverAddr
		if clientAddr.Addr() == serverAddr.Addr() && serverAddr.Addr().IsLoopback() {
			if payload.Firewall == FirewallOpen && len(payload.Addresses4) > 0 && payload.Addresses4[0].Addr().IsLoopback() {
				to = payload.Addresses4[0]
			}
		} else {
			for _, a := range payload.Addresses4 {
				if !isBogon(a.Addr()) {
					to = a
					break
				}
			}
		}
		rs.connect(sock, to)
	case c.fw == FirewallOpen:
		// The server connects to us.
	case !c.noLocal && clientAddr.Addr() == serverAddr.Addr() && serverAddr.Addr().IsLoopback():
		// Same host over loopback: the address the relay saw is the
		// server's own socket, no punching is needed.
		rs.connect(sock, serverAddr)
	case !c.noLocal && clientAddr.Addr() == serverAddr.Addr() && c.lanAddress(ctx, payload.Addresses4, serverAddr, &lan):
		// Behind the same NAT (or on one host behind it): the server's
		// local address answered a ping. The NAT's public address would
		// need hairpinning, which many NATs lack.
		rs.connect(sock, lan)
	case !holepunchable && relay != nil:
		// No hole punching possible, but a blind relay is named.
		if relayErr = c.startRelay(ctx, relay); relayErr == nil {
			return nil, true, ErrClosed
		}
		wait = relayWait + handshakeTimeout
	case !holepunchable:
		return nil, true, ErrCannotHolepunch
	default:
		p, err := c.holepunch(ctx, addr, serverAddr, payload, result)
		if err != nil && p != nil && p.isConnected() {
			err = nil // a punch came through all the same (fast mode)
		}
		if err != nil && relay != nil && ctx.Err() == nil {
			// Fall back on the blind relay: the server pairs once it
			// sees our abort round (or its own punch fail).
			if p != nil {
				p.release()
			}
			d.log.Debug("hyperdht: hole punching failed, falling back on the blind relay", "err", err)
			if relayErr = c.startRelay(ctx, relay); relayErr == nil {
				return nil, true, ErrClosed
			}
			wait = relayWait + handshakeTimeout
			break
		}
		if err != nil {
			if p != nil {
				p.release()
			}
			return nil, true, err
		}
		c.path = "holepunch"
		punch = p
		defer func() {
			// The stream may run on one of the puncher's sockets: keep
			// that one until the stream ends.
			select {
			case <-rs.connected:
				d.retirePuncher(p, rs.stream)
			default:
				p.release()
			}
		}()
		if p.isPunching() {
			wait = randomPunchWait
		}
	}
	t := time.NewTimer(wait)
	defer t.Stop()
wait:
	select {
	case <-rs.connected:
	case err := <-relayErr:
		if err != nil {
			select {
			case <-rs.connected: // another way won
			default:
				return nil, true, err
			}
		}
	case <-t.C:
		if relay != nil && relayErr == nil {
			// Punching ran out of time: stop it and try the relay.
			if punch != nil {
				punch.stop()
			}
			if relayErr = c.startRelay(ctx, relay); relayErr == nil {
				return nil, true, ErrClosed
			}
			t.Reset(relayWait + handshakeTimeout)
			goto wait
		}
		return nil, true, ErrConnectFailed
	case <-ctx.Done():
		return nil, true, ctx.Err()
	}
	if c.path == "" {
		c.path = "direct"
	}
	d.log.Debug("hyperdht: connected", "path", c.path, "remote", rs.stream.RemoteAddrPort())
	conn, err := secure(rs.stream, true, result, d.kp.PublicKey, d.keepAlive)
	return conn, true, err
}

// startRelay pairs through the blind relay on a goroutine; the returned
// channel has its result (nil if the DHT is closed).
func (c *connector) startRelay(ctx context.Context, relay *relayPlan) chan error {
	d := c.d
	d.log.Debug("hyperdht: connecting through blind relay", "relay", fmt.Sprintf("%x", relay.publicKey), "initiator", relay.initiator)
	ch := make(chan error, 1)
	if !d.goOwned(func() { ch <- d.pairThroughRelay(ctx, c.rs, relay) }) {
		return nil
	}
	c.path = "relay"
	return ch
}

// holepunch runs the probe and punch rounds through the relays with the
// server (consistent NATs on both sides; random NATs are refused).
func (c *connector) holepunch(ctx context.Context, clientRelay, serverAddr netip.AddrPort, payload *NoisePayload, result noise.Result) (*puncher, error) {
	d := c.d
	rs := c.rs
	p, err := d.newPuncher(true, payload.Firewall, func(sock *udx.Socket, addr netip.AddrPort) { rs.connect(sock, addr) })
	if err != nil {
		return nil, err
	}
	sp := newSecurePayload(result.Hash[:])
	relay := payload.Holepunch.Relays[0]
	for _, r := range payload.Holepunch.Relays {
		if r.RelayAddress == clientRelay {
			relay = r
			break
		}
	}
	id := payload.Holepunch.ID
	var round uint64

	// update sends one round to the server through relayAddr.
	update := func(peer, relayAddr netip.AddrPort, out *HolepunchPayload) (*HolepunchPayload, *dht.Response, netip.AddrPort, error) {
		if out.Addresses == nil {
			out.Addresses = nil
		}
		msg := (&Holepunch{Mode: ModeFromClient, ID: id, Payload: sp.encrypt(out), PeerAddress: &peer}).Encode()
		res, err := d.node.Request(ctx, relayAddr, CmdPeerHolepunch, msg, &dht.RequestOptions{Target: &c.target, Conn: p.conn})
		if err != nil {
			return nil, nil, netip.AddrPort{}, err
		}
		hp, err := DecodeHolepunch(res.Value)
		if err != nil || hp.Mode != ModeReply || res.From != relayAddr {
			return nil, nil, netip.AddrPort{}, ErrHolepunchInvalid
		}
		in, err := sp.decrypt(hp.Payload)
		if err != nil {
			return nil, nil, netip.AddrPort{}, ErrHolepunchInvalid
		}
		if in.Error != ErrCodeNone {
			return nil, nil, netip.AddrPort{}, ErrRemoteAborted
		}
		var verified netip.Addr
		if in.RemoteToken != nil && out.Token != nil && *in.RemoteToken == *out.Token {
			verified = peer.Addr()
		}
		p.updateRemote(in.Punching, in.Firewall, in.Addresses, verified)
		peerAddr := res.From
		if hp.PeerAddress != nil {
			peerAddr = *hp.PeerAddress
		}
		return in, res, peerAddr, nil
	}

	// abort tells the server we give up (it stops punching and, with a
	// blind relay named, pairs through it), then returns err.
	abort := func(err error) (*puncher, error) {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		msg := (&Holepunch{Mode: ModeFromClient, ID: id, Payload: sp.encrypt(&HolepunchPayload{Error: ErrCodeAborted, Round: round}), PeerAddress: &relay.PeerAddress}).Encode()
		_, _ = d.node.Request(actx, relay.RelayAddress, CmdPeerHolepunch, msg, &dht.RequestOptions{Target: &c.target, Conn: p.conn})
		return p, err
	}

	// Probe rounds: tell the server what our NAT looks like and learn its.
	var token *[32]byte
	var peerAddr netip.AddrPort
	for retry := true; ; retry = false {
		if !c.noFastOpen {
			p.send(serverAddr, true)
		}
		fw, addrs := p.nat.state()
		out := &HolepunchPayload{Firewall: fw, Round: round, Addresses: addrs}
		if !c.noFastOpen {
			out.RemoteAddress = &serverAddr
		}
		in, res, pa, err := update(relay.PeerAddress, relay.RelayAddress, out)
		round++
		if err != nil {
			return p, err
		}
		p.nat.add(res.To, res.From)
		p.mu.Lock()
		rf := p.remoteFirewall
		p.mu.Unlock()
		if rf == FirewallUnknown && !p.sleep(time.Second) {
			return p, ErrClosed
		}
		actx, cancel := context.WithTimeout(ctx, handshakeTimeout)
		p.analyze(actx)
		cancel()
		token, peerAddr = in.Token, pa
		p.mu.Lock()
		rf = p.remoteFirewall
		p.mu.Unlock()
		if (rf == FirewallUnknown || token == nil) && retry {
			continue
		}
		fw, _ = p.nat.state()
		if rf == FirewallUnknown || fw == FirewallUnknown {
			return abort(ErrHolepunchProbeTimeout)
		}
		if rf >= FirewallRandom && fw >= FirewallRandom {
			return abort(ErrDoubleRandomNAT)
		}
		if c.holepunchFilter != nil && !c.holepunchFilter(rf, fw) {
			return abort(ErrHolepunchDeclined)
		}
		d.log.Debug("hyperdht: probe done", "firewall", fw, "remoteFirewall", rf, "peer", pa, "token", token != nil)
		break
	}
	if p.isConnected() {
		return p, nil // the server's fast-mode punch already came through
	}
	if relay.RelayAddress == clientRelay && peerAddr != serverAddr {
		serverAddr = peerAddr
		p.send(serverAddr, true)
	}

	// Punch round: both sides start punching.
	p.nat.freeze()
	fw, addrs := p.nat.state()
	p.mu.Lock()
	random := fw >= FirewallRandom || p.remoteFirewall >= FirewallRandom
	p.mu.Unlock()
	if random && !d.randomPunchAllowed() {
		return abort(ErrTryLater)
	}
	if _, _, _, err := update(serverAddr, clientRelay, &HolepunchPayload{Firewall: fw, Round: round, Punching: true,
		Addresses: addrs, Token: sp.token(serverAddr), RemoteToken: token}); err != nil {
		return p, err
	}
	p.mu.Lock()
	remotePunching := p.remoteHolepunching
	p.mu.Unlock()
	if p.isConnected() {
		return p, nil
	}
	if !remotePunching {
		return abort(ErrRemoteNotPunching)
	}
	if !p.punch() && !p.isConnected() {
		return abort(ErrCannotHolepunch)
	}
	p.mu.Lock()
	d.log.Debug("hyperdht: punching", "server", serverAddr, "remote", p.remoteAddrs)
	p.mu.Unlock()
	return p, nil
}

// lanAddress pings the server's local addresses (those sharing a /24 with
// ours first) and stores the first that answers in out.
func (c *connector) lanAddress(ctx context.Context, addrs []netip.AddrPort, relaySeen netip.AddrPort, out *netip.AddrPort) bool {
	mine := c.d.localAddresses()
	near := func(a netip.AddrPort) bool {
		for _, m := range mine {
			if a.Addr().Is4() && m.Addr().Is4() {
				x, y := a.Addr().As4(), m.Addr().As4()
				if x[0] == y[0] && x[1] == y[1] && x[2] == y[2] {
					return true
				}
			}
		}
		return false
	}
	var cands []netip.AddrPort
	for _, pass := range []bool{true, false} {
		for _, a := range addrs {
			if a != relaySeen && a.Port() != 0 && !a.Addr().IsUnspecified() && !isReservedAddr(a.Addr()) && near(a) == pass {
				cands = append(cands, a)
			}
		}
	}
	if len(cands) > 3 {
		cands = cands[:3]
	}
	zero := 0
	for _, a := range cands {
		if _, err := c.d.node.Request(ctx, a, dht.CmdPing, nil, &dht.RequestOptions{Internal: true, Retries: &zero, Timeout: 500 * time.Millisecond}); err == nil {
			*out = a
			return true
		}
	}
	return false
}

// maxRelayAddressCache bounds the servers whose relay addresses Connect
// remembers.
const maxRelayAddressCache = 1024

// cacheRelayAddresses remembers up to three nodes that lead to target.
func (d *DHT) cacheRelayAddresses(target [32]byte, addrs []netip.AddrPort) {
	if len(addrs) > 3 {
		addrs = addrs[:3]
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.relayAddrs == nil {
		d.relayAddrs = map[[32]byte][]netip.AddrPort{}
	}
	if _, ok := d.relayAddrs[target]; !ok && len(d.relayAddrs) >= maxRelayAddressCache {
		for k := range d.relayAddrs {
			delete(d.relayAddrs, k) // any one: a map's order is random
			break
		}
	}
	d.relayAddrs[target] = append([]netip.AddrPort(nil), addrs...)
}

func (d *DHT) cachedRelayAddresses(target [32]byte) []netip.AddrPort {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.relayAddrs[target]
}
