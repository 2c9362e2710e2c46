package secretstream

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/nacl/secretbox"
)

// DatagramConn is a connection that also carries unordered, unreliable
// messages beside its byte stream, as a UDX stream does (udx.Stream has
// both methods). Datagrams need the connection under a Conn to be one.
type DatagramConn interface {
	// SendMessage sends b as one message.
	SendMessage(b []byte) error
	// ReadMessage waits for the next message.
	ReadMessage(ctx context.Context) ([]byte, error)
}

// Datagram errors.
var (
	// ErrNoDatagrams is returned when the connection beneath does not
	// carry messages (it is no DatagramConn).
	ErrNoDatagrams = errors.New("secretstream: the underlying connection carries no datagrams")
	// ErrNonceExhausted is returned once 2^64 datagrams were sent; the
	// connection is closed then, as in JS.
	ErrNonceExhausted = errors.New("secretstream: datagram nonces exhausted")
	// ErrDatagramFormat reports a datagram too short to hold the counter
	// and MAC, or one that does not authenticate.
	ErrDatagramFormat = errors.New("secretstream: invalid datagram")
)

// DatagramOverhead is what a datagram adds to its plaintext: an 8-byte
// counter and secretbox's 16-byte MAC.
const DatagramOverhead = 8 + secretbox.Overhead

// datagramState is the key material of the unordered message path of
// @hyperswarm/secret-stream: one XSalsa20-Poly1305 secretbox key per
// direction, derived from the handshake hash, and a 64-bit counter that
// starts at a random value and forms the first 8 bytes of each nonce.
type datagramState struct {
	mu      sync.Mutex
	send    [32]byte
	recv    [32]byte
	counter uint64
	initial uint64
}

var nsSend = namespaceAt(2)

func namespaceAt(i byte) [32]byte {
	name := blake2b.Sum256([]byte("hyperswarm/secret-stream"))
	return blake2b.Sum256(append(name[:], i))
}

// datagramKey is BLAKE2b-256, keyed with the handshake hash, of the role's
// namespace followed by the send namespace.
func datagramKey(hash []byte, initiator bool) [32]byte {
	ns := nsResponder
	if initiator {
		ns = nsInitiator
	}
	key := hash
	if len(key) > blake2b.Size {
		key = key[:blake2b.Size]
	}
	h, err := blake2b.New256(key)
	if err != nil {
		panic("secretstream: blake2b: " + err.Error())
	}
	h.Write(ns[:])
	h.Write(nsSend[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

func newDatagramState(hash []byte, initiator bool) *datagramState {
	s := &datagramState{
		send: datagramKey(hash, initiator),
		recv: datagramKey(hash, !initiator),
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("secretstream: crypto/rand: " + err.Error())
	}
	s.initial = binary.LittleEndian.Uint64(b[:])
	s.counter = s.initial
	return s
}

// seal boxes p: the incremented counter (little-endian, as libsodium's
// sodium_increment counts), then secretbox of p under the nonce made of
// the counter padded with zeros.
func (s *datagramState) seal(p []byte) ([]byte, error) {
	s.mu.Lock()
	s.counter++
	if s.counter == s.initial {
		s.mu.Unlock()
		return nil, ErrNonceExhausted
	}
	c := s.counter
	s.mu.Unlock()
	var nonce [24]byte
	binary.LittleEndian.PutUint64(nonce[:8], c)
	out := make([]byte, 8, DatagramOverhead+len(p))
	copy(out, nonce[:8])
	return secretbox.Seal(out, p, &nonce, &s.send), nil
}

// OpenDatagram opens a datagram sealed under key: the 8-byte counter,
// then the secretbox. It never panics on malformed input.
func OpenDatagram(key *[32]byte, b []byte) ([]byte, error) {
	// The JS module drops anything shorter than a nonce (24 bytes),
	// which a datagram with an empty plaintext (24 bytes) just passes.
	if len(b) < DatagramOverhead {
		return nil, ErrDatagramFormat
	}
	var nonce [24]byte
	copy(nonce[:8], b[:8])
	out, ok := secretbox.Open(nil, b[8:], &nonce, key)
	if !ok {
		return nil, ErrDatagramFormat
	}
	if out == nil {
		out = []byte{}
	}
	return out, nil
}

func (c *Conn) datagrams() (*datagramState, DatagramConn, error) {
	dc, ok := c.raw.(DatagramConn)
	if !ok {
		return nil, nil, ErrNoDatagrams
	}
	if !c.hsDone.Load() || c.hsErr != nil {
		return nil, nil, fmt.Errorf("secretstream: datagram before the handshake: %w", ErrHandshake)
	}
	c.dgOnce.Do(func() { c.dg = newDatagramState(c.hash[:], c.initiator) })
	return c.dg, dc, nil
}

// SendDatagram sends p as one encrypted, unordered and unreliable message
// beside the stream (secret-stream's send/trySend): it needs the
// connection beneath to be a DatagramConn, such as a UDX stream, and a
// finished handshake. p must fit one UDP packet with DatagramOverhead and
// UDX's header. Lost or reordered datagrams are not noticed.
func (c *Conn) SendDatagram(p []byte) error {
	s, dc, err := c.datagrams()
	if err != nil {
		return err
	}
	b, err := s.seal(p)
	if err != nil {
		return c.fatal(err)
	}
	return dc.SendMessage(b)
}

// ReadDatagram waits for the next datagram the peer sent with
// SendDatagram (or secret-stream's send). Datagrams that do not
// authenticate are dropped silently, as in JS.
func (c *Conn) ReadDatagram(ctx context.Context) ([]byte, error) {
	s, dc, err := c.datagrams()
	if err != nil {
		return nil, err
	}
	for {
		b, err := dc.ReadMessage(ctx)
		if err != nil {
			return nil, err
		}
		if p, err := OpenDatagram(&s.recv, b); err == nil {
			return p, nil
		}
		c.log.Debug("secretstream: dropped a datagram that does not open", "len", len(b))
	}
}
