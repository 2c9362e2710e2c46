package hyperbee

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
)

// ErrCorrupt reports a tree whose blocks decode but do not form a valid
// B-tree: pointers forward in the log, misshapen nodes, or cycles.
var ErrCorrupt = errors.New("hyperbee: corrupt tree")

// Tree shape, as hyperbee 2 has it: nodes hold between minKeys and
// maxChildren-1 keys and split when they reach maxChildren.
const (
	minKeys     = 4
	maxChildren = minKeys*2 + 1
	// maxDepth bounds every descent. A real tree of 2^64 keys is less than
	// 30 deep; a hostile one that loops is stopped here.
	maxDepth = 64
)

// blockEntry is one block of the tree as an operation sees it: a stored,
// immutable block shared through the cache, or a pending block of a batch.
// The index of a stored block is decoded on first use.
type blockEntry struct {
	seq   uint64
	key   []byte
	value []byte   // nil: absent
	pend  []*child // pending blocks: the index under construction

	rawIndex []byte
	once     sync.Once
	levels   []Level
	err      error
}

func (e *blockEntry) pending() bool { return e.pend != nil }

// inflate decodes the index. Its nodes are checked one at a time, when
// used (see checkLevel): hyperbee's batches leave nodes nothing points at
// in their blocks, some with pointers to later blocks, and those must not
// make the block unreadable.
func (e *blockEntry) inflate() ([]Level, error) {
	e.once.Do(func() {
		ix, err := DecodeIndex(e.rawIndex)
		if err != nil {
			e.err = fmt.Errorf("block %d: %w", e.seq, err)
			return
		}
		e.levels = ix.Levels
	})
	return e.levels, e.err
}

// level returns node offset of the block after checking its shape: a leaf,
// or one child more than keys.
func (e *blockEntry) level(offset uint64) (*Level, error) {
	levels, err := e.inflate()
	if err != nil {
		return nil, err
	}
	if offset >= uint64(len(levels)) {
		return nil, fmt.Errorf("%w: block %d has no level %d", ErrCorrupt, e.seq, offset)
	}
	l := &levels[offset]
	if len(l.Children) > 0 && len(l.Children) != 2*(len(l.Keys)+1) {
		return nil, fmt.Errorf("%w: block %d level %d has %d keys and %d child pointers", ErrCorrupt, e.seq, offset, len(l.Keys), len(l.Children)/2)
	}
	return l, nil
}

// deletion reports whether the block deletes its key: no value, and its
// own seq is not a key anywhere in its index.
func (e *blockEntry) deletion() (bool, error) {
	if e.pending() || e.value != nil {
		return false, nil
	}
	levels, err := e.inflate()
	if err != nil {
		return false, err
	}
	for _, l := range levels {
		for _, k := range l.Keys {
			if k == e.seq {
				return false, nil
			}
		}
	}
	return true, nil
}

// treeNode builds the node at offset. Stored blocks give a fresh node each
// time, which the caller may modify.
func (e *blockEntry) treeNode(offset uint64) (*treeNode, error) {
	if e.pending() {
		if offset >= uint64(len(e.pend)) || e.pend[offset] == nil || e.pend[offset].node == nil {
			return nil, fmt.Errorf("%w: pending offset %d", ErrCorrupt, offset)
		}
		return e.pend[offset].node, nil
	}
	l, err := e.level(offset)
	if err != nil {
		return nil, err
	}
	n := &treeNode{block: e, keys: make([]*key, len(l.Keys))}
	ks := make([]key, len(l.Keys))
	for i, s := range l.Keys {
		ks[i].seq = s
		n.keys[i] = &ks[i]
	}
	if len(l.Children) > 0 {
		cs := make([]child, len(l.Children)/2)
		n.children = make([]*child, len(cs))
		for i := range cs {
			cs[i] = child{seq: l.Children[2*i], offset: l.Children[2*i+1]}
			n.children[i] = &cs[i]
		}
	}
	return n, nil
}

