// Package hypercore is a signed, append-only log: the Go counterpart of npm
// hypercore 11. Blocks are hashed into a Merkle tree laid out in flat-tree
// order; the writer signs the tree's roots, so any reader holding only the
// core key can verify every block it receives, one proof at a time.
//
// A Core lives in one data directory backed by pebble. Appends and truncates
// are single atomic batches, in the kernel before they return: a killed
// process loses at most the write that had not returned yet, never the
// consistency of the core. Options.Sync adds an fsync to every write for
// durability across power loss. A Storage keeps many cores in one pebble
// database instead, each under its own key prefix (a corestore uses one).
//
// Proofs (Core.Proof, Core.Apply) and their wire codecs (DataCodec,
// RequestCodec) are byte-compatible with hypercore 11, and so are keys,
// discovery keys, manifests, signatures and block encryption.
//
// Core.Replicate runs the hypercore replication protocol over a protomux
// mux (the hypercore/alpha channel), with JS peers as with Go ones: the
// reader side downloads every block the remote has, follows appends and
// truncations, and drops a peer whose data does not verify.
package hypercore

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"iter"
	"runtime"
	"slices"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/flattree"
)

// Errors of the core API.
var (
	ErrNotFound     = errors.New("hypercore: no core stored in this directory")
	ErrKeyMismatch  = errors.New("hypercore: stored core has a different key")
	ErrNotWritable  = errors.New("hypercore: core is not writable")
	ErrClosed       = errors.New("hypercore: core is closed")
	ErrNotAvailable = errors.New("hypercore: block not available locally")
	ErrBlockTooBig  = errors.New("hypercore: block exceeds the maximum block size")
	ErrTruncated    = errors.New("hypercore: snapshot was truncated")
	ErrForkMismatch = errors.New("hypercore: proof is for another fork")
)

// MaxBlockSize is the largest block Append accepts (hypercore's
// MAX_SUGGESTED_BLOCK_SIZE).
const MaxBlockSize = 15 << 20

// Options configure Open. The zero value creates a new writable core with a
// fresh key pair and the default version 1 manifest, unencrypted.
type Options struct {
	// KeyPair signs appends. Nil with Key also nil means: generate one.
	KeyPair *crypto.KeyPair
	// Key opens a read-only core by key, or checks the key of a stored one.
	Key []byte
	// Manifest replaces the default manifest (one signer, KeyPair).
	Manifest *Manifest
	// Compat makes a compat core: its key is the signer's public key and it
	// signs the legacy signable, as hypercore does without a manifest.
	Compat bool
	// EncryptionKey turns on default block encryption (32 bytes).
	EncryptionKey []byte
	// IsBlockKey says EncryptionKey is already the derived block key.
	IsBlockKey bool
	// UserData is stored when the core is created.
	UserData map[string][]byte
	// NoCreate makes Open fail with ErrNotFound when the directory holds
	// no core.
	NoCreate bool
	// Sparse makes replication download only the blocks asked for (Get
	// with Wait, Download) instead of every block peers have.
	Sparse bool
	// Sync makes every write (append, truncation, downloaded blocks) fsync
	// its block data and its index records before it returns, so that it
	// survives a power loss or kernel crash. By default a write returns once
	// the kernel holds all of it, without fsync, as JS hypercore's RocksDB
	// storage does: a killed process (kill -9, panic, OOM) loses nothing
	// that was acknowledged and never leaves a torn core, but a power loss
	// can lose the latest acknowledged writes (never what an earlier fsync,
	// for example a pebble flush, made durable) and can leave blocks that
	// read back wrong: Get then fails their hash check.
	Sync bool
}

// Core is an open hypercore. It is safe for concurrent use.
type Core struct {
	mu         sync.RWMutex
	st         *store
	key        [32]byte
	dkey       [32]byte
	manifest   *Manifest
	verifier   *verifier
	keyPair    *crypto.KeyPair
	enc        *blockEncryption
	encKey     []byte
	isBlockKey bool
	t          *tree
	contiguous uint64
	pages      map[uint64][]byte
	pagesMu    sync.Mutex
	changed    chan struct{}
	closed     bool
	refs       int
	// closedHandle is set once Close was called on the Core itself.
	closedHandle bool
	sparse       bool
	// notDownloading is set while the core has no user that downloads
	// (SetDownloading).
	notDownloading bool
	// wants are the block ranges Get and Download wait for; peers fetch
	// them first (and, for a sparse core, only them).
	wants map[*wantRange]struct{}
	// truncations lists the cuts made while open, for snapshots.
	truncations []truncation
}

// Open opens the core stored in dir, creating it as opts says when the
// directory holds none. Only one Open of a directory can be live at a time.
func Open(dir string, opts Options) (*Core, error) {
	st, err := openStore(dir, opts.Sync)
	if err != nil {
		return nil, err
	}
	c, err := open(st, opts)
	if err != nil {
		st.close()
		return nil, err
	}
	return c, nil
}

