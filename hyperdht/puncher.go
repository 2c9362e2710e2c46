package hyperdht

import (
	"context"
	"crypto/rand"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/crypto/nacl/secretbox"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/udx"
)

const (
	holepunchTTL     = 5   // low TTL: opens our own NAT without reaching theirs
	natMinSamples    = 4   // pings that classify a NAT
	birthdaySockets  = 256 // sockets a random-NAT side opens
	randomPunchTries = 1750
)

// securePayload encrypts holepunch payloads with the secret both sides
// derive from the handshake hash (XSalsa20-Poly1305 secretbox, random
// 24-byte nonce in front), as hyperdht's secure-payload.
type securePayload struct {
	secret [32]byte
	local  [32]byte
}

// HolepunchSecret is the key holepunch payloads are sealed with: BLAKE2b-256
// of the holepunch namespace keyed with the Noise handshake hash.
func HolepunchSecret(handshakeHash []byte) [32]byte {
	h, _ := crypto.KeyedHash(handshakeHash, NSPeerHolepunch[:])
	return h
}

func newSecurePayload(handshakeHash []byte) *securePayload {
	sp := &securePayload{secret: HolepunchSecret(handshakeHash)}
	rand.Read(sp.local[:])
	return sp
}

func (sp *securePayload) encrypt(p *HolepunchPayload) []byte {
	var nonce [24]byte
	rand.Read(nonce[:])
	return secretbox.Seal(nonce[:], p.Encode(), &nonce, &sp.secret)
}

func (sp *securePayload) decrypt(b []byte) (*HolepunchPayload, error) {
	return OpenHolepunchPayload(&sp.secret, b)
}

// OpenHolepunchPayload decrypts and decodes a sealed holepunch payload (a
// 24-byte nonce, then the XSalsa20-Poly1305 secretbox).
func OpenHolepunchPayload(secret *[32]byte, b []byte) (*HolepunchPayload, error) {
	if len(b) <= 24+secretbox.Overhead {
		return nil, ErrMalformed
	}
	var nonce [24]byte
	copy(nonce[:], b)
	msg, ok := secretbox.Open(nil, b[24:], &nonce, secret)
	if !ok {
		return nil, ErrMalformed
	}
	return DecodeHolepunchPayload(msg)
}

// token is our token for a peer's host, echoed back to verify its address.
func (sp *securePayload) token(addr netip.AddrPort) *[32]byte {
	h, _ := crypto.KeyedHash(sp.local[:], []byte(addr.Addr().String()))
	return &h
}

type sample struct {
	addr netip.AddrPort
	hits int
}

// natSampler classifies the NAT in front of one socket from the addresses
// DHT nodes see it at, as hyperdht's nat.js.
type natSampler struct {
	mu        sync.Mutex
	open      bool // the DHT node is not firewalled
	hosts     []sample
	full      []sample
	visited   map[netip.AddrPort]bool
	sampled   int
	frozen    bool
	firewall  uint64
	addresses []netip.AddrPort
	done      chan struct{}
	doneOnce  sync.Once
}

func newNatSampler(open bool) *natSampler {
	n := &natSampler{open: open, visited: map[netip.AddrPort]bool{}, done: make(chan struct{})}
	if open {
		n.firewall = FirewallOpen
	}
	return n
}

func addSample(s []sample, a netip.AddrPort) []sample {
	for i := range s {
		if s[i].addr != a {
			continue
		}
		s[i].hits++
		for ; i > 0 && s[i-1].hits < s[i].hits; i-- {
			s[i-1], s[i] = s[i], s[i-1]
		}
		return s
	}
	return append(s, sample{addr: a, hits: 1})
}

func (n *natSampler) finish() { n.doneOnce.Do(func() { close(n.done) }) }

func (n *natSampler) add(seen, from netip.AddrPort) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.visited[from] {
		return
	}
	n.visited[from] = true
	n.hosts = addSample(n.hosts, netip.AddrPortFrom(seen.Addr(), 0))
	n.full = addSample(n.full, seen)
	n.sampled++
	if (n.sampled >= 3 || n.open) && !n.frozen {
		n.updateLocked()
	}
	if n.firewall == FirewallConsistent || n.firewall == FirewallOpen || n.sampled >= natMinSamples {
		n.finish()
	}
}

