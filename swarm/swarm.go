package swarm

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/secretstream"
	"github.com/warrenp2p/warren/udx"
)

// Defaults, as in hyperswarm.
const (
	DefaultMaxPeers      = 64
	DefaultMaxParallel   = 3
	DefaultAcceptBacklog = 64
	DefaultKeepAlive     = 5 * time.Second
)

// outdatedAfter is how long an open connection must have lived to count as
// established when a second connection to the same peer arrives (see
// duplicate resolution in the package documentation).
const outdatedAfter = 5 * time.Second

// dialTimeout bounds one dial, so a dial that never settles cannot hold the
// peer's slot (and a MaxParallel slot) for good.
const dialTimeout = 30 * time.Second

// Errors of the swarm.
var (
	ErrClosed           = errors.New("swarm: closed")
	ErrKeyPairMismatch  = errors.New("swarm: key pair differs from the DHT's")
	ErrNoDHT            = errors.New("swarm: no DHT and no bootstrap nodes")
	ErrDestroyed        = errors.New("swarm: discovery left")
	ErrFirewalled       = errors.New("swarm: peer is firewalled")
	ErrNotSecretStream  = errors.New("swarm: DHT returned no secret-stream connection")
	ErrRefreshCancelled = errors.New("swarm: refresh superseded or aborted")
)

// Config configures a Swarm. The zero value needs only DHT or Bootstrap.
type Config struct {
	// DHT is the node to announce, look up and connect with. nil: New
	// creates one from Bootstrap (with KeyPair) and Close closes it.
	DHT *hyperdht.DHT
	// Bootstrap lists host:port bootstrap nodes, used when DHT is nil.
	Bootstrap []string
	// KeyPair is the swarm's identity. nil: the DHT's key pair (or a random
	// one for a DHT New creates). With DHT set it must be the DHT's key pair,
	// as connections are made with it.
	KeyPair *crypto.KeyPair
	// MaxPeers bounds the connections; 0 means 64, as hyperswarm.
	MaxPeers int
	// MaxParallel bounds dials in flight; 0 means 3, as hyperswarm.
	MaxParallel int
	// MaxClientConnections and MaxServerConnections bound the connections
	// we dialled and the ones we accepted; 0 means unlimited. (hyperswarm
	// keeps maxServerConnections but never applies it; here a connection
	// beyond it is closed.)
	MaxClientConnections, MaxServerConnections int
	// Firewall rejects a peer when it returns true, before dialling it and
	// when it connects to us; a rejected peer is banned. It is called with
	// the swarm's lock held and must not call the Swarm's methods.
	Firewall func(remotePublicKey ed25519.PublicKey) bool
	// AcceptBacklog bounds the connections waiting for Accept; 0 means 64.
	// A connection that finds the backlog full is closed (a dialled peer is
	// then retried with backoff, as after any lost connection).
	AcceptBacklog int
	// Backoffs are the four retry delays (short, medium, long, extra long)
	// before jitter; nil means hyperswarm's 1 s, 5 s, 15 s and 10 min.
	Backoffs []time.Duration
	// Jitter is the random part added to each retry timer; 0 means 500 ms,
	// negative none.
	Jitter time.Duration
	// KeepAlive is how often an empty frame is sent on every connection,
	// as hyperdht's connectionKeepAlive does for JS peers; 0 means 5 s,
	// negative none.
	KeepAlive time.Duration
	// Logger receives debug logs; nil is silent.
	Logger *slog.Logger
}

// Stats counts the swarm's connections, as hyperswarm's stats do.
type Stats struct {
	Updates         uint64
	ClientOpened    uint64
	ClientClosed    uint64
	ClientAttempted uint64
	ServerOpened    uint64
	ServerClosed    uint64
	BannedPeers     uint64
	Dropped         uint64 // connections closed because the backlog was full
}

