// Package hyperbee is an append-only B-tree on a log: the Go counterpart of
// npm hyperbee 2. Every put or delete appends one block holding the key, the
// value and the tree nodes it rewrote, so a bee at any earlier length is
// still a complete tree (a checkout), and two versions can be diffed by
// skipping the subtrees they share.
//
// Blocks are byte-identical to the ones hyperbee 2.27 writes for the same
// operations (the same node size, split, borrow and merge rules, and the
// same batch layout), so either side reads what the other wrote. The log is
// any Log: CoreLog puts a bee on a *hypercore.Core, MemLog keeps one in
// memory.
//
// Differences from the JS API, all on the Go side only:
//
//   - Keys and values are raw bytes. Where a JS bee uses keyEncoding or
//     valueEncoding ("utf-8", "json", ...), Go callers encode and decode
//     the bytes themselves. Keys sort bytewise, as in JS.
//   - Put stores a nil value as an empty value. A JS put(key) without a
//     value writes a block with no value field; Go reads it as a nil Value.
//   - Zero option fields mean "unset": Range.Limit 0 is no limit (JS limit
//     0 returns nothing) and HistoryOptions.LT 0 is the version (JS lt: 0
//     returns nothing).
//   - Iterators are range-over-func sequences and blocking calls take a
//     context; Watch and WatchKey end with their context.
//   - The "hyperbee" extension (peers prefetching blocks for a get or an
//     iteration) has its codec here (EncodeExtension, DecodeExtension) but
//     is not wired to replication yet; clearUnlinked is not implemented.
//
// As in JS, only the last block of a batch holds a whole root: check out
// versions at batch boundaries.
package hyperbee

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// ErrReadOnly reports a write to a checkout.
var ErrReadOnly = errors.New("hyperbee: read-only view")

// ErrBatchClosed reports use of a batch after Flush or Close.
var ErrBatchClosed = errors.New("hyperbee: batch is closed")

// Options configure New. The zero value matches hyperbee's defaults.
type Options struct {
	// Metadata goes into the header written on the first change of an
	// empty log (hyperdrive keeps its blobs key there).
	Metadata *Metadata
	// Sep separates sub-database prefixes; default a single 0x00 byte.
	Sep []byte
	// SkipSameValue makes a put of the value a key already has a no-op
	// (hyperbee's alwaysDuplicate: false). By default it writes a block.
	SkipSameValue bool
	// CacheBlocks bounds the cache of decoded blocks; default 65536. Four
	// times as many keys are cached besides.
	CacheBlocks int
}

// db is what all views of one bee share.
type db struct {
	log             Log
	mu              sync.Mutex // the write lock, held by writers and open batches
	metadata        *Metadata
	sep             []byte
	alwaysDuplicate bool
	blocks          cache[*blockEntry]
	keys            cache[[]byte]
}

// Bee is a B-tree on a log, or a view of one: a sub-database (Sub) or a
// read-only checkout at an earlier version (Checkout). It is safe for
// concurrent use; writes are serialised.
type Bee struct {
	db       *db
	prefix   []byte // sub-database prefix including its separator
	checkout uint64 // 0: follow the log
}

// Entry is a key and its value, with the seq of the block that wrote it.
// Key and Value share memory with the bee's cached blocks: treat them as
// read-only (copy them to change them).
type Entry struct {
	Seq   uint64
	Key   []byte
	Value []byte // nil when put without a value
}

// New opens a bee on log. Nothing is written until the first change, which
// writes the header block first if the log is empty.
func New(log Log, opts Options) *Bee {
	d := &db{
		log:             log,
		metadata:        opts.Metadata,
		sep:             opts.Sep,
		alwaysDuplicate: !opts.SkipSameValue,
	}
	if len(d.sep) == 0 {
		d.sep = []byte{0}
	}
	d.blocks.max = opts.CacheBlocks
	if d.blocks.max <= 0 {
		d.blocks.max = 1 << 16
	}
	d.keys.max = 4 * d.blocks.max
	return &Bee{db: d}
}

// Log returns the log the bee is on.
func (b *Bee) Log() Log { return b.db.log }

// Version is the version the bee reads at: the log length (at least 1),
// or the checkout's version.
func (b *Bee) Version() uint64 {
	if b.checkout != 0 {
		return b.checkout
	}
	return max(1, b.db.log.Length())
}

