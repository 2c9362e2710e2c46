package hyperbee

import (
	"bytes"
	"context"
	"fmt"
	"iter"
)

// DiffEntry is one difference between two versions: the entry on the left
// (the bee Diff was called on) and on the right (the other), either nil
// when the key exists on one side only.
type DiffEntry struct {
	Left, Right *Entry
}

// subTree is a cursor over one node for the diff walk. i steps through
// children (even) and keys (odd); seq and offset name what i points at, so
// two cursors at the same stored subtree can skip it whole.
type subTree struct {
	node        *treeNode
	parent      *subTree
	isKey       bool
	i, n        int
	seq, offset uint64
}

func newSubTree(node *treeNode, parent *subTree) (*subTree, error) {
	s := &subTree{node: node, parent: parent, isKey: len(node.children) == 0}
	if s.isKey {
		if len(node.keys) == 0 {
			return nil, fmt.Errorf("%w: empty node below the root", ErrCorrupt)
		}
		s.i = 1
		s.seq = node.keys[0].seq
	} else {
		s.seq, s.offset = node.children[0].seq, node.children[0].offset
	}
	return s, nil
}

func (s *subTree) next() bool {
	s.i++
	s.isKey = s.i&1 == 1
	if !s.isKey && len(s.node.children) == 0 {
		s.i++
	}
	return s.update()
}

func (s *subTree) update() bool {
	s.isKey = s.i&1 == 1
	s.n = s.i >> 1
	limit := len(s.node.children)
	if s.isKey {
		limit = len(s.node.keys)
	}
	if s.n >= limit {
		return false
	}
	if s.isKey {
		s.seq, s.offset = s.node.keys[s.n].seq, 0
	} else {
		s.seq, s.offset = s.node.children[s.n].seq, s.node.children[s.n].offset
	}
	return true
}

// bisect positions the cursor at k and reports whether the seek is done.
func (s *subTree) bisect(ctx context.Context, t *txn, k []byte, incl bool) (bool, error) {
	i, found, err := t.search(ctx, s.node, k)
	if err != nil {
		return false, err
	}
	inner := len(s.node.children) > 0
	if found {
		switch {
		case incl:
			s.i = i*2 + 1
		case inner:
			s.i = i*2 + 2
		default:
			s.i = i*2 + 3
		}
		return true, nil
	}
	s.i = 2 * i
	if !inner {
		s.i++
	}
	return !inner, nil
}

// key is the upper bound of what the cursor points at: its key, or for the
// last child the parent's; nil (unbounded) at the right edge.
func (s *subTree) key(ctx context.Context, t *txn) ([]byte, error) {
	for c := s; c != nil; c = c.parent {
		if c.n < len(c.node.keys) {
			return t.keyOf(ctx, c.node.keys[c.n])
		}
	}
	return nil, nil
}

// cmpBound orders keys where nil is past every key.
func cmpBound(a, b []byte) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return 1
	case b == nil:
		return -1
	}
	return bytes.Compare(a, b)
}

type treeIter struct {
	t       *txn
	stack   []*subTree
	lt      []byte
	lte     bool
	gt      []byte
	gte     bool
	seeking bool
	seen    visited
}

func newTreeIter(t *txn, b bounds) *treeIter {
	return &treeIter{t: t, lt: b.upper, lte: b.upperIncl, gt: b.lower, gte: b.lowerIncl, seeking: b.lower != nil}
}

func (it *treeIter) open(ctx context.Context) error {
	root, err := it.t.root(ctx)
	if err != nil || root == nil || len(root.keys) == 0 {
		return err
	}
	s, err := newSubTree(root, nil)
	if err != nil {
		return err
	}
	if it.seeking {
		ok, err := it.seek(ctx, s)
		if err != nil || !ok {
			return err
		}
	}
	it.stack = append(it.stack, s)
	return nil
}

func (it *treeIter) seek(ctx context.Context, s *subTree) (bool, error) {
	done, err := s.bisect(ctx, it.t, it.gt, it.gte)
	if err != nil {
		return false, err
	}
	oob := !s.update()
	if done || oob {
		it.seeking = false
	}
	return !oob, nil
}

func (it *treeIter) peek() *subTree {
	if len(it.stack) == 0 {
		return nil
	}
	return it.stack[len(it.stack)-1]
}

func (it *treeIter) skip() {
	if top := it.peek(); top != nil && !top.next() {
		it.stack = it.stack[:len(it.stack)-1]
	}
}

