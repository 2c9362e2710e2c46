package hyperdht

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/noise"
	"github.com/warrenp2p/warren/secretstream"
	"github.com/warrenp2p/warren/udx"
)

const (
	handshakeTimeout     = 10 * time.Second // a handshake's stream must connect by then
	handshakeClearWait   = 10 * time.Second // repeated handshakes get the same reply
	maxPendingHandshakes = 1024             // handshakes remembered per server at a time
	randomPunchWait      = 40 * time.Second // random-NAT punching runs about 35 s
	announceInterval     = 5 * time.Minute
	announceRetry        = 10 * time.Second
)

// Firewall decides about an incoming connection: a non-nil error rejects
// it. It sees the client's public key and its handshake payload. A plain
// error drops the handshake unanswered, as hyperdht's servers do (the
// client cannot tell a refusal from a server gone, and gives up after its
// timeouts); an error wrapping ErrRejected answers with ErrCodeAborted, so
// the client fails at once with ErrRejected.
type Firewall func(remotePublicKey ed25519.PublicKey, payload *NoisePayload) error

// Server accepts connections to a key pair. Its Accept returns them as
// net.Conn (secretstream connections over UDX streams).
type Server struct {
	d        *DHT
	kp       crypto.KeyPair
	target   [32]byte
	firewall Firewall
	conns    chan net.Conn

	relayThrough func() ed25519.PublicKey
	noLocal      bool

	mu             sync.Mutex
	closed         bool
	connects       map[string]*pendingHandshake
	punches        map[uint64]*serverPunch
	nextPunch      uint64
	relays         []RelayInfo
	relayAddresses []netip.AddrPort
	announced      []netip.AddrPort

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type pendingHandshake struct {
	done  chan struct{}
	reply []byte
	sock  dht.PacketConn
}

// Listen starts a server for kp: it announces kp's public key to the nodes
// closest to its hash (refreshed every few minutes) and answers handshakes.
// firewall may be nil to accept everyone.
func (d *DHT) Listen(ctx context.Context, kp crypto.KeyPair, firewall Firewall) (*Server, error) {
	return d.ListenWith(ctx, kp, &ListenOptions{Firewall: firewall})
}

// ListenWith is Listen with options: a blind relay to pair through with
// clients that cannot reach the server without hole punching, and no
// local shortcut. opts may be nil.
func (d *DHT) ListenWith(ctx context.Context, kp crypto.KeyPair, opts *ListenOptions) (*Server, error) {
	var o ListenOptions
	if opts != nil {
		o = *opts
	}
	target := crypto.Hash(kp.PublicKey)
	sctx, cancel := context.WithCancel(d.ctx)
	s := &Server{
		d: d, kp: kp, target: target, firewall: o.Firewall,
		relayThrough: o.RelayThrough, noLocal: o.NoLocalConnection,
		conns:    make(chan net.Conn, 64),
		connects: map[string]*pendingHandshake{},
		punches:  map[uint64]*serverPunch{},
		ctx:      sctx, cancel: cancel,
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		cancel()
		return nil, ErrClosed
	}
	if _, ok := d.servers[target]; ok {
		d.mu.Unlock()
		cancel()
		return nil, ErrAlreadyListening
	}
	d.servers[target] = s
	d.mu.Unlock()
	d.routes.set(target, &route{record: s.record(), server: s})

	if err := s.announce(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.wg.Add(1)
	go s.refreshLoop()
	return s, nil
}

func (s *Server) record() []byte {
	p := &Peer{}
	copy(p.PublicKey[:], s.kp.PublicKey)
	return p.Encode()
}

// PublicKey is the key clients connect to.
func (s *Server) PublicKey() ed25519.PublicKey { return s.kp.PublicKey }

// RelayAddresses are the nodes the server is announced to.
func (s *Server) RelayAddresses() []netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]netip.AddrPort(nil), s.relayAddresses...)
}

