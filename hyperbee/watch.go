package hyperbee

import (
	"context"
	"iter"
)

// Change is a step seen by Watch: read-only checkouts of the bee before
// and after it.
type Change struct {
	Previous, Current *Bee
}

// Watch yields a Change each time the log grows and the entries in r
// differ between the previous and the new version (several appends may be
// folded into one change). It runs until ctx ends, then stops without an
// error; other errors are yielded once and end the iteration. Watching a
// checkout yields ErrReadOnly: it never changes.
func (b *Bee) Watch(ctx context.Context, r Range) iter.Seq2[Change, error] {
	return func(yield func(Change, error) bool) {
		if b.checkout != 0 {
			yield(Change{}, ErrReadOnly)
			return
		}
		prev := b.Version()
		for {
			if err := b.waitFor(ctx, prev); err != nil {
				if ctx.Err() == nil {
					yield(Change{}, err)
				}
				return
			}
			cur := b.Version()
			before, after := b.Checkout(prev), b.Checkout(cur)
			prev = cur
			changed := false
			for _, err := range after.Diff(ctx, before, Range{GT: r.GT, GTE: r.GTE, LT: r.LT, LTE: r.LTE, Limit: 1}) {
				if err != nil {
					if ctx.Err() == nil {
						yield(Change{}, err)
					}
					return
				}
				changed = true
			}
			if changed && !yield(Change{Previous: before, Current: after}, nil) {
				return
			}
		}
	}
}

// WatchKey yields key's entry now and then each time it changes (nil once
// deleted), as hyperbee's getAndWatch: a change is a new block for the key,
// even with the same value. It runs until ctx ends, then stops without an
// error.
func (b *Bee) WatchKey(ctx context.Context, key []byte) iter.Seq2[*Entry, error] {
	return func(yield func(*Entry, error) bool) {
		if b.checkout != 0 {
			yield(nil, ErrReadOnly)
			return
		}
		version := b.Version()
		cur, err := b.Checkout(version).Get(ctx, key)
		if err != nil || !yield(cur, nil) {
			if err != nil {
				yield(nil, err)
			}
			return
		}
		for {
			if err := b.waitFor(ctx, version); err != nil {
				if ctx.Err() == nil {
					yield(nil, err)
				}
				return
			}
			version = b.Version()
			next, err := b.Checkout(version).Get(ctx, key)
			if err != nil {
				if ctx.Err() == nil {
					yield(nil, err)
				}
				return
			}
			if (next == nil) != (cur == nil) || next != nil && next.Seq != cur.Seq {
				if !yield(next, nil) {
					return
				}
			}
			cur = next
		}
	}
}
