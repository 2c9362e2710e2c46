package hyperdrive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/warrenp2p/warren/hyperblobs"
)

// ErrUnsafePath reports a local write whose parent folder is a symlink:
// following it could write outside the folder, so LocalDir refuses.
var ErrUnsafePath = errors.New("hyperdrive: path goes through a symlink")

// tmpMarker is in the names of LocalDir's temporary files; List skips them.
const tmpMarker = ".warren-tmp"

// LocalDir is a folder on disk seen as a drive, as localdrive sees it:
// keys are paths below the folder, regular files and symlinks are entries
// (directories are not), a file is executable when its owner may execute
// it. It is what Mirror copies to and from.
//
// Writes are atomic: a file is written to a temporary file beside it,
// synced, then renamed over the old one, so an interrupted mirror leaves
// either the old file or the new one, never a mix. Symlinks whose targets
// start with "/" point into the folder ("/a" becomes <root>/a on disk, and
// reads back as "/a"); a write through a symlinked parent folder fails with
// ErrUnsafePath. Metadata is not stored.
type LocalDir struct {
	root string

	// NoSync skips the fsync of each file before its rename. A killed
	// process still never leaves a partly written file (the rename is
	// atomic), but after a power loss or kernel crash a file written just
	// before may read back empty. Mirroring many small files is several
	// times faster without the fsyncs.
	NoSync bool
}

func (l *LocalDir) sync(f *os.File) error {
	if l.NoSync {
		return nil
	}
	return f.Sync()
}

// NewLocalDir returns the folder at root (made absolute; it need not exist
// yet: writes create it).
func NewLocalDir(root string) (*LocalDir, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	return &LocalDir{root: abs}, nil
}

// Root returns the folder's absolute path.
func (l *LocalDir) Root() string { return l.root }

// ToPath returns the file on disk for key.
func (l *LocalDir) ToPath(key string) (string, error) {
	k, err := Resolve("/", key)
	if err != nil {
		return "", err
	}
	return filepath.Join(l.root, filepath.FromSlash(k)), nil
}

// Entry returns the entry for the file or symlink at key, nil when there is
// none (or key is a folder).
func (l *LocalDir) Entry(ctx context.Context, key string) (*Entry, error) {
	k, err := Normalize(key)
	if err != nil {
		return nil, err
	}
	return l.entry(k)
}

func (l *LocalDir) entry(k string) (*Entry, error) {
	full := filepath.Join(l.root, filepath.FromSlash(k))
	st, err := os.Lstat(full)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) {
			return nil, nil
		}
		return nil, err
	}
	e := &Entry{Key: k, Mtime: st.ModTime()}
	switch {
	case st.Mode()&fs.ModeSymlink != 0:
		link, err := os.Readlink(full)
		if err != nil {
			return nil, err
		}
		link = filepath.ToSlash(link)
		root := filepath.ToSlash(l.root)
		if strings.HasPrefix(link, root+"/") || link == root {
			link = link[len(root):]
			if !strings.HasPrefix(link, "/") {
				link = "/" + link
			}
		}
		e.Linkname = link
		return e, nil
	case st.Mode().IsRegular():
		e.Executable = st.Mode()&0o100 != 0
		e.Blob = &hyperblobs.ID{ByteLength: uint64(st.Size()), BlockLength: blocksOf(st)}
		return e, nil
	}
	return nil, nil
}

// List iterates the files and symlinks below folder, in name order
// (recursive descends into sub-folders; symlinked folders are not
// followed).
func (l *LocalDir) List(ctx context.Context, folder string, recursive bool) iter.Seq2[*Entry, error] {
	return func(yield func(*Entry, error) bool) {
		f, err := normalizeFolder(folder)
		if err != nil {
			yield(nil, err)
			return
		}
		l.walk(ctx, f, recursive, yield)
	}
}

func (l *LocalDir) walk(ctx context.Context, folder string, recursive bool, yield func(*Entry, error) bool) bool {
	if err := ctx.Err(); err != nil {
		return yield(nil, err)
	}
	ents, err := os.ReadDir(filepath.Join(l.root, filepath.FromSlash(folder)))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, errNotDir) {
			return true
		}
		return yield(nil, err)
	}
	for _, de := range ents {
		name := de.Name()
		if strings.Contains(name, tmpMarker) {
			continue
		}
		key := folder + "/" + name
		if de.IsDir() {
			if recursive && !l.walk(ctx, key, recursive, yield) {
				return false
			}
			continue
		}
		e, err := l.entry(key)
		if err != nil {
			return yield(nil, err)
		}
		if e != nil && !yield(e, nil) {
			return false
		}
	}
	return true
}

