package hypercore

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/warrenp2p/warren/compact"
	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/protomux"
)

// Protocol is the protomux protocol name of hypercore replication.
const Protocol = "hypercore/alpha"

// Replication errors.
var (
	// ErrCapability is returned when the remote's capability does not prove
	// it knows the core key for this connection.
	ErrCapability = errors.New("hypercore: invalid replication capability")
	// ErrBadPeer is returned when a peer sent data that did not verify; the
	// peer's channel is closed and nothing it sent is stored.
	ErrBadPeer = errors.New("hypercore: peer sent invalid data")
)

// maxInflight is how many block requests a peer keeps outstanding; a peer
// whose requests time out gets a smaller window (see Peer.window).
// maxInflightBytes caps the window further by the core's average block
// size, so that large blocks do not pile up megabytes of answers (blocks
// of up to MaxBlockSize: with minInflight of them at most 60 MiB). On a
// fast link the window is what keeps both ends busy: while the reader
// verifies one burst of answers the writer must still hold requests to
// answer (JS keeps 16 to 512 in flight; small blocks over loopback run
// best here with about a thousand).
const (
	maxInflight      = 1024
	minInflight      = 4
	maxInflightBytes = 16 << 20
)

// inflightLimit is how many block requests may be in flight to this peer
// now: the peer's window, capped so that at most about maxInflightBytes
// of blocks of the core's average size are on their way.
func (p *Peer) inflightLimit(info Info) int {
	limit := p.window
	if info.Length > 0 {
		avg := max(info.ByteLength/info.Length, 1)
		limit = min(limit, int(max(minInflight, min(maxInflightBytes/avg, maxInflight))))
	}
	return limit
}

// corkLimit is how many bytes of answers a peer batches into one protomux
// frame before sending it.
const corkLimit = 64 << 10

// Capability returns the replication capability one side sends: the keyed
// hash of the core key under the noise handshake hash of the connection.
func Capability(initiator bool, key [32]byte, handshakeHash []byte) ([32]byte, error) {
	ns := nsReplicateResp
	if initiator {
		ns = nsReplicateInit
	}
	return crypto.KeyedHash(handshakeHash, ns[:], key[:])
}

// Peer replicates a core with one remote over a protomux channel. It
// downloads every block the remote has and this core lacks (eager; a
// sparse core only what Get and Download wait for), answers the remote's
// requests and announces appends. Several peers of one core share the
// work: a block is requested from one peer at a time, and the blocks of a
// peer that goes away or does not answer within the request timeout are
// requested from the others. Message handlers only queue work; one
// goroutine owned by the Peer does it and ends when the channel closes or
// the core is closed. The queue is bounded: a remote that sends faster
// than the worker keeps up is no longer read until it catches up. When
// the writer truncates, the peer follows the new fork keeping every block
// the two forks share (it asks the remote for the tree nodes that show
// where they part).
type Peer struct {
	c         *Core
	r         *replicator
	ch        *protomux.Channel
	mSync     *protomux.Message
	mRequest  *protomux.Message
	mCancel   *protomux.Message
	mData     *protomux.TypedMessage[*Data]
	mNoData   *protomux.Message
	mWant     *protomux.Message
	mUnwant   *protomux.Message
	mRange    *protomux.Message
	mBitfield *protomux.Message
	mExt      *protomux.Message
	initiator bool
	hsHash    []byte
	// tamper, set by tests only (under mu), corrupts outgoing data
	// messages to play a malicious peer.
	tamper func(*Data)

	mu    sync.Mutex
	queue []func()
	data  []*Data // data messages, applied in batches
	wake  chan struct{}
	// inMsgs and inBytes count the remote's messages waiting in queue and
	// data; at maxQueuedMsgs or maxQueuedBytes the mux reader waits (on
	// space) for the worker to take them, so the remote's stream stops
	// being read instead of the queue growing. inHigh is the most ever
	// waiting.
	inMsgs  int
	inBytes int
	inHigh  int
	space   chan struct{}
	err     error
	onEnd   func(opened bool) // run by the worker once it has ended (OnEnd)
	ended   bool              // the worker has ended
	done    chan struct{}
	timeout time.Duration
	stats   Stats

	// Worker state.
	remoteOpened    bool
	remoteSynced    bool
	remoteFork      uint64
	remoteLength    uint64
	remoteContig    uint64
	remoteRanges    []Range // what the remote announced beyond remoteContig, newest last
	inflight        map[uint64]inflightReq
	inflightBlock   map[uint64]bool
	skip            map[uint64]time.Time // blocks that timed out here, until when
	sentWants       map[uint64]uint64    // want batches announced to the remote: the update pass that last needed each
	wantPass        uint64               // update passes so far
	timeouts        uint64
	blocks          uint64
	requests        uint64 // requests received
	lastExtRecv     string
	nextDue         time.Time           // when expire must look at the requests again
	remoteWants     map[Want]bool       // wants answered, until unwanted
	window          int                 // block requests kept in flight: shrinks on timeouts, regrows on answers
	corked          int                 // bytes of answers in the current protomux batch (run goroutine only)
	held            []*Request          // requests held back while the outgoing queue is long, oldest first
	heldLive        map[uint64]*Request // the request of each id in held still to answer (cancels and reused ids drop entries)
	waitingDrain    atomic.Bool         // held requests wait for the mux to drain (OnDrain wakes the worker)
	lastShrink      time.Time           // when window last shrank
	upgradeInflight bool
	reorg           *pendingReorg // a newer fork whose ancestor is being narrowed down
	reorgInflight   bool          // a hash request of reorg is in flight
	nextID          uint64
	cursor          uint64
	cursorFork      uint64
	sentLength      uint64
	sentFork        uint64
	sentContig      uint64
	sentAny         bool
	sentIdle        bool // the last sync said we are not downloading
	remoteIdle      bool // the remote's last sync said it is not downloading
}

