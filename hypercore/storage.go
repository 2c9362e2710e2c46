package hypercore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/warrenp2p/warren/compact"
	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/internal/flock"
)

// Storage errors.
var (
	// ErrLocked is returned when another process (or another Core in this
	// process) has the data directory open.
	ErrLocked = errors.New("hypercore: data directory is locked by another process")
	// ErrCorrupt is returned for a stored record that cannot be decoded.
	ErrCorrupt = errors.New("hypercore: corrupt stored record")
)

// Blocks live in one data file, each at its byte offset in the core (as
// stored, so with padding): appends write one contiguous run. The record of
// a leaf node carries the offset of its block, so a read is one pebble get
// and one pread. Pebble holds everything else.
//
// Record keys. Every key starts with one byte naming the record kind;
// indexed records append the index as a big-endian uint64 so that pebble
// orders them by index.
//
// In a shared Storage every key of a core is preceded by the core's prefix
// (see Storage.Open); a core in its own directory has an empty prefix.
const (
	keyAuth     = 'a' // key, manifest, key pair
	keyHead     = 'h' // the signed head: fork, length, signature
	keyNode     = 'n' // + index: tree node
	keyBitfield = 'f' // + page: bitfield page (older stores)
	keySegment  = 'g' // + segment: bitfield segment
	keyUserData = 'u' // + name: user data
)

const (
	bitfieldPageBits     = 32768
	bitfieldPageBytes    = bitfieldPageBits / 8
	bitfieldSegmentBits  = 1024
	bitfieldSegmentBytes = bitfieldSegmentBits / 8
)

// key returns the key of the single record of kind.
func (s *store) key(kind byte) []byte {
	k := make([]byte, len(s.pfx)+1)
	copy(k, s.pfx)
	k[len(s.pfx)] = kind
	return k
}

// idx returns the key of record i of kind.
func (s *store) idx(kind byte, i uint64) []byte {
	return s.appendIdx(make([]byte, 0, len(s.pfx)+9), kind, i)
}

// appendIdx appends the key of record i of kind to dst.
func (s *store) appendIdx(dst []byte, kind byte, i uint64) []byte {
	dst = append(dst, s.pfx...)
	dst = append(dst, kind)
	return binary.BigEndian.AppendUint64(dst, i)
}

// userKey returns the key of the user data called name.
func (s *store) userKey(name string) []byte {
	return append(s.key(keyUserData), name...)
}

// segments calls fn with every stored bitfield segment in [from, to), in
// order. fn must not keep b.
func (s *store) segments(from, to uint64, fn func(seg uint64, b []byte)) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: s.idx(keySegment, from), UpperBound: s.idx(keySegment, to)})
	if err != nil {
		return err
	}
	n := len(s.pfx) + 1
	for ok := it.First(); ok; ok = it.Next() {
		if k := it.Key(); len(k) == n+8 {
			fn(binary.BigEndian.Uint64(k[n:]), it.Value())
		}
	}
	return it.Close()
}

// store is the pebble database of one core, its block data file and the
// lock on its directory.
type store struct {
	db *pebble.DB
	// pfx precedes every key of this core (empty unless shared).
	pfx []byte
	// shared is the Storage the core was opened from, under id; nil for a
	// core with a database of its own.
	shared *Storage
	id     string
	data   *os.File
	lock   *os.File

	// wo is the pebble write mode: always pebble.Sync, since pebble's
	// NoSync returns before the batch left the process (a kill loses it).
	// Whether that sync reaches the disk is up to the WAL files: see
	// killSafeFS.
	wo *pebble.WriteOptions
	// sync fsyncs the data file after every write (Options.Sync).
	sync bool

	// allocated is how far the data file is preallocated.
	allocated int64

	// cache holds tree nodes read or written lately, direct-mapped by
	// index (allocated on first use). Nodes never change under an index
	// except by truncation, which empties the cache.
	cacheMu sync.Mutex
	cache   []cachedNode

	// ra holds the blocks read ahead for a peer that asks for blocks in
	// order (see servedBlock).
	ra readahead
}

