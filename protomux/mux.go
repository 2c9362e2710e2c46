// Package protomux multiplexes many typed, message-oriented protocol
// channels over one message stream, wire-compatible with npm protomux
// 3.12.1.
//
// A [Mux] runs over a [MessageConn] (a secretstream connection, or [Framed]
// over any byte stream). Each side creates a [Channel] for a protocol name
// and optional id and opens it; a channel is fully open once both sides
// have opened it, and the handshake bytes each side passed to Open reach
// the other side's OnOpen. Messages are added to a channel in order, and a
// message's type id is its position, exactly as in JS addMessage.
//
// # Goroutines and callbacks
//
// A Mux owns two goroutines: a reader that decodes incoming frames and runs
// callbacks, and a writer that sends queued frames. Message handlers,
// OnOpen and pairing functions run on the reader, one at a time, in the
// order the remote sent them; a callback must not block for long, since the
// whole mux waits for it. OnClose runs on the goroutine that closed the
// channel (the caller of Channel.Close, or the reader when the remote closed
// it or the mux ended). OnDrain runs on the writer.
//
// Sending never blocks: frames are queued and written by the writer, as a
// JS stream buffers writes. Use [Mux.Drained] or [Mux.WaitDrain] for
// backpressure. When more than 32 MiB is queued the reader stops reading
// from the connection until the writer catches up, so a peer that does not
// read cannot make the queue grow without bound. That bound is a last
// resort: if both ends of a connection reach it at once, neither reads
// and neither writer can finish. A protocol that answers requests with
// bulk data holds its answers back while the queue is long ([Mux.Queued],
// [Mux.Drained], ChannelOptions.OnDrain), as hypercore does, and keeps
// reading meanwhile.
//
// # Errors
//
// As in JS, a frame that cannot be decoded, a message that its codec cannot
// decode, an invalid open or reject, and an error returned by a message
// handler, OnOpen or a pairing function all destroy the whole mux: the
// connection is closed, every channel is closed and [Mux.Err] reports the
// cause. Messages for channels that are not open, unknown message types and
// unknown control messages are ignored, as in JS.
//
// # Differences from JS
//
// The bytes on the wire are the same. Behaviour differs where JS relies on
// promises or has no bound:
//
//   - Pairing functions are synchronous: a remote open waits for a partner
//     only while the function runs, and is rejected when it returns
//     unanswered. JS lets the function await and buffers the channel's
//     messages meanwhile. A slow pairing function here holds up the whole
//     mux instead.
//   - If a remote open paired through Pair and its close arrive in one
//     batch, OnOpen runs and then OnClose; JS runs only onclose.
//   - Batches nested in batches are followed to a depth of 1000, then the
//     mux is destroyed (JS follows them until its stack overflows). The
//     remote may hold at most Config.MaxRemoteChannels channel ids.
//   - Send before Open fails with ErrNotOpen (JS would send the message on
//     the control channel). Closing a channel that was never opened does not
//     upset the open count or the free id list as it does in JS.
//   - The outgoing queue is unbounded like a JS stream's, but the reader
//     stops reading while more than 32 MiB is queued.
package protomux

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/warrenp2p/warren/compact"
)

var (
	// ErrClosed is returned by operations on a mux that has been closed or
	// has failed.
	ErrClosed = errors.New("protomux: mux closed")
	// ErrChannelClosed is returned by operations on a closed channel, and by
	// Channel.Opened when the channel closed before it fully opened.
	ErrChannelClosed = errors.New("protomux: channel closed")
	// ErrNotOpen is returned by Send on a channel that has not been opened
	// locally yet.
	ErrNotOpen = errors.New("protomux: channel not opened")
	// ErrAlreadyOpen is returned by a second Open of the same channel.
	ErrAlreadyOpen = errors.New("protomux: channel already opened")
	// ErrDuplicate is returned by Mux.Channel when a channel for the same
	// protocol and id is already open and AllowDuplicates is not set (JS
	// createChannel returns null).
	ErrDuplicate = errors.New("protomux: channel already exists")
	// ErrProtocol wraps every error caused by malformed or invalid input
	// from the remote.
	ErrProtocol = errors.New("protomux: protocol error")
)

