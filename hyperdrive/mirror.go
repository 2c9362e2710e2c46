package hyperdrive

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"iter"
	"reflect"
	"strings"
)

// FS is one side of a Mirror: a *Drive or a *LocalDir.
type FS interface {
	// Entry returns the entry at key, nil if there is none.
	Entry(ctx context.Context, key string) (*Entry, error)
	// List iterates the entries below folder.
	List(ctx context.Context, folder string, recursive bool) iter.Seq2[*Entry, error]
	// OpenEntry opens an entry's content.
	OpenEntry(ctx context.Context, e *Entry) (io.ReadCloser, error)
	// PutReader writes a file.
	PutReader(ctx context.Context, key string, r io.Reader, opts *PutOptions) error
	// Symlink writes a symlink.
	Symlink(ctx context.Context, key, target string, opts *PutOptions) error
	// Del deletes a file.
	Del(ctx context.Context, key string) error
}

var (
	_ FS = (*Drive)(nil)
	_ FS = (*LocalDir)(nil)
)

// MirrorOptions tune Mirror. The zero value mirrors everything and deletes
// nothing.
type MirrorOptions struct {
	// Prefix is the folder (or file) mirrored; "" means "/".
	Prefix string
	// Prune deletes from the destination the files under Prefix that the
	// source lacks. (mirror-drive prunes by default; here it is opt-in so a
	// mirror into a local folder never deletes unless asked.)
	Prune bool
	// DryRun counts and reports without writing.
	DryRun bool
	// Filter, when set, skips keys for which it returns false.
	Filter func(key string) bool
	// Ignore lists paths skipped with everything below them.
	Ignore []string
	// Report, when set, is called for each change before it is made.
	Report func(MirrorOp)
	// NoPreload turns off prefetching. By default, when src has a
	// Download(ctx, folder) method (a *Drive does) and no Filter is set,
	// Mirror downloads everything under Prefix in the background while it
	// compares and copies, as mirror-drive preloads, instead of fetching
	// one file at a time.
	NoPreload bool
}

// downloader is a source that can prefetch a folder (a *Drive).
type downloader interface {
	Download(ctx context.Context, folder string) error
}

// MirrorOp is one change Mirror makes: Op is "add", "change" or "remove".
type MirrorOp struct {
	Op           string
	Key          string
	BytesAdded   uint64
	BytesRemoved uint64
}

// MirrorCount counts what Mirror did (mirror-drive's count and bytes).
type MirrorCount struct {
	Files, Add, Remove, Change int
	BytesAdded, BytesRemoved   uint64
}

type sameness int

const (
	same sameness = iota
	differ
	differMeta // same content, other executable bit or metadata
)

// Mirror makes dst hold what src holds under opts.Prefix, as mirror-drive
// does: a file moves only when it is new, its size differs, its content
// differs (compared byte for byte when the sizes match), or its executable
// bit or metadata differ; symlinks are compared by target. When only the
// executable bit or metadata differ and dst is a drive, only the entry is
// rewritten. With Prune, files missing from src are deleted from dst first.
//
// Content read from a drive comes out of hypercore verified, and a LocalDir
// writes each file atomically, so a failed or interrupted mirror leaves no
// partly written file behind.
func Mirror(ctx context.Context, src, dst FS, opts *MirrorOptions) (MirrorCount, error) {
	var o MirrorOptions
	if opts != nil {
		o = *opts
	}
	var c MirrorCount
	if d, ok := dst.(*Drive); ok && !d.Writable() {
		return c, ErrReadOnly
	}
	prefix := o.Prefix
	if prefix == "" {
		prefix = "/"
	}
	if dl, ok := src.(downloader); ok && !o.NoPreload && !o.DryRun && o.Filter == nil {
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			dl.Download(pctx, prefix) // errors show up in the reads
		}()
		defer func() { cancel(); <-done }()
	}
	ignore := ignoreFunc(o.Ignore)
	report := func(op MirrorOp) {
		if o.Report != nil {
			o.Report(op)
		}
	}
	if o.Prune {
		for e, err := range listWithPrefix(ctx, dst, prefix, ignore, nil) {
			if err != nil {
				return c, err
			}
			se, err := src.Entry(ctx, e.Key)
			if err != nil {
				return c, err
			}
			if se != nil {
				continue
			}
			c.Remove++
			c.BytesRemoved += e.Size()
			report(MirrorOp{Op: "remove", Key: e.Key, BytesRemoved: e.Size()})
			if !o.DryRun {
				if err := dst.Del(ctx, e.Key); err != nil {
					return c, err
				}
			}
		}
	}
	for se, err := range listWithPrefix(ctx, src, prefix, ignore, o.Filter) {
		if err != nil {
			return c, err
		}
		c.Files++
		de, err := dst.Entry(ctx, se.Key)
		if err != nil {
			return c, err
		}
		s, err := compareEntries(ctx, src, dst, se, de)
		if err != nil {
			return c, err
		}
		if s == same {
			continue
		}
		dstDrive, _ := dst.(*Drive)
		onlyMeta := s == differMeta && dstDrive != nil
		if de != nil {
			op := MirrorOp{Op: "change", Key: se.Key}
			if !onlyMeta {
				op.BytesRemoved, op.BytesAdded = de.Size(), se.Size()
			}
			c.Change++
			c.BytesAdded += op.BytesAdded
			c.BytesRemoved += op.BytesRemoved
			report(op)
		} else {
			c.Add++
			c.BytesAdded += se.Size()
			report(MirrorOp{Op: "add", Key: se.Key, BytesAdded: se.Size()})
		}
		if o.DryRun {
			continue
		}
		switch {
		case se.IsSymlink():
			err = dst.Symlink(ctx, se.Key, se.Linkname, nil)
		case onlyMeta:
			err = dstDrive.PutEntry(ctx, &Entry{Key: se.Key, Executable: se.Executable, Blob: de.Blob, Metadata: se.Metadata})
		default:
			err = copyEntry(ctx, src, dst, se)
		}
		if err != nil {
			return c, err
		}
	}
	return c, nil
}