// OpenEntry opens the content of an entry of this folder.
func (l *LocalDir) OpenEntry(ctx context.Context, e *Entry) (io.ReadCloser, error) {
	full, err := l.ToPath(e.Key)
	if err != nil {
		return nil, err
	}
	return os.Open(full)
}

// checkParents makes the folders holding key and refuses parents that are
// symlinks (or not folders).
func (l *LocalDir) checkParents(key string) (string, error) {
	full := filepath.Join(l.root, filepath.FromSlash(key))
	if err := os.MkdirAll(l.root, 0o755); err != nil {
		return "", err
	}
	dir := l.root
	parts := strings.Split(strings.TrimPrefix(key, "/"), "/")
	for _, p := range parts[:len(parts)-1] {
		dir = filepath.Join(dir, p)
		st, err := os.Lstat(dir)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return "", err
			}
			continue
		case err != nil:
			return "", err
		case st.Mode()&fs.ModeSymlink != 0:
			return "", fmt.Errorf("%w: %s", ErrUnsafePath, key)
		case !st.IsDir():
			return "", fmt.Errorf("hyperdrive: %s: parent %s is a file", key, dir)
		}
	}
	return full, nil
}

// PutReader writes r as the file at key, atomically (temporary file,
// fsync unless NoSync, rename). On any error, including ctx ending or r failing, the
// old file is left as it was.
func (l *LocalDir) PutReader(ctx context.Context, key string, r io.Reader, opts *PutOptions) error {
	k, err := Normalize(key)
	if err != nil {
		return err
	}
	full, err := l.checkParents(k)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(full), "."+filepath.Base(full)+".*"+tmpMarker)
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := io.Copy(tmp, ctxReader{ctx, r}); err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if opts != nil && opts.Executable {
		mode = 0o755
	}
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if err := l.sync(tmp); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), full); err != nil {
		return err
	}
	ok = true
	return nil
}

// Put writes data as the file at key (see PutReader).
func (l *LocalDir) Put(ctx context.Context, key string, data []byte, opts *PutOptions) error {
	return l.PutReader(ctx, key, bytes.NewReader(data), opts)
}

// Symlink makes key a symlink to target, replacing what was there
// atomically. A target starting with "/" is taken inside the folder.
func (l *LocalDir) Symlink(ctx context.Context, key, target string, _ *PutOptions) error {
	k, err := Normalize(key)
	if err != nil {
		return err
	}
	if target == "" {
		return fmt.Errorf("%w: empty symlink target", ErrInvalidPath)
	}
	full, err := l.checkParents(k)
	if err != nil {
		return err
	}
	dst := filepath.FromSlash(target)
	if strings.HasPrefix(target, "/") {
		if dst, err = l.ToPath(target); err != nil {
			return err
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(full), "."+filepath.Base(full)+".*"+tmpMarker)
	if err != nil {
		return err
	}
	name := tmp.Name()
	tmp.Close()
	os.Remove(name)
	if err := os.Symlink(dst, name); err != nil {
		return err
	}
	if err := os.Rename(name, full); err != nil {
		os.Remove(name)
		return err
	}
	return nil
}

// Del removes the file or symlink at key (a missing one is not an error)
// and then the folders it leaves empty, up to the root.
func (l *LocalDir) Del(ctx context.Context, key string) error {
	k, err := Normalize(key)
	if err != nil {
		return err
	}
	full := filepath.Join(l.root, filepath.FromSlash(k))
	if st, err := os.Lstat(full); err == nil && st.IsDir() {
		return nil
	}
	if err := os.Remove(full); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	for dir := filepath.Dir(full); dir != l.root && strings.HasPrefix(dir, l.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break
		}
	}
	return nil
}

// ctxReader stops a copy when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

var errNotDir = syscall.ENOTDIR

// blocksOf is the size in 512-byte blocks, what localdrive records as a
// local file's blockLength (the real allocation is not portable).
func blocksOf(st fs.FileInfo) uint64 { return (uint64(st.Size()) + 511) / 512 }
