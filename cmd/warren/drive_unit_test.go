package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0:             "0 B",
		1023:          "1023 B",
		1024:          "1.00 KiB",
		1536:          "1.50 KiB",
		10 << 20:      "10.0 MiB",
		200 << 20:     "200 MiB",
		1 << 30:       "1.00 GiB",
		5 << 50:       "5.00 PiB",
		1<<62 + 1<<61: "6144 PiB",
	} {
		if got := formatBytes(n); got != want {
			t.Errorf("formatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// A progress on a non-terminal writes plain lines (no carriage returns);
// the last one has the totals and the peer count.
func TestProgressPlain(t *testing.T) {
	var buf bytes.Buffer
	p := newProgress(&buf, "cloning", func() int { return 2 })
	if p.tty {
		t.Fatal("a buffer is not a terminal")
	}
	p.setTotals(3, 3000)
	p.begin()
	r := &countingReader{r: io.NopCloser(strings.NewReader(strings.Repeat("x", 1000))), p: p}
	for range 3 {
		r.eof = false
		r.r = io.NopCloser(strings.NewReader(strings.Repeat("x", 1000)))
		if _, err := io.Copy(io.Discard, r); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(10 * time.Millisecond)
	p.end()
	p.end() // a second end does nothing
	out := buf.String()
	if strings.Contains(out, "\r") {
		t.Fatalf("plain output has a carriage return: %q", out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	for _, want := range []string{"cloning files 3/3", "2.93 KiB/2.93 KiB (100%)", "peers 2"} {
		if !strings.Contains(last, want) {
			t.Errorf("last line %q lacks %q", last, want)
		}
	}
}

func TestParseKey(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	k, err := parseKey(hex)
	if err != nil || k[0] != 0xab || k[31] != 0xab {
		t.Fatalf("hex: %x %v", k, err)
	}
	z := "4i134tbo9tsu61iie3d6y15d4qeqm8cef8pmpaix5og1bhbiraao"
	if _, err := parseKey(z); err != nil {
		t.Fatalf("z-base32: %v", err)
	}
	for _, bad := range []string{"", "abc", hex[:62], hex + "00", z[:51], "l" + z[1:]} {
		if _, err := parseKey(bad); err == nil {
			t.Errorf("parseKey(%q) accepted", bad)
		}
	}
}

// scanFolder sees what LocalDir sees (files and symlinks, not folders nor
// a clone's temporary files) and diff reports changes and removals.
func TestFolderSnapDiff(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string][]byte{"a.txt": []byte("a"), "sub/b.txt": []byte("b"), "sub/.b.txt.123.warren-tmp": []byte("tmp")})
	if err := os.Symlink("a.txt", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	s1, err := scanFolder(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{}
	for k := range s1 {
		keys = append(keys, k)
	}
	if len(s1) != 3 || s1["/a.txt"].size != 1 || s1["/sub/b.txt"].size != 1 {
		t.Fatalf("scan: %v", keys)
	}
	if _, ok := s1["/l"]; !ok {
		t.Fatal("symlink not scanned")
	}
	if err := os.WriteFile(filepath.Join(dir, "a.txt"), []byte("longer"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "sub", "b.txt")); err != nil {
		t.Fatal(err)
	}
	writeTree(t, dir, map[string][]byte{"new/c.txt": []byte("c")})
	s2, err := scanFolder(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	changed, removed := s1.diff(s2)
	if !reflect.DeepEqual(changed, []string{"/a.txt", "/new/c.txt"}) || !reflect.DeepEqual(removed, []string{"/sub/b.txt"}) {
		t.Fatalf("diff: changed %v removed %v", changed, removed)
	}
	if c, r := s2.diff(s2); len(c)+len(r) != 0 {
		t.Fatalf("no-change diff: %v %v", c, r)
	}
	s3, err := scanFolder(dir, []string{"/sub", "/new/c.txt"})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := s3["/new/c.txt"]; ok || len(s3) != 2 {
		t.Fatalf("ignored keys scanned: %v", s3)
	}
}

func TestKeyWorkerSpreads(t *testing.T) {
	var n [mirrorWorkers]int
	for i := range 1000 {
		n[keyWorker("/small/f"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+string(rune('0'+i%10))+"/"+string(rune(i)))]++
	}
	for w, c := range n {
		if c < 100 {
			t.Errorf("worker %d got %d of 1000 keys", w, c)
		}
	}
}

func TestRemoveStaleTemps(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string][]byte{
		"keep.txt":                  []byte("k"),
		"d/.big.bin.99.warren-tmp":  []byte("partial"),
		".top.txt.1.warren-tmp":     []byte("partial"),
		"d/not-a-temp.warren-tmp-x": []byte("k"),
	})
	if err := removeStaleTemps(dir); err != nil {
		t.Fatal(err)
	}
	got := treeOf(t, dir)
	if len(got) != 2 || got["keep.txt"] == "" || got[filepath.Join("d", "not-a-temp.warren-tmp-x")] == "" {
		t.Fatalf("left %v", got)
	}
	if err := removeStaleTemps(filepath.Join(dir, "missing")); err != nil {
		t.Fatalf("missing folder: %v", err)
	}
}

// Keys come from command lines and other people's messages: parseKey
// never panics and accepts only what round-trips to 32 bytes.
func FuzzParseKey(f *testing.F) {
	f.Add(strings.Repeat("ab", 32))
	f.Add("4i134tbo9tsu61iie3d6y15d4qeqm8cef8pmpaix5og1bhbiraao")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		k, err := parseKey(s)
		if err != nil {
			return
		}
		k2, err := parseKey(fmt.Sprintf("%x", k))
		if err != nil || k2 != k {
			t.Fatalf("%q: hex form of %x does not parse back", s, k)
		}
	})
}
