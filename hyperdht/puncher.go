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
	holepunchTTL  = 5 // low TTL: opens our own NAT without reaching theirs
	natMinSamples = 4
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
	go p.readLoop()
	go p.sampleLoop()
	return p, nil
}

func (p *puncher) readLoop() {
	defer p.wg.Done()
	for {
		dg, err := p.sock.ReadFrom(p.ctx)
		if err != nil {
			return
		}
		if len(dg.Data) == 1 && dg.Data[0] == 0 {
			p.onHolepunchMessage(dg.From)
			continue
		}
		p.d.node.HandleDatagram(p.conn, dg.Data, dg.From)
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

func (p *puncher) send(addr netip.AddrPort, lowTTL bool) {
	var err error
	if lowTTL {
		err = p.sock.SendTTL([]byte{0}, addr, holepunchTTL)
	} else {
		err = p.sock.WriteTo([]byte{0}, addr)
	}
	if err != nil {
		p.d.log.Debug("hyperdht: holepunch send failed", "to", addr, "err", err)
	}
}

func (p *puncher) onHolepunchMessage(from netip.AddrPort) {
	p.d.log.Debug("hyperdht: holepunch message", "from", from, "initiator", p.initiator)
	if !p.initiator {
		p.send(from, false)
		return
	}
	p.mu.Lock()
	if p.connected || p.destroyed {
		p.mu.Unlock()
		return
	}
	p.connected, p.punching = true, false
	p.mu.Unlock()
	p.onconnect(p.sock, from)
}

// punch starts punching towards the remote addresses; false if it cannot
// (only consistent (or open) NATs on both sides are punched).
func (p *puncher) punch() bool {
	fw, _ := p.nat.state()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.destroyed || p.connected || len(p.remoteAddrs) == 0 {
		return false
	}
	if p.punching {
		return true
	}
	if fw >= FirewallRandom || p.remoteFirewall >= FirewallRandom {
		return false
	}
	p.punching = true
	p.wg.Add(1)
	go p.consistentProbe()
	return true
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

// stop ends punching and sampling. The socket stays open when keep is set
// (a stream runs on it); release closes it later.
func (p *puncher) stop() {
	p.mu.Lock()
	p.destroyed, p.punching = true, false
	p.mu.Unlock()
}

// release stops everything and closes the socket.
func (p *puncher) release() {
	p.stop()
	p.cancel()
	p.sock.Close()
	p.wg.Wait()
}