// Accept waits for the next connection.
func (s *Server) Accept(ctx context.Context) (net.Conn, error) {
	select {
	case c := <-s.conns:
		return c, nil
	case <-s.ctx.Done():
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops announcing (unannouncing from the relays), stops accepting and
// closes connections not accepted yet.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	announced := s.announced
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, to := range announced {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.unannounce(ctx, to)
		}()
	}
	wg.Wait()

	d := s.d
	d.mu.Lock()
	if d.servers[s.target] == s {
		delete(d.servers, s.target)
	}
	d.mu.Unlock()
	if r, ok := d.routes.get(s.target); ok && r.server == s {
		d.routes.delete(s.target)
	}
	for {
		select {
		case c := <-s.conns:
			c.Close()
		default:
			return nil
		}
	}
}

func (s *Server) refreshLoop() {
	defer s.wg.Done()
	for {
		wait := announceInterval
		s.mu.Lock()
		if len(s.relays) == 0 {
			wait = announceRetry
		}
		s.mu.Unlock()
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(wait):
		}
		ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
		_ = s.announce(ctx)
		cancel()
	}
}

// announce finds the nodes closest to the target and announces to the best
// three, as hyperdht's announcer does.
func (s *Server) announce(ctx context.Context) error {
	n := s.d.node
	q := n.Query(ctx, s.target, CmdFindPeer, nil, nil)
	if err := q.Wait(ctx); err != nil && ctx.Err() != nil {
		return err
	}
	closest := q.Closest()
	if len(closest) > 3 {
		closest = closest[:3]
	}
	var relayAddrs []netip.AddrPort
	if !n.Firewalled() {
		if a := n.RemoteAddr(); a.IsValid() {
			relayAddrs = append(relayAddrs, a)
		}
	}
	var mu sync.Mutex
	var relays []RelayInfo
	var announced []netip.AddrPort
	var wg sync.WaitGroup
	for _, r := range closest {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.d.requestAnnounce(ctx, CmdAnnounce, s.target, s.kp, r, nil); err != nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			relays = append(relays, RelayInfo{RelayAddress: r.From, PeerAddress: r.To})
			announced = append(announced, r.From)
		}()
	}
	wg.Wait()
	for _, a := range announced {
		if len(relayAddrs) < 3 {
			relayAddrs = append(relayAddrs, a)
		}
	}
	s.mu.Lock()
	old := s.announced
	s.relays, s.relayAddresses, s.announced = relays, relayAddrs, announced
	s.mu.Unlock()
	for _, o := range old {
		found := false
		for _, a := range announced {
			found = found || a == o
		}
		if !found {
			s.unannounce(ctx, o)
		}
	}
	return nil
}

func (s *Server) unannounce(ctx context.Context, to netip.AddrPort) {
	res, err := s.d.node.Request(ctx, to, CmdFindPeer, nil, &dht.RequestOptions{Target: &s.target})
	if err != nil || res.Token == nil || res.FromID == nil {
		return
	}
	_ = s.d.requestAnnounce(ctx, CmdUnannounce, s.target, s.kp, res, nil)
}

