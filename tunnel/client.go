package tunnel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/warrenp2p/warren/hyperdht"
)

// Defaults a client falls back to when the server published no record, as
// holesail-client.
const (
	DefaultHost = "127.0.0.1"
	DefaultPort = 8989
)

// ErrKeyPairMismatch means a private key was given to a client whose DHT
// node does not identify with the key pair derived from it.
var ErrKeyPairMismatch = errors.New("tunnel: private key needs a DHT node created with the key pair of its seed (Key.KeyPair)")

// Resolve picks the reading of a connection key (from ParseKey) that has a
// host record on the DHT and returns it with its record. If none has one,
// it returns the last reading (the public one in Auto mode) and a nil
// record, as holesail-client connects without a record too. A reading
// whose record is not holesail's JSON is returned with a nil record.
func Resolve(ctx context.Context, d *hyperdht.DHT, keys []Key) (Key, *Record, error) {
	if len(keys) == 0 {
		return Key{}, nil, ErrEmptyKey
	}
	for _, k := range keys {
		r, err := GetRecord(ctx, d, k.PublicKey)
		switch {
		case err == nil:
			return k, &r, nil
		case errors.Is(err, ErrRecordInvalid):
			// A validly signed record that is not holesail's JSON still
			// shows which key the server holds.
			return k, nil, nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return Key{}, nil, ctxErr
		}
	}
	return keys[len(keys)-1], nil, nil
}

// ClientConfig configures Listen.
type ClientConfig struct {
	// Key is the server to reach (a reading from ParseKey or Resolve). For a
	// private key the DHT node must have been created with Key.KeyPair.
	Key Key
	// Host and Port are the local address to listen on; "" and 0 mean the
	// server's record's host and port, else 127.0.0.1:8989, as
	// holesail-client. Port -1 picks a free port.
	Host string
	Port int
	// Record is the server's host record if already fetched (Resolve).
	Record *Record
	// UDP forwards UDP datagrams instead of TCP connections, as
	// holesail-client --udp: each local sender gets its own DHT connection
	// to the server, and the server's replies go back to that sender. A
	// Record saying "udp":true turns it on too.
	UDP bool
	// IdleTimeout ends a UDP sender's session (and its DHT connection)
	// after this long without a datagram either way; 0 means
	// DefaultUDPIdleTimeout, negative never.
	IdleTimeout time.Duration
	// ConnectTimeout bounds each DHT connection to the server; 0 means 60 s.
	ConnectTimeout time.Duration
	// Logger receives the client's logs; nil is silent.
	Logger *slog.Logger
}

// Client is a local TCP listener whose connections are each forwarded over
// a new HyperDHT connection to a tunnel server, as holesail-client does;
// or, in UDP mode, a local UDP socket whose senders each get one.
type Client struct {
	d      *hyperdht.DHT
	cfg    ClientConfig
	ln     net.Listener   // TCP mode
	pc     net.PacketConn // UDP mode
	udp    udpSessions
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	conns connSet
}

// Listen opens the local listener and forwards its connections until Close.
func Listen(ctx context.Context, d *hyperdht.DHT, cfg ClientConfig) (*Client, error) {
	if len(cfg.Key.PublicKey) != 32 {
		return nil, ErrInvalidKey
	}
	if kp, ok := cfg.Key.KeyPair(); ok && !bytes.Equal(d.KeyPair().PublicKey, kp.PublicKey) {
		return nil, ErrKeyPairMismatch
	}
	host, port := cfg.Host, cfg.Port
	if cfg.Record != nil {
		if host == "" {
			host = cfg.Record.Host
		}
		if port == 0 {
			port = cfg.Record.Port
		}
	}
	if host == "" {
		host = DefaultHost
	}
	switch {
	case port == 0:
		port = DefaultPort
	case port < 0:
		port = 0
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 60 * time.Second
	}
	if cfg.Record != nil && cfg.Record.UDP {
		cfg.UDP = true
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c := &Client{d: d, cfg: cfg, log: log}
	addr := net.JoinHostPort(host, strconv.Itoa(port))
	var lc net.ListenConfig
	var err error
	if cfg.UDP {
		c.pc, err = lc.ListenPacket(ctx, "udp", addr)
	} else {
		c.ln, err = lc.Listen(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("tunnel: %w", err)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	if cfg.UDP {
		go c.readLoop()
	} else {
		go c.acceptLoop()
	}
	return c, nil
}

// Addr is the local listening address (a *net.UDPAddr in UDP mode).
func (c *Client) Addr() net.Addr {
	if c.pc != nil {
		return c.pc.LocalAddr()
	}
	return c.ln.Addr()
}

// UDP reports whether the client forwards UDP datagrams.
func (c *Client) UDP() bool { return c.cfg.UDP }

// Close stops listening, closes every forwarded connection and waits for
// the client's goroutines.
func (c *Client) Close() error {
	if !c.conns.closeAll() {
		return nil
	}
	c.cancel()
	var err error
	if c.pc != nil {
		err = c.pc.Close()
	} else {
		err = c.ln.Close()
	}
	c.wg.Wait()
	return err
}

func (c *Client) acceptLoop() {
	defer c.wg.Done()
	var delay time.Duration
	for {
		conn, err := c.ln.Accept()
		if err != nil {
			if c.ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Temporary (e.g. EMFILE): back off as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(delay):
					continue
				case <-c.ctx.Done():
					return
				}
			}
			c.log.Warn("accept failed", "err", err)
			return
		}
		delay = 0
		if !c.conns.add(conn) {
			conn.Close()
			return
		}
		c.wg.Add(1)
		go c.handle(conn)
	}
}

// dial connects to the tunnel server for one local connection or UDP
// session, tracks the connection and turns its keepalive on. It returns nil
// when the client is closing or the server cannot be reached (logged).
func (c *Client) dial() net.Conn {
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.ConnectTimeout)
	remote, err := c.d.Connect(ctx, c.cfg.Key.PublicKey)
	cancel()
	if err != nil {
		if c.ctx.Err() == nil {
			c.log.Warn("cannot connect to the tunnel server", "err", err)
		}
		return nil
	}
	if !c.conns.add(remote) {
		remote.Close()
		return nil
	}
	keepAlive(remote)
	return remote
}

func (c *Client) handle(local net.Conn) {
	defer c.wg.Done()
	defer c.conns.remove(local)
	defer local.Close()
	from := local.RemoteAddr().String()
	c.log.Debug("local connection", "from", from)
	remote := c.dial()
	if remote == nil {
		return
	}
	defer c.conns.remove(remote)
	c.log.Info("connected", "from", from, "to", remote.RemoteAddr())
	if err := Pipe(local, remote); err != nil && c.ctx.Err() == nil {
		c.log.Debug("connection ended with an error", "from", from, "err", err)
	}
}
