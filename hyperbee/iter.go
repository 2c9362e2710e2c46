package hyperbee

import (
	"bytes"
	"context"
	"iter"
)

// Range selects keys for Range, Peek, Diff and Watch. Nil bounds are open;
// a non-nil empty bound is the empty key. On a sub-database the bounds are
// relative to its prefix and the range never leaves it.
type Range struct {
	GT, GTE, LT, LTE []byte
	// Reverse iterates from the highest key down.
	Reverse bool
	// Limit stops after this many entries; 0 or less means no limit.
	Limit int
}

// bounds is a range in stored (prefixed) keys.
type bounds struct {
	lower, upper         []byte
	lowerIncl, upperIncl bool
}

func (b *Bee) bounds(r Range) bounds {
	var o bounds
	enc := func(k []byte) []byte { return b.enc(k) }
	switch {
	case r.GT != nil:
		o.lower = enc(r.GT)
	case r.GTE != nil:
		o.lower, o.lowerIncl = enc(r.GTE), true
	}
	switch {
	case r.LT != nil:
		o.upper = enc(r.LT)
	case r.LTE != nil:
		o.upper, o.upperIncl = enc(r.LTE), true
	}
	if b.prefix != nil {
		// As hyperbee: an open sub range runs from the prefix followed by
		// a 0x00 byte (exclusive, whatever the separator) to the prefix
		// with its last byte bumped.
		if o.lower == nil {
			o.lower, o.lowerIncl = enc([]byte{0}), false
		}
		if o.upper == nil {
			u := enc(nil)
			u[len(u)-1]++
			o.upper, o.upperIncl = u, false
		}
	}
	return o
}

type rangeFrame struct {
	node *treeNode
	i    int
}

// rangeIter walks a tree in order between two bounds, as hyperbee's
// RangeIterator: a stack of nodes, each with a position i that alternates
// between children (even) and keys (odd).
type rangeIter struct {
	t       *txn
	stack   []rangeFrame
	b       bounds
	reverse bool
	limit   int
	seen    visited
}

func (it *rangeIter) open(ctx context.Context) error {
	node, err := it.t.root(ctx)
	if err != nil || node == nil {
		return err
	}
	incl, start := it.b.lowerIncl, it.b.lower
	if it.reverse {
		incl, start = it.b.upperIncl, it.b.upper
	}
	if start == nil {
		f := rangeFrame{node: node}
		if it.reverse {
			f.i = len(node.keys) << 1
		}
		it.stack = append(it.stack, f)
		return nil
	}
	for {
		f := rangeFrame{node: node}
		i, found, err := it.t.search(ctx, node, start)
		if err != nil {
			return err
		}
		if found {
			switch {
			case incl:
				f.i = i*2 + 1
			case it.reverse:
				f.i = i * 2
			default:
				f.i = i*2 + 2
			}
			it.stack = append(it.stack, f)
			return nil
		}
		if it.reverse {
			f.i = 2*i - 1
		} else {
			f.i = 2*i + 1
		}
		if f.i >= 0 && f.i <= len(node.keys)<<1 {
			it.stack = append(it.stack, f)
		}
		if len(node.children) == 0 {
			return nil
		}
		if node, err = it.t.childNode(ctx, node, i); err != nil {
			return err
		}
	}
}

func (it *rangeIter) next(ctx context.Context) (*blockEntry, error) {
	end, incl := it.b.upper, it.b.upperIncl
	if it.reverse {
		end, incl = it.b.lower, it.b.lowerIncl
	}
	for len(it.stack) > 0 && it.limit != 0 {
		top := &it.stack[len(it.stack)-1]
		isKey := top.i&1 == 1
		var n int
		if it.reverse {
			if top.i < 0 {
				n = len(top.node.keys)
			} else {
				n = top.i >> 1
				top.i--
			}
		} else {
			n = top.i >> 1
			top.i++
		}
		if !isKey {
			if len(top.node.children) == 0 {
				continue
			}
			if n >= len(top.node.children) {
				it.stack = it.stack[:len(it.stack)-1]
				continue
			}
			if err := it.seen.enter(top.node.children[n]); err != nil {
				return nil, err
			}
			node, err := it.t.childNode(ctx, top.node, n)
			if err != nil {
				return nil, err
			}
			f := rangeFrame{node: node}
			if it.reverse {
				f.i = len(node.keys) << 1
			}
			it.stack = append(it.stack, f)
			continue
		}
		if n >= len(top.node.keys) {
			it.stack = it.stack[:len(it.stack)-1]
			continue
		}
		blk, err := it.t.getBlock(ctx, top.node.keys[n].seq)
		if err != nil {
			return nil, err
		}
		if end != nil {
			c := bytes.Compare(blk.key, end)
			stop := c > 0
			if it.reverse {
				stop = c < 0
			}
			if c == 0 {
				stop = !incl
			}
			if stop {
				it.limit = 0
				break
			}
		}
		if it.limit > 0 {
			it.limit--
		}
		return blk, nil
	}
	return nil, nil
}

// Range iterates the entries in r, in key order (or reverse), at the
// version the bee reads when iteration starts.
func (b *Bee) Range(ctx context.Context, r Range) iter.Seq2[*Entry, error] {
	return b.rangeOn(ctx, nil, r)
}

func (b *Bee) rangeOn(ctx context.Context, t *txn, r Range) iter.Seq2[*Entry, error] {
	return func(yield func(*Entry, error) bool) {
		if t == nil {
			t = b.reader()
		}
		limit := r.Limit
		if limit <= 0 {
			limit = -1
		}
		it := &rangeIter{t: t, b: b.bounds(r), reverse: r.Reverse, limit: limit}
		if err := it.open(ctx); err != nil {
			yield(nil, err)
			return
		}
		for {
			e, err := it.next(ctx)
			if err != nil {
				yield(nil, err)
				return
			}
			if e == nil || !yield(b.final(e), nil) {
				return
			}
		}
	}
}

// Peek returns the first entry of r (the last with Reverse), or nil.
func (b *Bee) Peek(ctx context.Context, r Range) (*Entry, error) {
	r.Limit = 1
	for e, err := range b.Range(ctx, r) {
		return e, err
	}
	return nil, nil
}

// Range iterates the batch's view, pending changes included. The batch
// must not change while the iteration runs.
func (bt *Batch) Range(ctx context.Context, r Range) iter.Seq2[*Entry, error] {
	bt.mu.Lock()
	t := bt.view()
	bt.mu.Unlock()
	return bt.bee.rangeOn(ctx, t, r)
}

// Peek returns the first entry of r in the batch's view, or nil.
func (bt *Batch) Peek(ctx context.Context, r Range) (*Entry, error) {
	r.Limit = 1
	for e, err := range bt.Range(ctx, r) {
		return e, err
	}
	return nil, nil
}
