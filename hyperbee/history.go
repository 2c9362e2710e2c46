package hyperbee

import (
	"context"
	"errors"
	"iter"
	"math"
	"time"
)

// ErrLiveReverse reports history options asking for both Live and Reverse.
var ErrLiveReverse = errors.New("hyperbee: live history cannot run in reverse")

// HistoryOptions select blocks by seq for History. Zero fields are unset;
// negative ones count back from the version, as in hyperbee.
type HistoryOptions struct {
	GT, GTE, LT, LTE int64
	// Reverse walks from the newest block down.
	Reverse bool
	// Limit stops after this many entries; 0 or less means no limit.
	Limit int
	// Live keeps waiting for new blocks after the last one (not with
	// Reverse); the iteration ends with ctx.
	Live bool
}

// HistoryEntry is one change: a put, or a delete (Deleted, Value nil).
type HistoryEntry struct {
	Entry
	Deleted bool
}

// historyBounds turns the options into [gte, lt) at version, as
// hyperbee's history iterator does.
func historyBounds(o HistoryOptions, version uint64) (gte, lt int64) {
	v := int64(version)
	rel := func(x int64) int64 {
		if x < 0 {
			return x + v
		}
		return x
	}
	if o.GT != 0 {
		gte = rel(o.GT) + 1
	} else {
		gte = o.GTE
		if gte == 0 {
			gte = 1
		}
		gte = rel(gte)
	}
	switch {
	case o.Live:
		lt = math.MaxInt64
	case o.LTE != 0:
		lt = rel(o.LTE) + 1
	default:
		lt = o.LT
		if lt == 0 {
			lt = v
		}
		lt = rel(lt)
	}
	return gte, lt
}

// History iterates the changes in the log in order of seq: every put and
// delete with the key and value it wrote. It covers the whole log; on a
// sub-database every key loses the prefix's length of bytes, as in
// hyperbee.
func (b *Bee) History(ctx context.Context, o HistoryOptions) iter.Seq2[*HistoryEntry, error] {
	return func(yield func(*HistoryEntry, error) bool) {
		if o.Live && o.Reverse {
			yield(nil, ErrLiveReverse)
			return
		}
		t := b.reader()
		gte, lt := historyBounds(o, t.currentVersion())
		limit := o.Limit
		if limit <= 0 {
			limit = -1
		}
		for ; limit != 0 && gte < lt; limit-- {
			var seq int64
			if o.Reverse {
				if lt <= 1 {
					return
				}
				lt--
				seq = lt
			} else {
				seq = gte
				gte++
			}
			if seq < 0 {
				return
			}
			if o.Live {
				if err := b.waitFor(ctx, uint64(seq)); err != nil {
					yield(nil, err)
					return
				}
			}
			e, err := t.getBlock(ctx, uint64(seq))
			if err != nil {
				yield(nil, err)
				return
			}
			del, err := e.deletion()
			if err != nil {
				yield(nil, err)
				return
			}
			h := &HistoryEntry{Entry: *b.final(e), Deleted: del}
			if !yield(h, nil) {
				return
			}
		}
	}
}

// waitFor returns once the log holds block seq.
func (b *Bee) waitFor(ctx context.Context, seq uint64) error {
	for b.db.log.Length() <= seq {
		if w, ok := b.db.log.(Waiter); ok {
			if err := w.WaitLength(ctx, seq); err != nil {
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}
