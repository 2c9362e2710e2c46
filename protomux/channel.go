package protomux

import (
	"context"
	"fmt"
	"slices"

	"github.com/warrenp2p/warren/compact"
)

// ChannelOptions describe a channel. The zero value of every field but
// Protocol is the JS default.
type ChannelOptions struct {
	// Protocol names the protocol; the remote's channel must use the same
	// name (or one of Aliases).
	Protocol string
	// ID optionally distinguishes channels of one protocol (hypercore uses
	// the discovery key). Nil and empty are the same.
	ID []byte
	// Aliases are other protocol names the remote may open this channel
	// under.
	Aliases []string
	// AllowDuplicates lets Mux.Channel create a channel while another one
	// for the same protocol and id is open (JS unique: false). By default
	// Mux.Channel fails with ErrDuplicate then.
	AllowDuplicates bool
	// OnOpen runs on the reader when both sides have opened the channel,
	// with the handshake the remote passed to Open (the rest of its open
	// message; empty if it sent none). The slice stays valid. An error
	// destroys the mux.
	OnOpen func(handshake []byte) error
	// OnClose runs once when the channel closes; remote is true when the
	// remote closed or rejected it or the mux ended.
	OnClose func(remote bool)
	// OnDrain runs on the writer when the outgoing queue drops below the
	// high water mark after having reached it.
	OnDrain func()
}

// Channel is one protocol session over a Mux.
type Channel struct {
	mux      *Mux
	protocol string
	id       []byte
	aliases  []string
	k        key
	seq      uint64
	onOpen   func([]byte) error
	onClose  func(bool)
	onDrain  func()
	openedCh chan struct{}
	closedCh chan struct{}

	// guarded by mux.mu
	info             *info
	messages         []*Message
	localID          uint64
	remoteID         uint64
	opened, closed   bool
	counted          bool // included in info.opened
	handshake        []byte
	pendingHandshake []byte
}

// Channel creates a channel for opts.Protocol and opts.ID. If the remote
// has opened such a channel and is waiting (only possible inside a Pair
// function), the new channel is paired with it and becomes fully open once
// the pairing function returns; call Open in any case to answer.
// It fails with ErrDuplicate if a channel for the protocol and id is open
// and opts.AllowDuplicates is false, and with ErrClosed after the mux
// closed.
func (m *Mux) Channel(opts ChannelOptions) (*Channel, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.destroyed || m.ending {
		return nil, ErrClosed
	}
	id := slices.Clone(opts.ID)
	if len(id) == 0 {
		id = nil
	}
	k := key{opts.Protocol, string(id)}
	inf := m.getInfo(k, opts.Aliases)
	if !opts.AllowDuplicates && inf.opened > 0 {
		return nil, ErrDuplicate
	}
	m.seq++
	ch := &Channel{
		mux:      m,
		protocol: opts.Protocol,
		id:       id,
		aliases:  slices.Clone(opts.Aliases),
		k:        k,
		seq:      m.seq,
		onOpen:   opts.OnOpen,
		onClose:  opts.OnClose,
		onDrain:  opts.OnDrain,
		openedCh: make(chan struct{}),
		closedCh: make(chan struct{}),
		info:     inf,
	}
	m.all[ch] = struct{}{}
	if len(inf.incoming) > 0 {
		rid := inf.incoming[0]
		inf.incoming = slices.Delete(inf.incoming, 0, 1)
		if s := m.remote[rid-1]; s != nil {
			ch.remoteID = rid
			s.session = ch
			ch.pendingHandshake = s.handshake
			s.handshake = nil
			m.openSoon = append(m.openSoon, ch)
		}
	}
	return ch, nil
}

// Protocol is the channel's protocol name.
func (c *Channel) Protocol() string { return c.protocol }

// ID is the channel's id (nil if none).
func (c *Channel) ID() []byte { return c.id }

// Mux is the mux the channel belongs to.
func (c *Channel) Mux() *Mux { return c.mux }

// Handshake is the handshake the remote sent, once the channel is open.
func (c *Channel) Handshake() []byte {
	c.mux.mu.Lock()
	defer c.mux.mu.Unlock()
	return c.handshake
}

