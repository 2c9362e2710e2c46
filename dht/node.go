package dht

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/udx"
)

// Timing of the node's maintenance, as dht-rpc.
const (
	tickInterval     = 5 * time.Second
	sleepingInterval = 3 * tickInterval
	stableTicks      = 240 // ~20 min without trouble before an adaptive node becomes persistent
	moreStableTicks  = 3 * stableTicks
	refreshTicks     = 60 // refresh every ~5 min when idle
	recentNode       = 12 // heard from less than ~1 min ago
	oldNode          = 360
)

// Config configures a Node. The zero value is a firewalled, adaptive node
// on a random port of all IPv4 interfaces with no bootstrap nodes.
type Config struct {
	// Bootstrap lists "host:port" nodes to join the network through. The
	// form "ip@name:port" uses ip and falls back to resolving name.
	Bootstrap []string
	// Nodes are known nodes to seed the routing table with.
	Nodes []netip.AddrPort
	// Host is the IPv4 address to bind; empty means 0.0.0.0.
	Host string
	// Port is the preferred port of the server socket; 0 picks any. If the
	// port is taken the next four are tried, then any port (unless
	// StrictPort).
	Port uint16
	// StrictPort fails New instead of falling back to another port.
	StrictPort bool
	// Ephemeral nil means adaptive: start ephemeral and become persistent
	// once the node proves reachable and stable. false asks to become
	// persistent as soon as reachability is confirmed; true stays ephemeral.
	Ephemeral *bool
	// Firewalled nil or true assumes the node cannot be reached until a
	// PING_NAT check proves otherwise; false declares it reachable.
	Firewalled *bool
	// NoQuickFirewall skips the PING_NAT probe during bootstrap.
	NoQuickFirewall bool
	// Concurrency is how many requests a query keeps in flight; 0 means 10.
	Concurrency int
	// MaxWindow is the congestion limit per 750 ms; 0 means 80.
	MaxWindow int
	// RateLimit caps the requests handled per source address per second;
	// 0 means 1000, negative disables it.
	RateLimit int
	// NoDownHints stops sending DOWN_HINT messages.
	NoDownHints bool
	// DownHintsRateLimit caps DOWN_HINTs sent per tick; 0 means 50,
	// negative means no limit.
	DownHintsRateLimit int
	// FilterNode, if set, decides which nodes may enter the routing table
	// and queries.
	FilterNode func(netip.AddrPort) bool
	// UDX is the UDX instance whose sockets the node uses (hyperdht runs its
	// streams on them); nil means a new one with udx's defaults. Many nodes
	// in one process save memory with udx.Config{NoBatch: true}.
	UDX *udx.UDX
	// Listen opens a socket; nil means UDX sockets. Tests use it for an
	// in-memory network.
	Listen func(addr netip.AddrPort) (PacketConn, error)
	// Logger receives debug logs; nil is silent.
	Logger *slog.Logger

	bootstrapperAddr netip.AddrPort
}

// Stats are counters of a node's traffic.
type Stats struct {
	RequestsSent      uint64 // datagrams sent for requests, retries included
	Responses         uint64 // responses matched to a request
	Timeouts          uint64 // requests that failed after all retries
	Retries           uint64
	RequestsReceived  uint64
	RequestsRateLimit uint64 // requests dropped by the rate limit
	Malformed         uint64 // datagrams that did not decode
	DownHintsSent     uint64
	DownHintsReceived uint64
}

// Node is a dht-rpc node. Its methods are safe for concurrent use.
type Node struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	server, client PacketConn
	bootstrap      []netip.AddrPort

	handlersMu sync.RWMutex
	handlers   map[uint64]Handler

	bootstrappedCh chan struct{}

	mu             sync.Mutex
	closed         bool
	tbl            *table
	nodes          nodeList
	nat            *natSampler
	ephemeral      bool
	firewalled     bool
	adaptive       bool
	forcePersist   bool
	bootstrapped   bool
	tick           uint32
	lastTick       time.Time
	stableTicks    int
	refreshTicks   int
	lastHost       netip.Addr
	repinging      int
	checks         int
	updating       bool
	downHintsSent  int
	nonPersistent  []netip.AddrPort
	serverHosts    map[netip.Addr]struct{}
	delayedPings   int
	inflight       map[uint16]*outRequest
	pending        []*outRequest
	cong           congestion
	nextTID        uint16
	secrets        [2][32]byte
	rotate         int
	stats          Stats
	limiter        rateLimiter
	persistentCh   chan struct{}
	persistentDone bool
	health         health

	// One timer serves the node: the drain every 750 ms, the tick every
	// 5 s and the timeouts of every request in flight (deadlines). Times
	// are clock() values.
	epoch     time.Time
	timer     *time.Timer
	timerAt   int64 // when timer fires; 0 while stopped
	nextDrain int64
	nextTick  int64
	deadlines deadlineHeap

	slab nodeSlab // routing entries
}

