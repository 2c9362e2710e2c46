package hypercore

import "github.com/warrenp2p/warren/flattree"

// The replication worker runs alongside Close: every look at the storage
// it makes goes through these helpers, which hold the core's read lock and
// check that the core is still open first (pebble panics when a closed
// database is read, and a closed core's storage is gone).

// hasOpen reports whether block i is stored; false once c is closed.
func (c *Core) hasOpen(i uint64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return !c.closed && i < c.t.length && c.hasLocked(i)
}

// blockRequestOpen returns the request for block index with the number of
// tree nodes c lacks to verify it, or ErrClosed.
func (c *Core) blockRequestOpen(index uint64) (*RequestBlock, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	head := 2 * c.t.length
	ite := flattree.NewIterator(2 * index)
	if ite.Index+ite.Factor/2-1 >= head {
		return &RequestBlock{Index: index}, nil
	}
	// Count the nodes up the path to the first one held. Cheap first: the
	// nearest cached node on the path is stored, so counting up to it is
	// safe (at worst a node or two more than needed).
	var n uint64
	for up := *ite; !up.Contains(head) && n < 64; up.Parent() {
		if _, ok := c.st.cacheGet(up.Index); ok {
			return &RequestBlock{Index: index, Nodes: n}, nil
		}
		n++
	}
	n = 0
	for !ite.Contains(head) {
		_, ok, err := c.st.getNode(ite.Index)
		if err != nil {
			return nil, err
		}
		if ok {
			break
		}
		n++
		if n >= loopGuard {
			return nil, ErrCorrupt
		}
		ite.Parent()
	}
	return &RequestBlock{Index: index, Nodes: n}, nil
}