func open(st *store, opts Options) (*Core, error) {
	c := &Core{st: st, pages: map[uint64][]byte{}, changed: make(chan struct{}), refs: 1, sparse: opts.Sparse, wants: map[*wantRange]struct{}{}}
	raw, ok, err := st.get(st.key(keyAuth))
	if err != nil {
		return nil, err
	}
	var auth authRecord
	if ok {
		if auth, err = decodeAuth(raw); err != nil {
			return nil, err
		}
		if opts.Key != nil && !bytes.Equal(opts.Key, auth.key[:]) {
			return nil, ErrKeyMismatch
		}
		if auth.manifest == nil && opts.Manifest != nil {
			if opts.Manifest.Hash() != auth.key && !opts.Manifest.isCompat(auth.key[:]) {
				return nil, fmt.Errorf("%w: manifest does not match the key", ErrManifest)
			}
			auth.manifest = opts.Manifest
		}
	} else {
		if opts.NoCreate {
			return nil, ErrNotFound
		}
		if auth, err = newAuth(opts); err != nil {
			return nil, err
		}
		b := st.db.NewBatch()
		b.Set(st.key(keyAuth), encodeAuth(auth), nil)
		b.Set(st.key(keyHead), encodeHead(headRecord{}), nil)
		for k, v := range opts.UserData {
			b.Set(st.userKey(k), v, nil)
		}
		if err := b.Commit(st.wo); err != nil {
			return nil, err
		}
	}
	c.key = auth.key
	c.dkey = crypto.DiscoveryKey(c.key)
	c.keyPair = auth.keyPair
	c.setManifest(auth.manifest)

	hb, ok, err := st.get(st.key(keyHead))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: head missing", ErrCorrupt)
	}
	head, err := decodeHead(hb)
	if err != nil {
		return nil, err
	}
	roots, err := rootsAt(st, head.length)
	if err != nil {
		return nil, fmt.Errorf("%w: roots of length %d: %v", ErrCorrupt, head.length, err)
	}
	c.t = &tree{fork: head.fork, length: head.length, byteLength: totalSize(roots), roots: roots, signature: head.signature}
	if c.manifest != nil {
		c.t.prologue = c.manifest.Prologue
	}
	if opts.EncryptionKey != nil {
		if len(opts.EncryptionKey) != 32 {
			return nil, ErrEncryptionKey
		}
		c.encKey = append([]byte(nil), opts.EncryptionKey...)
		c.isBlockKey = opts.IsBlockKey
		if err := c.deriveEncryption(); err != nil {
			return nil, err
		}
	}
	if err := c.loadContiguous(); err != nil {
		return nil, err
	}
	return c, nil
}

func newAuth(opts Options) (authRecord, error) {
	var a authRecord
	kp := opts.KeyPair
	if kp == nil && opts.Key == nil && opts.Manifest == nil {
		k, err := crypto.NewKeyPair()
		if err != nil {
			return a, err
		}
		kp = &k
	}
	if kp != nil && !crypto.ValidateKeyPair(*kp) {
		return a, errors.New("hypercore: invalid key pair")
	}
	if opts.Key != nil && len(opts.Key) != 32 {
		return a, errors.New("hypercore: key must be 32 bytes")
	}
	if opts.Compat && opts.Key != nil && kp != nil && !bytes.Equal(opts.Key, kp.PublicKey) {
		return a, errors.New("hypercore: key must match the public key of a compat core")
	}
	m := opts.Manifest
	if m == nil && (opts.Compat || opts.Key == nil || (kp != nil && bytes.Equal(opts.Key, kp.PublicKey))) {
		if kp != nil {
			m = DefaultManifest(kp.PublicKey)
		} else {
			m = DefaultManifest(opts.Key)
		}
	}
	if m != nil {
		if err := m.Validate(); err != nil {
			return a, err
		}
	}
	switch {
	case opts.Key != nil:
		copy(a.key[:], opts.Key)
		if m != nil && m.Hash() != a.key && !m.isCompat(a.key[:]) {
			return a, fmt.Errorf("%w: manifest does not match the key", ErrManifest)
		}
	case opts.Compat:
		a.key = m.Signers[0].PublicKey
	default:
		a.key = m.Hash()
	}
	a.manifest = m
	a.keyPair = kp
	return a, nil
}

func (c *Core) setManifest(m *Manifest) {
	c.manifest = m
	if m != nil {
		c.verifier = newVerifier(c.key, m)
		if c.t != nil {
			c.t.prologue = m.Prologue
		}
		if c.encKey != nil {
			// Compat cores derive their block key differently: now we know.
			c.deriveEncryption()
		}
	}
}

func (c *Core) deriveEncryption() error {
	e, err := newBlockEncryption(c.encKey, c.key[:], c.verifier != nil && c.verifier.compat, c.isBlockKey)
	if err != nil {
		return err
	}
	c.enc = e
	return nil
}

// Close releases this handle; the directory is released when every Session
// is closed too. Blocked Gets then return ErrClosed.
func (c *Core) Close() error {
	c.mu.Lock()
	if c.closedHandle {
		c.mu.Unlock()
		return nil
	}
	c.closedHandle = true
	c.mu.Unlock()
	return c.release()
}

func (c *Core) release() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refs--
	if c.refs > 0 || c.closed {
		return nil
	}
	c.closed = true
	close(c.changed)
	return c.st.close()
}

// Key returns the core key: the manifest hash, or the public key of a
// compat core.
func (c *Core) Key() [32]byte { return c.key }

// DiscoveryKey returns the hash peers announce the core under.
func (c *Core) DiscoveryKey() [32]byte { return c.dkey }

// Manifest returns the manifest, or nil if a read-only core has not
// learned it yet.
func (c *Core) Manifest() *Manifest {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.manifest
}

// Writable reports whether this core can sign appends.
func (c *Core) Writable() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.writableLocked()
}

