package corestore

import (
	"context"
	"sync"
	"time"

	"github.com/warrenp2p/warren/hypercore"
	"github.com/warrenp2p/warren/protomux"
	"github.com/warrenp2p/warren/secretstream"
)

// Replication is one replication stream of a store: every core opened with
// Get, and every stored core the remote asks for (opened on demand, sparse),
// replicated over one protomux mux.
type Replication struct {
	r         *root
	mux       *protomux.Mux
	ownMux    bool
	initiator bool
	hsHash    []byte

	mu       sync.Mutex
	peers    map[[32]byte]*hypercore.Peer
	reopened map[[32]byte]time.Time // when peerEnded last reopened a core's channel
	closed   bool
	done     chan struct{} // closed by Close
	ended    chan struct{} // closed once the replication is detached
}

// Replicate runs the replication protocol over conn: it completes the
// secret-stream handshake (bounded by ctx), starts a protomux mux on the
// connection and replicates over it until the connection ends or
// Replication.Close. Closing the store closes the replication too.
func (s *Store) Replicate(ctx context.Context, conn *secretstream.Conn) (*Replication, error) {
	if err := conn.Handshake(ctx); err != nil {
		return nil, err
	}
	mux := protomux.New(conn, &protomux.Config{DeferStart: true})
	rep, err := s.replicate(mux, conn.IsInitiator(), conn.HandshakeHash(), true)
	if err != nil {
		mux.Close()
		return nil, err
	}
	mux.Start()
	return rep, nil
}

// ReplicateMux replicates over a mux the caller owns (and may share with
// other protocols). initiator and handshakeHash come from the encrypted
// connection under it. Create the mux with protomux.Config.DeferStart and
// Start it after ReplicateMux, so a remote open arriving at once finds the
// store's handler. Close detaches the store without closing the mux.
func (s *Store) ReplicateMux(mux *protomux.Mux, initiator bool, handshakeHash []byte) (*Replication, error) {
	return s.replicate(mux, initiator, handshakeHash, false)
}

func (s *Store) replicate(mux *protomux.Mux, initiator bool, hs []byte, own bool) (*Replication, error) {
	rep := &Replication{
		r:         s.r,
		mux:       mux,
		ownMux:    own,
		initiator: initiator,
		hsHash:    append([]byte(nil), hs...),
		peers:     map[[32]byte]*hypercore.Peer{},
		reopened:  map[[32]byte]time.Time{},
		done:      make(chan struct{}),
		ended:     make(chan struct{}),
	}
	r := s.r
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	r.reps[rep] = struct{}{}
	mux.Pair(hypercore.Protocol, nil, rep.onDiscoveryKey)
	mux.Cork()
	for dk, c := range r.cores {
		if !r.onDemandLocked(dk) {
			rep.attachLocked(c)
		}
	}
	mux.Uncork()
	r.mu.Unlock()
	go rep.watch()
	return rep, nil
}

// watch forgets the replication once its mux has ended.
func (rep *Replication) watch() {
	select {
	case <-rep.mux.Done():
	case <-rep.done:
	}
	rep.detach()
	close(rep.ended)
}

// detach removes the replication from the store once.
func (rep *Replication) detach() {
	rep.r.mu.Lock()
	delete(rep.r.reps, rep)
	rep.r.mu.Unlock()
}

// attachLocked opens c's channel on the mux unless it has one. Called with
// the root mutex held.
func (rep *Replication) attachLocked(c *hypercore.Core) {
	rep.mu.Lock()
	defer rep.mu.Unlock()
	if rep.closed {
		return
	}
	dk := c.DiscoveryKey()
	if p := rep.peers[dk]; p != nil {
		// A peer whose channel is closed (the remote rejected our open, or
		// closed it as idle) is replaced at once, even while its worker
		// is still winding down: the remote's open arriving right after
		// its reject must find a channel, or it is refused and its read
		// of the core never answered.
		select {
		case <-p.Closed():
		default:
			return // still replicating
		}
	}
	p, err := c.Replicate(rep.mux, rep.initiator, rep.hsHash)
	if err != nil {
		return // mux closed, or a channel for dk is already open
	}
	rep.peers[dk] = p
	p.OnEnd(func(opened bool) { rep.peerEnded(c, p, opened) })
}

