package dht

import (
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Errors returned by requests and queries.
var (
	// ErrClosed means the node was closed.
	ErrClosed = errors.New("dht: node closed")
	// ErrTimeout means a request got no response after all its retries.
	ErrTimeout = errors.New("dht: request timed out")
	// ErrDestroyed means a request was cancelled before a response came.
	ErrDestroyed = errors.New("dht: request destroyed")
	// ErrTooFewNodes means a query's commit phase had no node to commit to.
	ErrTooFewNodes = errors.New("dht: too few nodes responded")
	// ErrNoToken means a closest node gave no token to commit with.
	ErrNoToken = errors.New("dht: no token received for closest node")
	// ErrBadAddress means an address is not a usable IPv4 host:port.
	ErrBadAddress = errors.New("dht: address must be IPv4 host:port")
)

// RemoteError is the error code a remote node answered with. It matches
// ErrUnknownCommand and ErrInvalidToken (or any RemoteError with the same
// code) under errors.Is.
type RemoteError struct{ Code uint64 }

// Remote errors of dht-rpc, for errors.Is with Response.Err.
var (
	ErrUnknownCommand error = &RemoteError{Code: ErrCodeUnknownCommand}
	ErrInvalidToken   error = &RemoteError{Code: ErrCodeInvalidToken}
)

// Is reports whether target is a RemoteError with the same code.
func (e *RemoteError) Is(target error) bool {
	t, ok := target.(*RemoteError)
	return ok && t.Code == e.Code
}

func (e *RemoteError) Error() string {
	switch e.Code {
	case ErrCodeUnknownCommand:
		return "dht: remote: unknown command"
	case ErrCodeInvalidToken:
		return "dht: remote: invalid token"
	}
	return fmt.Sprintf("dht: remote error %d", e.Code)
}

const (
	defaultMaxWindow = 80
	defaultTimeout   = time.Second
	defaultRetries   = 3
	drainInterval    = 750 * time.Millisecond
	rotateDrains     = 10
)

// congestion is dht-rpc's window of requests sent in the last four drain
// intervals: at most maxWindow per interval and 2*maxWindow in total.
type congestion struct {
	i      int
	total  int
	window [4]int
	max    int
}

func (c *congestion) full() bool {
	return c.total >= 2*c.max || c.window[c.i] >= c.max
}

func (c *congestion) recv() {
	if c.window[c.i] > 0 {
		c.window[c.i]--
		c.total--
	}
}

func (c *congestion) send() {
	c.total++
	c.window[c.i]++
}

func (c *congestion) drain() {
	c.i = (c.i + 1) & 3
	c.total -= c.window[c.i]
	c.window[c.i] = 0
}

// outRequest is a request this node sent and waits a response for. All its
// fields and callbacks are used with Node.mu held.
type outRequest struct {
	n        *Node
	conn     PacketConn
	tid      uint16
	to       netip.AddrPort
	toID     *[32]byte // known id of the destination (queries), or nil
	token    *[32]byte
	internal bool
	command  uint64
	target   *[32]byte
	value    []byte
	ttl      int

	buf      []byte
	sent     int
	retries  int
	timeout  time.Duration
	deadline int64 // when the current attempt times out (Node.clock)
	hidx     int   // index in the node's deadline heap, -1 when not in it
	start    time.Time
	done     bool
	query    *Query // owning query, if any

	onResponse func(*Response)
	onError    func(error)
	onCycle    func() // after the first timeout of one attempt; nil when unused
}

// send transmits the request now or queues it behind the congestion window.
func (r *outRequest) send(force bool) {
	if r.done || r.conn == nil {
		return
	}
	n := r.n
	if r.buf == nil {
		var id *[32]byte
		if !n.ephemeral && r.conn == n.server {
			tid := n.tbl.id
			id = &tid
		}
		r.buf = AppendRequest(nil, &RequestMessage{
			TID: r.tid, To: r.to, ID: id, Token: r.token, Internal: r.internal,
			Command: r.command, Target: r.target, Value: r.value,
		})
	}
	if !force && n.cong.full() {
		n.pending = append(n.pending, r)
		return
	}
	r.sendNow()
}

func (r *outRequest) sendNow() {
	if r.done {
		return
	}
	n := r.n
	r.sent++
	n.cong.send()
	n.stats.RequestsSent++
	_ = writeTTL(r.conn, r.buf, r.to, r.ttl)
	d := r.timeout
	if d <= 0 {
		d = defaultTimeout
	}
	r.deadline = n.clock() + int64(d)
	n.deadlines.set(r)
	n.armTimer(r.deadline)
}

// cycle runs when one attempt timed out: retry or fail. n.mu is held
// (the node's timer runs it).
func (r *outRequest) cycle() {
	n := r.n
	if r.done {
		return
	}
	if f := r.onCycle; f != nil {
		r.onCycle = nil
		f()
	}
	if r.done {
		return
	}
	if r.sent > r.retries {
		n.stats.Timeouts++
		r.destroy(ErrTimeout)
		n.onTimeout(r)
		return
	}
	n.stats.Retries++
	r.send(false)
}

// destroy ends the request with err, unless it already ended.
func (r *outRequest) destroy(err error) {
	if r.done {
		return
	}
	r.finish()
	r.onError(err)
}

// finish removes the request from the node's bookkeeping.
func (r *outRequest) finish() {
	r.done = true
	n := r.n
	n.deadlines.remove(r)
	if n.inflight[r.tid] == r {
		delete(n.inflight, r.tid)
		n.cong.recv()
	}
	if r.query != nil {
		delete(r.query.reqs, r)
	}
}

// deadlineHeap orders the requests waiting for a response by the time
// their current attempt times out, so that one timer per node serves all
// of them: a request costs no timer and no goroutine of its own, however
// many are in flight.
type deadlineHeap []*outRequest

func (h deadlineHeap) less(i, j int) bool { return h[i].deadline < h[j].deadline }

func (h deadlineHeap) swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hidx, h[j].hidx = i, j
}

func (h deadlineHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.less(i, p) {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h deadlineHeap) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		m := l
		if r := l + 1; r < len(h) && h.less(r, l) {
			m = r
		}
		if !h.less(m, i) {
			return
		}
		h.swap(i, m)
		i = m
	}
}

// set adds r, or moves it after its deadline changed.
func (h *deadlineHeap) set(r *outRequest) {
	if r.hidx >= 0 && r.hidx < len(*h) && (*h)[r.hidx] == r {
		h.down(r.hidx)
		h.up(r.hidx)
		return
	}
	r.hidx = len(*h)
	*h = append(*h, r)
	h.up(r.hidx)
}

// remove takes r out if it is in the heap.
func (h *deadlineHeap) remove(r *outRequest) {
	i := r.hidx
	if i < 0 || i >= len(*h) || (*h)[i] != r {
		return
	}
	last := len(*h) - 1
	if i != last {
		h.swap(i, last)
	}
	(*h)[last] = nil
	*h = (*h)[:last]
	r.hidx = -1
	if i != last {
		h.down(i)
		h.up(i)
	}
	if len(*h) == 0 && cap(*h) > 64 {
		*h = nil // let go of a burst's storage
	}
}

// first is the request that times out next, or nil.
func (h deadlineHeap) first() *outRequest {
	if len(h) == 0 {
		return nil
	}
	return h[0]
}