func (c *Core) writableLocked() bool {
	if c.keyPair == nil || c.verifier == nil {
		return false
	}
	for _, s := range c.manifest.Signers {
		if bytes.Equal(s.PublicKey[:], c.keyPair.PublicKey) {
			return true
		}
	}
	return false
}

// Length returns the number of blocks in the signed tree.
func (c *Core) Length() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.t.length
}

// Padding returns the bytes each stored block carries beyond its data.
func (c *Core) Padding() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.paddingLocked()
}

func (c *Core) paddingLocked() uint64 {
	if c.enc != nil {
		return EncryptionPadding
	}
	return 0
}

// ByteLength returns the number of data bytes in the core, padding excluded.
func (c *Core) ByteLength() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.t.byteLength - c.t.length*c.paddingLocked()
}

// Fork returns the fork id, bumped by every truncation.
func (c *Core) Fork() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.t.fork
}

// Signature returns the signature of the current head.
func (c *Core) Signature() []byte {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]byte(nil), c.t.signature...)
}

// TreeHash returns the hash of the current roots.
func (c *Core) TreeHash() [32]byte {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.t.hash()
}

// Info summarises a core.
type Info struct {
	Key              [32]byte
	DiscoveryKey     [32]byte
	Length           uint64
	ContiguousLength uint64
	ByteLength       uint64
	Fork             uint64
	Padding          uint64
	Writable         bool
	Encrypted        bool
	Compat           bool
}

// Info returns the current state of the core.
func (c *Core) Info() Info {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return Info{
		Key:              c.key,
		DiscoveryKey:     c.dkey,
		Length:           c.t.length,
		ContiguousLength: c.contiguous,
		ByteLength:       c.t.byteLength - c.t.length*c.paddingLocked(),
		Fork:             c.t.fork,
		Padding:          c.paddingLocked(),
		Writable:         c.writableLocked(),
		Encrypted:        c.enc != nil,
		Compat:           c.verifier != nil && c.verifier.compat,
	}
}

// ContiguousLength returns how many blocks from 0 are stored locally.
func (c *Core) ContiguousLength() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.contiguous
}

// Append signs and stores blocks after the current end and returns the new
// length. The blocks are durable when it returns.
func (c *Core) Append(blocks ...[]byte) (uint64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, ErrClosed
	}
	if !c.writableLocked() {
		return 0, ErrNotWritable
	}
	if len(blocks) == 0 {
		return c.t.length, nil
	}
	b := newBatch(c.t)
	wb := c.st.db.NewBatch()
	defer wb.Close()
	var size int
	for _, data := range blocks {
		if len(data) > MaxBlockSize {
			return 0, ErrBlockTooBig
		}
		size += len(data) + int(c.paddingLocked())
	}
	// Encrypt and hash the blocks on every core, then build the tree.
	stored := make([][]byte, len(blocks))
	leaves := make([]Node, len(blocks))
	parallel(len(blocks), func(i int) {
		index := c.t.length + uint64(i)
		data := blocks[i]
		if c.enc != nil {
			data = c.enc.encrypt(index, c.t.fork, data)
		}
		stored[i] = data
		leaves[i] = leafNode(2*index, data)
	})
	b.nodes = make([]Node, 0, 2*len(leaves))
	for _, leaf := range leaves {
		b.appendRoot(leaf, flattree.NewIterator(leaf.Index))
	}
	sig, err := c.verifier.sign(b.state(), *c.keyPair)
	if err != nil {
		return 0, err
	}
	b.signature = sig
	if err := c.st.writeData(stored, size, c.t.byteLength); err != nil {
		return 0, err
	}
	// In key order, so that pebble inserts each record next to the one
	// before instead of searching its memtable from the top (leaves keep
	// their order, which the running offset relies on). The batch copies
	// keys and values: one scratch buffer serves all.
	sortNodes(b.nodes)
	off := c.t.byteLength
	var key, val []byte
	for _, n := range b.nodes {
		key = c.st.appendIdx(key[:0], keyNode, n.Index)
		val = appendNodeRecord(val[:0], n)
		if n.Index&1 == 0 {
			val = appendUint(val, off)
			off += n.Size
		}
		wb.Set(key, val, nil)
	}
	dirty := c.setBits(c.t.length, b.length, true)
	c.writePages(wb, dirty)
	wb.Set(c.st.key(keyHead), encodeHead(headRecord{fork: b.fork, length: b.length, byteLength: b.byteLength, signature: sig}), nil)
	if err := wb.Commit(c.st.wo); err != nil {
		c.dropPages(dirty)
		return 0, err
	}
	c.st.cachePut(b.nodes...)
	old := c.t.length
	c.t = b.tree.clone()
	if c.contiguous == old {
		c.contiguous = c.scanContiguous(old)
	}
	c.notifyLocked()
	return c.t.length, nil
}