// Swarm finds peers on topics through a HyperDHT, dials them and accepts
// their connections, keeping one connection per remote public key.
type Swarm struct {
	dht    *hyperdht.DHT
	ownDHT bool
	kp     crypto.KeyPair
	cfg    Config
	log    *slog.Logger
	accept chan *Conn

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu            sync.Mutex
	closed        bool
	suspended     bool
	server        *hyperdht.Server
	listening     *run
	peers         map[[32]byte]*PeerInfo
	explicit      []*PeerInfo
	all           map[[32]byte]*connEntry // open and dialling, by remote key
	open          map[*connEntry]struct{}
	discovery     map[[32]byte]*topic
	queue         peerQueue
	timer         *retryTimer
	connecting    int
	clientConns   int
	serverConns   int
	draining      bool
	flushes       []*flushWaiter
	flushTick     uint64
	stats         Stats
	wasListening  bool
	backoffs      [4]time.Duration
	customBackoff bool
	jitter        time.Duration
}

// connEntry is one connection, from the start of its dial (client) or its
// arrival (server) until the swarm has seen it end.
type connEntry struct {
	key    [32]byte
	info   *PeerInfo
	client bool
	conn   *Conn // nil while dialling
	opened time.Time
	cancel context.CancelFunc // ends the dial
	ending bool               // destroyed by the swarm
	ended  bool               // bookkeeping done
	swaps  []*secretstream.Conn
	done   chan struct{}
}

type flushWaiter struct {
	missing int
	tick    uint64
	done    chan bool
}

// run is an operation others can wait on.
type run struct {
	done chan struct{}
	err  error
}

func newRun() *run { return &run{done: make(chan struct{})} }

func (r *run) finish(err error) {
	r.err = err
	close(r.done)
}

