package hypercore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenp2p/warren/protomux"
)

// link connects a (initiator) and b over a framed pipe; kill ends the link
// at once, as a dead connection would.
type link struct {
	a, b   *Peer
	ma, mb *protomux.Mux
	once   sync.Once
}

func (l *link) kill() {
	l.once.Do(func() { l.ma.Close(); l.mb.Close(); <-l.ma.Done(); <-l.mb.Done() })
}

func connect(t *testing.T, a, b *Core, tamperA func(*Data)) *link {
	t.Helper()
	ca, cb := net.Pipe()
	l := &link{
		ma: protomux.New(protomux.Framed(ca), &protomux.Config{DeferStart: true}),
		mb: protomux.New(protomux.Framed(cb), &protomux.Config{DeferStart: true}),
	}
	t.Cleanup(l.kill)
	hs := bytes.Repeat([]byte{0xcd}, 64)
	var err error
	if l.a, err = a.Replicate(l.ma, true, hs); err != nil {
		t.Fatal(err)
	}
	if l.b, err = b.Replicate(l.mb, false, hs); err != nil {
		t.Fatal(err)
	}
	l.a.mu.Lock()
	l.a.tamper = tamperA
	l.a.mu.Unlock()
	l.ma.Start()
	l.mb.Start()
	return l
}

// seeders returns a writer of n blocks and k readers holding a full copy.
func seeders(t *testing.T, n, k int) []*Core {
	t.Helper()
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, n)
	key := w.Key()
	out := []*Core{w}
	for range k {
		s := mustOpen(t, t.TempDir(), Options{Key: key[:]})
		l := connect(t, w, s, nil)
		waitBlocks(t, s, n)
		l.kill()
		out = append(out, s)
	}
	return out
}

// TestReplicateSpreadsAcrossPeers: a reader connected to three seeders
// fetches from all of them and each block once. The core holds more than
// two request windows, so that the first seeder to connect cannot be asked
// for everything before the others are.
func TestReplicateSpreadsAcrossPeers(t *testing.T) {
	const n = 2*maxInflight + 500
	seeds := seeders(t, n, 2)
	key := seeds[0].Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
	var links []*link
	for _, s := range seeds {
		links = append(links, connect(t, s, r, nil))
	}
	waitBlocks(t, r, n)
	verifyAll(t, r)
	var total uint64
	served := 0
	// A Get may see the last block an instant before its peer counts it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		total, served = 0, 0
		for _, l := range links {
			st := l.b.Stats()
			total += st.Blocks
			if st.Blocks > 0 {
				served++
			}
		}
		if total >= n || time.Now().After(deadline) {
			break
		}
	}
	if served < 2 {
		t.Fatalf("blocks came from %d of 3 peers", served)
	}
	if total < n || total > n+n/10 {
		t.Fatalf("%d blocks received for %d", total, n)
	}
	if got := len(r.Peers()); got != 3 {
		t.Fatalf("Peers() = %d", got)
	}
}

// TestReplicatePeerDies: one of two seeders dies mid-download; the reader
// gets the rest from the other.
func TestReplicatePeerDies(t *testing.T) {
	const n = 2000
	seeds := seeders(t, n, 1)
	key := seeds[0].Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
	l1 := connect(t, seeds[0], r, nil)
	connect(t, seeds[1], r, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := r.Get(ctx, n/5, GetOptions{Wait: true}); err != nil {
		t.Fatal(err)
	}
	l1.kill()
	waitBlocks(t, r, n)
	verifyAll(t, r)
	if len(r.Peers()) != 1 {
		t.Fatalf("Peers() = %d after one died", len(r.Peers()))
	}
}

// stallPeer is a fake remote that announces a full core (from src) but
// answers nothing; it counts the cancels it receives.
type stallPeer struct {
	cancels atomic.Int64
}

func (sp *stallPeer) run(t *testing.T, src, r *Core) *Peer {
	t.Helper()
	ca, cb := net.Pipe()
	ma := protomux.New(protomux.Framed(ca), &protomux.Config{DeferStart: true})
	mb := protomux.New(protomux.Framed(cb), &protomux.Config{DeferStart: true})
	t.Cleanup(func() { ma.Close(); mb.Close(); <-ma.Done(); <-mb.Done() })
	hs := bytes.Repeat([]byte{9}, 64)
	peer, err := r.Replicate(ma, true, hs)
	if err != nil {
		t.Fatal(err)
	}
	dk := r.DiscoveryKey()
	ch, err := mb.Channel(protomux.ChannelOptions{Protocol: Protocol, ID: dk[:]})
	if err != nil {
		t.Fatal(err)
	}
	mSync := ch.AddMessage(nil)
	ch.AddMessage(nil) // request: ignored
	ch.AddMessage(func([]byte) error { sp.cancels.Add(1); return nil })
	for range 5 {
		ch.AddMessage(nil)
	}
	mRange := ch.AddMessage(nil)
	ch.AddMessage(nil)
	key := r.Key()
	capa, _ := Capability(false, key, hs)
	ch.Open(encodeHandshake(Handshake{Capability: capa}))
	ma.Start()
	mb.Start()
	mSync.Send(encodeSync(Sync{Length: src.Length(), CanUpgrade: true, Uploading: true}))
	mRange.Send(encodeRange(Range{Start: 0, Length: src.Length()}))
	return peer
}

// TestReplicateTimeoutRetry: a peer that announces everything and answers
// nothing has its requests cancelled after the timeout; an honest peer
// delivers those blocks.
func TestReplicateTimeoutRetry(t *testing.T) {
	const n = 1000
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, n)
	key := w.Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
	sp := &stallPeer{}
	stalled := sp.run(t, w, r)
	stalled.SetRequestTimeout(300 * time.Millisecond)
	// The stalled peer is asked for the upgrade first and times out.
	deadline := time.Now().Add(60 * time.Second)
	for sp.cancels.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no cancel for the unanswered upgrade")
		}
		time.Sleep(20 * time.Millisecond)
	}
	connect(t, w, r, nil)
	waitBlocks(t, r, n)
	verifyAll(t, r)
	if st := stalled.Stats(); st.Timeouts == 0 || st.Blocks != 0 {
		t.Fatalf("stalled peer stats %+v", st)
	}
}

