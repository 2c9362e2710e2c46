package secretstream

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"

	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/poly1305" //nolint:staticcheck // libsodium's secretstream MAC needs raw Poly1305
)

// This file holds libsodium's crypto_secretstream_xchacha20poly1305 (the
// construction sodium-secretstream wraps), built on the IETF ChaCha20-Poly1305
// AEAD so the bulk work runs in x/crypto's assembly.
//
// libsodium encrypts a message m with tag t under the state key k and the
// 12-byte nonce n = counter (4 bytes LE) || inonce (8 bytes) like this:
// keystream block 0 keys Poly1305; the 64-byte block [t, 0, ..., 0] is
// encrypted with keystream block 1 and m from block 2 on; the MAC covers the
// encrypted block and the ciphertext of m, then zero padding, then the
// lengths. That is the RFC 8439 AEAD sealing [t, 0 x 63] || m, except for
// one detail: libsodium pads with len(m) mod 16 zero bytes where the RFC pads
// with (-len(m)) mod 16. The two agree exactly when len(m) is a multiple of
// 8, and then the AEAD's output is libsodium's, bit for bit. Otherwise the
// AEAD still does the encryption and the MAC is computed separately.
//
// Only the first byte of the encrypted block goes on the wire (the other 63
// are keystream bytes that the receiver recomputes), followed by the
// ciphertext of m and the 16-byte MAC. Frame buffers keep 63 bytes of
// headroom before the ciphertext so that all of this happens in place.

const (
	// sodiumABytes is the per-message overhead: one tag byte and a MAC.
	sodiumABytes = 1 + 16
	// sodiumHeaderBytes is the length of the header that starts a stream.
	sodiumHeaderBytes = 24
	// blockBytes is the ChaCha20 block that carries the tag.
	blockBytes = 64
	// headroom is how many bytes a frame buffer keeps before the ciphertext
	// of the message so that seal and open work in place.
	headroom = blockBytes - 1
	macBytes = 16
)

// Message tags of the secretstream construction.
const (
	tagMessage byte = 0
	tagPush    byte = 1
	tagRekey   byte = 2
	tagFinal   byte = tagPush | tagRekey
)

// errAuth reports a message that does not authenticate under the current
// stream state (forged, corrupted, replayed or out of order).
var errAuth = errors.New("secretstream: message authentication failed")

// errNoCipher reports an open on a state that init never set up. The
// connection reads the header before any frame, so this is a broken
// invariant, reported as an error rather than a panic.
var errNoCipher = errors.New("secretstream: frame before the stream header")

// sodiumState is one direction of a secretstream: the derived key, the
// 32-bit message counter and the 64-bit inonce. It is the 52-byte
// crypto_secretstream_xchacha20poly1305_state of libsodium, unpacked.
type sodiumState struct {
	key   [32]byte
	nonce [12]byte // counter (LE uint32) || inonce
	aead  cipher.AEAD
}

// init sets up the state from the stream key and the 24-byte header, as
// both init_push (with a fresh random header) and init_pull do.
func (s *sodiumState) init(key *[32]byte, header *[sodiumHeaderBytes]byte) {
	k, _ := chacha20.HChaCha20(key[:], header[:16]) // lengths are fixed: cannot fail
	copy(s.key[:], k)
	copy(s.nonce[4:], header[16:])
	s.resetCounter()
	s.newAEAD()
}

func (s *sodiumState) resetCounter() {
	binary.LittleEndian.PutUint32(s.nonce[:4], 1)
}

func (s *sodiumState) newAEAD() {
	a, err := chacha20poly1305.New(s.key[:])
	if err != nil {
		panic("secretstream: chacha20poly1305.New with a 32-byte key: " + err.Error())
	}
	s.aead = a
}

// rekey replaces the key and inonce by encrypting them with the current key
// and nonce, and resets the counter, like crypto_secretstream_..._rekey.
func (s *sodiumState) rekey() {
	var buf [32 + 8]byte
	copy(buf[:32], s.key[:])
	copy(buf[32:], s.nonce[4:])
	c, err := chacha20.NewUnauthenticatedCipher(s.key[:], s.nonce[:])
	if err != nil {
		panic("secretstream: chacha20 with fixed sizes: " + err.Error())
	}
	c.XORKeyStream(buf[:], buf[:])
	copy(s.key[:], buf[:32])
	copy(s.nonce[4:], buf[32:])
	s.resetCounter()
	s.newAEAD()
}

