package hypercore

import (
	"slices"
	"time"
)

// DefaultRequestTimeout is how long a Peer waits for the answer to a
// request before it cancels it and lets another peer fetch the block.
const DefaultRequestTimeout = 30 * time.Second

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
		if f.req.Hash != nil {
			p.reorgFailed()
		}
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
	// Requests is the number of requests received from the remote.
	Requests uint64
	// Held is the number of the remote's requests waiting to be answered
	// until the connection's outgoing queue drains.
	Held int
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
	c := from.c
	contig := c.ContiguousLength()
	var runs []Range
	slices.Sort(stored)
	for _, i := range stored {
		if i < contig || !c.hasOpen(i) {
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
