// Package hyperdrive is a file system on hypercores: the Go counterpart of
// npm hyperdrive 13, with mirroring to and from local folders as
// mirror-drive and localdrive do.
//
// A drive is two cores from a corestore. The db core holds a hyperbee whose
// keys are "files" + 0x00 + the normalized path and whose values are the
// entries as JSON ({executable, linkname, blob, metadata}); the blobs core
// holds the file contents (package hyperblobs). A writable drive's db core
// is the store's core named "db"; its blobs core is signed by the same key
// pair under a manifest whose signer namespaces are derived from the db key,
// so a reader derives the blobs key from the db core's manifest, exactly as
// hyperdrive 13 does (a key in the header's contentFeed, as older drives
// wrote, is used when present). Go and JS write byte-identical blocks for
// the same operations.
//
// Reads on a drive opened by key are sparse: a Get or a Reader fetches the
// db and blob blocks it touches from the store's replication peers, and
// Download prefetches a folder. Every block comes out of hypercore, which
// stores a block only once its proof verifies.
//
// Differences from the JS API: metadata is raw JSON (json.RawMessage), Get
// of a missing file or a symlink is ErrNotFound rather than null, Close does
// not close the store, and iterations are range-over-func sequences that take
// a context.
package hyperdrive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"sort"
	"strings"
	"sync"

	"github.com/warrenp2p/warren/corestore"
	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/hyperbee"
	"github.com/warrenp2p/warren/hyperblobs"
	"github.com/warrenp2p/warren/hypercore"
)

// DBName is the name of a writable drive's db core in its corestore.
const DBName = "db"

var (
	// ErrNotFound reports a path with no file (or, for Get and NewReader,
	// no content: a symlink).
	ErrNotFound = errors.New("hyperdrive: file not found")
	// ErrInvalidPath reports a path that does not name a file: the root,
	// a ".." above the root, invalid UTF-8.
	ErrInvalidPath = errors.New("hyperdrive: invalid path")
	// ErrReadOnly reports a write to a drive opened by key or a checkout.
	ErrReadOnly = errors.New("hyperdrive: drive is read-only")
	// ErrDecode reports an entry a peer wrote that does not parse.
	ErrDecode = errors.New("hyperdrive: malformed entry")
	// ErrInvalidMetadata reports metadata that is not valid JSON.
	ErrInvalidMetadata = errors.New("hyperdrive: metadata is not valid JSON")
	// ErrNoBlobsKey reports a drive whose blobs core key cannot be found:
	// no contentFeed in the header and a db manifest that derives none.
	ErrNoBlobsKey = errors.New("hyperdrive: no blobs core key")
	// ErrClosed reports use of a closed drive.
	ErrClosed = errors.New("hyperdrive: drive is closed")
)

// filesPrefix is the key prefix of entries: sub-encoder's "files" sub.
var filesPrefix = []byte("files\x00")

// blobsNamespace is hypercore-crypto namespace("hyperdrive", 1)[0]: it
// derives the blobs core's signer namespaces from the db key.
var blobsNamespace = crypto.Namespace([]byte("hyperdrive"), 1)[0]

// Options configure Open. The zero value is hyperdrive's default.
type Options struct {
	// EncryptionKey encrypts both cores' blocks (hypercore block
	// encryption); it applies when Open is the first to open them.
	EncryptionKey []byte
	// Eager makes a drive opened by key download every block its peers
	// have, instead of only what reads ask for.
	Eager bool
}

// Drive is a hyperdrive, or a read-only checkout of one. It is safe for
// concurrent use.
type Drive struct {
	root *Drive // the drive that owns the cores (itself unless a checkout)
	bee  *hyperbee.Bee

	// owner-only fields
	store *corestore.Store
	db    *hypercore.Session
	opts  Options

	opening   chan struct{} // held while opening the blobs core
	mu        sync.Mutex
	blobs     *hyperblobs.Blobs
	blobsSess *hypercore.Session
	closed    bool
}

