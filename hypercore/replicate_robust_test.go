package hypercore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/warrenp2p/warren/compact"
	"github.com/warrenp2p/warren/protomux"
)

// rawRemote is a hand-driven remote end of a hypercore channel: it opens
// the channel to a Peer of c and lets the test send any message. Incoming
// data messages are counted; everything else is ignored.
type rawRemote struct {
	mux  *protomux.Mux
	msgs []*protomux.Message
	mu   sync.Mutex
	data int
}

func newRawRemote(t *testing.T, c *Core, handlers map[int]func([]byte) error) (*rawRemote, *Peer) {
	t.Helper()
	return newRawRemoteConn(t, c, handlers, nil)
}

// newRawRemoteConn is newRawRemote with the remote's end of the
// connection passed through wrap (when not nil).
func newRawRemoteConn(t *testing.T, c *Core, handlers map[int]func([]byte) error, wrap func(net.Conn) net.Conn) (*rawRemote, *Peer) {
	t.Helper()
	ca, cb := net.Pipe()
	if wrap != nil {
		cb = wrap(cb)
	}
	ma := protomux.New(protomux.Framed(ca), &protomux.Config{DeferStart: true})
	mb := protomux.New(protomux.Framed(cb), &protomux.Config{DeferStart: true})
	t.Cleanup(func() { ma.Close(); mb.Close(); <-ma.Done(); <-mb.Done() })
	hs := bytes.Repeat([]byte{0x5a}, 64)
	peer, err := c.Replicate(ma, false, hs)
	if err != nil {
		t.Fatal(err)
	}
	rr := &rawRemote{mux: mb}
	dk := c.DiscoveryKey()
	ch, err := mb.Channel(protomux.ChannelOptions{Protocol: Protocol, ID: dk[:]})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		var h func([]byte) error
		if i == 3 { // data
			h = func([]byte) error { rr.mu.Lock(); rr.data++; rr.mu.Unlock(); return nil }
		}
		if handlers[i] != nil {
			h = handlers[i]
		}
		rr.msgs = append(rr.msgs, ch.AddMessage(h))
	}
	capa, _ := Capability(true, c.Key(), hs)
	if err := ch.Open(encodeHandshake(Handshake{Capability: capa})); err != nil {
		t.Fatal(err)
	}
	ma.Start()
	mb.Start()
	return rr, peer
}

func (rr *rawRemote) answers() int {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	return rr.data
}

// TestReplicateRequestFloodBounded: a remote that floods requests while
// the worker cannot keep up (here: stalled on the core's lock) fills the
// peer's incoming queue up to its bound and no further: the stream is
// simply no longer read. An honest reader of the same core is served in
// the meantime, and the flooder's requests are answered too.
func TestReplicateRequestFloodBounded(t *testing.T) {
	const n = 300
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, n)
	rr, pw := newRawRemote(t, w, nil)
	rr.msgs[0].Send(encodeSync(Sync{Length: 0, CanUpgrade: true, Downloading: true}))

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	stop := make(chan struct{})
	var flood sync.WaitGroup
	flood.Add(1)
	go func() {
		defer flood.Done()
		for k := uint64(0); ; k++ {
			for j := range uint64(512) {
				i := (k*512 + j) % n
				rr.msgs[1].Send(compact.Encode[*Request](RequestCodec, &Request{ID: k*512 + j + 1, Block: &RequestBlock{Index: i}}))
			}
			if rr.mux.WaitDrain(ctx) != nil {
				return
			}
			select {
			case <-stop:
				return
			default:
			}
		}
	}()
	defer func() { close(stop); flood.Wait() }()

	// Stall the writer's workers: the flood piles up in the queue.
	w.mu.Lock()
	for {
		pw.mu.Lock()
		full := pw.inMsgs >= maxQueuedMsgs
		pw.mu.Unlock()
		if full {
			break
		}
		if ctx.Err() != nil {
			w.mu.Unlock()
			t.Fatal("the flood never filled the queue")
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // the flood goes on meanwhile
	pw.mu.Lock()
	high, bytes := pw.inHigh, pw.inBytes
	pw.mu.Unlock()
	w.mu.Unlock()
	if high > maxQueuedMsgs || bytes > maxQueuedBytes+64<<10 {
		t.Fatalf("queue grew to %d messages, %d bytes (bound %d)", high, bytes, maxQueuedMsgs)
	}

	// An honest reader gets everything while the flood goes on.
	key := w.Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
	connect(t, w, r, nil)
	waitBlocks(t, r, n)
	verifyAll(t, r)
	for rr.answers() == 0 {
		if ctx.Err() != nil {
			t.Fatal("the flooding remote got no answer")
		}
		time.Sleep(5 * time.Millisecond)
	}
	pw.mu.Lock()
	high = pw.inHigh
	pw.mu.Unlock()
	if high > maxQueuedMsgs {
		t.Fatalf("queue grew to %d messages", high)
	}
}

// TestReplicateCoreClosedMidStream: closing a core while its peers are
// downloading or serving ends the peers; nothing reads the closed storage
// (pebble panics on a read after Close, which took the process down).
func TestReplicateCoreClosedMidStream(t *testing.T) {
	const n = 4000
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, n)
	key := w.Key()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for iter := range 6 {
		r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
		l := connect(t, w, r, nil)
		if _, err := r.Get(ctx, uint64(iter*100), GetOptions{Wait: true}); err != nil {
			t.Fatal(err)
		}
		r.Close()
		select {
		case <-l.b.Done():
		case <-ctx.Done():
			t.Fatal("reader's peer did not end after Close")
		}
		l.kill()
	}
	// The serving side closed mid-stream.
	w2 := mustOpen(t, t.TempDir(), Options{Key: key[:]})
	connect(t, w, w2, nil)
	waitBlocks(t, w2, n)
	r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
	l := connect(t, w2, r, nil)
	if _, err := r.Get(ctx, 100, GetOptions{Wait: true}); err != nil {
		t.Fatal(err)
	}
	w2.Close()
	select {
	case <-l.a.Done():
	case <-ctx.Done():
		t.Fatal("server's peer did not end after Close")
	}
}