const (
	// maxBatch is the size at which a corked batch is sent and a new one
	// started, as in JS.
	maxBatch = 8 * 1024 * 1024
	// defaultHighWaterMark is the JS stream default.
	defaultHighWaterMark = 16 * 1024
	// readPauseBytes is the queued size at which the reader pauses.
	readPauseBytes = 32 * 1024 * 1024
	// defaultMaxRemoteChannels bounds the ids a remote can have in use.
	defaultMaxRemoteChannels = 1 << 16
	// maxBatchDepth bounds batches nested in batches. JS peers never send
	// them; JS accepts them until its call stack overflows.
	maxBatchDepth = 1000
)

// Config tunes a Mux. The zero value is the right default.
type Config struct {
	// DeferStart makes New return without reading from the connection;
	// call Start once channels are created and pairs registered, so a
	// remote open that arrives at once is not rejected for lack of a
	// partner (in JS all setup done right after creating the mux runs
	// before the first message is read). Close also starts it.
	DeferStart bool
	// HighWaterMark is the number of queued outgoing bytes at which
	// Drained turns false. Zero means 16 KiB.
	HighWaterMark int
	// MaxRemoteChannels bounds how many channel ids the remote may have in
	// use at once; opening more destroys the mux. Zero means 65536.
	MaxRemoteChannels int
}

// key identifies a protocol and id pair ("" for no id).
type key struct {
	protocol string
	id       string
}

// info tracks the channels of one protocol and id, as JS does.
type info struct {
	keys     []key    // the main key then its aliases
	opened   int      // locally opened channels not yet closed
	incoming []uint64 // remote ids opened by the remote, waiting for a local channel
	outgoing []uint64 // local ids opened locally, waiting for the remote's open
	last     *Channel
}

// remoteSlot is one channel id the remote has opened. session is nil until
// a local channel is paired with it.
type remoteSlot struct {
	session   *Channel
	handshake []byte // while unpaired
}

// batchHead is the room kept in front of a corked batch, so that a batch
// of one channel message can go out as a plain frame, its channel id
// written over the batch header, without a copy.
const batchHead = 9

// Mux multiplexes channels over one MessageConn.
type Mux struct {
	conn      MessageConn
	hwm       int
	maxRemote int

	mu       sync.Mutex
	cond     *sync.Cond
	local    []*Channel // by local id - 1
	free     []uint64   // free local id - 1, reused last in first out
	remote   []*remoteSlot
	infos    map[key]*info
	notify   map[key]func(id []byte)
	all      map[*Channel]struct{}
	seq      uint64
	openSoon []*Channel

	// The corked batch is encoded as messages are sent: batchHead bytes
	// of room, then 0, 0, the first channel id and each message with its
	// length (and 0 and a channel id wherever the channel changes).
	corked    int
	batch     []byte
	batchN    int    // messages in batch
	batchLast uint64 // channel (local id) of the last message
	batchMsg  int    // where the last message starts in batch
	batchHint int    // size of the last batch sent, the next one's capacity

	queue   [][]byte
	queued  int
	drained bool
	drainCh chan struct{}

	started   bool
	ending    bool
	destroyed bool
	err       error

	writerDone chan struct{}
	done       chan struct{}
}

// New starts a mux over conn. Unless cfg.DeferStart is set it starts
// reading at once. cfg may be nil.
func New(conn MessageConn, cfg *Config) *Mux {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	if c.HighWaterMark <= 0 {
		c.HighWaterMark = defaultHighWaterMark
	}
	if c.MaxRemoteChannels <= 0 {
		c.MaxRemoteChannels = defaultMaxRemoteChannels
	}
	m := &Mux{
		conn:       conn,
		hwm:        c.HighWaterMark,
		maxRemote:  c.MaxRemoteChannels,
		infos:      make(map[key]*info),
		notify:     make(map[key]func([]byte)),
		all:        make(map[*Channel]struct{}),
		drained:    true,
		writerDone: make(chan struct{}),
		done:       make(chan struct{}),
	}
	m.cond = sync.NewCond(&m.mu)
	go m.writeLoop()
	if !c.DeferStart {
		m.Start()
	}
	return m
}