// Open opens a drive in store: the store's writable drive (the core named
// "db" in the store's namespace) when key is nil, else the drive with that
// db core key, read-only and sparse. It does not wait for peers: reads wait
// for the blocks they need until their context ends. Close the drive, then
// the store.
func Open(ctx context.Context, store *corestore.Store, key []byte, opts *Options) (*Drive, error) {
	d := &Drive{store: store, opening: make(chan struct{}, 1)}
	if opts != nil {
		d.opts = *opts
	}
	d.root = d
	var err error
	if key == nil {
		d.db, err = store.Get(ctx, corestore.GetOptions{Name: DBName, EncryptionKey: d.opts.EncryptionKey})
	} else {
		d.db, err = store.Get(ctx, corestore.GetOptions{Key: key, Sparse: !d.opts.Eager, EncryptionKey: d.opts.EncryptionKey})
	}
	if err != nil {
		return nil, err
	}
	d.bee = hyperbee.New(hyperbee.CoreLog{Core: d.db.Core}, hyperbee.Options{
		// hyperdrive passes metadata {contentFeed: null}: an empty
		// metadata message in the header.
		Metadata: &hyperbee.Metadata{},
	})
	if d.db.Writable() {
		if err := d.openWritableBlobs(ctx); err != nil {
			d.db.Close()
			return nil, err
		}
	}
	return d, nil
}

// ContentManifest returns the manifest of the blobs core of a drive whose
// db core has manifest m and key dbKey, as hyperdrive derives it: the same
// signers with namespaces hashed from the db key, no prologue. A version 0
// (legacy) manifest derives none.
func ContentManifest(m *hypercore.Manifest, dbKey [32]byte) *hypercore.Manifest {
	if m == nil || m.Version < 1 {
		return nil
	}
	cm := &hypercore.Manifest{Version: m.Version, AllowPatch: m.AllowPatch, Quorum: m.Quorum}
	for _, s := range m.Signers {
		cm.Signers = append(cm.Signers, hypercore.Signer{
			Namespace: crypto.Hash(blobsNamespace[:], dbKey[:], s.Namespace[:]),
			PublicKey: s.PublicKey,
		})
	}
	return cm
}

func (d *Drive) openWritableBlobs(ctx context.Context) error {
	m := ContentManifest(d.db.Manifest(), d.db.Key())
	if m == nil {
		return ErrNoBlobsKey
	}
	kp, err := d.store.KeyPair(DBName)
	if err != nil {
		return err
	}
	s, err := d.store.Get(ctx, corestore.GetOptions{Manifest: m, KeyPair: &kp, EncryptionKey: d.opts.EncryptionKey})
	if err != nil {
		return err
	}
	if s.Key() != m.Hash() || !s.Writable() {
		s.Close()
		return fmt.Errorf("hyperdrive: blobs core %x is not the derived writable core", s.Key())
	}
	d.blobsSess = s
	d.blobs = hyperblobs.New(s.Core, nil)
	return nil
}

// Blobs returns the drive's blob store, opening the blobs core first if
// needed (which, on a drive opened by key, waits for the db's header block
// until ctx ends).
func (d *Drive) Blobs(ctx context.Context) (*hyperblobs.Blobs, error) {
	r := d.root
	if b, err := r.loadedBlobs(); b != nil || err != nil {
		return b, err
	}
	// One opener at a time; the others wait for it (or their ctx).
	select {
	case r.opening <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-r.opening }()
	if b, err := r.loadedBlobs(); b != nil || err != nil {
		return b, err
	}
	key, err := r.blobsKey(ctx)
	if err != nil {
		return nil, err
	}
	s, err := r.store.Get(ctx, corestore.GetOptions{Key: key[:], Sparse: !r.opts.Eager, EncryptionKey: r.opts.EncryptionKey})
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		s.Close()
		return nil, ErrClosed
	}
	r.blobsSess = s
	r.blobs = hyperblobs.New(s.Core, nil)
	return r.blobs, nil
}

func (d *Drive) loadedBlobs() (*hyperblobs.Blobs, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	return d.blobs, nil
}

// blobsKey finds the blobs core key: the header's contentFeed, else derived
// from the db core's manifest (known once block 0 has arrived).
func (d *Drive) blobsKey(ctx context.Context) ([32]byte, error) {
	h, err := d.bee.Header(ctx)
	if err != nil {
		return [32]byte{}, err
	}
	if h.Metadata != nil && len(h.Metadata.ContentFeed) >= 32 {
		return [32]byte(h.Metadata.ContentFeed[:32]), nil
	}
	m := ContentManifest(d.db.Manifest(), d.db.Key())
	if m == nil {
		return [32]byte{}, ErrNoBlobsKey
	}
	return m.Hash(), nil
}

// ContentKey returns the key of the blobs core.
func (d *Drive) ContentKey(ctx context.Context) ([32]byte, error) {
	b, err := d.Blobs(ctx)
	if err != nil {
		return [32]byte{}, err
	}
	return b.Core().Key(), nil
}