// New starts a node: it binds its sockets and starts bootstrapping in the
// background (see Bootstrapped).
func New(cfg *Config) (*Node, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 10
	}
	if c.MaxWindow <= 0 {
		c.MaxWindow = defaultMaxWindow
	}
	if c.RateLimit == 0 {
		c.RateLimit = 1000
	}
	if c.DownHintsRateLimit == 0 {
		c.DownHintsRateLimit = 50
	}
	if c.Listen == nil {
		u := c.UDX
		if u == nil {
			u = udx.New(nil)
		}
		c.Listen = func(a netip.AddrPort) (PacketConn, error) {
			s, err := u.Listen("udp4", a.String())
			if err != nil {
				return nil, err
			}
			return UDXConn{s}, nil
		}
	}
	host := netip.IPv4Unspecified()
	if c.Host != "" {
		h, err := netip.ParseAddr(c.Host)
		if err != nil || !h.Unmap().Is4() {
			return nil, fmt.Errorf("%w: host %q", ErrBadAddress, c.Host)
		}
		host = h.Unmap()
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	n := &Node{
		cfg:            c,
		log:            log,
		handlers:       map[uint64]Handler{},
		bootstrappedCh: make(chan struct{}),
		persistentCh:   make(chan struct{}),
		nat:            &natSampler{},
		ephemeral:      true,
		firewalled:     c.Firewalled == nil || *c.Firewalled,
		adaptive:       c.Ephemeral == nil,
		forcePersist:   c.Ephemeral != nil && !*c.Ephemeral,
		inflight:       map[uint16]*outRequest{},
		rotate:         rotateDrains,
		lastTick:       time.Now(),
		health:         newHealth(),
		epoch:          time.Now(),
	}
	n.cong.max = c.MaxWindow
	var id [32]byte
	rand.Read(id[:])
	n.setTable(newTable(id))
	rand.Read(n.secrets[0][:])
	rand.Read(n.secrets[1][:])
	var tb [2]byte
	rand.Read(tb[:])
	n.nextTID = uint16(tb[0]) | uint16(tb[1])<<8
	n.tick = uint32(randomOffset(100))
	n.refreshTicks = int(randomOffset(refreshTicks))
	if n.adaptive {
		n.stableTicks = stableTicks
	}

	if err := n.bind(host); err != nil {
		return nil, err
	}
	if c.bootstrapperAddr.IsValid() {
		n.nat.add(c.bootstrapperAddr.Addr(), c.bootstrapperAddr.Port())
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())

	for i := len(c.Nodes) - 1; i >= 0; i-- {
		n.AddNode(c.Nodes[i])
	}

	n.receive(n.server)
	n.receive(n.client)
	n.mu.Lock()
	n.nextDrain = n.clock() + int64(drainInterval)
	n.nextTick = n.clock() + int64(tickInterval)
	n.armTimer(n.nextDrain)
	n.mu.Unlock()
	n.wg.Add(1)
	go n.runBootstrap()
	return n, nil
}

// NewBootstrapper starts a node others bootstrap from: persistent from the
// start, not firewalled, with no bootstrap list, bound to port, whose public
// address is host:port. host must be a concrete IPv4 address.
func NewBootstrapper(host string, port uint16, cfg *Config) (*Node, error) {
	if port == 0 {
		return nil, fmt.Errorf("%w: port is required", ErrBadAddress)
	}
	h, err := netip.ParseAddr(host)
	if err != nil || !h.Unmap().Is4() || h.IsUnspecified() {
		return nil, fmt.Errorf("%w: host %q", ErrBadAddress, host)
	}
	var c Config
	if cfg != nil {
		c = *cfg
	}
	f := false
	c.Ephemeral = &f
	c.Firewalled = &f
	c.Bootstrap = nil
	c.Port = port
	c.StrictPort = true
	c.bootstrapperAddr = netip.AddrPortFrom(h.Unmap(), port)
	return New(&c)
}

func randomOffset(n int) uint64 {
	var b [1]byte
	rand.Read(b[:])
	return uint64(n - int(float64(b[0])/256*0.5*float64(n)))
}

func (n *Node) setTable(t *table) {
	n.tbl = t
	t.onFull = n.onFullRow
}

func (n *Node) bind(host netip.Addr) error {
	listen := n.cfg.Listen
	var err error
	if p := n.cfg.Port; p != 0 {
		last := p
		if !n.cfg.StrictPort {
			last = min(p+4, 65535)
		}
		for q := p; q >= p && q <= last; q++ {
			if n.server, err = listen(netip.AddrPortFrom(host, q)); err == nil {
				break
			}
		}
		if n.server == nil && n.cfg.StrictPort {
			return err
		}
	}
	if n.server == nil {
		if n.server, err = listen(netip.AddrPortFrom(host, 0)); err != nil {
			return err
		}
	}
	if n.client, err = listen(netip.AddrPortFrom(host, 0)); err != nil {
		n.server.Close()
		return err
	}
	n.bootstrap = n.resolveBootstrap()
	return nil
}

