package hyperdht

import (
	"context"
	"crypto/ed25519"
	"errors"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"time"

	"github.com/warrenp2p/warren/blindrelay"
	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/protomux"
	"github.com/warrenp2p/warren/secretstream"
	"github.com/warrenp2p/warren/udx"
)

// Relay errors.
var (
	// ErrRelayFailed reports that the blind relay could not be reached or
	// did not pair the peers in time; the underlying error is joined.
	ErrRelayFailed = errors.New("hyperdht: pairing through the blind relay failed")
	// ErrHolepunchDeclined is returned when ConnectOptions.Holepunch
	// declined to punch and no blind relay was named.
	ErrHolepunchDeclined = errors.New("hyperdht: hole punching declined")

	errRelayLost = errors.New("hyperdht: the connection was made another way first")
)

// relayWait bounds a pairing through a blind relay (hyperdht gives up
// after 15 s).
const relayWait = 20 * time.Second

// relayKeepAlive is how often an idle connection to a blind relay sends a
// heartbeat, as hyperdht's relayKeepAlive default.
const relayKeepAlive = 5 * time.Second

// ConnectOptions tune one ConnectWith. The zero value is Connect.
type ConnectOptions struct {
	// RelayThrough picks the blind relay (by public key) to pair through
	// when the peers cannot reach each other without hole punching; it may
	// return nil for none. Nil means Config.RelayThrough. The server may
	// name its own relay instead, which then wins.
	RelayThrough func() ed25519.PublicKey
	// NoLocalConnection skips the shortcuts for peers on one host or
	// behind one NAT (hyperdht's localConnection: false).
	NoLocalConnection bool
	// Holepunch, if set, decides after the probe round whether to punch,
	// given both sides' firewall types (FirewallOpen, ...), as hyperdht's
	// holepunch option: false gives up (falling back on a blind relay if
	// one is named, else failing with ErrHolepunchDeclined).
	Holepunch func(remoteFirewall, localFirewall uint64) bool
	// RelayAddresses are DHT nodes to send the handshake through before
	// looking the server up (hyperdht's relayAddresses); nil means the
	// nodes that led to this server last time, if any.
	RelayAddresses []netip.AddrPort
	// NoFastOpen leaves our address to the server out of the probe round,
	// so the server does not punch toward it at once (hyperdht's
	// fastOpen: false).
	NoFastOpen bool
}

// ListenOptions tune one ListenWith. The zero value is Listen with a nil
// firewall.
type ListenOptions struct {
	// Firewall decides about incoming connections; nil accepts all.
	Firewall Firewall
	// RelayThrough picks the blind relay to pair through with clients
	// that cannot reach this server without hole punching; nil means
	// Config.RelayThrough. A client's own relay is used when this is nil.
	RelayThrough func() ed25519.PublicKey
	// NoLocalConnection skips the direct path to clients on this host.
	NoLocalConnection bool
}

// RelayKeys returns a RelayThrough function that picks one of keys at
// random for each connection, as hyperdht does with an array of relays.
func RelayKeys(keys ...ed25519.PublicKey) func() ed25519.PublicKey {
	keys = slices.Clone(keys)
	return func() ed25519.PublicKey {
		if len(keys) == 0 {
			return nil
		}
		return keys[mrand.IntN(len(keys))]
	}
}

// relayPlan is the blind relay a connection pairs through.
type relayPlan struct {
	publicKey ed25519.PublicKey
	token     [32]byte
	initiator bool
}

// pickRelay calls f (or def when f is nil) and checks the key.
func pickRelay(f, def func() ed25519.PublicKey) ed25519.PublicKey {
	if f == nil {
		f = def
	}
	if f == nil {
		return nil
	}
	pk := f()
	if len(pk) != ed25519.PublicKeySize {
		return nil
	}
	return pk
}

// plan decides the pairing from our own relay choice and the peer's
// RelayThrough info, as hyperdht does: the server's relay wins and its
// side is the initiator; a side that only follows the peer's relay is
// the responder. ours is the side we asked for (with our token).
func plan(isServer bool, ours *relayPlan, theirs *RelayThroughInfo) *relayPlan {
	if isServer && ours != nil {
		return ours
	}
	if theirs != nil {
		return &relayPlan{publicKey: append(ed25519.PublicKey(nil), theirs.PublicKey[:]...), token: theirs.Token, initiator: false}
	}
	return ours
}