func (n *natSampler) updateLocked() {
	switch {
	case n.open:
		n.firewall = FirewallOpen
	case n.sampled < 3:
	case n.full[0].hits >= 3:
		n.firewall = FirewallConsistent
	case n.full[0].hits == 1:
		n.firewall = FirewallRandom
	case len(n.hosts) == 1 && n.sampled > 3:
		n.firewall = FirewallRandom
	case len(n.hosts) > 1 && n.full[1].hits > 1:
		n.firewall = FirewallConsistent
	case n.sampled > 4:
		n.firewall = FirewallRandom
	}
	switch n.firewall {
	case FirewallUnknown:
		n.addresses = nil
	case FirewallRandom:
		n.addresses = []netip.AddrPort{n.hosts[0].addr}
	default:
		n.addresses = nil
		for _, s := range n.full {
			if s.hits >= 2 || len(n.addresses) < 2 {
				n.addresses = append(n.addresses, s.addr)
			}
		}
	}
}

func (n *natSampler) state() (uint64, []netip.AddrPort) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.firewall, append([]netip.AddrPort(nil), n.addresses...)
}

func (n *natSampler) freeze() {
	n.mu.Lock()
	n.frozen = true
	n.mu.Unlock()
}

type remoteAddr struct {
	addr     netip.AddrPort
	verified bool
}

// puncher owns one extra UDX socket used to sample our NAT and punch a
// hole towards the peer (hyperdht's holepuncher, consistent NATs only).
type puncher struct {
	d         *DHT
	sock      *udx.Socket
	conn      dht.UDXConn
	initiator bool
	nat       *natSampler
	onconnect func(sock *udx.Socket, addr netip.AddrPort)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu                 sync.Mutex
	extra              []*udx.Socket // birthday sockets
	keep               *udx.Socket   // the socket a stream runs on
	randomized         bool          // counted in the DHT's random punches
	remoteFirewall     uint64
	remoteAddrs        []remoteAddr
	remoteHolepunching bool
	punching           bool
	connected          bool
	destroyed          bool
}

func (d *DHT) newPuncher(initiator bool, remoteFirewall uint64, onconnect func(*udx.Socket, netip.AddrPort)) (*puncher, error) {
	host := "0.0.0.0"
	if la := d.node.LocalAddr().Addr(); la.IsValid() && !la.IsUnspecified() {
		host = la.String()
	}
	sock, err := d.listen("udp4", host+":0")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(d.ctx)
	p := &puncher{
		d: d, sock: sock, conn: dht.UDXConn{Socket: sock}, initiator: initiator,
		nat: newNatSampler(!d.node.Firewalled()), onconnect: onconnect,
		ctx: ctx, cancel: cancel, remoteFirewall: remoteFirewall,
	}
	p.wg.Add(2)
	go p.readLoop(sock)
	go p.sampleLoop()
	return p, nil
}

func (p *puncher) readLoop(sock *udx.Socket) {
	defer p.wg.Done()
	conn := dht.UDXConn{Socket: sock}
	for {
		dg, err := sock.ReadFrom(p.ctx)
		if err != nil {
			return
		}
		if len(dg.Data) == 1 && dg.Data[0] == 0 {
			p.onHolepunchMessage(sock, dg.From)
			continue
		}
		p.d.node.HandleDatagram(conn, dg.Data, dg.From)
	}
}

// sampleLoop pings a few DHT nodes from the puncher socket to learn how the
// NAT maps it.
func (p *puncher) sampleLoop() {
	defer p.wg.Done()
	defer p.nat.finish()
	nodes := p.d.node.Nodes()
	if len(nodes) >= 8 {
		nodes = nodes[5:]
	}
	if len(nodes) > 2*natMinSamples {
		nodes = nodes[:2*natMinSamples]
	}
	var wg sync.WaitGroup
	noRetry := 0
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := p.d.node.Request(p.ctx, n, dht.CmdPing, nil, &dht.RequestOptions{Internal: true, Conn: p.conn, Retries: &noRetry})
			if err == nil {
				p.nat.add(res.To, res.From)
			}
		}()
	}
	wg.Wait()
}