// countReplicators counts the live entries of the replicator registry.
func countReplicators() int {
	k := 0
	replicators.Range(func(_, v any) bool {
		if v.(weak.Pointer[replicator]).Value() != nil {
			k++
		}
		return true
	})
	return k
}

// replicatorEntries counts the registry's entries, live or not.
func replicatorEntries() int {
	k := 0
	replicators.Range(func(_, _ any) bool { k++; return true })
	return k
}

// TestReplicatorReleasedWithCore: the per-core replication state (peers,
// block claims, extensions) goes away with the core's peers and
// extensions; a closed core whose extension was never closed is not kept
// alive by the package.
func TestReplicatorReleasedWithCore(t *testing.T) {
	before := replicatorEntries()
	func() {
		w, err := Open(t.TempDir(), Options{})
		if err != nil {
			t.Fatal(err)
		}
		appendN(t, w, 0, 20)
		key := w.Key()
		r, err := Open(t.TempDir(), Options{Key: key[:]})
		if err != nil {
			t.Fatal(err)
		}
		w.RegisterExtension("left-open", func(*Peer, []byte) { _ = w })
		r.RegisterExtension("left-open", nil)
		ca, cb := net.Pipe()
		ma := protomux.New(protomux.Framed(ca), &protomux.Config{DeferStart: true})
		mb := protomux.New(protomux.Framed(cb), &protomux.Config{DeferStart: true})
		hs := bytes.Repeat([]byte{1}, 64)
		pa, _ := w.Replicate(ma, true, hs)
		pb, _ := r.Replicate(mb, false, hs)
		ma.Start()
		mb.Start()
		waitBlocks(t, r, 20)
		if len(w.Peers()) != 1 || len(r.Peers()) != 1 {
			t.Fatal("peers not registered")
		}
		w.Close()
		r.Close()
		ma.Close()
		mb.Close()
		<-ma.Done()
		<-mb.Done()
		<-pa.Done()
		<-pb.Done()
		if len(w.Peers()) != 0 {
			t.Fatal("a closed peer is still listed")
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for replicatorEntries() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d registry entries (%d live) remain for closed, dropped cores", replicatorEntries()-before, countReplicators())
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReplicateReorgKeepsSharedBlocks: the writer truncates inside one
// big root and appends other blocks. A reader following the new fork
// keeps every block below the truncation point (it asks for the nodes
// that show where the forks part) and clears only the ones above; the
// eager reader then fetches just those.
func TestReplicateReorgKeepsSharedBlocks(t *testing.T) {
	for _, cut := range []uint64{200, 1, 255, 128} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			const n = 256 // one root
			w := mustOpen(t, t.TempDir(), Options{})
			appendN(t, w, 0, n)
			key := w.Key()
			sparse := mustOpen(t, t.TempDir(), Options{Key: key[:], Sparse: true})
			eager := mustOpen(t, t.TempDir(), Options{Key: key[:]})
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			connect(t, w, sparse, nil)
			le := connect(t, w, eager, nil)
			if err := sparse.Download(ctx, 0, n); err != nil {
				t.Fatal(err)
			}
			waitBlocks(t, eager, n)
			for eager.Peers()[0].Stats().Blocks < n {
				time.Sleep(5 * time.Millisecond)
			}
			if err := w.Truncate(cut); err != nil {
				t.Fatal(err)
			}
			var more [][]byte
			for i := range 60 {
				more = append(more, []byte(fmt.Sprintf("fork1-%d", i)))
			}
			if _, err := w.Append(more...); err != nil {
				t.Fatal(err)
			}
			newLen := cut + 60
			for _, c := range []*Core{sparse, eager} {
				for c.Fork() != 1 || c.Length() != newLen {
					if ctx.Err() != nil {
						t.Fatalf("length %d fork %d", c.Length(), c.Fork())
					}
					time.Sleep(5 * time.Millisecond)
				}
			}
			for i := range uint64(n) {
				if got, want := sparse.Has(i), i < cut; got != want {
					t.Fatalf("after the reorg the sparse reader has block %d: %v", i, got)
				}
			}
			for i := range newLen {
				v, err := eager.Get(ctx, i, GetOptions{Wait: true})
				if err != nil {
					t.Fatal(err)
				}
				if i < cut && !bytes.Equal(v, blockData(int(i))) || i >= cut && string(v) != fmt.Sprintf("fork1-%d", i-cut) {
					t.Fatalf("block %d = %q", i, v)
				}
			}
			verifyAll(t, eager)
			// Only the new fork's blocks were fetched again (a Get may see
			// the last block an instant before its peer counts it).
			for want := uint64(n + 60); le.b.Stats().Blocks != want; time.Sleep(5 * time.Millisecond) {
				if got := le.b.Stats().Blocks; got > want || ctx.Err() != nil {
					t.Fatalf("eager reader received %d blocks, want %d", got, want)
				}
			}
			if err := sparse.Download(ctx, 0, newLen); err != nil {
				t.Fatal(err)
			}
			verifyAll(t, sparse)
		})
	}
}

