package hyperdht

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/udx"
)

// Errors of the DHT and its connections.
var (
	ErrClosed                = errors.New("hyperdht: closed")
	ErrPeerNotFound          = errors.New("hyperdht: peer not found")
	ErrConnectFailed         = errors.New("hyperdht: could not connect to peer")
	ErrServerError           = errors.New("hyperdht: server answered with an error")
	ErrIncompatible          = errors.New("hyperdht: server speaks another version")
	ErrCannotHolepunch       = errors.New("hyperdht: cannot punch a hole to the peer")
	ErrAlreadyListening      = errors.New("hyperdht: key pair already listening")
	ErrNoUDX                 = errors.New("hyperdht: node is not on UDX sockets")
	ErrHolepunchInvalid      = errors.New("hyperdht: invalid holepunch reply")
	ErrDoubleRandomNAT       = errors.New("hyperdht: both peers are behind random NATs (needs a relay)")
	ErrTryLater              = errors.New("hyperdht: a random-NAT punch ran recently, try later")
	ErrRemoteAborted         = errors.New("hyperdht: remote aborted hole punching")
	ErrRemoteNotPunching     = errors.New("hyperdht: remote is not punching")
	ErrHolepunchProbeTimeout = errors.New("hyperdht: hole punching probe found no NAT type")
	// ErrRejected is a connection the server refused. A Firewall returns
	// it (or an error wrapping it) to answer the client at once; Connect
	// returns a ServerError matching it when the server answered so.
	ErrRejected = errors.New("hyperdht: connection rejected by the server")
)

// ServerError is the error code a server answered a handshake with
// (ErrCode...). It matches ErrServerError, and ErrRejected for
// ErrCodeAborted, the code servers refuse connections with.
type ServerError struct {
	Code uint64
}

func (e *ServerError) Error() string {
	switch e.Code {
	case ErrCodeAborted:
		return "hyperdht: server aborted the connection (code 1, rejected)"
	case ErrCodeVersionMismatch:
		return "hyperdht: server answered with a version mismatch (code 2)"
	case ErrCodeTryLater:
		return "hyperdht: server asked to try later (code 3)"
	}
	return fmt.Sprintf("hyperdht: server answered with error code %d", e.Code)
}

// Is matches ErrServerError, and ErrRejected for ErrCodeAborted.
func (e *ServerError) Is(target error) bool {
	return target == ErrServerError || (target == ErrRejected && e.Code == ErrCodeAborted)
}

// Config configures a DHT. The zero value is a firewalled, adaptive node on a
// random port with no bootstrap nodes (hyperdht's public bootstrap nodes are
// not the default here: pass them in DHT.Bootstrap).
type Config struct {
	// DHT configures the underlying dht-rpc node.
	DHT dht.Config
	// MaxSize bounds each record store (announces, routes, mutables,
	// immutables); 0 means 65536 as in hyperdht.
	MaxSize int
	// MaxAge is how long announce records and routes live; 0 means 20 min.
	MaxAge time.Duration
	// Listen opens the extra UDX sockets hole punching uses, on the DHT's
	// UDX instance; nil means that instance's Listen. Tests running nodes in
	// network namespaces open them there.
	Listen func(u *udx.UDX, network, address string) (*udx.Socket, error)
	// KeyPair is the key pair Connect identifies with; nil means a fresh
	// random one.
	KeyPair *crypto.KeyPair
	// Logger receives debug logs; nil is silent.
	Logger *slog.Logger
	// RelayThrough picks the blind relay (by public key) that Connect
	// and Listen pair through with peers they cannot reach without hole
	// punching, as hyperdht's relayThrough; it may return nil for none.
	// Nil means no relay of our own (a peer may still name one).
	RelayThrough func() ed25519.PublicKey
	// BlindRelay makes the node a blind relay for others under KeyPair's
	// public key once it has bootstrapped (see ServeBlindRelay); the node
	// then listens on that key itself, so do not Listen on it too.
	BlindRelay bool
	// KeepAlive is how long a connection from Connect or Accept may stay
	// idle before it sends an empty keepalive frame, so NAT mappings and
	// the peer's idle timers stay fresh, as hyperdht's
	// connectionKeepAlive. 0 means 5 s (hyperdht's default); negative
	// sends none.
	KeepAlive time.Duration
}