// analyze waits for the NAT sampling and reports whether punching can work
// from our side.
func (p *puncher) analyze(ctx context.Context) bool {
	select {
	case <-p.nat.done:
	case <-ctx.Done():
		return false
	case <-p.ctx.Done():
		return false
	}
	fw, _ := p.nat.state()
	p.mu.Lock()
	rf := p.remoteFirewall
	p.mu.Unlock()
	return fw != FirewallUnknown && !(fw >= FirewallRandom && rf >= FirewallRandom)
}

func (p *puncher) updateRemote(punching bool, firewall uint64, addrs []netip.AddrPort, verified netip.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []remoteAddr
	for _, a := range addrs {
		v := verified.IsValid() && a.Addr() == verified
		for _, o := range p.remoteAddrs {
			v = v || (o.verified && o.addr.Addr() == a.Addr())
		}
		out = append(out, remoteAddr{addr: a, verified: v})
	}
	p.remoteFirewall, p.remoteAddrs, p.remoteHolepunching = firewall, out, punching
}

func (p *puncher) send(addr netip.AddrPort, lowTTL bool) { p.sendFrom(p.sock, addr, lowTTL) }

func (p *puncher) sendFrom(sock *udx.Socket, addr netip.AddrPort, lowTTL bool) {
	var err error
	if lowTTL {
		err = sock.SendTTL([]byte{0}, addr, holepunchTTL)
	} else {
		err = sock.WriteTo([]byte{0}, addr)
	}
	if err != nil {
		p.d.log.Debug("hyperdht: holepunch send failed", "to", addr, "err", err)
	}
}

func (p *puncher) onHolepunchMessage(sock *udx.Socket, from netip.AddrPort) {
	p.d.log.Debug("hyperdht: holepunch message", "from", from, "initiator", p.initiator)
	if !p.initiator {
		p.sendFrom(sock, from, false)
		return
	}
	p.mu.Lock()
	if p.connected || p.destroyed {
		p.mu.Unlock()
		return
	}
	p.connected, p.punching = true, false
	p.keep = sock
	p.mu.Unlock()
	p.unrandomize()
	p.onconnect(sock, from)
}

// keepSocket marks the socket a stream connected on (the server learns it
// from the stream) so release leaves it open until the stream ends.
func (p *puncher) keepSocket(sock *udx.Socket) {
	p.mu.Lock()
	mine := sock == p.sock
	for _, s := range p.extra {
		mine = mine || s == sock
	}
	if mine {
		p.keep = sock
	}
	p.mu.Unlock()
	p.unrandomize()
}

// retirePuncher ends p once a stream connected: the socket the stream runs
// on (if it is one of p's) stays open until the stream ends.
func (d *DHT) retirePuncher(p *puncher, st *udx.Stream) {
	if sock := st.Socket(); sock != nil {
		p.keepSocket(sock)
	}
	keep := p.releaseExcept()
	if keep == nil {
		return
	}
	if !d.goOwned(func() {
		select {
		case <-st.Closed():
		case <-d.ctx.Done():
		}
		keep.Close()
	}) {
		keep.Close()
	}
}

func coerceFirewall(fw uint64) uint64 {
	if fw == FirewallOpen {
		return FirewallConsistent
	}
	return fw
}

func (p *puncher) randomize() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.randomized {
		p.randomized = true
		p.d.randomPunchStart()
	}
}

func (p *puncher) unrandomize() {
	p.mu.Lock()
	r := p.randomized
	p.randomized = false
	p.mu.Unlock()
	if r {
		p.d.randomPunchEnd()
	}
}