// onHandshake answers a PEER_HANDSHAKE for this server (on its own
// goroutine), deduplicating retransmissions of the same noise message.
func (s *Server) onHandshake(req *dht.Request, hs *Handshake) {
	key := string(hs.Noise)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	p, ok := s.connects[key]
	if !ok {
		if len(s.connects) >= maxPendingHandshakes {
			s.mu.Unlock()
			return
		}
		p = &pendingHandshake{done: make(chan struct{})}
		s.connects[key] = p
	}
	s.mu.Unlock()
	if !ok {
		p.reply, p.sock = s.handshake(req, hs)
		close(p.done)
		forget := func() {
			s.mu.Lock()
			if s.connects[key] == p {
				delete(s.connects, key)
			}
			s.mu.Unlock()
		}
		if p.reply == nil {
			forget() // nothing to repeat: forget junk at once
		} else {
			time.AfterFunc(handshakeClearWait, forget)
		}
	} else {
		select {
		case <-p.done:
		case <-s.ctx.Done():
			return
		}
	}
	if p.reply == nil {
		return
	}
	opts := &dht.ReplyOptions{NoToken: true, NoCloserNodes: true, Conn: p.sock}
	switch hs.Mode {
	case ModeFromClient:
		req.Reply((&Handshake{Mode: ModeReply, Noise: p.reply}).Encode(), opts)
	case ModeFromRelay:
		req.Relay((&Handshake{Mode: ModeFromServer, Noise: p.reply, PeerAddress: hs.PeerAddress}).Encode(), req.From, opts)
	case ModeFromSecondRelay:
		if hs.RelayAddress == nil {
			return
		}
		req.Relay((&Handshake{Mode: ModeFromServer, Noise: p.reply, PeerAddress: hs.PeerAddress}).Encode(), *hs.RelayAddress, opts)
	}
}

