package tunnel

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/keyid"
)

// ErrNotAdmitted is the firewall's answer to a client without the private
// key pair.
var ErrNotAdmitted = errors.New("tunnel: client key not admitted (private tunnel)")

// ErrClosed is returned by a closed Server or Client.
var ErrClosed = errors.New("tunnel: closed")

// ServerConfig configures Serve. Only Port is required.
type ServerConfig struct {
	// Host and Port are the local service exposed; Host "" means
	// 127.0.0.1 (holesail's default).
	Host string
	Port int
	// UDP exposes a UDP service instead of a TCP one, as holesail --udp:
	// the host record says "udp":true, and every DHT connection is a UDP
	// session with its own socket to the service, carrying datagrams as
	// frames (see MaxDatagram).
	UDP bool
	// IdleTimeout ends a UDP session after this long without a datagram
	// either way; 0 means DefaultUDPIdleTimeout, negative never.
	IdleTimeout time.Duration
	// Seed is the 32-byte seed of the server's key pair; nil means a random
	// one. Use SeedFromSecret for a holesail --key secret.
	Seed []byte
	// Private admits only clients identifying with the server's own key
	// pair, so the connection key is the seed; otherwise anyone holding the
	// public key may connect.
	Private bool
	// RefreshInterval is how often the host record is put again; 0 means
	// 50 minutes, as holesail-server.
	RefreshInterval time.Duration
	// DialTimeout bounds each connection to the local service; 0 means 30 s.
	DialTimeout time.Duration
	// Logger receives the server's logs; nil is silent.
	Logger *slog.Logger
}

// Server exposes a local TCP or UDP service to clients connecting by key
// through a HyperDHT node, as holesail-server does: every incoming
// connection is piped to a new TCP connection to the service, or in UDP
// mode relays datagrams through a new UDP socket to it.
type Server struct {
	d      *hyperdht.DHT
	cfg    ServerConfig
	kp     crypto.KeyPair
	seed   []byte
	srv    *hyperdht.Server
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	conns connSet
}

// Serve starts a server on d: it listens on the key pair (announcing it),
// puts the host record under its public key and accepts connections until
// Close. ctx bounds only the start-up.
func Serve(ctx context.Context, d *hyperdht.DHT, cfg ServerConfig) (*Server, error) {
	if cfg.Port <= 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("tunnel: invalid service port %d", cfg.Port)
	}
	if cfg.Host == "" {
		cfg.Host = "127.0.0.1"
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = 50 * time.Minute
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 30 * time.Second
	}
	seed := cfg.Seed
	if seed == nil {
		seed = make([]byte, 32)
		if _, err := rand.Read(seed); err != nil {
			return nil, err
		}
	}
	kp, err := crypto.KeyPairFromSeed(seed)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{d: d, cfg: cfg, kp: kp, seed: append([]byte(nil), seed...), log: log}
	var fw hyperdht.Firewall
	if cfg.Private {
		fw = func(remote ed25519.PublicKey, _ *hyperdht.NoisePayload) error {
			if !bytes.Equal(remote, kp.PublicKey) {
				return ErrNotAdmitted
			}
			return nil
		}
	}
	s.srv, err = d.Listen(ctx, kp, fw)
	if err != nil {
		return nil, err
	}
	value := Record{Host: cfg.Host, Port: cfg.Port, UDP: cfg.UDP}.Encode()
	seq, err := PutRecord(ctx, d, kp, value)
	if err != nil {
		s.srv.Close()
		return nil, fmt.Errorf("tunnel: putting the host record: %w", err)
	}
	log.Debug("host record put", "value", string(value), "seq", seq)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(2)
	go s.acceptLoop()
	go s.refreshLoop(value)
	return s, nil
}

// PublicKey is the server's public key.
func (s *Server) PublicKey() ed25519.PublicKey { return s.kp.PublicKey }

// Private reports whether the server admits only its own key pair.
func (s *Server) Private() bool { return s.cfg.Private }

// Key is the connection key clients need, in z-base-32: the seed for a
// private server (as holesail-server's key), the public key otherwise.
func (s *Server) Key() string {
	if s.cfg.Private {
		return keyid.ZBase32Encode(s.seed)
	}
	return keyid.ZBase32Encode(s.kp.PublicKey)
}

// UDP reports whether the server exposes a UDP service.
func (s *Server) UDP() bool { return s.cfg.UDP }

// Target is the local service's address.
func (s *Server) Target() string {
	return net.JoinHostPort(s.cfg.Host, strconv.Itoa(s.cfg.Port))
}

// Close stops accepting, unannounces the key, closes every tunnelled
// connection and waits for the server's goroutines.
func (s *Server) Close() error {
	if !s.conns.closeAll() {
		return nil
	}
	s.cancel()
	err := s.srv.Close()
	s.wg.Wait()
	return err
}

func (s *Server) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.srv.Accept(s.ctx)
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Warn("accept failed", "err", err)
			}
			return
		}
		if !s.conns.add(c) {
			c.Close()
			return
		}
		s.wg.Add(1)
		go s.handle(c)
	}
}

func (s *Server) handle(remote net.Conn) {
	defer s.wg.Done()
	defer s.conns.remove(remote)
	defer remote.Close()
	peer := remote.RemoteAddr().String()
	if pk, ok := remote.(interface{ RemotePublicKey() ed25519.PublicKey }); ok {
		peer = keyid.ZBase32Encode(pk.RemotePublicKey())
	}
	s.log.Info("incoming connection", "from", peer)
	keepAlive(remote)
	network := "tcp"
	if s.cfg.UDP {
		network = "udp"
	}
	dctx, cancel := context.WithTimeout(s.ctx, s.cfg.DialTimeout)
	var dialer net.Dialer
	local, err := dialer.DialContext(dctx, network, s.Target())
	cancel()
	if err != nil {
		s.log.Warn("cannot reach the local service", "target", s.Target(), "err", err)
		return
	}
	if !s.conns.add(local) {
		local.Close()
		return
	}
	defer s.conns.remove(local)
	if s.cfg.UDP {
		// The socket is connected to the service, so only its datagrams
		// come back (holesail's socket takes any sender's).
		err = relayDatagrams(remote, local, idleTimeout(s.cfg.IdleTimeout))
	} else {
		err = Pipe(remote, local)
	}
	if err != nil && s.ctx.Err() == nil {
		s.log.Debug("connection ended with an error", "from", peer, "err", err)
	}
	s.log.Info("connection closed", "from", peer)
}

func (s *Server) refreshLoop(value []byte) {
	defer s.wg.Done()
	t := time.NewTicker(s.cfg.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.ctx, time.Minute)
		seq, err := PutRecord(ctx, s.d, s.kp, value)
		cancel()
		if err != nil {
			if s.ctx.Err() == nil {
				s.log.Warn("refreshing the host record failed", "err", err)
			}
			continue
		}
		s.log.Debug("host record refreshed", "seq", seq)
	}
}
