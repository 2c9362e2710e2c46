package hyperdrive

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/warrenp2p/warren/corestore"
	"github.com/warrenp2p/warren/hyperbee"
	"github.com/warrenp2p/warren/hyperblobs"
	"github.com/warrenp2p/warren/protomux"
)

// tamperConn rewrites every occurrence of from with to in the messages it
// sends: a peer that serves forged block data.
type tamperConn struct {
	protomux.MessageConn
	from, to []byte
	mu       sync.Mutex
	hits     int
}

func (c *tamperConn) WriteMessage(p []byte) error {
	if c.from != nil && bytes.Contains(p, c.from) {
		c.mu.Lock()
		c.hits++
		c.mu.Unlock()
		p = bytes.ReplaceAll(p, c.from, c.to)
	}
	return c.MessageConn.WriteMessage(p)
}

// replicatePair replicates two stores over an in-memory pipe; tamper, when
// set, wraps the side of a.
func replicatePair(t *testing.T, a, b *corestore.Store, tamper *tamperConn) {
	t.Helper()
	stop := startPair(t, a, b, tamper)
	t.Cleanup(stop)
}

func replicateBench(b *testing.B, x, y *corestore.Store) {
	stop := startPair(b, x, y, nil)
	b.Cleanup(stop)
}

func startPair(t testing.TB, a, b *corestore.Store, tamper *tamperConn) func() {
	t.Helper()
	ca, cb := net.Pipe()
	var ma protomux.MessageConn = protomux.Framed(ca)
	if tamper != nil {
		tamper.MessageConn = ma
		ma = tamper
	}
	hh := bytes.Repeat([]byte{7}, 64)
	muxA := protomux.New(ma, &protomux.Config{DeferStart: true})
	muxB := protomux.New(protomux.Framed(cb), &protomux.Config{DeferStart: true})
	ra, err := a.ReplicateMux(muxA, true, hh)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.ReplicateMux(muxB, false, hh)
	if err != nil {
		t.Fatal(err)
	}
	muxA.Start()
	muxB.Start()
	return func() {
		ra.Close()
		rb.Close()
		muxA.Close()
		muxB.Close()
	}
}

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7+i/251) ^ seed
	}
	return b
}