// Open sends the channel's open message carrying handshake (any bytes the
// remote's OnOpen receives; encode a structure with compact.Encode).
func (c *Channel) Open(handshake []byte) error {
	m := c.mux
	m.mu.Lock()
	defer m.mu.Unlock()
	if c.closed {
		return ErrChannelClosed
	}
	if m.destroyed || m.ending {
		return ErrClosed
	}
	if c.localID != 0 {
		return ErrAlreadyOpen
	}
	// The info may have been forgotten while the channel was not open.
	inf := m.getInfo(c.k, c.aliases)
	c.info = inf
	var idx uint64
	if n := len(m.free); n > 0 {
		idx = m.free[n-1]
		m.free = m.free[:n-1]
	} else {
		idx = uint64(len(m.local))
		m.local = append(m.local, nil)
	}
	inf.opened++
	c.counted = true
	inf.last = c
	c.localID = idx + 1
	m.local[idx] = c
	if c.remoteID == 0 {
		inf.outgoing = append(inf.outgoing, c.localID)
	}

	// 0 (control), 1 (open), local id, protocol, optional id, handshake.
	n := 2 + compact.UintSize(c.localID) + compact.UintSize(uint64(len(c.protocol))) + len(c.protocol) + compact.UintSize(uint64(len(c.id))) + len(c.id) + len(handshake)
	buf := make([]byte, n)
	buf[0], buf[1] = 0, 1
	p := 2
	p += putUint(buf[p:], c.localID)
	p += putUint(buf[p:], uint64(len(c.protocol)))
	p += copy(buf[p:], c.protocol)
	p += putUint(buf[p:], uint64(len(c.id)))
	p += copy(buf[p:], c.id)
	copy(buf[p:], handshake)
	m.write0(buf)
	return nil
}