// reopenGap is the least time between two reopens of one core's channel
// on one stream. An honest remote closes a channel as idle only after
// seconds without downloads on either side, so it never meets the gap; a
// remote that accepts every reopen and closes it at once would otherwise
// make the reopening a loop at network speed.
const reopenGap = time.Second

// peerEnded reopens the channel of a core a Get has pinned when the remote
// closed it: it closes a channel once it saw both sides not downloading,
// and its close can cross the Get that made this side download again (the
// Get found the channel still open and kept it). An honest remote keeps
// the new channel, as this side now downloads; a remote that rejects it,
// or a peer dropped for bad data, is not retried. Reopens of one core are
// at least reopenGap apart: a later one waits for the gap.
func (rep *Replication) peerEnded(c *hypercore.Core, p *hypercore.Peer, opened bool) {
	if !opened || p.Err() != nil {
		return
	}
	r := rep.r
	r.mu.Lock()
	defer r.mu.Unlock()
	dk := c.DiscoveryKey()
	if r.closed || r.cores[dk] != c || r.onDemandLocked(dk) || !c.Downloading() {
		return
	}
	if _, ok := r.reps[rep]; !ok {
		return
	}
	rep.mu.Lock()
	current := rep.peers[dk] == p
	wait := reopenGap - time.Since(rep.reopened[dk])
	if current && wait <= 0 {
		rep.reopened[dk] = time.Now()
	}
	rep.mu.Unlock()
	if !current {
		return
	}
	if wait > 0 {
		// Checked again then: the store, the stream or the pin may be
		// gone by then, or the core have a channel again.
		time.AfterFunc(wait, func() { rep.peerEnded(c, p, opened) })
		return
	}
	rep.attachLocked(c)
}

// onDiscoveryKey runs on the mux reader when the remote opens a hypercore
// channel no local channel waits for: it opens the core if the store holds
// it and answers with the core's channel; otherwise the open is rejected.
func (rep *Replication) onDiscoveryKey(id []byte) {
	if len(id) != 32 {
		return
	}
	dk := [32]byte(id)
	r := rep.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	c := r.cores[dk]
	if c == nil {
		if c = r.openOnDemandLocked(dk); c == nil {
			return
		}
	}
	rep.attachLocked(c)
}

// Peer returns the replication peer of the core with discovery key dk, or
// nil if the core is not replicating on this stream.
func (rep *Replication) Peer(dk [32]byte) *hypercore.Peer {
	rep.mu.Lock()
	defer rep.mu.Unlock()
	return rep.peers[dk]
}

// Mux returns the mux the replication runs on.
func (rep *Replication) Mux() *protomux.Mux { return rep.mux }

// Done is closed when the replication has ended (Close, or the mux ended).
func (rep *Replication) Done() <-chan struct{} { return rep.ended }

// Close ends the replication: the mux is closed if Replicate created it;
// with ReplicateMux the store's channels are closed and its handler removed.
func (rep *Replication) Close() error {
	rep.mu.Lock()
	if rep.closed {
		rep.mu.Unlock()
		return nil
	}
	rep.closed = true
	peers := make([]*hypercore.Peer, 0, len(rep.peers))
	for _, p := range rep.peers {
		peers = append(peers, p)
	}
	rep.mu.Unlock()
	close(rep.done)
	rep.mux.Unpair(hypercore.Protocol, nil)
	if rep.ownMux {
		return rep.mux.Close()
	}
	for _, p := range peers {
		p.Close()
	}
	return nil
}
