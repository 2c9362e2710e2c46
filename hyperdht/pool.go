package hyperdht

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net"
	"sync"

	"github.com/warrenp2p/warren/secretstream"
	"github.com/warrenp2p/warren/udx"
)

// Pool keeps at most one connection per remote public key, as hyperdht's
// connection pool (dht.pool()): concurrent Connects to one key share one
// dial and the connection it makes, connections added with Add (such as
// those a Server accepted) are reused by Connect, and of two connections
// to one peer the pool keeps one. Callers share the
// connections it hands out: closing one closes it for all. Safe for
// concurrent use.
type Pool struct {
	d *DHT

	mu    sync.Mutex
	conns map[[32]byte]net.Conn
	dials map[[32]byte]*poolDial
}

type poolDial struct {
	done chan struct{}
	conn net.Conn
	err  error
}

// NewPool returns an empty pool that connects through d.
func (d *DHT) NewPool() *Pool {
	return &Pool{d: d, conns: map[[32]byte]net.Conn{}, dials: map[[32]byte]*poolDial{}}
}

func poolKey(pk ed25519.PublicKey) (k [32]byte) {
	copy(k[:], pk)
	return k
}

// connClosed reports whether a pooled connection has ended.
func connClosed(c net.Conn) bool {
	sc, ok := c.(*secretstream.Conn)
	if !ok {
		return false
	}
	st, ok := sc.NetConn().(*udx.Stream)
	if !ok {
		return false
	}
	select {
	case <-st.Closed():
		return true
	default:
		return st.Err() != nil
	}
}

func (p *Pool) liveLocked(k [32]byte) net.Conn {
	c := p.conns[k]
	if c != nil && connClosed(c) {
		delete(p.conns, k)
		return nil
	}
	return c
}

// Get returns the live pooled connection to publicKey, or nil.
func (p *Pool) Get(publicKey ed25519.PublicKey) net.Conn {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.liveLocked(poolKey(publicKey))
}

// Len is the number of live pooled connections.
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for k := range p.conns {
		if p.liveLocked(k) != nil {
			n++
		}
	}
	return n
}

// Connect returns the pooled connection to publicKey if there is one,
// waits for a dial to it already under way, or dials with ConnectWith and
// pools the result. A dial shared by several callers runs under the first
// caller's ctx.
func (p *Pool) Connect(ctx context.Context, publicKey ed25519.PublicKey, opts *ConnectOptions) (net.Conn, error) {
	if len(publicKey) != ed25519.PublicKeySize {
		return nil, errors.New("hyperdht: public key must be 32 bytes")
	}
	k := poolKey(publicKey)
	p.mu.Lock()
	if c := p.liveLocked(k); c != nil {
		p.mu.Unlock()
		return c, nil
	}
	if dl := p.dials[k]; dl != nil {
		p.mu.Unlock()
		select {
		case <-dl.done:
			return dl.conn, dl.err
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	dl := &poolDial{done: make(chan struct{})}
	p.dials[k] = dl
	p.mu.Unlock()

	c, err := p.d.ConnectWith(ctx, publicKey, opts)
	if err == nil {
		c = p.Add(c)
	}
	p.mu.Lock()
	delete(p.dials, k)
	p.mu.Unlock()
	dl.conn, dl.err = c, err
	close(dl.done)
	return c, err
}

// Add pools c, a connection made by this DHT (a Server's Accept or a
// Connect), and returns the connection to keep for its peer: c, or the one
// already pooled. Of two connections to one peer it keeps, by hyperdht's
// rule, the newer when both were made in the same direction or when our
// public key is the greater of the two, else the older; the other is
// closed.
func (p *Pool) Add(c net.Conn) net.Conn {
	sc, ok := c.(*secretstream.Conn)
	if !ok || sc.RemotePublicKey() == nil {
		return c
	}
	k := poolKey(sc.RemotePublicKey())
	p.mu.Lock()
	old := p.liveLocked(k)
	if old == nil || old == c {
		p.conns[k] = c
		p.mu.Unlock()
		return c
	}
	osc, _ := old.(*secretstream.Conn)
	keepNew := osc == nil || sc.IsInitiator() == osc.IsInitiator() ||
		bytes.Compare(sc.PublicKey(), sc.RemotePublicKey()) > 0
	if keepNew {
		p.conns[k] = c
		p.mu.Unlock()
		old.Close()
		return c
	}
	p.mu.Unlock()
	c.Close()
	return old
}

// Close closes every pooled connection and empties the pool.
func (p *Pool) Close() error {
	p.mu.Lock()
	conns := p.conns
	p.conns = map[[32]byte]net.Conn{}
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return nil
}
