package interop

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/warrenp2p/warren/corestore"
	"github.com/warrenp2p/warren/hyperblobs"
	"github.com/warrenp2p/warren/hypercore"
	"github.com/warrenp2p/warren/hyperdrive"
)

// hdOp is one operation of the plan both sides apply to a drive.
type hdOp struct {
	Op         string `json:"op"`
	Path       string `json:"path"`
	Size       int    `json:"size"`
	Seed       int    `json:"seed"`
	Executable bool   `json:"executable,omitempty"`
	Metadata   any    `json:"metadata,omitempty"`
	Target     string `json:"target,omitempty"`
}

// hdPattern is the content of a planned file (hyperdrive_peer.js has the
// same function).
func hdPattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte((i*7+i/251)&0xff) ^ byte(seed)
	}
	return b
}

// hdPlan: nested folders, paths that need normalizing, an executable,
// metadata (with characters JSON.stringify and Go escape differently),
// an empty file, a 20 MiB file, two symlinks; after op hdMid, 500 small
// files, a rewrite and a delete.
func hdPlan() []hdOp {
	ops := []hdOp{
		{Op: "put", Path: "/README.md", Size: 1000, Seed: 1, Metadata: map[string]any{"author": "warren", "tags": []any{"a", "b"}, "n": 1.5}},
		{Op: "put", Path: "/docs/guide/intro.txt", Size: 5000, Seed: 2},
		{Op: "put", Path: "/bin/tool.sh", Size: 300, Seed: 3, Executable: true},
		{Op: "put", Path: "docs//guide/../notes.txt", Size: 10, Seed: 4},
		{Op: "put", Path: `\win\style.txt`, Size: 20, Seed: 5},
		{Op: "put", Path: "/empty", Size: 0, Seed: 6},
		{Op: "put", Path: "/big/video.bin", Size: 20 << 20, Seed: 7},
		{Op: "symlink", Path: "/links/readme", Target: "/README.md"},
		{Op: "symlink", Path: "/links/rel", Target: "../docs/notes.txt"},
	}
	for i := range 500 {
		ops = append(ops, hdOp{Op: "put", Path: fmt.Sprintf("/many/f%03d.txt", i), Size: (i*37)%2000 + 1, Seed: i % 256})
	}
	return append(ops,
		hdOp{Op: "put", Path: "/README.md", Size: 1200, Seed: 9, Metadata: map[string]any{"v": 2, "10": "x", "2": "y"}},
		hdOp{Op: "del", Path: "/win/style.txt"},
		hdOp{Op: "put", Path: "/unicode/héllo wörld ✓.txt", Size: 100, Seed: 10, Executable: true, Metadata: map[string]any{"note": "<&> \u2028 \"q\" \n"}},
	)
}

const hdMid = 9

func writePlan(t *testing.T) string {
	t.Helper()
	b, err := json.Marshal(hdPlan())
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "plan.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// applyPlan applies ops to a Go drive.
func applyPlan(ctx context.Context, t *testing.T, d *hyperdrive.Drive, ops []hdOp) {
	t.Helper()
	for _, op := range ops {
		var err error
		switch op.Op {
		case "put":
			o := &hyperdrive.PutOptions{Executable: op.Executable}
			if op.Metadata != nil {
				o.Metadata, _ = json.Marshal(op.Metadata)
			}
			err = d.Put(ctx, op.Path, hdPattern(op.Size, op.Seed), o)
		case "symlink":
			err = d.Symlink(ctx, op.Path, op.Target, nil)
		case "del":
			err = d.Del(ctx, op.Path)
		}
		if err != nil {
			t.Fatalf("%s %s: %v", op.Op, op.Path, err)
		}
	}
}

// hdExpectedTree is the folder a mirror of the planned drive must give.
func hdExpectedTree(t *testing.T) map[string]string {
	tree := map[string]string{}
	for _, op := range hdPlan() {
		p, err := hyperdrive.Normalize(op.Path)
		if err != nil {
			t.Fatal(err)
		}
		switch op.Op {
		case "put":
			tree[p] = fmt.Sprintf("file %x exec=%v", sha256.Sum256(hdPattern(op.Size, op.Seed)), op.Executable)
		case "symlink":
			tree[p] = "link " + op.Target
		case "del":
			delete(tree, p)
		}
	}
	return tree
}

// folderTree describes a folder on disk: files with their hash and
// executable bit, symlinks with their target as localdrive reads it back.
func folderTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	tree := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return err
		}
		key := "/" + filepath.ToSlash(strings.TrimPrefix(p, dir+string(filepath.Separator)))
		if de.Type()&fs.ModeSymlink != 0 {
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			if strings.HasPrefix(l, dir+"/") {
				l = l[len(dir):]
			}
			tree[key] = "link " + l
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		st, _ := de.Info()
		tree[key] = fmt.Sprintf("file %x exec=%v", sha256.Sum256(b), st.Mode()&0o100 != 0)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

func compareTrees(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	if reflect.DeepEqual(got, want) {
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s %s: got %q, want %q", what, k, got[k], v)
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s %s: unexpected %q", what, k, v)
		}
	}
}