// The node cache has a power-of-two number of slots (48 bytes each),
// picked by a multiplicative hash of the index (the upper nodes of a tree
// all end in the same bits). It starts small, so that a store of many small
// cores stays small, and grows up to nodeCacheMax as the core's tree grows
// (cacheFit) or a batch writes many nodes.
const (
	nodeCacheMin = 1 << 10
	nodeCacheMax = 1 << 14
)

// slot returns the cache slot of node index i; s.cache is not empty.
func (s *store) slot(i uint64) *cachedNode {
	shift := 64 - bits.TrailingZeros(uint(len(s.cache)))
	return &s.cache[(i*0x9e3779b97f4a7c15)>>shift]
}

// cacheFit grows the node cache to hold n nodes (up to nodeCacheMax).
func (s *store) cacheFit(n int) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	s.fitLocked(n)
}

func (s *store) fitLocked(n int) {
	want := min(max(n, nodeCacheMin), nodeCacheMax)
	if len(s.cache) >= want {
		return
	}
	size := nodeCacheMin
	for size < want {
		size *= 2
	}
	old := s.cache
	s.cache = make([]cachedNode, size)
	for _, e := range old {
		if e.ok {
			*s.slot(e.Index) = e
		}
	}
}

// cachedNode is a slot of the node cache; ok says it holds a node.
type cachedNode struct {
	Node
	ok bool
}

func (s *store) cacheGet(i uint64) (Node, bool) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	if s.cache == nil {
		return Node{}, false
	}
	e := s.slot(i)
	if !e.ok || e.Index != i {
		return Node{}, false
	}
	return e.Node, true
}

func (s *store) cachePut(nodes ...Node) {
	s.cacheMu.Lock()
	defer s.cacheMu.Unlock()
	s.fitLocked(2 * len(nodes))
	for _, n := range nodes {
		*s.slot(n.Index) = cachedNode{Node: n, ok: true}
	}
}

func (s *store) cacheReset() {
	s.cacheMu.Lock()
	clear(s.cache)
	s.cacheMu.Unlock()
	s.ra.reset()
}

// Serving a run of consecutive blocks reads them ahead: one pebble
// iterator over their tree nodes (leaves with their offsets and the
// parents between them, which the proofs of these blocks need) and one
// pread of their bytes, instead of a pebble get per leaf, a get per proof
// node and a pread per block.
const (
	readaheadBlocks = 64
	readaheadBytes  = 128 << 10
)

// readahead is a window of consecutive stored blocks read in one go. The
// bytes of a stored block never change while its tree does (truncations
// and reorgs reset the window), so the window stays valid until reset.
type readahead struct {
	mu    sync.Mutex
	first uint64   // block of ends[0]
	ends  []uint32 // end of each block in buf
	buf   []byte   // the blocks' bytes, one after the other
	next  uint64   // the block after the last one asked for
}

// get returns block index, shared with the window (read only), if the
// window holds it. It also notes index as the last block asked for and
// reports whether the request follows the previous one (a sequential
// reader, worth reading ahead for).
func (r *readahead) get(index uint64) (b []byte, ok, sequential bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sequential = index == 0 || r.next == index
	r.next = index + 1
	if index < r.first || index-r.first >= uint64(len(r.ends)) {
		return nil, false, sequential
	}
	j := index - r.first
	var start uint32
	if j > 0 {
		start = r.ends[j-1]
	}
	return r.buf[start:r.ends[j]:r.ends[j]], true, sequential
}

func (r *readahead) set(first uint64, ends []uint32, buf []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.first, r.ends, r.buf = first, ends, buf
}

func (r *readahead) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.first, r.ends, r.buf, r.next = 0, nil, nil, 0
}