// decodeBlock decodes a stored tree block; its index waits for inflate.
func decodeBlock(seq uint64, raw []byte) (*blockEntry, error) {
	nd, err := DecodeNode(raw)
	if err != nil {
		return nil, fmt.Errorf("block %d: %w", seq, err)
	}
	return &blockEntry{seq: seq, key: nd.Key, value: nd.Value, rawIndex: nd.Index}, nil
}

type key struct {
	seq    uint64
	val    []byte
	loaded bool
}

type child struct {
	seq, offset uint64
	node        *treeNode // nil until loaded
}

// treeNode is one B-tree node during an operation. keys and children are
// pointers because operations move them between nodes and the index
// builder rewrites child positions in place, as hyperbee does.
type treeNode struct {
	block    *blockEntry // the block it was read from (nil for a new tree)
	keys     []*key
	children []*child
	changed  bool
	depth    int
}

func newNode(block *blockEntry) *treeNode {
	return &treeNode{block: block, changed: true}
}

// cache maps seqs to decoded data: two generations, the older dropped
// when the newer fills, so what is hot (the upper levels of the tree)
// stays. It is cleared when the log shrinks.
type cache[V any] struct {
	mu       sync.Mutex
	max      int
	cur, old map[uint64]V
	length   uint64
}

func (c *cache[V]) get(seq uint64) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.cur[seq]; ok {
		return v, true
	}
	v, ok := c.old[seq]
	if ok {
		c.putLocked(seq, v)
	}
	return v, ok
}

func (c *cache[V]) put(seq uint64, v V) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(seq, v)
}

func (c *cache[V]) putLocked(seq uint64, v V) {
	if c.cur == nil || len(c.cur) >= max(c.max/2, 1) {
		c.old, c.cur = c.cur, make(map[uint64]V)
	}
	c.cur[seq] = v
}

// observe clears the cache if the log got shorter (truncated).
func (c *cache[V]) observe(length uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if length < c.length {
		c.cur, c.old = nil, nil
	}
	c.length = length
}

// txn reads (and, for writers, builds) the tree at one version: hyperbee's
// Batch. length is the log length it started from; pend are blocks of a
// batch that are not flushed yet.
type txn struct {
	db      *db
	length  uint64
	version uint64 // 0: length + len(pend)
	pend    []*blockEntry
}

func (t *txn) currentVersion() uint64 {
	v := t.version
	if v == 0 {
		v = t.length + uint64(len(t.pend))
	}
	return max(v, 1)
}

func (t *txn) getBlock(ctx context.Context, seq uint64) (*blockEntry, error) {
	if seq >= t.length && seq-t.length < uint64(len(t.pend)) {
		return t.pend[seq-t.length], nil
	}
	if e, ok := t.db.blocks.get(seq); ok {
		return e, nil
	}
	if seq == 0 {
		return nil, fmt.Errorf("%w: block 0 is the header", ErrCorrupt)
	}
	raw, err := t.db.log.Get(ctx, seq)
	if err != nil {
		return nil, err
	}
	e, err := decodeBlock(seq, raw)
	if err != nil {
		return nil, err
	}
	t.db.blocks.put(seq, e)
	return e, nil
}

func (t *txn) keyOf(ctx context.Context, k *key) ([]byte, error) {
	if k.loaded {
		return k.val, nil
	}
	v, err := t.keyBySeq(ctx, k.seq)
	if err != nil {
		return nil, err
	}
	k.val, k.loaded = v, true
	return v, nil
}

func (t *txn) childNode(ctx context.Context, n *treeNode, i int) (*treeNode, error) {
	c := n.children[i]
	if c.node != nil {
		return c.node, nil
	}
	if n.depth >= maxDepth {
		return nil, fmt.Errorf("%w: deeper than %d levels", ErrCorrupt, maxDepth)
	}
	b, err := t.getBlock(ctx, c.seq)
	if err != nil {
		return nil, err
	}
	node, err := b.treeNode(c.offset)
	if err != nil {
		return nil, err
	}
	node.depth = n.depth + 1
	c.node = node
	return node, nil
}

