package dht

import (
	"context"
	"io"
	"iter"
	"net/netip"
	"sync"
)

// QueryOptions adjust a query.
type QueryOptions struct {
	// Concurrency is the number of requests in flight; 0 means the node's.
	Concurrency int
	// Retries per visited node; 0 means 5, negative means none.
	Retries int
	// Nodes to start from instead of the routing table.
	Nodes []netip.AddrPort
	// OnlyClosestNodes visits only Nodes, without walking further.
	OnlyClosestNodes bool
	// Commit, if set, runs once for each of the closest nodes after the
	// walk, in parallel; the query fails if every commit fails.
	Commit func(ctx context.Context, q *Query, r *Response) error
	// AutoCommit, when Commit is nil, sends the query's command again to
	// each closest node with the token it gave (dht-rpc's commit: true).
	AutoCommit bool
	// Internal marks a dht-rpc command (FindNode sets it).
	Internal bool
}

type seenState struct {
	state int // 0 pending/visiting, 1 done, 2 down
	refs  []netip.AddrPort
}

const (
	seenVisiting = iota
	seenDone
	seenDown
)

const maxRefs = 16

type queryPeer struct {
	id   [32]byte
	addr netip.AddrPort
}

// Query is an iterative walk towards a target: it asks the closest known
// nodes, follows the closer nodes they return, keeps the K closest that
// answered and optionally commits to them. Read its replies with Next, or
// wait for the end with Wait.
type Query struct {
	n        *Node
	ctx      context.Context
	stop     func() bool
	target   [32]byte
	internal bool
	command  uint64
	value    []byte
	commit   func(ctx context.Context, q *Query, r *Response) error
	onData   func(*Response) // internal hook, n.mu held

	// walk state, n.mu held
	k           int
	concurrency int
	background  bool
	retries     int
	onlyNodes   bool
	closest     []*Response
	pending     []queryPeer
	seen        map[netip.AddrPort]*seenState
	inflight    int
	slow        int
	slowdown    bool
	fromTable   bool
	committing  bool
	finished    bool
	successes   int
	errors      int
	reqs        map[*outRequest]struct{}

	// output
	omu     sync.Mutex
	out     []*Response
	done    bool
	err     error
	iterErr error
	wake    chan struct{}
}

