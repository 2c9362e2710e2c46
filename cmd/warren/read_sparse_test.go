package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// cat of one small file from a big drive fetches that file's one blob
// block and a few index blocks, also when the blobs core is already stored
// from an earlier run (the store then opens it on demand when the sharer
// offers it, and an on-demand core is sparse); ls fetches no blob block.
func TestCatFetchesOnlyItsBlocks(t *testing.T) {
	boot := localBootstrap(t)
	src := t.TempDir()
	files := map[string][]byte{"big/eight-mebibytes": fill(8<<20, 3)}
	for i := range 300 {
		files[fmt.Sprintf("small/f%04d.txt", i)] = []byte(fmt.Sprintf("small file %d\n", i))
	}
	writeTree(t, src, files)
	sh, key := shareDir(t, boot, t.TempDir(), src)
	defer sh.stop(t)

	storage := t.TempDir()
	cat := func(name, want string) {
		t.Helper()
		code, out, stderr := runWarren(t, nil, "--bootstrap", boot, "--storage", storage, "cat", key, name)
		if code != 0 || out != want {
			t.Fatalf("cat %s: exit %d, %d bytes\n%s", name, code, len(out), stderr)
		}
	}
	cat("/small/f0123.txt", "small file 123\n")
	db, blobs := heldBlocks(t, storage, key)
	t.Logf("after one cat: db %d of %d blocks, blobs %d of %d", db[0], db[1], blobs[0], blobs[1])
	if blobs[0] != 1 || blobs[1] < 128 {
		t.Fatalf("cat of a one-block file stored %d of %d blob blocks, want 1", blobs[0], blobs[1])
	}
	if db[1] < 300 || db[0]*4 > db[1] {
		t.Fatalf("cat of one file stored %d of %d index blocks", db[0], db[1])
	}

	// The blobs core is stored now: the next run has it opened on demand.
	cat("/small/f0277.txt", "small file 277\n")
	db2, blobs := heldBlocks(t, storage, key)
	if blobs[0] != 2 {
		t.Fatalf("second cat left %d blob blocks stored, want 2", blobs[0])
	}
	if db2[0]*4 > db2[1] {
		t.Fatalf("two cats stored %d of %d index blocks", db2[0], db2[1])
	}
	code, out, stderr := runWarren(t, nil, "--bootstrap", boot, "--storage", storage, "ls", key, "/small")
	if code != 0 || strings.Count(out, "\n") != 300 {
		t.Fatalf("ls /small: exit %d, %d lines\n%s", code, strings.Count(out, "\n"), stderr)
	}
	if _, blobs = heldBlocks(t, storage, key); blobs[0] != 2 {
		t.Fatalf("ls fetched blob blocks: %d stored", blobs[0])
	}

	code, out, stderr = runWarren(t, nil, "--bootstrap", boot, "--storage", storage, "cat", key, "/big/eight-mebibytes")
	if code != 0 || !bytes.Equal([]byte(out), files["big/eight-mebibytes"]) {
		t.Fatalf("cat of the big file: exit %d, %d bytes\n%s", code, len(out), stderr)
	}
	if _, blobs = heldBlocks(t, storage, key); blobs[0] != 2+128 {
		t.Fatalf("after the big file %d blob blocks stored, want %d", blobs[0], 2+128)
	}
}
