// Package corestore manages many hypercores under one primary key: the Go
// counterpart of npm corestore 7.
//
// A core is named by a string within a namespace; its key pair is derived
// from the store's primary key, the namespace and the name exactly as
// corestore derives it, so the same primary key gives the same cores in Go
// and in JS. Named cores use the default version 1 manifest (one signer), as
// corestore does; corestore never makes compat cores.
//
// On disk a store is one directory: the primary key file, a lock file that
// keeps a second process out, one pebble database under storage/ holding
// the records of every core (a hypercore.Storage, each core under its
// discovery key), and under cores/ one directory per core named by the hex
// discovery key with the core's block data. (A core directory holding a
// database of its own, as stores written before the shared database have,
// is still opened on its own.)
//
// Store.Replicate carries every core opened with Get over one protomux
// stream and opens a stored core when the remote asks for its discovery key.
// Such an on-demand core is sparse, as in corestore, where it is opened with
// no session and so never starts a download: it answers the remote's
// requests, takes the upgrades it is offered (so it knows the latest length)
// and downloads no block until a Get asks for it. Its syncs say it is not
// downloading, so its channel closes when the remote is not downloading
// either. It replicates only on the streams whose remote asked for it, and
// the store closes it once no stream has used it for a few seconds, unless
// a Get has opened it meanwhile. At most 1024 on-demand cores are open at a
// time; a remote asking for more is refused until some close.
package corestore

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/hypercore"
	"github.com/warrenp2p/warren/internal/flock"
)

// Errors of the store.
var (
	ErrClosed             = errors.New("corestore: store is closed")
	ErrLocked             = errors.New("corestore: store directory is locked by another process")
	ErrCorrupt            = errors.New("corestore: corrupt stored record")
	ErrPrimaryKeyMismatch = errors.New("corestore: another corestore is stored here")
	ErrPrimaryKey         = errors.New("corestore: primary key must be 32 bytes")
	ErrNoKey              = errors.New("corestore: get needs a name, key, key pair, manifest or discovery key")
	ErrNotFound           = errors.New("corestore: no such core stored")
	// ErrEncryptionMismatch is returned by Get with an EncryptionKey for a
	// core the store already has open without one (for instance opened on
	// demand for a replication peer): its blocks would read back encrypted.
	ErrEncryptionMismatch = errors.New("corestore: core is already open without encryption")
)

// Options configure Open. The zero value opens (or creates with a random
// primary key) the store in the directory.
type Options struct {
	// PrimaryKey is the 32-byte primary key a new store is created with;
	// an existing store must hold the same one (ErrPrimaryKeyMismatch).
	// Every named core's secret key derives from it: handle it as a secret.
	PrimaryKey []byte
	// Sync fsyncs every write of every core (hypercore.Options.Sync); by
	// default writes are safe against a killed process, not power loss.
	Sync bool
}

// GetOptions say which core Get opens. Name, KeyPair and Manifest give a
// writable core; Key or DiscoveryKey alone a read-only one.
type GetOptions struct {
	// Name derives the key pair from the primary key and the store's
	// namespace.
	Name string
	// Key is the core key (checked against the derived one if both given).
	Key []byte
	// KeyPair signs the core.
	KeyPair *crypto.KeyPair
	// Manifest replaces the default version 1 manifest of the key pair.
	Manifest *hypercore.Manifest
	// DiscoveryKey opens a stored core by discovery key only.
	DiscoveryKey []byte
	// EncryptionKey turns on block encryption (see hypercore.Options); it
	// applies when Get is the first to open the core.
	EncryptionKey []byte
	// Sparse makes the core download only what is asked for (Get with
	// Wait, Download). A core downloads everything its peers have once any
	// Get without Sparse has asked for it, even if it was open sparse
	// before (opened on demand for a remote, or by a sparse Get).
	Sparse bool
	// NoCreate makes Get fail with ErrNotFound for a core not stored yet.
	NoCreate bool
}

// Store is a corestore, or a namespaced view of one (Namespace). Views
// share storage, open cores and replication streams.
type Store struct {
	r  *root
	ns [32]byte
}

