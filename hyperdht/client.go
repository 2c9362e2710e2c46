package hyperdht

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/noise"
)

// Connect connects to the server listening on publicKey: it finds the
// server's relays with FIND_PEER, does the Noise IK handshake through one of
// them (PEER_HANDSHAKE), then opens a UDX stream directly to the server and
// returns the secretstream over it.
func (d *DHT) Connect(ctx context.Context, publicKey ed25519.PublicKey) (net.Conn, error) {
	if len(publicKey) != 32 {
		return nil, errors.New("hyperdht: public key must be 32 bytes")
	}
	target := crypto.Hash(publicKey)
	rs, err := d.newRawStream()
	if err != nil {
		return nil, err
	}
	c := &connector{d: d, rs: rs, target: target, remote: publicKey}
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
		UDX: &UDXInfo{Version: 1, ID: uint64(c.rs.stream.ID())}}
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
			lastErr = err
		}
		return conn, final || conn != nil
	}
	// A node that relays for the server itself knows the way.
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
	switch {
	case payload.Version != 1:
		return nil, true, ErrIncompatible
	case payload.Error != ErrCodeNone:
		return nil, true, ErrServerError
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
	switch {
	case earlySock != nil:
		rs.connect(earlySock, earlyAddr)
	case !relayed:
		rs.connect(sock, addr)
	case payload.Firewall == FirewallOpen || !holepunchable:
		to := serverAddr
		for _, a := range payload.Addresses4 {
			if !isBogon(a.Addr()) {
				to = a
				break
			}
		}
		rs.connect(sock, to)
	case c.fw == FirewallOpen:
		// The server connects to us.
	case clientAddr.Addr() == serverAddr.Addr():
		// Same host: the address the relay saw is the server's own socket,
		// no punching is needed (hyperdht would punch here and, across
		// processes on one host, can time out).
		rs.connect(sock, serverAddr)
	default:
		return nil, true, ErrCannotHolepunch
	}
	t := time.NewTimer(handshakeTimeout)
	defer t.Stop()
	select {
	case <-rs.connected:
	case <-t.C:
		return nil, true, ErrConnectFailed
	case <-ctx.Done():
		return nil, true, ctx.Err()
	}
	conn, err := secure(rs.stream, true, result, d.kp.PublicKey)
	return conn, true, err
}
