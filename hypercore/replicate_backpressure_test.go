package hypercore

import (
	"bytes"
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenp2p/warren/compact"
	"github.com/warrenp2p/warren/protomux"
)

// sizedBlock is block i of a core of size-byte blocks.
func sizedBlock(i, size int) []byte { return bytes.Repeat([]byte{byte(i), byte(i >> 8)}, size/2) }

// filledCore is a writable core of n blocks of size bytes.
func filledCore(t *testing.T, n, size int) *Core {
	t.Helper()
	c := mustOpen(t, t.TempDir(), Options{})
	bs := make([][]byte, n)
	for i := range bs {
		bs[i] = sizedBlock(i, size)
	}
	if _, err := c.Append(bs...); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestReplicateBothWaysAtOnce: two peers on one connection each
// download a core of 64 KiB blocks from the other at the same time. Each
// side's answers fill its outgoing queue at once; had either stopped
// reading because of it (as the mux does at 32 MiB), both would have, and
// neither would ever write again: before answers were held back, most runs
// stopped after a few dozen blocks.
func TestReplicateBothWaysAtOnce(t *testing.T) {
	const n, size = 800, 64 << 10
	x, y := filledCore(t, n, size), filledCore(t, n, size)
	xk, yk := x.Key(), y.Key()
	xb := mustOpen(t, t.TempDir(), Options{Key: xk[:]})
	ya := mustOpen(t, t.TempDir(), Options{Key: yk[:]})

	ca, cb := net.Pipe() // no buffer between the two: a writer waits for the other side to read
	ma := protomux.New(protomux.Framed(ca), &protomux.Config{DeferStart: true})
	mb := protomux.New(protomux.Framed(cb), &protomux.Config{DeferStart: true})
	t.Cleanup(func() { ma.Close(); mb.Close(); <-ma.Done(); <-mb.Done() })
	hs := bytes.Repeat([]byte{0x3c}, 64)
	for _, s := range []struct {
		c         *Core
		m         *protomux.Mux
		initiator bool
	}{{x, ma, true}, {ya, ma, true}, {xb, mb, false}, {y, mb, false}} {
		if _, err := s.c.Replicate(s.m, s.initiator, hs); err != nil {
			t.Fatal(err)
		}
	}
	ma.Start()
	mb.Start()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	errs := make(chan error, 2)
	go func() { errs <- xb.Download(ctx, 0, n) }()
	go func() { errs <- ya.Download(ctx, 0, n) }()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("%v: one side has %d of %d blocks, the other %d", err, xb.ContiguousLength(), n, ya.ContiguousLength())
		}
	}
	for _, c := range []*Core{xb, ya} {
		for i := range n {
			v, err := c.Get(ctx, uint64(i), GetOptions{})
			if err != nil || !bytes.Equal(v, sizedBlock(i, size)) {
				t.Fatalf("block %d: %v", i, err)
			}
		}
	}
}

// gatedRemote is a rawRemote that stops reading its connection after the
// first data message until the gate opens, as a remote busy elsewhere
// would, so the peer's outgoing queue fills. It records which request each
// answer was for, and the index of the block it carried.
type gatedRemote struct {
	*rawRemote
	gate     chan struct{}
	stopped  atomic.Bool // set by the first answer: reads wait for the gate
	mu       sync.Mutex
	answered map[uint64]uint64 // request id -> block index
	got      chan struct{}     // a token per answer
}

// gatedConn is the remote's end of the connection: once the remote is
// stopped its reads wait for the gate. (Blocking in the data handler
// instead would also hold the remote's own sends: the remote's mux is
// corked while it handles a batch.)
type gatedConn struct {
	net.Conn
	g *gatedRemote
}

func (c gatedConn) Read(b []byte) (int, error) {
	if c.g.stopped.Load() {
		<-c.g.gate
	}
	return c.Conn.Read(b)
}

func newGatedRemote(t *testing.T, c *Core) (*gatedRemote, *Peer) {
	t.Helper()
	g := &gatedRemote{gate: make(chan struct{}), answered: map[uint64]uint64{}, got: make(chan struct{}, 1<<16)}
	onData := func(b []byte) error {
		g.stopped.Store(true)
		d, err := decodeData(b)
		if err != nil || d.Block == nil {
			t.Errorf("bad answer: %v", err)
			return nil
		}
		g.mu.Lock()
		g.answered[d.Request] = d.Block.Index
		g.mu.Unlock()
		g.got <- struct{}{}
		return nil
	}
	rr, p := newRawRemoteConn(t, c, map[int]func([]byte) error{3: onData}, func(c net.Conn) net.Conn { return gatedConn{c, g} })
	t.Cleanup(g.open) // before the muxes close: a read waiting for the gate would hold them up
	g.rawRemote = rr
	rr.msgs[0].Send(encodeSync(Sync{Length: 0, CanUpgrade: true, Downloading: true}))
	return g, p
}