// root is the state every view of a store shares.
type root struct {
	dir    string
	opts   Options
	lock   *os.File
	st     *hypercore.Storage
	pk     [32]byte
	mu     sync.Mutex
	closed bool
	cores  map[[32]byte]*hypercore.Core
	reps   map[*Replication]struct{}

	// demand holds the idle strikes of each core opened on demand for a
	// remote that no Get has asked for: sparse, replicated only where the
	// remote asked, closed after idleStrikes sweeps without a live peer.
	demand map[[32]byte]int
	// idleTick is the sweep interval (tests shorten it); maxDemand bounds
	// len(demand).
	idleTick  time.Duration
	maxDemand int
	// sweepStop ends the running sweeper (nil when none runs); sweepers
	// counts the sweeper goroutines, which Close waits for.
	sweepStop chan struct{}
	sweepers  sync.WaitGroup
}

// Defaults of the on-demand cores: corestore's idle cores are closed by a
// 2-second sweep on the fourth strike, 4 to 6 seconds after they idle.
const (
	defaultIdleTick  = 2 * time.Second
	idleStrikes      = 3
	defaultMaxDemand = 1024
)

// Open opens the store in dir, creating it if needed. Only one Open of a
// directory can be live at a time (ErrLocked).
func Open(dir string, opts *Options) (*Store, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.PrimaryKey != nil && len(o.PrimaryKey) != 32 {
		return nil, ErrPrimaryKey
	}
	if err := os.MkdirAll(filepath.Join(dir, "cores"), 0o700); err != nil {
		return nil, err
	}
	lockPath := filepath.Join(dir, "STORE.lock")
	lock, err := flock.Lock(lockPath)
	if err != nil {
		if errors.Is(err, flock.ErrLocked) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, lockPath)
		}
		return nil, err
	}
	pk, err := loadOrCreatePrimaryKey(dir, o.PrimaryKey, func() []byte { return crypto.RandomBytes(32) })
	if err != nil {
		lock.Close()
		return nil, err
	}
	st, err := hypercore.OpenStorage(filepath.Join(dir, "storage"), hypercore.StorageOptions{Sync: o.Sync})
	if err != nil {
		lock.Close()
		if errors.Is(err, hypercore.ErrLocked) {
			// Sessions of a closed Store in this process still use it.
			err = fmt.Errorf("%w: %v", ErrLocked, err)
		}
		return nil, err
	}
	r := &root{
		dir: dir, opts: o, lock: lock, st: st, pk: pk,
		cores:     map[[32]byte]*hypercore.Core{},
		reps:      map[*Replication]struct{}{},
		demand:    map[[32]byte]int{},
		idleTick:  defaultIdleTick,
		maxDemand: defaultMaxDemand,
	}
	return &Store{r: r}, nil
}

// PrimaryKey returns a copy of the store's primary key.
func (s *Store) PrimaryKey() []byte { return append([]byte(nil), s.r.pk[:]...) }

// NamespaceKey returns the 32-byte namespace of this view.
func (s *Store) NamespaceKey() [32]byte { return s.ns }

// Namespace returns a view of the store whose names live in the namespace
// name within this view's namespace, as corestore's namespace(name).
func (s *Store) Namespace(name string) *Store {
	return &Store{r: s.r, ns: DeriveNamespace(s.ns, name)}
}

// KeyPair returns the key pair Get gives the core called name in this view.
func (s *Store) KeyPair(name string) (crypto.KeyPair, error) {
	return DeriveKeyPair(s.r.pk[:], s.ns, name)
}

// coreDir is the directory of the core with discovery key dk.
func (r *root) coreDir(dk [32]byte) string {
	return filepath.Join(r.dir, "cores", hex.EncodeToString(dk[:]))
}

// stored reports whether a core with discovery key dk is on disk.
func (r *root) stored(dk [32]byte) bool {
	if r.ownDB(dk) {
		return true
	}
	ok, err := r.st.Has(dk[:])
	return err == nil && ok
}

// ownDB reports whether the core dk has a database of its own (a store
// written before the shared database).
func (r *root) ownDB(dk [32]byte) bool {
	_, err := os.Stat(filepath.Join(r.coreDir(dk), "db"))
	return err == nil
}