func copyEntry(ctx context.Context, src, dst FS, e *Entry) error {
	r, err := src.OpenEntry(ctx, e)
	if err != nil {
		return err
	}
	defer r.Close()
	return dst.PutReader(ctx, e.Key, r, &PutOptions{Executable: e.Executable, Metadata: e.Metadata})
}

// listWithPrefix lists the entries below prefix and then the entry at
// prefix itself, as mirror-drive does.
func listWithPrefix(ctx context.Context, fs FS, prefix string, ignore, filter func(string) bool) iter.Seq2[*Entry, error] {
	return func(yield func(*Entry, error) bool) {
		for e, err := range fs.List(ctx, prefix, true) {
			if err == nil && ((ignore != nil && ignore(e.Key)) || (filter != nil && !filter(e.Key))) {
				continue
			}
			if !yield(e, err) || err != nil {
				return
			}
		}
		if p, err := Normalize(prefix); err == nil && (filter == nil || filter(p)) && (ignore == nil || !ignore(p)) {
			e, err := fs.Entry(ctx, p)
			if err != nil || e != nil {
				yield(e, err)
			}
		}
	}
}

func ignoreFunc(paths []string) func(string) bool {
	if len(paths) == 0 {
		return nil
	}
	var all []string
	for _, p := range paths {
		if r, err := Resolve("/", p); err == nil {
			all = append(all, r)
		}
	}
	return func(key string) bool {
		for _, p := range all {
			if key == p || strings.HasPrefix(key, p+"/") {
				return true
			}
		}
		return false
	}
}

// compareEntries is mirror-drive's same().
func compareEntries(ctx context.Context, src, dst FS, se, de *Entry) (sameness, error) {
	if de == nil {
		return differ, nil
	}
	if se.IsSymlink() || de.IsSymlink() {
		if se.Linkname == de.Linkname {
			return same, nil
		}
		return differ, nil
	}
	if !maybeEqual(se, de) {
		return differ, nil
	}
	eq, err := contentEqual(ctx, src, dst, se, de)
	if err != nil {
		return differ, err
	}
	diff := differ
	if eq {
		diff = differMeta
	}
	if se.Executable != de.Executable {
		return diff, nil
	}
	_, sd := src.(*Drive)
	_, dd := dst.(*Drive)
	if sd && dd && !metadataEqual(se.Metadata, de.Metadata) {
		return diff, nil
	}
	if eq {
		return same, nil
	}
	return differ, nil
}

func maybeEqual(a, b *Entry) bool {
	switch {
	case a.Blob == nil && b.Blob == nil:
		return true
	case a.Blob == nil || b.Blob == nil:
		return false
	case a.Blob.BlockMap || b.Blob.BlockMap:
		return true
	}
	return a.Blob.ByteLength == b.Blob.ByteLength
}

func contentEqual(ctx context.Context, src, dst FS, se, de *Entry) (bool, error) {
	ra, err := src.OpenEntry(ctx, se)
	if err != nil {
		return false, err
	}
	defer ra.Close()
	rb, err := dst.OpenEntry(ctx, de)
	if err != nil {
		return false, err
	}
	defer rb.Close()
	a, b := bufio.NewReaderSize(ra, 64<<10), bufio.NewReaderSize(rb, 64<<10)
	for {
		pa, errA := a.Peek(32 << 10)
		pb, errB := b.Peek(32 << 10)
		n := min(len(pa), len(pb))
		if !bytes.Equal(pa[:n], pb[:n]) {
			return false, nil
		}
		if errA != nil && errA != io.EOF && errA != bufio.ErrBufferFull {
			return false, errA
		}
		if errB != nil && errB != io.EOF && errB != bufio.ErrBufferFull {
			return false, errB
		}
		if n == 0 {
			return len(pa) == len(pb), nil
		}
		a.Discard(n)
		b.Discard(n)
	}
}

// metadataEqual is mirror-drive's check: both absent, or the same data
// (object keys in any order).
func metadataEqual(a, b json.RawMessage) bool {
	if len(a) == 0 && len(b) == 0 {
		return true
	}
	if len(a) == 0 || len(b) == 0 {
		return false
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}
