package hypercore

import (
	"slices"
	"sync"
	"time"
)

// DefaultRequestTimeout is how long a Peer waits for the answer to a
// request before it cancels it and lets another peer fetch the block.
const DefaultRequestTimeout = 30 * time.Second

// replicator is what every Peer replicating one Core shares: which peer
// has a request for a block in flight (so peers spread the blocks instead
// of fetching each one from all of them), the live peers, and the
// registered extensions. A Core's replicator lives while it has peers or
// extensions; it is kept in a package table because it belongs to the
// replication side, not to the stored core.
type replicator struct {
	mu    sync.Mutex
	c     *Core
	peers map[*Peer]struct{}
	owner map[uint64]*Peer
	exts  map[string]*Extension
}

var (
	replicatorsMu sync.Mutex
	replicators   = map[*Core]*replicator{}
)

// replicatorFor returns c's replicator, creating it; the caller must add a
// peer or an extension to it under replicatorsMu's protection, which
// acquire does.
func acquireReplicator(c *Core, add func(r *replicator)) *replicator {
	replicatorsMu.Lock()
	defer replicatorsMu.Unlock()
	r := replicators[c]
	if r == nil {
		r = &replicator{c: c, peers: map[*Peer]struct{}{}, owner: map[uint64]*Peer{}, exts: map[string]*Extension{}}
		replicators[c] = r
	}
	r.mu.Lock()
	add(r)
	r.mu.Unlock()
	return r
}

// releaseReplicator runs drop on r and forgets r once it holds nothing.
func releaseReplicator(r *replicator, drop func(r *replicator)) {
	replicatorsMu.Lock()
	defer replicatorsMu.Unlock()
	r.mu.Lock()
	drop(r)
	empty := len(r.peers) == 0 && len(r.exts) == 0
	r.mu.Unlock()
	if empty && replicators[r.c] == r {
		delete(replicators, r.c)
	}
}

// claim records that p requests block i; it fails while another peer has
// a request for it in flight.
func (r *replicator) claim(i uint64, p *Peer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if o, ok := r.owner[i]; ok && o != p {
		return false
	}
	r.owner[i] = p
	return true
}

// release drops p's claim on block i. With others set, the other peers are
// woken so one of them can take the block over.
func (r *replicator) release(i uint64, p *Peer, others bool) {
	r.mu.Lock()
	if r.owner[i] == p {
		delete(r.owner, i)
	}
	var wake []*Peer
	if others {
		wake = r.othersLocked(p)
	}
	r.mu.Unlock()
	for _, q := range wake {
		q.signal()
	}
}

func (r *replicator) othersLocked(p *Peer) []*Peer {
	out := make([]*Peer, 0, len(r.peers))
	for q := range r.peers {
		if q != p {
			out = append(out, q)
		}
	}
	return out
}

// list returns the live peers.
func (r *replicator) list() []*Peer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.othersLocked(nil)
}

// Peers returns the peers currently replicating c.
func (c *Core) Peers() []*Peer {
	replicatorsMu.Lock()
	r := replicators[c]
	replicatorsMu.Unlock()
	if r == nil {
		return nil
	}
	return r.list()
}

// join adds p to its core's replicator.
func (p *Peer) join() {
	p.r = acquireReplicator(p.c, func(r *replicator) { r.peers[p] = struct{}{} })
}

// leave removes p and hands its in-flight blocks to the other peers.
func (p *Peer) leave() {
	var wake []*Peer
	releaseReplicator(p.r, func(r *replicator) {
		delete(r.peers, p)
		for i, o := range r.owner {
			if o == p {
				delete(r.owner, i)
			}
		}
		wake = r.othersLocked(p)
	})
	for _, q := range wake {
		q.signal()
	}
}

// SetRequestTimeout sets how long p waits for the answer to one request
// before cancelling it and leaving the block to other peers (0 restores
// DefaultRequestTimeout).
func (p *Peer) SetRequestTimeout(d time.Duration) {
	if d <= 0 {
		d = DefaultRequestTimeout
	}
	p.mu.Lock()
	p.timeout = d
	p.mu.Unlock()
	p.enqueue(func() { p.nextDue = time.Time{} })
}

func (p *Peer) requestTimeout() time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.timeout
}

// expire cancels the requests that went unanswered for the request timeout
// and returns when the next one is due (zero if none is in flight).
func (p *Peer) expire(now time.Time) time.Time {
	if len(p.inflight) == 0 && len(p.skip) == 0 {
		p.nextDue = time.Time{}
		return p.nextDue
	}
	// Requests are sent in order, so none falls due before the earliest
	// deadline seen by the last scan.
	if !p.nextDue.IsZero() && now.Before(p.nextDue) {
		return p.nextDue
	}
	timeout := p.requestTimeout()
	var next time.Time
	expired := false
	for id, f := range p.inflight {
		due := f.sent.Add(timeout)
		if now.Before(due) {
			if next.IsZero() || due.Before(next) {
				next = due
			}
			continue
		}
		p.mCancel.Send(encodeCancel(Cancel{Request: id}))
		p.done1(f.req)
		if b := f.req.Block; b != nil {
			// Not from this peer for a while: another one may have it.
			if len(p.skip) < maxInflight*4 {
				p.skip[b.Index] = now.Add(timeout)
			}
			p.r.release(b.Index, p, true)
		}
		p.timeouts++
		expired = true
	}
	if expired && !now.Before(p.lastShrink.Add(timeout)) {
		// A peer that lets requests time out gets few at a time until it
		// answers again, so a silent peer cannot hold many blocks back
		// (once per timeout period: requests sent moments apart expire
		// moments apart).
		p.window = max(1, p.window/4)
		p.lastShrink = now
	}
	for i, until := range p.skip {
		if !now.Before(until) {
			delete(p.skip, i)
		} else if next.IsZero() || until.Before(next) {
			next = until
		}
	}
	p.nextDue = next
	return next
}

// skipped reports whether block i timed out on p recently.
func (p *Peer) skipped(i uint64) bool {
	if len(p.skip) == 0 {
		return false
	}
	until, ok := p.skip[i]
	return ok && time.Now().Before(until)
}

// Stats counts what a Peer did.
type Stats struct {
	// Blocks is the number of blocks this peer delivered that were stored.
	Blocks uint64
	// Timeouts is the number of requests cancelled after the request
	// timeout.
	Timeouts uint64
	// Inflight is the number of requests awaiting an answer.
	Inflight int
}

// Stats returns p's counters.
func (p *Peer) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// broadcastHave tells the other peers about blocks just stored from peer
// from that lie beyond the contiguous part (that part is announced by each
// peer's own range from 0), as runs of range messages: a remote that asked
// about them earlier learns it can fetch them here now.
func (r *replicator) broadcastHave(from *Peer, stored []uint64) {
	if len(stored) == 0 {
		return
	}
	contig := r.c.ContiguousLength()
	var runs []Range
	slices.Sort(stored)
	for _, i := range stored {
		if i < contig || !r.c.Has(i) {
			continue
		}
		if k := len(runs) - 1; k >= 0 && runs[k].Start+runs[k].Length == i {
			runs[k].Length++
			continue
		}
		runs = append(runs, Range{Start: i, Length: 1})
	}
	if len(runs) == 0 {
		return
	}
	r.mu.Lock()
	peers := r.othersLocked(from)
	r.mu.Unlock()
	for _, q := range peers {
		q.enqueue(func() {
			if !q.remoteOpened {
				return
			}
			for _, m := range runs {
				q.mRange.Send(encodeRange(m))
			}
		})
	}
}