// openCore opens the core with discovery key dk: in the shared storage,
// or on its own if it has a database of its own. r.mu is held.
func (r *root) openCore(dk [32]byte, ho hypercore.Options) (*hypercore.Core, error) {
	ho.Sync = r.opts.Sync
	if r.ownDB(dk) {
		return hypercore.Open(r.coreDir(dk), ho)
	}
	return r.st.Open(dk[:], r.coreDir(dk), ho)
}

// resolve turns GetOptions into the discovery key and hypercore options of
// the core, as corestore's _auth does.
func (s *Store) resolve(o GetOptions) ([32]byte, hypercore.Options, error) {
	var dk [32]byte
	ho := hypercore.Options{
		EncryptionKey: o.EncryptionKey,
		Sparse:        o.Sparse,
		NoCreate:      o.NoCreate,
	}
	kp := o.KeyPair
	if o.Name != "" {
		k, err := s.KeyPair(o.Name)
		if err != nil {
			return dk, ho, err
		}
		kp = &k
	}
	m := o.Manifest
	if m == nil && kp != nil {
		m = hypercore.DefaultManifest(kp.PublicKey)
	}
	var key []byte
	switch {
	case o.Key != nil:
		if len(o.Key) != 32 {
			return dk, ho, fmt.Errorf("corestore: key must be 32 bytes")
		}
		key = append([]byte(nil), o.Key...)
	case m != nil:
		h := m.Hash()
		key = h[:]
	}
	switch {
	case key != nil:
		dk = crypto.DiscoveryKey([32]byte(key))
	case o.DiscoveryKey != nil:
		if len(o.DiscoveryKey) != 32 {
			return dk, ho, fmt.Errorf("corestore: discovery key must be 32 bytes")
		}
		dk = [32]byte(o.DiscoveryKey)
		ho.NoCreate = true
	default:
		return dk, ho, ErrNoKey
	}
	ho.KeyPair, ho.Key, ho.Manifest = kp, key, m
	return dk, ho, nil
}

// Get opens the core o describes, creating it unless o.NoCreate, and returns
// a new session on it: close the session when done; the store keeps the core
// open (and replicating) until Store.Close. ctx is checked before the work.
func (s *Store) Get(ctx context.Context, o GetOptions) (*hypercore.Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	dk, ho, err := s.resolve(o)
	if err != nil {
		return nil, err
	}
	r := s.r
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	c := r.cores[dk]
	if c == nil {
		if ho.NoCreate && !r.stored(dk) {
			return nil, ErrNotFound
		}
		c, err = r.openCore(dk, ho)
		if err != nil {
			if errors.Is(err, hypercore.ErrNotFound) {
				err = ErrNotFound
			}
			return nil, err
		}
		r.cores[dk] = c
		for rep := range r.reps {
			rep.attachLocked(c)
		}
	} else if ho.Key != nil && c.Key() != [32]byte(ho.Key) {
		return nil, hypercore.ErrKeyMismatch
	} else if ho.EncryptionKey != nil && !c.Info().Encrypted {
		return nil, ErrEncryptionMismatch
	}
	if _, ok := r.demand[dk]; ok {
		// Opened on demand for a remote: now the store keeps it, and
		// offers it on every stream (again, where an idle channel was
		// closed), as a core opened by Get.
		delete(r.demand, dk)
		c.SetDownloading(true)
		for rep := range r.reps {
			rep.attachLocked(c)
		}
	}
	if !ho.Sparse {
		c.SetSparse(false)
	}
	return c.Session()
}

// openOnDemandLocked opens the stored core dk for a remote that asked for
// it: sparse, and closed again once idle (see sweep). It returns nil when
// the store does not hold dk, when maxDemand on-demand cores are open
// already, or when the core does not open. r.mu is held.
func (r *root) openOnDemandLocked(dk [32]byte) *hypercore.Core {
	if r.closed || len(r.demand) >= r.maxDemand || !r.stored(dk) {
		return nil
	}
	c, err := r.openCore(dk, hypercore.Options{NoCreate: true, Sparse: true})
	if err != nil {
		return nil
	}
	if c.DiscoveryKey() != dk {
		c.Close()
		return nil
	}
	// No session: the core tells peers it is not downloading.
	c.SetDownloading(false)
	r.cores[dk] = c
	r.demand[dk] = 0
	if r.sweepStop == nil {
		stop := make(chan struct{})
		r.sweepStop = stop
		r.sweepers.Add(1)
		go r.sweep(stop, r.idleTick)
	}
	return c
}