type hdFile struct {
	Key        string `json:"key"`
	Executable bool   `json:"executable"`
	Linkname   string `json:"linkname"`
	Metadata   string `json:"metadata"`
	Size       int    `json:"size"`
	Sha256     string `json:"sha256"`
}

type hdDiff struct {
	Key   string `json:"key"`
	Left  bool   `json:"left"`
	Right bool   `json:"right"`
}

type hdSummary struct {
	Version uint64   `json:"version"`
	Files   []hdFile `json:"files"`
	Readdir []string `json:"readdir"`
	Shallow []string `json:"shallow"`
	Diff    []hdDiff `json:"diff"`
}

// goSummary is what hyperdrive_peer.js's summary computes, from a Go drive.
func goSummary(ctx context.Context, t *testing.T, d *hyperdrive.Drive, mid uint64) hdSummary {
	t.Helper()
	s := hdSummary{Version: d.Version(), Readdir: []string{}, Shallow: []string{}, Diff: []hdDiff{}}
	for e, err := range d.List(ctx, "/", true) {
		if err != nil {
			t.Fatal(err)
		}
		f := hdFile{Key: e.Key, Executable: e.Executable, Linkname: e.Linkname, Metadata: string(e.Metadata)}
		if e.Blob != nil {
			b, err := d.Get(ctx, e.Key)
			if err != nil {
				t.Fatalf("get %s: %v", e.Key, err)
			}
			f.Size = len(b)
			f.Sha256 = fmt.Sprintf("%x", sha256.Sum256(b))
		}
		s.Files = append(s.Files, f)
	}
	for n, err := range d.Readdir(ctx, "/") {
		if err != nil {
			t.Fatal(err)
		}
		s.Readdir = append(s.Readdir, n)
	}
	for e, err := range d.List(ctx, "/", false) {
		if err != nil {
			t.Fatal(err)
		}
		s.Shallow = append(s.Shallow, e.Key)
	}
	for de, err := range d.Diff(ctx, mid, "/") {
		if err != nil {
			t.Fatal(err)
		}
		s.Diff = append(s.Diff, hdDiff{Key: de.Key, Left: de.Left != nil, Right: de.Right != nil})
	}
	return s
}

