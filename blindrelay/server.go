package blindrelay

import (
	"errors"
	"log/slog"
	"math"
	"net/netip"
	"sync"

	"github.com/warrenp2p/warren/protomux"
	"github.com/warrenp2p/warren/udx"
)

// Protocol is the protomux protocol name of blind-relay.
const Protocol = "blind-relay"

// Errors of the server and the client.
var (
	ErrClosed           = errors.New("blindrelay: closed")
	ErrAlreadyPairing   = errors.New("blindrelay: already pairing with this token")
	ErrPairingCancelled = errors.New("blindrelay: pairing cancelled")
	ErrNoStreams        = errors.New("blindrelay: server has no NewStream")
)

// ServerConfig configures a relay server.
type ServerConfig struct {
	// NewStream makes a UDX stream with a fresh id on the instance whose
	// sockets the sessions' connections run on (required).
	NewStream func(cfg *udx.StreamConfig) (*udx.Stream, error)
	// MaxPending bounds the pairings waiting for their other side across
	// all sessions; 0 means 4096. Pairs beyond it are ignored.
	MaxPending int
	// MaxPerSession bounds the tokens one session pairs or relays under
	// at a time; 0 means 256. Pairs beyond it are ignored.
	MaxPerSession int
	// Logger receives debug logs; nil is silent.
	Logger *slog.Logger
}

// Stats counts a server's work.
type Stats struct {
	Sessions int // sessions open now
	Pending  int // pairings waiting for their other side
	Links    int // relayed streams open now (two per paired token)
	Matched  int // pairings completed since the start
}

// Server is a blind relay: it pairs the streams of clients that present
// the same token and relays their packets to each other.
type Server struct {
	newStream  func(cfg *udx.StreamConfig) (*udx.Stream, error)
	maxPending int
	maxPerSess int
	log        *slog.Logger

	mu       sync.Mutex
	closed   bool
	pending  map[[32]byte]*pairing
	sessions map[*Session]struct{}
	links    int
	matched  int
	wg       sync.WaitGroup // link watchers
}

// pairing is a token with one or both sides asked for; index 1 is the
// initiator's side.
type pairing struct {
	links [2]*link
}

type link struct {
	session   *Session
	token     [32]byte
	initiator bool
	remoteID  uint32 // the client's stream id
	stream    *udx.Stream
	peer      *link
}

