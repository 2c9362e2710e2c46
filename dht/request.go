package dht

import (
	"context"
	"net/netip"
	"time"
)

// Handler serves one user command. It runs on the node's receive
// goroutine, so it must not block: reply at once, or keep req and reply
// later from another goroutine. ctx ends when the node closes.
type Handler func(ctx context.Context, req *Request)

// Handle registers h for the user (non-internal) command cmd, replacing any
// previous handler; a nil h removes it. Requests for commands without a
// handler are answered with ErrCodeUnknownCommand.
func (n *Node) Handle(cmd uint64, h Handler) {
	n.handlersMu.Lock()
	defer n.handlersMu.Unlock()
	if h == nil {
		delete(n.handlers, cmd)
		return
	}
	n.handlers[cmd] = h
}

// Request is a request received from another node.
type Request struct {
	TID      uint16
	From     netip.AddrPort // the sender's address
	FromID   *[32]byte      // sender's id if it is persistent and the id matches From
	To       netip.AddrPort // our address as the sender sees it
	Token    *[32]byte      // a valid token for From, if one was sent
	Internal bool
	Command  uint64
	Target   *[32]byte
	Value    []byte

	n    *Node
	conn PacketConn
}

// ReplyOptions adjust a reply.
type ReplyOptions struct {
	// NoToken leaves out the token the asker needs to commit to this node.
	NoToken bool
	// NoCloserNodes leaves out the nodes closest to the target.
	NoCloserNodes bool
	// Conn sends the reply through another socket than the request came in.
	Conn PacketConn
	// To sends the reply to another address than the sender's.
	To netip.AddrPort
}

// Conn is the socket the request arrived on.
func (r *Request) Conn() PacketConn { return r.conn }

// Reply answers with value. By default the reply carries a token for the
// asker and, if the request had a target, the closest nodes to it.
func (r *Request) Reply(value []byte, opts *ReplyOptions) {
	var o ReplyOptions
	if opts != nil {
		o = *opts
	}
	r.reply(0, value, !o.NoToken, !o.NoCloserNodes, o)
}

// Error answers with an error code (no token).
func (r *Request) Error(code uint64, opts *ReplyOptions) {
	var o ReplyOptions
	if opts != nil {
		o = *opts
	}
	r.reply(code, nil, false, !o.NoCloserNodes, o)
}

func (r *Request) reply(code uint64, value []byte, token, closer bool, o ReplyOptions) {
	to, conn := r.From, r.conn
	if o.To.IsValid() {
		to = o.To
	}
	if o.Conn != nil {
		conn = o.Conn
	}
	r.n.mu.Lock()
	defer r.n.mu.Unlock()
	if r.n.closed {
		return
	}
	r.sendReplyLocked(code, value, token, closer, to, conn)
}

// Relay forwards the request, with value in place of its value and no
// token, to another node (same tid, command and target), as hyperdht's
// routers do. The reply of that node goes straight back to the asker.
func (r *Request) Relay(value []byte, to netip.AddrPort, opts *ReplyOptions) {
	conn := r.conn
	if opts != nil && opts.Conn != nil {
		conn = opts.Conn
	}
	n := r.n
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	var id *[32]byte
	if !n.ephemeral && conn == n.server {
		tid := n.tbl.id
		id = &tid
	}
	b := AppendRequest(nil, &RequestMessage{
		TID: r.TID, To: to, ID: id, Internal: r.Internal,
		Command: r.Command, Target: r.Target, Value: value,
	})
	_ = conn.WriteTo(b, to)
}

func (r *Request) sendReplyLocked(code uint64, value []byte, token, closer bool, to netip.AddrPort, conn PacketConn) {
	n := r.n
	m := ResponseMessage{TID: r.TID, To: to, Error: code, Value: value}
	if !n.ephemeral && conn == n.server {
		id := n.tbl.id
		m.ID = &id
	}
	if token {
		t := n.token(to.Addr(), 1)
		m.Token = &t
	}
	if r.Target != nil && closer {
		for _, x := range n.tbl.closest(r.Target, K) {
			m.CloserNodes = append(m.CloserNodes, x.addr.AddrPort())
		}
	}
	_ = conn.WriteTo(AppendResponse(nil, &m), to)
}