// readAhead reads block index and the stored blocks that follow it in the
// data file, up to readaheadBlocks blocks and readaheadBytes bytes (at
// least block index), into s.ra, and puts the tree nodes it meets in the
// node cache. It returns block index (shared with the window: read only)
// and its leaf, or ok=false when the block is not stored.
func (s *store) readAhead(index uint64) (b []byte, leaf Node, ok bool, err error) {
	lo := 2 * index
	hi := lo + 2*readaheadBlocks
	if hi < lo {
		hi = ^uint64(0)
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: s.idx(keyNode, lo), UpperBound: s.idx(keyNode, hi)})
	if err != nil {
		return nil, leaf, false, err
	}
	var (
		nodes    = make([]Node, 0, 2*readaheadBlocks)
		ends     = make([]uint32, 0, readaheadBlocks)
		startOff uint64
		size     uint64
	)
	n := len(s.pfx) + 1
	for valid := it.First(); valid; valid = it.Next() {
		k := it.Key()
		if len(k) != n+8 {
			continue
		}
		ni := binary.BigEndian.Uint64(k[n:])
		node, off, hasOff, derr := decodeNodeRecordOffset(ni, it.Value())
		if derr != nil {
			if ni == lo {
				it.Close()
				return nil, leaf, false, derr
			}
			break
		}
		nodes = append(nodes, node)
		if ni&1 == 1 {
			continue
		}
		// A leaf: the next block of the window if it follows in the file.
		if ni/2 != index+uint64(len(ends)) || !hasOff || node.Size > MaxBlockSize+EncryptionPadding {
			if ni == lo && hasOff {
				it.Close()
				return nil, leaf, false, fmt.Errorf("%w: block %d size", ErrCorrupt, index)
			}
			break
		}
		if len(ends) == 0 {
			startOff, leaf = off, node
		} else if off != startOff+size || size+node.Size > readaheadBytes {
			break
		}
		size += node.Size
		ends = append(ends, uint32(size))
		if node.Size > readaheadBytes/4 {
			break // large blocks: one at a time, without copying
		}
	}
	if err := it.Close(); err != nil {
		return nil, leaf, false, err
	}
	if len(ends) == 0 {
		return nil, leaf, false, nil
	}
	s.cachePut(nodes...)
	buf := make([]byte, size)
	if _, err := s.data.ReadAt(buf, int64(startOff)); err != nil {
		return nil, leaf, false, fmt.Errorf("%w: block %d: %v", ErrCorrupt, index, err)
	}
	if len(ends) == 1 {
		// A window of one block (a large one, or the last stored): hand
		// it out as read.
		return buf, leaf, true, nil
	}
	s.ra.set(index, ends, buf)
	return buf[:ends[0]:ends[0]], leaf, true, nil
}

func openStore(dir string, sync bool) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lockPath := filepath.Join(dir, "CORE.lock")
	lock, err := flock.Lock(lockPath)
	if err != nil {
		if errors.Is(err, flock.ErrLocked) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, lockPath)
		}
		return nil, err
	}
	data, err := os.OpenFile(filepath.Join(dir, "blocks"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		lock.Close()
		return nil, err
	}
	db, err := pebble.Open(filepath.Join(dir, "db"), storeOptions(sync))
	if err != nil {
		data.Close()
		lock.Close()
		return nil, err
	}
	st := &store{db: db, data: data, lock: lock, wo: pebble.Sync, sync: sync}
	if fi, err := data.Stat(); err == nil {
		st.allocated = fi.Size()
	}
	return st, nil
}

// preallocChunk is the step by which the data file grows.
const preallocChunk = 64 << 20

// reserve preallocates the data file up to at least end.
func (s *store) reserve(end int64) {
	if end <= s.allocated {
		return
	}
	size := (end + preallocChunk - 1) / preallocChunk * preallocChunk
	preallocate(s.data, size)
	s.allocated = size
}

// truncateData cuts the data file after a truncation (best effort: bytes
// past the head are unreachable anyway).
func (s *store) truncateData(size int64) {
	if s.data.Truncate(size) == nil {
		s.allocated = size
	}
}