// inflightReq is a request awaiting its answer.
type inflightReq struct {
	req  *Request
	sent time.Time
}

// Replicate opens the hypercore channel for c on mux. initiator and
// handshakeHash come from the encrypted connection under the mux
// (secretstream Conn.IsInitiator and HandshakeHash). Create the mux with
// DeferStart and Start it after Replicate: a remote open that arrives before
// the channel exists is otherwise rejected.
func (c *Core) Replicate(mux *protomux.Mux, initiator bool, handshakeHash []byte) (*Peer, error) {
	p := &Peer{
		c:             c,
		initiator:     initiator,
		hsHash:        append([]byte(nil), handshakeHash...),
		wake:          make(chan struct{}, 1),
		space:         make(chan struct{}, 1),
		done:          make(chan struct{}),
		inflight:      map[uint64]inflightReq{},
		inflightBlock: map[uint64]bool{},
		skip:          map[uint64]time.Time{},
		sentWants:     map[uint64]uint64{},
		remoteWants:   map[Want]bool{},
		heldLive:      map[uint64]*Request{},
		window:        maxInflight,
		nextID:        1,
		timeout:       DefaultRequestTimeout,
	}
	dk := c.DiscoveryKey()
	ch, err := mux.Channel(protomux.ChannelOptions{
		Protocol: Protocol,
		Aliases:  []string{"hypercore"},
		ID:       dk[:],
		OnOpen:   p.onOpen,
		OnClose:  func(bool) { p.signal() },
		OnDrain: func() {
			if p.waitingDrain.Load() {
				p.signal()
			}
		},
	})
	if err != nil {
		return nil, err
	}
	p.ch = ch
	p.mSync = ch.AddMessage(on(p, decodeSync, p.onSync))
	p.mRequest = ch.AddMessage(on(p, func(b []byte) (*Request, error) {
		return compact.Decode[*Request](RequestCodec, b)
	}, p.onRequest))
	// A cancel drops a request still held back; one already answered has
	// nothing left to stop.
	p.mCancel = ch.AddMessage(on(p, decodeCancel, func(c Cancel) { delete(p.heldLive, c.Request) }))
	// Answers are encoded straight into their frame (a typed message):
	// no buffer of their own, no second copy of the block.
	p.mData = protomux.AddTypedMessage(ch, DataCodec, func(d *Data) error {
		p.push(d.size(), func() { p.data = append(p.data, d) })
		return nil
	})
	p.mNoData = ch.AddMessage(on(p, decodeNoData, p.onNoData))
	p.mWant = ch.AddMessage(on(p, decodeWant, p.onWant))
	p.mUnwant = ch.AddMessage(on(p, decodeWant, p.onUnwant))
	p.mBitfield = ch.AddMessage(on(p, decodeBitfield, p.onBitfield))
	p.mRange = ch.AddMessage(on(p, decodeRange, p.onRange))
	p.mExt = ch.AddMessage(on(p, decodeExtension, p.onExtension))
	capa, err := Capability(initiator, c.Key(), handshakeHash)
	if err != nil {
		ch.Close()
		return nil, err
	}
	p.join()
	if err := ch.Open(encodeHandshake(Handshake{Seeks: true, Capability: capa})); err != nil {
		ch.Close()
		p.leave()
		return nil, err
	}
	go p.run()
	return p, nil
}