// NewServer returns a relay server.
func NewServer(cfg ServerConfig) *Server {
	s := &Server{
		newStream:  cfg.NewStream,
		maxPending: cfg.MaxPending,
		maxPerSess: cfg.MaxPerSession,
		log:        cfg.Logger,
		pending:    map[[32]byte]*pairing{},
		sessions:   map[*Session]struct{}{},
	}
	if s.maxPending <= 0 {
		s.maxPending = 4096
	}
	if s.maxPerSess <= 0 {
		s.maxPerSess = 256
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// Session is one client's blind-relay channel on a server.
type Session struct {
	srv       *Server
	ch        *protomux.Channel
	pairMsg   *protomux.Message
	unpairMsg *protomux.Message

	// guarded by srv.mu
	closed  bool
	pairing map[[32]byte]*link
	links   map[[32]byte]*link
}

// Accept opens the blind-relay channel with id on mux and serves it until
// the channel or the mux closes. Create it before the mux starts reading
// (protomux.Config.DeferStart) or before the client opens its side, so
// the client's open is not rejected.
func (s *Server) Accept(mux *protomux.Mux, id []byte) (*Session, error) {
	if s.newStream == nil {
		return nil, ErrNoStreams
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrClosed
	}
	s.mu.Unlock()
	sess := &Session{srv: s, pairing: map[[32]byte]*link{}, links: map[[32]byte]*link{}}
	ch, err := mux.Channel(protomux.ChannelOptions{Protocol: Protocol, ID: id, OnClose: func(bool) { sess.onClose() }})
	if err != nil {
		return nil, err
	}
	sess.ch = ch
	sess.pairMsg = ch.AddMessage(sess.onPair)
	sess.unpairMsg = ch.AddMessage(sess.onUnpair)
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ch.Close()
		return nil, ErrClosed
	}
	s.sessions[sess] = struct{}{}
	s.mu.Unlock()
	if err := ch.Open(nil); err != nil {
		ch.Close()
		return nil, err
	}
	return sess, nil
}

// Closed is closed once the session's channel closed.
func (sess *Session) Closed() <-chan struct{} { return sess.ch.Closed() }

// Close closes the session's channel, cancelling its pending pairings and
// tearing down its links.
func (sess *Session) Close() error { return sess.ch.Close() }

func side(initiator bool) int {
	if initiator {
		return 1
	}
	return 0
}

func (sess *Session) onPair(b []byte) error {
	m, err := DecodePair(b)
	if err != nil {
		return err // as in JS, an undecodable message ends the session's stream
	}
	if m.ID == 0 || m.ID > math.MaxUint32 {
		return nil // no UDX stream has that id
	}
	s := sess.srv
	s.mu.Lock()
	if s.closed || sess.closed {
		s.mu.Unlock()
		return nil
	}
	if sess.links[m.Token] != nil || len(sess.pairing)+len(sess.links) >= s.maxPerSess {
		s.mu.Unlock()
		return nil // relaying under the token already, or too much at once
	}
	p := s.pending[m.Token]
	if p == nil {
		if len(s.pending) >= s.maxPending {
			s.mu.Unlock()
			return nil
		}
		p = &pairing{}
		s.pending[m.Token] = p
	} else if p.links[side(m.IsInitiator)] != nil {
		s.mu.Unlock()
		return nil
	}
	l := &link{session: sess, token: m.Token, initiator: m.IsInitiator, remoteID: uint32(m.ID)}
	p.links[side(m.IsInitiator)] = l
	sess.pairing[m.Token] = l
	if p.links[0] == nil || p.links[1] == nil {
		s.mu.Unlock()
		return nil
	}
	delete(s.pending, m.Token)
	a, c := p.links[0], p.links[1]
	delete(a.session.pairing, m.Token)
	delete(c.session.pairing, m.Token)
	s.mu.Unlock()

	if err := s.link(a, c); err != nil {
		s.log.Debug("blindrelay: cannot set up link", "err", err)
		return nil
	}
	s.mu.Lock()
	for _, l := range []*link{a, c} {
		if l.session.closed {
			s.mu.Unlock()
			a.stream.Destroy()
			c.stream.Destroy()
			return nil
		}
	}
	a.session.links[m.Token] = a
	c.session.links[m.Token] = c
	s.links += 2
	s.matched++
	s.mu.Unlock()
	for _, l := range []*link{a, c} {
		s.wg.Add(1)
		go s.watch(l)
	}
	for _, l := range []*link{a, c} {
		_ = l.session.pairMsg.Send((&Pair{IsInitiator: l.initiator, Token: l.token, ID: uint64(l.stream.ID())}).Encode())
	}
	return nil
}

// link opens the relay's stream for each side and splices them. Each
// stream connects to its client on the first packet the client sends it.
func (s *Server) link(a, c *link) error {
	for _, l := range []*link{a, c} {
		st, err := s.newStream(&udx.StreamConfig{Firewall: func(st *udx.Stream, sock *udx.Socket, from netip.AddrPort) bool {
			return st.Connect(sock, l.remoteID, from) == nil
		}})
		if err != nil {
			if a.stream != nil {
				a.stream.Destroy()
			}
			return err
		}
		l.stream = st
	}
	a.peer, c.peer = c, a
	if err := a.stream.RelayTo(c.stream); err != nil {
		a.stream.Destroy()
		c.stream.Destroy()
		return err
	}
	if err := c.stream.RelayTo(a.stream); err != nil {
		a.stream.Destroy()
		c.stream.Destroy()
		return err
	}
	return nil
}

// watch forgets a link once its stream closed, and ends the other side.
func (s *Server) watch(l *link) {
	defer s.wg.Done()
	<-l.stream.Closed()
	l.peer.stream.Destroy()
	s.mu.Lock()
	if l.session.links[l.token] == l {
		delete(l.session.links, l.token)
	}
	s.links--
	s.mu.Unlock()
}

func (sess *Session) onUnpair(b []byte) error {
	m, err := DecodeUnpair(b)
	if err != nil {
		return err
	}
	s := sess.srv
	s.mu.Lock()
	if p := s.pending[m.Token]; p != nil {
		for _, l := range p.links {
			if l != nil && l.session.pairing[m.Token] == l {
				delete(l.session.pairing, m.Token)
			}
		}
		delete(s.pending, m.Token)
		s.mu.Unlock()
		return nil
	}
	l := sess.links[m.Token]
	s.mu.Unlock()
	if l != nil {
		l.stream.Destroy()
		l.peer.stream.Destroy()
	}
	return nil
}

func (sess *Session) onClose() {
	s := sess.srv
	s.mu.Lock()
	sess.closed = true
	for token, l := range sess.pairing {
		if p := s.pending[token]; p != nil && p.links[side(l.initiator)] == l {
			p.links[side(l.initiator)] = nil
			if p.links[0] == nil && p.links[1] == nil {
				delete(s.pending, token)
			}
		}
	}
	clear(sess.pairing)
	var links []*link
	for _, l := range sess.links {
		links = append(links, l)
	}
	delete(s.sessions, sess)
	s.mu.Unlock()
	for _, l := range links {
		l.stream.Destroy()
		l.peer.stream.Destroy()
	}
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Sessions: len(s.sessions), Pending: len(s.pending), Links: s.links, Matched: s.matched}
}

// Close closes every session, tears down every link and waits for the
// link watchers to end. It does not close the sessions' muxes.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	sessions := make([]*Session, 0, len(s.sessions))
	for sess := range s.sessions {
		sessions = append(sessions, sess)
	}
	s.mu.Unlock()
	for _, sess := range sessions {
		sess.ch.Close()
		sess.onClose() // in case the channel had closed before OnClose was set
	}
	s.wg.Wait()
	return nil
}