// Key returns the drive's key: the db core key.
func (d *Drive) Key() [32]byte { return d.root.db.Key() }

// DiscoveryKey returns the db core's discovery key, the topic peers find
// the drive under.
func (d *Drive) DiscoveryKey() [32]byte { return d.root.db.DiscoveryKey() }

// Core returns the db core.
func (d *Drive) Core() *hypercore.Core { return d.root.db.Core }

// Version returns the version the drive reads at: the db core length (at
// least 1), or the checkout's version.
func (d *Drive) Version() uint64 { return d.bee.Version() }

// Writable reports whether Put and the other writes can work: the drive's
// own db core, not a checkout.
func (d *Drive) Writable() bool { return d.root == d && d.db.Writable() }

// WaitVersion waits until the db core has at least version blocks (from
// a local write or a peer) or ctx ends.
func (d *Drive) WaitVersion(ctx context.Context, version uint64) error {
	if version == 0 || d.Core().Length() >= version {
		return nil
	}
	return hyperbee.CoreLog{Core: d.Core()}.WaitLength(ctx, version-1)
}

// Checkout returns a read-only view of the drive at version, sharing its
// cores. It needs no Close (closing it does nothing).
func (d *Drive) Checkout(version uint64) *Drive {
	return &Drive{root: d.root, bee: d.bee.Checkout(version)}
}

// Close releases the drive's cores (not the store). Closing a checkout
// does nothing.
func (d *Drive) Close() error {
	if d.root != d {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	var errs []error
	if d.blobsSess != nil {
		errs = append(errs, d.blobsSess.Close())
	}
	errs = append(errs, d.db.Close())
	return errors.Join(errs...)
}

// PutOptions describe a file written by Put, PutReader, Create or Symlink.
type PutOptions struct {
	// Executable sets the executable bit (not for symlinks).
	Executable bool
	// Metadata is stored with the entry; it must be valid JSON.
	Metadata []byte
}

func (d *Drive) checkWritable() error {
	if d.root != d {
		return ErrReadOnly
	}
	d.mu.Lock()
	closed := d.closed
	d.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if !d.db.Writable() {
		return ErrReadOnly
	}
	return nil
}

func fileKey(path string) []byte {
	return append(bytes.Clone(filesPrefix), path...)
}

// prepare checks a write: the drive, the path and the metadata.
func (d *Drive) prepare(path string, opts *PutOptions) (string, *Entry, error) {
	if err := d.checkWritable(); err != nil {
		return "", nil, err
	}
	p, err := Normalize(path)
	if err != nil {
		return "", nil, err
	}
	e := &Entry{Key: p}
	if opts != nil {
		e.Executable = opts.Executable
		if len(bytes.TrimSpace(opts.Metadata)) > 0 {
			m, err := canonicalJSON(opts.Metadata)
			if err != nil {
				return "", nil, fmt.Errorf("%w: %v", ErrInvalidMetadata, err)
			}
			e.Metadata = m
		}
	}
	return p, e, nil
}

// Put writes data as the file at path, replacing what was there.
func (d *Drive) Put(ctx context.Context, path string, data []byte, opts *PutOptions) error {
	_, e, err := d.prepare(path, opts)
	if err != nil {
		return err
	}
	b, err := d.Blobs(ctx)
	if err != nil {
		return err
	}
	id, err := b.Put(ctx, data)
	if err != nil {
		return err
	}
	e.Blob = &id
	return d.PutEntry(ctx, e)
}

// PutReader writes everything r yields as the file at path, streaming it
// into the blobs core without buffering the whole file.
func (d *Drive) PutReader(ctx context.Context, path string, r io.Reader, opts *PutOptions) error {
	w, err := d.Create(ctx, path, opts)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Abort()
		return err
	}
	return w.Close()
}

// FileWriter streams a file into a drive: the entry is written by Close.
// Call Close or Abort; until then other writers of the drive's blobs wait.
type FileWriter struct {
	d   *Drive
	ctx context.Context
	e   *Entry
	w   *hyperblobs.Writer
}

// Create starts writing the file at path (hyperdrive's createWriteStream).
func (d *Drive) Create(ctx context.Context, path string, opts *PutOptions) (*FileWriter, error) {
	_, e, err := d.prepare(path, opts)
	if err != nil {
		return nil, err
	}
	b, err := d.Blobs(ctx)
	if err != nil {
		return nil, err
	}
	w, err := b.NewWriter(ctx)
	if err != nil {
		return nil, err
	}
	return &FileWriter{d: d, ctx: ctx, e: e, w: w}, nil
}

