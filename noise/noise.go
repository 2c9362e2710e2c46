// Package noise implements the Noise XX and IK handshakes the way the
// JavaScript modules noise-handshake and noise-curve-ed do, byte for byte:
// Diffie-Hellman on Ed25519 keys, ChaCha20-Poly1305 (IETF) and BLAKE2b-512
// (protocol names "Noise_XX_Ed25519_ChaChaPoly_BLAKE2b" and
// "Noise_IK_Ed25519_ChaChaPoly_BLAKE2b").
//
// A Handshake is driven by alternating WriteMessage and ReadMessage calls;
// once Complete, Result gives the transport keys and the handshake hash.
// It does no I/O itself and is not safe for concurrent use.
package noise

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
)

// Pattern selects the handshake pattern.
type Pattern uint8

// The supported handshake patterns.
const (
	// XX: both sides send their static keys during the handshake
	// (three messages). Used by secret-stream.
	XX Pattern = iota + 1
	// IK: the initiator knows the responder's static key in advance
	// (two messages). Used by hyperdht's peer handshake.
	IK
)

// String returns the pattern's Noise name.
func (p Pattern) String() string {
	switch p {
	case XX:
		return "XX"
	case IK:
		return "IK"
	}
	return fmt.Sprintf("Pattern(%d)", uint8(p))
}

// Errors returned by the handshake. They are matched with errors.Is.
var (
	// ErrConfig reports an unusable Config passed to New.
	ErrConfig = errors.New("noise: invalid config")
	// ErrState reports a call out of order: writing when the peer's
	// message is expected, reading when ours is due, any message call
	// after completion or after a failure, or Result before completion.
	ErrState = errors.New("noise: handshake in wrong state")
	// ErrBadMessage reports a peer message of the wrong length.
	ErrBadMessage = errors.New("noise: malformed handshake message")
	// ErrDecrypt reports a ciphertext that failed authentication.
	ErrDecrypt = errors.New("noise: decryption failed")
	// ErrBadKey reports a peer public key that is not a usable Ed25519
	// point (non-canonical, small order or outside the prime-order
	// subgroup), which the JS implementation rejects as well.
	ErrBadKey = errors.New("noise: invalid public key")
	// ErrPayloadTooLarge reports a payload whose ciphertext would exceed
	// the 65535-byte Noise limit.
	ErrPayloadTooLarge = errors.New("noise: payload too large")
)

// MaxPayload is the largest payload WriteMessage accepts once a cipher key
// exists (every message except the first of XX, whose payload is sent in
// the clear and has no limit).
const MaxPayload = maxCiphertext - macLen

// Config describes one side of a handshake. Zero values are defaults.
type Config struct {
	// Pattern is XX or IK; the zero value means XX.
	Pattern Pattern
	// Initiator is true for the side that sends the first message.
	Initiator bool
	// StaticKey is this side's long-term 64-byte Ed25519 private key
	// (seed || public key, as crypto/ed25519 and libsodium lay it out);
	// the public half must match the seed. Required.
	StaticKey ed25519.PrivateKey
	// RemoteStatic is the responder's public key, required for the IK
	// initiator and ignored otherwise.
	RemoteStatic ed25519.PublicKey
	// Prologue is mixed into the handshake hash; both sides must agree.
	Prologue []byte
	// Ephemeral fixes the ephemeral key pair instead of generating a
	// fresh one. For deterministic test vectors only: reusing an
	// ephemeral key breaks the security of the handshake.
	Ephemeral ed25519.PrivateKey
}

// Result is what a completed handshake yields.
type Result struct {
	// Tx is the key for messages this side sends, Rx for those it
	// receives; one side's Tx is the other's Rx.
	Tx, Rx [32]byte
	// Hash is the final 64-byte handshake hash, equal on both sides.
	Hash [64]byte
	// RemoteStatic is the peer's static public key.
	RemoteStatic ed25519.PublicKey
}

type token uint8

const (
	tokE token = iota + 1
	tokS
	tokEE
	tokES
	tokSE
	tokSS
)

