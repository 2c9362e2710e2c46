package swarm

import (
	"sync"
	"sync/atomic"

	"github.com/warrenp2p/warren/secretstream"
)

// Conn is one connection of the swarm: a secret-stream connection (a
// net.Conn) to the peer described by Info. Use it directly or through its
// embedded *secretstream.Conn (corestore replication takes that).
type Conn struct {
	*secretstream.Conn
	// Info is the remote peer.
	Info *PeerInfo

	e         *connEntry
	read      atomic.Bool
	wrote     atomic.Bool
	closing   chan struct{}
	closeOnce sync.Once
}

func newConn(sc *secretstream.Conn, e *connEntry) *Conn {
	return &Conn{Conn: sc, Info: e.info, e: e, closing: make(chan struct{})}
}

// Read reads decrypted data (see secretstream.Conn.Read).
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.read.Store(true)
	}
	return n, err
}

// Write encrypts and sends p (see secretstream.Conn.Write).
func (c *Conn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	if err == nil {
		c.wrote.Store(true)
	}
	return n, err
}

// ReadMessage returns the next message (see secretstream.Conn.ReadMessage).
func (c *Conn) ReadMessage() ([]byte, error) {
	m, err := c.Conn.ReadMessage()
	if err == nil {
		c.read.Store(true)
	}
	return m, err
}

// WriteMessage sends p as one message (see secretstream.Conn.WriteMessage).
func (c *Conn) WriteMessage(p []byte) error {
	err := c.Conn.WriteMessage(p)
	if err == nil {
		c.wrote.Store(true)
	}
	return err
}

// Close closes the connection gracefully (data written so far is
// delivered first); the swarm then forgets it and, if we dialled it and the
// peer is still wanted, redials it after a backoff.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	c.markClosed()
	return err
}

// Done is closed once the swarm has seen the connection end, however it
// ended (closed here, by the peer, by the swarm as a duplicate, or lost).
func (c *Conn) Done() <-chan struct{} { return c.e.done }

// IsClient reports whether we dialled this connection.
func (c *Conn) IsClient() bool { return c.e.client }

func (c *Conn) markClosed() {
	c.closeOnce.Do(func() { close(c.closing) })
}