// DefaultKeepAlive is the keepalive interval of connections when
// Config.KeepAlive is 0.
const DefaultKeepAlive = 5 * time.Second

// DHT is a HyperDHT node: a dht.Node that stores records, relays
// handshakes, and runs servers and clients.
type DHT struct {
	node *dht.Node
	udx  *udx.UDX
	kp   crypto.KeyPair
	lis  func(u *udx.UDX, network, address string) (*udx.Socket, error)
	log  *slog.Logger

	keepAlive time.Duration // of connections; 0 is none

	relayThrough func() ed25519.PublicKey
	relayAddrs   map[[32]byte][]netip.AddrPort // guarded by mu: nodes that led to a server

	routes     *cache[[32]byte, *route]
	records    *records
	mutables   *cache[[32]byte, []byte]
	immutables *cache[[32]byte, []byte]
	refreshes  *cache[[32]byte, refreshEntry]

	mu       sync.Mutex
	servers  map[[32]byte]*Server
	inflight int // goroutines started by goFunc and still running

	randomPunches   int       // random-NAT punches running
	lastRandomPunch time.Time // when the last one ended
	closed          bool
	ctx             context.Context
	cancel          context.CancelFunc
	wg              sync.WaitGroup
}

// route is what a node knows about a server announced to it (or running on
// it): where to relay handshakes and the record to answer FIND_PEER with.
type route struct {
	relay  netip.AddrPort
	record []byte
	server *Server
}

type refreshEntry struct {
	topic    [32]byte
	record   []byte
	announce bool // announceSelf
}

// New starts a HyperDHT node.
func New(cfg *Config) (*DHT, error) { return newDHT(cfg, dht.New) }

// NewBootstrapper starts a HyperDHT node others bootstrap from (see
// dht.NewBootstrapper): persistent from the start at host:port.
func NewBootstrapper(host string, port uint16, cfg *Config) (*DHT, error) {
	return newDHT(cfg, func(c *dht.Config) (*dht.Node, error) { return dht.NewBootstrapper(host, port, c) })
}

func newDHT(cfg *Config, mk func(*dht.Config) (*dht.Node, error)) (*DHT, error) {
	if cfg == nil {
		cfg = &Config{}
	}
	maxSize := cfg.MaxSize
	if maxSize <= 0 {
		maxSize = 65536
	}
	maxAge := cfg.MaxAge
	if maxAge <= 0 {
		maxAge = 20 * time.Minute
	}
	dcfg := cfg.DHT
	u := dcfg.UDX
	if u == nil && dcfg.Listen == nil {
		u = udx.New(nil)
		dcfg.UDX = u
	}
	var kp crypto.KeyPair
	if cfg.KeyPair != nil {
		kp = *cfg.KeyPair
	} else {
		var err error
		if kp, err = crypto.NewKeyPair(); err != nil {
			return nil, err
		}
	}
	n, err := mk(&dcfg)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &DHT{
		node:       n,
		udx:        u,
		kp:         kp,
		lis:        cfg.Listen,
		log:        log,
		routes:     newCache[[32]byte, *route](maxSize, maxAge),
		records:    newRecords(maxSize, maxAge),
		mutables:   newCache[[32]byte, []byte](maxSize/2, 48*time.Hour),
		immutables: newCache[[32]byte, []byte](maxSize/2, 48*time.Hour),
		refreshes:  newCache[[32]byte, refreshEntry](maxSize, maxAge),
		servers:    map[[32]byte]*Server{},
		ctx:        ctx,
		cancel:     cancel,

		relayThrough: cfg.RelayThrough,
		keepAlive:    max(cfg.KeepAlive, 0),
	}
	if cfg.KeepAlive == 0 {
		d.keepAlive = DefaultKeepAlive
	}
	n.Handle(CmdPeerHandshake, d.onPeerHandshake)
	n.Handle(CmdPeerHolepunch, d.onPeerHolepunch)
	n.Handle(CmdFindPeer, d.persistent(d.onFindPeer))
	n.Handle(CmdLookup, d.persistent(d.onLookup))
	n.Handle(CmdAnnounce, d.persistent(d.onAnnounce))
	n.Handle(CmdUnannounce, d.persistent(d.onUnannounce))
	n.Handle(CmdMutablePut, d.persistent(d.onMutablePut))
	n.Handle(CmdMutableGet, d.persistent(d.onMutableGet))
	n.Handle(CmdImmutablePut, d.persistent(d.onImmutablePut))
	n.Handle(CmdImmutableGet, d.persistent(d.onImmutableGet))
	if cfg.BlindRelay {
		d.goOwned(func() {
			if err := d.Bootstrapped(d.ctx); err != nil {
				return
			}
			if _, err := d.ServeBlindRelay(d.ctx, d.kp); err != nil {
				d.log.Debug("hyperdht: cannot serve as blind relay", "err", err)
			}
		})
	}
	return d, nil
}

