package hyperdrive

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/warrenp2p/warren/corestore"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func newStore(t *testing.T) *corestore.Store {
	t.Helper()
	s, err := corestore.Open(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newDrive(t *testing.T) *Drive {
	t.Helper()
	d, err := Open(testCtx(t), newStore(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestPutGetList(t *testing.T) {
	ctx := testCtx(t)
	d := newDrive(t)
	big := bytes.Repeat([]byte("0123456789abcdef"), 20000)
	if err := d.Put(ctx, "/a.txt", []byte("hello"), nil); err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, "dir/big.bin", big, &PutOptions{Executable: true, Metadata: []byte(`{"b":1, "a":[1.0,"x"]}`)}); err != nil {
		t.Fatal(err)
	}
	if err := d.Symlink(ctx, "/link", "/a.txt", nil); err != nil {
		t.Fatal(err)
	}
	got, err := d.Get(ctx, "/dir/big.bin")
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("get big: %v len %d", err, len(got))
	}
	e, err := d.Entry(ctx, "/dir/big.bin")
	if err != nil || e == nil || !e.Executable || string(e.Metadata) != `{"b":1,"a":[1,"x"]}` {
		t.Fatalf("entry %+v %v", e, err)
	}
	var keys []string
	for e, err := range d.List(ctx, "/", true) {
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, e.Key)
	}
	if want := "/a.txt /dir/big.bin /link"; join(keys) != want {
		t.Fatalf("list %q", keys)
	}
	var names []string
	for n, err := range d.Readdir(ctx, "/") {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if join(names) != "a.txt dir link" {
		t.Fatalf("readdir %q", names)
	}

	// Mirror out and back in.
	dir := filepath.Join(t.TempDir(), "out")
	ld, _ := NewLocalDir(dir)
	c, err := Mirror(ctx, d, ld, nil)
	if err != nil || c.Add != 3 {
		t.Fatalf("mirror %+v %v", c, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "dir/big.bin"))
	if !bytes.Equal(b, big) {
		t.Fatal("mirrored content")
	}
	c, err = Mirror(ctx, d, ld, nil)
	if err != nil || c.Add+c.Change != 0 {
		t.Fatalf("second mirror %+v %v", c, err)
	}
	d2 := newDrive(t)
	c, err = Mirror(ctx, ld, d2, nil)
	if err != nil || c.Add != 3 {
		t.Fatalf("mirror in %+v %v", c, err)
	}
	l, _ := d2.Entry(ctx, "/link")
	if l == nil || l.Linkname != "/a.txt" {
		t.Fatalf("link %+v", l)
	}
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out
}