// TestReplicateWantsReused: a sparse reader learns what a sparse seeder
// holds only through wants. With small batches and two want slots (the
// real limits are 2^21 blocks and 512 slots), a third batch needs a slot:
// a batch no longer needed is withdrawn (unwant) and the new one wanted,
// instead of the reader never asking again. After the seeder reconnects,
// the new peer is asked afresh.
func TestReplicateWantsReused(t *testing.T) {
	oldBatch, oldMax := wantBatch, maxLocalWants
	wantBatch, maxLocalWants = 64, 2
	defer func() { wantBatch, maxLocalWants = oldBatch, oldMax }()
	const n = 512
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, n)
	key := w.Key()
	s := mustOpen(t, t.TempDir(), Options{Key: key[:], Sparse: true})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ls := connect(t, w, s, nil)
	held := []uint64{10, 100, 200, 300, 400, 500}
	for _, i := range held {
		if err := s.Download(ctx, i, i+1); err != nil {
			t.Fatal(err)
		}
	}
	ls.kill()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:], Sparse: true})
	l := connect(t, s, r, nil)
	get := func(i uint64) {
		t.Helper()
		gctx, gcancel := context.WithTimeout(ctx, 20*time.Second)
		defer gcancel()
		v, err := r.Get(gctx, i, GetOptions{Wait: true})
		if err != nil || !bytes.Equal(v, blockData(int(i))) {
			t.Fatalf("block %d: %q %v", i, v, err)
		}
	}
	for _, i := range held[:4] {
		get(i)
	}
	// Reconnected: the new peer is asked again.
	l.kill()
	connect(t, s, r, nil)
	for _, i := range held[4:] {
		get(i)
	}
	if k := countStored(r, n); k != len(held) {
		t.Fatalf("reader holds %d blocks", k)
	}
}