func TestReplicateSparse(t *testing.T) {
	ctx := testCtx(t)
	w := newDrive(t)
	big := pattern(1<<20+123, 1)
	if err := w.Put(ctx, "/big", big, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Put(ctx, "/small", []byte("small"), &PutOptions{Metadata: []byte(`{"k":"v"}`)}); err != nil {
		t.Fatal(err)
	}
	rs := newStore(t)
	key := w.Key()
	r, err := Open(ctx, rs, key[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	replicatePair(t, w.root.store, rs, nil)
	if err := r.WaitVersion(ctx, w.Version()); err != nil {
		t.Fatal(err)
	}
	got, err := r.Get(ctx, "/small")
	if err != nil || string(got) != "small" {
		t.Fatalf("small: %q %v", got, err)
	}
	// A range in the middle of the big file fetches only its blocks.
	rd, err := r.NewReader(ctx, "/big", nil)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1000)
	if _, err := rd.ReadAt(buf, 600000); err != nil {
		t.Fatal(err)
	}
	rd.Close()
	if !bytes.Equal(buf, big[600000:601000]) {
		t.Fatal("range content")
	}
	b, _ := r.Blobs(ctx)
	held := 0
	for i := uint64(0); i < b.Core().Length(); i++ {
		if b.Core().Has(i) {
			held++
		}
	}
	if held > 4 {
		t.Fatalf("range read stored %d of %d blob blocks", held, b.Core().Length())
	}
	// Download then everything is local.
	if err := r.Download(ctx, "/"); err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < b.Core().Length(); i++ {
		if !b.Core().Has(i) {
			t.Fatalf("block %d missing after Download", i)
		}
	}
	got, err = r.Get(ctx, "/big")
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big: %v", err)
	}
	// Cleared content is gone locally and comes back (verified) on a read.
	if err := r.Clear(ctx, "/big"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := r.Has(ctx, "/big"); ok {
		t.Fatal("cleared file still stored")
	}
	got, err = r.Get(ctx, "/big")
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("big after clear: %v", err)
	}
	if ok, _ := r.Has(ctx, "/big"); !ok {
		t.Fatal("re-read file not stored")
	}
}

// TestForgedBlockNeverReachesDisk: the writer's side of the stream forges
// one blob block in transit. Hypercore rejects the block, the read fails
// and the mirror into a local folder writes nothing, not even a temporary
// file.
func TestForgedBlockNeverReachesDisk(t *testing.T) {
	ctx := testCtx(t)
	w := newDrive(t)
	data := pattern(300<<10, 3)
	marker := []byte("::genuine-block-marker::")
	copy(data[150<<10:], marker) // inside block 2
	if err := w.Put(ctx, "/victim.bin", data, nil); err != nil {
		t.Fatal(err)
	}
	rs := newStore(t)
	key := w.Key()
	r, err := Open(ctx, rs, key[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	tc := &tamperConn{from: marker, to: []byte("::forged!!-block-marker::")[:len(marker)]}
	replicatePair(t, w.root.store, rs, tc)
	if err := r.WaitVersion(ctx, w.Version()); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "out")
	ld, _ := NewLocalDir(dir)
	short, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	_, err = Mirror(short, r, ld, nil)
	if err == nil {
		t.Fatal("mirror of a forged block succeeded")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Logf("mirror error: %v", err)
	}
	tc.mu.Lock()
	hits := tc.hits
	tc.mu.Unlock()
	if hits == 0 {
		t.Fatal("the forged block was never sent")
	}
	b, _ := r.Blobs(ctx)
	if b.Core().Has(2) {
		t.Fatal("forged block stored")
	}
	var files []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 0 {
		t.Fatalf("files on disk after a failed mirror: %q", files)
	}
}

// TestReplicatedWatchAndCheckout: a sparse reader follows the writer: Watch
// sees a new file arrive, and a checkout of the older version still reads.
func TestReplicatedWatchAndCheckout(t *testing.T) {
	ctx := testCtx(t)
	w := newDrive(t)
	w.Put(ctx, "/docs/a", []byte("a1"), nil)
	rs := newStore(t)
	key := w.Key()
	r, err := Open(ctx, rs, key[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	replicatePair(t, w.root.store, rs, nil)
	if err := r.WaitVersion(ctx, w.Version()); err != nil {
		t.Fatal(err)
	}
	v1 := r.Version()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	seen := make(chan *Drive, 1)
	go func() {
		for c, err := range r.Watch(wctx, "/docs") {
			if err == nil {
				seen <- c.Current
			}
			return
		}
	}()
	w.Put(ctx, "/docs/a", []byte("a2"), nil)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case cur := <-seen:
			if got, err := cur.Get(ctx, "/docs/a"); err != nil || string(got) != "a2" {
				t.Fatalf("after change: %q %v", got, err)
			}
			done = true
		case <-tick.C:
			// The watcher may have started after the write.
			w.Put(ctx, "/docs/b", []byte("b"), nil)
		case <-ctx.Done():
			t.Fatal("reader never saw the change")
		}
	}
	if got, err := r.Checkout(v1).Get(ctx, "/docs/a"); err != nil || string(got) != "a1" {
		t.Fatalf("checkout: %q %v", got, err)
	}
	if err := r.Put(ctx, "/x", nil, nil); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("put on a reader: %v", err)
	}
}

// TestCloseWhileWaitingForPeers: a drive opened by key with no peer
// waits for its header; Close does not wait for that.
func TestCloseWhileWaitingForPeers(t *testing.T) {
	ctx := testCtx(t)
	key := make([]byte, 32)
	key[0] = 1
	r, err := Open(ctx, newStore(t), key, nil)
	if err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	errc := make(chan error, 1)
	go func() { _, err := r.Blobs(wctx); errc <- err }()
	time.Sleep(100 * time.Millisecond)
	closed := make(chan struct{})
	go func() { r.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close waited for the network")
	}
	cancel()
	if err := <-errc; err == nil {
		t.Fatal("blobs key found without peers")
	}
}

// TestContentFeedHeader: a drive whose header names its blobs core in
// contentFeed (as hyperdrive writes for compat cores) is read from that
// core, not from the key derived from the manifest.
func TestContentFeedHeader(t *testing.T) {
	ctx := testCtx(t)
	ws := newStore(t)
	db, err := ws.Get(ctx, corestore.GetOptions{Name: "legacy-db"})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	bc, err := ws.Get(ctx, corestore.GetOptions{Name: "legacy-blobs"})
	if err != nil {
		t.Fatal(err)
	}
	defer bc.Close()
	id, err := hyperblobs.New(bc.Core, nil).Put(ctx, []byte("from the content feed"))
	if err != nil {
		t.Fatal(err)
	}
	bk := bc.Key()
	bee := hyperbee.New(hyperbee.CoreLog{Core: db.Core}, hyperbee.Options{Metadata: &hyperbee.Metadata{ContentFeed: bk[:]}})
	v, _ := EncodeValue(&Entry{Blob: &id})
	if err := bee.Put(ctx, fileKey("/f"), v); err != nil {
		t.Fatal(err)
	}
	rs := newStore(t)
	key := db.Key()
	r, err := Open(ctx, rs, key[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	replicatePair(t, ws, rs, nil)
	if err := r.WaitVersion(ctx, db.Length()); err != nil {
		t.Fatal(err)
	}
	got, err := r.Get(ctx, "/f")
	if err != nil || string(got) != "from the content feed" {
		t.Fatalf("%q %v", got, err)
	}
	if ck, _ := r.ContentKey(ctx); ck != bk {
		t.Fatalf("content key %x, want %x", ck, bk)
	}
}

// TestReaderCloseUnblocksRead: closing a reader from another goroutine ends
// a read that waits for a peer that never answers.
func TestReaderCloseUnblocksRead(t *testing.T) {
	ctx := testCtx(t)
	w := newDrive(t)
	w.Put(ctx, "/f", pattern(200<<10, 1), nil)
	rs := newStore(t)
	key := w.Key()
	r, err := Open(ctx, rs, key[:], nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Forge every data message: the reader gets the tree but never a block.
	tc := &tamperConn{from: pattern(64, 1)[:32], to: make([]byte, 32)}
	replicatePair(t, w.root.store, rs, tc)
	if err := r.WaitVersion(ctx, w.Version()); err != nil {
		t.Fatal(err)
	}
	rd, err := r.NewReader(ctx, "/f", nil)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		_, err := io.ReadAll(rd)
		errc <- err
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case err := <-errc:
		t.Fatalf("read ended before Close: %v", err)
	default:
	}
	rd.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("read of forged blocks succeeded")
		}
	case <-ctx.Done():
		t.Fatal("Close did not end the waiting read")
	}
}