// Start starts reading from the connection. It is needed only with
// Config.DeferStart and does nothing when reading has started.
func (m *Mux) Start() {
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return
	}
	m.started = true
	m.mu.Unlock()
	go m.readLoop()
}

// Close closes the connection at once, dropping queued frames, and closes
// every channel. It does not wait for callbacks to return: wait on Done for
// that. It is safe to call from a callback and more than once.
func (m *Mux) Close() error {
	m.destroy(nil)
	return nil
}

// Shutdown stops accepting new frames, waits until the frames already
// queued have been written and then closes the connection and every
// channel. If ctx ends first the connection is closed at once and ctx's
// error returned.
func (m *Mux) Shutdown(ctx context.Context) error {
	m.end()
	select {
	case <-m.writerDone:
		return nil
	case <-ctx.Done():
		m.destroy(ctx.Err())
		return ctx.Err()
	}
}

// Done is closed when both goroutines of the mux have ended and every
// channel has been closed.
func (m *Mux) Done() <-chan struct{} { return m.done }

// Err is the reason the mux failed: nil while it runs and after a clean
// close (Close, Shutdown, or the remote ending the stream).
func (m *Mux) Err() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.err
}

// end begins a graceful close: the writer flushes the queue, then closes.
func (m *Mux) end() {
	m.mu.Lock()
	if !m.destroyed && !m.ending {
		if m.corked > 0 {
			m.sendBatch()
			m.corked = 0
		}
		m.ending = true
		m.cond.Broadcast()
	}
	started := m.started
	m.started = true
	m.mu.Unlock()
	if !started {
		go m.readLoop()
	}
}

// destroy closes the connection at once and records err as the cause.
func (m *Mux) destroy(err error) {
	m.mu.Lock()
	if m.destroyed {
		m.mu.Unlock()
		return
	}
	m.destroyed = true
	m.err = err
	m.queue, m.queued = nil, 0
	m.batch, m.batchN = nil, 0
	started := m.started
	m.started = true
	m.cond.Broadcast()
	m.mu.Unlock()
	_ = m.conn.Close()
	if !started {
		go m.readLoop()
	}
}

func (m *Mux) readLoop() {
	defer func() {
		m.shutdown()
		<-m.writerDone
		close(m.done)
	}()
	for {
		m.mu.Lock()
		for m.queued > readPauseBytes && !m.destroyed {
			m.cond.Wait()
		}
		stop := m.destroyed
		m.mu.Unlock()
		if stop {
			return
		}
		msg, err := m.conn.ReadMessage()
		if err != nil {
			if errors.Is(err, io.EOF) {
				m.end() // the remote ended: flush what we have, then close
			} else {
				m.destroy(err)
			}
			return
		}
		if err := m.onFrame(msg); err != nil {
			m.destroy(err)
			return
		}
	}
}

func (m *Mux) writeLoop() {
	defer close(m.writerDone)
	var spare [][]byte
	for {
		m.mu.Lock()
		for len(m.queue) == 0 && !m.destroyed && !m.ending {
			m.cond.Wait()
		}
		if m.destroyed {
			m.mu.Unlock()
			return
		}
		if len(m.queue) == 0 { // ending, and everything is written
			m.mu.Unlock()
			m.destroy(nil)
			return
		}
		frames := m.queue
		m.queue = spare[:0]
		m.mu.Unlock()

		n := 0
		for _, f := range frames {
			n += len(f)
		}
		if err := m.write(frames); err != nil {
			m.destroy(fmt.Errorf("protomux: write: %w", err))
			return
		}
		clear(frames)
		spare = frames

		m.mu.Lock()
		m.queued -= n
		var drain []func()
		if !m.drained && m.queued < m.hwm && !m.destroyed {
			m.drained = true
			close(m.drainCh)
			m.drainCh = nil
			for _, ch := range m.local {
				if ch != nil && ch.onDrain != nil {
					drain = append(drain, ch.onDrain)
				}
			}
		}
		m.cond.Broadcast()
		m.mu.Unlock()
		for _, f := range drain {
			f()
		}
	}
}