// visited guards a walk over many nodes against a hostile log whose nodes
// share children (a DAG that unrolls into exponentially many paths): in a
// real tree every node has one parent, so a walk meets each node once.
type visited map[[2]uint64]struct{}

func (v *visited) enter(c *child) error {
	if *v == nil {
		*v = make(visited)
	}
	id := [2]uint64{c.seq, c.offset}
	if _, ok := (*v)[id]; ok {
		return fmt.Errorf("%w: node %d/%d reached twice", ErrCorrupt, c.seq, c.offset)
	}
	(*v)[id] = struct{}{}
	return nil
}

// root returns the root node at this version, or nil for an empty tree.
func (t *txn) root(ctx context.Context) (*treeNode, error) {
	v := t.currentVersion()
	if v < 2 {
		return nil, nil
	}
	b, err := t.getBlock(ctx, v-1)
	if err != nil {
		return nil, err
	}
	return b.treeNode(0)
}

// search bisects n's keys for k: found reports an exact match at i,
// otherwise i is the child to descend into.
func (t *txn) search(ctx context.Context, n *treeNode, k []byte) (i int, found bool, err error) {
	s, e, c := 0, len(n.keys), 0
	for s < e {
		mid := (s + e) >> 1
		mk, err := t.keyOf(ctx, n.keys[mid])
		if err != nil {
			return 0, false, err
		}
		c = bytes.Compare(k, mk)
		if c == 0 {
			return mid, true, nil
		}
		if c < 0 {
			e = mid
		} else {
			s = mid + 1
		}
	}
	if c < 0 {
		return e, false, nil
	}
	return s, false, nil
}

// keyBySeq returns the key written by block seq.
func (t *txn) keyBySeq(ctx context.Context, seq uint64) ([]byte, error) {
	if seq < t.length {
		if v, ok := t.db.keys.get(seq); ok {
			return v, nil
		}
	}
	b, err := t.getBlock(ctx, seq)
	if err != nil {
		return nil, err
	}
	if !b.pending() {
		t.db.keys.put(seq, bytes.Clone(b.key))
	}
	return b.key, nil
}

// getEntry looks k (already prefixed) up; nil when absent.
func (t *txn) getEntry(ctx context.Context, k []byte) (*blockEntry, error) {
	if len(t.pend) == 0 {
		return t.getStored(ctx, k)
	}
	node, err := t.root(ctx)
	if err != nil || node == nil {
		return nil, err
	}
	for {
		if node.block != nil && !node.block.pending() && bytes.Equal(node.block.key, k) {
			del, err := node.block.deletion()
			if err != nil || del {
				return nil, err
			}
			return node.block, nil
		}
		i, found, err := t.search(ctx, node, k)
		if err != nil {
			return nil, err
		}
		if found {
			return t.getBlock(ctx, node.keys[i].seq)
		}
		if len(node.children) == 0 {
			return nil, nil
		}
		if node, err = t.childNode(ctx, node, i); err != nil {
			return nil, err
		}
	}
}

// getStored is getEntry on stored blocks only: it walks the decoded
// levels without building nodes.
func (t *txn) getStored(ctx context.Context, k []byte) (*blockEntry, error) {
	v := t.currentVersion()
	if v < 2 {
		return nil, nil
	}
	blk, err := t.getBlock(ctx, v-1)
	if err != nil {
		return nil, err
	}
	offset := uint64(0)
	for depth := 0; ; depth++ {
		if depth > maxDepth {
			return nil, fmt.Errorf("%w: deeper than %d levels", ErrCorrupt, maxDepth)
		}
		if bytes.Equal(blk.key, k) {
			del, err := blk.deletion()
			if err != nil || del {
				return nil, err
			}
			return blk, nil
		}
		l, err := blk.level(offset)
		if err != nil {
			return nil, err
		}
		s, e, c := 0, len(l.Keys), 0
		for s < e {
			mid := (s + e) >> 1
			mk, err := t.keyBySeq(ctx, l.Keys[mid])
			if err != nil {
				return nil, err
			}
			c = bytes.Compare(k, mk)
			if c == 0 {
				return t.getBlock(ctx, l.Keys[mid])
			}
			if c < 0 {
				e = mid
			} else {
				s = mid + 1
			}
		}
		if len(l.Children) == 0 {
			return nil, nil
		}
		i := s
		if c < 0 {
			i = e
		}
		seq := l.Children[2*i]
		offset = l.Children[2*i+1]
		if blk, err = t.getBlock(ctx, seq); err != nil {
			return nil, err
		}
	}
}