// Write implements io.Writer.
func (f *FileWriter) Write(p []byte) (int, error) { return f.w.Write(p) }

// Close finishes the blob and writes the entry.
func (f *FileWriter) Close() error {
	if err := f.w.Close(); err != nil {
		return err
	}
	id := f.w.ID()
	f.e.Blob = &id
	return f.d.PutEntry(f.ctx, f.e)
}

// Abort drops the file: no entry is written.
func (f *FileWriter) Abort() { f.w.Abort() }

// PutEntry writes e as it is under e.Key (hyperdrive's putEntry): no blob is
// written, e.Blob must point at one already in the blobs core (or be nil).
func (d *Drive) PutEntry(ctx context.Context, e *Entry) error {
	if err := d.checkWritable(); err != nil {
		return err
	}
	p, err := Normalize(e.Key)
	if err != nil {
		return err
	}
	v, err := EncodeValue(e)
	if err != nil {
		return err
	}
	return d.bee.Put(ctx, fileKey(p), v)
}

// Symlink writes a symlink at path pointing at target (stored as given;
// JS resolves relative targets against the link's key when following).
func (d *Drive) Symlink(ctx context.Context, path, target string, opts *PutOptions) error {
	_, e, err := d.prepare(path, opts)
	if err != nil {
		return err
	}
	if target == "" {
		return fmt.Errorf("%w: empty symlink target", ErrInvalidPath)
	}
	e.Executable = false
	e.Linkname = target
	return d.PutEntry(ctx, e)
}

// Del deletes the file at path; deleting a missing file is not an error.
// The blob's blocks stay in the blobs core.
func (d *Drive) Del(ctx context.Context, path string) error {
	if err := d.checkWritable(); err != nil {
		return err
	}
	p, err := Normalize(path)
	if err != nil {
		return err
	}
	return d.bee.Del(ctx, fileKey(p))
}

// Entry returns the entry at path, or nil if there is none.
func (d *Drive) Entry(ctx context.Context, path string) (*Entry, error) {
	p, err := Normalize(path)
	if err != nil {
		return nil, err
	}
	be, err := d.bee.Get(ctx, fileKey(p))
	if err != nil || be == nil {
		return nil, err
	}
	return toEntry(be)
}

func toEntry(be *hyperbee.Entry) (*Entry, error) {
	if !bytes.HasPrefix(be.Key, filesPrefix) {
		return nil, fmt.Errorf("%w: key %q outside files", ErrDecode, be.Key)
	}
	e, err := DecodeValue(be.Value)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", be.Key[len(filesPrefix):], err)
	}
	e.Key = string(be.Key[len(filesPrefix):])
	e.Seq = be.Seq
	return e, nil
}

// ErrSymlinkLoop reports a chain of more than 16 symlinks.
var ErrSymlinkLoop = errors.New("hyperdrive: too many levels of symlinks")

// EntryFollow returns the entry at path, following symlinks up to 16
// times, as hyperdrive's entry(name, { follow: true }). A relative target
// resolves against the link's own key taken as a folder, as in JS: "../b"
// at "/a/link" is "/a/b".
func (d *Drive) EntryFollow(ctx context.Context, path string) (*Entry, error) {
	for range 16 {
		e, err := d.Entry(ctx, path)
		if err != nil || e == nil || !e.IsSymlink() {
			return e, err
		}
		if path, err = Resolve(e.Key, e.Linkname); err != nil {
			return nil, err
		}
	}
	return nil, ErrSymlinkLoop
}

// Has reports whether the content of the file at path is stored locally
// (every block of its blob), so reading it needs no peer. A missing file or
// a symlink has no content: false.
func (d *Drive) Has(ctx context.Context, path string) (bool, error) {
	e, err := d.Entry(ctx, path)
	if err != nil || e == nil || e.Blob == nil {
		return false, err
	}
	b, err := d.Blobs(ctx)
	if err != nil {
		return false, err
	}
	return b.Has(*e.Blob), nil
}

// Clear removes the content of the file at path from local storage (the
// entry stays; the blocks can be fetched and verified again).
func (d *Drive) Clear(ctx context.Context, path string) error {
	e, err := d.Entry(ctx, path)
	if err != nil || e == nil || e.Blob == nil {
		return err
	}
	b, err := d.Blobs(ctx)
	if err != nil {
		return err
	}
	return b.Clear(ctx, *e.Blob)
}

