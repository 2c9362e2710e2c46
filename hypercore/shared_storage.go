package hypercore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/warrenp2p/warren/internal/flock"
)

// Errors of a shared Storage.
var (
	// ErrAlreadyOpen is returned by Storage.Open for a core that is open.
	ErrAlreadyOpen = errors.New("hypercore: core is already open in this storage")
	// ErrStorageClosed is returned by Storage methods after Close.
	ErrStorageClosed = errors.New("hypercore: storage is closed")
	// ErrBadID is returned for an empty or over-long core id.
	ErrBadID = errors.New("hypercore: core id must be 1 to 255 bytes")
)

// Storage is one pebble database holding the index records of many cores,
// each under a key prefix of its own, while each core keeps its blocks in
// a data file of its own. A corestore opens one Storage for all its cores:
// one write-ahead log, one memtable and one set of background compactions
// instead of one per core. A core opened with the package-level Open has a
// database of its own instead.
//
// The durability of every write is that of Open's (see Options.Sync), set
// for the whole Storage by StorageOptions.Sync.
type Storage struct {
	db   *pebble.DB
	lock *os.File
	sync bool

	mu     sync.Mutex
	open   map[string]bool // ids of open cores
	closed bool
}

// StorageOptions configure OpenStorage. The zero value leaves writes in the
// kernel without fsync, as Options does.
type StorageOptions struct {
	// Sync fsyncs every write (see Options.Sync).
	Sync bool
}

// OpenStorage opens (or creates) the shared database in dir. Only one
// OpenStorage of a directory can be live at a time (ErrLocked).
func OpenStorage(dir string, opts StorageOptions) (*Storage, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	lockPath := filepath.Join(dir, "STORAGE.lock")
	lock, err := flock.Lock(lockPath)
	if err != nil {
		if errors.Is(err, flock.ErrLocked) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, lockPath)
		}
		return nil, err
	}
	db, err := pebble.Open(filepath.Join(dir, "db"), storeOptions(opts.Sync))
	if err != nil {
		lock.Close()
		return nil, err
	}
	return &Storage{db: db, lock: lock, sync: opts.Sync, open: map[string]bool{}}, nil
}

// corePrefix is the key prefix of the core id: a byte no record kind uses,
// the id's length and the id, so that no prefix is another's prefix.
func corePrefix(id []byte) ([]byte, error) {
	if len(id) == 0 || len(id) > 255 {
		return nil, ErrBadID
	}
	p := make([]byte, 0, 2+len(id))
	p = append(p, 'c', byte(len(id)))
	return append(p, id...), nil
}

// Open opens the core stored under id (any stable name of up to 255
// bytes; a corestore uses the discovery key), creating it as opts says
// when none is stored. Its blocks live in the file "blocks" in dataDir.
// opts.Sync is ignored: the Storage decides. Only one Open of an id can be
// live at a time (ErrAlreadyOpen); the core releases it on Close.
func (s *Storage) Open(id []byte, dataDir string, opts Options) (*Core, error) {
	pfx, err := corePrefix(id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, ErrStorageClosed
	}
	if s.open[string(id)] {
		s.mu.Unlock()
		return nil, ErrAlreadyOpen
	}
	s.open[string(id)] = true
	s.mu.Unlock()
	st, err := s.openStore(pfx, id, dataDir)
	if err == nil {
		var c *Core
		if c, err = open(st, opts); err == nil {
			return c, nil
		}
		st.close()
		return nil, err
	}
	s.release(id)
	return nil, err
}

func (s *Storage) openStore(pfx, id []byte, dataDir string) (*store, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	data, err := os.OpenFile(filepath.Join(dataDir, "blocks"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	st := &store{db: s.db, pfx: pfx, data: data, wo: pebble.Sync, sync: s.sync, shared: s, id: string(id)}
	if fi, err := data.Stat(); err == nil {
		st.allocated = fi.Size()
	}
	return st, nil
}

// release forgets the open core id and, once the last core of a closed
// Storage is gone, closes the database.
func (s *Storage) release(id []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.open, string(id))
	if s.closed && len(s.open) == 0 {
		return s.closeLocked()
	}
	return nil
}

func (s *Storage) closeLocked() error {
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	if e := s.lock.Close(); err == nil {
		err = e
	}
	s.db = nil
	return err
}

// Has reports whether a core is stored under id.
func (s *Storage) Has(id []byte) (bool, error) {
	pfx, err := corePrefix(id)
	if err != nil {
		return false, err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return false, ErrStorageClosed
	}
	st := &store{db: s.db, pfx: pfx}
	_, ok, err := st.get(st.key(keyAuth))
	return ok, err
}

// Close closes the storage: no core can be opened from it any more, and
// the database and the directory are released once the cores still open
// are closed (at once if none is).
func (s *Storage) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if len(s.open) > 0 {
		return nil
	}
	return s.closeLocked()
}