// handshake runs the responder side of the IK handshake and sets up the
// stream; it returns the noise reply, or nil to stay silent.
func (s *Server) handshake(req *dht.Request, hs *Handshake) ([]byte, dht.PacketConn) {
	d := s.d
	direct := hs.PeerAddress == nil
	clientAddr := req.From
	if !direct {
		clientAddr = *hs.PeerAddress
	}
	serverAddr := req.To

	nh, err := noise.New(noise.Config{Pattern: noise.IK, StaticKey: s.kp.SecretKey, Prologue: NSPeerHandshake[:]})
	if err != nil {
		return nil, nil
	}
	pl, err := nh.ReadMessage(hs.Noise)
	if err != nil {
		return nil, nil
	}
	remote, err := DecodeNoisePayload(pl)
	if err != nil {
		return nil, nil
	}
	rejected := false
	if s.firewall != nil {
		if err := s.firewall(nh.RemoteStatic(), remote); err != nil {
			if !errors.Is(err, ErrRejected) {
				return nil, nil
			}
			rejected = true
		}
	}
	code := uint64(ErrCodeNone)
	switch {
	case rejected:
		code = ErrCodeAborted
	case remote.Version != 1:
		code = ErrCodeVersionMismatch
	case remote.UDX == nil:
		code = ErrCodeAborted
	}
	ourRemote := d.node.RemoteAddr()
	var addrs []netip.AddrPort
	if !rejected { // a refused client learns nothing of where we are
		if ourRemote.IsValid() {
			addrs = append(addrs, ourRemote)
		}
		addrs = append(addrs, d.localAddresses()...)
	}

	var rs *rawStream
	if code == ErrCodeNone {
		if rs, err = d.newRawStream(); err != nil {
			return nil, nil
		}
		rs.setRemote(uint32(remote.UDX.ID))
	}
	fw := uint64(FirewallUnknown)
	if ourRemote.IsValid() {
		fw = FirewallOpen
	}
	var own *relayPlan
	if !rejected {
		own = newRelayPlan(pickRelay(s.relayThrough, d.relayThrough))
	}
	reply := &NoisePayload{Version: 1, Error: code, Firewall: fw, Addresses4: addrs, SecretStream: true, RelayThrough: own.info()}
	reply.UDX = &UDXInfo{Version: 1}
	if rs != nil {
		reply.UDX.ID = uint64(rs.stream.ID())
	}
	s.mu.Lock()
	if len(s.relayAddresses) > 0 && !rejected {
		reply.RelayAddresses = append([]netip.AddrPort(nil), s.relayAddresses...)
	}
	relays := append([]RelayInfo(nil), s.relays...)
	s.mu.Unlock()

	reqSock, _ := udxSocket(req.Conn())
	// Peers on one host as the relay sees them through loopback reach each
	// other at those addresses; behind a shared NAT they do not (no hairpin
	// NAT), so there the client finds our local address and we punch too.
	sameHost := !s.noLocal && clientAddr.Addr() == serverAddr.Addr() && clientAddr.Addr().IsLoopback() && reqSock != nil
	// A firewalled server reached through a relay by a firewalled peer on
	// another host punches a hole, from a socket of its own.
	needPunch := rs != nil && !direct && remote.Firewall != FirewallOpen && !sameHost && !ourRemote.IsValid()
	// When either side names a blind relay, that is the fallback: we pair
	// through it once punching fails (the client aborts, our punch fails,
	// or nothing connects in time), at once if we cannot punch at all.
	var relay *relayPlan
	if needPunch {
		relay = plan(true, own, remote.RelayThrough)
	}
	var sp *serverPunch
	if needPunch && len(relays) > 0 {
		p, err := d.newPuncher(false, remote.Firewall, nil)
		if err == nil || relay != nil {
			// Without a puncher (p nil) the holepunch info still goes
			// out, as hyperdht clients connect straight to our address
			// without it, and the rounds are answered with an abort.
			sp = &serverPunch{p: p, rs: rs, relay: relay}
			s.mu.Lock()
			s.nextPunch++
			sp.id = s.nextPunch
			s.punches[sp.id] = sp
			s.mu.Unlock()
			reply.Holepunch = &HolepunchInfo{ID: sp.id, Relays: relays}
		}
	}
	eager := relay != nil && (sp == nil || sp.p == nil)
	fail := func() ([]byte, dht.PacketConn) {
		if rs != nil {
			rs.destroy()
		}
		if sp != nil {
			s.dropPunch(sp)
		}
		return nil, nil
	}
	msg, err := nh.WriteMessage(reply.Encode())
	if err != nil {
		return fail()
	}
	res, err := nh.Result()
	if err != nil || rs == nil {
		if rs != nil {
			rs.destroy()
		}
		return msg, nil
	}
	if sp != nil {
		sp.sp = newSecurePayload(res.Hash[:])
	}

	// Hand the connection over once the stream connects, or give up.
	if !d.goOwned(func() { s.await(rs, res, sp, eager) }) {
		return fail()
	}
	if eager {
		rp := sp
		if rp == nil {
			rp = &serverPunch{rs: rs, relay: relay}
		}
		s.startRelay(rp)
	}

	d.log.Debug("hyperdht: server handshake", "client", clientAddr, "server", serverAddr, "direct", direct,
		"clientFirewall", remote.Firewall, "sameHost", sameHost, "punch", sp != nil, "relay", relay != nil, "ourRemote", ourRemote)
	switch {
	case remote.Firewall == FirewallOpen || direct:
		sock := reqSock
		if !direct {
			sock, _ = d.socket()
		}
		if sock != nil {
			rs.connect(sock, clientAddr)
		}
	case sameHost && !ourRemote.IsValid():
		// Same host over loopback: no punching is needed to reach the
		// address the relay saw, so open the stream from our side too.
		// (A reachable server waits instead, as below: it told the
		// client its own address, which the client dials, and the relay
		// may have reached it on another socket, its client socket from
		// before its firewall check passed. Opening the stream from
		// there raced the reply: when the reply won, the client sent to
		// one socket and dropped what came from the other, and the
		// connection was dead on both sides.)
		rs.connect(reqSock, clientAddr)
	case sp != nil && sp.p != nil:
		// The reply leaves from the puncher's socket so the client's relay
		// learns the address our NAT gives that socket.
		return msg, sp.p.conn
	}
	// Otherwise the stream connects to the client's first packet, on
	// whichever socket and from whichever address it comes.
	return msg, nil
}

// serverPunch is the hole punching state of one handshake.
type serverPunch struct {
	id    uint64
	p     *puncher
	sp    *securePayload
	rs    *rawStream
	mu    sync.Mutex
	round uint64

	relay     *relayPlan // the blind relay to fall back on, or nil
	relayOnce sync.Once
	relaying  atomic.Bool
}