// Query walks towards target sending command with value to the nodes on
// the way (non-internal unless opts.Internal).
func (n *Node) Query(ctx context.Context, target [32]byte, command uint64, value []byte, opts *QueryOptions) *Query {
	var o QueryOptions
	if opts != nil {
		o = *opts
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.startQuery(ctx, target, o.Internal, command, value, &o, nil)
}

// FindNode walks towards target with FIND_NODE.
func (n *Node) FindNode(ctx context.Context, target [32]byte, opts *QueryOptions) *Query {
	var o QueryOptions
	if opts != nil {
		o = *opts
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.startQuery(ctx, target, true, CmdFindNode, nil, &o, nil)
}

// backgroundQuery is the node's own FIND_NODE walk (bootstrap, refresh):
// low concurrency while other traffic is in flight. n.mu held.
func (n *Node) backgroundQuery(target [32]byte, onData func(*Response)) *Query {
	n.refreshTicks = refreshTicks
	bg := min(n.cfg.Concurrency, max(2, n.cfg.Concurrency/8))
	q := n.startQuery(n.ctx, target, true, CmdFindNode, nil, &QueryOptions{Concurrency: bg}, onData)
	if q != nil {
		q.background = true
	}
	return q
}

func (n *Node) startQuery(ctx context.Context, target [32]byte, internal bool, command uint64, value []byte, o *QueryOptions, onData func(*Response)) *Query {
	q := &Query{
		n: n, ctx: ctx, target: target, internal: internal, command: command, value: value,
		onData: onData, k: K, concurrency: o.Concurrency, retries: o.Retries,
		seen: map[netip.AddrPort]*seenState{}, reqs: map[*outRequest]struct{}{},
		wake: make(chan struct{}),
	}
	if q.concurrency <= 0 {
		q.concurrency = n.cfg.Concurrency
	}
	switch {
	case q.retries == 0 && internal && command == CmdDownHint:
		q.retries = 3
	case q.retries == 0:
		q.retries = 5
	case q.retries < 0:
		q.retries = 0
	}
	q.commit = o.Commit
	if q.commit == nil && o.AutoCommit {
		q.commit = autoCommit
	}
	n.refreshTicks = refreshTicks
	if n.closed {
		q.finish(ErrClosed)
		return q
	}
	if err := ctx.Err(); err != nil {
		q.finish(err) // done before it starts (AfterFunc would end it late)
		return q
	}
	for i := len(o.Nodes) - 1; i >= 0; i-- {
		a := netip.AddrPortFrom(o.Nodes[i].Addr().Unmap(), o.Nodes[i].Port())
		q.addPending(queryPeer{id: NodeID(a), addr: a}, netip.AddrPort{})
	}
	q.onlyNodes = o.OnlyClosestNodes
	q.stop = context.AfterFunc(ctx, func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		q.destroy(ctx.Err())
	})
	// open: the routing table, then the bootstrap nodes if that is not enough
	q.addFromTable()
	if len(q.pending) < q.k {
		for _, a := range n.bootstrap {
			q.addPending(queryPeer{id: NodeID(a), addr: a}, netip.AddrPort{})
		}
	}
	q.readMore()
	return q
}

func autoCommit(ctx context.Context, q *Query, r *Response) error {
	if r.Token == nil {
		return ErrNoToken
	}
	t := q.target
	res, err := q.n.Request(ctx, r.From, q.command, q.value, &RequestOptions{Token: r.Token, Target: &t})
	if err != nil {
		return err
	}
	return res.Err()
}

// Target is the key the query walks towards.
func (q *Query) Target() [32]byte { return q.target }

// Next returns the next reply, io.EOF after the last one, or the error
// that ended the query.
func (q *Query) Next(ctx context.Context) (*Response, error) {
	for {
		q.omu.Lock()
		if len(q.out) > 0 {
			r := q.out[0]
			q.out[0] = nil
			q.out = q.out[1:]
			q.omu.Unlock()
			return r, nil
		}
		if q.done {
			err := q.err
			q.omu.Unlock()
			if err == nil {
				err = io.EOF
			}
			return nil, err
		}
		w := q.wake
		q.omu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Replies iterates over the replies until the query ends or ctx is done;
// check Err afterwards.
//
//	for r := range q.Replies(ctx) { ... }
func (q *Query) Replies(ctx context.Context) iter.Seq[*Response] {
	return func(yield func(*Response) bool) {
		for {
			r, err := q.Next(ctx)
			if err != nil {
				if err != io.EOF {
					q.omu.Lock()
					if q.iterErr == nil {
						q.iterErr = err
					}
					q.omu.Unlock()
				}
				return
			}
			if !yield(r) {
				return
			}
		}
	}
}

// Err returns the error that ended the query (or stopped Replies), nil
// while it runs or after a normal end.
func (q *Query) Err() error {
	q.omu.Lock()
	defer q.omu.Unlock()
	if q.iterErr != nil {
		return q.iterErr
	}
	return q.err
}

// Wait waits for the query (and its commits) to end and returns its error.
// Replies not read yet are discarded.
func (q *Query) Wait(ctx context.Context) error {
	for {
		q.omu.Lock()
		q.out = nil
		if q.done {
			err := q.err
			q.omu.Unlock()
			return err
		}
		w := q.wake
		q.omu.Unlock()
		select {
		case <-w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Close stops the query early.
func (q *Query) Close() {
	q.n.mu.Lock()
	defer q.n.mu.Unlock()
	q.destroy(ErrDestroyed)
}

// Closest returns the closest nodes that replied, nearest first.
func (q *Query) Closest() []*Response {
	q.n.mu.Lock()
	defer q.n.mu.Unlock()
	return append([]*Response(nil), q.closest...)
}

// ClosestNodes returns the addresses of Closest.
func (q *Query) ClosestNodes() []netip.AddrPort {
	q.n.mu.Lock()
	defer q.n.mu.Unlock()
	out := make([]netip.AddrPort, len(q.closest))
	for i, r := range q.closest {
		out[i] = r.From
	}
	return out
}

// Stats returns how many visited nodes answered without and with an error
// (timeouts included in errors).
func (q *Query) Stats() (successes, errors int) {
	q.n.mu.Lock()
	defer q.n.mu.Unlock()
	return q.successes, q.errors
}

// --- walk (n.mu held) ---

func (q *Query) push(r *Response) {
	q.omu.Lock()
	q.out = append(q.out, r)
	close(q.wake)
	q.wake = make(chan struct{})
	q.omu.Unlock()
}

// finish ends the query's output with err (nil for a normal end).
func (q *Query) finish(err error) {
	if q.finished {
		return
	}
	q.finished = true
	if q.stop != nil {
		q.stop()
	}
	for r := range q.reqs {
		r.destroy(ErrDestroyed)
	}
	q.omu.Lock()
	q.done = true
	q.err = err
	close(q.wake)
	q.wake = make(chan struct{})
	q.omu.Unlock()
}

func (q *Query) destroy(err error) { q.finish(err) }

func (q *Query) addFromTable() {
	if len(q.pending) >= q.k {
		return
	}
	q.fromTable = true
	for _, x := range q.n.tbl.closest(&q.target, q.k-len(q.pending)) {
		q.addPending(queryPeer{id: x.id, addr: x.addr.AddrPort()}, netip.AddrPort{})
	}
}

func (q *Query) isCloser(id *[32]byte) bool {
	return len(q.closest) < q.k || xorCompare(&q.target, id, q.closest[len(q.closest)-1].FromID) < 0
}

func (q *Query) addPending(p queryPeer, ref netip.AddrPort) bool {
	if q.onlyNodes {
		return false
	}
	s := q.seen[p.addr]
	closer := q.isCloser(&p.id)
	if s != nil {
		switch s.state {
		case seenDone:
		case seenDown:
			if ref.IsValid() {
				q.downHint(ref, p.addr)
			}
		default:
			if ref.IsValid() && len(s.refs) < maxRefs {
				s.refs = append(s.refs, ref)
			}
		}
		return closer
	}
	if !closer {
		return false
	}
	s = &seenState{}
	if ref.IsValid() {
		s.refs = append(s.refs, ref)
	}
	q.seen[p.addr] = s
	q.pending = append(q.pending, p)
	return true
}

func (q *Query) readMore() {
	if q.finished || q.committing {
		return
	}
	conc := q.concurrency
	if q.slowdown {
		conc = 3
	}
	conc += q.slow
	for q.inflight < conc && len(q.pending) > 0 {
		next := q.pending[len(q.pending)-1]
		q.pending = q.pending[:len(q.pending)-1]
		if !q.isCloser(&next.id) {
			continue
		}
		q.visit(next)
		if q.finished {
			return
		}
	}
	if !q.fromTable && q.successes == 0 && q.errors == 0 {
		q.slowdown = true
	}
	if len(q.pending) > 0 {
		return
	}
	if q.inflight == 0 || (q.slow == q.inflight && len(q.closest) >= q.k) {
		if !q.fromTable && q.successes < q.k/4 {
			q.addFromTable()
			q.readMore()
			return
		}
		q.flush()
	}
}

func (q *Query) flush() {
	if q.committing {
		return
	}
	q.committing = true
	if q.commit == nil {
		q.finish(nil)
		return
	}
	replies := append([]*Response(nil), q.closest...)
	if len(replies) == 0 {
		q.finish(ErrTooFewNodes)
		return
	}
	n := q.n
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		errs := make(chan error, len(replies))
		for _, r := range replies {
			go func() { errs <- q.commit(q.ctx, q, r) }()
		}
		var firstErr error
		ok := 0
		for range replies {
			if err := <-errs; err == nil {
				ok++
			} else if firstErr == nil {
				firstErr = err
			}
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if ok > 0 {
			q.finish(nil)
		} else {
			q.finish(firstErr)
		}
	}()
}

type visitReq struct {
	r      *outRequest
	cycled bool
}

func (q *Query) dec(v *visitReq) {
	if v.cycled {
		q.slow--
	} else {
		v.cycled = true // no later cycle may count it as slow
		v.r.onCycle = nil
	}
	q.inflight--
}

func (q *Query) visit(p queryPeer) {
	n := q.n
	q.inflight++
	id := p.id
	r := n.newRequest(p.addr, &id, nil, q.internal, q.command, &q.target, q.value)
	if r == nil {
		q.finish(ErrClosed)
		return
	}
	v := &visitReq{r: r}
	r.query = q
	q.reqs[r] = struct{}{}
	r.retries = q.retries
	r.onResponse = func(res *Response) { q.onVisit(v, res) }
	r.onError = func(err error) { q.onError(v, err) }
	r.onCycle = func() {
		v.cycled = true
		q.slow++
		q.readMore()
	}
	r.send(false)
}

func (q *Query) onVisit(v *visitReq, m *Response) {
	q.dec(v)
	if s := q.seen[v.r.to]; s != nil {
		s.state, s.refs = seenDone, nil
	} else {
		q.seen[v.r.to] = &seenState{state: seenDone}
	}
	if q.committing || q.finished {
		return
	}
	if m.Error == 0 {
		q.successes++
	} else {
		q.errors++
	}
	if m.Error == 0 && m.FromID != nil && q.isCloser(m.FromID) {
		q.pushClosest(m)
	}
	ownID := q.n.tbl.id
	for _, a := range m.CloserNodes {
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		if !a.Addr().Is4() || a.Port() == 0 {
			continue
		}
		id := NodeID(a)
		if f := q.n.cfg.FilterNode; f != nil && !f(a) {
			continue
		}
		if id == ownID {
			continue
		}
		if !q.addPending(queryPeer{id: id, addr: a}, m.From) {
			break
		}
	}
	if !q.fromTable && q.successes+q.errors >= q.concurrency {
		q.slowdown = false
	}
	if m.Error != 0 {
		q.readMore()
		return
	}
	if q.background && len(q.n.inflight) < 3 {
		q.concurrency = q.n.cfg.Concurrency
	} else if q.background {
		q.concurrency = min(q.n.cfg.Concurrency, max(2, q.n.cfg.Concurrency/8))
	}
	if q.onData != nil {
		q.onData(m)
	}
	q.push(m)
	q.readMore()
}

func (q *Query) onError(v *visitReq, err error) {
	if q.finished {
		return
	}
	s := q.seen[v.r.to]
	if err == ErrTimeout && s != nil {
		refs := s.refs
		s.state, s.refs = seenDown, nil
		for _, ref := range refs {
			q.downHint(ref, v.r.to)
		}
	}
	q.dec(v)
	q.errors++
	q.readMore()
}

func (q *Query) downHint(to, down netip.AddrPort) {
	n := q.n
	if lim := n.cfg.DownHintsRateLimit; lim >= 0 && n.downHintsSent >= lim {
		return
	}
	n.downHintsSent++
	r := n.request(to, nil, false, true, CmdDownHint, nil, appendAddr(nil, down), func(*Response) {}, func(error) {})
	if r != nil {
		n.stats.DownHintsSent++
		r.query = q
		q.reqs[r] = struct{}{}
	}
}

func (q *Query) pushClosest(m *Response) {
	q.closest = append(q.closest, m)
	for i := len(q.closest) - 2; i >= 0; i-- {
		prev := q.closest[i]
		c := xorCompare(&q.target, prev.FromID, m.FromID)
		if c < 0 {
			break
		}
		if c == 0 {
			q.closest = append(q.closest[:i+1], q.closest[i+2:]...)
			break
		}
		q.closest[i+1] = prev
		q.closest[i] = m
	}
	if len(q.closest) > q.k {
		q.closest = q.closest[:q.k]
	}
}