func (r *run) wait(ctx context.Context) error {
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// New starts a swarm. It does not listen or look anything up until a topic
// is joined or a peer is joined with JoinPeer.
func New(cfg *Config) (*Swarm, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	s := &Swarm{
		cfg:       c,
		log:       c.Logger,
		peers:     map[[32]byte]*PeerInfo{},
		all:       map[[32]byte]*connEntry{},
		open:      map[*connEntry]struct{}{},
		discovery: map[[32]byte]*topic{},
		backoffs:  defaultBackoffs,
		jitter:    c.Jitter,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.cfg.MaxPeers <= 0 {
		s.cfg.MaxPeers = DefaultMaxPeers
	}
	if s.cfg.MaxParallel <= 0 {
		s.cfg.MaxParallel = DefaultMaxParallel
	}
	if s.cfg.KeepAlive == 0 {
		s.cfg.KeepAlive = DefaultKeepAlive
	}
	if s.cfg.AcceptBacklog <= 0 {
		s.cfg.AcceptBacklog = DefaultAcceptBacklog
	}
	if len(c.Backoffs) > 0 {
		s.customBackoff = true
		for i := range s.backoffs {
			s.backoffs[i] = c.Backoffs[min(i, len(c.Backoffs)-1)]
		}
	}
	switch {
	case s.jitter == 0:
		s.jitter = defaultJitter
	case s.jitter < 0:
		s.jitter = 0
	}
	switch {
	case c.DHT != nil:
		s.dht = c.DHT
		s.kp = c.DHT.KeyPair()
		if c.KeyPair != nil && !bytes.Equal(c.KeyPair.PublicKey, s.kp.PublicKey) {
			return nil, ErrKeyPairMismatch
		}
	case len(c.Bootstrap) > 0:
		if c.KeyPair != nil {
			s.kp = *c.KeyPair
		} else {
			kp, err := crypto.NewKeyPair()
			if err != nil {
				return nil, err
			}
			s.kp = kp
		}
		kp := s.kp
		d, err := hyperdht.New(&hyperdht.Config{DHT: dht.Config{Bootstrap: c.Bootstrap}, KeyPair: &kp, Logger: c.Logger})
		if err != nil {
			return nil, err
		}
		s.dht, s.ownDHT = d, true
	default:
		return nil, ErrNoDHT
	}
	s.accept = make(chan *Conn, s.cfg.AcceptBacklog)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.timer = newRetryTimer(s, s.backoffs, s.jitter, s.customBackoff)
	return s, nil
}

// KeyPair returns the swarm's identity.
func (s *Swarm) KeyPair() crypto.KeyPair { return s.kp }

// PublicKey returns the swarm's public key, which remote peers see.
func (s *Swarm) PublicKey() ed25519.PublicKey { return s.kp.PublicKey }

// DHT returns the node the swarm runs on.
func (s *Swarm) DHT() *hyperdht.DHT { return s.dht }

// Accept returns the next new connection, dialled or accepted. Every
// connection is returned once; ones not accepted within the backlog are
// closed.
func (s *Swarm) Accept(ctx context.Context) (*Conn, error) {
	select {
	case c := <-s.accept:
		return c, nil
	case <-s.ctx.Done():
		// Drain what is already queued before reporting the close.
		select {
		case c := <-s.accept:
			return c, nil
		default:
		}
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Peers returns the peers the swarm knows (connected, queued, waiting for a
// retry, banned or explicit).
func (s *Swarm) Peers() []*PeerInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*PeerInfo, 0, len(s.peers))
	for _, p := range s.peers {
		out = append(out, p)
	}
	return out
}

// Peer returns the peer with publicKey, if the swarm knows it.
func (s *Swarm) Peer(publicKey ed25519.PublicKey) (*PeerInfo, bool) {
	k, ok := keyOf(publicKey)
	if !ok {
		return nil, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.peers[k]
	return p, ok
}

// Connections returns the open connections, one per remote key.
func (s *Swarm) Connections() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Conn, 0, len(s.open))
	for e := range s.open {
		out = append(out, e.conn)
	}
	return out
}

// Connecting returns the number of dials in flight.
func (s *Swarm) Connecting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connecting
}

// Stats returns the swarm's counters.
func (s *Swarm) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// JoinPeer keeps a connection to publicKey whether or not it shares a topic:
// it is dialled now and redialled when the connection ends.
func (s *Swarm) JoinPeer(publicKey ed25519.PublicKey) {
	k, ok := keyOf(publicKey)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	p := s.upsertPeer(k, nil)
	if p == nil {
		return
	}
	if !p.explicit {
		p.explicit = true
		s.explicit = append(s.explicit, p)
	}
	if _, ok := s.all[k]; ok {
		return
	}
	if p.updatePriority() {
		s.enqueue(p)
	}
}

// LeavePeer undoes JoinPeer. An open connection is not closed.
func (s *Swarm) LeavePeer(publicKey ed25519.PublicKey) {
	k, ok := keyOf(publicKey)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.peers[k]
	if !ok {
		return
	}
	p.explicit = false
	for i, e := range s.explicit {
		if e == p {
			s.explicit = append(s.explicit[:i], s.explicit[i+1:]...)
			break
		}
	}
	s.maybeDeletePeer(p)
}

// Listen starts the swarm's server (announcing its key so peers can connect
// to it) if it is not running yet. Joining a topic as a server does it.
func (s *Swarm) Listen(ctx context.Context) error {
	s.mu.Lock()
	r := s.listenLocked()
	s.mu.Unlock()
	return r.wait(ctx)
}

func (s *Swarm) listenLocked() *run {
	if s.closed {
		r := newRun()
		r.finish(ErrClosed)
		return r
	}
	if s.listening != nil {
		return s.listening
	}
	r := newRun()
	s.listening = r
	s.goOwned(func() {
		srv, err := s.dht.Listen(s.ctx, s.kp, s.serverFirewall)
		s.mu.Lock()
		if err == nil && (s.closed || s.suspended) {
			s.mu.Unlock()
			srv.Close()
			s.mu.Lock()
			err = ErrClosed
		}
		if err != nil {
			if s.listening == r {
				s.listening = nil // the next refresh tries again
			}
			s.mu.Unlock()
			r.finish(err)
			return
		}
		s.server = srv
		s.wasListening = true
		s.goOwned(func() { s.acceptLoop(srv) })
		s.mu.Unlock()
		r.finish(nil)
	})
	return r
}

func (s *Swarm) acceptLoop(srv *hyperdht.Server) {
	for {
		c, err := srv.Accept(s.ctx)
		if err != nil {
			return
		}
		sc, ok := c.(*secretstream.Conn)
		if !ok || sc == nil {
			if c != nil && !ok {
				c.Close()
			}
			continue
		}
		s.mu.Lock()
		s.handleServerConn(sc)
		s.mu.Unlock()
	}
}

// serverFirewall is the hyperdht server's firewall.
func (s *Swarm) serverFirewall(remote ed25519.PublicKey, _ *hyperdht.NoisePayload) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.firewalled(remote) {
		return ErrFirewalled
	}
	return nil
}