// punch starts punching towards the remote addresses; false if it cannot.
// Consistent (or open) NATs on both sides probe each other's addresses; a
// consistent side facing a random NAT sprays random ports of its verified
// host, while the random side opens many sockets towards the consistent one
// (the birthday paradox does the rest).
func (p *puncher) punch() bool {
	fw, _ := p.nat.state()
	local := coerceFirewall(fw)
	p.mu.Lock()
	if p.destroyed || p.connected || len(p.remoteAddrs) == 0 {
		p.mu.Unlock()
		return false
	}
	if p.punching {
		p.mu.Unlock()
		return true
	}
	remote := coerceFirewall(p.remoteFirewall)
	var verified *netip.AddrPort
	for _, a := range p.remoteAddrs {
		if a.verified {
			v := a.addr
			verified = &v
			break
		}
	}
	switch {
	case local == FirewallConsistent && remote == FirewallConsistent:
		p.punching = true
		p.wg.Add(1)
		go p.consistentProbe()
	case verified == nil:
		p.mu.Unlock()
		return false
	case local == FirewallConsistent && remote >= FirewallRandom:
		p.punching = true
		p.wg.Add(1)
		go p.randomProbes(verified.Addr())
	case local >= FirewallRandom && remote == FirewallConsistent:
		p.punching = true
		p.wg.Add(1)
		go p.birthday(*verified)
	default:
		p.mu.Unlock()
		return false
	}
	p.mu.Unlock()
	if local >= FirewallRandom || remote >= FirewallRandom {
		p.randomize()
	}
	return true
}

func (p *puncher) isPunching() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.punching
}

// randomProbes sends to random ports of the random side's host, about 35 s.
func (p *puncher) randomProbes(host netip.Addr) {
	defer p.wg.Done()
	var b [2]byte
	for tries := 0; tries < randomPunchTries && p.isPunching(); tries++ {
		rand.Read(b[:])
		port := 1000 + uint16((uint32(b[0])<<8|uint32(b[1]))%64536)
		p.send(netip.AddrPortFrom(host, port), false)
		if !p.sleep(20 * time.Millisecond) {
			return
		}
	}
}

// birthday opens up to birthdaySockets sockets, each sending a low-TTL
// punch to the consistent side, then keeps them all punching.
func (p *puncher) birthday(remote netip.AddrPort) {
	defer p.wg.Done()
	host := p.sock.LocalAddr().Addr().String()
	socks := []*udx.Socket{p.sock}
	for len(socks) < birthdaySockets && p.isPunching() {
		sock, err := p.d.listen("udp4", host+":0")
		if err != nil {
			break
		}
		p.mu.Lock()
		if p.destroyed {
			p.mu.Unlock()
			sock.Close()
			return
		}
		p.extra = append(p.extra, sock)
		p.mu.Unlock()
		p.wg.Add(1)
		go p.readLoop(sock)
		socks = append(socks, sock)
		p.sendFrom(sock, remote, true)
	}
	if !p.sleep(100 * time.Millisecond) {
		return
	}
	lowTTL := true
	for tries, i := 0, 0; tries < randomPunchTries && p.isPunching(); tries++ {
		if i == len(socks) {
			i, lowTTL = 0, false
		}
		p.sendFrom(socks[i], remote, lowTTL)
		i++
		if !p.sleep(20 * time.Millisecond) {
			return
		}
	}
}

func (p *puncher) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.ctx.Done():
		return false
	}
}

func (p *puncher) consistentProbe() {
	defer p.wg.Done()
	if !p.initiator && !p.sleep(time.Second) {
		return
	}
	for tries := 1; tries <= 10; tries++ {
		p.mu.Lock()
		if !p.punching {
			p.mu.Unlock()
			return
		}
		addrs := append([]remoteAddr(nil), p.remoteAddrs...)
		p.mu.Unlock()
		for _, a := range addrs {
			if !a.verified && tries&3 != 0 {
				continue
			}
			p.send(a.addr, false)
		}
		if !p.sleep(time.Second) {
			return
		}
	}
}

func (p *puncher) isConnected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.connected
}

// stop ends punching and sampling.
func (p *puncher) stop() {
	p.mu.Lock()
	p.destroyed, p.punching = true, false
	p.mu.Unlock()
	p.unrandomize()
}

// releaseExcept stops everything and closes every socket but the one a
// stream runs on, which it returns (nil if none).
func (p *puncher) releaseExcept() *udx.Socket {
	p.stop()
	p.cancel()
	p.mu.Lock()
	keep := p.keep
	socks := append([]*udx.Socket{p.sock}, p.extra...)
	p.extra = nil
	p.mu.Unlock()
	for _, s := range socks {
		if s != keep {
			s.Close()
		}
	}
	p.wg.Wait()
	return keep
}

// release stops everything and closes every socket.
func (p *puncher) release() {
	if keep := p.releaseExcept(); keep != nil {
		keep.Close()
	}
}