// Exists reports whether there is an entry at path.
func (d *Drive) Exists(ctx context.Context, path string) (bool, error) {
	e, err := d.Entry(ctx, path)
	return e != nil, err
}

// Get returns the content of the file at path; ErrNotFound if there is no
// file (or it is a symlink). Use NewReader for large files.
func (d *Drive) Get(ctx context.Context, path string) ([]byte, error) {
	e, err := d.Entry(ctx, path)
	if err != nil {
		return nil, err
	}
	if e == nil || e.Blob == nil {
		return nil, ErrNotFound
	}
	b, err := d.Blobs(ctx)
	if err != nil {
		return nil, err
	}
	return b.Get(ctx, *e.Blob)
}

// NewReader opens the file at path for reading, or a range of it (opts
// may be nil). Only the blocks the reads touch are fetched from peers.
func (d *Drive) NewReader(ctx context.Context, path string, opts *hyperblobs.ReadOptions) (*hyperblobs.Reader, error) {
	e, err := d.Entry(ctx, path)
	if err != nil {
		return nil, err
	}
	if e == nil || e.Blob == nil {
		return nil, ErrNotFound
	}
	return d.openEntry(ctx, e, opts)
}

// OpenEntry opens the content of an entry read from this drive (a symlink
// reads as empty). Use NewReader for a range.
func (d *Drive) OpenEntry(ctx context.Context, e *Entry) (io.ReadCloser, error) {
	return d.openEntry(ctx, e, nil)
}

func (d *Drive) openEntry(ctx context.Context, e *Entry, opts *hyperblobs.ReadOptions) (*hyperblobs.Reader, error) {
	b, err := d.Blobs(ctx)
	if err != nil {
		return nil, err
	}
	id := hyperblobs.ID{}
	if e.Blob != nil {
		id = *e.Blob
	}
	return b.NewReader(ctx, id, opts), nil
}

// folderRange is hyperdrive's prefixRange: the keys below folder (a
// normalized folder, "" for the root) that sort after folder+after.
func folderRange(folder, after string) hyperbee.Range {
	return hyperbee.Range{
		GT: fileKey(folder + after),
		LT: fileKey(folder + "0"), // '0' is the byte after '/'
	}
}

// List iterates the entries under folder in key order: every file below it
// when recursive, else one entry per name directly in folder, which for a
// sub-folder is the first entry inside it (as hyperdrive's list with
// recursive: false).
func (d *Drive) List(ctx context.Context, folder string, recursive bool) iter.Seq2[*Entry, error] {
	return func(yield func(*Entry, error) bool) {
		f, err := normalizeFolder(folder)
		if err != nil {
			yield(nil, err)
			return
		}
		if !recursive {
			for _, e := range d.shallow(ctx, f) {
				if !yield(e.entry, e.err) || e.err != nil {
					return
				}
			}
			return
		}
		for be, err := range d.bee.Range(ctx, folderRange(f, "/")) {
			var e *Entry
			if err == nil {
				e, err = toEntry(be)
			}
			if !yield(e, err) || err != nil {
				return
			}
		}
	}
}

// Readdir iterates the names directly in folder: files and sub-folders,
// in order, each once.
func (d *Drive) Readdir(ctx context.Context, folder string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		f, err := normalizeFolder(folder)
		if err != nil {
			yield("", err)
			return
		}
		for name, e := range d.shallow(ctx, f) {
			if !yield(name, e.err) || e.err != nil {
				return
			}
		}
	}
}

type shallowItem struct {
	entry *Entry
	err   error
}

// shallow walks the names in folder by peeking the first key after each
// name, as hyperdrive's shallowReadStream.
func (d *Drive) shallow(ctx context.Context, folder string) iter.Seq2[string, shallowItem] {
	return func(yield func(string, shallowItem) bool) {
		prev, prevName := "/", ""
		for {
			be, err := d.bee.Peek(ctx, folderRange(folder, prev))
			if err != nil {
				yield("", shallowItem{err: err})
				return
			}
			if be == nil {
				return
			}
			e, err := toEntry(be)
			if err != nil {
				yield("", shallowItem{err: err})
				return
			}
			suffix := e.Key[len(folder)+1:]
			name, _, isDir := cutByte(suffix, '/')
			if isDir {
				prev = "/" + name + "0"
			} else {
				prev = "/" + name
			}
			if name == prevName {
				continue
			}
			prevName = name
			if !yield(name, shallowItem{entry: e}) {
				return
			}
		}
	}
}

