package tunnel

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultUDPIdleTimeout is how long a UDP session (one local sender on the
// client, one DHT connection on the server) lives without a datagram in
// either direction when the config says 0. holesail keeps its sessions
// until the DHT connection closes; warren ends idle ones so that a
// long-running tunnel does not keep a connection per sender it ever saw.
const DefaultUDPIdleTimeout = 2 * time.Minute

// maxUDPSessions bounds the local senders a Client forwards at once;
// datagrams from further senders are dropped.
const maxUDPSessions = 1024

// udpQueue is how many datagrams of one sender wait while its DHT
// connection is being made (or is slower than the sender); more are
// dropped, as a full socket buffer drops them.
const udpQueue = 256

// idleTimeout turns a config's IdleTimeout into the one used: 0 means the
// default, negative never (0 returned).
func idleTimeout(d time.Duration) time.Duration {
	switch {
	case d == 0:
		return DefaultUDPIdleTimeout
	case d < 0:
		return 0
	}
	return d
}

// idleTimer calls fire once no touch has come for d. A zero d never fires.
type idleTimer struct {
	d     time.Duration
	start time.Time
	last  atomic.Int64 // time of the last touch, since start
	fire  func()

	mu sync.Mutex
	t  *time.Timer // nil once stopped
}

func newIdleTimer(d time.Duration, fire func()) *idleTimer {
	it := &idleTimer{d: d, start: time.Now(), fire: fire}
	if d > 0 {
		it.t = time.AfterFunc(d, it.check)
	}
	return it
}

// touch records activity.
func (it *idleTimer) touch() { it.last.Store(int64(time.Since(it.start))) }

func (it *idleTimer) check() {
	idle := time.Since(it.start) - time.Duration(it.last.Load())
	if idle >= it.d {
		it.fire()
		return
	}
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.t != nil {
		it.t.Reset(it.d - idle)
	}
}

// stop ends the timer; fire is not called after stop returns unless it was
// already running.
func (it *idleTimer) stop() {
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.t != nil {
		it.t.Stop()
		it.t = nil
	}
}

// relayDatagrams is a UDP server session: datagrams framed on remote (the
// DHT connection) are sent on local (a UDP socket connected to the
// service), and datagrams local receives go back framed on remote, until
// either ends, remote's frames are malformed, or no datagram passes for
// idle (0: never). It closes both and returns what ended it unless that
// was an orderly end.
func relayDatagrams(remote, local net.Conn, idle time.Duration) error {
	// The first direction to end (or the idle timer) closes both and its
	// error is the session's; the other direction then fails on the
	// closed connection, which says nothing more.
	var once sync.Once
	var first error
	closeWith := func(err error) {
		once.Do(func() {
			first = err
			remote.Close()
			local.Close()
		})
	}
	it := newIdleTimer(idle, func() { closeWith(nil) })
	defer it.stop()

	back := make(chan struct{})
	go func() {
		defer close(back)
		// From the service to the client. A read error ends the session,
		// except the "refused" a connected UDP socket reports after an ICMP
		// port unreachable: the service may start listening later.
		buf := make([]byte, frameHeader+MaxDatagram)
		for {
			n, err := local.Read(buf[frameHeader:])
			if err != nil {
				if errors.Is(err, errRefused) {
					continue
				}
				closeWith(err)
				return
			}
			it.touch()
			if _, err := remote.Write(appendFrame(buf[:0], buf[frameHeader:frameHeader+n])); err != nil {
				closeWith(err)
				return
			}
		}
	}()

	fr := newFrameReader(remote)
	for {
		p, err := fr.next()
		if err != nil {
			closeWith(err)
			break
		}
		it.touch()
		if _, err := local.Write(p); err != nil && !errors.Is(err, errRefused) {
			closeWith(err)
			break
		}
	}
	<-back
	if orderlyEnd(first) {
		return nil
	}
	return first
}

// orderlyEnd reports whether err is how a session ends normally: nil, the
// peer's end, or a close from this side (Close, idle expiry).
func orderlyEnd(err error) bool {
	return err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed)
}