// resolveBootstrap turns the configured host:port strings into addresses,
// skipping the ones that do not resolve.
func (n *Node) resolveBootstrap() []netip.AddrPort {
	var out []netip.AddrPort
	for _, s := range n.cfg.Bootstrap {
		a, err := resolveNode(s)
		if err != nil {
			n.log.Debug("dht: bootstrap node skipped", "node", s, "err", err)
			continue
		}
		out = append(out, a)
	}
	return out
}

func resolveNode(s string) (netip.AddrPort, error) {
	host, ps, err := net.SplitHostPort(s)
	if err != nil {
		return netip.AddrPort{}, err
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil || port == 0 {
		return netip.AddrPort{}, fmt.Errorf("%w: port %q", ErrBadAddress, ps)
	}
	if i := strings.IndexByte(host, '@'); i >= 0 {
		if ip, err := netip.ParseAddr(host[:i]); err == nil && ip.Unmap().Is4() {
			return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
		}
		host = host[i+1:]
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if !ip.Unmap().Is4() {
			return netip.AddrPort{}, ErrBadAddress
		}
		return netip.AddrPortFrom(ip.Unmap(), uint16(port)), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", host)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, ErrBadAddress
	}
	return netip.AddrPortFrom(ips[0].Unmap(), uint16(port)), nil
}

// Close stops the node: pending requests fail with ErrClosed, queries end,
// sockets close and every goroutine of the node returns.
func (n *Node) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.cancel()
	if n.timer != nil {
		n.timer.Stop()
		n.timerAt = 0
	}
	for _, r := range n.inflight {
		r.destroy(ErrClosed)
	}
	for _, r := range n.pending {
		r.destroy(ErrClosed)
	}
	n.pending = nil
	n.mu.Unlock()
	err := n.server.Close()
	if e := n.client.Close(); err == nil {
		err = e
	}
	n.wg.Wait()
	return err
}

// Bootstrapped waits until the node finished joining the network (its
// first walk towards its own id, and the reachability checks it decided
// to make).
func (n *Node) Bootstrapped(ctx context.Context) error {
	select {
	case <-n.bootstrappedCh:
		return nil
	case <-n.ctx.Done():
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ID returns the node id and true when the node is persistent; ephemeral
// nodes have no id on the wire.
func (n *Node) ID() ([32]byte, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.tbl.id, !n.ephemeral
}

// TableID is the id the routing table is organised around (random while
// the node has no public address).
func (n *Node) TableID() [32]byte {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.tbl.id
}

// Ephemeral reports whether the node is ephemeral (not answering as a
// routing node).
func (n *Node) Ephemeral() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ephemeral
}

// Firewalled reports whether the node believes it cannot be reached.
func (n *Node) Firewalled() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.firewalled
}

// Online reports whether requests get responses (false after two busy
// ticks without any), as dht-rpc's network health.
func (n *Node) Online() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.health.isOnline
}

// Degraded reports whether more than half the requests time out, over
// the last four busy ticks.
func (n *Node) Degraded() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.health.isDegraded
}

// Persistent is closed when the node becomes persistent.
func (n *Node) Persistent() <-chan struct{} { return n.persistentCh }

// PublicAddr is the node's address as the NAT sampler sees it: a zero
// address if unknown, port 0 if the host is stable but the port is not.
func (n *Node) PublicAddr() netip.AddrPort {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.nat.host.IsValid() {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(n.nat.host, n.nat.port)
}

// RemoteAddr is the address other nodes can reach this node at, or a zero
// address when the node is firewalled or its mapping is not stable.
func (n *Node) RemoteAddr() netip.AddrPort {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.nat.host.IsValid() || n.nat.port == 0 || n.firewalled {
		return netip.AddrPort{}
	}
	if n.server.LocalAddr().Port() != n.nat.port {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(n.nat.host, n.nat.port)
}

// LocalAddr is the bound address of the server socket, the one other nodes
// reach once this node is not firewalled.
func (n *Node) LocalAddr() netip.AddrPort { return n.server.LocalAddr() }

// Socket is the socket requests are sent from: the client socket while
// firewalled, the server socket after.
func (n *Node) Socket() PacketConn {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.defaultConn()
}

// ServerSocket is the socket bound to the configured port.
func (n *Node) ServerSocket() PacketConn { return n.server }

// ClientSocket is the socket a firewalled node sends from.
func (n *Node) ClientSocket() PacketConn { return n.client }

func (n *Node) defaultConn() PacketConn {
	if n.firewalled {
		return n.client
	}
	return n.server
}

// Nodes lists the known nodes, most recently seen first.
func (n *Node) Nodes() []netip.AddrPort {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]netip.AddrPort, 0, n.nodes.length)
	for x := n.nodes.latest; x != nil; x = x.prev {
		out = append(out, x.addr.AddrPort())
	}
	return out
}