// casFunc decides a compare-and-swap; prev and next are full (prefixed)
// entries and the caller's wrapper strips prefixes.
type casFunc func(prev *blockEntry, next *blockEntry) bool

// insertKey adds k (with an optional right child) to n, or replaces the key
// if it is there. It reports whether n is still small enough.
func (t *txn) insertKey(ctx context.Context, n *treeNode, k *key, value []byte, right *treeNode, next *blockEntry, cas casFunc) (bool, error) {
	kv, err := t.keyOf(ctx, k)
	if err != nil {
		return false, err
	}
	s, e, c := 0, len(n.keys), 0
	for s < e {
		mid := (s + e) >> 1
		mk, err := t.keyOf(ctx, n.keys[mid])
		if err != nil {
			return false, err
		}
		c = bytes.Compare(kv, mk)
		if c == 0 {
			if cas != nil || !t.db.alwaysDuplicate {
				prev, err := t.getBlock(ctx, n.keys[mid].seq)
				if err != nil {
					return false, err
				}
				if cas != nil && !cas(prev, next) {
					return true, nil
				}
				if !t.db.alwaysDuplicate && sameValue(prev.value, value) {
					return true, nil
				}
			}
			n.changed = true
			n.keys[mid] = k
			return true, nil
		}
		if c < 0 {
			e = mid
		} else {
			s = mid + 1
		}
	}
	i := s
	if c < 0 {
		i = e
	}
	n.keys = slices.Insert(n.keys, i, k)
	if right != nil {
		n.children = slices.Insert(n.children, i+1, &child{node: right})
	}
	n.changed = true
	return len(n.keys) < maxChildren, nil
}

func sameValue(a, b []byte) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return bytes.Equal(a, b)
}

func (n *treeNode) removeKey(i int) {
	n.keys = slices.Delete(n.keys, i, i+1)
	if len(n.children) > 0 {
		n.children[i+1].seq = 0 // freed: dropped from pending indexes
		n.children = slices.Delete(n.children, i+1, i+2)
	}
	n.changed = true
}

// split moves the upper half of n into a new right sibling and returns the
// median key between them.
func (n *treeNode) split() (median *key, right *treeNode) {
	half := len(n.keys) >> 1
	right = newNode(n.block)
	right.keys = slices.Clone(n.keys[len(n.keys)-half:])
	n.keys = n.keys[:len(n.keys)-half]
	median = n.keys[len(n.keys)-1]
	n.keys = slices.Clip(n.keys[:len(n.keys)-1])
	if len(n.children) > 0 {
		right.children = slices.Clone(n.children[len(n.children)-half-1:])
		n.children = slices.Clip(n.children[:len(n.children)-half-1])
	}
	n.changed = true
	return median, right
}

func (n *treeNode) merge(o *treeNode, median *key) {
	n.changed = true
	n.keys = append(n.keys, median)
	n.keys = append(n.keys, o.keys...)
	n.children = append(n.children, o.children...)
}

// indexChanges appends n and its changed descendants, depth first, to the
// index being built for block seq and returns n's offset in it.
func (n *treeNode) indexChanges(index *[]*child, seq uint64) uint64 {
	offset := uint64(len(*index))
	*index = append(*index, nil)
	n.changed = false
	for _, c := range n.children {
		if c.node == nil || !c.node.changed {
			continue
		}
		c.seq = seq
		c.offset = c.node.indexChanges(index, seq)
		(*index)[c.offset] = c
	}
	return offset
}