// step advances one position, descending into a child or returning the
// block of a key.
func (it *treeIter) step(ctx context.Context) (*blockEntry, error) {
	top := it.peek()
	if top == nil {
		return nil, nil
	}
	isKey, n, seq := top.isKey, top.n, top.seq
	if !top.next() {
		it.stack = it.stack[:len(it.stack)-1]
	}
	if isKey {
		it.seeking = false
		return it.t.getBlock(ctx, seq)
	}
	if err := it.seen.enter(top.node.children[n]); err != nil {
		return nil, err
	}
	node, err := it.t.childNode(ctx, top.node, n)
	if err != nil {
		return nil, err
	}
	s, err := newSubTree(node, top)
	if err != nil {
		return nil, err
	}
	if it.seeking {
		ok, err := it.seek(ctx, s)
		if err != nil || !ok {
			return nil, err
		}
	}
	it.stack = append(it.stack, s)
	return nil, nil
}

func (it *treeIter) nextKey(ctx context.Context) (*blockEntry, error) {
	var e *blockEntry
	for len(it.stack) > 0 && e == nil {
		var err error
		if e, err = it.step(ctx); err != nil {
			return nil, err
		}
	}
	if e == nil || it.lt == nil {
		return e, nil
	}
	c := bytes.Compare(e.key, it.lt)
	if c < 0 || it.lte && c == 0 {
		return e, nil
	}
	it.stack = nil
	return nil, nil
}

// Diff iterates, in key order, the keys in r whose entries differ between
// b and other (two versions of the same bee, e.g. b.Checkout(v)): subtrees
// both versions share are skipped without being read. r.Reverse is not
// supported and is ignored.
func (b *Bee) Diff(ctx context.Context, other *Bee, r Range) iter.Seq2[DiffEntry, error] {
	return func(yield func(DiffEntry, error) bool) {
		bd := b.bounds(r)
		left, right := newTreeIter(b.reader(), bd), newTreeIter(other.reader(), bd)
		if err := left.open(ctx); err != nil {
			yield(DiffEntry{}, err)
			return
		}
		if err := right.open(ctx); err != nil {
			yield(DiffEntry{}, err)
			return
		}
		limit := r.Limit
		if limit <= 0 {
			limit = -1
		}
		for ; limit != 0; limit-- {
			l, r, err := diffNext(ctx, left, right)
			if err != nil {
				yield(DiffEntry{}, err)
				return
			}
			if l == nil && r == nil {
				return
			}
			d := DiffEntry{}
			if l != nil {
				d.Left = b.final(l)
			}
			if r != nil {
				d.Right = other.final(r)
			}
			if !yield(d, nil) {
				return
			}
		}
	}
}

func diffNext(ctx context.Context, a, b *treeIter) (*blockEntry, *blockEntry, error) {
	for {
		l, r := a.peek(), b.peek()
		switch {
		case l == nil && r == nil:
			return nil, nil, nil
		case l == nil:
			e, err := b.nextKey(ctx)
			return nil, e, err
		case r == nil:
			e, err := a.nextKey(ctx)
			return e, nil, err
		}
		if l.seq == r.seq && l.isKey == r.isKey && l.offset == r.offset {
			a.skip()
			b.skip()
			continue
		}
		lk, err := l.key(ctx, a.t)
		if err != nil {
			return nil, nil, err
		}
		rk, err := r.key(ctx, b.t)
		if err != nil {
			return nil, nil, err
		}
		c := cmpBound(lk, rk)
		switch {
		case l.isKey && !r.isKey:
			if _, err := b.step(ctx); err != nil {
				return nil, nil, err
			}
		case !l.isKey && r.isKey:
			if _, err := a.step(ctx); err != nil {
				return nil, nil, err
			}
		case l.isKey && r.isKey:
			var le, re *blockEntry
			var err error
			if c <= 0 {
				if le, err = a.nextKey(ctx); err != nil {
					return nil, nil, err
				}
			}
			if c >= 0 {
				if re, err = b.nextKey(ctx); err != nil {
					return nil, nil, err
				}
			}
			return le, re, nil
		default:
			if c <= 0 {
				if _, err := b.step(ctx); err != nil {
					return nil, nil, err
				}
			}
			if c >= 0 {
				if _, err := a.step(ctx); err != nil {
					return nil, nil, err
				}
			}
		}
	}
}
