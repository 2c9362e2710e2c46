package hypercore

import (
	"runtime"
	"sync"
	"weak"
)

// replicator is what every Peer replicating one Core shares: which peer
// has a request for a block in flight (so peers spread the blocks instead
// of fetching each one from all of them), the live peers, and the
// registered extensions.
//
// It is owned by those who use it: each Peer and each Extension of the
// Core holds it, and it lives as long as one of them does. The registry
// that lets a Core find it holds weak pointers only, keyed by a weak
// pointer to the Core, so it keeps neither the Core nor the replicator
// alive: a replicator whose peers ended and whose extensions were dropped
// is collected (and its entry removed by a cleanup), whether or not the
// Core was closed. Lookups take no global lock; the block claims made on
// every request take only the replicator's own mutex.
type replicator struct {
	mu    sync.Mutex
	peers map[*Peer]struct{}
	owner map[uint64]*Peer
	exts  map[string]*Extension
}

// replicators maps weak.Pointer[Core] to weak.Pointer[replicator].
var replicators sync.Map

func newReplicator() *replicator {
	return &replicator{peers: map[*Peer]struct{}{}, owner: map[uint64]*Peer{}, exts: map[string]*Extension{}}
}

// acquireReplicator returns c's replicator, creating it if it has none
// (or its last one was collected), and runs add on it under its mutex.
func acquireReplicator(c *Core, add func(r *replicator)) *replicator {
	key := weak.Make(c)
	for {
		old, ok := replicators.Load(key)
		if ok {
			if r := old.(weak.Pointer[replicator]).Value(); r != nil {
				r.mu.Lock()
				add(r)
				r.mu.Unlock()
				return r
			}
		}
		nr := newReplicator()
		wp := weak.Make(nr)
		var stored bool
		if ok {
			stored = replicators.CompareAndSwap(key, old, wp)
		} else {
			_, loaded := replicators.LoadOrStore(key, wp)
			stored = !loaded
		}
		if !stored {
			continue // another goroutine made one first: use it
		}
		// Neither argument refers to nr or c, so both can be collected.
		runtime.AddCleanup(nr, func(k weak.Pointer[Core]) { replicators.CompareAndDelete(k, wp) }, key)
		nr.mu.Lock()
		add(nr)
		nr.mu.Unlock()
		return nr
	}
}

// lookupReplicator returns c's replicator, or nil if it has none.
func lookupReplicator(c *Core) *replicator {
	v, ok := replicators.Load(weak.Make(c))
	if !ok {
		return nil
	}
	return v.(weak.Pointer[replicator]).Value()
}

// Peers returns the peers currently replicating c.
func (c *Core) Peers() []*Peer {
	r := lookupReplicator(c)
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
	r := p.r
	r.mu.Lock()
	delete(r.peers, p)
	for i, o := range r.owner {
		if o == p {
			delete(r.owner, i)
		}
	}
	wake = r.othersLocked(p)
	r.mu.Unlock()
	for _, q := range wake {
		q.signal()
	}
}