// adopt points n and the descendants written into block seq at it.
func (n *treeNode) adopt(seq uint64, b *blockEntry) {
	for _, c := range n.children {
		if c.node == nil || c.seq != seq {
			continue
		}
		c.node.block = b
		c.node.adopt(seq, b)
	}
}

// deflate encodes an index of nodes.
func deflate(index []*child) []byte {
	ix := Index{Levels: make([]Level, len(index))}
	for i, c := range index {
		n := c.node
		l := Level{Keys: make([]uint64, len(n.keys))}
		for j, k := range n.keys {
			l.Keys[j] = k.seq
		}
		if len(n.children) > 0 {
			l.Children = make([]uint64, 0, 2*len(n.children))
			for _, ch := range n.children {
				l.Children = append(l.Children, ch.seq, ch.offset)
			}
		}
		ix.Levels[i] = l
	}
	return EncodeIndex(&ix)
}

// writer is a txn that changes the tree: it holds the bee's write lock.
// With autoFlush each operation appends its block at once; otherwise the
// blocks collect in pend until flush.
type writer struct {
	txn
	autoFlush bool
	// stored is the root read from the log while the batch has no pending
	// block yet. Like hyperbee, which caches the block and its nodes' child
	// pointers for the life of a batch, later operations reuse it, with
	// whatever an operation that wrote nothing left marked as changed.
	stored *treeNode
}

// writeRoot returns the root an operation starts from.
func (w *writer) writeRoot(ctx context.Context) (*treeNode, error) {
	if w.autoFlush || len(w.pend) > 0 {
		return w.root(ctx)
	}
	if w.stored != nil && w.stored.block != nil && w.stored.block.seq == w.currentVersion()-1 {
		w.stored.changed = false
		return w.stored, nil
	}
	root, err := w.root(ctx)
	w.stored = root
	return root, err
}

// ensureHeader writes block 0 on an empty log and refreshes length.
func (w *writer) ensureHeader(ctx context.Context) error {
	w.length = w.db.log.Length()
	if w.length == 0 && len(w.pend) == 0 {
		if _, err := w.db.log.Append(ctx, EncodeHeader(&Header{Protocol: Protocol, Metadata: w.db.metadata})); err != nil {
			return err
		}
		w.length = w.db.log.Length()
	}
	return nil
}

// put inserts or replaces k. It reports whether a block was written.
func (w *writer) put(ctx context.Context, k, value []byte, cas casFunc) (bool, error) {
	if err := w.ensureHeader(ctx); err != nil {
		return false, err
	}
	root, err := w.writeRoot(ctx)
	if err != nil {
		return false, err
	}
	if root == nil {
		root = newNode(nil)
	}
	seq := w.length + uint64(len(w.pend))
	target := &key{seq: seq, val: k, loaded: true}
	next := &blockEntry{seq: seq, key: k, value: value}

	var stack []*treeNode
	node := root
	for len(node.children) > 0 {
		stack = append(stack, node)
		node.changed = true
		i, found, err := w.search(ctx, node, k)
		if err != nil {
			return false, err
		}
		if found {
			if cas != nil || !w.db.alwaysDuplicate {
				prev, err := w.getBlock(ctx, node.keys[i].seq)
				if err != nil {
					return false, err
				}
				if cas != nil && !cas(prev, next) {
					return false, nil
				}
				if !w.db.alwaysDuplicate && sameValue(prev.value, value) {
					return false, nil
				}
			}
			node.keys[i] = target
			node.changed = true
			return true, w.appendRoot(ctx, root, seq, k, value)
		}
		if node, err = w.childNode(ctx, node, i); err != nil {
			return false, err
		}
	}

	fits, err := w.insertKey(ctx, node, target, value, nil, next, cas)
	if err != nil {
		return false, err
	}
	if !node.changed {
		return false, nil
	}
	for !fits {
		var parent *treeNode
		if len(stack) > 0 {
			parent = stack[len(stack)-1]
			stack = stack[:len(stack)-1]
		}
		median, right := node.split()
		if parent != nil {
			if fits, err = w.insertKey(ctx, parent, median, value, right, nil, nil); err != nil {
				return false, err
			}
			node = parent
			continue
		}
		root = newNode(node.block)
		root.keys = []*key{median}
		root.children = []*child{{node: node}, {node: right}}
		fits = true
	}
	return true, w.appendRoot(ctx, root, seq, k, value)
}

