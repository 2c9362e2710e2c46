package hypercore

import (
	"context"
	"io"
	"sync"
)

// Snapshot is a read-only view of a core frozen at the length, byte length
// and fork it had when taken. Blocks the core truncates away afterwards
// fail with ErrTruncated instead of returning the data of another fork.
type Snapshot struct {
	c          *Core
	length     uint64
	byteLength uint64
	fork       uint64
	tree       *tree
}

// Snapshot returns a snapshot of the current state.
func (c *Core) Snapshot() *Snapshot {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return &Snapshot{c: c, length: c.t.length, byteLength: c.t.byteLength - c.t.length*c.paddingLocked(), fork: c.t.fork, tree: c.t.clone()}
}

// Length returns the length at the time of the snapshot.
func (s *Snapshot) Length() uint64 { return s.length }

// ByteLength returns the data byte length at the time of the snapshot.
func (s *Snapshot) ByteLength() uint64 { return s.byteLength }

// Fork returns the fork id at the time of the snapshot.
func (s *Snapshot) Fork() uint64 { return s.fork }

// Get returns block index of the snapshot.
func (s *Snapshot) Get(ctx context.Context, index uint64, opts GetOptions) ([]byte, error) {
	if index >= s.length {
		return nil, ErrOutOfRange
	}
	if !s.valid(index) {
		return nil, ErrTruncated
	}
	b, err := s.c.Get(ctx, index, opts)
	if err == nil && !s.valid(index) {
		return nil, ErrTruncated
	}
	return b, err
}

// valid reports whether block index still belongs to the snapshot's fork.
func (s *Snapshot) valid(index uint64) bool {
	s.c.mu.RLock()
	defer s.c.mu.RUnlock()
	for _, tr := range s.c.truncations {
		if tr.fork > s.fork && index >= tr.length {
			return false
		}
	}
	return true
}

// truncation records that the core was cut to length when moving to fork.
type truncation struct{ fork, length uint64 }

// Session is another handle on an open core. The core's storage stays open
// until the Core and every Session are closed.
type Session struct {
	*Core
	once sync.Once
}

// Session returns a new handle sharing this core.
func (c *Core) Session() (*Session, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	c.refs++
	return &Session{Core: c}, nil
}

// Close releases the session.
func (s *Session) Close() error {
	var err error
	s.once.Do(func() { err = s.Core.release() })
	return err
}

// Reader reads the data bytes of a core from start to end as one stream,
// mapping offsets to blocks with the tree (Core.Seek). It implements
// io.Reader and io.ReaderAt; offsets given to ReadAt are relative to start.
type Reader struct {
	c          *Core
	ctx        context.Context
	start, end uint64
	off        uint64
	wait       bool
}

// NewReader returns a reader of data bytes [start, end); end 0 means the
// byte length at the call. With wait it waits for blocks not yet stored.
func (c *Core) NewReader(ctx context.Context, start, end uint64, wait bool) *Reader {
	if end == 0 {
		end = c.ByteLength()
	}
	return &Reader{c: c, ctx: ctx, start: start, end: max(start, end), wait: wait}
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	n, err := r.ReadAt(p, int64(r.off))
	r.off += uint64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// ReadAt implements io.ReaderAt.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, ErrOutOfRange
	}
	pos := r.start + uint64(off)
	if pos >= r.end {
		return 0, io.EOF
	}
	want := min(uint64(len(p)), r.end-pos)
	n := uint64(0)
	index, rel, err := r.c.Seek(pos)
	if err != nil {
		return 0, err
	}
	for n < want {
		b, err := r.c.Get(r.ctx, index, GetOptions{Wait: r.wait})
		if err != nil {
			return int(n), err
		}
		if rel > uint64(len(b)) {
			return int(n), ErrCorrupt
		}
		n += uint64(copy(p[n:want], b[rel:]))
		index++
		rel = 0
	}
	if n < uint64(len(p)) {
		return int(n), io.EOF
	}
	return int(n), nil
}