// Stats returns a copy of the node's counters.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.stats
}

// AddNode adds a node to the routing table.
func (n *Node) AddNode(addr netip.AddrPort) {
	addr = netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())
	if !addr.Addr().Is4() || addr.Port() == 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.addFresh(addr4{}, NodeID(addr), toAddr4(addr))
}

// --- socket input ---

// receive hands c's datagrams to HandleDatagram: through c's own receive
// goroutine when c takes a handler, else from a reader goroutine of the
// node's.
func (n *Node) receive(c PacketConn) {
	if h, ok := c.(HandlerConn); ok {
		h.SetDatagramHandler(func(b []byte, from netip.AddrPort) { n.HandleDatagram(c, b, from) })
		return
	}
	n.wg.Add(1)
	go n.readLoop(c)
}

func (n *Node) readLoop(c PacketConn) {
	defer n.wg.Done()
	for {
		b, from, err := c.ReadFrom(n.ctx)
		if err != nil {
			if n.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		n.HandleDatagram(c, b, from)
	}
}

// HandleDatagram processes one datagram received on c (which may be a
// socket other than the node's own, as hyperdht's hole-punching sockets).
// Replies go out through c.
func (n *Node) HandleDatagram(c PacketConn, b []byte, from netip.AddrPort) {
	from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	if len(b) < 2 || from.Port() == 0 || !from.Addr().Is4() {
		return
	}
	switch b[0] {
	case requestID:
		n.onRequestDatagram(c, b, from)
	case responseID:
		n.onResponseDatagram(c, b, from)
	}
}

func (n *Node) onRequestDatagram(c PacketConn, b []byte, from netip.AddrPort) {
	m, err := DecodeRequest(b)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	if err != nil {
		n.stats.Malformed++
		n.mu.Unlock()
		return
	}
	if !n.limiter.allow(from, n.cfg.RateLimit) {
		n.stats.RequestsRateLimit++
		n.mu.Unlock()
		return
	}
	n.stats.RequestsReceived++
	if c == n.server && n.serverHosts != nil && len(n.serverHosts) < 64 {
		n.serverHosts[from.Addr()] = struct{}{}
	}
	req := &Request{
		n: n, conn: c, TID: m.TID, From: from, To: m.To, Token: m.Token,
		Internal: m.Internal, Command: m.Command, Target: m.Target, Value: m.Value,
	}
	if m.ID != nil && *m.ID == NodeID(from) {
		id := *m.ID
		req.FromID = &id
	}
	if m.Token != nil {
		t1, t0 := n.token(from.Addr(), 1), n.token(from.Addr(), 0)
		if *m.Token != t1 && *m.Token != t0 {
			req.sendReplyLocked(ErrCodeInvalidToken, nil, true, true, from, c)
			n.mu.Unlock()
			return
		}
	}
	external := c != n.defaultConn()
	if req.FromID != nil {
		n.addNodeFromNetwork(!external, from, req.FromID, m.To)
	}
	if m.Internal {
		n.onInternalRequest(req)
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()

	n.handlersMu.RLock()
	h := n.handlers[m.Command]
	n.handlersMu.RUnlock()
	if h == nil {
		req.Error(ErrCodeUnknownCommand, nil)
		return
	}
	h(n.ctx, req)
}

func (n *Node) onResponseDatagram(c PacketConn, b []byte, from netip.AddrPort) {
	m, err := DecodeResponse(b)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	if err != nil {
		n.stats.Malformed++
		return
	}
	if c == n.server && n.serverHosts != nil && len(n.serverHosts) < 64 {
		n.serverHosts[from.Addr()] = struct{}{}
	}
	r := n.inflight[m.TID]
	if r == nil {
		return
	}
	res := &Response{
		From: from, To: m.To, Token: m.Token, CloserNodes: m.CloserNodes,
		Error: m.Error, Value: m.Value, RTT: time.Since(r.start), Conn: c,
	}
	if m.ID != nil && *m.ID == NodeID(from) {
		id := *m.ID
		res.FromID = &id
	}
	r.finish()
	n.stats.Responses++
	external := c != n.defaultConn()
	n.addNodeFromNetwork(!external, from, res.FromID, m.To)
	r.onResponse(res)
}

// --- tokens ---

func (n *Node) token(host netip.Addr, i int) [32]byte {
	t, _ := crypto.KeyedHash(n.secrets[i][:], []byte(host.String()))
	return t
}

// --- outgoing requests ---

// newRequest registers a request; the caller sets callbacks and sends it.
// It returns nil when the node is closed. n.mu must be held.
func (n *Node) newRequest(to netip.AddrPort, toID *[32]byte, token *[32]byte, internal bool, command uint64, target *[32]byte, value []byte) *outRequest {
	if n.closed {
		return nil
	}
	tid := n.nextTID
	for i := 0; n.inflight[tid] != nil && i < 65536; i++ {
		tid++
	}
	if n.inflight[tid] != nil {
		return nil // 65536 requests in flight
	}
	n.nextTID = tid + 1
	r := &outRequest{
		n: n, conn: n.defaultConn(), tid: tid, to: to, toID: toID, token: token,
		internal: internal, command: command, target: target, value: value,
		retries: defaultRetries, start: time.Now(), hidx: -1,
		onResponse: func(*Response) {}, onError: func(error) {},
	}
	n.inflight[tid] = r
	return r
}

// request sends an internal or user request with callbacks run under n.mu.
func (n *Node) request(to netip.AddrPort, toID *[32]byte, force, internal bool, command uint64, target *[32]byte, value []byte, onResponse func(*Response), onError func(error)) *outRequest {
	if internal && n.cfg.NoDownHints && command == CmdDownHint {
		return nil
	}
	r := n.newRequest(to, toID, nil, internal, command, target, value)
	if r == nil {
		return nil
	}
	r.onResponse = onResponse
	r.onError = onError
	r.send(force)
	return r
}

func (n *Node) onTimeout(r *outRequest) {
	if r.toID == nil {
		return
	}
	if x := n.tbl.get(r.toID); x != nil {
		n.removeNode(x)
	}
}

// --- routing table maintenance (n.mu held) ---

func (n *Node) natAdd(a netip.AddrPort) {
	n.nat.add(a.Addr(), a.Port())
}

func (n *Node) sampleBootstrapMaybe(from, to netip.AddrPort) {
	if len(n.nonPersistent) >= max(1, len(n.bootstrap)) {
		return
	}
	for _, x := range n.nonPersistent {
		if x == from {
			return
		}
	}
	n.nonPersistent = append(n.nonPersistent, from)
	n.natAdd(to)
}

func (n *Node) addNodeFromNetwork(sample bool, from netip.AddrPort, id *[32]byte, to netip.AddrPort) {
	if n.cfg.FilterNode != nil && !n.cfg.FilterNode(from) {
		return
	}
	if id == nil {
		n.sampleBootstrapMaybe(from, to)
		return
	}
	if old := n.tbl.get(id); old != nil {
		if sample && (old.sampled == 0 || n.tick-old.sampled >= oldNode) {
			old.to = toAddr4(to)
			old.sampled = n.tick
			n.natAdd(to)
		}
		old.pinged, old.seen = n.tick, n.tick
		n.nodes.add(old)
		return
	}
	n.addFresh(toAddr4(to), *id, toAddr4(from))
}

// addFresh adds a node not known yet, with an entry from the node's slab
// that goes back to it unless the table took it (or a re-ping holds it).
func (n *Node) addFresh(to addr4, id [32]byte, addr addr4) {
	x := n.slab.get()
	x.id, x.addr, x.to = id, addr, to
	if !n.addNode(x) && !x.held {
		n.slab.put(x)
	}
}

// addNode adds x to the table and the node list and reports whether it
// went in.
func (n *Node) addNode(x *node) bool {
	if n.nodes.has(x) || x.id == n.tbl.id {
		return false
	}
	x.added, x.pinged, x.seen = n.tick, n.tick, n.tick
	if !n.tbl.add(x) {
		return false
	}
	n.nodes.add(x)
	if x.to.valid() && x.sampled == 0 {
		x.sampled = n.tick
		n.natAdd(x.to.AddrPort())
	}
	return true
}

func (n *Node) removeNode(x *node) {
	if !n.nodes.has(x) {
		return
	}
	n.tbl.remove(&x.id)
	n.nodes.remove(x)
	n.slab.put(x)
}

func (n *Node) onFullRow(newNode *node, row []*node) {
	if !n.bootstrapped || n.repinging >= 3 {
		return
	}
	var oldest *node
	for _, x := range row {
		if x.pinged == n.tick {
			continue
		}
		if oldest == nil || oldest.pinged > x.pinged || (oldest.pinged == x.pinged && oldest.added > x.added) {
			oldest = x
		}
	}
	if oldest == nil {
		return
	}
	if n.tick-oldest.pinged < recentNode && n.tick-oldest.added > oldNode {
		return
	}
	n.repingAndSwap(newNode, oldest)
}

// repingAndSwap pings the oldest node of a full row and puts newNode in
// its place if it does not answer (or answers without having been heard
// from since). Entries go back to the slab when removed, so the callbacks
// check that oldNode still holds the same id.
func (n *Node) repingAndSwap(newNode, oldNode *node) {
	lastSeen := oldNode.seen
	oldID := oldNode.id
	oldNode.pinged = n.tick
	n.repinging++
	newNode.held = true
	drop := func() {
		newNode.held = false
		n.slab.put(newNode)
	}
	swap := func() {
		n.repinging--
		if oldNode.id == oldID {
			n.removeNode(oldNode)
		}
		newNode.held = false
		if !n.addNode(newNode) && !newNode.held {
			n.slab.put(newNode)
		}
	}
	r := n.request(oldNode.addr.AddrPort(), nil, false, true, CmdPing, nil, nil, func(*Response) {
		if oldNode.id == oldID && oldNode.seen <= lastSeen {
			swap()
			return
		}
		n.repinging--
		drop()
	}, func(error) { swap() })
	if r == nil {
		n.repinging--
		drop()
	}
}

func (n *Node) check(x *node) {
	x.pinged = n.tick
	lastSeen := x.seen
	id := x.id // x goes back to the slab if removed meanwhile
	n.checks++
	r := n.request(x.addr.AddrPort(), nil, false, true, CmdPing, nil, nil, func(*Response) {
		n.checks--
		if x.id == id && x.seen <= lastSeen {
			n.removeNode(x)
		}
	}, func(error) {
		n.checks--
		if x.id == id {
			n.removeNode(x)
		}
	})
	if r == nil {
		n.checks--
	}
}

func (n *Node) pingSome() {
	cnt := 5
	if len(n.inflight) > 2 {
		cnt = 3
	}
	oldest := n.nodes.oldest
	if oldest == nil {
		n.refresh()
		return
	}
	if n.tick-oldest.pinged < recentNode {
		cnt = 2
	}
	for ; cnt > 0; cnt-- {
		if oldest == nil || n.tick == oldest.pinged {
			continue
		}
		next := oldest.next
		n.check(oldest)
		oldest = next
	}
}

// refresh walks towards a random known node (or our own id).
func (n *Node) refresh() {
	target := n.tbl.id
	if x := n.tbl.random(); x != nil {
		target = x.id
	}
	n.backgroundQuery(target, nil)
}

// --- internal commands (n.mu held) ---

func (n *Node) onInternalRequest(req *Request) {
	switch req.Command {
	case CmdPing:
		req.sendReplyLocked(0, nil, false, false, req.From, req.conn)
		return
	case CmdDelayedPing:
		n.onDelayedPing(req)
		return
	case CmdPingNAT:
		if len(req.Value) < 2 {
			return
		}
		port := uint16(req.Value[0]) | uint16(req.Value[1])<<8
		if port == 0 {
			return
		}
		req.From = netip.AddrPortFrom(req.From.Addr(), port)
		req.sendReplyLocked(0, nil, false, false, req.From, req.conn)
		return
	case CmdFindNode:
		if req.Target == nil {
			return
		}
		req.sendReplyLocked(0, nil, false, true, req.From, req.conn)
		return
	case CmdDownHint:
		if len(req.Value) < 6 {
			return
		}
		n.stats.DownHintsReceived++
		if n.checks < 10 {
			id := crypto.Hash(req.Value[:6])
			if x := n.tbl.get(&id); x != nil && (x.pinged < n.tick || x.downHints == 0) {
				if x.downHints < 255 {
					x.downHints++
				}
				n.check(x)
			}
		}
		req.sendReplyLocked(0, nil, false, false, req.From, req.conn)
		return
	}
	req.sendReplyLocked(ErrCodeUnknownCommand, nil, false, req.Target != nil, req.From, req.conn)
}

const (
	maxPingDelay    = 10 * time.Second
	maxDelayedPings = 256
)

func (n *Node) onDelayedPing(req *Request) {
	if len(req.Value) < 4 || n.delayedPings >= maxDelayedPings {
		return
	}
	ms := uint32(req.Value[0]) | uint32(req.Value[1])<<8 | uint32(req.Value[2])<<16 | uint32(req.Value[3])<<24
	d := time.Duration(ms) * time.Millisecond
	if d > maxPingDelay {
		return
	}
	n.delayedPings++
	time.AfterFunc(d, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.delayedPings--
		if n.closed {
			return
		}
		req.sendReplyLocked(0, nil, false, false, req.From, req.conn)
	})
}

// --- timers ---

// clock is the node's monotonic time in nanoseconds since it started
// (never 0 once a node runs).
func (n *Node) clock() int64 { return int64(time.Since(n.epoch)) + 1 }

// armTimer makes the node's timer fire no later than at. n.mu held.
func (n *Node) armTimer(at int64) {
	if n.closed || (n.timerAt != 0 && n.timerAt <= at) {
		return
	}
	n.timerAt = at
	d := time.Duration(at - n.clock())
	if n.timer == nil {
		n.timer = time.AfterFunc(d, n.onTimer)
		return
	}
	n.timer.Reset(d)
}

// onTimer runs whatever is due: the drain, the tick and the requests
// whose attempt timed out, then sets the timer for the next of them. The
// node has no goroutine of its own for timers: the runtime runs this
// callback, at most one at a time per node.
func (n *Node) onTimer() {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.timerAt = 0
	if n.closed {
		return
	}
	now := n.clock()
	if now >= n.nextDrain {
		n.drain()
		n.nextDrain += int64(drainInterval)
		if n.nextDrain <= now {
			n.nextDrain = now + int64(drainInterval) // we slept: no catching up
		}
	}
	if now >= n.nextTick {
		n.onTick()
		n.nextTick = now + int64(tickInterval)
	}
	// A cycle may resend (a later deadline), end the request or start
	// others; each of those has a deadline after now, so this ends.
	for r := n.deadlines.first(); r != nil && r.deadline <= now && !n.closed; r = n.deadlines.first() {
		n.deadlines.remove(r)
		r.cycle()
	}
	if n.closed {
		return
	}
	next := min(n.nextDrain, n.nextTick)
	if r := n.deadlines.first(); r != nil {
		next = min(next, r.deadline)
	}
	n.armTimer(next)
}

func (n *Node) drain() {
	if n.rotate--; n.rotate == 0 {
		n.rotate = rotateDrains
		n.secrets[0], n.secrets[1] = n.secrets[1], crypto.Hash(n.secrets[0][:])
	}
	n.limiter.reset()
	n.cong.drain()
	for !n.cong.full() && len(n.pending) > 0 {
		r := n.pending[0]
		n.pending[0] = nil
		n.pending = n.pending[1:]
		r.sendNow()
	}
	if len(n.pending) == 0 {
		n.pending = nil
	}
}

func (n *Node) onTick() {
	now := time.Now()
	if now.Sub(n.lastTick) > sleepingInterval {
		n.onWakeup()
	} else {
		n.tick++
	}
	n.lastTick = now
	if !n.bootstrapped {
		return
	}
	if n.adaptive && n.ephemeral {
		if n.stableTicks--; n.stableTicks <= 0 {
			if n.lastHost == n.nat.host {
				n.stableTicks = moreStableTicks
			} else if !n.updating {
				n.stableTicks = moreStableTicks
				n.lastHost = n.nat.host
				n.updating = true
				n.wg.Add(1)
				go func() {
					defer n.wg.Done()
					n.updateNetworkState(false)
					n.mu.Lock()
					n.updating = false
					n.mu.Unlock()
				}()
			}
		}
	}
	if n.tick&7 == 0 {
		n.pingSome()
	}
	if (n.tick&63 == 0 && n.nodes.length < K) || func() bool { n.refreshTicks--; return n.refreshTicks <= 0 }() {
		n.refresh()
	}
	n.downHintsSent = 0
	n.health.update(n.stats.Responses, n.stats.Timeouts)
}

func (n *Node) onWakeup() {
	n.tick += 2 * oldNode
	n.tick += 8 - (n.tick & 7) - 2
	n.stableTicks = moreStableTicks
	n.refreshTicks = 1
	n.lastHost = netip.Addr{}
	n.health.reset()
	if n.adaptive && !n.ephemeral {
		n.ephemeral = true
	}
}

// --- bootstrap and network state ---

func (n *Node) runBootstrap() {
	defer n.wg.Done()
	n.mu.Lock()
	first := n.firewalled && !n.cfg.NoQuickFirewall && !n.forcePersist
	onlyFirewall := !n.forcePersist
	testNAT := false
	n.mu.Unlock()

	for i := 0; i < 2; i++ {
		n.mu.Lock()
		q := n.backgroundQuery(n.tbl.id, func(r *Response) {
			if !first {
				return
			}
			first = false
			port := n.server.LocalAddr().Port()
			n.request(r.From, nil, false, true, CmdPingNAT, nil, []byte{byte(port), byte(port >> 8)},
				func(*Response) { testNAT = true }, func(error) {})
		})
		n.mu.Unlock()
		if q == nil {
			return
		}
		if err := q.Wait(n.ctx); err != nil && n.ctx.Err() != nil {
			return
		}
		n.mu.Lock()
		stop := n.bootstrapped || (!testNAT && !n.forcePersist)
		n.mu.Unlock()
		if stop {
			break
		}
		if !n.updateNetworkState(onlyFirewall) {
			break
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.bootstrapped {
		return
	}
	n.bootstrapped = true
	close(n.bootstrappedCh)
}

// updateNetworkState decides whether the node is reachable (not
// firewalled) and, unless onlyFirewall, whether it becomes persistent with
// the id derived from its public address. It blocks while probing.
func (n *Node) updateNetworkState(onlyFirewall bool) bool {
	n.mu.Lock()
	if !n.ephemeral || (onlyFirewall && !n.firewalled) {
		n.mu.Unlock()
		return false
	}
	host, port := n.nat.host, n.nat.port
	if !onlyFirewall {
		n.stableTicks = moreStableTicks
		n.lastHost = host
	}
	if !host.IsValid() || port == 0 {
		n.mu.Unlock()
		return false
	}
	sampler := n.nat
	wasFirewalled := n.firewalled
	if wasFirewalled {
		sampler = &natSampler{}
	}
	n.mu.Unlock()

	if wasFirewalled && n.checkIfFirewalled(sampler) {
		return false
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.firewalled = false
	if !n.ephemeral || host != n.nat.host || port != n.nat.port {
		return false
	}
	if sampler.host != host || sampler.port == 0 {
		return false
	}
	id := NodeID(netip.AddrPortFrom(sampler.host, sampler.port))
	if !onlyFirewall {
		n.ephemeral = false
	}
	if sampler != n.nat {
		n.nonPersistent = nil
		n.nat = sampler
	}
	if id != n.tbl.id {
		nodes := n.tbl.all()
		t := newTable(id) // no full-row callbacks while copying, as dht-rpc
		for _, x := range nodes {
			if x.id == id {
				n.nodes.remove(x)
				n.slab.put(x)
				continue
			}
			if !t.add(x) {
				n.nodes.remove(x)
				n.slab.put(x)
			}
		}
		n.setTable(t)
		if n.bootstrapped {
			n.refresh()
		}
	}
	if !n.ephemeral && !n.persistentDone {
		n.persistentDone = true
		close(n.persistentCh)
	}
	return true
}

// checkIfFirewalled asks up to five nodes to PING_NAT our server socket and
// reports whether we look unreachable there.
func (n *Node) checkIfFirewalled(sampler *natSampler) bool {
	n.mu.Lock()
	var targets []netip.AddrPort
	for x := n.nodes.latest; x != nil && len(targets) < 5; x = x.prev {
		targets = append(targets, x.addr.AddrPort())
	}
	if len(targets) < 5 {
		targets = append(targets, n.bootstrap...)
	}
	if len(targets) == 0 {
		n.mu.Unlock()
		return true
	}
	n.serverHosts = map[netip.Addr]struct{}{}
	port := n.server.LocalAddr().Port()
	value := []byte{byte(port), byte(port >> 8)}
	results := make(chan *Response, len(targets))
	sent := 0
	for _, t := range targets {
		r := n.request(t, nil, false, true, CmdPingNAT, nil, value,
			func(res *Response) { results <- res }, func(error) { results <- nil })
		if r == nil {
			break
		}
		sent++
	}
	n.mu.Unlock()

	var replies []*Response
	for i := 0; i < sent; i++ {
		select {
		case r := <-results:
			if r != nil {
				replies = append(replies, r)
			}
		case <-n.ctx.Done():
			return true
		}
	}

	n.mu.Lock()
	defer n.mu.Unlock()
	count := 0
	for _, r := range replies {
		if _, ok := n.serverHosts[r.From.Addr()]; ok {
			count++
			sampler.add(r.To.Addr(), r.To.Port())
		}
	}
	n.serverHosts = nil
	need := 1
	if len(targets) >= 5 {
		need = 3
	}
	if count < need {
		return true
	}
	if !sampler.host.IsValid() || n.nat.host != sampler.host {
		return true
	}
	if sampler.port == 0 || sampler.port != n.server.LocalAddr().Port() {
		return true
	}
	return false
}

// --- rate limiting ---

const maxLimiterEntries = 4096

// rateLimiter counts requests per source address in the current window
// (reset by drain, every 750 ms). Its map never holds more than
// maxLimiterEntries sources; the rest share one overflow counter.
type rateLimiter struct {
	counts   map[netip.AddrPort]int
	overflow int
}

func (l *rateLimiter) allow(from netip.AddrPort, perSecond int) bool {
	if perSecond < 0 {
		return true
	}
	limit := max(1, perSecond*3/4) // per 750 ms window
	if l.counts == nil {
		l.counts = map[netip.AddrPort]int{}
	}
	c, ok := l.counts[from]
	if !ok && len(l.counts) >= maxLimiterEntries {
		l.overflow++
		return l.overflow <= 4*limit
	}
	if c >= limit {
		return false
	}
	l.counts[from] = c + 1
	return true
}

// reset starts a new window. The map goes too: kept, it would hold the
// memory of its busiest window for good.
func (l *rateLimiter) reset() {
	l.counts = nil
	l.overflow = 0
}