// TestReplicateHostileThenHonest: a peer sending a bad signature, a bad
// Merkle proof or blocks not matching their hashes is dropped, nothing it
// sent is stored, and the reader completes from an honest peer; the store
// is then verified from scratch.
func TestReplicateHostileThenHonest(t *testing.T) {
	cases := []struct {
		name   string
		tamper func(d *Data)
		// together connects the honest peer at once instead of after the
		// hostile one was dropped.
		together bool
	}{
		{"signature", func(d *Data) {
			if d.Upgrade != nil {
				d.Upgrade.Signature[0] ^= 0x80
			}
		}, false},
		{"proof", func(d *Data) {
			if d.Upgrade != nil && len(d.Upgrade.Nodes) > 0 {
				d.Upgrade.Nodes[len(d.Upgrade.Nodes)-1].Hash[3] ^= 1
			}
		}, false},
		{"block-proof", func(d *Data) {
			if d.Block != nil && len(d.Block.Nodes) > 0 {
				d.Block.Nodes[0].Hash[0] ^= 1
			}
		}, true},
		{"block", func(d *Data) {
			if d.Block != nil {
				d.Block.Value = append([]byte("evil-"), d.Block.Value...)
			}
		}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const n = 600
			seeds := seeders(t, n, 1)
			key := seeds[0].Key()
			r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
			bad := connect(t, seeds[1], r, tc.tamper)
			if tc.together {
				// Once the hostile peer has been asked for something: an
				// honest peer connected first can claim every block (a
				// window holds all 600), and the hostile one then never
				// answers anything to be dropped for.
				asked := func() bool {
					select {
					case <-bad.b.Done():
						return true
					default:
						return bad.b.Stats().Inflight > 0
					}
				}
				for deadline := time.Now().Add(60 * time.Second); !asked(); time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatal("the hostile peer was asked for nothing")
					}
				}
				connect(t, seeds[0], r, nil)
			}
			select {
			case <-bad.b.Done():
			case <-time.After(60 * time.Second):
				t.Fatal("hostile peer not dropped")
			}
			if err := bad.b.Err(); !errors.Is(err, ErrBadPeer) {
				t.Fatalf("hostile peer error %v", err)
			}
			if st := bad.b.Stats(); st.Blocks != 0 {
				t.Fatalf("%d blocks stored from the hostile peer", st.Blocks)
			}
			if !tc.together {
				if r.Length() != 0 || r.Manifest() != nil {
					t.Fatalf("bad upgrade stored: length %d", r.Length())
				}
				connect(t, seeds[0], r, nil)
			}
			waitBlocks(t, r, n)
			verifyAll(t, r)
		})
	}
}