// Opened waits until the channel is fully open (both sides opened it). It
// returns ErrChannelClosed if the channel closed first.
func (c *Channel) Opened(ctx context.Context) error {
	select {
	case <-c.openedCh:
		return nil
	default:
	}
	select {
	case <-c.openedCh:
		return nil
	case <-c.closedCh:
		select {
		case <-c.openedCh:
			return nil
		default:
		}
		return ErrChannelClosed
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Closed is closed once the channel has closed and OnClose has returned.
func (c *Channel) Closed() <-chan struct{} { return c.closedCh }

// Close closes the channel and tells the remote. Closing a closed channel
// does nothing.
func (c *Channel) Close() error {
	m := c.mux
	m.mu.Lock()
	localID := c.localID
	if !m.closeLocked(c) {
		m.mu.Unlock()
		return nil
	}
	if localID > 0 {
		buf := make([]byte, 2+compact.UintSize(localID))
		buf[0], buf[1] = 0, 3
		putUint(buf[2:], localID)
		m.write0(buf)
	}
	m.mu.Unlock()
	c.finishClose(false)
	return nil
}

// finishClose runs OnClose and signals Closed. Called without the lock,
// once per channel.
func (c *Channel) finishClose(remote bool) {
	if c.onClose != nil {
		c.onClose(remote)
	}
	close(c.closedCh)
}

// Message is one message type of a channel.
type Message struct {
	ch   *Channel
	typ  uint64
	recv func([]byte) error
}

// AddMessage adds the next message type of the channel (type ids count
// from 0 in the order messages are added, as in JS). handler runs on the
// reader for every message of this type the remote sends; the payload is
// valid only until it returns. A nil handler ignores incoming messages.
// An error from handler destroys the mux.
func (c *Channel) AddMessage(handler func(payload []byte) error) *Message {
	m := c.mux
	m.mu.Lock()
	defer m.mu.Unlock()
	msg := &Message{ch: c, typ: uint64(len(c.messages)), recv: handler}
	c.messages = append(c.messages, msg)
	return msg
}

// Type is the message's type id.
func (msg *Message) Type() uint64 { return msg.typ }

// headroom is the space kept in front of an encoded message for the
// channel id, so sending needs no second copy.
const headroom = 9

// Send sends payload as one message of this type. It never blocks: the
// frame is queued (or added to the batch when the mux is corked). It fails
// with ErrNotOpen before the channel is opened locally, ErrChannelClosed
// after it closed and ErrClosed after the mux closed.
func (msg *Message) Send(payload []byte) error {
	return send(msg, compact.Raw, payload)
}

// sendableLocked reports why nothing can be sent on c now, if so. Called
// with the mux's lock held.
func (c *Channel) sendableLocked() error {
	m := c.mux
	switch {
	case c.closed:
		return ErrChannelClosed
	case m.destroyed || m.ending:
		return ErrClosed
	case c.localID == 0:
		return ErrNotOpen
	}
	return nil
}

// send queues buf[headroom:] (type and payload) for the channel, into the
// batch when the mux is corked.
func (c *Channel) send(buf []byte) error {
	m := c.mux
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := c.sendableLocked(); err != nil {
		return err
	}
	if m.corked > 0 {
		b, _ := m.reserve(c.localID, len(buf)-headroom)
		copy(b, buf[headroom:])
		return nil
	}
	start := headroom - compact.UintSize(c.localID)
	putUint(buf[start:], c.localID)
	m.enqueue(buf[start:])
	return nil
}

// TypedMessage is a message type whose payload is encoded with a
// compact-encoding codec.
type TypedMessage[T any] struct {
	msg   *Message
	codec compact.Codec[T]
}

// AddTypedMessage adds the next message type of c, encoded with codec.
// handler receives each decoded message on the reader; values that alias
// the input (compact.Buffer, Raw, Fixed) are valid only until it returns.
// A message that fails to decode destroys the mux, as in JS; bytes after
// the value are ignored, as in JS.
func AddTypedMessage[T any](c *Channel, codec compact.Codec[T], handler func(T) error) *TypedMessage[T] {
	var recv func([]byte) error
	if handler != nil {
		recv = func(b []byte) error {
			v, err := compact.Decode(codec, b)
			if err != nil {
				return fmt.Errorf("%w: decoding message of %q: %w", ErrProtocol, c.protocol, err)
			}
			return handler(v)
		}
	}
	return &TypedMessage[T]{msg: c.AddMessage(recv), codec: codec}
}

// Type is the message's type id.
func (t *TypedMessage[T]) Type() uint64 { return t.msg.typ }

// Send encodes v and sends it like Message.Send. An encoding error from
// the codec is returned and nothing is sent. When the mux is corked, v is
// encoded straight into the batch.
func (t *TypedMessage[T]) Send(v T) error { return send(t.msg, t.codec, v) }

// send encodes v with codec as one message of msg's type: straight into
// the batch when the mux is corked, else into a frame of its own.
func send[T any](msg *Message, codec compact.Codec[T], v T) error {
	tl := compact.UintSize(msg.typ)
	var s compact.State
	codec.Preencode(&s, v)
	if s.Err != nil {
		return s.Err
	}
	c := msg.ch
	m := c.mux
	m.mu.Lock()
	if m.corked > 0 {
		defer m.mu.Unlock()
		if err := c.sendableLocked(); err != nil {
			return err
		}
		b, mark := m.reserve(c.localID, tl+s.End)
		if err := encode(b, msg.typ, tl, codec, v); err != nil {
			m.unreserve(mark)
			return err
		}
		return nil
	}
	m.mu.Unlock()
	buf := make([]byte, headroom+tl+s.End)
	if err := encode(buf[headroom:], msg.typ, tl, codec, v); err != nil {
		return err
	}
	return c.send(buf)
}

// encode writes the message type typ (tl bytes) and then v into b, which
// holds exactly the preencoded size of both.
func encode[T any](b []byte, typ uint64, tl int, codec compact.Codec[T], v T) error {
	putUint(b, typ)
	e := compact.State{Start: tl, End: len(b), Buf: b}
	codec.Encode(&e, v)
	if e.Err != nil {
		return e.Err
	}
	if e.Start != len(b) {
		return fmt.Errorf("protomux: codec wrote %d bytes after preencoding %d: %w", e.Start-tl, len(b)-tl, compact.ErrInvalid)
	}
	return nil
}