// write sends frames in order, all in one call when the connection can
// take a batch.
func (m *Mux) write(frames [][]byte) error {
	if bw, ok := m.conn.(batchWriter); ok && len(frames) > 1 {
		return bw.WriteMessages(frames)
	}
	for _, f := range frames {
		if err := m.conn.WriteMessage(f); err != nil {
			return err
		}
	}
	return nil
}

// shutdown closes every channel once the reader has stopped, as JS does
// when the stream closes.
func (m *Mux) shutdown() {
	m.mu.Lock()
	m.destroyedOrEnding()
	var closed []*Channel
	for ch := range m.all {
		closed = append(closed, ch)
	}
	slices.SortFunc(closed, func(a, b *Channel) int {
		if a.seq < b.seq {
			return -1
		}
		return 1
	})
	for _, ch := range closed {
		m.closeLocked(ch)
	}
	m.mu.Unlock()
	for _, ch := range closed {
		ch.finishClose(true)
	}
}

// destroyedOrEnding makes sure nothing new is accepted once the reader has
// stopped. Called with m.mu held.
func (m *Mux) destroyedOrEnding() {
	if !m.destroyed && !m.ending {
		m.ending = true
		m.cond.Broadcast()
	}
}

// enqueue queues one frame for the writer. Called with m.mu held.
func (m *Mux) enqueue(frame []byte) {
	if m.destroyed || m.ending {
		return
	}
	m.queue = append(m.queue, frame)
	m.queued += len(frame)
	if m.queued >= m.hwm && m.drained {
		m.drained = false
		m.drainCh = make(chan struct{})
	}
	m.cond.Broadcast()
}

// write0 sends a control frame (one starting with channel 0), into the
// batch when corked. Called with m.mu held.
func (m *Mux) write0(frame []byte) {
	if m.corked > 0 {
		b, _ := m.reserve(0, len(frame)-1)
		copy(b, frame[1:])
		return
	}
	m.enqueue(frame)
}

// Drained reports whether the outgoing queue is below the high water mark,
// like the JS mux.drained.
func (m *Mux) Drained() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.drained
}

// Queued returns how many bytes of frames wait for the writer, including
// those it is writing now but not an open corked batch.
func (m *Mux) Queued() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.queued
}

// WaitDrain blocks until the outgoing queue is below the high water mark,
// the mux closes (ErrClosed) or ctx ends.
func (m *Mux) WaitDrain(ctx context.Context) error {
	m.mu.Lock()
	if m.destroyed {
		m.mu.Unlock()
		return ErrClosed
	}
	if m.drained {
		m.mu.Unlock()
		return nil
	}
	ch := m.drainCh
	m.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-m.writerDone:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Cork starts batching: frames sent until the matching Uncork are sent as
// one batch frame, exactly as JS encodes a batch. Corks nest.
func (m *Mux) Cork() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.corked++
}

// Uncork ends one Cork; the last one sends the batch.
func (m *Mux) Uncork() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.corked == 0 {
		return
	}
	m.corked--
	if m.corked == 0 {
		m.sendBatch()
	}
}

// reserve adds a message of n bytes (type and payload, or a control
// message without its leading 0) for channel localID to the batch and
// returns its bytes, for the caller to fill before it lets go of m.mu, and
// the mark that takes it back (see unreserve). A batch that reached
// maxBatch is sent first. Called with m.mu held and the mux corked.
func (m *Mux) reserve(localID uint64, n int) ([]byte, batchMark) {
	if m.batchN > 0 && len(m.batch)-batchHead >= maxBatch {
		m.sendBatch()
	}
	mark := batchMark{len(m.batch), m.batchN, m.batchLast}
	need := 2*compact.UintSize(localID) + 2 + compact.UintSize(uint64(n)) + n
	if m.batchN == 0 {
		// A little more than the last batch took: a run of batches of
		// about the same size then never grows (and copies) its buffer.
		m.batch = make([]byte, batchHead+2, max(m.batchHint+m.batchHint/4, batchHead+need, 256))
		m.batch = appendUint(m.batch, localID)
	} else {
		m.batch = slices.Grow(m.batch, need)
		if localID != m.batchLast {
			m.batch = append(m.batch, 0)
			m.batch = appendUint(m.batch, localID)
		}
	}
	m.batch = appendUint(m.batch, uint64(n))
	m.batchMsg = len(m.batch)
	m.batch = m.batch[:m.batchMsg+n]
	m.batchN++
	m.batchLast = localID
	return m.batch[m.batchMsg:], mark
}

