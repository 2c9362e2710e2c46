package hypercore

import (
	"fmt"

	"github.com/warrenp2p/warren/flattree"
)

// Following a writer's truncation (a reorg) keeps every block the two
// forks share. The upgrade proof of the new fork carries only its roots:
// the first root that differs from ours may still cover many shared
// blocks. As hypercore does, the peer then asks for the new tree's nodes
// under that root (hash requests) and walks down, comparing each left
// child with ours, until it reaches the first leaf that differs: the common
// ancestor. Only the blocks from there on are cleared.

// pendingReorg is a verified new fork whose common ancestor with the local
// tree is still being looked for.
type pendingReorg struct {
	b     *treeBatch      // the verified, signed new tree
	old   uint64          // our length when it was verified
	known map[uint64]Node // new-tree nodes learned, verified against b
	diff  Node            // the highest new-tree node known to differ
}

// isReorgData reports whether d moves c to a newer fork.
func (c *Core) isReorgData(d *Data) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return !c.closed && c.isReorg(&d.Proof)
}

// onReorgData handles the answer to our upgrade request from 0 when it
// proves a newer fork: it verifies it and either applies it at once (the
// ancestor is known) or asks for the nodes that narrow it down.
func (p *Peer) onReorgData(d *Data) {
	c := p.c
	c.mu.RLock()
	if c.closed || !c.isReorg(&d.Proof) {
		c.mu.RUnlock()
		return
	}
	if d.Upgrade.Start != 0 || c.verifier == nil {
		c.mu.RUnlock()
		return // not a proof we can follow: the update asks again
	}
	b, err := verifyProof(&tree{prologue: c.t.prologue}, emptySource{}, &d.Proof)
	if err == nil && !b.upgraded {
		c.mu.RUnlock()
		return // an empty tree: nothing to follow (as a fork mismatch)
	}
	if err == nil && !c.verifier.verify(b.state(), b.signature) {
		err = ErrSignature
	}
	if err != nil {
		c.mu.RUnlock()
		p.fail(fmt.Errorf("%w: %v", ErrBadPeer, err))
		return
	}
	pr := &pendingReorg{b: b, old: c.t.length, known: map[uint64]Node{}}
	for _, n := range b.nodes {
		pr.known[n.Index] = n
	}
	// The first root that is not ours (or reaches past our tree) holds
	// the ancestor.
	found := false
	for _, r := range b.roots {
		if flattree.RightSpan(r.Index) < 2*pr.old {
			n, ok, err := c.st.getNode(r.Index)
			if err != nil {
				c.mu.RUnlock()
				return
			}
			if ok && n.Hash == r.Hash {
				continue
			}
		}
		pr.diff, found = r, true
		break
	}
	c.mu.RUnlock()
	p.reorg = pr
	if !found {
		// The new tree holds ours whole: nothing to clear.
		p.finishReorg(min(pr.old, b.length))
		return
	}
	p.narrowReorg()
}

// onReorgHash takes the answer to a hash request of a pending reorg: the
// path from a leaf up to the differing node.
func (p *Peer) onReorgHash(d *Data) {
	pr := p.reorg
	if pr == nil || d.Fork != pr.b.fork || d.Hash == nil {
		return
	}
	var nodes []Node
	root, err := verifyTree(&d.Proof, &nodes)
	if err != nil || root == nil || root.Index != pr.diff.Index || root.Hash != pr.diff.Hash {
		if err == nil {
			err = fmt.Errorf("%w: node path does not lead to node %d", ErrInvalidProof, pr.diff.Index)
		}
		p.fail(fmt.Errorf("%w: %v", ErrBadPeer, err))
		return
	}
	for _, n := range nodes {
		pr.known[n.Index] = n
	}
	p.narrowReorg()
}

// narrowReorg walks down from the differing node as far as the known
// nodes allow: a left child equal to ours means the difference is on the
// right. It applies the reorg once the ancestor is found, or asks the
// remote for the nodes under the differing node.
func (p *Peer) narrowReorg() {
	pr := p.reorg
	c := p.c
	c.mu.RLock()
	if c.closed || c.t.fork >= pr.b.fork || c.t.length != pr.old {
		c.mu.RUnlock()
		p.reorg = nil // someone else moved the core: the update looks again
		return
	}
	for pr.diff.Index&1 == 1 && flattree.LeftSpan(pr.diff.Index) < 2*pr.old {
		l, _ := flattree.LeftChild(pr.diff.Index)
		r, _ := flattree.RightChild(pr.diff.Index)
		ln, okl := pr.known[l]
		rn, okr := pr.known[r]
		if !okl || !okr {
			break
		}
		ours, ok, err := c.st.getNode(l)
		if err != nil {
			c.mu.RUnlock()
			p.reorg = nil
			return
		}
		if ok && ours.Hash == ln.Hash {
			pr.diff = rn
		} else {
			pr.diff = ln
		}
	}
	c.mu.RUnlock()
	anc := min(flattree.LeftSpan(pr.diff.Index)/2, pr.old, pr.b.length)
	if pr.diff.Index&1 == 0 || anc >= pr.old {
		p.finishReorg(anc)
		return
	}
	p.requestReorgNodes()
}

// requestReorgNodes asks for the path from our last block under the
// differing node up to it: the blocks before the truncation point are
// ours, so the path usually runs along the shared part.
func (p *Peer) requestReorgNodes() {
	pr := p.reorg
	if p.reorgInflight {
		return
	}
	_, right := flattree.Spans(pr.diff.Index)
	leaf := min(right/2, pr.old-1)
	depth := flattree.Depth(pr.diff.Index)
	p.send(&Request{Fork: pr.b.fork, Hash: &RequestBlock{Index: 2 * leaf, Nodes: depth}})
}

// reorgFailed settles a pending reorg whose hash request went unanswered:
// it is applied at the ancestor found so far (fewer blocks kept, but
// nothing wrong kept).
func (p *Peer) reorgFailed() {
	if pr := p.reorg; pr != nil {
		p.finishReorg(min(flattree.LeftSpan(pr.diff.Index)/2, pr.old, pr.b.length))
	}
}

// finishReorg applies the pending reorg keeping blocks [0, anc).
func (p *Peer) finishReorg(anc uint64) {
	pr := p.reorg
	p.reorg = nil
	var extra []Node
	for _, n := range pr.known {
		extra = append(extra, n)
	}
	err := p.c.applyReorg(pr.b, pr.old, extra, anc)
	if err != nil && err != ErrClosed && err != errReorgStale {
		p.fail(err)
	}
}

// errReorgStale means the core changed since the reorg was verified.
var errReorgStale = fmt.Errorf("hypercore: reorg no longer applies")

// applyReorg moves c to the verified tree b, keeping the blocks below anc
// (which b shares with c's tree of length old) and storing b's nodes
// (nodes, verified against b, among them).
func (c *Core) applyReorg(b *treeBatch, old uint64, nodes []Node, anc uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.t.fork >= b.fork || c.t.length != old {
		return errReorgStale
	}
	// A node wholly below the ancestor is shared: ours already (a leaf
	// keeps its block offset).
	return c.commitReorgLocked(b, nodes, anc, old, func(n Node) bool { return flattree.RightSpan(n.Index) < 2*anc })
}