// Response is a reply from another node.
type Response struct {
	From        netip.AddrPort // the responder's address
	FromID      *[32]byte      // responder's id if persistent and matching From
	To          netip.AddrPort // our address as the responder sees it
	Token       *[32]byte      // token to send back to From to commit
	CloserNodes []netip.AddrPort
	Error       uint64 // 0, or an error code (see Err)
	Value       []byte
	RTT         time.Duration
	Conn        PacketConn // socket the response arrived on
}

// Err returns a *RemoteError for a non-zero error code, else nil.
func (r *Response) Err() error {
	if r.Error == 0 {
		return nil
	}
	return &RemoteError{Code: r.Error}
}

// RequestOptions adjust an outgoing request.
type RequestOptions struct {
	// Target is the 32-byte key the request is about (FIND_NODE-like
	// commands return the nodes closest to it).
	Target *[32]byte
	// Token proves to the node that we talked to it recently.
	Token *[32]byte
	// Internal marks a dht-rpc command (PING, FIND_NODE, ...).
	Internal bool
	// Retries is the number of resends after the first attempt; nil means 3.
	Retries *int
	// Timeout is the wait for each attempt; 0 means 1s.
	Timeout time.Duration
	// Conn sends through another socket (its datagrams must reach the node
	// through HandleDatagram for the response to be seen).
	Conn PacketConn
	// TTL sets the IP TTL of the datagrams, if the socket supports it.
	TTL int
}

// Request sends one request to the node at to and waits for its response.
// A response with an error code is returned with a nil error: check
// Response.Err. The error is ErrTimeout, ErrClosed or ctx's error.
func (n *Node) Request(ctx context.Context, to netip.AddrPort, command uint64, value []byte, opts *RequestOptions) (*Response, error) {
	var o RequestOptions
	if opts != nil {
		o = *opts
	}
	to = netip.AddrPortFrom(to.Addr().Unmap(), to.Port())
	if !to.Addr().Is4() || to.Port() == 0 {
		return nil, ErrBadAddress
	}
	type result struct {
		res *Response
		err error
	}
	ch := make(chan result, 1)
	n.mu.Lock()
	r := n.newRequest(to, nil, o.Token, o.Internal, command, o.Target, value)
	if r == nil {
		n.mu.Unlock()
		return nil, ErrClosed
	}
	r.onResponse = func(res *Response) { ch <- result{res: res} }
	r.onError = func(err error) { ch <- result{err: err} }
	if o.Retries != nil {
		r.retries = max(0, *o.Retries)
	}
	r.timeout = o.Timeout
	r.ttl = o.TTL
	if o.Conn != nil {
		r.conn = o.Conn
	}
	r.send(false)
	n.mu.Unlock()
	select {
	case x := <-ch:
		return x.res, x.err
	case <-ctx.Done():
		n.mu.Lock()
		r.destroy(ctx.Err())
		n.mu.Unlock()
		x := <-ch
		return x.res, x.err
	}
}

// Ping sends a PING and returns the response, whose To field is our
// address as the other node sees it.
func (n *Node) Ping(ctx context.Context, to netip.AddrPort) (*Response, error) {
	return n.Request(ctx, to, CmdPing, nil, &RequestOptions{Internal: true})
}

// DelayedPing asks the node at to to answer after delay (at most 10 s
// are honoured by dht-rpc nodes).
func (n *Node) DelayedPing(ctx context.Context, to netip.AddrPort, delay time.Duration) (*Response, error) {
	ms := uint32(delay / time.Millisecond)
	v := []byte{byte(ms), byte(ms >> 8), byte(ms >> 16), byte(ms >> 24)}
	return n.Request(ctx, to, CmdDelayedPing, v, &RequestOptions{Internal: true, Timeout: delay + time.Second})
}