// batchMark is the state of the batch before a reserve.
type batchMark struct {
	len, n int
	last   uint64
}

// unreserve takes back the message of the reserve that returned mark (its
// encoding failed). Called with m.mu held.
func (m *Mux) unreserve(mark batchMark) {
	m.batch, m.batchN, m.batchLast = m.batch[:mark.len], mark.n, mark.last
}

// sendBatch queues the batch: as a batch frame, or as a plain frame when
// it holds one message, which every protomux reads alike. Called with
// m.mu held.
func (m *Mux) sendBatch() {
	if m.batchN == 0 {
		return
	}
	b := m.batch
	// Batches of a stream tend to look alike: start the next one as
	// large as this one was, rather than growing it again.
	m.batchHint = min(len(b), 256<<10)
	if m.batchN == 1 {
		start := m.batchMsg - compact.UintSize(m.batchLast)
		putUint(b[start:], m.batchLast)
		m.enqueue(b[start:])
	} else {
		m.enqueue(b[batchHead:])
	}
	m.batch, m.batchN = nil, 0
}

// Pair registers notify to be called when the remote opens a channel for
// protocol and id that no local channel is waiting for. notify runs on the
// reader; to accept, it creates the channel with Mux.Channel (which pairs
// it with the remote's open) and opens it, before returning. Remote opens
// that are still unpaired when notify returns are rejected. A pair with a
// nil id also matches every id of the protocol that has no pair of its own.
func (m *Mux) Pair(protocol string, id []byte, notify func(id []byte)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.notify[key{protocol, string(id)}] = notify
}

// Unpair removes the pair registered for protocol and id.
func (m *Mux) Unpair(protocol string, id []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.notify, key{protocol, string(id)})
}

// Opened reports whether a channel for protocol and id is open locally.
func (m *Mux) Opened(protocol string, id []byte) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	inf := m.infos[key{protocol, string(id)}]
	return inf != nil && inf.opened > 0
}

// getInfo returns the info of k, creating it with its aliases. Called with
// m.mu held.
func (m *Mux) getInfo(k key, aliases []string) *info {
	if inf := m.infos[k]; inf != nil {
		return inf
	}
	inf := &info{keys: []key{k}}
	m.infos[k] = inf
	for _, a := range aliases {
		ak := key{a, k.id}
		inf.keys = append(inf.keys, ak)
		m.infos[ak] = inf
	}
	return inf
}

// gc forgets an info nothing refers to. Called with m.mu held.
func (m *Mux) gc(inf *info) {
	if inf.opened != 0 || len(inf.outgoing) != 0 || len(inf.incoming) != 0 {
		return
	}
	for _, k := range inf.keys {
		if m.infos[k] == inf {
			delete(m.infos, k)
		}
	}
}

func (m *Mux) isDestroyed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.destroyed
}

// onFrame handles one incoming message.
func (m *Mux) onFrame(buf []byte) error {
	if len(buf) == 0 {
		return nil // JS ignores empty frames
	}
	r := &reader{buf: buf, end: len(buf)}
	id, err := r.uint()
	if err != nil {
		return err
	}
	return m.dispatch(id, r, 0)
}

