package udx

import (
	"errors"
	"os"
	"sync"
	"syscall"
	"time"
)

// idleAfter is how long a socket's reader goroutine waits without a
// datagram before it parks (where parking is supported, see newParker).
const idleAfter = 250 * time.Millisecond

// Reader states of a parkable socket.
const (
	readerRunning = iota
	readerParked
	readerClosed
)

// parker lets a socket's reader goroutine end while the socket is idle
// and has a new one started when a datagram arrives.
type parker struct {
	s  *Socket
	rc syscall.RawConn

	mu         sync.Mutex
	state      int
	registered bool // known to the poller (registered under token)
	token      int32
	off        bool // parking failed once: the reader stays
}

// deadliner is a conn whose reads can time out.
type deadliner interface {
	setReadDeadline(t time.Time) error
}

func (p *plainConn) setReadDeadline(t time.Time) error { return p.c.SetReadDeadline(t) }

// extend gives the reader another idleAfter before it may park.
func (p *parker) extend() {
	if d, ok := p.s.conn.(deadliner); ok {
		_ = d.setReadDeadline(time.Now().Add(idleAfter))
	}
}

// disable keeps the reader for good (reads without a deadline).
func (p *parker) disable() {
	p.off = true
	if d, ok := p.s.conn.(deadliner); ok {
		_ = d.setReadDeadline(time.Time{})
	}
}

// park is called by the reader after idleAfter without a datagram. It
// reports whether the reader must end now: the socket is registered with
// the poller, which starts a new reader when a datagram arrives.
func (p *parker) park() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == readerClosed {
		p.disable() // Close is closing the conn: the next read ends the reader
		return false
	}
	if err := p.arm(); err != nil {
		p.disable()
		return false
	}
	p.state = readerParked
	return true
}

// wake starts a reader for a parked socket; the poller calls it.
func (p *parker) wake() {
	p.mu.Lock()
	if p.state != readerParked {
		p.mu.Unlock()
		return
	}
	p.state = readerRunning
	p.s.readers.Add(1)
	p.mu.Unlock()
	go p.s.readLoop()
}

// close stops any further reader from starting and takes the socket out
// of the poller. It runs before the conn closes.
func (p *parker) close() {
	p.mu.Lock()
	p.state = readerClosed
	reg := p.registered
	p.mu.Unlock()
	if reg {
		p.unregister()
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }
