package hyperblobs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/warrenp2p/warren/hypercore"
)

// ReadOptions select the part of a blob a Reader reads. The zero value
// reads the whole blob.
type ReadOptions struct {
	// Start is the first byte read.
	Start uint64
	// Length is how many bytes to read from Start; 0 means to the end.
	Length uint64
	// NoPrefetch turns off downloading the rest of the range in the
	// background once sequential reading starts; blocks are then fetched
	// one at a time, as each read needs them.
	NoPrefetch bool
}

// Reader reads a blob, or a range of it, fetching from peers only the
// blocks that reads touch (and, while reading sequentially, the blocks
// ahead up to the end of the range). It implements io.ReadSeeker,
// io.ReaderAt and io.Closer; offsets are relative to the range's start.
// Read and Seek must not be called concurrently; ReadAt may be.
type Reader struct {
	b      *Blobs
	ctx    context.Context
	cancel context.CancelFunc // ends reads waiting for peers at Close
	id     ID
	opts   ReadOptions

	mu      sync.Mutex
	once    bool // size and map resolved
	initErr error
	size    uint64     // bytes in the blob
	start   uint64     // first byte of the range, in the blob
	end     uint64     // byte after the range, in the blob
	mapped  []MapBlock // block map of a block-mapped blob
	starts  []uint64   // blob offset of each mapped block
	pos     uint64     // read position, relative to start
	closed  bool

	// the last block read: blob offset, core index and data
	curStart uint64
	curIndex uint64
	cur      []byte

	prefetchCancel context.CancelFunc
	prefetchDone   chan struct{}
	prefetchFrom   uint64
}

// NewReader returns a reader of id. Reads wait for blocks from peers until
// ctx ends or Close is called (from any goroutine); Close also stops the
// background download. Always Close a Reader.
func (b *Blobs) NewReader(ctx context.Context, id ID, opts *ReadOptions) *Reader {
	ctx, cancel := context.WithCancel(ctx)
	r := &Reader{b: b, ctx: ctx, cancel: cancel, id: id}
	if opts != nil {
		r.opts = *opts
	}
	return r
}

// init resolves the blob's size (and map) and the range. Called with mu.
func (r *Reader) init() error {
	if r.once {
		return r.initErr
	}
	r.once = true
	r.initErr = r.resolve()
	return r.initErr
}

func (r *Reader) resolve() error {
	if err := r.b.check(r.id); err != nil {
		return err
	}
	r.size = r.id.ByteLength
	if r.id.BlockMap {
		m, err := r.b.blockMap(r.ctx, r.id)
		if err != nil {
			return err
		}
		r.mapped = m
		r.starts = make([]uint64, len(m))
		var off uint64
		for i, mb := range m {
			r.starts[i] = off
			off += mb.ByteLength
			if off > maxSafe {
				return fmt.Errorf("%w: block map too long", ErrInvalidID)
			}
		}
		r.size = off
	}
	r.start = min(r.opts.Start, r.size)
	r.end = r.size
	if r.opts.Length > 0 && r.opts.Length < r.size-r.start {
		r.end = r.start + r.opts.Length
	}
	return nil
}

// Size returns the number of bytes in the range.
func (r *Reader) Size() (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.init(); err != nil {
		return 0, err
	}
	return int64(r.end - r.start), nil
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrClosed
	}
	if err := r.init(); err != nil {
		return 0, err
	}
	if r.start+r.pos >= r.end {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	n, err := r.readAtLocked(p, r.start+r.pos, true)
	r.pos += uint64(n)
	if err == nil && r.start+r.pos >= r.end {
		err = io.EOF
	}
	if n > 0 && err == io.EOF {
		err = nil
	}
	return n, err
}

// ReadAt implements io.ReaderAt.
func (r *Reader) ReadAt(p []byte, off int64) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrClosed
	}
	if err := r.init(); err != nil {
		return 0, err
	}
	if off < 0 {
		return 0, errors.New("hyperblobs: negative offset")
	}
	at := r.start + uint64(off)
	if uint64(off) >= r.end-r.start {
		return 0, io.EOF
	}
	total := 0
	for total < len(p) && at < r.end {
		n, err := r.readAtLocked(p[total:], at, false)
		total += n
		at += uint64(n)
		if err != nil {
			return total, err
		}
	}
	if total < len(p) {
		return total, io.EOF
	}
	return total, nil
}

// Seek implements io.Seeker.
func (r *Reader) Seek(offset int64, whence int) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, ErrClosed
	}
	if err := r.init(); err != nil {
		return 0, err
	}
	var abs int64
	switch whence {
	case io.SeekStart:
		abs = offset
	case io.SeekCurrent:
		abs = int64(r.pos) + offset
	case io.SeekEnd:
		abs = int64(r.end-r.start) + offset
	default:
		return 0, errors.New("hyperblobs: invalid whence")
	}
	if abs < 0 {
		return 0, errors.New("hyperblobs: negative position")
	}
	if uint64(abs) != r.pos {
		r.stopPrefetch()
	}
	r.pos = uint64(abs)
	return abs, nil
}

// Close ends the reader: a read waiting for a peer returns, the background
// download stops; the reader cannot be used after.
func (r *Reader) Close() error {
	r.cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	r.stopPrefetch()
	r.cur = nil
	return nil
}

// readAtLocked reads from the block holding blob byte at, at most up to
// the range end. It returns how much it copied.
func (r *Reader) readAtLocked(p []byte, at uint64, sequential bool) (int, error) {
	if err := r.locate(at, sequential); err != nil {
		return 0, err
	}
	rel := at - r.curStart
	avail := r.cur[rel:]
	if lim := r.end - at; uint64(len(avail)) > lim {
		avail = avail[:lim]
	}
	return copy(p, avail), nil
}