func newRelayPlan(pk ed25519.PublicKey) *relayPlan {
	if pk == nil {
		return nil
	}
	return &relayPlan{publicKey: pk, token: blindrelay.NewToken(), initiator: true}
}

func (p *relayPlan) info() *RelayThroughInfo {
	if p == nil {
		return nil
	}
	r := &RelayThroughInfo{Version: 1, Token: p.token}
	copy(r.PublicKey[:], p.publicKey)
	return r
}

// pairThroughRelay connects to the relay, asks it to pair rs's stream under
// the plan's token and connects rs to the relay's stream. The connection to
// the relay lives until rs's stream closes. It returns errRelayLost if rs
// was connected another way meanwhile.
func (d *DHT) pairThroughRelay(ctx context.Context, rs *rawStream, p *relayPlan) error {
	ctx, cancel := context.WithTimeout(ctx, relayWait)
	defer cancel()
	conn, err := d.Connect(ctx, p.publicKey)
	if err != nil {
		return errors.Join(ErrRelayFailed, err)
	}
	sc, ok := conn.(*secretstream.Conn)
	var st *udx.Stream
	if ok {
		st, ok = sc.NetConn().(*udx.Stream)
	}
	if !ok {
		conn.Close()
		return ErrRelayFailed
	}
	// Heartbeats keep the NAT mapping to the relay open while the
	// relayed stream idles (hyperdht's relayKeepAlive).
	st.SetKeepAlive(relayKeepAlive)
	// The relay opens its channel at once: the mux reads only once ours
	// exists, or it would reject the relay's open.
	mux := protomux.New(sc, &protomux.Config{DeferStart: true})
	closeAll := func() {
		mux.Close()
		conn.Close()
	}
	cl, err := blindrelay.NewClient(mux, d.kp.PublicKey)
	if err != nil {
		closeAll()
		return errors.Join(ErrRelayFailed, err)
	}
	mux.Start()
	rs.setRelay(st.Socket(), st.RemoteAddrPort())
	id, err := cl.Pair(ctx, p.initiator, p.token, rs.stream.ID())
	if err != nil {
		closeAll()
		if rs.isDone() {
			return errRelayLost
		}
		return errors.Join(ErrRelayFailed, err)
	}
	if !rs.connectTo(st.Socket(), id, st.RemoteAddrPort()) {
		_ = cl.Unpair(p.token)
		closeAll()
		return errRelayLost
	}
	d.log.Debug("hyperdht: paired through blind relay", "relay", st.RemoteAddrPort(), "initiator", p.initiator)
	if !d.goOwned(func() {
		select {
		case <-rs.stream.Closed():
		case <-mux.Done():
			// The relay went away: so did the path.
			rs.stream.Destroy()
		case <-d.ctx.Done():
		}
		closeAll()
	}) {
		closeAll()
		return ErrClosed
	}
	return nil
}

// ServeBlindRelay makes this node a blind relay: it listens on kp (so
// peers name kp's public key as their relayThrough) and serves the
// blind-relay protocol on every connection, as blind-relay's Server on a
// hyperdht server does. The relay ends when the returned server closes
// (or the DHT does).
func (d *DHT) ServeBlindRelay(ctx context.Context, kp crypto.KeyPair) (*Server, error) {
	relay := blindrelay.NewServer(blindrelay.ServerConfig{NewStream: d.newStream, Logger: d.log})
	s, err := d.Listen(ctx, kp, nil)
	if err != nil {
		relay.Close()
		return nil, err
	}
	if !d.goOwned(func() {
		defer relay.Close()
		for {
			c, err := s.Accept(s.ctx)
			if err != nil {
				return
			}
			d.serveRelayConn(s, relay, c)
		}
	}) {
		s.Close()
		relay.Close()
		return nil, ErrClosed
	}
	return s, nil
}

func (d *DHT) serveRelayConn(s *Server, relay *blindrelay.Server, c net.Conn) {
	sc, ok := c.(*secretstream.Conn)
	if !ok {
		c.Close()
		return
	}
	mux := protomux.New(sc, &protomux.Config{DeferStart: true})
	if _, err := relay.Accept(mux, sc.RemotePublicKey()); err != nil {
		mux.Close()
		c.Close()
		return
	}
	mux.Start()
	if !d.goOwned(func() {
		select {
		case <-mux.Done():
		case <-s.ctx.Done():
		}
		mux.Close()
		c.Close()
	}) {
		mux.Close()
		c.Close()
	}
}