// KeyPair is the key pair Connect identifies with.
func (d *DHT) KeyPair() crypto.KeyPair { return d.kp }

// Node is the underlying dht-rpc node.
func (d *DHT) Node() *dht.Node { return d.node }

// Bootstrapped waits until the node joined the network.
func (d *DHT) Bootstrapped(ctx context.Context) error { return d.node.Bootstrapped(ctx) }

// Close closes the servers, ends every goroutine and closes the node.
func (d *DHT) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	servers := make([]*Server, 0, len(d.servers))
	for _, s := range d.servers {
		servers = append(servers, s)
	}
	d.mu.Unlock()
	for _, s := range servers {
		s.Close()
	}
	d.cancel()
	err := d.node.Close()
	d.wg.Wait()
	return err
}

// maxInflight bounds the goroutines answering handshakes at a time; a
// flood beyond it is dropped like lost datagrams.
const maxInflight = 512

// goFunc runs f on a goroutine the DHT waits for on Close, unless the
// DHT is closed or maxInflight such goroutines run.
func (d *DHT) goFunc(f func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.inflight >= maxInflight {
		return false
	}
	d.inflight++
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		defer func() {
			d.mu.Lock()
			d.inflight--
			d.mu.Unlock()
		}()
		f()
	}()
	return true
}

// goOwned runs f on a goroutine the DHT waits for on Close, without the
// in-flight limit (its callers are bounded otherwise).
func (d *DHT) goOwned(f func()) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return false
	}
	d.wg.Add(1)
	go func() {
		defer d.wg.Done()
		f()
	}()
	return true
}

// socket is the UDX socket requests leave from (dht-rpc's dht.socket).
func (d *DHT) socket() (*udx.Socket, error) { return udxSocket(d.node.Socket()) }

func udxSocket(c dht.PacketConn) (*udx.Socket, error) {
	switch s := c.(type) {
	case dht.UDXConn:
		return s.Socket, nil
	case *dht.UDXConn:
		return s.Socket, nil
	}
	return nil, ErrNoUDX
}

// newStream makes a UDX stream with a fresh random id.
func (d *DHT) newStream(cfg *udx.StreamConfig) (*udx.Stream, error) {
	if d.udx == nil {
		return nil, ErrNoUDX
	}
	var b [4]byte
	var err error
	for range 16 {
		rand.Read(b[:])
		id := binary.LittleEndian.Uint32(b[:])
		if id == 0 {
			continue
		}
		var s *udx.Stream
		if s, err = d.udx.NewStream(id, cfg); err == nil {
			return s, nil
		}
	}
	return nil, err
}

// listen opens a socket on the DHT's UDX instance.
func (d *DHT) listen(network, address string) (*udx.Socket, error) {
	if d.udx == nil {
		return nil, ErrNoUDX
	}
	if d.lis != nil {
		return d.lis(d.udx, network, address)
	}
	return d.udx.Listen(network, address)
}

// randomPunchInterval is the least time between two random-NAT punches and
// randomPunchLimit how many run at once, as in hyperdht.
const (
	randomPunchInterval = 20 * time.Second
	randomPunchLimit    = 1
)

// randomPunchAllowed reports whether a random-NAT punch may start now.
func (d *DHT) randomPunchAllowed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.randomPunches < randomPunchLimit && (d.lastRandomPunch.IsZero() || time.Since(d.lastRandomPunch) >= randomPunchInterval)
}

func (d *DHT) randomPunchStart() {
	d.mu.Lock()
	d.randomPunches++
	d.mu.Unlock()
}

func (d *DHT) randomPunchEnd() {
	d.mu.Lock()
	d.randomPunches--
	d.lastRandomPunch = time.Now()
	d.mu.Unlock()
}

// Hash is BLAKE2b-256, the hash hyperdht derives targets with.
func Hash(b []byte) [32]byte { return crypto.Hash(b) }