// TestReplicateWantBitfield: a sparse seeder holding only a middle range
// announces nothing contiguous; a reader learns what it holds by a want
// and its bitfield answer, and fetches exactly that.
func TestReplicateWantBitfield(t *testing.T) {
	const n = 500
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, n)
	key := w.Key()
	s := mustOpen(t, t.TempDir(), Options{Key: key[:], Sparse: true})
	l := connect(t, w, s, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Download(ctx, 100, 150); err != nil {
		t.Fatal(err)
	}
	l.kill()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
	connect(t, s, r, nil)
	for i := 100; i < 150; i++ {
		v, err := r.Get(ctx, uint64(i), GetOptions{Wait: true})
		if err != nil || !bytes.Equal(v, blockData(i)) {
			t.Fatalf("block %d: %q %v", i, v, err)
		}
	}
	for _, i := range []uint64{0, 99, 150, 499} {
		if r.Has(i) {
			t.Fatalf("reader holds block %d the seeder never had", i)
		}
	}
}

// TestReplicateExtension: messages of a registered extension travel both
// ways; an unregistered name is ignored; Broadcast reaches every peer.
func TestReplicateExtension(t *testing.T) {
	seeds := seeders(t, 10, 1)
	key := seeds[0].Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
	got := make(chan string, 16)
	// Seeders answer each message with "re:" + message.
	for _, s := range seeds {
		var ext *Extension
		ext = s.RegisterExtension("echo", func(p *Peer, msg []byte) {
			ext.Send(p, append([]byte("re:"), msg...))
		})
	}
	ext := r.RegisterExtension("echo", func(p *Peer, msg []byte) { got <- string(msg) })
	defer ext.Close()
	r.RegisterExtension("other", nil)
	for _, s := range seeds {
		connect(t, s, r, nil)
	}
	waitBlocks(t, r, 10)
	if n := ext.Broadcast([]byte("hi")); n != 2 {
		t.Fatalf("broadcast reached %d peers", n)
	}
	for range 2 {
		select {
		case m := <-got:
			if m != "re:hi" {
				t.Fatalf("got %q", m)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("no extension answer")
		}
	}
	// An empty name repeats the sender's previous one.
	p := r.Peers()[0]
	p.mExt.Send(encodeExtension(ExtensionMessage{Message: []byte("again")}))
	select {
	case m := <-got:
		if m != "re:again" {
			t.Fatalf("got %q", m)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("no answer to an elided name")
	}
	ext.Close()
	if err := ext.Send(p, []byte("x")); !errors.Is(err, ErrExtensionClosed) {
		t.Fatalf("send on a closed extension: %v", err)
	}
}

// TestReplicateSparseLiveGet: a sparse reader waiting for a block the writer
// has not appended yet gets it when it is appended, and only it.
func TestReplicateSparseLiveGet(t *testing.T) {
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, 100)
	key := w.Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:], Sparse: true})
	connect(t, w, r, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := make(chan error, 1)
	go func() {
		v, err := r.Get(ctx, 105, GetOptions{Wait: true})
		if err == nil && !bytes.Equal(v, blockData(105)) {
			err = errors.New("wrong block 105")
		}
		got <- err
	}()
	time.Sleep(50 * time.Millisecond)
	appendN(t, w, 100, 10)
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	if k := countStored(r, 110); k != 1 || r.Length() != 110 {
		t.Fatalf("sparse reader holds %d blocks of %d", k, r.Length())
	}
}

func countStored(c *Core, n uint64) int {
	k := 0
	for i := range n {
		if c.Has(i) {
			k++
		}
	}
	return k
}