// sortNodes sorts the nodes of an append by index. They are distinct and
// nearly dense (the new leaves and the parents among them), so a placement
// by index does it in one pass; a comparison sort takes anything else.
func sortNodes(nodes []Node) {
	if len(nodes) < 2 {
		return
	}
	lo, hi := nodes[0].Index, nodes[0].Index
	for _, n := range nodes[1:] {
		lo, hi = min(lo, n.Index), max(hi, n.Index)
	}
	if hi-lo >= uint64(4*len(nodes)) {
		slices.SortFunc(nodes, func(x, y Node) int { return cmp.Compare(x.Index, y.Index) })
		return
	}
	slots := make([]int32, hi-lo+1) // position+1 in nodes, 0 for none
	for i, n := range nodes {
		if slots[n.Index-lo] != 0 {
			// Not distinct after all: keep the comparison sort's answer.
			slices.SortStableFunc(nodes, func(x, y Node) int { return cmp.Compare(x.Index, y.Index) })
			return
		}
		slots[n.Index-lo] = int32(i + 1)
	}
	sorted := make([]Node, 0, len(nodes))
	for _, p := range slots {
		if p != 0 {
			sorted = append(sorted, nodes[p-1])
		}
	}
	copy(nodes, sorted)
}

// parallel runs fn(0..n-1) on all CPUs for large n and returns when every
// call has returned.
func parallel(n int, fn func(int)) {
	workers := runtime.GOMAXPROCS(0)
	if n < 64 || workers < 2 {
		for i := range n {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for start := 0; start < n; start += chunk {
		end := min(start+chunk, n)
		wg.Go(func() {
			for i := start; i < end; i++ {
				fn(i)
			}
		})
	}
	wg.Wait()
}

func (c *Core) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// GetOptions tune Get. The zero value reads what is stored and fails with
// ErrNotAvailable otherwise.
type GetOptions struct {
	// Wait blocks until the block is stored (by a local append for now) or
	// ctx ends.
	Wait bool
	// Raw returns the stored bytes without decrypting them.
	Raw bool
}

// Get returns block index.
func (c *Core) Get(ctx context.Context, index uint64, opts GetOptions) ([]byte, error) {
	var w *wantRange
	for {
		c.mu.RLock()
		if c.closed {
			c.mu.RUnlock()
			return nil, ErrClosed
		}
		changed := c.changed
		has := index < c.t.length && c.hasLocked(index)
		enc := c.enc
		var v []byte
		var ok bool
		var err error
		if has {
			// Under the lock: Close must not pull the storage away.
			v, ok, err = c.st.readBlock(index)
		}
		c.mu.RUnlock()
		if has {
			if err != nil {
				return nil, err
			}
			if ok {
				if enc == nil || opts.Raw {
					return v, nil
				}
				return enc.decrypt(index, v)
			}
		}
		if !opts.Wait {
			return nil, ErrNotAvailable
		}
		if w == nil {
			w = c.want(index, index+1)
			defer c.unwant(w)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-changed:
		}
	}
}

// Sparse reports whether replication downloads only the blocks asked for
// (Options.Sparse, SetSparse).
func (c *Core) Sparse() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.sparse
}

// SetSparse switches replication between downloading only the blocks asked
// for (sparse) and every block peers have; peers follow at once.
func (c *Core) SetSparse(sparse bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sparse == sparse || c.closed {
		return
	}
	c.sparse = sparse
	c.notifyLocked()
}

// Downloading reports what replication tells peers in its syncs: whether
// this core has a user that may download (true unless SetDownloading).
func (c *Core) Downloading() bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return !c.notDownloading
}

// SetDownloading says whether the core has a user that may download. A core
// that does not (a corestore opens one on demand only to serve a remote)
// tells its peers so in its syncs, as a JS core with no session does, and a
// channel whose remote is not downloading either is closed. Peers follow at
// once.
func (c *Core) SetDownloading(downloading bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.notDownloading == !downloading || c.closed {
		return
	}
	c.notDownloading = !downloading
	c.notifyLocked()
}

// wantRange is a range of blocks someone waits for.
type wantRange struct{ start, end uint64 }

// want registers [start, end) as wanted and wakes the peers.
func (c *Core) want(start, end uint64) *wantRange {
	w := &wantRange{start, end}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.wants[w] = struct{}{}
		c.notifyLocked()
	}
	return w
}

func (c *Core) unwant(w *wantRange) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.wants, w)
}

// wanted returns a copy of the wanted ranges.
func (c *Core) wanted() []wantRange {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]wantRange, 0, len(c.wants))
	for w := range c.wants {
		out = append(out, *w)
	}
	return out
}

// Download waits until blocks [start, end) are stored, asking peers for
// them (end 0 means the length at the call). It is how a sparse core
// fetches a range.
func (c *Core) Download(ctx context.Context, start, end uint64) error {
	if end == 0 {
		end = c.Length()
	}
	if start >= end {
		return nil
	}
	w := c.want(start, end)
	defer c.unwant(w)
	// Only the bitfield is looked at: a block it marks is stored (its
	// record and bytes were committed first), so nothing is read back.
	i := start
	for {
		c.mu.RLock()
		if c.closed {
			c.mu.RUnlock()
			return ErrClosed
		}
		changed := c.changed
		i = max(i, min(c.contiguous, end))
		for i < end && i < c.t.length && c.hasLocked(i) {
			i++
		}
		c.mu.RUnlock()
		if i >= end {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		}
	}
}

// Has reports whether block index is stored locally.
func (c *Core) Has(index uint64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return index < c.t.length && c.hasLocked(index)
}

// Clear removes the stored blocks in [start, end) while keeping the tree,
// so they can be fetched (and verified) again.
func (c *Core) Clear(start, end uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	end = min(end, c.t.length)
	if start >= end {
		return nil
	}
	wb := c.st.db.NewBatch()
	defer wb.Close()
	// The bytes stay in the data file; the bitfield says they are gone.
	dirty := c.setBits(start, end, false)
	c.writePages(wb, dirty)
	if err := wb.Commit(c.st.wo); err != nil {
		c.dropPages(dirty)
		return err
	}
	c.st.ra.reset()
	if start < c.contiguous {
		c.contiguous = start
	}
	return nil
}