func (g *gatedRemote) open() {
	select {
	case <-g.gate:
	default:
		close(g.gate)
	}
}

func (g *gatedRemote) request(id, index uint64) {
	g.msgs[1].Send(compact.Encode[*Request](RequestCodec, &Request{ID: id, Block: &RequestBlock{Index: index}}))
}

// waitAnswers waits for n more answers.
func (g *gatedRemote) waitAnswers(t *testing.T, ctx context.Context, n int) {
	t.Helper()
	for range n {
		select {
		case <-g.got:
		case <-ctx.Done():
			g.mu.Lock()
			defer g.mu.Unlock()
			t.Fatalf("%d answers in all", len(g.answered))
		}
	}
}

func waitHeld(t *testing.T, ctx context.Context, p *Peer, want func(int) bool) int {
	t.Helper()
	for {
		if h := p.Stats().Held; want(h) {
			return h
		}
		if ctx.Err() != nil {
			st := p.Stats()
			t.Fatalf("%d requests received, %d held, %d bytes queued", st.Requests, st.Held, p.ch.Mux().Queued())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReplicateHeldRequests: while the outgoing queue is long, the
// remote's requests are held, not answered (the queue stays near
// maxAnswerBacklog), and the peer goes on reading: a cancel drops a held
// request and a request that reuses a held one's id replaces it. Once the
// remote reads again every held request is answered, oldest first.
func TestReplicateHeldRequests(t *testing.T) {
	const n, size = 200, 64 << 10
	w := filledCore(t, n, size)
	g, pw := newGatedRemote(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for id := uint64(1); id <= 150; id++ {
		g.request(id, id-1)
	}
	for pw.Stats().Requests < 150 {
		if ctx.Err() != nil {
			t.Fatalf("%d of 150 requests received", pw.Stats().Requests)
		}
		time.Sleep(5 * time.Millisecond)
	}
	held := pw.Stats().Held
	if q := pw.ch.Mux().Queued(); q > maxAnswerBacklog+2*corkLimit+2*size {
		t.Fatalf("%d bytes queued with %d requests held", q, held)
	}
	if held < 150-(maxAnswerBacklog+2*corkLimit+2*size)/size {
		t.Fatalf("only %d of 150 requests held", held)
	}

	// Cancel the last ten, and reuse id 140 (held too) for block 199.
	for id := uint64(141); id <= 150; id++ {
		g.msgs[2].Send(encodeCancel(Cancel{Request: id}))
	}
	g.request(140, 199)
	waitHeld(t, ctx, pw, func(h int) bool { return h == held-10 })

	g.open()
	g.request(1000, 0) // answered last: the held requests go first
	g.waitAnswers(t, ctx, 141)
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.answered) != 141 {
		t.Fatalf("%d requests answered, want 141", len(g.answered))
	}
	for id := uint64(1); id < 140; id++ {
		if i, ok := g.answered[id]; !ok || i != id-1 {
			t.Fatalf("request %d: answered %v with block %d", id, ok, i)
		}
	}
	if i := g.answered[140]; i != 199 {
		t.Fatalf("reused id 140 answered with block %d, want 199", i)
	}
	for id := uint64(141); id <= 150; id++ {
		if _, ok := g.answered[id]; ok {
			t.Fatalf("cancelled request %d answered", id)
		}
	}
	if _, ok := g.answered[1000]; !ok {
		t.Fatal("last request not answered")
	}
}

// TestReplicateHeldRequestsBounded: a remote that sends far more requests
// than it reads answers gets at most maxHeldRequests+maxQueuedMsgs of them
// held; the rest are left unread (in the peer's incoming queue, then in
// the stream), so memory stays bounded. All are answered once it reads.
func TestReplicateHeldRequestsBounded(t *testing.T) {
	const n, size = 64, 1 << 10
	// More than the backlog's answers, the held bound and a full incoming
	// queue together.
	const sent = maxAnswerBacklog/size + maxHeldRequests + 2*maxQueuedMsgs
	w := filledCore(t, n, size)
	g, pw := newGatedRemote(t, w)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for id := uint64(1); id <= sent; id++ {
		g.request(id, id%n)
	}
	waitHeld(t, ctx, pw, func(h int) bool { return h >= maxHeldRequests })
	for {
		pw.mu.Lock()
		waiting := pw.inMsgs
		pw.mu.Unlock()
		if waiting > 0 {
			break // the rest wait, not taken by the worker
		}
		if ctx.Err() != nil {
			t.Fatal("no request left waiting in the incoming queue")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if h := pw.Stats().Held; h > maxHeldRequests+maxQueuedMsgs {
		t.Fatalf("%d requests held, bound %d", h, maxHeldRequests+maxQueuedMsgs)
	}
	g.open()
	g.waitAnswers(t, ctx, sent)
	waitHeld(t, ctx, pw, func(h int) bool { return h == 0 })
}