// TestReplicateHaveBroadcast: a reader asks a sparse seeder that holds
// nothing yet; when the seeder later downloads a range from the writer, it
// tells the reader, which fetches that range from it.
func TestReplicateHaveBroadcast(t *testing.T) {
	const n = 300
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, n)
	key := w.Key()
	s := mustOpen(t, t.TempDir(), Options{Key: key[:], Sparse: true})
	r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
	connect(t, w, s, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := s.Get(ctx, 0, GetOptions{Wait: true}); err != nil {
		t.Fatal(err)
	}
	connect(t, s, r, nil)
	for r.Length() != n {
		if ctx.Err() != nil {
			t.Fatal("reader never learnt the length")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Download(ctx, 200, 250); err != nil {
		t.Fatal(err)
	}
	for i := 200; i < 250; i++ {
		v, err := r.Get(ctx, uint64(i), GetOptions{Wait: true})
		if err != nil || !bytes.Equal(v, blockData(i)) {
			t.Fatalf("block %d: %q %v", i, v, err)
		}
	}
}

// TestReplicateSilentPeerWindow: a peer that lets its requests time out is
// given fewer and fewer at a time, and a cancel for each.
func TestReplicateSilentPeerWindow(t *testing.T) {
	// More blocks than two full windows: the first round of requests
	// fills the window, and the blocks left show how many the next round
	// may ask for (timed-out blocks are not asked again for a while).
	const n = 2*maxInflight + 100
	w := mustOpen(t, t.TempDir(), Options{})
	appendN(t, w, 0, n)
	key := w.Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:], Sparse: true})
	l := connect(t, w, r, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := r.Get(ctx, 0, GetOptions{Wait: true}); err != nil {
		t.Fatal(err)
	}
	l.kill()
	sp := &stallPeer{}
	stalled := sp.run(t, w, r)
	stalled.SetRequestTimeout(100 * time.Millisecond)
	dctx, dcancel := context.WithCancel(ctx)
	defer dcancel()
	go r.Download(dctx, 1, n)
	deadline := time.Now().Add(60 * time.Second)
	t0 := time.Now()
	// Wait for the whole first round to time out, then for the next
	// round to be asked.
	for stalled.Stats().Timeouts < maxInflight {
		if time.Now().After(deadline) {
			t.Fatalf("stalled peer stats %+v", stalled.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	for stalled.Stats().Inflight == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no second round: stalled peer stats %+v", stalled.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	st := stalled.Stats()
	t.Logf("after %v: %+v", time.Since(t0), st)
	// The second round is a quarter of the full window (or less).
	if st.Inflight > maxInflight/4 {
		t.Fatalf("a silent peer still has %d requests in flight", st.Inflight)
	}
	// The cancels are on their way: the stats are published first.
	for sp.cancels.Load() < maxInflight {
		if time.Now().After(deadline) {
			t.Fatalf("%d cancels for %d timeouts", sp.cancels.Load(), stalled.Stats().Timeouts)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReplicateTruncationAcrossPeers: a reader connected to the writer and
// to a seeder that is not connected to the writer. The writer truncates and
// appends other blocks: the reader follows the writer's new fork without
// taking old-fork blocks from the seeder, and the seeder follows through
// the reader. No peer is taken for a bad one.
func TestReplicateTruncationAcrossPeers(t *testing.T) {
	const n = 200
	seeds := seeders(t, n, 1)
	w, s := seeds[0], seeds[1]
	key := w.Key()
	r := mustOpen(t, t.TempDir(), Options{Key: key[:]})
	lw := connect(t, w, r, nil)
	ls := connect(t, s, r, nil)
	waitBlocks(t, r, n)
	if err := w.Truncate(120); err != nil {
		t.Fatal(err)
	}
	var more [][]byte
	for i := range 40 {
		more = append(more, []byte(fmt.Sprintf("fork1-%d", i)))
	}
	if _, err := w.Append(more...); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range []*Core{r, s} {
		for c.Fork() != 1 || c.Length() != 160 {
			if ctx.Err() != nil {
				t.Fatalf("length %d fork %d", c.Length(), c.Fork())
			}
			time.Sleep(5 * time.Millisecond)
		}
		// A reorg whose hash requests go unanswered clears down to the
		// shared roots and fetches the rest again: wait for every block,
		// then check the new fork's and verify all.
		for i := range 160 {
			v, err := c.Get(ctx, uint64(i), GetOptions{Wait: true})
			if err != nil {
				t.Fatalf("block %d: %v", i, err)
			}
			if i >= 120 && string(v) != fmt.Sprintf("fork1-%d", i-120) {
				t.Fatalf("block %d: %q", i, v)
			}
		}
		verifyAll(t, c)
	}
	for _, p := range []*Peer{lw.a, lw.b, ls.a, ls.b} {
		if err := p.Err(); err != nil {
			t.Fatalf("peer dropped: %v", err)
		}
	}
}

// TestInflightLimit: the request window is capped by the core's average
// block size, so large blocks keep at most about maxInflightBytes on their
// way, and a shrunk window (a peer that let requests time out) still rules.
func TestInflightLimit(t *testing.T) {
	cases := []struct {
		length, byteLength uint64
		window, want       int
	}{
		{0, 0, maxInflight, maxInflight},
		{65536, 65536 * 1024, maxInflight, maxInflight},
		{2048, 2048 * 65536, maxInflight, maxInflightBytes / 65536},
		{10, 10 << 30, maxInflight, minInflight},
		{100, 100 << 20, maxInflight, 16},
		{65536, 65536 * 1024, 4, 4},
		{2048, 2048 * 65536, 1, 1},
	}
	for _, tc := range cases {
		p := &Peer{window: tc.window}
		got := p.inflightLimit(Info{Length: tc.length, ByteLength: tc.byteLength})
		if got != tc.want {
			t.Errorf("length %d, %d bytes, window %d: limit %d, want %d", tc.length, tc.byteLength, tc.window, got, tc.want)
		}
	}
}