// del removes k. It reports whether a block was written.
func (w *writer) del(ctx context.Context, k []byte, cas casFunc) (bool, error) {
	if err := w.ensureHeader(ctx); err != nil {
		return false, err
	}
	node, err := w.writeRoot(ctx)
	if err != nil || node == nil {
		return false, err
	}
	seq := w.length + uint64(len(w.pend))
	var stack []*treeNode
	for {
		stack = append(stack, node)
		i, found, err := w.search(ctx, node, k)
		if err != nil {
			return false, err
		}
		if found {
			if cas != nil {
				prev, err := w.getBlock(ctx, node.keys[i].seq)
				if err != nil {
					return false, err
				}
				if !cas(prev, &blockEntry{seq: seq, key: k}) {
					return false, nil
				}
			}
			if len(node.children) > 0 {
				if stack, err = w.setKeyToNearestLeaf(ctx, node, i, stack); err != nil {
					return false, err
				}
			} else {
				node.removeKey(i)
			}
			for _, n := range stack {
				n.changed = true
			}
			root, err := w.rebalance(ctx, stack)
			if err != nil {
				return false, err
			}
			return true, w.appendRoot(ctx, root, seq, k, nil)
		}
		if len(node.children) == 0 {
			return false, nil
		}
		if node, err = w.childNode(ctx, node, i); err != nil {
			return false, err
		}
	}
}

// leafSize counts the keys of the leftmost (or rightmost) leaf under n.
func (w *writer) leafSize(ctx context.Context, n *treeNode, leftmost bool) (int, error) {
	for len(n.children) > 0 {
		i := len(n.children) - 1
		if leftmost {
			i = 0
		}
		var err error
		if n, err = w.childNode(ctx, n, i); err != nil {
			return 0, err
		}
	}
	return len(n.keys), nil
}

// setKeyToNearestLeaf replaces key i of inner node n by its neighbour
// from the side whose leaf is bigger, recording the path in stack.
func (w *writer) setKeyToNearestLeaf(ctx context.Context, n *treeNode, i int, stack []*treeNode) ([]*treeNode, error) {
	left, err := w.childNode(ctx, n, i)
	if err != nil {
		return nil, err
	}
	right, err := w.childNode(ctx, n, i+1)
	if err != nil {
		return nil, err
	}
	ls, err := w.leafSize(ctx, left, false)
	if err != nil {
		return nil, err
	}
	rs, err := w.leafSize(ctx, right, true)
	if err != nil {
		return nil, err
	}
	if ls < rs {
		stack = append(stack, right)
		for len(right.children) > 0 {
			if right, err = w.childNode(ctx, right, 0); err != nil {
				return nil, err
			}
			stack = append(stack, right)
		}
		if len(right.keys) == 0 {
			return nil, fmt.Errorf("%w: empty leaf", ErrCorrupt)
		}
		n.keys[i] = right.keys[0]
		right.keys = slices.Delete(right.keys, 0, 1)
		return stack, nil
	}
	stack = append(stack, left)
	for len(left.children) > 0 {
		if left, err = w.childNode(ctx, left, len(left.children)-1); err != nil {
			return nil, err
		}
		stack = append(stack, left)
	}
	if len(left.keys) == 0 {
		return nil, fmt.Errorf("%w: empty leaf", ErrCorrupt)
	}
	n.keys[i] = left.keys[len(left.keys)-1]
	left.keys = left.keys[:len(left.keys)-1]
	return stack, nil
}