// on wraps a decoder and a worker-side handler into a protomux message
// handler: a message that does not decode is an error (it ends the mux, as
// in JS); a decoded one is queued for the worker.
func on[T any](p *Peer, decode func([]byte) (T, error), fn func(T)) func([]byte) error {
	return func(b []byte) error {
		m, err := decode(b)
		if err != nil {
			return err
		}
		if fn != nil {
			p.push(len(b), func() { p.queue = append(p.queue, func() { fn(m) }) })
		}
		return nil
	}
}

// The remote's messages wait for the worker in a bounded queue: past
// maxQueuedMsgs messages or maxQueuedBytes bytes the mux reader waits, so
// a remote that sends faster than we handle (a flood of requests, say) is
// no longer read, as a net.Conn reader that stops calling Read holds a
// sender back. The worker takes the whole queue at once, and the bounds
// hold an honest remote's burst whole (a JS peer keeps at most 512
// requests in flight; the answers to our window of 256 requests for 64 KiB
// blocks are 16 MiB), so honest peers are not slowed.
const (
	maxQueuedMsgs  = 2048
	maxQueuedBytes = 16 << 20
)

// push runs add (which appends the message of size bytes to queue or
// data) under p.mu once the queue has room, and wakes the worker. It runs
// on the mux reader. Once the worker has ended the message is dropped.
func (p *Peer) push(size int, add func()) {
	p.mu.Lock()
	for p.inMsgs >= maxQueuedMsgs || p.inBytes >= maxQueuedBytes {
		p.mu.Unlock()
		select {
		case <-p.space:
		case <-p.done:
			return
		}
		p.mu.Lock()
	}
	add()
	p.inMsgs++
	p.inBytes += size
	p.inHigh = max(p.inHigh, p.inMsgs)
	p.mu.Unlock()
	p.signal()
}

// enqueue queues local work for the worker (never blocks: its amount is
// bounded by what this side does, not by the remote).
func (p *Peer) enqueue(f func()) {
	p.mu.Lock()
	p.queue = append(p.queue, f)
	p.mu.Unlock()
	p.signal()
}

func (p *Peer) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Done is closed when the peer's worker has ended.
func (p *Peer) Done() <-chan struct{} { return p.done }

// OnEnd registers f to run once the peer has ended (after Done is
// closed), with whether the remote had opened the channel (rather than
// rejected it or never answered). f runs on the peer's goroutine, or on
// a goroutine of its own when the peer has ended already; it must not
// wait for the peer. A later OnEnd replaces f.
func (p *Peer) OnEnd(f func(opened bool)) {
	p.mu.Lock()
	if !p.ended {
		p.onEnd = f
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	opened := p.remoteOpened // the worker has ended: its state is ours to read
	go f(opened)
}

// Closed is closed as soon as the peer's channel is closed (by either side,
// a reject of its open, or the end of the mux); Done follows once the
// worker has wound down. A new channel for the core can be opened on the
// mux from then on.
func (p *Peer) Closed() <-chan struct{} { return p.ch.Closed() }

// Err reports why the peer ended, if it was dropped for bad data.
func (p *Peer) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Close closes the peer's channel.
func (p *Peer) Close() error { return p.ch.Close() }

func (p *Peer) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	p.ch.Close()
}

func (p *Peer) onOpen(hs []byte) error {
	h, err := decodeHandshake(hs)
	if err != nil {
		return err
	}
	want, err := Capability(!p.initiator, p.c.Key(), p.hsHash)
	if err != nil {
		return err
	}
	if h.Capability != want {
		return ErrCapability
	}
	p.enqueue(func() {
		p.remoteOpened = true
		p.sendSync()
		p.announce()
	})
	return nil
}