func (s *store) close() error {
	if s.shared != nil {
		err := s.data.Close()
		if e := s.shared.release([]byte(s.id)); err == nil {
			err = e
		}
		return err
	}
	err := s.db.Close()
	if e := s.data.Close(); err == nil {
		err = e
	}
	if e := s.lock.Close(); err == nil {
		err = e
	}
	return err
}

// writeData writes the blocks bs, size bytes in all, one after the other
// from offset of the data file (and syncs it with Options.Sync). It runs
// before the pebble batch that makes the bytes reachable, so a record
// never points at bytes the kernel does not hold.
func (s *store) writeData(bs [][]byte, size int, offset uint64) error {
	if size == 0 {
		return nil
	}
	s.reserve(int64(offset) + int64(size))
	if err := writeBlocksAt(s.data, bs, int64(offset)); err != nil {
		return err
	}
	return s.syncData()
}

// downloadWO is the pebble write mode of verified downloads (ApplyBatch).
// Unlike an append, a download is acknowledged to no one: a killed process
// may lose the last few (pebble writes its log in order and replays whole
// batches, so the core stays consistent) and fetches them again. Without
// Options.Sync they therefore skip the wait for pebble's log writer, which
// costs a goroutine hand-off per batch of often a single block.
func (s *store) downloadWO() *pebble.WriteOptions {
	if s.sync {
		return pebble.Sync
	}
	return pebble.NoSync
}

func (s *store) syncData() error {
	if !s.sync {
		return nil
	}
	return s.data.Sync()
}

// leaf returns the stored node of block index and the offset of the block
// in the data file; hasBlock is false when the offset is not recorded.
func (s *store) leaf(index uint64) (n Node, offset uint64, hasOffset, ok bool, err error) {
	v, ok, err := s.get(s.idx(keyNode, 2*index))
	if err != nil || !ok {
		return n, 0, false, ok, err
	}
	n, offset, hasOffset, err = decodeNodeRecordOffset(2*index, v)
	return n, offset, hasOffset, err == nil, err
}

// readBlock reads the stored bytes of block index, or ok=false.
func (s *store) readBlock(index uint64) ([]byte, bool, error) {
	n, off, hasOff, ok, err := s.leaf(index)
	if err != nil || !ok || !hasOff {
		return nil, false, err
	}
	if n.Size > MaxBlockSize+EncryptionPadding {
		return nil, false, fmt.Errorf("%w: block %d size", ErrCorrupt, index)
	}
	b := make([]byte, n.Size)
	if _, err := s.data.ReadAt(b, int64(off)); err != nil {
		return nil, false, fmt.Errorf("%w: block %d: %v", ErrCorrupt, index, err)
	}
	return b, true, nil
}

// get returns a copy of the value at key, or nil and ok=false.
func (s *store) get(key []byte) ([]byte, bool, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte{}, v...)
	closer.Close()
	return out, true, nil
}

func (s *store) getNode(i uint64) (Node, bool, error) {
	if n, ok := s.cacheGet(i); ok {
		return n, true, nil
	}
	v, ok, err := s.get(s.idx(keyNode, i))
	if err != nil || !ok {
		return Node{}, ok, err
	}
	n, err := decodeNodeRecord(i, v)
	if err != nil {
		return Node{}, false, err
	}
	s.cachePut(n)
	return n, true, nil
}

// storeOptions tunes pebble for hypercore's load: large sequential batches
// of mostly incompressible blocks (hashes, often encrypted data), so a
// bigger memtable and no compression cut flush and compaction work.
// Without sync the write-ahead log is not fsynced (killSafeFS).
func storeOptions(sync bool) *pebble.Options {
	o := &pebble.Options{
		Logger:                      quietLogger{},
		MemTableSize:                64 << 20,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		LBaseMaxBytes:               256 << 20,
		CacheSize:                   64 << 20,
	}
	// Replication asks for many nodes that are not stored (how many are
	// missing on a path): bloom filters answer those without reading tables.
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	o.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionNone })
	if !sync {
		o.FS = killSafeFS{vfs.Default}
	}
	return o
}