// Prefix returns the key prefix of a sub-database (nil for the whole bee).
func (b *Bee) Prefix() []byte { return b.prefix }

// Header reads block 0.
func (b *Bee) Header(ctx context.Context) (*Header, error) {
	raw, err := b.db.log.Get(ctx, 0)
	if err != nil {
		return nil, err
	}
	return DecodeHeader(raw)
}

// IsHyperbee reports whether block 0 of log is a hyperbee header.
func IsHyperbee(ctx context.Context, log Log) (bool, error) {
	raw, err := log.Get(ctx, 0)
	if err != nil {
		return false, err
	}
	h, err := DecodeHeader(raw)
	return err == nil && h.Protocol == Protocol, nil
}

// Checkout returns a read-only view of the bee at version (a log length):
// the tree as it was after block version-1. Reading a version the log has
// not reached waits for it, as the log's Get does (CoreLog waits until its
// context ends, MemLog fails with ErrNotAvailable).
func (b *Bee) Checkout(version uint64) *Bee {
	return &Bee{db: b.db, prefix: b.prefix, checkout: max(1, version)}
}

// Snapshot returns a read-only view at the current version.
func (b *Bee) Snapshot() *Bee { return b.Checkout(b.Version()) }

// Sub returns the sub-database whose keys carry prefix followed by the
// separator (sep, or the bee's separator when nil), as hyperbee's sub().
// Subs of subs nest their prefixes.
func (b *Bee) Sub(prefix []byte, sep []byte) *Bee {
	if len(sep) == 0 {
		sep = b.db.sep
	}
	p := make([]byte, 0, len(b.prefix)+len(prefix)+len(sep))
	p = append(append(append(p, b.prefix...), prefix...), sep...)
	return &Bee{db: b.db, prefix: p, checkout: b.checkout}
}

func (b *Bee) reader() *txn {
	length := b.db.log.Length()
	b.db.blocks.observe(length)
	b.db.keys.observe(length)
	return &txn{db: b.db, length: length, version: b.checkout}
}

func (b *Bee) enc(k []byte) []byte {
	if b.prefix == nil {
		return k
	}
	out := make([]byte, 0, len(b.prefix)+len(k))
	return append(append(out, b.prefix...), k...)
}

// final turns a stored block into an Entry with the sub prefix removed.
func (b *Bee) final(e *blockEntry) *Entry {
	k := e.key
	if len(b.prefix) > 0 && len(k) >= len(b.prefix) {
		k = k[len(b.prefix):]
	}
	return &Entry{Seq: e.seq, Key: k, Value: e.value}
}

// Get returns the entry for key, or nil if there is none.
func (b *Bee) Get(ctx context.Context, key []byte) (*Entry, error) {
	e, err := b.reader().getEntry(ctx, b.enc(key))
	if err != nil || e == nil {
		return nil, err
	}
	return b.final(e), nil
}

// GetBySeq returns the key and value written by block seq.
func (b *Bee) GetBySeq(ctx context.Context, seq uint64) (*Entry, error) {
	e, err := b.reader().getBlock(ctx, seq)
	if err != nil {
		return nil, err
	}
	return b.final(e), nil
}

// CAS decides a compare-and-swap: it is called with the current entry of a
// key that exists and the entry about to replace it (Value nil for a
// delete), and the write happens only if it returns true. A key that does
// not exist is always written.
type CAS func(prev, next *Entry) bool

func (b *Bee) cas(f CAS) casFunc {
	if f == nil {
		return nil
	}
	return func(prev, next *blockEntry) bool { return f(b.final(prev), b.final(next)) }
}

func (b *Bee) writer(autoFlush bool) (*writer, error) {
	if b.checkout != 0 {
		return nil, ErrReadOnly
	}
	return &writer{txn: txn{db: b.db}, autoFlush: autoFlush}, nil
}

// Put sets key to value, appending one block. A nil value is stored as an
// empty value; the block is written even when the value is unchanged unless
// Options.SkipSameValue is set.
func (b *Bee) Put(ctx context.Context, key, value []byte) error {
	_, err := b.PutCAS(ctx, key, value, nil)
	return err
}

// PutCAS is Put with a compare-and-swap; it reports whether it wrote.
func (b *Bee) PutCAS(ctx context.Context, key, value []byte, cas CAS) (bool, error) {
	w, err := b.writer(true)
	if err != nil {
		return false, err
	}
	b.db.mu.Lock()
	defer b.db.mu.Unlock()
	return w.put(ctx, b.enc(key), nonNil(value), b.cas(cas))
}