// advance is the state update after each message: the MAC is folded into
// the inonce, the 32-bit counter is incremented (libsodium increments only
// the counter; it does not carry into the inonce), and the key is renewed
// when the tag asks for it or the counter wrapped to zero.
func (s *sodiumState) advance(mac []byte, tag byte) {
	for i := 0; i < 8; i++ {
		s.nonce[4+i] ^= mac[i]
	}
	ctr := binary.LittleEndian.Uint32(s.nonce[:4]) + 1
	binary.LittleEndian.PutUint32(s.nonce[:4], ctr)
	if tag&tagRekey != 0 || ctr == 0 {
		s.rekey()
	}
}

// aeadCompatible reports whether libsodium's MAC of an mlen-byte message
// equals the RFC 8439 AEAD's (the zero padding has the same length).
func aeadCompatible(mlen int) bool { return mlen%8 == 0 }

// keystream returns ChaCha20 blocks 0 and 1 under the state's key and nonce:
// the Poly1305 key and the keystream of the tag block.
func (s *sodiumState) keystream(ks *[2 * blockBytes]byte, blocks int) {
	*ks = [2 * blockBytes]byte{}
	c, err := chacha20.NewUnauthenticatedCipher(s.key[:], s.nonce[:])
	if err != nil {
		panic("secretstream: chacha20 with fixed sizes: " + err.Error())
	}
	if blocks == 1 {
		c.SetCounter(1)
		c.XORKeyStream(ks[blockBytes:], ks[blockBytes:])
		return
	}
	c.XORKeyStream(ks[:], ks[:])
}

// sodiumMAC computes libsodium's MAC over ct, the encrypted tag block
// followed by the encrypted message, with the Poly1305 key polyKey.
func sodiumMAC(out *[macBytes]byte, polyKey []byte, ct []byte) {
	var pk [32]byte
	copy(pk[:], polyKey)
	mac := poly1305.New(&pk)
	mac.Write(ct)
	var pad [16]byte
	mac.Write(pad[:(len(ct)-blockBytes)&15])
	var lens [16]byte // no additional data; then the length of ct
	binary.LittleEndian.PutUint64(lens[8:], uint64(len(ct)))
	mac.Write(lens[:])
	mac.Sum(out[:0])
}

// seal encrypts in place. frame is blockBytes+mlen+macBytes bytes long:
// bytes [0, 64) are scratch, the message is at [64, 64+mlen) and the last
// 16 bytes receive the MAC. Afterwards frame[headroom:] is the secretstream
// ciphertext (tag byte, encrypted message, MAC), sodiumABytes+mlen bytes.
func (s *sodiumState) seal(frame []byte, tag byte) {
	n := len(frame) - macBytes // tag block + message
	clear(frame[:blockBytes])
	frame[0] = tag
	s.aead.Seal(frame[:0], s.nonce[:], frame[:n], nil)
	mac := (*[macBytes]byte)(frame[n:])
	if !aeadCompatible(n - blockBytes) {
		var ks [2 * blockBytes]byte
		s.keystream(&ks, 2)
		sodiumMAC(mac, ks[:32], frame[:n])
	}
	frame[headroom] = frame[0]
	s.advance(mac[:], tag)
}

// open decrypts in place. frame[headroom:] holds one secretstream
// ciphertext (at least sodiumABytes long) and frame[:headroom] is scratch.
// It returns the tag and the plaintext, which lies at frame[64:len-16].
// On failure the state is unchanged and the frame content is undefined.
func (s *sodiumState) open(frame []byte) (tag byte, msg []byte, err error) {
	if s.aead == nil {
		return 0, nil, errNoCipher
	}
	if len(frame) < headroom+sodiumABytes {
		return 0, nil, errAuth
	}
	n := len(frame) - macBytes
	var mac [macBytes]byte
	copy(mac[:], frame[n:])

	compatible := aeadCompatible(n - blockBytes)
	var ks [2 * blockBytes]byte
	if compatible {
		s.keystream(&ks, 1)
	} else {
		s.keystream(&ks, 2)
	}
	// Rebuild the encrypted tag block: its first byte came on the wire, the
	// rest is keystream (the encryption of zeros).
	frame[0] = frame[headroom]
	copy(frame[1:blockBytes], ks[blockBytes+1:])

	if compatible {
		if _, err := s.aead.Open(frame[:0], s.nonce[:], frame, nil); err != nil {
			return 0, nil, errAuth
		}
	} else {
		var want [macBytes]byte
		sodiumMAC(&want, ks[:32], frame[:n])
		if subtle.ConstantTimeCompare(want[:], mac[:]) != 1 {
			return 0, nil, errAuth
		}
		// Authentic: decrypt by XOR with the same keystream. Seal writes a
		// throwaway tag over the 16 MAC bytes, which are already saved.
		s.aead.Seal(frame[:0], s.nonce[:], frame[:n], nil)
	}
	tag = frame[0]
	s.advance(mac[:], tag)
	return tag, frame[blockBytes:n], nil
}