// coreHash is hyperdrive_peer.js's coreHash: every block, length-prefixed.
func coreHash(ctx context.Context, t *testing.T, c *hypercore.Core) string {
	t.Helper()
	h := sha256.New()
	for i := uint64(0); i < c.Length(); i++ {
		b, err := c.Get(ctx, i, hypercore.GetOptions{Wait: true})
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		h.Write(binary.BigEndian.AppendUint32(nil, uint32(len(b))))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func driveHashes(ctx context.Context, t *testing.T, d *hyperdrive.Drive) string {
	t.Helper()
	b, err := d.Blobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return coreHash(ctx, t, d.Core()) + " " + coreHash(ctx, t, b.Core())
}

// goPlanDrive writes the plan into a new Go drive and returns it with the
// version after op hdMid.
func goPlanDrive(ctx context.Context, t *testing.T, pk []byte) (*hyperdrive.Drive, *corestore.Store, uint64) {
	t.Helper()
	s, err := corestore.Open(t.TempDir(), &corestore.Options{PrimaryKey: pk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	d, err := hyperdrive.Open(ctx, s, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ops := hdPlan()
	applyPlan(ctx, t, d, ops[:hdMid])
	mid := d.Version()
	applyPlan(ctx, t, d, ops[hdMid:])
	return d, s, mid
}

func jsonLine(t *testing.T, s string, v any) {
	t.Helper()
	if err := json.Unmarshal([]byte(s), v); err != nil {
		t.Fatalf("%v: %.200s", err, s)
	}
}

// TestInteropHyperdriveJSToGo: JS hyperdrive 13 writes the plan (nested
// folders, symlinks, an executable, metadata, a 20 MiB file, 500 small
// files); Go, writing the same plan itself, gets byte-identical db and
// blobs cores. A Go reader then replicates the JS drive over TCP +
// secret-stream (corestore replication), reads a range of the big file
// fetching only its blocks, reads every file, lists and diffs exactly as JS
// does, and mirrors the drive into a folder that matches the plan.
func TestInteropHyperdriveJSToGo(t *testing.T) {
	env := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	js := env.Start(t, "hyperdrive_peer.js", fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), replCfg(map[string]any{
		"role": "writer", "primaryKey": hex.EncodeToString(seedFor("hd-js-to-go")), "plan": writePlan(t), "mid": hdMid, "initiator": true,
	}))
	var jsMid, jsFinal uint64
	fmt.Sscan(js.Expect(t, "version "), &jsMid, &jsFinal)
	key, _ := hex.DecodeString(js.Expect(t, "key "))
	js.Expect(t, "replicating")

	local, _, goMid := goPlanDrive(ctx, t, seedFor("hd-go-twin"))
	if goMid != jsMid || local.Version() != jsFinal {
		t.Fatalf("versions: Go %d/%d, JS %d/%d", goMid, local.Version(), jsMid, jsFinal)
	}

	s, err := corestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := hyperdrive.Open(ctx, s, key, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	csAccept(t, ln, s, false)
	if err := d.WaitVersion(ctx, jsFinal); err != nil {
		t.Fatal(err)
	}

	// A range in the middle of the 20 MiB file: only its blocks come.
	want := hdPattern(20<<20, 7)
	r, err := d.NewReader(ctx, "/big/video.bin", &hyperblobs.ReadOptions{Start: 10<<20 + 5, Length: 100000})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r)
	r.Close()
	if err != nil || string(got) != string(want[10<<20+5:10<<20+5+100000]) {
		t.Fatalf("range read: %v (%d bytes)", err, len(got))
	}
	blobs, err := d.Blobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	held := 0
	for i := uint64(0); i < blobs.Core().Length(); i++ {
		if blobs.Core().Has(i) {
			held++
		}
	}
	t.Logf("a 100 kB range of the 20 MiB file stored %d of %d blob blocks", held, blobs.Core().Length())
	if held > 8 {
		t.Fatalf("a 100 kB range stored %d blob blocks", held)
	}

	if err := d.Download(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	gotSum := goSummary(ctx, t, d, jsMid)
	wantSum := goSummary(ctx, t, local, goMid)
	if !reflect.DeepEqual(gotSum, wantSum) {
		t.Fatalf("replicated drive differs from the Go-written one:\n%+v\n%+v", gotSum, wantSum)
	}
	io.WriteString(js.Stdin, fmt.Sprintf("summary %d\n", jsMid))
	var jsSum hdSummary
	jsonLine(t, js.Expect(t, "summary "), &jsSum)
	if !reflect.DeepEqual(gotSum, jsSum) {
		t.Fatalf("Go and JS read the drive differently:\n%+v\n%+v", gotSum, jsSum)
	}
	io.WriteString(js.Stdin, "hashes\n")
	jsHashes := js.Expect(t, "hashes ")
	if h := driveHashes(ctx, t, local); h != jsHashes {
		t.Fatalf("Go-written cores %s, JS-written %s", h, jsHashes)
	}
	if h := driveHashes(ctx, t, d); h != jsHashes {
		t.Fatalf("replicated cores %s, JS %s", h, jsHashes)
	}

	dir := filepath.Join(t.TempDir(), "mirror")
	ld, err := hyperdrive.NewLocalDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	count, err := hyperdrive.Mirror(ctx, d, ld, nil)
	if err != nil {
		t.Fatal(err)
	}
	exp := hdExpectedTree(t)
	if count.Add != len(exp) {
		t.Errorf("mirror count %+v, want %d adds", count, len(exp))
	}
	compareTrees(t, "Go mirror of the JS drive", folderTree(t, dir), exp)
	io.WriteString(js.Stdin, "exit\n")
	js.Wait(t)
}

// TestInteropHyperdriveGoToJS: Go writes the plan; a JS hyperdrive reader
// replicates it, reads every file, lists and diffs (the same summary as Go
// computes), hashes both cores (the same bytes), and mirror-drive copies it
// into a localdrive folder that matches the plan.
func TestInteropHyperdriveGoToJS(t *testing.T) {
	env := Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	d, s, mid := goPlanDrive(ctx, t, seedFor("hd-go-to-js"))
	key := d.Key()
	js := env.Start(t, "hyperdrive_peer.js", fmt.Sprint(ln.Addr().(*net.TCPAddr).Port), replCfg(map[string]any{
		"role": "reader", "key": hex.EncodeToString(key[:]), "initiator": false,
	}))
	js.Expect(t, "replicating")
	csAccept(t, ln, s, true)
	io.WriteString(js.Stdin, fmt.Sprintf("wait %d\n", d.Version()))
	js.Expect(t, "version ")

	io.WriteString(js.Stdin, fmt.Sprintf("summary %d\n", mid))
	var jsSum hdSummary
	jsonLine(t, js.Expect(t, "summary "), &jsSum)
	if goSum := goSummary(ctx, t, d, mid); !reflect.DeepEqual(goSum, jsSum) {
		t.Fatalf("JS reads the Go drive differently:\nGo %+v\nJS %+v", goSum, jsSum)
	}
	io.WriteString(js.Stdin, "hashes\n")
	if got, want := js.Expect(t, "hashes "), driveHashes(ctx, t, d); got != want {
		t.Fatalf("JS hashes %s, Go %s", got, want)
	}

	dir := filepath.Join(t.TempDir(), "jsmirror")
	io.WriteString(js.Stdin, "mirror "+dir+"\n")
	var count struct{ Files, Add, Remove, Change int }
	jsonLine(t, js.Expect(t, "mirrored "), &count)
	exp := hdExpectedTree(t)
	if count.Add != len(exp) {
		t.Errorf("JS mirror count %+v, want %d adds", count, len(exp))
	}
	compareTrees(t, "JS mirror of the Go drive", folderTree(t, dir), exp)

	// And the folder JS wrote mirrors back into a fresh Go drive unchanged.
	s2, err := corestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	d2, err := hyperdrive.Open(ctx, s2, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	ld, _ := hyperdrive.NewLocalDir(dir)
	if _, err := hyperdrive.Mirror(ctx, ld, d2, nil); err != nil {
		t.Fatal(err)
	}
	back := filepath.Join(t.TempDir(), "back")
	ld2, _ := hyperdrive.NewLocalDir(back)
	if _, err := hyperdrive.Mirror(ctx, d2, ld2, nil); err != nil {
		t.Fatal(err)
	}
	compareTrees(t, "folder -> Go drive -> folder", folderTree(t, back), exp)
	keys := make([]string, 0)
	for e, err := range d2.List(ctx, "/", true) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, e.Key)
	}
	if !sort.StringsAreSorted(keys) || len(keys) != len(exp) {
		t.Fatalf("drive from folder lists %d keys", len(keys))
	}
	io.WriteString(js.Stdin, "exit\n")
	js.Wait(t)
}
