package hypercore

import (
	"errors"

	"github.com/warrenp2p/warren/compact"
)

// ErrExtensionClosed is returned by Send on a closed Extension.
var ErrExtensionClosed = errors.New("hypercore: extension is closed")

// Extension is a named side protocol carried in the extension messages of
// the replication channels of one core, as hypercore's registerExtension:
// every peer of the core can receive its messages and be sent some.
// Messages are opaque bytes; the application chooses their encoding.
type Extension struct {
	r         *replicator
	name      string
	onMessage func(p *Peer, msg []byte)
	closed    bool
}

// RegisterExtension registers the extension name on c for all its present
// and future peers. onMessage, if not nil, is called for each message a
// peer sends under that name, from that peer's worker goroutine (one peer's
// messages arrive in order; it must not block for long). Registering a
// name again replaces the handler of the earlier registration and returns
// it.
func (c *Core) RegisterExtension(name string, onMessage func(p *Peer, msg []byte)) *Extension {
	var e *Extension
	acquireReplicator(c, func(r *replicator) {
		if old := r.exts[name]; old != nil {
			old.onMessage = onMessage
			e = old
			return
		}
		e = &Extension{r: r, name: name, onMessage: onMessage}
		r.exts[name] = e
	})
	return e
}

// Name returns the extension's name.
func (e *Extension) Name() string { return e.name }

// Send sends msg to peer p.
func (e *Extension) Send(p *Peer, msg []byte) error {
	e.r.mu.Lock()
	closed := e.closed
	e.r.mu.Unlock()
	if closed {
		return ErrExtensionClosed
	}
	return p.mExt.Send(encodeExtension(ExtensionMessage{Name: e.name, Message: msg}))
}

// Broadcast sends msg to every peer of the core and returns how many it
// was sent to.
func (e *Extension) Broadcast(msg []byte) int {
	n := 0
	for _, p := range e.r.list() {
		if e.Send(p, msg) == nil {
			n++
		}
	}
	return n
}

// Close unregisters the extension; messages under its name are then
// ignored.
func (e *Extension) Close() error {
	r := e.r
	r.mu.Lock()
	e.closed = true
	if r.exts[e.name] == e {
		delete(r.exts, e.name)
	}
	r.mu.Unlock()
	return nil
}

// onExtension delivers a received extension message (worker side). An empty
// name repeats the previous one, as hypercore lets a sender elide it.
func (p *Peer) onExtension(m ExtensionMessage) {
	name := m.Name
	if name == "" {
		name = p.lastExtRecv
	}
	p.lastExtRecv = name
	p.r.mu.Lock()
	e := p.r.exts[name]
	var fn func(*Peer, []byte)
	if e != nil {
		fn = e.onMessage
	}
	p.r.mu.Unlock()
	if fn != nil {
		fn(p, m.Message)
	}
}

// ExtensionMessage is the wire extension message: a name (empty: the same
// as the sender's previous one) and the raw message.
type ExtensionMessage struct {
	Name    string
	Message []byte
}

func encodeExtension(m ExtensionMessage) []byte {
	s := &compact.State{}
	compact.String.Preencode(s, m.Name)
	compact.Raw.Preencode(s, m.Message)
	s.Buf = make([]byte, s.End)
	compact.String.Encode(s, m.Name)
	compact.Raw.Encode(s, m.Message)
	return s.Buf
}

func decodeExtension(b []byte) (m ExtensionMessage, err error) {
	s := &compact.State{Buf: b, End: len(b)}
	if m.Name, err = compact.String.Decode(s); err != nil {
		return m, err
	}
	raw, err := compact.Raw.Decode(s)
	if err != nil {
		return m, err
	}
	m.Message = append([]byte(nil), raw...)
	return m, nil
}

// Cancel is the wire cancel message: the sender no longer wants the answer
// to request Request.
type Cancel struct {
	Request uint64
}

func encodeCancel(m Cancel) []byte { return binaryAppendUint(nil, m.Request) }

func decodeCancel(b []byte) (m Cancel, err error) {
	s := &compact.State{Buf: b, End: len(b)}
	m.Request, err = compact.Uint.Decode(s)
	return m, err
}

func encodeWant(m Want) []byte {
	b := binaryAppendUint(nil, m.Start)
	b = binaryAppendUint(b, m.Length)
	if m.Any {
		b = binaryAppendUint(b, 1)
	}
	return b
}

func encodeBitfield(m Bitfield) []byte {
	s := &compact.State{}
	compact.Uint.Preencode(s, m.Start)
	compact.Uint32Array.Preencode(s, m.Bitfield)
	s.Buf = make([]byte, s.End)
	compact.Uint.Encode(s, m.Start)
	compact.Uint32Array.Encode(s, m.Bitfield)
	return s.Buf
}