// Truncate cuts the core to length blocks and bumps the fork id, signing
// the new head. Readers that follow the core see the fork change.
func (c *Core) Truncate(length uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if !c.writableLocked() {
		return ErrNotWritable
	}
	return c.truncateLocked(length, c.t.fork+1)
}

func (c *Core) truncateLocked(length, fork uint64) error {
	old := c.t.length
	if length > old {
		return ErrOutOfRange
	}
	roots, err := rootsAt(c.st, length)
	if err != nil {
		return err
	}
	nt := &tree{fork: fork, length: length, byteLength: totalSize(roots), roots: roots, prologue: c.t.prologue}
	sig, err := c.verifier.sign(nt.state(), *c.keyPair)
	if err != nil {
		return err
	}
	nt.signature = sig
	wb := c.st.db.NewBatch()
	defer wb.Close()
	head := 2 * length
	wb.DeleteRange(c.st.idx(keyNode, head), c.st.idx(keyNode, 2*old), nil)
	if length > 0 {
		// Parents that span the cut lose their right part: drop them too.
		ite := flattree.NewIterator(head - 2)
		for {
			if ite.Contains(head) && ite.Index < head {
				wb.Delete(c.st.idx(keyNode, ite.Index), nil)
			}
			if ite.Offset == 0 {
				break
			}
			ite.Parent()
		}
	}
	dirty := c.setBits(length, old, false)
	c.writePages(wb, dirty)
	wb.Set(c.st.key(keyHead), encodeHead(headRecord{fork: fork, length: length, byteLength: nt.byteLength, signature: sig}), nil)
	if err := wb.Commit(c.st.wo); err != nil {
		c.dropPages(dirty)
		return err
	}
	c.st.cacheReset()
	c.st.truncateData(int64(nt.byteLength))
	c.t = nt
	c.truncations = append(c.truncations, truncation{fork: fork, length: length})
	c.contiguous = min(c.contiguous, length)
	c.notifyLocked()
	return nil
}

// SetUserData stores value under name (nil deletes it).
func (c *Core) SetUserData(name string, value []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	k := c.st.userKey(name)
	if value == nil {
		return c.st.db.Delete(k, c.st.wo)
	}
	return c.st.db.Set(k, value, c.st.wo)
}

// UserData returns the value stored under name, or nil.
func (c *Core) UserData(name string) ([]byte, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	v, _, err := c.st.get(c.st.userKey(name))
	return v, err
}

// Seek returns the block holding data byte offset bytes and the offset in
// that block.
func (c *Core) Seek(bytes uint64) (index, offset uint64, err error) {
	c.mu.RLock()
	t := c.t
	pad := c.paddingLocked()
	c.mu.RUnlock()
	i, rel, err := seekLocal(c.st, t, bytes, pad)
	if errors.Is(err, errNodesMissing) {
		return 0, 0, ErrNotAvailable
	}
	return i, rel, err
}

// Blocks iterates over blocks [start, end) (end 0 means the length at the
// call), waiting for each block as Get with Wait does.
func (c *Core) Blocks(ctx context.Context, start, end uint64) iter.Seq2[[]byte, error] {
	if end == 0 {
		end = c.Length()
	}
	return func(yield func([]byte, error) bool) {
		for i := start; i < end; i++ {
			b, err := c.Get(ctx, i, GetOptions{Wait: true})
			if !yield(b, err) || err != nil {
				return
			}
		}
	}
}

// Proof builds the proof answering req, the content of a data message.
// A block proof carries the stored (encrypted) block.
func (c *Core) Proof(req ProofRequest) (*Proof, error) {
	p, err := c.proof(req)
	if err == nil && p.Block != nil {
		p.Block.Value = bytes.Clone(p.Block.Value) // the caller's to keep
	}
	return p, err
}

// proof is Proof for a peer's request: the block value may be shared with
// the read-ahead window, so it is read only, and only until it is encoded.
func (c *Core) proof(req ProofRequest) (*Proof, error) {
	// Held throughout: a Close or truncation must not pull the storage
	// from under the proof (pebble panics when read after Close).
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.closed {
		return nil, ErrClosed
	}
	// Size the node cache for the tree, as a download does: the upper nodes
	// of consecutive proofs repeat and should not be read again each time.
	c.st.cacheFit(int(2 * c.t.length))
	// The block is read first: reading it may read ahead the tree nodes
	// around it, which the proof then finds in the node cache.
	var value []byte
	read := false
	if req.Block != nil && req.Block.Index < c.t.length {
		v, ok, err := c.servedBlock(req.Block.Index)
		if err != nil {
			return nil, err
		}
		value, read = v, ok
	}
	p, err := generateProof(c.t, c.st, req) // c.mu is held: c.t stays as is
	if err != nil {
		return nil, err
	}
	if p.Block != nil {
		if !read || p.Block.Index != req.Block.Index {
			v, ok, err := c.servedBlock(p.Block.Index)
			if err != nil {
				return nil, err
			}
			if !ok {
				return nil, ErrNotAvailable
			}
			value = v
		}
		p.Block.Value = value
	}
	return p, nil
}