// onDemandLocked reports whether the open core dk was opened on demand and
// no Get has asked for it since. r.mu is held.
func (r *root) onDemandLocked(dk [32]byte) bool {
	_, ok := r.demand[dk]
	return ok
}

// sweep closes the on-demand cores no stream uses, every tick, until none
// is left or stop is closed.
func (r *root) sweep(stop chan struct{}, tick time.Duration) {
	defer r.sweepers.Done()
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if !r.sweepOnce(stop) {
			return
		}
	}
}

// sweepOnce gives each idle on-demand core a strike, closing those that
// reach idleStrikes. It reports whether the sweeper should go on.
func (r *root) sweepOnce(stop chan struct{}) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.sweepStop != stop {
		return false
	}
	for dk, strikes := range r.demand {
		if r.inUseLocked(dk) {
			r.demand[dk] = 0
			continue
		}
		if strikes+1 < idleStrikes {
			r.demand[dk] = strikes + 1
			continue
		}
		delete(r.demand, dk)
		if c := r.cores[dk]; c != nil {
			delete(r.cores, dk)
			c.Close()
		}
		// Their ended peers go too, so a stream that outlives many
		// on-demand cores does not keep them.
		for rep := range r.reps {
			rep.mu.Lock()
			delete(rep.peers, dk)
			rep.mu.Unlock()
		}
	}
	if len(r.demand) == 0 {
		r.sweepStop = nil
		return false
	}
	return true
}

// inUseLocked reports whether a stream of the store replicates core dk
// with a live peer. r.mu is held.
func (r *root) inUseLocked(dk [32]byte) bool {
	for rep := range r.reps {
		if p := rep.Peer(dk); p != nil {
			select {
			case <-p.Done():
			default:
				return true
			}
		}
	}
	return false
}

// Close closes every core, ends the replication streams the store created
// (and detaches from muxes given to ReplicateMux) and releases the
// directory. On a Namespace view it does the same for the whole store.
// Sessions returned by Get that are still open keep their core's directory
// open until they are closed.
func (s *Store) Close() error {
	r := s.r
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	reps := make([]*Replication, 0, len(r.reps))
	for rep := range r.reps {
		reps = append(reps, rep)
	}
	if r.sweepStop != nil {
		close(r.sweepStop)
		r.sweepStop = nil
	}
	r.mu.Unlock()
	r.sweepers.Wait()
	for _, rep := range reps {
		rep.Close()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for dk, c := range r.cores {
		errs = append(errs, c.Close())
		delete(r.cores, dk)
	}
	clear(r.demand)
	// The storage closes its database when the last open session ends.
	errs = append(errs, r.st.Close())
	errs = append(errs, r.lock.Close())
	return errors.Join(errs...)
}

// List returns the discovery keys of every core stored, open or not, in no
// particular order (corestore's list, without the namespace filter: names
// are not stored).
func (s *Store) List() ([][32]byte, error) {
	entries, err := os.ReadDir(filepath.Join(s.r.dir, "cores"))
	if err != nil {
		return nil, err
	}
	var out [][32]byte
	for _, e := range entries {
		dk, ok := parseCoreDir(e.Name())
		if ok && e.IsDir() && s.r.stored(dk) {
			out = append(out, dk)
		}
	}
	return out, nil
}

// parseCoreDir parses the name of a core directory: the lower-case hex of a
// discovery key. Anything else under cores/ is ignored.
func parseCoreDir(name string) ([32]byte, bool) {
	var dk [32]byte
	if len(name) != 64 {
		return dk, false
	}
	n, err := hex.Decode(dk[:], []byte(name))
	if err != nil || n != 32 || hex.EncodeToString(dk[:]) != name {
		return dk, false
	}
	return dk, true
}