// dispatch handles one message (type and payload) for the remote channel
// id; id 0 is the control channel.
func (m *Mux) dispatch(remoteID uint64, r *reader, depth int) error {
	typ, err := r.uint()
	if err != nil {
		return err
	}
	if remoteID == 0 {
		return m.control(typ, r, depth)
	}
	m.mu.Lock()
	var ch *Channel
	if remoteID <= uint64(len(m.remote)) {
		if s := m.remote[remoteID-1]; s != nil {
			ch = s.session
		}
	}
	// A channel that is closed or not open is ignored: it may be a message
	// the remote sent before it saw our close.
	if ch == nil || typ >= uint64(len(ch.messages)) {
		m.mu.Unlock()
		return nil
	}
	h := ch.messages[typ].recv
	m.mu.Unlock()
	if h == nil {
		return nil
	}
	return h(r.buf[r.start:r.end])
}

func (m *Mux) control(typ uint64, r *reader, depth int) error {
	switch typ {
	case 0:
		if depth >= maxBatchDepth {
			return fmt.Errorf("%w: batches nested too deep", ErrProtocol)
		}
		return m.onBatch(r, depth+1)
	case 1:
		return m.onOpen(r)
	case 2:
		return m.onReject(r)
	case 3:
		return m.onClose(r)
	}
	return nil // unknown control messages are ignored
}

func (m *Mux) onBatch(r *reader, depth int) error {
	end := r.end
	id, err := r.uint()
	if err != nil {
		return err
	}
	corked := false
	for r.start < end {
		if m.isDestroyed() {
			return nil
		}
		n, err := r.uint()
		if err != nil {
			return err
		}
		if n == 0 {
			if id, err = r.uint(); err != nil {
				return err
			}
			continue
		}
		itemEnd := end
		if n < uint64(end-r.start) {
			itemEnd = r.start + int(n)
		}
		// Replies to a batch of several messages go out as one batch.
		if itemEnd != end && !corked {
			corked = true
			m.Cork()
		}
		r.end = itemEnd
		if err := m.dispatch(id, r, depth); err != nil {
			return err
		}
		r.start, r.end = itemEnd, end
	}
	if corked {
		m.Uncork()
	}
	return nil
}

func (m *Mux) onOpen(r *reader) error {
	remoteID, err := r.uint()
	if err != nil {
		return err
	}
	protocol, err := r.string()
	if err != nil {
		return err
	}
	id, err := r.optionalBuffer()
	if err != nil {
		return err
	}
	handshake := r.rest()
	if remoteID == 0 {
		// JS fails encoding its reject of channel 0 and destroys the stream.
		return fmt.Errorf("%w: remote opened channel 0", ErrProtocol)
	}

	m.mu.Lock()
	if m.destroyed {
		m.mu.Unlock()
		return nil
	}
	k := key{protocol, string(id)}
	inf := m.getInfo(k, nil)
	idx := remoteID - 1
	if idx == uint64(len(m.remote)) { // the remote may grow its ids by one
		if len(m.remote) >= m.maxRemote {
			m.gc(inf)
			m.mu.Unlock()
			return fmt.Errorf("%w: remote opened more than %d channels", ErrProtocol, m.maxRemote)
		}
		m.remote = append(m.remote, nil)
	}
	if idx >= uint64(len(m.remote)) || m.remote[idx] != nil {
		m.gc(inf)
		m.mu.Unlock()
		return fmt.Errorf("%w: invalid open of channel %d", ErrProtocol, remoteID)
	}

	if len(inf.outgoing) > 0 {
		// We opened first: this is the remote's answer.
		localID := inf.outgoing[0]
		inf.outgoing = slices.Delete(inf.outgoing, 0, 1)
		ch := m.local[localID-1]
		if ch == nil { // closed locally meanwhile
			m.free = append(m.free, localID-1)
			m.gc(inf)
			m.mu.Unlock()
			return nil
		}
		m.remote[idx] = &remoteSlot{session: ch}
		ch.remoteID = remoteID
		m.mu.Unlock()
		return m.fullyOpen(ch, handshake)
	}

	// The remote opened first: ask the pairing function for a channel.
	m.remote[idx] = &remoteSlot{handshake: slices.Clone(handshake)}
	inf.incoming = append(inf.incoming, remoteID)
	notify := m.notify[k]
	if notify == nil {
		notify = m.notify[key{protocol, ""}]
	}
	m.mu.Unlock()

	if notify != nil {
		notify(slices.Clone(id))
	}

	m.mu.Lock()
	for _, rid := range inf.incoming {
		m.rejectLocked(rid)
	}
	inf.incoming = nil
	m.gc(inf)
	type pending struct {
		ch        *Channel
		handshake []byte
	}
	var soon []pending
	for _, ch := range m.openSoon {
		soon = append(soon, pending{ch, ch.pendingHandshake})
	}
	m.openSoon = nil
	m.mu.Unlock()
	for _, p := range soon {
		if err := m.fullyOpen(p.ch, p.handshake); err != nil {
			return err
		}
	}
	return nil
}

