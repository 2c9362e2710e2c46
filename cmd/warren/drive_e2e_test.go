package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warrenp2p/warren/corestore"
	"github.com/warrenp2p/warren/hypercore"
	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/hyperdrive"
)

// localBootstrap starts an in-process HyperDHT bootstrap node on loopback
// and returns its address for --bootstrap.
func localBootstrap(t *testing.T) string {
	t.Helper()
	port := freeUDPPort(t)
	d, err := hyperdht.NewBootstrapper("127.0.0.1", uint16(port), &hyperdht.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// fill returns n pseudo-random bytes that differ by seed.
func fill(n int, seed byte) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

// writeTree writes files (key -> content) below dir.
func writeTree(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for k, v := range files {
		p := filepath.Join(dir, filepath.FromSlash(k))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, v, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// sampleTree is a folder with nested folders, an empty file, an executable,
// a symlink, a 1 MiB file and n small files.
func sampleTree(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{
		"readme.txt":          []byte("hello from warren share\n"),
		"empty":               nil,
		"docs/deep/er/x.md":   []byte("# deep\n"),
		"data/one-mebibyte":   fill(1<<20, 1),
		"data/odd-size.bin":   fill(70000, 2),
		"unicode/héllo wörld": []byte("ünïcode"),
	}
	for i := range n {
		files[fmt.Sprintf("small/f%04d.txt", i)] = []byte(fmt.Sprintf("small file %d\n", i))
	}
	writeTree(t, dir, files)
	if err := os.WriteFile(filepath.Join(dir, "run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("readme.txt", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	return dir
}

// treeOf describes a folder: regular files by content and executable bit,
// symlinks by target. A file that vanishes during the walk (a clone
// renaming its temporary files into place) is left out.
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) (ret error) {
		defer func() {
			if errors.Is(ret, fs.ErrNotExist) && p != dir {
				ret = nil
			}
		}()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.IsDir():
			return nil
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			out[rel] = "symlink " + target
		default:
			fi, err := d.Info()
			if err != nil {
				return err
			}
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[rel] = fmt.Sprintf("x=%v %d %x", fi.Mode()&0o100 != 0, len(b), sha256.Sum256(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTree fails the test unless the two folders hold the same files.
func sameTree(t *testing.T, want, got string) {
	t.Helper()
	a, b := treeOf(t, want), treeOf(t, got)
	for k, v := range a {
		if b[k] != v {
			t.Errorf("%s: want %s, got %s", k, v, b[k])
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			t.Errorf("%s: extra file in the copy", k)
		}
	}
}

// shareDir runs warren share on dir and returns the process, the drive key
// (first line) once the share is ready.
func shareDir(t *testing.T, boot, storage, dir string, extra ...string) (*proc, string) {
	t.Helper()
	args := append([]string{"--bootstrap", boot, "--storage", storage, "share", dir}, extra...)
	p := start(t, args...)
	key := p.line(t)
	if len(key) != 52 {
		t.Fatalf("share printed %q first, not a z-base32 key", key)
	}
	if l := p.line(t); !strings.HasPrefix(l, "ready version=") {
		t.Fatalf("share printed %q, want ready", l)
	}
	return p, key
}

// cloneOnce runs warren clone to completion and returns its summary line.
func cloneOnce(t *testing.T, boot, storage, key, dir string, extra ...string) string {
	t.Helper()
	args := append([]string{"--bootstrap", boot, "--storage", storage, "clone", key, dir}, extra...)
	code, out, stderr := runWarren(t, nil, args...)
	if code != 0 {
		t.Fatalf("clone exited %d:\n%s", code, stderr)
	}
	if !strings.HasPrefix(out, "cloned version=") {
		t.Fatalf("clone printed %q", out)
	}
	return strings.TrimSpace(out)
}

// A folder shared by one warren process is cloned byte for byte by
// another, by z-base32 key and by hex key; share ends cleanly on SIGTERM.
func TestDriveShareClone(t *testing.T) {
	boot := localBootstrap(t)
	src := sampleTree(t, 200)
	sh, key := shareDir(t, boot, t.TempDir(), src)

	dst := filepath.Join(t.TempDir(), "copy")
	sum := cloneOnce(t, boot, t.TempDir(), key, dst)
	sameTree(t, src, dst)
	if !strings.Contains(sum, "files=208") {
		t.Errorf("summary %q: want 208 files", sum)
	}

	k, err := parseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dst2 := filepath.Join(t.TempDir(), "copy-hex")
	cloneOnce(t, boot, t.TempDir(), fmt.Sprintf("%x", k), dst2)
	sameTree(t, src, dst2)
	sh.stop(t)
}

// Sharing the same folder again from the same storage gives the same key,
// and changes made while share was not running are published on restart.
func TestDriveShareReopen(t *testing.T) {
	boot := localBootstrap(t)
	src := sampleTree(t, 3)
	storage := t.TempDir()
	sh, key := shareDir(t, boot, storage, src)
	sh.stop(t)
	writeTree(t, src, map[string][]byte{"added-offline.txt": []byte("new")})
	if err := os.Remove(filepath.Join(src, "empty")); err != nil {
		t.Fatal(err)
	}
	sh2, key2 := shareDir(t, boot, storage, src)
	if key2 != key {
		t.Fatalf("key changed on reopen: %s then %s", key, key2)
	}
	dst := filepath.Join(t.TempDir(), "copy")
	cloneOnce(t, boot, t.TempDir(), key, dst)
	sameTree(t, src, dst)
	sh2.stop(t)
}

// With --live, files added, changed and deleted on the sharing side show
// up in the clone.
func TestDriveCloneLive(t *testing.T) {
	boot := localBootstrap(t)
	src := sampleTree(t, 5)
	sh, key := shareDir(t, boot, t.TempDir(), src, "--interval", "200ms")
	dst := filepath.Join(t.TempDir(), "copy")
	cl := start(t, "--bootstrap", boot, "--storage", t.TempDir(), "clone", "--live", key, dst)
	if l := cl.line(t); !strings.HasPrefix(l, "cloned ") {
		t.Fatalf("clone printed %q", l)
	}
	sameTree(t, src, dst)

	writeTree(t, src, map[string][]byte{
		"readme.txt":        []byte("changed while live\n"),
		"new/folder/n.txt":  []byte("a new file"),
		"data/odd-size.bin": fill(123457, 9),
	})
	if err := os.Remove(filepath.Join(src, "small", "f0001.txt")); err != nil {
		t.Fatal(err)
	}
	if l := sh.line(t); !strings.HasPrefix(l, "version ") {
		t.Fatalf("share printed %q", l)
	}
	// The share may publish the change in more than one version (a poll
	// can run while the files are being written), and the clone reports
	// each version once it is mirrored: wait for the version after which
	// the copy equals the folder.
	deadline := time.Now().Add(60 * time.Second)
	for {
		l := cl.line(t)
		if !strings.HasPrefix(l, "updated ") {
			t.Fatalf("clone printed %q", l)
		}
		if maps.Equal(treeOf(t, src), treeOf(t, dst)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the change did not reach the clone")
		}
	}
	sameTree(t, src, dst)
	cl.stop(t)
	sh.stop(t)
}

// heldBlocks opens a stopped process's corestore and reports, for the
// drive's db and blobs cores, how many blocks it holds and the cores'
// lengths. A core not stored counts as empty.
func heldBlocks(t *testing.T, storage, key string) (db, blobs [2]uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	k, err := parseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	store, err := corestore.Open(filepath.Join(storage, "corestore"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	count := func(s *hypercore.Session) (c [2]uint64) {
		for i := uint64(0); i < s.Length(); i++ {
			if s.Has(i) {
				c[0]++
			}
		}
		c[1] = s.Length()
		return c
	}
	dbs, err := store.Get(ctx, corestore.GetOptions{Key: k[:], NoCreate: true})
	if errors.Is(err, corestore.ErrNotFound) {
		return db, blobs
	} else if err != nil {
		t.Fatal(err)
	}
	defer dbs.Close()
	db = count(dbs)
	m := hyperdrive.ContentManifest(dbs.Manifest(), dbs.Key())
	if m == nil {
		return db, blobs
	}
	bk := m.Hash()
	bs, err := store.Get(ctx, corestore.GetOptions{Key: bk[:], NoCreate: true})
	if errors.Is(err, corestore.ErrNotFound) {
		return db, blobs
	} else if err != nil {
		t.Fatal(err)
	}
	defer bs.Close()
	return db, count(bs)
}

// A clone interrupted in the middle of a large file, by Ctrl-C (SIGINT) or
// by SIGKILL, resumes when run again: the rerun fetches exactly the blocks
// the store did not hold (nothing it held is downloaded twice), no partly
// written file is left behind, and the copy is identical.
func TestDriveCloneResume(t *testing.T) {
	boot := localBootstrap(t)
	src := sampleTree(t, 50)
	writeTree(t, src, map[string][]byte{"aaa/large.bin": fill(48<<20, 7)})
	sh, key := shareDir(t, boot, t.TempDir(), src)

	// Both come early in the large file, while the prefetch is still
	// running: the store must keep every block it acknowledged.
	for _, tc := range []struct {
		sig syscall.Signal
		at  int64
	}{{syscall.SIGINT, 4 << 20}, {syscall.SIGKILL, 2 << 20}} {
		sig := tc.sig
		t.Run(sig.String(), func(t *testing.T) {
			storage := t.TempDir()
			dst := filepath.Join(t.TempDir(), "copy")
			cl := start(t, "--bootstrap", boot, "--storage", storage, "clone", key, dst)
			// Interrupt the clone once some of the large file has
			// arrived: the temporary file it is written to has grown.
			stopped := false
			deadline := time.Now().Add(90 * time.Second)
			for !stopped && time.Now().Before(deadline) {
				select {
				case <-cl.done:
					t.Fatalf("clone finished before it could be interrupted (%v)", cl.err)
				default:
				}
				ents, _ := os.ReadDir(filepath.Join(dst, "aaa"))
				for _, e := range ents {
					if fi, err := e.Info(); err == nil && fi.Size() > tc.at && !stopped {
						cl.cmd.Process.Signal(sig)
						stopped = true
					}
				}
				time.Sleep(5 * time.Millisecond)
			}
			if !stopped {
				t.Fatal("the clone never got going")
			}
			select {
			case <-cl.done:
			case <-time.After(30 * time.Second):
				t.Fatal("clone did not exit")
			}
			if sig == syscall.SIGINT {
				if cl.err == nil || !strings.Contains(cl.stderr.String(), "warren: interrupted") {
					t.Fatalf("interrupted clone: %v\n%s", cl.err, cl.stderr.String())
				}
			}
			if _, err := os.Stat(filepath.Join(dst, "aaa", "large.bin")); err == nil {
				t.Fatal("large.bin exists after the interruption: the write was not atomic")
			}
			db, blobs := heldBlocks(t, storage, key)
			t.Logf("after %v the store holds db %d/%d, blobs %d/%d blocks", sig, db[0], db[1], blobs[0], blobs[1])
			if blobs[0] == 0 {
				t.Fatal("no blob block kept after the interruption")
			}
			if blobs[0] == blobs[1] {
				t.Log("the prefetch had fetched every blob block before the interruption")
			}

			sum := cloneOnce(t, boot, storage, key, dst)
			var v, files, size, fetched uint64
			if _, err := fmt.Sscanf(sum, "cloned version=%d files=%d bytes=%d fetched-blocks=%d", &v, &files, &size, &fetched); err != nil {
				t.Fatalf("summary %q: %v", sum, err)
			}
			db2, blobs2 := heldBlocks(t, storage, key)
			if db2[0] != db2[1] || blobs2[0] != blobs2[1] {
				t.Fatalf("after the rerun the store holds db %v, blobs %v", db2, blobs2)
			}
			missing := db2[1] - db[0] + blobs2[1] - blobs[0]
			if fetched != missing {
				t.Fatalf("rerun fetched %d blocks, want exactly the %d missing", fetched, missing)
			}
			if fetched >= db2[1]+blobs2[1] {
				t.Fatalf("rerun fetched all %d blocks again", fetched)
			}
			sameTree(t, src, dst)
		})
	}
	sh.stop(t)
}

// ls and cat read a drive without downloading it: cat of a small file
// stores only that file's blob blocks, ls stores none.
func TestDriveLsCat(t *testing.T) {
	boot := localBootstrap(t)
	src := sampleTree(t, 20)
	sh, key := shareDir(t, boot, t.TempDir(), src)

	storage := t.TempDir()
	env := []string{}
	code, out, stderr := runWarren(t, env, "--bootstrap", boot, "--storage", storage, "ls", key)
	if code != 0 {
		t.Fatalf("ls: exit %d\n%s", code, stderr)
	}
	want := "data/\ndocs/\nempty\nlink -> readme.txt\nreadme.txt\nrun.sh\nsmall/\nunicode/\n"
	if out != want {
		t.Fatalf("ls printed\n%s\nwant\n%s", out, want)
	}
	code, out, stderr = runWarren(t, env, "--bootstrap", boot, "--storage", storage, "ls", "-l", key, "/data")
	if code != 0 || out != "     1048576  one-mebibyte\n       70000  odd-size.bin\n" && out != "       70000  odd-size.bin\n     1048576  one-mebibyte\n" {
		t.Fatalf("ls -l /data: exit %d %q\n%s", code, out, stderr)
	}
	code, out, _ = runWarren(t, env, "--bootstrap", boot, "--storage", storage, "ls", "-R", key, "/docs")
	if code != 0 || out != "/docs/deep/er/x.md\n" {
		t.Fatalf("ls -R /docs: exit %d %q", code, out)
	}
	if held, _ := countBlobBlocks(t, storage, key); held != 0 {
		t.Fatalf("ls stored %d blob blocks", held)
	}

	code, out, stderr = runWarren(t, env, "--bootstrap", boot, "--storage", storage, "cat", key, "/small/f0007.txt")
	if code != 0 || out != "small file 7\n" {
		t.Fatalf("cat: exit %d %q\n%s", code, out, stderr)
	}
	if held, _ := countBlobBlocks(t, storage, key); held != 1 {
		t.Fatalf("cat of a one-block file stored %d blob blocks", held)
	}
	code, out, _ = runWarren(t, env, "--bootstrap", boot, "--storage", storage, "cat", key, "data/odd-size.bin")
	if code != 0 || !bytes.Equal([]byte(out), fill(70000, 2)) {
		t.Fatalf("cat odd-size.bin: exit %d, %d bytes", code, len(out))
	}
	held, total := countBlobBlocks(t, storage, key)
	if held != 3 || total < 20 {
		t.Fatalf("after two cats %d of %d blob blocks stored, want 3", held, total)
	}

	for _, args := range [][]string{
		{"cat", key, "/no/such/file"},
		{"ls", key, "/no/such/folder"},
		{"cat", "not-a-key", "/x"},
		{"clone"},
		{"seed"},
	} {
		code, _, stderr := runWarren(t, env, append([]string{"--bootstrap", boot, "--storage", storage}, args...)...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if code == 0 || len(lines) != 1 || !strings.HasPrefix(lines[0], "warren: ") {
			t.Errorf("warren %v: exit %d, stderr %q", args, code, stderr)
		}
	}
	sh.stop(t)
}

// countBlobBlocks reports the blobs core's held blocks and length.
func countBlobBlocks(t *testing.T, storage, key string) (held, total uint64) {
	t.Helper()
	_, b := heldBlocks(t, storage, key)
	return b[0], b[1]
}

// seed downloads a whole drive (db and blobs) and serves it: once it has
// synced, the sharer goes away and a clone from the seeder alone is
// identical. A plain hypercore key is seeded too.
func TestDriveSeed(t *testing.T) {
	boot := localBootstrap(t)
	src := sampleTree(t, 30)
	sh, key := shareDir(t, boot, t.TempDir(), src)
	sd := start(t, "--bootstrap", boot, "--storage", t.TempDir(), "seed", key)
	if l := sd.line(t); l != "seeding "+key {
		t.Fatalf("seed printed %q", l)
	}
	if l := sd.line(t); l != "drive "+key {
		t.Fatalf("seed printed %q", l)
	}
	if l := sd.line(t); !strings.HasPrefix(l, "synced "+key+" length=") {
		t.Fatalf("seed printed %q", l)
	}
	sh.stop(t)

	dst := filepath.Join(t.TempDir(), "copy")
	cloneOnce(t, boot, t.TempDir(), key, dst)
	sameTree(t, src, dst)
	sd.stop(t)
}