// servedBlock reads block index for a proof, as store.readBlock does, and
// also keeps the block's leaf in the node cache: the proof of its sibling
// block, usually the next one asked for, needs that leaf. c.mu is held.
func (c *Core) servedBlock(index uint64) ([]byte, bool, error) {
	if b, ok, seq := c.st.ra.get(index); ok {
		return b, true, nil
	} else if seq {
		// A peer reading in order: read the blocks after this one too.
		b, _, ok, err := c.st.readAhead(index)
		return b, ok, err
	}
	n, off, hasOff, ok, err := c.st.leaf(index)
	if err != nil || !ok || !hasOff {
		return nil, false, err
	}
	if n.Size > MaxBlockSize+EncryptionPadding {
		return nil, false, fmt.Errorf("%w: block %d size", ErrCorrupt, index)
	}
	b := make([]byte, n.Size)
	if _, err := c.st.data.ReadAt(b, int64(off)); err != nil {
		return nil, false, fmt.Errorf("%w: block %d: %v", ErrCorrupt, index, err)
	}
	c.st.cachePut(n)
	return b, true, nil
}

// Apply verifies a proof from a peer and stores what it proves: the new
// head of an upgrade, the tree nodes and the block. Nothing is stored when
// the proof or its signature does not verify.
func (c *Core) Apply(p *Proof) error {
	n, err := c.ApplyBatch([]*Proof{p})
	if n == 1 {
		return nil
	}
	return err
}

// ApplyBatch verifies proofs in order, each against the state the previous
// ones left, and stores the verified ones with one synced write. It returns
// how many verified; the error says why the next one did not (that proof
// and the ones after it are not stored).
func (c *Core) ApplyBatch(proofs []*Proof) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, ErrClosed
	}
	c.st.cacheFit(int(2 * c.t.length))
	st := &applyState{
		records: make([]nodeRecord, 0, 4*len(proofs)),
		c:       c,
		cur:     c.t.clone(),
		nodes:   map[uint64]Node{},
		leaves:  map[uint64]bool{},
		v:       c.verifier,
	}
	wb := c.st.db.NewBatch()
	defer wb.Close()
	var data []pendingBlock
	var blockIdx []uint64
	if len(proofs) > 0 && c.isReorg(proofs[0]) {
		if err := c.reorgLocked(proofs[0]); err != nil {
			return 0, err
		}
		if len(proofs) == 1 {
			return 1, nil
		}
		return 1, errReorgApplied
	}
	done := 0
	var firstErr error
	for _, p := range proofs {
		if c.isReorg(p) {
			firstErr = errReorgApplied // the caller goes on from this one
			break
		}
		blk, err := st.apply(p)
		if err != nil {
			firstErr = err
			break
		}
		if blk != nil {
			data = append(data, *blk)
			blockIdx = append(blockIdx, blk.index)
		}
		done++
	}
	if done == 0 {
		return 0, firstErr
	}
	c.st.writeRecords(wb, st.records)
	// Blocks first (synced), then the records that make them reachable.
	// Runs of blocks that follow each other in the file go in one write.
	var run [][]byte
	for i := 0; i < len(data); {
		start, end := data[i].offset, data[i].offset
		run = run[:0]
		for ; i < len(data) && data[i].offset == end; i++ {
			run = append(run, data[i].value)
			end += uint64(len(data[i].value))
		}
		c.st.reserve(int64(end))
		if err := writeBlocksAt(c.st.data, run, int64(start)); err != nil {
			return 0, err
		}
	}
	if len(data) > 0 {
		if err := c.st.syncData(); err != nil {
			return 0, err
		}
	}
	var dirty []uint64
	for _, i := range blockIdx {
		dirty = append(dirty, c.setBits(i, i+1, true)...)
	}
	c.writePages(wb, dirty)
	if st.learned != nil {
		wb.Set(c.st.key(keyAuth), encodeAuth(authRecord{key: c.key, manifest: st.learned, keyPair: c.keyPair}), nil)
	}
	if st.upgraded {
		wb.Set(c.st.key(keyHead), encodeHead(headRecord{fork: st.cur.fork, length: st.cur.length, byteLength: st.cur.byteLength, signature: st.cur.signature}), nil)
	}
	if err := wb.Commit(c.st.downloadWO()); err != nil {
		c.dropPages(dirty)
		return 0, err
	}
	for _, n := range st.nodes {
		c.st.cachePut(n)
	}
	if st.learned != nil {
		c.setManifest(st.learned)
	}
	if st.upgraded {
		c.t = st.cur
		c.t.prologue = nil
		if c.manifest != nil {
			c.t.prologue = c.manifest.Prologue
		}
	}
	for _, i := range blockIdx {
		if i == c.contiguous {
			c.contiguous = c.scanContiguous(c.contiguous)
		}
	}
	c.notifyLocked()
	return done, firstErr
}

// errReorgApplied tells ApplyBatch's caller that the batch stopped at (or
// just after) a reorg and the remaining proofs should be applied again.
var errReorgApplied = errors.New("hypercore: batch stopped at a reorg")

// isReorg reports whether p moves a non-empty core to a newer fork.
func (c *Core) isReorg(p *Proof) bool {
	return p.Upgrade != nil && p.Fork > c.t.fork && c.t.length > 0
}

type emptySource struct{}

func (emptySource) getNode(uint64) (Node, bool, error) { return Node{}, false, nil }

