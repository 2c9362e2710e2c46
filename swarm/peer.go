package swarm

import (
	"crypto/ed25519"
	"net/netip"
	"time"
)

// Priorities a peer is queued with; higher is dialled first. A peer that
// failed once or twice is retried sooner than a fresh one, one that failed
// three times later, and after that it is only retried when rediscovered.
const (
	PriorityVeryLow  = 0
	PriorityLow      = 1
	PriorityNormal   = 2
	PriorityHigh     = 3
	PriorityVeryHigh = 4
)

// minConnectionTime is how long a connection must have lasted for its loss
// to reset the peer's failed attempts (a fast retry).
const minConnectionTime = 15 * time.Second

// PeerInfo is what the swarm knows about one remote peer: its key, the
// topics it was found on, its retry state and whether it is banned. The same
// PeerInfo is shared by all connections to the peer over the swarm's life
// (until it is forgotten); its methods are safe for concurrent use.
type PeerInfo struct {
	// PublicKey is the peer's static Noise key (its identity).
	PublicKey ed25519.PublicKey

	s   *Swarm
	key [32]byte

	// guarded by s.mu
	relayAddresses   []netip.AddrPort
	reconnecting     bool
	proven           bool
	connectedTime    time.Time // zero: not connected
	disconnectedTime time.Time
	banned           bool
	tried            bool
	explicit         bool
	waiting          bool
	queued           bool
	client           bool
	topics           [][32]byte
	seenTopics       map[[32]byte]struct{}
	attempts         int
	priority         int
	flushTick        uint64
	qindex           int
}

func newPeerInfo(s *Swarm, key [32]byte) *PeerInfo {
	return &PeerInfo{
		PublicKey:    ed25519.PublicKey(append([]byte(nil), key[:]...)),
		s:            s,
		key:          key,
		reconnecting: true,
		priority:     PriorityNormal,
		seenTopics:   map[[32]byte]struct{}{},
		qindex:       -1,
	}
}

// Topics returns the topics the peer was discovered on.
func (p *PeerInfo) Topics() [][32]byte {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return append([][32]byte(nil), p.topics...)
}

// Priority returns the peer's queue priority (PriorityVeryLow to
// PriorityVeryHigh).
func (p *PeerInfo) Priority() int {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.priority
}

// Attempts returns how many connections to the peer failed or ended since
// the last one that lasted.
func (p *PeerInfo) Attempts() int {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.attempts
}

// Ban bans (true) or unbans the peer. A banned peer is not dialled and its
// incoming connections are refused; a connection already open stays open.
func (p *PeerInfo) Ban(banned bool) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	p.banned = banned
}

// Banned reports whether the peer is banned.
func (p *PeerInfo) Banned() bool {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.banned
}

// Reconnect sets whether the swarm redials the peer after its connection
// ends (true, the default) or leaves it until it is rediscovered.
func (p *PeerInfo) Reconnect(reconnect bool) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	p.reconnecting = reconnect
}

// Client reports whether the last connection to the peer was dialled by us
// (we are its client).
func (p *PeerInfo) Client() bool {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.client
}

// Explicit reports whether the peer was joined with JoinPeer.
func (p *PeerInfo) Explicit() bool {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.explicit
}

// RelayAddresses returns the DHT nodes the peer was last announced through.
func (p *PeerInfo) RelayAddresses() []netip.AddrPort {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return append([]netip.AddrPort(nil), p.relayAddresses...)
}

// The rest runs with s.mu held.

func (p *PeerInfo) prioritized() bool { return p.priority >= PriorityNormal }

func (p *PeerInfo) currentPriority() int {
	stale := p.tried && !p.proven
	switch {
	case stale || p.attempts > 3:
		return PriorityVeryLow
	case p.attempts == 3:
		return PriorityLow
	case p.attempts == 2:
		return PriorityHigh
	case p.attempts == 1:
		return PriorityVeryHigh
	}
	return PriorityNormal
}

func (p *PeerInfo) connected(now time.Time) {
	p.proven = true
	p.connectedTime = now
}

func (p *PeerInfo) disconnected(now time.Time) {
	p.disconnectedTime = now
	if !p.connectedTime.IsZero() {
		if now.Sub(p.connectedTime) >= minConnectionTime {
			p.attempts = 0
		}
		p.connectedTime = time.Time{}
	}
	p.attempts++
}

func (p *PeerInfo) reset() {
	p.client = false
	p.proven = false
	p.tried = false
	p.attempts = 0
}

// updatePriority recomputes the priority and reports whether the peer may
// be queued.
func (p *PeerInfo) updatePriority() bool {
	if p.explicit && p.attempts > 3 {
		p.attempts = 3 // explicit peers are kept, at low priority
	}
	if p.banned || p.queued || p.attempts > 3 {
		return false
	}
	p.priority = p.currentPriority()
	return true
}

func (p *PeerInfo) addTopic(topic [32]byte) {
	if _, ok := p.seenTopics[topic]; ok {
		return
	}
	p.seenTopics[topic] = struct{}{}
	p.topics = append(p.topics, topic)
}

func (p *PeerInfo) shouldGC() bool {
	return !(p.banned || p.queued || p.explicit || p.waiting)
}