func (w *writer) siblings(ctx context.Context, n, parent *treeNode) (left *treeNode, index int, right *treeNode, err error) {
	for i, c := range parent.children {
		if c.node != n {
			continue
		}
		if i > 0 {
			if left, err = w.childNode(ctx, parent, i-1); err != nil {
				return
			}
		}
		if i < len(parent.children)-1 {
			if right, err = w.childNode(ctx, parent, i+1); err != nil {
				return
			}
		}
		return left, i, right, nil
	}
	return nil, 0, nil, fmt.Errorf("%w: node not under its parent", ErrCorrupt)
}

// rebalance restores the minimum fill along the deletion path, borrowing
// from a sibling or merging with one, and returns the new root.
func (w *writer) rebalance(ctx context.Context, stack []*treeNode) (*treeNode, error) {
	root := stack[0]
	for len(stack) > 1 {
		node := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		parent := stack[len(stack)-1]
		if len(node.keys) >= minKeys {
			return root, nil
		}
		left, index, right, err := w.siblings(ctx, node, parent)
		if err != nil {
			return nil, err
		}
		if left != nil && len(left.keys) > minKeys {
			left.changed = true
			node.keys = slices.Insert(node.keys, 0, parent.keys[index-1])
			if len(left.children) > 0 {
				node.children = slices.Insert(node.children, 0, left.children[len(left.children)-1])
				left.children = left.children[:len(left.children)-1]
			}
			parent.keys[index-1] = left.keys[len(left.keys)-1]
			left.keys = left.keys[:len(left.keys)-1]
			return root, nil
		}
		if right != nil && len(right.keys) > minKeys {
			right.changed = true
			node.keys = append(node.keys, parent.keys[index])
			if len(right.children) > 0 {
				node.children = append(node.children, right.children[0])
				right.children = slices.Delete(right.children, 0, 1)
			}
			parent.keys[index] = right.keys[0]
			right.keys = slices.Delete(right.keys, 0, 1)
			return root, nil
		}
		if left != nil {
			index--
			right = node
		} else {
			left = node
		}
		if right == nil {
			return nil, fmt.Errorf("%w: lone child", ErrCorrupt)
		}
		left.merge(right, parent.keys[index])
		parent.removeKey(index)
	}
	if len(root.keys) == 0 && len(root.children) > 0 {
		return w.childNode(ctx, root, 0)
	}
	return root, nil
}

// appendRoot turns the changed part of the tree into block seq: appended
// now when auto-flushing, kept pending in a batch otherwise.
func (w *writer) appendRoot(ctx context.Context, root *treeNode, seq uint64, k, value []byte) error {
	var index []*child
	root.indexChanges(&index, seq)
	index[0] = &child{seq: seq, node: root}
	if !w.autoFlush {
		e := &blockEntry{seq: seq, key: k, value: value, pend: index}
		root.block = e
		w.pend = append(w.pend, e)
		root.adopt(seq, e)
		return nil
	}
	_, err := w.db.log.Append(ctx, EncodeNode(&Node{Key: k, Value: value, Index: deflate(index)}))
	return err
}

// blocks encodes the pending blocks. Every block but the last keeps only
// the nodes no later block of the batch rewrote, renumbered, as hyperbee's
// batch does.
func (w *writer) blocks() [][]byte {
	out := make([][]byte, len(w.pend))
	for i, e := range w.pend {
		seq := w.length + uint64(i)
		idx := e.pend
		if i < len(w.pend)-1 {
			idx[0] = nil
			for j := 0; j < len(idx); {
				if c := idx[j]; c != nil && c.seq == seq {
					c.offset = uint64(j)
					j++
					continue
				}
				last := len(idx) - 1
				idx[j] = idx[last]
				idx = idx[:last]
			}
		}
		out[i] = EncodeNode(&Node{Key: e.key, Value: e.value, Index: deflate(idx)})
	}
	return out
}