// startRelay pairs the handshake's stream through its blind relay, once;
// it reports whether there is a relay to pair through. A pairing that
// wins stops the punching.
func (s *Server) startRelay(sp *serverPunch) bool {
	if sp == nil || sp.relay == nil {
		return false
	}
	sp.relayOnce.Do(func() {
		sp.relaying.Store(true)
		d := s.d
		d.log.Debug("hyperdht: server pairing through blind relay", "relay", fmt.Sprintf("%x", sp.relay.publicKey), "initiator", sp.relay.initiator)
		d.goOwned(func() {
			err := d.pairThroughRelay(s.ctx, sp.rs, sp.relay)
			switch {
			case err == nil:
				if sp.p != nil {
					sp.p.stop()
				}
			case !errors.Is(err, errRelayLost):
				d.log.Debug("hyperdht: blind relay pairing failed", "err", err)
			}
		})
	})
	return true
}

func (s *Server) dropPunch(sp *serverPunch) {
	s.mu.Lock()
	if s.punches[sp.id] == sp {
		delete(s.punches, sp.id)
	}
	s.mu.Unlock()
	if sp.p != nil {
		sp.p.release()
	}
}

func (s *Server) isRelay(a netip.AddrPort) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.announced {
		if r == a {
			return true
		}
	}
	return false
}