// locate makes r.cur the block holding blob byte at.
func (r *Reader) locate(at uint64, sequential bool) error {
	if r.cur != nil && at >= r.curStart && at < r.curStart+uint64(len(r.cur)) {
		return nil
	}
	if r.mapped != nil {
		return r.locateMapped(at)
	}
	// The next block after the current one, or the blob's first block.
	var index, start uint64
	switch {
	case r.cur != nil && at == r.curStart+uint64(len(r.cur)):
		index, start = r.curIndex+1, at
	case at == 0:
		index, start = r.id.BlockOffset, 0
	default:
		var err error
		index, start, err = r.seek(at)
		if err != nil {
			return err
		}
	}
	if sequential {
		r.prefetch(index)
	}
	for {
		if index >= r.id.End() {
			return fmt.Errorf("%w: byte %d is past the blob's blocks", ErrCorrupt, at)
		}
		blk, err := r.get(index)
		if err != nil {
			return err
		}
		if at < start+uint64(len(blk)) {
			r.cur, r.curIndex, r.curStart = blk, index, start
			return nil
		}
		// Empty blocks, or the linear walk of seek's fallback.
		index++
		start += uint64(len(blk))
	}
}

// seek finds the block holding blob byte at and that block's first byte.
// The tree answers locally once the nodes on the way are stored; a sparse
// core may lack them, so the block at the position a uniform block size
// predicts is fetched first (its proof brings the nodes a seek near it
// needs) and, failing that, blocks are walked from the blob's start.
func (r *Reader) seek(at uint64) (uint64, uint64, error) {
	c := r.b.core
	for try := 0; try < 2; try++ {
		index, rel, err := c.Seek(r.id.ByteOffset + at)
		if err == nil {
			if index < r.id.BlockOffset || index >= r.id.End() || rel > at {
				return 0, 0, fmt.Errorf("%w: byte %d seeks outside the blob", ErrCorrupt, at)
			}
			return index, at - rel, nil
		}
		// Out of range: the core has not learned its length from a peer
		// yet. Fetching a block of the blob teaches it.
		if !errors.Is(err, hypercore.ErrNotAvailable) && !errors.Is(err, hypercore.ErrOutOfRange) {
			return 0, 0, err
		}
		if try == 0 {
			guess := r.id.BlockOffset + at/uint64(r.b.blockSize)
			guess = min(guess, r.id.End()-1)
			if _, err := r.get(guess); err != nil {
				return 0, 0, err
			}
		}
	}
	if r.cur != nil && r.curStart <= at {
		return r.curIndex, r.curStart, nil
	}
	return r.id.BlockOffset, 0, nil
}

func (r *Reader) locateMapped(at uint64) error {
	// starts is sorted: find the last block starting at or before at.
	lo, hi := 0, len(r.starts)
	for lo < hi {
		mid := (lo + hi) / 2
		if r.starts[mid] <= at {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	for i := lo - 1; i >= 0 && i < len(r.mapped); i++ {
		mb := r.mapped[i]
		if at >= r.starts[i]+mb.ByteLength {
			continue
		}
		blk, err := r.get(mb.Index)
		if err != nil {
			return err
		}
		if uint64(len(blk)) != mb.ByteLength {
			return fmt.Errorf("%w: mapped block %d has %d bytes, map says %d", ErrCorrupt, mb.Index, len(blk), mb.ByteLength)
		}
		r.cur, r.curIndex, r.curStart = blk, mb.Index, r.starts[i]
		return nil
	}
	return fmt.Errorf("%w: byte %d is past the block map", ErrCorrupt, at)
}

func (r *Reader) get(index uint64) ([]byte, error) {
	return r.b.core.Get(r.ctx, index, hypercore.GetOptions{Wait: true})
}

// prefetch downloads blocks [from, end of range) in the background when
// the core lacks the first of them. Called with mu.
func (r *Reader) prefetch(from uint64) {
	if r.opts.NoPrefetch || r.b.core.Writable() {
		return
	}
	if r.prefetchDone != nil {
		select {
		case <-r.prefetchDone:
		default:
			if from >= r.prefetchFrom {
				return // still running ahead of the reader
			}
		}
		r.stopPrefetch()
	}
	end := r.id.End()
	if r.end < r.size && r.end > 0 {
		// The block holding the range's last byte: from the tree when it
		// can tell, else as a uniform block size predicts. A short guess
		// only means a later read starts another prefetch.
		last := r.id.ByteOffset + r.end - 1
		if i, _, err := r.b.core.Seek(last); err == nil && i < end {
			end = i + 1
		} else {
			end = min(end, r.id.BlockOffset+(r.end-1)/uint64(r.b.blockSize)+2)
		}
	}
	if from >= end || (r.b.core.Has(from) && r.b.core.Has(end-1)) {
		return
	}
	ctx, cancel := context.WithCancel(r.ctx)
	done := make(chan struct{})
	r.prefetchCancel, r.prefetchDone, r.prefetchFrom = cancel, done, from
	go func() {
		defer close(done)
		r.b.core.Download(ctx, from, end) // errors surface in the reads
	}()
}

func (r *Reader) stopPrefetch() {
	if r.prefetchCancel != nil {
		r.prefetchCancel()
		<-r.prefetchDone
		r.prefetchCancel, r.prefetchDone = nil, nil
	}
}