// rejectLocked refuses the remote's channel. Called with m.mu held.
func (m *Mux) rejectLocked(remoteID uint64) {
	m.remote[remoteID-1] = nil
	buf := make([]byte, 2+compact.UintSize(remoteID))
	buf[0], buf[1] = 0, 2
	putUint(buf[2:], remoteID)
	m.write0(buf)
}

// fullyOpen completes a channel both sides have opened: it runs OnOpen with
// the remote's handshake and marks the channel open.
func (m *Mux) fullyOpen(ch *Channel, handshake []byte) error {
	m.mu.Lock()
	if ch.opened || ch.closed {
		m.mu.Unlock()
		return nil
	}
	ch.handshake = slices.Clone(handshake)
	ch.pendingHandshake = nil
	m.mu.Unlock()
	if ch.onOpen != nil {
		if err := ch.onOpen(ch.handshake); err != nil {
			return err
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.destroyed || ch.closed || ch.opened {
		return nil
	}
	ch.opened = true
	close(ch.openedCh)
	return nil
}

func (m *Mux) onReject(r *reader) error {
	localID, err := r.uint()
	if err != nil {
		return err
	}
	m.mu.Lock()
	for _, inf := range m.infos {
		i := slices.Index(inf.outgoing, localID)
		if i < 0 {
			continue
		}
		inf.outgoing = slices.Delete(inf.outgoing, i, i+1)
		ch := m.local[localID-1]
		m.free = append(m.free, localID-1)
		closed := ch != nil && m.closeLocked(ch)
		m.gc(inf)
		m.mu.Unlock()
		if closed {
			ch.finishClose(true)
		}
		return nil
	}
	m.mu.Unlock()
	return fmt.Errorf("%w: invalid reject of channel %d", ErrProtocol, localID)
}

func (m *Mux) onClose(r *reader) error {
	remoteID, err := r.uint()
	if err != nil {
		return err
	}
	if remoteID == 0 {
		return nil
	}
	m.mu.Lock()
	var ch *Channel
	if remoteID <= uint64(len(m.remote)) {
		if s := m.remote[remoteID-1]; s != nil {
			ch = s.session
		}
	}
	closed := ch != nil && m.closeLocked(ch)
	m.mu.Unlock()
	if closed {
		ch.finishClose(true)
	}
	return nil
}

// closeLocked marks ch closed and releases its ids. It reports false if ch
// was closed already. Called with m.mu held; the caller then runs
// ch.finishClose without the lock.
func (m *Mux) closeLocked(ch *Channel) bool {
	if ch.closed {
		return false
	}
	ch.closed = true
	delete(m.all, ch)
	inf := ch.info
	if ch.counted {
		inf.opened--
		ch.counted = false
	}
	if inf.last == ch {
		inf.last = nil
	}
	if ch.remoteID > 0 {
		if s := m.remote[ch.remoteID-1]; s != nil && s.session == ch {
			m.remote[ch.remoteID-1] = nil
		}
		ch.remoteID = 0
		// The remote has acknowledged our id, so it can be reused at once;
		// otherwise it is freed when the remote's open or reject arrives.
		if ch.localID > 0 {
			m.free = append(m.free, ch.localID-1)
		}
	}
	if ch.localID > 0 {
		m.local[ch.localID-1] = nil
		ch.localID = 0
	}
	m.gc(inf)
	return true
}