// killSafeFS is the file system of a pebble that is safe against a killed
// process but not against power loss, the durability of JS hypercore on
// RocksDB (which writes its log on every write and fsyncs it only when
// asked). Pebble commits a synced batch by writing it to the write-ahead
// log with write(2) and then syncing the log; on killSafeFS that sync does
// nothing, so a commit returns once the kernel holds the batch. Everything
// else pebble syncs (tables, manifest, directories) is synced as usual, so
// pebble's own state stays consistent across power loss and only the log
// tail since the last flush is at risk.
type killSafeFS struct{ vfs.FS }

func (fs killSafeFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	return walFile(name, f), err
}

func (fs killSafeFS) ReuseForWrite(oldname, newname string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.ReuseForWrite(oldname, newname, category)
	return walFile(newname, f), err
}

// walFile wraps a write-ahead log file (NNNNNN.log) in unsyncedFile.
func walFile(name string, f vfs.File) vfs.File {
	if f == nil || !strings.HasSuffix(name, ".log") {
		return f
	}
	return unsyncedFile{f}
}

// unsyncedFile is a file whose syncs do nothing: its writes stay in the
// kernel's page cache until it writes them back.
type unsyncedFile struct{ vfs.File }

func (unsyncedFile) Sync() error                { return nil }
func (unsyncedFile) SyncData() error            { return nil }
func (unsyncedFile) SyncTo(int64) (bool, error) { return false, nil }

type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}

// A stored node is its size as a varint then its 32-byte hash; a leaf
// whose block is in the data file adds the block's offset as a varint.
func encodeNodeRecord(n Node) []byte {
	return appendNodeRecord(nil, n)
}

func appendNodeRecord(dst []byte, n Node) []byte {
	dst = appendUint(dst, n.Size)
	return append(dst, n.Hash[:]...)
}

func encodeLeafRecord(n Node, offset uint64) []byte {
	return appendUint(encodeNodeRecord(n), offset)
}

func decodeNodeRecord(index uint64, b []byte) (Node, error) {
	n, _, _, err := decodeNodeRecordOffset(index, b)
	return n, err
}

func decodeNodeRecordOffset(index uint64, b []byte) (n Node, offset uint64, hasOffset bool, err error) {
	// Decoded by hand: this runs for every node read, and a failure is rare
	// enough to build its error only then.
	size, k, ok := readRecordUint(b)
	if !ok || len(b)-k < 32 {
		return n, 0, false, fmt.Errorf("%w: node %d", ErrCorrupt, index)
	}
	n = Node{Index: index, Size: size, Hash: [32]byte(b[k : k+32])}
	b = b[k+32:]
	if len(b) == 0 {
		return n, 0, false, nil
	}
	offset, k, ok = readRecordUint(b)
	if index&1 == 1 || !ok || k != len(b) || offset > maxSafe {
		return n, 0, false, fmt.Errorf("%w: node %d", ErrCorrupt, index)
	}
	return n, offset, true, nil
}

// readRecordUint reads a compact-encoding uint (as compact.Uint decodes
// it) from the front of b and returns it with its length.
func readRecordUint(b []byte) (v uint64, n int, ok bool) {
	if len(b) == 0 {
		return 0, 0, false
	}
	switch a := b[0]; {
	case a <= 0xfc:
		return uint64(a), 1, true
	case a == 0xfd:
		if len(b) < 3 {
			return 0, 0, false
		}
		return uint64(binary.LittleEndian.Uint16(b[1:])), 3, true
	case a == 0xfe:
		if len(b) < 5 {
			return 0, 0, false
		}
		return uint64(binary.LittleEndian.Uint32(b[1:])), 5, true
	default:
		if len(b) < 9 {
			return 0, 0, false
		}
		return binary.LittleEndian.Uint64(b[1:]), 9, true
	}
}

// headRecord is the signed state of the core.
type headRecord struct {
	fork       uint64
	length     uint64
	byteLength uint64
	signature  []byte
}

const recordVersion = 1

