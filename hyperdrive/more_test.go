package hyperdrive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/warrenp2p/warren/corestore"
	"github.com/warrenp2p/warren/hyperblobs"
)

func keysOf(t *testing.T, seq func(func(*Entry, error) bool)) string {
	t.Helper()
	var ks []string
	for e, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, e.Key)
	}
	return strings.Join(ks, " ")
}

func TestCheckoutDiffDel(t *testing.T) {
	ctx := testCtx(t)
	d := newDrive(t)
	d.Put(ctx, "/a", []byte("A"), nil)
	d.Put(ctx, "/dir/b", []byte("B"), nil)
	v1 := d.Version()
	d.Put(ctx, "/dir/c", []byte("C"), nil)
	d.Put(ctx, "/dir/b", []byte("B2"), nil)
	if err := d.Del(ctx, "/a"); err != nil {
		t.Fatal(err)
	}
	if err := d.Del(ctx, "/never-there"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := d.Exists(ctx, "/a"); ok {
		t.Fatal("deleted file exists")
	}
	if _, err := d.Get(ctx, "/a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	old := d.Checkout(v1)
	if got, err := old.Get(ctx, "/dir/b"); err != nil || string(got) != "B" {
		t.Fatalf("checkout get %q %v", got, err)
	}
	if got := keysOf(t, old.List(ctx, "/", true)); got != "/a /dir/b" {
		t.Fatalf("checkout list %q", got)
	}
	if err := old.Put(ctx, "/x", nil, nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("put on checkout: %v", err)
	}
	var diffs []string
	for de, err := range d.Diff(ctx, v1, "/") {
		if err != nil {
			t.Fatal(err)
		}
		diffs = append(diffs, de.Key+":"+map[bool]string{true: "L", false: "-"}[de.Left != nil]+map[bool]string{true: "R", false: "-"}[de.Right != nil])
	}
	if got := strings.Join(diffs, " "); got != "/a:-R /dir/b:LR /dir/c:L-" {
		t.Fatalf("diff %q", got)
	}
	// A folder-scoped diff.
	n := 0
	for _, err := range d.Diff(ctx, v1, "/dir") {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Fatalf("diff of /dir: %d entries", n)
	}
}

func TestShallowListing(t *testing.T) {
	ctx := testCtx(t)
	d := newDrive(t)
	for _, p := range []string{"/a", "/a/b", "/b/c/d", "/b/c/e", "/b/e", "/c-d", "/z"} {
		if err := d.Put(ctx, p, []byte(p), nil); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for n, err := range d.Readdir(ctx, "/") {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if got := strings.Join(names, " "); got != "a b c-d z" {
		t.Fatalf("readdir / = %q", got)
	}
	if got := keysOf(t, d.List(ctx, "/b", false)); got != "/b/c/d /b/e" {
		t.Fatalf("shallow list /b = %q", got)
	}
	if got := keysOf(t, d.List(ctx, "/b/", true)); got != "/b/c/d /b/c/e /b/e" {
		t.Fatalf("list /b = %q", got)
	}
}

func TestCreateStreamsAndAborts(t *testing.T) {
	ctx := testCtx(t)
	d := newDrive(t)
	w, err := d.Create(ctx, "/big", &PutOptions{Executable: true})
	if err != nil {
		t.Fatal(err)
	}
	want := pattern(5<<20+7, 9)
	for rest := want; len(rest) > 0; {
		n := min(len(rest), 12345)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatal(err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, err := d.Get(ctx, "/big")
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("get: %v", err)
	}
	e, _ := d.Entry(ctx, "/big")
	if !e.Executable || e.Blob.BlockLength != 81 {
		t.Fatalf("entry %+v %+v", e, e.Blob)
	}
	w, _ = d.Create(ctx, "/aborted", nil)
	w.Write([]byte("partial"))
	w.Abort()
	if ok, _ := d.Exists(ctx, "/aborted"); ok {
		t.Fatal("aborted file has an entry")
	}
	// A failing source: no entry, and the next writer is not blocked.
	err = d.PutReader(ctx, "/failing", iotest.ErrReader(errors.New("boom")), nil)
	if err == nil {
		t.Fatal("failing reader stored")
	}
	if err := d.Put(ctx, "/after", []byte("ok"), nil); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, "/", []byte("x"), nil); !errors.Is(err, ErrInvalidPath) {
		t.Fatalf("put /: %v", err)
	}
	if err := d.Put(ctx, "/m", nil, &PutOptions{Metadata: []byte("{bad")}); !errors.Is(err, ErrInvalidMetadata) {
		t.Fatalf("bad metadata: %v", err)
	}
	r, err := d.NewReader(ctx, "/big", &hyperblobs.ReadOptions{Start: 1 << 20, Length: 10})
	if err != nil {
		t.Fatal(err)
	}
	part, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(part, want[1<<20:1<<20+10]) {
		t.Fatal("range")
	}
}

func TestWatch(t *testing.T) {
	ctx := testCtx(t)
	d := newDrive(t)
	d.Put(ctx, "/other/x", []byte("x"), nil)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changes := make(chan Change, 4)
	done := make(chan error, 1)
	go func() {
		for c, err := range d.Watch(wctx, "/docs") {
			if err != nil {
				done <- err
				return
			}
			select {
			case changes <- c:
			case <-wctx.Done():
			}
		}
		done <- nil
	}()
	d.Put(ctx, "/other/y", []byte("y"), nil) // outside the folder
	// The watcher may start after a write: write until it reports.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	d.Put(ctx, "/docs/a", []byte("a"), nil)
	var c Change
wait:
	for {
		select {
		case c = <-changes:
			break wait
		case <-tick.C:
			d.Put(ctx, "/docs/b", []byte("b"), nil)
		case <-ctx.Done():
			t.Fatal("no change seen")
		}
	}
	{
		if ok, _ := c.Current.Exists(ctx, "/docs/a"); !ok {
			t.Fatal("current lacks the new file")
		}
		if c.Previous.Version() >= c.Current.Version() {
			t.Fatal("previous is not older")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestHostileEntries(t *testing.T) {
	ctx := testCtx(t)
	d := newDrive(t)
	d.Put(ctx, "/good", []byte("g"), nil)
	// Values a broken or hostile writer could put under files keys.
	d.bee.Put(ctx, fileKey("/bad-json"), []byte("{not json"))
	d.bee.Put(ctx, fileKey("/bad-blob"), []byte(`{"blob":{"blockOffset":1e300}}`))
	d.bee.Put(ctx, fileKey("/huge-blob"), []byte(`{"blob":{"blockOffset":0,"blockLength":1,"byteOffset":0,"byteLength":9007199254740991}}`))
	if _, err := d.Entry(ctx, "/bad-json"); !errors.Is(err, ErrDecode) {
		t.Fatalf("entry: %v", err)
	}
	if _, err := d.Get(ctx, "/huge-blob"); err == nil {
		t.Fatal("lying blob id read")
	}
	var sawErr bool
	for _, err := range d.List(ctx, "/", true) {
		if err != nil {
			sawErr = true
		}
	}
	if !sawErr {
		t.Fatal("list hid the malformed entry")
	}
	dir := t.TempDir()
	ld, _ := NewLocalDir(dir)
	if _, err := Mirror(ctx, d, ld, nil); err == nil {
		t.Fatal("mirror of a malformed drive succeeded")
	}
}

// TestMirrorSymlinkEscape: a drive with a symlinked folder pointing out of
// the destination and a file below it cannot make Mirror write outside.
func TestMirrorSymlinkEscape(t *testing.T) {
	ctx := testCtx(t)
	d := newDrive(t)
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	os.Mkdir(outside, 0o755)
	d.Symlink(ctx, "/a", "../outside", nil)
	d.Put(ctx, "/a/pwned", []byte("x"), nil)
	ld, _ := NewLocalDir(filepath.Join(base, "dst"))
	_, err := Mirror(ctx, d, ld, nil)
	if !errors.Is(err, ErrUnsafePath) {
		t.Fatalf("mirror: %v", err)
	}
	if _, err := os.Stat(filepath.Join(outside, "pwned")); err == nil {
		t.Fatal("wrote outside the folder")
	}
}

func TestLocalDirAtomicWrite(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	ld, _ := NewLocalDir(dir)
	if err := ld.Put(ctx, "/f", []byte("old content"), nil); err != nil {
		t.Fatal(err)
	}
	r := io.MultiReader(bytes.NewReader([]byte("new partial")), iotest.ErrReader(errors.New("cut")))
	if err := ld.PutReader(ctx, "/f", r, nil); err == nil {
		t.Fatal("failed write succeeded")
	}
	b, _ := os.ReadFile(filepath.Join(dir, "f"))
	if string(b) != "old content" {
		t.Fatalf("file is %q after a failed write", b)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Fatalf("left behind: %v", ents)
	}
	if err := ld.Del(ctx, "/f"); err != nil {
		t.Fatal(err)
	}
	ld.Put(ctx, "/x/y/z", []byte("z"), &PutOptions{Executable: true})
	st, _ := os.Stat(filepath.Join(dir, "x/y/z"))
	if st.Mode()&0o100 == 0 {
		t.Fatal("not executable")
	}
	ld.Del(ctx, "/x/y/z")
	if _, err := os.Stat(filepath.Join(dir, "x")); err == nil {
		t.Fatal("empty folders left after delete")
	}
}

func TestMirrorChanges(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	ld, _ := NewLocalDir(dir)
	ld.Put(ctx, "/a.txt", []byte("aaaa"), nil)
	ld.Put(ctx, "/sub/b.txt", []byte("bbbb"), nil)
	ld.Put(ctx, "/gone.txt", []byte("g"), nil)
	ld.Symlink(ctx, "/link", "/a.txt", nil)
	d := newDrive(t)
	c, err := Mirror(ctx, ld, d, nil)
	if err != nil || c.Add != 4 || c.Files != 4 {
		t.Fatalf("first mirror %+v %v", c, err)
	}
	if l, _ := d.Entry(ctx, "/link"); l == nil || l.Linkname != "/a.txt" {
		t.Fatalf("link %+v", l)
	}
	// Same size, other content; executable bit only; a retargeted link;
	// a removed file.
	ld.Put(ctx, "/a.txt", []byte("AAAA"), nil)
	os.Chmod(filepath.Join(dir, "sub/b.txt"), 0o755)
	ld.Symlink(ctx, "/link", "sub/b.txt", nil)
	ld.Del(ctx, "/gone.txt")
	before, _ := d.Entry(ctx, "/sub/b.txt")

	var ops []string
	dry, err := Mirror(ctx, ld, d, &MirrorOptions{Prune: true, DryRun: true, Report: func(op MirrorOp) { ops = append(ops, op.Op+" "+op.Key) }})
	if err != nil || dry.Change != 3 || dry.Remove != 1 {
		t.Fatalf("dry run %+v %v", dry, err)
	}
	if strings.Join(ops, ",") != "remove /gone.txt,change /a.txt,change /link,change /sub/b.txt" {
		t.Fatalf("ops %q", ops)
	}
	if ok, _ := d.Exists(ctx, "/gone.txt"); !ok {
		t.Fatal("dry run deleted")
	}
	c, err = Mirror(ctx, ld, d, &MirrorOptions{Prune: true})
	if err != nil || c.Change != 3 || c.Remove != 1 || c.Add != 0 {
		t.Fatalf("second mirror %+v %v", c, err)
	}
	after, _ := d.Entry(ctx, "/sub/b.txt")
	if !after.Executable || *after.Blob != *before.Blob {
		t.Fatalf("exec-only change rewrote the blob: %+v -> %+v", before.Blob, after.Blob)
	}
	if got, _ := d.Get(ctx, "/a.txt"); string(got) != "AAAA" {
		t.Fatalf("a.txt %q", got)
	}
	c, err = Mirror(ctx, ld, d, &MirrorOptions{Prune: true})
	if err != nil || c.Change+c.Add+c.Remove != 0 {
		t.Fatalf("third mirror %+v %v", c, err)
	}
	// Drive to drive carries metadata; a metadata-only change rewrites
	// only the entry.
	d.Put(ctx, "/meta", []byte("m"), &PutOptions{Metadata: []byte(`{"a":1,"b":2}`)})
	d2 := newDrive(t)
	if _, err := Mirror(ctx, d, d2, nil); err != nil {
		t.Fatal(err)
	}
	if e, _ := d2.Entry(ctx, "/meta"); string(e.Metadata) != `{"a":1,"b":2}` {
		t.Fatalf("metadata %s", e.Metadata)
	}
	d.PutEntry(ctx, &Entry{Key: "/meta", Blob: mustEntry(t, d, "/meta").Blob, Metadata: []byte(`{"b":2,"a":1}`)})
	if c, _ := Mirror(ctx, d, d2, nil); c.Change != 0 {
		t.Fatalf("reordered keys counted as a change: %+v", c)
	}
	d.PutEntry(ctx, &Entry{Key: "/meta", Blob: mustEntry(t, d, "/meta").Blob, Metadata: []byte(`{"a":2}`)})
	if c, _ := Mirror(ctx, d, d2, nil); c.Change != 1 {
		t.Fatalf("metadata change: %+v", c)
	}
	if e, _ := d2.Entry(ctx, "/meta"); string(e.Metadata) != `{"a":2}` {
		t.Fatalf("metadata %s", e.Metadata)
	}
	// Into a read-only drive: refused.
	if _, err := Mirror(ctx, ld, d.Checkout(2), nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("mirror into a checkout: %v", err)
	}
}

func mustEntry(t *testing.T, d *Drive, p string) *Entry {
	t.Helper()
	e, err := d.Entry(context.Background(), p)
	if err != nil || e == nil {
		t.Fatalf("entry %s: %v", p, err)
	}
	return e
}

func TestFollowHasClear(t *testing.T) {
	ctx := testCtx(t)
	d := newDrive(t)
	d.Put(ctx, "/docs/a", []byte("A"), nil)
	d.Symlink(ctx, "/docs/rel", "../a", nil) // resolved against the link key, as in JS
	d.Symlink(ctx, "/abs", "/docs/rel", nil)
	d.Symlink(ctx, "/loop1", "/loop2", nil)
	d.Symlink(ctx, "/loop2", "/loop1", nil)
	e, err := d.EntryFollow(ctx, "/abs")
	if err != nil || e == nil || e.Key != "/docs/a" {
		t.Fatalf("follow: %+v %v", e, err)
	}
	if _, err := d.EntryFollow(ctx, "/loop1"); !errors.Is(err, ErrSymlinkLoop) {
		t.Fatalf("loop: %v", err)
	}
	if ok, err := d.Has(ctx, "/docs/a"); !ok || err != nil {
		t.Fatalf("has: %v %v", ok, err)
	}
	// A writable core keeps its blocks; clearing works on readers. Here
	// only check that Clear runs and Has reports what the core says.
	if err := d.Clear(ctx, "/docs/a"); err != nil {
		t.Fatal(err)
	}
	b, _ := d.Blobs(ctx)
	e, _ = d.Entry(ctx, "/docs/a")
	if ok, _ := d.Has(ctx, "/docs/a"); ok != b.Has(*e.Blob) {
		t.Fatal("Has disagrees with the blob store")
	}
	if ok, _ := d.Has(ctx, "/abs"); ok {
		t.Fatal("a symlink has content")
	}
}

// TestMirrorHostileKeys: keys a hostile writer puts in the bee directly,
// without hyperdrive's normalization, cannot make Mirror write outside the
// destination folder.
func TestMirrorHostileKeys(t *testing.T) {
	ctx := testCtx(t)
	for _, key := range []string{"/../escape", `/a\..\..\escape`, "/a/../../escape", "../escape"} {
		d := newDrive(t)
		id, err := d.blobs.Put(ctx, []byte("evil"))
		if err != nil {
			t.Fatal(err)
		}
		v, _ := EncodeValue(&Entry{Blob: &id})
		d.bee.Put(ctx, fileKey(key), v)
		base := t.TempDir()
		ld, _ := NewLocalDir(filepath.Join(base, "dst"))
		Mirror(ctx, d, ld, nil)
		if _, err := os.Stat(filepath.Join(base, "escape")); err == nil {
			t.Fatalf("key %q wrote outside the folder", key)
		}
	}
}

// TestOpenOwnDriveByKey: a drive created in a namespace view and opened
// again by key from the store's root view, after a restart, is still
// writable and reads what it held.
func TestOpenOwnDriveByKey(t *testing.T) {
	ctx := testCtx(t)
	dir := t.TempDir()
	s, err := corestore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(ctx, s.Namespace("x"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	d.Put(ctx, "/a", []byte("a"), nil)
	key := d.Key()
	d.Close()
	s.Close()
	s, err = corestore.Open(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r, err := Open(ctx, s, key[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, err := r.Get(ctx, "/a"); err != nil || string(got) != "a" {
		t.Fatalf("get %q %v", got, err)
	}
	if !r.Writable() {
		t.Fatal("own drive opened by key is read-only")
	}
	if err := r.Put(ctx, "/b", []byte("b"), nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.Get(ctx, "/b"); string(got) != "b" {
		t.Fatalf("b = %q", got)
	}
}