// reorgLocked follows the writer to a newer fork: p must be an upgrade from
// 0 that proves the new signed tree. The core keeps the blocks under the
// roots both trees share (conservatively: a partly shared root is dropped
// and fetched again), drops the rest and takes the new head.
func (c *Core) reorgLocked(p *Proof) error {
	if p.Upgrade.Start != 0 || c.verifier == nil {
		return ErrForkMismatch
	}
	b, err := verifyProof(&tree{prologue: c.t.prologue}, emptySource{}, p)
	if err != nil {
		return err
	}
	if !b.upgraded {
		return ErrForkMismatch
	}
	if !c.verifier.verify(b.state(), b.signature) {
		return ErrSignature
	}
	old := c.t.length
	var anc uint64
	for _, r := range b.roots {
		if flattree.RightSpan(r.Index) >= 2*old {
			anc = flattree.LeftSpan(r.Index) / 2
			break
		}
		n, ok, err := c.st.getNode(r.Index)
		if err != nil {
			return err
		}
		if !ok || n.Hash != r.Hash {
			anc = flattree.LeftSpan(r.Index) / 2
			break
		}
		anc = flattree.RightSpan(r.Index)/2 + 1
	}
	anc = min(anc, old, b.length)
	// A shared leaf keeps its record (and block offset).
	return c.commitReorgLocked(b, b.nodes, anc, old, func(n Node) bool { return n.Index&1 == 0 && n.Index < 2*anc })
}

// commitReorgLocked moves the core to b's fork, keeping the tree and blocks
// below the common ancestor anc (in blocks) and clearing the rest of the
// old fork of length old: node records from the ancestor on and the
// parents spanning it, the bitfield above it. nodes are written unless
// shared says the record we hold is already theirs. c.mu held.
func (c *Core) commitReorgLocked(b *treeBatch, nodes []Node, anc, old uint64, shared func(Node) bool) error {
	wb := c.st.db.NewBatch()
	defer wb.Close()
	head := 2 * anc
	wb.DeleteRange(c.st.idx(keyNode, head), c.st.idx(keyNode, 2*max(old, b.length)+2), nil)
	if anc > 0 {
		// Parents that span the ancestor hold old-fork hashes.
		ite := flattree.NewIterator(head - 2)
		for {
			if ite.Contains(head) && ite.Index < head {
				wb.Delete(c.st.idx(keyNode, ite.Index), nil)
			}
			if ite.Offset == 0 {
				break
			}
			ite.Parent()
		}
	}
	for _, n := range nodes {
		if shared(n) {
			continue
		}
		wb.Set(c.st.idx(keyNode, n.Index), encodeNodeRecord(n), nil)
	}
	dirty := c.setBits(anc, old, false)
	c.writePages(wb, dirty)
	wb.Set(c.st.key(keyHead), encodeHead(headRecord{fork: b.fork, length: b.length, byteLength: b.byteLength, signature: b.signature}), nil)
	if err := wb.Commit(c.st.wo); err != nil {
		c.dropPages(dirty)
		return err
	}
	c.st.cacheReset()
	c.t = b.tree.clone()
	c.t.prologue = nil
	if c.manifest != nil {
		c.t.prologue = c.manifest.Prologue
	}
	c.truncations = append(c.truncations, truncation{fork: b.fork, length: anc})
	c.contiguous = min(c.contiguous, anc)
	c.notifyLocked()
	return nil
}

type pendingBlock struct {
	index  uint64
	offset uint64
	value  []byte
}

// nodeRecord is a tree node to store, with its block's offset for a leaf
// whose block is stored.
type nodeRecord struct {
	n         Node
	offset    uint64
	hasOffset bool
}

// writeRecords adds the records to wb in key order (see Append), a later
// record of an index replacing an earlier one.
func (s *store) writeRecords(wb *pebble.Batch, recs []nodeRecord) {
	// Sort positions, not the records: ties keep their order.
	order := make([]int32, len(recs))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(x, y int32) int {
		if c := cmp.Compare(recs[x].n.Index, recs[y].n.Index); c != 0 {
			return c
		}
		return cmp.Compare(x, y)
	})
	var key, val []byte
	for k, i := range order {
		r := &recs[i]
		if k+1 < len(order) && recs[order[k+1]].n.Index == r.n.Index {
			continue
		}
		key = s.appendIdx(key[:0], keyNode, r.n.Index)
		val = appendNodeRecord(val[:0], r.n)
		if r.hasOffset {
			val = appendUint(val, r.offset)
		}
		wb.Set(key, val, nil)
	}
}

// applyState carries a batch of proofs being applied: the tree as the
// verified proofs left it and the nodes they added, not yet committed.
type applyState struct {
	c        *Core
	cur      *tree
	nodes    map[uint64]Node
	leaves   map[uint64]bool // leaf records written in this batch
	records  []nodeRecord    // node records to write, in proof order
	v        *verifier
	learned  *Manifest
	upgraded bool
	// The last block this batch verified and where it ends in the data
	// file (hasPrev says there is one).
	prevIndex, prevEnd uint64
	hasPrev            bool
}

func (s *applyState) getNode(index uint64) (Node, bool, error) {
	if n, ok := s.nodes[index]; ok {
		return n, true, nil
	}
	return s.c.st.getNode(index)
}