// Del deletes key, appending one block if it exists.
func (b *Bee) Del(ctx context.Context, key []byte) error {
	_, err := b.DelCAS(ctx, key, nil)
	return err
}

// DelCAS is Del with a compare-and-swap; it reports whether it wrote.
func (b *Bee) DelCAS(ctx context.Context, key []byte, cas CAS) (bool, error) {
	w, err := b.writer(true)
	if err != nil {
		return false, err
	}
	b.db.mu.Lock()
	defer b.db.mu.Unlock()
	return w.del(ctx, b.enc(key), b.cas(cas))
}

func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

// Batch collects changes that Flush appends as consecutive blocks in one
// append, as hyperbee's batch() does. The first change takes the bee's
// write lock, which Flush or Close releases: always call one of them.
// Reads through the batch see its pending changes. A Batch is safe for
// concurrent use, though its operations are serialised.
type Batch struct {
	bee    *Bee
	mu     sync.Mutex
	w      *writer
	locked bool
	closed bool
}

// Batch starts a batch on the bee (or sub-database).
func (b *Bee) Batch() *Batch {
	return &Batch{bee: b}
}

func (bt *Batch) lock() error {
	if bt.closed {
		return ErrBatchClosed
	}
	if bt.w == nil {
		w, err := bt.bee.writer(false)
		if err != nil {
			return err
		}
		bt.w = w
	}
	if !bt.locked {
		bt.bee.db.mu.Lock()
		bt.locked = true
	}
	return nil
}

// Put adds a put to the batch.
func (bt *Batch) Put(ctx context.Context, key, value []byte) error {
	_, err := bt.PutCAS(ctx, key, value, nil)
	return err
}

// PutCAS adds a put with a compare-and-swap; it reports whether it applied.
func (bt *Batch) PutCAS(ctx context.Context, key, value []byte, cas CAS) (bool, error) {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if err := bt.lock(); err != nil {
		return false, err
	}
	return bt.w.put(ctx, bt.bee.enc(key), nonNil(value), bt.bee.cas(cas))
}

// Del adds a delete to the batch.
func (bt *Batch) Del(ctx context.Context, key []byte) error {
	_, err := bt.DelCAS(ctx, key, nil)
	return err
}

// DelCAS adds a delete with a compare-and-swap; it reports whether it
// applied.
func (bt *Batch) DelCAS(ctx context.Context, key []byte, cas CAS) (bool, error) {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if err := bt.lock(); err != nil {
		return false, err
	}
	return bt.w.del(ctx, bt.bee.enc(key), bt.bee.cas(cas))
}

// Get reads key as the batch sees it, pending changes included.
func (bt *Batch) Get(ctx context.Context, key []byte) (*Entry, error) {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if bt.closed {
		return nil, ErrBatchClosed
	}
	t := bt.view()
	e, err := t.getEntry(ctx, bt.bee.enc(key))
	if err != nil || e == nil {
		return nil, err
	}
	return bt.bee.final(e), nil
}

func (bt *Batch) view() *txn {
	if bt.w != nil && bt.locked {
		return &bt.w.txn
	}
	return bt.bee.reader()
}

// Len is the number of pending blocks.
func (bt *Batch) Len() int {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if bt.w == nil {
		return 0
	}
	return len(bt.w.pend)
}

// Flush appends the pending blocks in one append and ends the batch.
func (bt *Batch) Flush(ctx context.Context) error {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if bt.closed {
		return ErrBatchClosed
	}
	defer bt.release()
	if bt.w == nil || len(bt.w.pend) == 0 {
		return nil
	}
	blocks := bt.w.blocks()
	n, err := bt.bee.db.log.Append(ctx, blocks...)
	if err != nil {
		return err
	}
	if want := bt.w.length + uint64(len(blocks)); n != want {
		return fmt.Errorf("hyperbee: log grew to %d during the batch, expected %d", n, want)
	}
	return nil
}

// Close drops the pending changes and ends the batch.
func (bt *Batch) Close() error {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if !bt.closed {
		bt.release()
	}
	return nil
}

func (bt *Batch) release() {
	bt.closed = true
	if bt.w != nil {
		bt.w.pend = nil
	}
	if bt.locked {
		bt.locked = false
		bt.bee.db.mu.Unlock()
	}
}