func encodeHead(h headRecord) []byte {
	b := []byte{recordVersion}
	b = binaryAppendUint(b, h.fork)
	b = binaryAppendUint(b, h.length)
	b = binaryAppendUint(b, h.byteLength)
	b = binaryAppendUint(b, uint64(len(h.signature)))
	return append(b, h.signature...)
}

func decodeHead(b []byte) (headRecord, error) {
	var h headRecord
	if len(b) == 0 || b[0] != recordVersion {
		return h, fmt.Errorf("%w: head", ErrCorrupt)
	}
	s := &compact.State{Buf: b, Start: 1, End: len(b)}
	var err error
	if h.fork, err = compact.Uint.Decode(s); err != nil {
		return h, fmt.Errorf("%w: head", ErrCorrupt)
	}
	if h.length, err = compact.Uint.Decode(s); err != nil {
		return h, fmt.Errorf("%w: head", ErrCorrupt)
	}
	if h.byteLength, err = compact.Uint.Decode(s); err != nil {
		return h, fmt.Errorf("%w: head", ErrCorrupt)
	}
	sig, err := compact.Buffer.Decode(s)
	if err != nil || s.Start != s.End || h.length > maxSafe/2 {
		return h, fmt.Errorf("%w: head", ErrCorrupt)
	}
	h.signature = append([]byte(nil), sig...)
	return h, nil
}

// authRecord says whose core this is.
type authRecord struct {
	key      [32]byte
	manifest *Manifest // nil until known for a read-only core
	keyPair  *crypto.KeyPair
}

func encodeAuth(a authRecord) []byte {
	b := []byte{recordVersion}
	b = append(b, a.key[:]...)
	var flags byte
	if a.manifest != nil {
		flags |= 1
	}
	if a.keyPair != nil {
		flags |= 2
	}
	b = append(b, flags)
	if a.manifest != nil {
		m := a.manifest.Encode()
		b = binaryAppendUint(b, uint64(len(m)))
		b = append(b, m...)
	}
	if a.keyPair != nil {
		b = append(b, a.keyPair.SecretKey...)
	}
	return b
}

func decodeAuth(b []byte) (authRecord, error) {
	var a authRecord
	bad := fmt.Errorf("%w: auth", ErrCorrupt)
	if len(b) < 34 || b[0] != recordVersion {
		return a, bad
	}
	copy(a.key[:], b[1:33])
	flags := b[33]
	s := &compact.State{Buf: b, Start: 34, End: len(b)}
	if flags&1 != 0 {
		mb, err := compact.Buffer.Decode(s)
		if err != nil {
			return a, bad
		}
		m, err := DecodeManifest(mb)
		if err != nil {
			return a, bad
		}
		a.manifest = m
	}
	if flags&2 != 0 {
		if s.Remaining() != crypto.SecretKeySize {
			return a, bad
		}
		sk := append([]byte{}, b[s.Start:]...)
		kp := crypto.KeyPair{SecretKey: sk, PublicKey: append([]byte{}, sk[32:]...)}
		a.keyPair = &kp
		s.Start = s.End
	}
	if s.Start != s.End || flags&^3 != 0 {
		return a, bad
	}
	return a, nil
}

// writeBlocksAtEach writes bs one after the other from off, one write each.
func writeBlocksAtEach(f *os.File, bs [][]byte, off int64) error {
	for _, b := range bs {
		if _, err := f.WriteAt(b, off); err != nil {
			return err
		}
		off += int64(len(b))
	}
	return nil
}

// appendUint appends v in compact-encoding's uint form (as compact.Uint
// encodes it) without allocating.
func appendUint(dst []byte, v uint64) []byte {
	switch {
	case v < 0xfd:
		return append(dst, byte(v))
	case v <= 0xffff:
		return binary.LittleEndian.AppendUint16(append(dst, 0xfd), uint16(v))
	case v <= 0xffffffff:
		return binary.LittleEndian.AppendUint32(append(dst, 0xfe), uint32(v))
	default:
		return binary.LittleEndian.AppendUint64(append(dst, 0xff), v)
	}
}