// TestReplicatePeerStepsOnClosedCore: the worker's steps that look at the
// storage (answering a request, asking for a block) find the core closed
// under its lock and stop, instead of reading the closed database (pebble
// panics). The worker has ended here, so the test drives the steps itself;
// the node cache and bitfield pages are dropped so that any look at the
// storage reaches pebble.
func TestReplicatePeerStepsOnClosedCore(t *testing.T) {
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, 100)
	key := w.Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:], Sparse: true})
	l := connect(t, w, r, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := r.Get(ctx, 1, GetOptions{Wait: true}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*Core{w, r} {
		c.Close()
	}
	for _, p := range []*Peer{l.a, l.b} {
		select {
		case <-p.Done():
		case <-ctx.Done():
			t.Fatal("peer did not end")
		}
	}
	for _, c := range []*Core{w, r} {
		c.st.cacheReset()
		c.pagesMu.Lock()
		clear(c.pages)
		c.pagesMu.Unlock()
	}
	// The writer's peer answers a request; the reader's asks for a block.
	l.a.onRequest(&Request{ID: 1, Block: &RequestBlock{Index: 50}})
	if l.b.requestBlock(0, 50) {
		t.Fatal("a block was requested for a closed core")
	}
	if w.hasOpen(50) || r.hasOpen(1) {
		t.Fatal("a closed core reports blocks")
	}
}

// TestReplicateBlockTimeoutsRetried: a reader that already knows the core
// replicates with a peer that announces every block and answers nothing,
// and with an honest one. The silent peer's block requests time out, are
// cancelled, and its blocks are fetched from the honest peer.
func TestReplicateBlockTimeoutsRetried(t *testing.T) {
	const n = 800
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, n)
	key := w.Key()
	// Learn the length (and block 0) first, sparse so that nothing else
	// comes, so that the silent peer is asked for blocks, not for the
	// upgrade; then download everything.
	r := mustOpen(t, t.TempDir(), Options{Key: key[:], Sparse: true})
	l := connect(t, w, r, nil)
	waitBlocks(t, r, 1)
	l.kill()
	for len(r.Peers()) != 0 {
		time.Sleep(5 * time.Millisecond)
	}
	r.SetSparse(false)
	sp := &stallPeer{}
	stalled := sp.run(t, w, r)
	stalled.SetRequestTimeout(300 * time.Millisecond)
	deadline := time.Now().Add(60 * time.Second)
	for stalled.Stats().Inflight == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the silent peer was asked for nothing")
		}
		time.Sleep(5 * time.Millisecond)
	}
	honest := connect(t, w, r, nil)
	waitBlocks(t, r, n)
	verifyAll(t, r)
	st := stalled.Stats()
	if st.Blocks != 0 || st.Timeouts == 0 || sp.cancels.Load() == 0 {
		t.Fatalf("silent peer stats %+v, %d cancels", st, sp.cancels.Load())
	}
	for honest.b.Stats().Blocks == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the honest peer delivered nothing")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReplicateReorgHashTimeout: a remote on a newer fork answers the
// upgrade but never the hash requests that narrow the common ancestor
// down. After the request timeout the reader follows the fork anyway,
// keeping only what the roots show to be shared (here nothing), and
// cancels the request.
func TestReplicateReorgHashTimeout(t *testing.T) {
	const n = 256
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, n)
	key := w.Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:], Sparse: true})
	l := connect(t, w, r, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := r.Download(ctx, 0, n); err != nil {
		t.Fatal(err)
	}
	l.kill()
	if err := w.Truncate(200); err != nil {
		t.Fatal(err)
	}
	appendN(t, w, 1000, 60)
	var rr *rawRemote
	var mu sync.Mutex
	hashes, cancels := 0, 0
	rr, pr := newRawRemote(t, r, map[int]func([]byte) error{
		1: func(b []byte) error {
			req, err := compact.Decode[*Request](RequestCodec, b)
			if err != nil {
				return err
			}
			if req.Hash != nil {
				mu.Lock()
				hashes++
				mu.Unlock()
				return nil // never answered
			}
			proof, err := w.Proof(ProofRequest{Upgrade: req.Upgrade})
			if err != nil {
				return err
			}
			rr.msgs[3].Send(encodeData(&Data{Request: req.ID, Proof: *proof}))
			return nil
		},
		2: func([]byte) error { mu.Lock(); cancels++; mu.Unlock(); return nil },
	})
	pr.SetRequestTimeout(300 * time.Millisecond)
	rr.msgs[0].Send(encodeSync(Sync{Fork: w.Fork(), Length: w.Length(), CanUpgrade: true, Uploading: true}))
	rr.msgs[8].Send(encodeRange(Range{Start: 0, Length: w.Length()}))
	for r.Fork() != 1 || r.Length() != 260 {
		if ctx.Err() != nil {
			t.Fatalf("length %d fork %d", r.Length(), r.Fork())
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The cancel was sent just before the fork was taken: it may still be
	// on its way.
	for {
		mu.Lock()
		h, c := hashes, cancels
		mu.Unlock()
		if h > 0 && c > 0 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d hash requests, %d cancels", h, c)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if k := countStored(r, n); k != 0 {
		t.Fatalf("%d blocks kept without proof that they are shared", k)
	}
	if err := pr.Err(); err != nil {
		t.Fatal(err)
	}
}

// TestReplicateReorgForgedNodes: a remote on a newer fork answers the
// hash request that narrows the common ancestor with a forged node. The
// peer is dropped as bad, and nothing was cleared or moved: the reader is
// still on its fork with every block.
func TestReplicateReorgForgedNodes(t *testing.T) {
	const n = 256
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, n)
	key := w.Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:], Sparse: true})
	l := connect(t, w, r, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := r.Download(ctx, 0, n); err != nil {
		t.Fatal(err)
	}
	l.kill()
	if err := w.Truncate(200); err != nil {
		t.Fatal(err)
	}
	appendN(t, w, 1000, 60)
	var rr *rawRemote
	rr, pr := newRawRemote(t, r, map[int]func([]byte) error{
		1: func(b []byte) error {
			req, err := compact.Decode[*Request](RequestCodec, b)
			if err != nil {
				return err
			}
			proof, err := w.Proof(ProofRequest{Upgrade: req.Upgrade, Hash: req.Hash})
			if err != nil {
				return err
			}
			if proof.Hash != nil && len(proof.Hash.Nodes) > 1 {
				proof.Hash.Nodes[1].Hash[0] ^= 1
			}
			rr.msgs[3].Send(encodeData(&Data{Request: req.ID, Proof: *proof}))
			return nil
		},
	})
	rr.msgs[0].Send(encodeSync(Sync{Fork: w.Fork(), Length: w.Length(), CanUpgrade: true, Uploading: true}))
	rr.msgs[8].Send(encodeRange(Range{Start: 0, Length: w.Length()}))
	select {
	case <-pr.Done():
	case <-ctx.Done():
		t.Fatal("the forging peer was not dropped")
	}
	if err := pr.Err(); !errors.Is(err, ErrBadPeer) {
		t.Fatalf("peer error %v", err)
	}
	if r.Fork() != 0 || r.Length() != n || countStored(r, n) != n {
		t.Fatalf("reader fork %d length %d, %d blocks", r.Fork(), r.Length(), countStored(r, n))
	}
	verifyAll(t, r)
}

