package tunnel

import (
	"errors"
	"net"
	"sync"
	"time"
)

// maxCoalesce is how many bytes of queued frames a UDP session gathers
// into one write to the DHT connection.
const maxCoalesce = 64 << 10

// udpSession is one local sender of a UDP Client: its datagrams go over one
// DHT connection, and what comes back on it is sent to the sender.
type udpSession struct {
	from  net.Addr
	key   string
	queue chan []byte
	done  chan struct{}
	once  sync.Once
}

// end asks the session to finish (idle expiry).
func (s *udpSession) end() { s.once.Do(func() { close(s.done) }) }

func (s *udpSession) ended() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// udpSessions is a Client's sessions by sender address.
type udpSessions struct {
	mu sync.Mutex
	m  map[string]*udpSession
}

// get returns the live session of from, creating it if there is room
// (created true: the caller starts it); nil when the table is full.
func (t *udpSessions) get(from net.Addr) (s *udpSession, created bool) {
	key := from.String()
	t.mu.Lock()
	defer t.mu.Unlock()
	if s := t.m[key]; s != nil && !s.ended() {
		return s, false
	}
	if t.m == nil {
		t.m = map[string]*udpSession{}
	}
	if len(t.m) >= maxUDPSessions {
		if old := t.m[key]; old == nil {
			return nil, false
		}
	}
	s = &udpSession{from: from, key: key, queue: make(chan []byte, udpQueue), done: make(chan struct{})}
	t.m[key] = s
	return s, true
}

// remove takes s out of the table unless a newer session replaced it.
func (t *udpSessions) remove(s *udpSession) {
	t.mu.Lock()
	if t.m[s.key] == s {
		delete(t.m, s.key)
	}
	t.mu.Unlock()
}

// len is the number of sessions in the table.
func (t *udpSessions) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// readLoop reads local datagrams and hands each to its sender's session.
func (c *Client) readLoop() {
	defer c.wg.Done()
	buf := make([]byte, MaxDatagram)
	for {
		n, from, err := c.pc.ReadFrom(buf)
		if err != nil {
			if c.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			c.log.Debug("UDP read failed", "err", err)
			select { // do not spin on an error that repeats
			case <-time.After(10 * time.Millisecond):
			case <-c.ctx.Done():
				return
			}
			continue
		}
		s, created := c.udp.get(from)
		if s == nil {
			c.log.Debug("too many UDP senders; datagram dropped", "from", from)
			continue
		}
		if created {
			c.wg.Add(1)
			go c.runUDP(s)
		}
		select {
		case s.queue <- append([]byte(nil), buf[:n]...):
		default:
			c.log.Debug("UDP queue full; datagram dropped", "from", from)
		}
	}
}

// runUDP connects a session to the server and relays its datagrams until
// it idles out, either side ends or the client closes.
func (c *Client) runUDP(s *udpSession) {
	defer c.wg.Done()
	defer c.udp.remove(s)
	defer s.end()
	remote := c.dial()
	if remote == nil {
		return
	}
	defer c.conns.remove(remote)
	c.log.Info("UDP session", "from", s.from, "to", remote.RemoteAddr())
	it := newIdleTimer(idleTimeout(c.cfg.IdleTimeout), s.end)
	defer it.stop()

	replies := make(chan error, 1)
	go func() {
		fr := newFrameReader(remote)
		for {
			p, err := fr.next()
			if err != nil {
				replies <- err
				return
			}
			it.touch()
			if _, err := c.pc.WriteTo(p, s.from); err != nil && c.ctx.Err() == nil {
				c.log.Debug("UDP reply not sent", "to", s.from, "err", err)
			}
		}
	}()

	var frame []byte
	var rerr error
	waiting := true
loop:
	for {
		select {
		case p := <-s.queue:
			it.touch()
			// Datagrams already waiting go in the same write: the frames
			// are a byte stream, so one secret-stream message may hold
			// several.
			frame = appendFrame(frame[:0], p)
		more:
			for len(frame) < maxCoalesce {
				select {
				case p := <-s.queue:
					frame = appendFrame(frame, p)
				default:
					break more
				}
			}
			if _, err := remote.Write(frame); err != nil {
				rerr = err
				break loop
			}
		case rerr = <-replies:
			waiting = false
			break loop
		case <-s.done:
			break loop
		case <-c.ctx.Done():
			break loop
		}
	}
	remote.Close()
	if waiting {
		if err := <-replies; rerr == nil {
			rerr = err
		}
	}
	if !orderlyEnd(rerr) && c.ctx.Err() == nil && !s.ended() {
		c.log.Debug("UDP session ended with an error", "from", s.from, "err", rerr)
	}
	c.log.Info("UDP session closed", "from", s.from)
}