// trustedNode returns a verified node without reading storage: one this
// batch verified or one in the node cache.
func (s *applyState) trustedNode(index uint64) (Node, bool) {
	if n, ok := s.nodes[index]; ok {
		return n, true
	}
	return s.c.st.cacheGet(index)
}

// apply verifies one proof against the batch state and adds its records
// to wb. It returns the block to write, if any.
func (s *applyState) apply(p *Proof) (*pendingBlock, error) {
	c := s.c
	if p.Fork != s.cur.fork && !(p.Upgrade != nil && s.cur.length == 0) {
		return nil, ErrForkMismatch
	}
	b, err := verifyProof(s.cur, s, p)
	if err != nil {
		return nil, err
	}
	var learned *Manifest
	if b.upgraded {
		v := s.v
		if v == nil {
			m := p.Manifest
			if m == nil {
				m = DefaultManifest(c.key[:])
			}
			if m.Hash() != c.key && !m.isCompat(c.key[:]) {
				return nil, fmt.Errorf("%w: proof manifest does not match the key", ErrManifest)
			}
			v = newVerifier(c.key, m)
			learned = m
		}
		if !v.verify(b.state(), b.signature) {
			return nil, ErrSignature
		}
		if b.length <= s.cur.length {
			// Not an upgrade for us: it must agree with what we have.
			if b.length == s.cur.length && b.hash() != s.cur.hash() {
				return nil, fmt.Errorf("%w: signed tree conflicts with the local head", ErrInvalidProof)
			}
			if b.length < s.cur.length {
				roots, err := rootsAt(s, b.length)
				if err != nil || crypto.TreeHash(roots) != b.hash() {
					return nil, fmt.Errorf("%w: signed tree conflicts with the local tree", ErrInvalidProof)
				}
			}
			b.upgraded = false
		}
	}
	var blk *pendingBlock
	if p.Block != nil {
		if p.Block.Index >= b.length {
			return nil, fmt.Errorf("%w: block beyond the tree", ErrInvalidProof)
		}
		// The block goes to its byte offset: right after the block before
		// it when this batch verified that one (offsets do not move
		// within a fork), else as the tree nodes of the proof and the
		// store give it.
		var off uint64
		if s.hasPrev && p.Block.Index == s.prevIndex+1 {
			off = s.prevEnd
		} else {
			off, err = byteOffset(&b.tree, overlay{nodes: b.nodes, next: s}, 2*p.Block.Index)
			if err != nil {
				return nil, err
			}
		}
		blk = &pendingBlock{index: p.Block.Index, offset: off, value: p.Block.Value}
	}
	// Verified: record the nodes. The block's own leaf, hashed while
	// verifying, is recorded below with the block's offset.
	var leaf Node
	haveLeaf := false
	for _, n := range b.nodes {
		if blk != nil && n.Index == 2*blk.index {
			leaf, haveLeaf = n, true
			continue
		}
		if n.Index&1 == 0 {
			// Keep the record of a stored block: it holds the block's
			// offset. Any other leaf record holds the same verified node.
			if s.leaves[n.Index] || c.hasLocked(n.Index/2) {
				continue
			}
		}
		s.nodes[n.Index] = n
		s.records = append(s.records, nodeRecord{n: n})
	}
	if blk != nil {
		if !haveLeaf {
			leaf = leafNode(2*blk.index, blk.value)
		}
		s.nodes[leaf.Index] = leaf
		s.leaves[leaf.Index] = true
		s.records = append(s.records, nodeRecord{n: leaf, offset: blk.offset, hasOffset: true})
	}
	if blk != nil {
		s.prevIndex, s.prevEnd, s.hasPrev = blk.index, blk.offset+uint64(len(blk.value)), true
	}
	if learned != nil {
		s.learned = learned
		s.v = newVerifier(c.key, learned)
	}
	if b.upgraded {
		s.cur = b.tree.clone()
		s.upgraded = true
	}
	if s.learned != nil {
		s.cur.prologue = s.learned.Prologue
	}
	return blk, nil
}

// MissingNodes returns how many nodes on the path from the tree node index
// up to the first stored one are missing locally: the Nodes field of a
// request for that block or node (hypercore missingNodes).
func (c *Core) MissingNodes(index uint64) (uint64, error) {
	c.mu.RLock()
	head := 2 * c.t.length
	c.mu.RUnlock()
	ite := flattree.NewIterator(index)
	if ite.Index+ite.Factor/2-1 >= head {
		return 0, nil
	}
	// Fast path: the nearest cached node on the path is stored, so counting
	// up to it is safe (at worst a node or two more than needed).
	var cnt uint64
	for c2 := *ite; !c2.Contains(head) && cnt < 64; c2.Parent() {
		if _, ok := c.st.cacheGet(c2.Index); ok {
			return cnt, nil
		}
		cnt++
	}
	cnt = 0
	for !ite.Contains(head) {
		_, ok, err := c.st.getNode(ite.Index)
		if err != nil {
			return 0, err
		}
		if ok {
			break
		}
		cnt++
		if cnt >= loopGuard {
			return 0, ErrCorrupt
		}
		ite.Parent()
	}
	return cnt, nil
}

// BlockRequest returns the request for block index with the number of
// nodes this core is missing to verify it.
func (c *Core) BlockRequest(index uint64) (*RequestBlock, error) {
	n, err := c.MissingNodes(2 * index)
	if err != nil {
		return nil, err
	}
	return &RequestBlock{Index: index, Nodes: n}, nil
}