// TestReplicateExtremeRequests: requests with extreme indexes, node
// counts, seeks and upgrades are answered (with no-data where nothing can
// be proven) without a panic, and the peer goes on serving.
func TestReplicateExtremeRequests(t *testing.T) {
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, 100)
	var mu sync.Mutex
	noData := 0
	rr, pw := newRawRemote(t, w, map[int]func([]byte) error{
		4: func([]byte) error { mu.Lock(); noData++; mu.Unlock(); return nil },
	})
	rr.msgs[0].Send(encodeSync(Sync{CanUpgrade: true, Downloading: true}))
	const huge = ^uint64(0)
	reqs := []*Request{
		{Block: &RequestBlock{Index: huge, Nodes: huge}},
		{Block: &RequestBlock{Index: 99, Nodes: huge}},
		{Block: &RequestBlock{Index: 1 << 62}},
		{Hash: &RequestBlock{Index: huge, Nodes: huge}},
		{Hash: &RequestBlock{Index: 2*99 + 1, Nodes: 64}},
		{Hash: &RequestBlock{Index: 1 << 62, Nodes: 3}},
		{Seek: &RequestSeek{Bytes: huge, Padding: huge}},
		{Seek: &RequestSeek{Bytes: 10, Padding: huge}},
		{Upgrade: &RequestUpgrade{Start: huge, Length: huge}},
		{Upgrade: &RequestUpgrade{Start: 50, Length: huge}},
		{Upgrade: &RequestUpgrade{Start: 0, Length: 1 << 62}},
		{Block: &RequestBlock{Index: 5}, Upgrade: &RequestUpgrade{Start: 99, Length: 2}},
		{Fork: huge, Block: &RequestBlock{Index: 5}},
	}
	for i, r := range reqs {
		r.ID = uint64(i + 1)
		rr.msgs[1].Send(compact.Encode[*Request](RequestCodec, r))
	}
	// A good request after them is still answered.
	rr.msgs[1].Send(compact.Encode[*Request](RequestCodec, &Request{ID: 100, Block: &RequestBlock{Index: 7}}))
	deadline := time.Now().Add(60 * time.Second)
	for rr.answers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no answer")
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case <-pw.Done():
		t.Fatalf("peer ended: %v", pw.Err())
	default:
	}
	mu.Lock()
	defer mu.Unlock()
	if noData == 0 {
		t.Fatal("no no-data answers to unprovable requests")
	}
}
