package hyperbee

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/warrenp2p/warren/hypercore"
)

// ErrNotAvailable reports a block the log does not hold.
var ErrNotAvailable = errors.New("hyperbee: block not available")

// Log is the append-only log a bee lives on: a hypercore, or anything that
// keeps blocks in order. Blocks once appended must not change.
type Log interface {
	// Length is the number of blocks.
	Length() uint64
	// Get returns block index. It may wait for a block that is not there
	// yet (a replicating core) until ctx ends.
	Get(ctx context.Context, index uint64) ([]byte, error)
	// Append adds blocks at the end, atomically, and returns the new length.
	Append(ctx context.Context, blocks ...[]byte) (uint64, error)
}

// Waiter is implemented by logs that can tell when they grow. Watch and live
// history use it; without it they poll Length.
type Waiter interface {
	// WaitLength returns once Length() > length, or with ctx's error.
	WaitLength(ctx context.Context, length uint64) error
}

// MemLog is a Log in memory, safe for concurrent use. Its zero value is an
// empty log.
type MemLog struct {
	mu     sync.Mutex
	blocks [][]byte
	grow   chan struct{} // closed and replaced on every append
}

// Length implements Log.
func (m *MemLog) Length() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return uint64(len(m.blocks))
}

// Get implements Log; it never waits.
func (m *MemLog) Get(_ context.Context, index uint64) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if index >= uint64(len(m.blocks)) {
		return nil, fmt.Errorf("%w: %d of %d", ErrNotAvailable, index, len(m.blocks))
	}
	return m.blocks[index], nil
}

// Append implements Log. The blocks are copied.
func (m *MemLog) Append(_ context.Context, blocks ...[]byte) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, b := range blocks {
		m.blocks = append(m.blocks, append([]byte(nil), b...))
	}
	if m.grow != nil {
		close(m.grow)
		m.grow = nil
	}
	return uint64(len(m.blocks)), nil
}

// WaitLength implements Waiter.
func (m *MemLog) WaitLength(ctx context.Context, length uint64) error {
	for {
		m.mu.Lock()
		if uint64(len(m.blocks)) > length {
			m.mu.Unlock()
			return nil
		}
		if m.grow == nil {
			m.grow = make(chan struct{})
		}
		ch := m.grow
		m.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// CoreLog adapts a *hypercore.Core to Log. Reads of blocks the core does not
// have wait for them (until ctx ends), as hyperbee does on a sparse core.
type CoreLog struct {
	Core *hypercore.Core
}

// Length implements Log.
func (c CoreLog) Length() uint64 { return c.Core.Length() }

// Get implements Log. A block the core cannot have is ErrNotAvailable
// (and hypercore's error of that name).
func (c CoreLog) Get(ctx context.Context, index uint64) ([]byte, error) {
	b, err := c.Core.Get(ctx, index, hypercore.GetOptions{Wait: true})
	if errors.Is(err, hypercore.ErrNotAvailable) {
		err = fmt.Errorf("%w: %w", ErrNotAvailable, err)
	}
	return b, err
}

// Append implements Log.
func (c CoreLog) Append(_ context.Context, blocks ...[]byte) (uint64, error) {
	return c.Core.Append(blocks...)
}

// WaitLength implements Waiter by waiting for block length to be stored.
func (c CoreLog) WaitLength(ctx context.Context, length uint64) error {
	if c.Core.Length() > length {
		return nil
	}
	_, err := c.Core.Get(ctx, length, hypercore.GetOptions{Wait: true})
	return err
}