// onHolepunch answers a holepunch round relayed to this server (on its own
// goroutine), as hyperdht's server does for consistent NATs.
func (s *Server) onHolepunch(req *dht.Request, hp *Holepunch) {
	s.mu.Lock()
	sp := s.punches[hp.ID]
	s.mu.Unlock()
	if sp == nil || sp.sp == nil || hp.PeerAddress == nil {
		return
	}
	remote, err := sp.sp.decrypt(hp.Payload)
	if err != nil {
		return
	}
	p := sp.p
	peer := *hp.PeerAddress
	if p == nil {
		// Pairing through a blind relay: no punching.
		out := sp.sp.encrypt(&HolepunchPayload{Error: ErrCodeAborted, Round: remote.Round})
		req.Relay((&Holepunch{Mode: ModeFromServer, Payload: out, PeerAddress: &peer}).Encode(), req.From, &dht.ReplyOptions{NoToken: true, NoCloserNodes: true})
		return
	}
	abort := func() {
		sp.mu.Lock()
		round := sp.round
		sp.mu.Unlock()
		out := sp.sp.encrypt(&HolepunchPayload{Error: ErrCodeAborted, Round: round})
		req.Relay((&Holepunch{Mode: ModeFromServer, Payload: out, PeerAddress: &peer}).Encode(), req.From, &dht.ReplyOptions{NoToken: true, NoCloserNodes: true})
		p.stop()
		s.startRelay(sp)
	}
	sp.mu.Lock()
	if remote.Round >= sp.round {
		sp.round = remote.Round
	}
	round := sp.round
	sp.mu.Unlock()
	if remote.Error != ErrCodeNone {
		abort()
		return
	}
	serverRelay := s.isRelay(req.From)
	token := sp.sp.token(peer)
	echoed := serverRelay && remote.RemoteToken != nil && *remote.RemoteToken == *token
	if req.Conn() == dht.PacketConn(p.conn) {
		p.nat.add(req.To, req.From)
	}
	if remote.Round >= round {
		var verified netip.Addr
		if echoed {
			verified = peer.Addr()
		}
		p.updateRemote(remote.Punching, remote.Firewall, remote.Addresses, verified)
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	stable := p.analyze(ctx)
	cancel()
	p.mu.Lock()
	remotePunching := p.remoteHolepunching
	p.mu.Unlock()
	if !remotePunching && !stable {
		abort()
		return
	}
	fw, addrs := p.nat.state()
	if (fw == FirewallOpen || fw == FirewallConsistent) && remote.RemoteAddress != nil {
		for _, a := range addrs {
			if a == *remote.RemoteAddress {
				p.send(peer, false) // fast mode: the client opened a session to us
				break
			}
		}
	}
	s.d.log.Debug("hyperdht: server holepunch round", "round", remote.Round, "firewall", fw, "remoteFirewall", remote.Firewall, "punching", remotePunching, "stable", stable)
	if remotePunching {
		p.mu.Lock()
		rf := p.remoteFirewall
		p.mu.Unlock()
		if (rf >= FirewallRandom || fw >= FirewallRandom) && !p.isPunching() && !s.d.randomPunchAllowed() {
			// Ask the client to try later, and pair through the blind
			// relay if one is named.
			out := sp.sp.encrypt(&HolepunchPayload{Error: ErrCodeTryLater, Round: round})
			req.Relay((&Holepunch{Mode: ModeFromServer, Payload: out, PeerAddress: &peer}).Encode(), req.From, &dht.ReplyOptions{NoToken: true, NoCloserNodes: true})
			p.stop()
			s.startRelay(sp)
			return
		}
		if !p.punch() {
			abort()
			return
		}
	}
	if fw != FirewallUnknown {
		p.nat.freeze()
	}
	fw, addrs = p.nat.state()
	p.mu.Lock()
	out := &HolepunchPayload{Firewall: fw, Round: round, Connected: p.connected, Punching: p.punching,
		Addresses: addrs, RemoteToken: remote.Token}
	p.mu.Unlock()
	if out.Addresses == nil {
		out.Addresses = []netip.AddrPort{}
	}
	if serverRelay {
		out.Token = token
	}
	req.Relay((&Holepunch{Mode: ModeFromServer, Payload: sp.sp.encrypt(out), PeerAddress: &peer}).Encode(), req.From,
		&dht.ReplyOptions{NoToken: true, NoCloserNodes: true, Conn: p.conn})
}

func (s *Server) await(rs *rawStream, res noise.Result, sp *serverPunch, relayed bool) {
	wait := handshakeTimeout
	if relayed {
		wait += relayWait
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	extended := false
wait:
	select {
	case <-rs.connected:
	case <-t.C:
		if sp != nil && sp.relay != nil && !sp.relaying.Load() {
			// Nothing connected in time: try the blind relay.
			s.startRelay(sp)
			t.Reset(relayWait)
			goto wait
		}
		if sp != nil && sp.p != nil && sp.p.isPunching() && !extended {
			// Random-NAT punching takes longer; it ends by itself.
			extended = true
			t.Reset(randomPunchWait)
			goto wait
		}
		rs.destroy()
		if sp != nil {
			s.dropPunch(sp)
		}
		return
	case <-s.ctx.Done():
		rs.destroy()
		if sp != nil {
			s.dropPunch(sp)
		}
		return
	}
	if sp != nil {
		s.mu.Lock()
		delete(s.punches, sp.id)
		s.mu.Unlock()
		if sp.p != nil {
			s.d.retirePuncher(sp.p, rs.stream)
		}
	}
	c, err := secure(rs.stream, false, res, s.kp.PublicKey, s.d.keepAlive)
	if err != nil {
		rs.destroy()
		return
	}
	// Hand out only a connection the client is at the other end of: its
	// header frame proves it. A stream opened to a client that gave up
	// (its handshake reply came too late, so it destroyed its stream
	// unconnected, without a word) would otherwise be accepted and then
	// time out, and a swarm may keep it over the client's next, good
	// connection.
	if sc, ok := c.(*secretstream.Conn); ok {
		hctx, cancel := context.WithTimeout(s.ctx, handshakeTimeout)
		err = sc.Handshake(hctx)
		cancel()
	}
	if err != nil {
		s.d.log.Debug("hyperdht: accepted stream got no header from the client, dropped", "err", err)
		c.Close()
		rs.destroy()
		return
	}
	select {
	case s.conns <- c:
	case <-s.ctx.Done():
		c.Close()
	}
}

var _ = udx.HeaderSize