// firewalled reports whether remote is refused: ourselves, banned, or
// rejected by the user's firewall (which bans it). s.mu held.
func (s *Swarm) firewalled(remote ed25519.PublicKey) bool {
	if bytes.Equal(remote, s.kp.PublicKey) {
		return true
	}
	k, ok := keyOf(remote)
	if !ok {
		return true
	}
	p := s.peers[k]
	if p != nil && p.banned {
		return true
	}
	if s.cfg.Firewall == nil || !s.cfg.Firewall(remote) {
		return false
	}
	if p == nil {
		p = s.upsertPeer(k, nil)
	}
	if p != nil {
		s.ban(p, true)
	}
	return true
}

func (s *Swarm) ban(p *PeerInfo, banned bool) {
	p.banned = banned
	s.stats.BannedPeers++
	s.log.Debug("swarm: peer banned", "peer", keyString(p.key))
}

// goOwned runs f on a goroutine the swarm waits for on Close.
func (s *Swarm) goOwned(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// ---- peers and the dial queue (s.mu held) ----

func (s *Swarm) upsertPeer(k [32]byte, relays []netip.AddrPort) *PeerInfo {
	if bytes.Equal(k[:], s.kp.PublicKey) {
		return nil
	}
	if p, ok := s.peers[k]; ok {
		p.relayAddresses = relays
		return p
	}
	p := newPeerInfo(s, k)
	p.relayAddresses = relays
	s.peers[k] = p
	return p
}

func (s *Swarm) maybeDeletePeer(p *PeerInfo) {
	if !p.shouldGC() {
		return
	}
	if _, ok := s.all[p.key]; ok {
		return
	}
	if s.peers[p.key] == p {
		delete(s.peers, p.key)
	}
}

// handlePeer takes a peer found on topic by a lookup.
func (s *Swarm) handlePeer(peer hyperdht.Peer, topic [32]byte) {
	p := s.upsertPeer(peer.PublicKey, peer.RelayAddresses)
	if p == nil {
		return
	}
	p.addTopic(topic)
	if _, ok := s.all[peer.PublicKey]; ok {
		return
	}
	if !p.prioritized() || !p.client {
		p.reset()
	}
	if p.updatePriority() {
		s.enqueue(p)
	}
}

func (s *Swarm) enqueue(p *PeerInfo) {
	if p.queued {
		return
	}
	p.queued = true
	p.flushTick = s.flushTick
	s.queue.add(p)
	s.attemptClientConnections()
}

// requeue takes a batch of peers whose retry backoff passed.
func (s *Swarm) requeue(batch []*PeerInfo) {
	if s.suspended || s.closed {
		return
	}
	for _, p := range batch {
		p.waiting = false
		if !p.updatePriority() {
			continue
		}
		if _, ok := s.all[p.key]; ok || p.queued {
			continue
		}
		p.queued = true
		p.flushTick = s.flushTick
		s.queue.add(p)
	}
	s.attemptClientConnections()
}

func (s *Swarm) flushMaybe(p *PeerInfo) {
	for i := 0; i < len(s.flushes); i++ {
		f := s.flushes[i]
		if p.flushTick > f.tick {
			continue
		}
		f.missing--
		if f.missing > 0 {
			continue
		}
		f.done <- true
		s.flushes = append(s.flushes[:i], s.flushes[i+1:]...)
		i--
	}
}

func (s *Swarm) withinMaxPeers() bool {
	e := len(s.explicit)
	factor := 4
	switch {
	case e == 0:
		factor = 1
	case e < 2:
		factor = 2
	case e < 4:
		factor = 3
	}
	return factor*len(s.all) < s.cfg.MaxPeers
}

func (s *Swarm) clientRoom() bool {
	return s.cfg.MaxClientConnections <= 0 || s.clientConns < s.cfg.MaxClientConnections
}

// flushAllMaybe settles every pending flush when no more dials can start.
func (s *Swarm) flushAllMaybe() bool {
	if s.connecting > 0 || (s.withinMaxPeers() && s.clientRoom()) {
		return false
	}
	s.settleFlushes(true)
	return true
}

func (s *Swarm) settleFlushes(ok bool) {
	for _, f := range s.flushes {
		f.done <- ok
	}
	s.flushes = nil
}

func (s *Swarm) shouldConnectExplicit() bool {
	return !s.closed && !s.suspended && s.connecting < s.cfg.MaxParallel
}

func (s *Swarm) shouldConnect() bool {
	return s.shouldConnectExplicit() && s.withinMaxPeers() && s.clientRoom()
}

func (s *Swarm) shouldRequeue(p *PeerInfo) bool {
	if s.suspended {
		return false
	}
	if p.explicit {
		return true
	}
	for _, t := range p.topics {
		if _, ok := s.discovery[t]; ok && !s.closed {
			return true
		}
	}
	return false
}

func (s *Swarm) attemptClientConnections() {
	if s.draining || s.suspended {
		return
	}
	s.draining = true
	now := time.Now()
	for _, p := range append([]*PeerInfo(nil), s.explicit...) {
		if !s.shouldConnectExplicit() {
			break
		}
		if p.attempts >= 5 || now.Sub(p.disconnectedTime) < time.Duration(p.attempts)*time.Second {
			continue
		}
		s.connect(p, false)
	}
	for s.queue.len() > 0 && s.shouldConnect() {
		p := s.queue.shift()
		p.queued = false
		s.connect(p, true)
	}
	s.draining = false
	if s.connecting == 0 {
		s.flushAllMaybe()
	}
}

func (s *Swarm) connectDone() {
	s.connecting--
	if s.connecting < s.cfg.MaxParallel {
		s.attemptClientConnections()
	}
	if s.connecting == 0 {
		s.flushAllMaybe()
	}
}

// connect dials p unless it is banned, connected or firewalled.
func (s *Swarm) connect(p *PeerInfo, queued bool) {
	if _, ok := s.all[p.key]; ok || p.banned {
		if queued {
			s.flushMaybe(p)
		}
		return
	}
	if s.firewalled(p.PublicKey) {
		if queued {
			s.flushMaybe(p)
		}
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, dialTimeout)
	e := &connEntry{key: p.key, info: p, client: true, cancel: cancel, done: make(chan struct{})}
	s.all[p.key] = e
	s.stats.ClientAttempted++
	s.connecting++
	s.clientConns++
	s.stats.Updates++
	var opts hyperdht.ConnectOptions
	if len(p.relayAddresses) > 0 {
		opts.RelayAddresses = append([]netip.AddrPort(nil), p.relayAddresses...)
	}
	s.goOwned(func() { s.dial(ctx, e, &opts) })
}

// dial connects to the peer, trying the relay nodes of its announce first
// as hyperswarm does.
func (s *Swarm) dial(ctx context.Context, e *connEntry, opts *hyperdht.ConnectOptions) {
	defer e.cancel()
	c, err := s.dht.ConnectWith(ctx, e.info.PublicKey, opts)
	var sc *secretstream.Conn
	if err == nil {
		var ok bool
		if sc, ok = c.(*secretstream.Conn); !ok || sc == nil {
			if c != nil && sc == nil && !ok {
				c.Close()
			}
			err = ErrNotSecretStream
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil && (e.ending || s.closed || s.suspended) {
		s.destroyConn(sc)
		err = ErrClosed
	}
	if err != nil {
		s.log.Debug("swarm: dial failed", "peer", keyString(e.key), "err", err)
		s.endEntry(e)
		return
	}
	conn := newConn(sc, e)
	e.conn = conn
	e.opened = time.Now()
	s.stats.ClientOpened++
	s.connectDone()
	s.open[e] = struct{}{}
	e.info.connected(e.opened)
	e.info.client = true
	s.deliver(conn)
	s.flushMaybe(e.info) // hyperswarm only counts queued dials here, so a Flush waiting on an explicit peer's dial never ends
	s.stats.Updates++
	s.watch(e)
}

// handleServerConn takes a connection a peer made to our server. s.mu held.
func (s *Swarm) handleServerConn(sc *secretstream.Conn) {
	if s.closed || s.suspended {
		s.destroyConn(sc)
		return
	}
	k, ok := keyOf(sc.RemotePublicKey())
	if !ok {
		s.destroyConn(sc)
		return
	}
	if existing := s.all[k]; existing != nil {
		keep := s.keepNew(existing, sc)
		s.log.Debug("swarm: duplicate connection", "peer", keyString(k), "keepNew", keep, "existingOpen", existing.conn != nil, "existingClient", existing.client)
		if !keep {
			if existing.conn != nil {
				ss := existing.conn.Conn
				s.goOwned(func() { _ = ss.WriteMessage(nil) }) // a keepalive
			}
			s.destroyConn(sc)
			return
		}
		existing.swaps = append(existing.swaps, sc)
		s.destroyEntry(existing)
		return
	}
	if s.cfg.MaxServerConnections > 0 && s.serverConns >= s.cfg.MaxServerConnections {
		s.log.Debug("swarm: server connections at their maximum, closing", "peer", keyString(k))
		s.destroyConn(sc)
		return
	}
	p := s.upsertPeer(k, nil)
	if p == nil {
		s.destroyConn(sc)
		return
	}
	s.stats.ServerOpened++
	e := &connEntry{key: k, info: p, done: make(chan struct{}), opened: time.Now()}
	conn := newConn(sc, e)
	e.conn = conn
	s.all[k] = e
	s.open[e] = struct{}{}
	s.serverConns++
	p.client = false
	s.deliver(conn)
	s.stats.Updates++
	s.watch(e)
}

// keepNew is hyperswarm's rule for a second connection to a peer: keep the
// new one if the existing one is established (it carried data both ways, so
// the peer must have lost it and reconnected), otherwise keep the one the
// peer with the greater public key initiated.
func (s *Swarm) keepNew(existing *connEntry, sc *secretstream.Conn) bool {
	return keepNewConn(s.kp.PublicKey, sc.RemotePublicKey(), sc.IsInitiator(), existing.outdated(time.Now()))
}

// keepNewConn decides between an existing connection to remote and a new
// one (newInitiator: we initiated the new one).
func keepNewConn(local, remote []byte, newInitiator, existingOutdated bool) bool {
	if existingOutdated {
		return true
	}
	expectedInitiator := bytes.Compare(local, remote) > 0
	return expectedInitiator == newInitiator
}

// outdated approximates hyperswarm's "has read and written bytes" (data
// frames, keepalives included; the secret-stream headers do not count):
// data went both ways through the Conn, or it has been open long enough
// that keepalives would have. The age rule is deliberate: a half-open
// connection (the peer dropped it before its stream connected) never sees
// a reply, and judged by frames alone it would win the tie break against
// every redial of the peer until udx gives up on it; judged by age it
// yields to the redial after 5 s, as a live one does in JS.
func (e *connEntry) outdated(now time.Time) bool {
	if e.conn == nil {
		return false
	}
	if e.conn.read.Load() && e.conn.wrote.Load() {
		return true
	}
	return now.Sub(e.opened) >= outdatedAfter
}

// deliver queues conn for Accept, closing it if the backlog is full.
func (s *Swarm) deliver(c *Conn) {
	select {
	case s.accept <- c:
	default:
		s.stats.Dropped++
		s.log.Debug("swarm: accept backlog full, closing connection", "peer", keyString(c.e.key))
		s.destroyEntry(c.e)
	}
}

// watch waits for the connection to end, then does the bookkeeping.
func (s *Swarm) watch(e *connEntry) {
	var closed <-chan struct{}
	if st, ok := e.conn.Conn.NetConn().(*udx.Stream); ok {
		closed = st.Closed()
	}
	s.goOwned(func() {
		select {
		case <-closed:
		case <-e.conn.closing:
		case <-s.ctx.Done():
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.endEntry(e)
	})
	if ka := s.cfg.KeepAlive; ka > 0 {
		sc := e.conn.Conn
		s.goOwned(func() {
			t := time.NewTicker(ka)
			defer t.Stop()
			for {
				select {
				case <-t.C:
					if sc.WriteMessage(nil) != nil {
						return
					}
				case <-e.done:
					return
				case <-s.ctx.Done():
					return
				}
			}
		})
	}
}

// destroyEntry ends a connection or a dial at once. s.mu held.
func (s *Swarm) destroyEntry(e *connEntry) {
	if e.ending {
		return
	}
	e.ending = true
	if e.conn == nil {
		e.cancel()
		return
	}
	s.destroyConn(e.conn.Conn)
	e.conn.markClosed()
}

// endEntry does the bookkeeping for a connection or dial that ended, as
// hyperswarm's close handlers. s.mu held.
func (s *Swarm) endEntry(e *connEntry) {
	if e.ended {
		return
	}
	e.ended = true
	s.log.Debug("swarm: connection ended", "peer", keyString(e.key), "client", e.client, "opened", e.conn != nil, "destroyed", e.ending)
	if e.conn != nil {
		e.conn.markClosed()
		s.releaseConn(e.conn.Conn)
	}
	close(e.done)
	p := e.info
	opened := e.conn != nil
	if e.client {
		if !opened {
			s.connectDone()
		}
		s.stats.ClientClosed++
		delete(s.open, e)
		if s.all[e.key] == e {
			delete(s.all, e.key)
		}
		s.clientConns--
		p.disconnected(time.Now())
		p.waiting = s.shouldRequeue(p) && !s.closed && s.timer.add(p)
		s.maybeDeletePeer(p)
		if !opened {
			s.flushMaybe(p)
		}
	} else {
		delete(s.open, e)
		if s.all[e.key] == e {
			delete(s.all, e.key)
		}
		s.serverConns--
		s.stats.ServerClosed++
		s.maybeDeletePeer(p)
	}
	s.attemptClientConnections()
	s.stats.Updates++
	for _, sc := range e.swaps {
		if st, ok := sc.NetConn().(*udx.Stream); ok {
			select {
			case <-st.Closed():
				continue // it ended while waiting
			default:
			}
		}
		s.handleServerConn(sc)
	}
	e.swaps = nil
}

// destroyConn closes a connection at once (a destroy packet to the peer)
// and releases it.
func (s *Swarm) destroyConn(sc *secretstream.Conn) {
	if st, ok := sc.NetConn().(*udx.Stream); ok {
		st.Destroy()
	}
	s.goOwned(func() { sc.Close() })
}

// releaseConn closes a connection whose stream already ended, releasing
// it; one still running is left to its owner.
func (s *Swarm) releaseConn(sc *secretstream.Conn) {
	if st, ok := sc.NetConn().(*udx.Stream); ok {
		select {
		case <-st.Closed():
			s.goOwned(func() { sc.Close() })
		default:
		}
	}
}

// Flush waits until every joined topic has finished its current refresh
// and the peers found so far have been dialled (each connected or failed),
// or no more connections can be made (maxPeers reached).
func (s *Swarm) Flush(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	topics := make([]*topic, 0, len(s.discovery))
	for _, t := range s.discovery {
		topics = append(topics, t)
	}
	s.mu.Unlock()
	for _, t := range topics {
		if err := t.flushed(ctx); err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.flushAllMaybe() {
		s.mu.Unlock()
		return nil
	}
	pending := len(s.all) - len(s.open)
	if s.queue.len() == 0 && pending == 0 {
		s.mu.Unlock()
		return nil
	}
	f := &flushWaiter{missing: s.queue.len() + pending, tick: s.flushTick, done: make(chan bool, 1)}
	s.flushTick++
	s.flushes = append(s.flushes, f)
	s.mu.Unlock()
	select {
	case ok := <-f.done:
		if !ok {
			return ErrClosed
		}
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for i, g := range s.flushes {
			if g == f {
				s.flushes = append(s.flushes[:i], s.flushes[i+1:]...)
				break
			}
		}
		s.mu.Unlock()
		return ctx.Err()
	}
}

// Suspend stops the swarm for a while (a device going to sleep): it stops
// announcing and looking up, closes the server and every connection and
// forgets the dial queue. Resume undoes it.
func (s *Swarm) Suspend(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.suspended {
		s.mu.Unlock()
		return nil
	}
	s.suspended = true
	srv := s.server
	s.server, s.listening = nil, nil
	var aborts []*run
	for _, t := range s.discovery {
		aborts = append(aborts, t.suspend())
	}
	var entries []*connEntry
	for _, e := range s.all {
		entries = append(entries, e)
		s.destroyEntry(e)
	}
	s.timer.stop()
	s.timer = newRetryTimer(s, s.backoffs, s.jitter, s.customBackoff)
	s.queue.clear()
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	for _, r := range aborts {
		if err := r.wait(ctx); err != nil && ctx.Err() != nil {
			return err
		}
	}
	for _, e := range entries {
		select {
		case <-e.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Resume restarts a suspended swarm: the server if it was listening, the
// topics' announces and lookups, and dialling.
func (s *Swarm) Resume(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if !s.suspended {
		s.mu.Unlock()
		return nil
	}
	s.suspended = false
	var lr *run
	if s.wasListening {
		lr = s.listenLocked()
	}
	for _, t := range s.discovery {
		t.resume()
	}
	s.attemptClientConnections()
	s.mu.Unlock()
	if lr != nil {
		return lr.wait(ctx)
	}
	return nil
}

// Close leaves every topic (unannouncing, bounded to a few seconds), stops
// the server, closes every connection, ends every goroutine and, if New made
// the DHT, closes it. Connections already returned by Accept are closed too.
func (s *Swarm) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	var aborts []*run
	for _, t := range s.discovery {
		aborts = append(aborts, t.destroy())
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	for _, r := range aborts {
		_ = r.wait(ctx)
	}
	cancel()

	s.mu.Lock()
	s.closed = true
	s.discovery = map[[32]byte]*topic{}
	s.timer.stop()
	srv := s.server
	s.server = nil
	for _, e := range s.all {
		s.destroyEntry(e)
	}
	s.settleFlushes(false)
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	s.cancel()
	s.wg.Wait()
	for {
		select {
		case c := <-s.accept:
			_ = c
		default:
			if s.ownDHT {
				return s.dht.Close()
			}
			return nil
		}
	}
}

func keyString(k [32]byte) string { return hex.EncodeToString(k[:8]) }

func keyOf(pk []byte) ([32]byte, bool) {
	var k [32]byte
	if len(pk) != 32 {
		return k, false
	}
	copy(k[:], pk)
	return k, true
}
