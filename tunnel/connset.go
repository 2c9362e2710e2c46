package tunnel

import (
	"net"
	"sync"
	"time"
)

// connSet is the set of open connections of a Client or Server, so that
// Close can end them all. Its zero value is an empty, open set.
type connSet struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

// add puts c in the set; false once the set is closed (c is then the
// caller's to close).
func (s *connSet) add(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if s.conns == nil {
		s.conns = map[net.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	return true
}

// remove takes c out of the set.
func (s *connSet) remove(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// closeAll closes the set and every connection in it; false if it was
// already closed. It does not wait for peers to acknowledge what was
// written (a DHT connection's Close otherwise waits up to 10 s for a peer
// that may be gone): the write deadline is set to now first.
func (s *connSet) closeAll() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.closed = true
	now := time.Now()
	for c := range s.conns {
		c.SetWriteDeadline(now)
		c.Close()
	}
	return true
}

// len is the number of open connections in the set.
func (s *connSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}
