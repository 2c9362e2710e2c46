// Package hyperblobs stores large binary objects in a hypercore: the Go
// counterpart of npm hyperblobs 2.
//
// A blob is a run of consecutive blocks of a core, cut at BlockSize bytes
// (64 KiB by default, as in JS); its ID records where the run starts and how
// long it is, in blocks and in bytes. Put and Writer append blobs; Get and
// Reader read them back, fetching from peers only the blocks a read needs
// when the core is sparse. Every block comes out of the core, which stores
// a block only after verifying it against the signed Merkle tree, so data
// from a peer is verified before a reader sees it.
//
// IDs encode as hyperdrive stores them (MarshalJSON). Blobs written with
// hyperblobs' dedup option carry a block map (ID.BlockMap): Go reads them,
// but writes plain blobs only.
package hyperblobs

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/warrenp2p/warren/hypercore"
)

// DefaultBlockSize is the block size of hyperblobs: 64 KiB.
const DefaultBlockSize = 1 << 16

// batchBlocks is how many blocks a writer collects before one append.
const batchBlocks = 16

var (
	// ErrInvalidID reports an ID (or block map) that does not describe a
	// blob: bad JSON, numbers a JS peer cannot write, overflowing ranges.
	ErrInvalidID = errors.New("hyperblobs: invalid blob id")
	// ErrCorrupt reports blocks that do not match their ID: fewer bytes
	// than the ID says, or a position that falls outside the blob.
	ErrCorrupt = errors.New("hyperblobs: blob blocks do not match its id")
	// ErrClosed reports use of a closed Writer or Reader.
	ErrClosed = errors.New("hyperblobs: closed")
	// ErrReadOnly reports a write to a core this process cannot sign.
	ErrReadOnly = errors.New("hyperblobs: core is not writable")
)

// Options configure New. The zero value is hyperblobs' default.
type Options struct {
	// BlockSize is the size blobs are cut into; 0 means DefaultBlockSize.
	// It must not exceed hypercore.MaxBlockSize.
	BlockSize int
}

// Blobs stores blobs in one core. It is safe for concurrent use; writers
// take turns, so each blob is one contiguous run of blocks.
type Blobs struct {
	core      *hypercore.Core
	blockSize int
	lock      chan struct{} // held by the writer appending
}

// New returns a blob store on core. The core stays the caller's to close.
func New(core *hypercore.Core, opts *Options) *Blobs {
	bs := DefaultBlockSize
	if opts != nil && opts.BlockSize > 0 {
		bs = min(opts.BlockSize, hypercore.MaxBlockSize)
	}
	return &Blobs{core: core, blockSize: bs, lock: make(chan struct{}, 1)}
}

// Core returns the core the blobs live in.
func (b *Blobs) Core() *hypercore.Core { return b.core }

// BlockSize returns the size blobs are cut into.
func (b *Blobs) BlockSize() int { return b.blockSize }

// Put appends data as one blob and returns its ID.
func (b *Blobs) Put(ctx context.Context, data []byte) (ID, error) {
	w, err := b.NewWriter(ctx)
	if err != nil {
		return ID{}, err
	}
	if _, err := w.Write(data); err != nil {
		w.Abort()
		return ID{}, err
	}
	if err := w.Close(); err != nil {
		return ID{}, err
	}
	return w.ID(), nil
}

// PutReader appends everything r yields as one blob, without holding more
// than a batch of blocks in memory.
func (b *Blobs) PutReader(ctx context.Context, r io.Reader) (ID, error) {
	w, err := b.NewWriter(ctx)
	if err != nil {
		return ID{}, err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Abort()
		return ID{}, err
	}
	if err := w.Close(); err != nil {
		return ID{}, err
	}
	return w.ID(), nil
}

// Writer appends one blob as it is written: full blocks are appended in
// batches of 16, so memory stays bounded whatever the blob's size. A Writer
// holds the store's write turn from NewWriter until Close or Abort, which
// must be called.
type Writer struct {
	b        *Blobs
	ctx      context.Context
	id       ID
	pending  [][]byte // full blocks not appended yet
	cur      []byte   // the block being filled
	err      error
	released bool
}