var (
	xxMessages = [][]token{{tokE}, {tokE, tokEE, tokS, tokES}, {tokS, tokSE}}
	ikMessages = [][]token{{tokE, tokES, tokS, tokSS}, {tokE, tokEE, tokSE}}
)

type phase uint8

const (
	running phase = iota
	complete
	failed
)

// Handshake is one side of a Noise handshake in progress.
type Handshake struct {
	ss        symmetricState
	initiator bool
	messages  [][]token
	step      int
	phase     phase

	s      keyPair
	e      keyPair
	hasE   bool
	fixedE ed25519.PrivateKey
	re, rs remoteKey

	result Result
}

// New starts a handshake described by cfg.
func New(cfg Config) (*Handshake, error) {
	h := &Handshake{initiator: cfg.Initiator}
	var name string
	switch cfg.Pattern {
	case XX, 0:
		h.messages, name = xxMessages, "Noise_XX_Ed25519_ChaChaPoly_BLAKE2b"
	case IK:
		h.messages, name = ikMessages, "Noise_IK_Ed25519_ChaChaPoly_BLAKE2b"
	default:
		return nil, fmt.Errorf("%w: unknown pattern %v", ErrConfig, cfg.Pattern)
	}
	if !h.s.setPrivate(cfg.StaticKey) {
		return nil, fmt.Errorf("%w: static key must be a 64-byte Ed25519 private key", ErrConfig)
	}
	if cfg.Ephemeral != nil {
		var probe keyPair
		if !probe.setPrivate(cfg.Ephemeral) {
			return nil, fmt.Errorf("%w: ephemeral key must be a 64-byte Ed25519 private key", ErrConfig)
		}
		probe.wipe()
		h.fixedE = cfg.Ephemeral
	}

	h.ss.init(name)
	h.ss.mixHash(cfg.Prologue)
	if cfg.Pattern == IK {
		// The responder's static key is pre-shared: both sides hash it.
		if h.initiator {
			if !h.rs.setBytes(cfg.RemoteStatic) {
				return nil, fmt.Errorf("%w: IK initiator needs a valid RemoteStatic key", ErrConfig)
			}
			h.ss.mixHash(h.rs.raw[:])
		} else {
			h.ss.mixHash(h.s.pub[:])
		}
	}
	return h, nil
}

// Complete reports whether the handshake has finished successfully.
func (h *Handshake) Complete() bool { return h.phase == complete }

// Initiator reports whether this side sends the first message.
func (h *Handshake) Initiator() bool { return h.initiator }

// RemoteStatic returns the peer's static public key once it is known (from
// the start for the IK initiator, after the message carrying it
// otherwise), or nil.
func (h *Handshake) RemoteStatic() ed25519.PublicKey {
	if !h.rs.set {
		return nil
	}
	return ed25519.PublicKey(append([]byte(nil), h.rs.raw[:]...))
}

// Result returns the transport keys and handshake hash of a completed
// handshake, or ErrState before completion.
func (h *Handshake) Result() (Result, error) {
	if h.phase != complete {
		return Result{}, ErrState
	}
	r := h.result
	r.RemoteStatic = append(ed25519.PublicKey(nil), h.result.RemoteStatic...)
	return r, nil
}

// ourTurn reports whether the next message is ours to write.
func (h *Handshake) ourTurn() bool { return (h.step%2 == 0) == h.initiator }

// WriteMessage returns the next handshake message, carrying payload. The
// payload is encrypted once a key exists (it is in the clear in the first
// XX message, as in noise-handshake).
func (h *Handshake) WriteMessage(payload []byte) ([]byte, error) {
	if h.phase != running || !h.ourTurn() {
		return nil, ErrState
	}
	tokens := h.messages[h.step]
	size, keyed := len(payload), h.ss.hasKey
	for _, t := range tokens {
		switch t {
		case tokE:
			size += pubLen
		case tokS:
			size += pubLen
			if keyed {
				size += macLen
			}
		default:
			keyed = true
		}
	}
	if keyed {
		if len(payload) > MaxPayload {
			return nil, ErrPayloadTooLarge
		}
		size += macLen
	}

	msg := make([]byte, 0, size)
	for _, t := range tokens {
		switch t {
		case tokE:
			if err := h.makeEphemeral(); err != nil {
				return nil, h.fail(err)
			}
			h.ss.mixHash(h.e.pub[:])
			msg = append(msg, h.e.pub[:]...)
		case tokS:
			msg = h.ss.encryptAndHash(msg, h.s.pub[:])
		default:
			if err := h.mixDH(t); err != nil {
				return nil, h.fail(err)
			}
		}
	}
	msg = h.ss.encryptAndHash(msg, payload)
	h.advance()
	return msg, nil
}