func (p *Peer) run() {
	defer func() {
		p.mu.Lock()
		f := p.onEnd
		p.ended = true
		p.mu.Unlock()
		if f != nil {
			f(p.remoteOpened)
		}
	}()
	defer close(p.done)
	defer p.leave()
	defer p.publishStats()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// Take the change channel before looking at the core, so a change
		// made while we work wakes the next wait.
		p.c.mu.RLock()
		changed, closed := p.c.changed, p.c.closed
		p.c.mu.RUnlock()
		if closed {
			p.ch.Close()
			return
		}
		for {
			var q []func()
			var data []*Data
			if len(p.heldLive) < maxHeldRequests {
				p.mu.Lock()
				q, data = p.queue, p.data
				p.queue, p.data = nil, nil
				p.inMsgs, p.inBytes = 0, 0
				p.mu.Unlock()
				select {
				case p.space <- struct{}{}:
				default:
				}
			}
			if len(q) == 0 && len(data) == 0 && !p.canAnswerHeld() {
				break
			}
			// The answers to a run of requests go out as one protomux
			// batch, as JS corks its stream while it handles a burst.
			// A batch is sent once it holds corkLimit bytes, so large
			// blocks still stream instead of waiting for the whole run.
			mux := p.ch.Mux()
			mux.Cork()
			p.corked = 0
			p.answerHeld()
			for _, f := range q {
				f()
				p.flushCorked()
			}
			mux.Uncork()
			p.applyData(data)
			if p.Err() != nil {
				return // dropped for bad data: nothing more it sent is applied
			}
		}
		select {
		case <-p.ch.Closed():
			return
		default:
		}
		// The requests (and cancels) of one pass go out as one batch
		// too: on a bulk download that is one frame for a window of
		// requests instead of one frame (and one seal and open) each.
		var next time.Time
		p.batched(func() {
			if p.remoteOpened {
				p.update()
			}
			next = p.expire(time.Now())
		})
		p.publishStats()
		var due <-chan time.Time
		if !next.IsZero() {
			timer.Reset(time.Until(next))
			due = timer.C
		}
		select {
		case <-p.ch.Closed():
			return
		case <-p.wake:
		case <-changed:
		case <-due:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (p *Peer) sendSync() {
	info := p.c.Info()
	m := Sync{
		Fork:        info.Fork,
		Length:      info.Length,
		CanUpgrade:  true,
		Uploading:   true,
		Downloading: p.c.Downloading(),
		HasManifest: p.c.Manifest() != nil && !info.Compat,
	}
	p.sentIdle = !m.Downloading
	if info.Fork == p.remoteFork {
		m.RemoteLength = p.remoteLength
	}
	p.sentLength, p.sentFork, p.sentAny = info.Length, info.Fork, true
	p.mSync.Send(encodeSync(m))
}

// announce tells the remote the blocks we hold from 0 on.
func (p *Peer) announce() {
	contig := p.c.ContiguousLength()
	if contig > 0 && contig != p.sentContig {
		p.sentContig = contig
		p.mRange.Send(encodeRange(Range{Start: 0, Length: contig}))
	}
}

func (p *Peer) onSync(m Sync) {
	p.remoteSynced = true
	p.remoteIdle = !m.Downloading
	// Answer when the remote's view of us is stale; across forks only the
	// first sync is answered, so two peers on different forks do not
	// bounce syncs forever.
	info := p.c.Info()
	prevFork := p.remoteFork
	p.remoteFork, p.remoteLength = m.Fork, m.Length
	// As in JS, a peer that is behind on our fork also gets a sync, so it
	// sees its length acknowledged and asks for the upgrade.
	sameFork := m.Fork == info.Fork
	if sameFork && (m.RemoteLength != info.Length || info.Length > m.Length) || !sameFork && (!p.sentAny || prevFork != m.Fork) {
		p.sendSync()
	}
}

// Answers wait while the mux's outgoing queue holds at least
// maxAnswerBacklog bytes (and is past its high water mark, so that OnDrain
// will say when it is not). The requests wait in held, answered in order
// once the queue drains, while the worker goes on reading the remote's
// messages. Stopping to read instead (the mux's last-resort bound) would
// leave two peers that download from each other at once each waiting for
// the other to read: nothing would move again. JS does the same, holding
// requests while its mux is not drained.
//
// The backlog stays well under the mux's read pause (32 MiB) even with
// many cores answering on one mux: each adds at most a batch (corkLimit)
// and a block past it. Once maxHeldRequests are held (far more than any
// honest window) the worker takes no more of the remote's messages until
// they are answered, so the remote is no longer read and at most
// maxHeldRequests+maxQueuedMsgs requests are held.
const (
	maxAnswerBacklog = 4 << 20
	maxHeldRequests  = 4096
)

// onRequest answers r, or holds it back behind earlier held requests or
// while the outgoing queue is long.
func (p *Peer) onRequest(r *Request) {
	p.requests++
	if len(p.held) == 0 && !p.backlogged() {
		p.answer(r)
		return
	}
	if len(p.held) > 2*len(p.heldLive)+64 {
		p.compactHeld() // cancels and reused ids leave dead entries behind
	}
	p.held = append(p.held, r)
	p.heldLive[r.ID] = r // a reused id replaces the earlier request, as in JS
	p.waitingDrain.Store(true)
}

// backlogged reports whether answers should wait for the outgoing queue
// to drain. waitingDrain is set first, so a drain that comes after the
// check wakes the worker.
func (p *Peer) backlogged() bool {
	p.waitingDrain.Store(true)
	mux := p.ch.Mux()
	full := mux.Queued() >= maxAnswerBacklog && !mux.Drained()
	if !full && len(p.held) == 0 {
		p.waitingDrain.Store(false)
	}
	return full
}

// canAnswerHeld reports whether held requests can be answered now.
func (p *Peer) canAnswerHeld() bool { return len(p.held) > 0 && !p.backlogged() }

// answerHeld answers held requests, oldest first, until none is left or
// the outgoing queue is long again. Called corked.
func (p *Peer) answerHeld() {
	for len(p.held) > 0 && !p.backlogged() {
		r := p.held[0]
		p.held[0] = nil
		p.held = p.held[1:]
		if p.heldLive[r.ID] != r {
			continue // cancelled, or replaced by a later request of that id
		}
		delete(p.heldLive, r.ID)
		p.answer(r)
		p.flushCorked()
	}
	if len(p.held) == 0 {
		p.held = nil
		p.waitingDrain.Store(false)
	}
}

// compactHeld drops the entries of held that will not be answered.
func (p *Peer) compactHeld() {
	live := p.held[:0]
	for _, r := range p.held {
		if p.heldLive[r.ID] == r {
			live = append(live, r)
		}
	}
	clear(p.held[len(live):])
	p.held = live
}

// flushCorked sends the current batch once it holds corkLimit bytes, so
// that large blocks stream instead of waiting for a whole run.
func (p *Peer) flushCorked() {
	if p.corked >= corkLimit {
		mux := p.ch.Mux()
		mux.Uncork()
		mux.Cork()
		p.corked = 0
	}
}

// answer sends the data (or no-data) that answers r.
func (p *Peer) answer(r *Request) {
	info := p.c.Info()

	if r.Fork != info.Fork {
		p.mNoData.Send(encodeNoData(NoData{Request: r.ID}))
		return
	}
	if r.Block != nil && !p.c.hasOpen(r.Block.Index) {
		p.mNoData.Send(encodeNoData(NoData{Request: r.ID}))
		return
	}
	proof, err := p.c.proof(ProofRequest{Block: r.Block, Hash: r.Hash, Seek: r.Seek, Upgrade: r.Upgrade})
	if err != nil {
		p.mNoData.Send(encodeNoData(NoData{Request: r.ID, Reason: 1}))
		return
	}
	if r.Manifest && !info.Compat {
		proof.Manifest = p.c.Manifest()
	}
	d := &Data{Request: r.ID, Proof: *proof}
	p.mu.Lock()
	tamper := p.tamper
	p.mu.Unlock()
	if tamper != nil {
		// The block and signature are shared with the core: the test
		// hook gets its own copies to change.
		if d.Block != nil {
			d.Block.Value = bytes.Clone(d.Block.Value)
		}
		if d.Upgrade != nil {
			d.Upgrade.Signature = bytes.Clone(d.Upgrade.Signature)
		}
		tamper(d)
	}
	p.corked += d.size()
	p.mData.Send(d)
}

// applyChunk is how many bytes of answers are applied before the requests
// they free are sent again: a whole window of large blocks applied in one
// go would leave the remote without requests (idle) while it is hashed and
// written, and then this side idle while the next window comes.
const applyChunk = 256 << 10

// applyData applies data in chunks of about applyChunk bytes, sending
// the requests each chunk frees before applying the next.
func (p *Peer) applyData(data []*Data) {
	for len(data) > 0 {
		n, size := 0, 0
		for n < len(data) && (n == 0 || size < applyChunk) {
			size += data[n].size()
			n++
		}
		p.onData(data[:n])
		data = data[n:]
		if p.Err() != nil {
			return // dropped for bad data: nothing more of it is applied
		}
		if len(data) > 0 && p.remoteOpened {
			p.batched(p.update)
		}
	}
}

// batched runs f with the mux corked: what f sends goes out as one batch.
func (p *Peer) batched(f func()) {
	mux := p.ch.Mux()
	mux.Cork()
	defer mux.Uncork()
	f()
}

// onData applies the data messages that answer our requests, in one batch.
func (p *Peer) onData(data []*Data) {
	var proofs []*Proof
	for _, d := range data {
		f, ok := p.inflight[d.Request]
		if !ok {
			continue // unsolicited or cancelled: ignore, as JS does
		}
		p.done1(f.req)
		if f.req.Hash != nil {
			p.onReorgHash(d)
			continue
		}
		if f.req.Upgrade != nil && p.c.isReorgData(d) {
			p.onReorgData(d)
			continue
		}
		p.window = min(maxInflight, p.window*2)
		if f.req.Block != nil {
			// Stored or rejected below: either way no longer in flight.
			defer p.r.release(f.req.Block.Index, p, false)
		}
		proofs = append(proofs, &d.Proof)
	}
	if len(proofs) == 0 {
		return
	}
	var stored []uint64
	defer func() { p.r.broadcastHave(p, stored) }()
	for len(proofs) > 0 {
		n, err := p.c.ApplyBatch(proofs)
		for _, pr := range proofs[:n] {
			if pr.Block != nil {
				p.blocks++
				stored = append(stored, pr.Block.Index)
			}
		}
		p.publishStats()
		proofs = proofs[n:]
		if err == nil || errors.Is(err, errReorgApplied) {
			continue
		}
		if errors.Is(err, ErrClosed) {
			return
		}
		if errors.Is(err, ErrForkMismatch) {
			proofs = proofs[1:] // from another fork: useless, not malicious
			continue
		}
		p.fail(fmt.Errorf("%w: %v", ErrBadPeer, err))
		return
	}
}

func (p *Peer) done1(req *Request) {
	delete(p.inflight, req.ID)
	if req.Block != nil {
		delete(p.inflightBlock, req.Block.Index)
	}
	if req.Upgrade != nil {
		p.upgradeInflight = false
	}
	if req.Hash != nil {
		p.reorgInflight = false
	}
}

func (p *Peer) onNoData(m NoData) {
	f, ok := p.inflight[m.Request]
	if !ok {
		return
	}
	p.done1(f.req)
	if b := f.req.Block; b != nil {
		p.addRange(Range{Drop: true, Start: b.Index, Length: 1})
		p.r.release(b.Index, p, true)
	}
	if f.req.Hash != nil {
		p.reorgFailed()
	}
}

// maxRanges bounds the availability a remote can make us remember.
const maxRanges = 4096

func (p *Peer) addRange(r Range) {
	if len(p.remoteRanges) >= maxRanges {
		p.remoteRanges = append(p.remoteRanges[:0], p.remoteRanges[len(p.remoteRanges)/2:]...)
	}
	p.remoteRanges = append(p.remoteRanges, r)
}

func (p *Peer) onRange(m Range) {
	if m.Start == 0 && !m.Drop {
		// Everything below Length is there now: older announcements for
		// that part (drops after a truncation, say) no longer count.
		p.remoteContig = max(p.remoteContig, m.Length)
		kept := p.remoteRanges[:0]
		for _, r := range p.remoteRanges {
			if r.Start+r.Length <= m.Length {
				continue
			}
			if r.Start < m.Length {
				r.Length -= m.Length - r.Start
				r.Start = m.Length
			}
			kept = append(kept, r)
		}
		p.remoteRanges = kept
		return
	}
	if m.Drop && m.Start < p.remoteContig {
		p.remoteContig = m.Start
	}
	p.addRange(m)
}

// maxBitfieldWords bounds how much of a bitfield message is looked at.
const maxBitfieldWords = 1 << 16

func (p *Peer) onBitfield(m Bitfield) {
	if len(m.Bitfield) > maxBitfieldWords {
		m.Bitfield = m.Bitfield[:maxBitfieldWords]
	}
	// Runs of set bits become ranges; a clear bit inside the contiguous
	// part shortens it.
	var run uint64
	var inRun bool
	for w, v := range m.Bitfield {
		for b := range 32 {
			i := m.Start + uint64(w*32+b)
			set := v&(1<<b) != 0
			if set && !inRun {
				run, inRun = i, true
			}
			if !set {
				if inRun {
					p.addRange(Range{Start: run, Length: i - run})
					inRun = false
				}
				if i < p.remoteContig {
					p.remoteContig = i
				}
			}
		}
	}
	if inRun {
		p.addRange(Range{Start: run, Length: m.Start + uint64(32*len(m.Bitfield)) - run})
	}
}

func (p *Peer) remoteHasBlock(i uint64) bool {
	for k := len(p.remoteRanges) - 1; k >= 0; k-- {
		r := p.remoteRanges[k]
		if i >= r.Start && i-r.Start < r.Length {
			return !r.Drop
		}
	}
	return i < p.remoteContig
}

func (p *Peer) send(r *Request) {
	r.ID = p.nextID
	p.nextID++
	p.inflight[r.ID] = inflightReq{req: r, sent: time.Now()}
	if r.Block != nil {
		p.inflightBlock[r.Block.Index] = true
	}
	if r.Upgrade != nil {
		p.upgradeInflight = true
	}
	if r.Hash != nil {
		p.reorgInflight = true
	}
	p.mRequest.Send(compact.Encode[*Request](RequestCodec, r))
}

// update sends what the current state calls for: a sync and range after
// local changes, an upgrade request when the remote is ahead, and block
// requests up to the peer's window.
func (p *Peer) update() {
	p.wantPass++
	info := p.c.Info()
	idle := !p.c.Downloading()
	if !p.sentAny || info.Length != p.sentLength || info.Fork != p.sentFork || idle != p.sentIdle {
		p.sendSync()
	}
	if idle && p.remoteIdle && len(p.inflight) == 0 && p.closeIfIdle() {
		return
	}
	p.announce()
	if !p.remoteSynced {
		return
	}
	if !p.upgradeInflight && p.remoteLength > info.Length && (p.remoteFork == info.Fork || info.Length == 0) {
		p.send(&Request{
			Fork:     p.remoteFork,
			Upgrade:  &RequestUpgrade{Start: info.Length, Length: p.remoteLength - info.Length},
			Manifest: p.c.Manifest() == nil,
		})
	}
	if p.reorg != nil && (p.reorg.b.fork != p.remoteFork || p.reorg.b.fork <= info.Fork) {
		p.reorg = nil // the remote moved on, or the core did
	}
	if p.reorg != nil {
		// Narrowing down where the new fork leaves ours.
		p.requestReorgNodes()
	} else if !p.upgradeInflight && p.remoteFork > info.Fork && info.Length > 0 && p.remoteLength > 0 {
		// The writer truncated: fetch its new tree from 0 and follow it.
		p.send(&Request{Fork: p.remoteFork, Upgrade: &RequestUpgrade{Start: 0, Length: p.remoteLength}})
	}
	if info.Length == 0 || p.remoteFork != info.Fork {
		return
	}
	limit := p.inflightLimit(info)
	// Wanted blocks first; then, unless the core is sparse, everything.
	for _, w := range p.c.wanted() {
		// Every block below the contiguous length is stored: start past it
		// rather than rescanning a range already downloaded on every update.
		for i := max(w.start, info.ContiguousLength); i < min(w.end, info.Length) && len(p.inflight) < limit; i++ {
			if p.inflightBlock[i] || p.c.hasOpen(i) {
				continue
			}
			if !p.remoteHasBlock(i) {
				p.maybeWant(i)
				if p.nothingBeyond(i) {
					break
				}
				continue
			}
			if !p.requestBlock(info.Fork, i) {
				return
			}
		}
	}
	if p.c.Sparse() {
		return
	}
	if p.cursorFork != info.Fork || p.cursor < info.ContiguousLength {
		p.cursor, p.cursorFork = info.ContiguousLength, info.Fork
	}
	for i := p.cursor; i < info.Length && len(p.inflight) < limit; i++ {
		if p.c.hasOpen(i) {
			if i == p.cursor {
				p.cursor++
			}
			continue
		}
		if p.inflightBlock[i] {
			continue
		}
		if !p.remoteHasBlock(i) {
			p.maybeWant(i)
			if p.nothingBeyond(i) {
				break
			}
			continue
		}
		if !p.requestBlock(info.Fork, i) {
			return
		}
	}
}

// closeIfIdle closes the channel when neither side downloads: it has no
// use (JS closes it too). The core's downloading flag is read again under
// the core's lock, and the channel closed before it is released, so a
// SetDownloading(true) (a corestore Get pinning an on-demand core) either
// comes first and keeps the channel, or finds it closed already and can
// open a new one: it never sees the channel open and then loses it.
func (p *Peer) closeIfIdle() bool {
	p.c.mu.RLock()
	defer p.c.mu.RUnlock()
	if !p.c.notDownloading {
		return false
	}
	p.ch.Close()
	return true
}

// nothingBeyond reports that the remote announced no block at or after i:
// scanning further is useless until it announces more.
func (p *Peer) nothingBeyond(i uint64) bool {
	if i < p.remoteContig {
		return false
	}
	for _, r := range p.remoteRanges {
		if !r.Drop && r.Length > 0 && r.Start+r.Length > i {
			return false
		}
	}
	return true
}

// requestBlock asks the remote for block i unless another peer is fetching
// it or it timed out here recently; false means stop (no proof possible).
func (p *Peer) requestBlock(fork, i uint64) bool {
	if p.skipped(i) || !p.r.claim(i, p) {
		return true
	}
	rb, err := p.c.blockRequestOpen(i)
	if err != nil {
		p.r.release(i, p, false)
		return false
	}
	p.send(&Request{Fork: fork, Block: rb})
	return true
}

// wantBatch is the span of blocks one want message asks about (hypercore
// asks in batches of this many bits). A variable for tests only.
var wantBatch uint64 = 1 << 21

// maxBitfieldReply bounds the words one bitfield message carries.
const maxBitfieldReply = 1 << 14

// onWant answers a remote's want: a range when our contiguous part covers
// it, otherwise our bitfield over the wanted span (or, for "any", the
// first block we hold in it).
func (p *Peer) onWant(w Want) {
	// Each want is answered once (until unwanted), and only so many are
	// kept: a remote cannot make us scan the bitfield again and again.
	if p.remoteWants[w] || len(p.remoteWants) >= maxRemoteWants {
		return
	}
	p.remoteWants[w] = true
	info := p.c.Info()
	contig := info.ContiguousLength
	if (w.Start < contig && w.Length < contig-w.Start) || info.Length == contig || (w.Any && w.Start < contig) {
		p.mRange.Send(encodeRange(Range{Start: 0, Length: contig}))
		return
	}
	if w.Start >= info.Length {
		return
	}
	end := w.Start + min(w.Length, info.Length-w.Start, wantBatch)
	start := w.Start &^ 31
	p.c.mu.RLock()
	if p.c.closed {
		p.c.mu.RUnlock()
		return
	}
	if w.Any {
		for i := w.Start; i < end && i < p.c.t.length; i++ {
			if p.c.hasLocked(i) {
				p.c.mu.RUnlock()
				p.mRange.Send(encodeRange(Range{Start: i, Length: 1}))
				return
			}
		}
		p.c.mu.RUnlock()
		return
	}
	var msgs []Bitfield
	for s := start; s < end; {
		n := min((end-s+31)/32, maxBitfieldReply)
		words := make([]uint32, n)
		for k := range n * 32 {
			if i := s + k; i < p.c.t.length && p.c.hasLocked(i) {
				words[k/32] |= 1 << (k % 32)
			}
		}
		msgs = append(msgs, Bitfield{Start: s, Bitfield: words})
		s += n * 32
	}
	p.c.mu.RUnlock()
	for _, m := range msgs {
		p.mBitfield.Send(encodeBitfield(m))
	}
}

// maxRemoteWants bounds the wants of a remote we keep answered.
const maxRemoteWants = 512

func (p *Peer) onUnwant(w Want) { delete(p.remoteWants, w) }

// publishStats copies the worker's counters where Stats reads them.
func (p *Peer) publishStats() {
	p.mu.Lock()
	p.stats = Stats{Blocks: p.blocks, Timeouts: p.timeouts, Inflight: len(p.inflight),
		Requests: p.requests, Held: len(p.heldLive)}
	p.mu.Unlock()
}