// NewWriter starts a blob, waiting (until ctx ends) for a writer before it
// to finish.
func (b *Blobs) NewWriter(ctx context.Context) (*Writer, error) {
	if !b.core.Writable() {
		return nil, ErrReadOnly
	}
	select {
	case b.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	w := &Writer{b: b, ctx: ctx}
	w.id.BlockOffset = b.core.Length()
	w.id.ByteOffset = b.core.ByteLength()
	return w, nil
}

// Write implements io.Writer.
func (w *Writer) Write(p []byte) (int, error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.released {
		return 0, ErrClosed
	}
	n := len(p)
	bs := w.b.blockSize
	for len(p) > 0 {
		if w.cur == nil {
			w.cur = make([]byte, 0, bs)
		}
		k := min(bs-len(w.cur), len(p))
		w.cur = append(w.cur, p[:k]...)
		p = p[k:]
		if len(w.cur) == bs {
			w.pending = append(w.pending, w.cur)
			w.cur = nil
			if len(w.pending) >= batchBlocks {
				if err := w.flush(); err != nil {
					return n - len(p), err
				}
			}
		}
	}
	return n, nil
}

func (w *Writer) flush() error {
	if len(w.pending) == 0 {
		return nil
	}
	if err := w.ctx.Err(); err != nil {
		w.err = err
		return err
	}
	if _, err := w.b.core.Append(w.pending...); err != nil {
		w.err = err
		return err
	}
	w.pending = w.pending[:0]
	return nil
}

// Close appends what is left and ends the blob; ID is valid afterwards.
func (w *Writer) Close() error {
	if w.released {
		return w.err
	}
	if w.err == nil && len(w.cur) > 0 {
		w.pending = append(w.pending, w.cur)
		w.cur = nil
	}
	if w.err == nil {
		w.flush()
	}
	if w.err == nil {
		c := w.b.core
		w.id.BlockLength = c.Length() - w.id.BlockOffset
		w.id.ByteLength = c.ByteLength() - w.id.ByteOffset
	}
	w.release()
	return w.err
}

// Abort ends the writer without finishing the blob. Blocks already appended
// stay in the core (an append-only log cannot take them back) but no ID
// points at them.
func (w *Writer) Abort() {
	if w.err == nil {
		w.err = ErrClosed
	}
	w.release()
}

func (w *Writer) release() {
	if !w.released {
		w.released = true
		w.pending, w.cur = nil, nil
		<-w.b.lock
	}
}

// ID returns the blob's ID once Close has succeeded.
func (w *Writer) ID() ID { return w.id }

// Size returns the number of bytes the blob holds: ByteLength, or for a
// block-mapped blob the sum of its map (read from the core).
func (b *Blobs) Size(ctx context.Context, id ID) (uint64, error) {
	if !id.BlockMap {
		return id.ByteLength, nil
	}
	m, err := b.blockMap(ctx, id)
	if err != nil {
		return 0, err
	}
	var n uint64
	for _, mb := range m {
		n += mb.ByteLength
	}
	return n, nil
}

// Get returns the whole blob, downloading the blocks the core lacks.
// A blob's data is read into memory: use NewReader for large ones.
func (b *Blobs) Get(ctx context.Context, id ID) ([]byte, error) {
	if err := b.check(id); err != nil {
		return nil, err
	}
	if id.BlockMap {
		r := b.NewReader(ctx, id, &ReadOptions{})
		defer r.Close()
		return io.ReadAll(r)
	}
	if err := b.Download(ctx, id); err != nil {
		return nil, err
	}
	out := make([]byte, 0, min(id.ByteLength, 64<<20))
	for i := id.BlockOffset; i < id.End(); i++ {
		blk, err := b.core.Get(ctx, i, hypercore.GetOptions{Wait: true})
		if err != nil {
			return nil, err
		}
		out = append(out, blk...)
	}
	if uint64(len(out)) != id.ByteLength {
		return nil, fmt.Errorf("%w: %d bytes in blocks, id says %d", ErrCorrupt, len(out), id.ByteLength)
	}
	return out, nil
}

// check validates id and, on a core this process writes (whose length is
// final), that its blocks exist: a reader's core may not know its length
// yet and waits for peers instead.
func (b *Blobs) check(id ID) error {
	if err := id.Validate(); err != nil {
		return err
	}
	if b.core.Writable() && id.End() > b.core.Length() {
		return fmt.Errorf("%w: blocks up to %d, core has %d", ErrCorrupt, id.End(), b.core.Length())
	}
	return nil
}

// Download fetches the blob's blocks the core lacks from peers, waiting
// until they are stored (and verified) or ctx ends.
func (b *Blobs) Download(ctx context.Context, id ID) error {
	if err := b.check(id); err != nil {
		return err
	}
	if id.BlockMap {
		m, err := b.blockMap(ctx, id)
		if err != nil {
			return err
		}
		for _, mb := range m {
			if !b.core.Has(mb.Index) {
				if err := b.core.Download(ctx, mb.Index, mb.Index+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if b.Has(id) {
		return nil
	}
	return b.core.Download(ctx, id.BlockOffset, id.End())
}

// Has reports whether every block of the blob (its map excepted) is stored
// locally.
func (b *Blobs) Has(id ID) bool {
	for i := id.BlockOffset; i < id.End(); i++ {
		if !b.core.Has(i) {
			return false
		}
	}
	return true
}

// Clear removes the blob's blocks from local storage (the core keeps their
// hashes, so they can be fetched and verified again).
func (b *Blobs) Clear(ctx context.Context, id ID) error {
	if err := id.Validate(); err != nil {
		return err
	}
	if id.BlockMap && b.Has(id) {
		if m, err := b.blockMap(ctx, id); err == nil {
			for _, mb := range m {
				if err := b.core.Clear(mb.Index, mb.Index+1); err != nil {
					return err
				}
			}
		}
	}
	if id.BlockLength == 0 {
		return nil
	}
	return b.core.Clear(id.BlockOffset, id.End())
}

// blockMap reads and decodes the block map of a block-mapped blob.
func (b *Blobs) blockMap(ctx context.Context, id ID) ([]MapBlock, error) {
	if id.BlockLength > maxMapBlocks {
		return nil, fmt.Errorf("%w: block map of %d blocks", ErrInvalidID, id.BlockLength)
	}
	parts := make([][]byte, 0, id.BlockLength)
	for i := id.BlockOffset; i < id.End(); i++ {
		blk, err := b.core.Get(ctx, i, hypercore.GetOptions{Wait: true})
		if err != nil {
			return nil, err
		}
		parts = append(parts, blk)
	}
	return DecodeBlockMap(parts)
}