// ReadMessage consumes the peer's next handshake message and returns its
// payload. Any error leaves the handshake failed: later calls return
// ErrState.
func (h *Handshake) ReadMessage(msg []byte) ([]byte, error) {
	if h.phase != running || h.ourTurn() {
		return nil, ErrState
	}
	for _, t := range h.messages[h.step] {
		switch t {
		case tokE:
			if len(msg) < pubLen {
				return nil, h.fail(ErrBadMessage)
			}
			if !h.re.setBytes(msg[:pubLen]) {
				return nil, h.fail(ErrBadKey)
			}
			h.ss.mixHash(msg[:pubLen])
			msg = msg[pubLen:]
		case tokS:
			n := pubLen
			if h.ss.hasKey {
				n += macLen
			}
			if len(msg) < n {
				return nil, h.fail(ErrBadMessage)
			}
			pub, err := h.ss.decryptAndHash(msg[:n])
			if err != nil {
				return nil, h.fail(err)
			}
			if !h.rs.setBytes(pub) {
				return nil, h.fail(ErrBadKey)
			}
			msg = msg[n:]
		default:
			if err := h.mixDH(t); err != nil {
				return nil, h.fail(err)
			}
		}
	}
	payload, err := h.ss.decryptAndHash(msg)
	if err != nil {
		return nil, h.fail(err)
	}
	h.advance()
	return payload, nil
}

func (h *Handshake) makeEphemeral() error {
	if h.hasE {
		return nil
	}
	if h.fixedE != nil {
		if !h.e.setPrivate(h.fixedE) {
			return ErrConfig
		}
	} else {
		var seed [ed25519.SeedSize]byte
		if _, err := rand.Read(seed[:]); err != nil {
			return err
		}
		h.e.setSeed(seed[:])
		clear(seed[:])
	}
	h.hasE = true
	return nil
}

// mixDH performs the DH a token names from this side's point of view and
// mixes the result into the chaining key.
func (h *Handshake) mixDH(t token) error {
	var local *keyPair
	var remote *remoteKey
	switch t {
	case tokEE:
		local, remote = &h.e, &h.re
	case tokSS:
		local, remote = &h.s, &h.rs
	case tokES: // initiator's ephemeral with responder's static
		if h.initiator {
			local, remote = &h.e, &h.rs
		} else {
			local, remote = &h.s, &h.re
		}
	case tokSE: // initiator's static with responder's ephemeral
		if h.initiator {
			local, remote = &h.s, &h.re
		} else {
			local, remote = &h.e, &h.rs
		}
	}
	shared, ok := dh(local, remote)
	if !ok {
		return ErrBadKey
	}
	h.ss.mixKey(shared[:])
	clear(shared[:])
	return nil
}

// advance moves past a finished message and completes the handshake after
// the last one.
func (h *Handshake) advance() {
	h.step++
	if h.step < len(h.messages) {
		return
	}
	k1, k2 := h.ss.split()
	if h.initiator {
		h.result.Tx, h.result.Rx = k1, k2
	} else {
		h.result.Tx, h.result.Rx = k2, k1
	}
	h.result.Hash = h.ss.h
	h.result.RemoteStatic = append(ed25519.PublicKey(nil), h.rs.raw[:]...)
	h.phase = complete
	h.wipe()
}

func (h *Handshake) fail(err error) error {
	h.phase = failed
	h.wipe()
	return err
}

func (h *Handshake) wipe() {
	h.ss.wipe()
	h.e.wipe()
	h.s.wipe()
	h.fixedE = nil
}