func cutByte(s string, c byte) (before, after string, found bool) {
	if i := strings.IndexByte(s, c); i >= 0 {
		return s[:i], s[i+1:], true
	}
	return s, "", false
}

// DiffEntry is one path whose entry differs between two versions: Left is
// the entry in the drive Diff was called on, Right the one at the other
// version; either is nil when the file exists on one side only.
type DiffEntry struct {
	Key         string
	Left, Right *Entry
}

// Diff iterates, in key order, the files under folder that differ between
// this drive and its version (hyperdrive's diff(version, folder)). Subtrees
// both versions share are skipped without being read.
func (d *Drive) Diff(ctx context.Context, version uint64, folder string) iter.Seq2[DiffEntry, error] {
	return func(yield func(DiffEntry, error) bool) {
		f, err := normalizeFolder(folder)
		if err != nil {
			yield(DiffEntry{}, err)
			return
		}
		for de, err := range d.bee.Diff(ctx, d.bee.Checkout(version), folderRange(f, "/")) {
			var out DiffEntry
			if err == nil && de.Left != nil {
				out.Left, err = toEntry(de.Left)
			}
			if err == nil && de.Right != nil {
				out.Right, err = toEntry(de.Right)
			}
			if out.Left != nil {
				out.Key = out.Left.Key
			} else if out.Right != nil {
				out.Key = out.Right.Key
			}
			if !yield(out, err) || err != nil {
				return
			}
		}
	}
}

// Change is a step seen by Watch: read-only checkouts before and after.
type Change struct {
	Previous, Current *Drive
}

// Watch yields a Change each time files under folder change (several
// writes may fold into one change). It runs until ctx ends, then stops
// without an error.
func (d *Drive) Watch(ctx context.Context, folder string) iter.Seq2[Change, error] {
	return func(yield func(Change, error) bool) {
		f, err := normalizeFolder(folder)
		if err != nil {
			yield(Change{}, err)
			return
		}
		for c, err := range d.bee.Watch(ctx, folderRange(f, "/")) {
			var ch Change
			if err == nil {
				ch = Change{
					Previous: &Drive{root: d.root, bee: c.Previous},
					Current:  &Drive{root: d.root, bee: c.Current},
				}
			}
			if !yield(ch, err) || err != nil {
				return
			}
		}
	}
}

// Download fetches from peers, and stores, the entries and file contents
// under folder (or the one file at that path), waiting until all is stored
// or ctx ends. Runs of consecutive blobs are fetched as one range.
func (d *Drive) Download(ctx context.Context, folder string) error {
	b, err := d.Blobs(ctx)
	if err != nil {
		return err
	}
	type span struct{ start, end uint64 }
	var spans []span
	add := func(e *Entry) {
		if e.Blob == nil || e.Blob.BlockLength == 0 {
			return
		}
		spans = append(spans, span{e.Blob.BlockOffset, e.Blob.End()})
	}
	var mapped []*Entry
	if p, err := Normalize(folder); err == nil {
		if e, err := d.Entry(ctx, p); err != nil {
			return err
		} else if e != nil {
			if e.Blob != nil && e.Blob.BlockMap {
				mapped = append(mapped, e)
			} else {
				add(e)
			}
		}
	}
	for e, err := range d.List(ctx, folder, true) {
		if err != nil {
			return err
		}
		if e.Blob != nil && e.Blob.BlockMap {
			mapped = append(mapped, e)
			continue
		}
		add(e)
	}
	// Merge overlapping and touching ranges: files written one after
	// another sit in one run of blocks.
	sort.Slice(spans, func(i, j int) bool { return spans[i].start < spans[j].start })
	merged := spans[:0]
	for _, s := range spans {
		if n := len(merged); n > 0 && s.start <= merged[n-1].end {
			merged[n-1].end = max(merged[n-1].end, s.end)
			continue
		}
		merged = append(merged, s)
	}
	for _, s := range merged {
		if s.end > s.start {
			if err := b.Core().Download(ctx, s.start, s.end); err != nil {
				return err
			}
		}
	}
	for _, e := range mapped {
		if err := b.Download(ctx, *e.Blob); err != nil {
			return err
		}
	}
	return nil
}
