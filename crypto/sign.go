// Package crypto holds the primitives hypercore-crypto gives the Holepunch
// stack: Ed25519 key pairs and signatures with libsodium's verification
// rules, BLAKE2b hashing (plain, keyed, namespaces, discovery keys), the
// Merkle tree node hashes of hypercore, and sealed boxes.
//
// Every function produces the same bytes as the JavaScript module
// hypercore-crypto running on sodium-native, and accepts or rejects exactly
// the same inputs where the input can come from a peer.
package crypto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
)

// Sizes of keys and signatures, as libsodium names them.
const (
	PublicKeySize = ed25519.PublicKeySize  // crypto_sign_PUBLICKEYBYTES
	SecretKeySize = ed25519.PrivateKeySize // crypto_sign_SECRETKEYBYTES
	SeedSize      = ed25519.SeedSize       // crypto_sign_SEEDBYTES
	SignatureSize = ed25519.SignatureSize  // crypto_sign_BYTES
)

// ErrSeedSize is returned when a key pair seed is not SeedSize bytes.
var ErrSeedSize = errors.New("crypto: seed must be 32 bytes")

// KeyPair is an Ed25519 signing key pair.
type KeyPair struct {
	PublicKey ed25519.PublicKey  // 32 bytes
	SecretKey ed25519.PrivateKey // 64 bytes: seed then public key, as in libsodium
}

// NewKeyPair returns a fresh random key pair.
func NewKeyPair() (KeyPair, error) {
	pub, sec, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{PublicKey: pub, SecretKey: sec}, nil
}

// KeyPairFromSeed derives the key pair of a 32-byte seed, as
// crypto_sign_seed_keypair does.
func KeyPairFromSeed(seed []byte) (KeyPair, error) {
	if len(seed) != SeedSize {
		return KeyPair{}, ErrSeedSize
	}
	sec := ed25519.NewKeyFromSeed(seed)
	pub := make(ed25519.PublicKey, PublicKeySize)
	copy(pub, sec[SeedSize:])
	return KeyPair{PublicKey: pub, SecretKey: sec}, nil
}

// ValidateKeyPair reports whether the public key is the one stored in the
// secret key. Like hypercore-crypto it compares against the copy kept in the
// second half of the secret key and does not re-derive it from the seed.
func ValidateKeyPair(kp KeyPair) bool {
	if len(kp.SecretKey) != SecretKeySize || len(kp.PublicKey) != PublicKeySize {
		return false
	}
	return bytes.Equal(kp.SecretKey[SeedSize:], kp.PublicKey)
}

// Sign returns the 64-byte Ed25519 signature of message, identical to
// crypto_sign_detached. Like crypto/ed25519.Sign it panics if secretKey is
// not 64 bytes; secret keys are local, never peer input.
func Sign(message []byte, secretKey ed25519.PrivateKey) []byte {
	return ed25519.Sign(secretKey, message)
}

// Verify reports whether signature is a valid signature of message by
// publicKey under libsodium's rules (crypto_sign_verify_detached): besides
// the checks of crypto/ed25519, it rejects public keys that are not
// canonically encoded and public keys and R values that encode points of
// small order. It never panics, whatever the input.
func Verify(message, signature []byte, publicKey ed25519.PublicKey) bool {
	if len(signature) != SignatureSize || len(publicKey) != PublicKeySize {
		return false
	}
	// libsodium's extra checks. crypto/ed25519 already requires S to be
	// below the group order, as libsodium does.
	if hasSmallOrder(signature[:32]) {
		return false
	}
	if !isCanonicalPoint(publicKey) || hasSmallOrder(publicKey) {
		return false
	}
	return ed25519.Verify(publicKey, message, signature)
}

// smallOrder lists the encodings (sign bit cleared) of the points whose
// order divides 8, including the non-canonical encodings p and p+1 of y=0
// and y=1. It is the list libsodium checks against.
var smallOrder = [7][32]byte{
	// y = 0 (order 4)
	{},
	// y = 1, the identity
	{0x01},
	// the two y values of the points of order 8
	{0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98, 0xf0,
		0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53, 0xfc, 0x05},
	{0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67, 0x0f,
		0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac, 0x03, 0x7a},
	// y = p-1 (order 2), y = p (non-canonical 0), y = p+1 (non-canonical 1)
	{0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	{0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
	{0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f},
}

// hasSmallOrder reports whether the 32-byte point encoding s, with its sign
// bit ignored, is one of the small-order encodings.
func hasSmallOrder(s []byte) bool {
	var y [32]byte
	copy(y[:], s)
	y[31] &= 0x7f
	for i := range smallOrder {
		if y == smallOrder[i] {
			return true
		}
	}
	return false
}

// isCanonicalPoint reports whether the y coordinate of the point encoding s
// (sign bit ignored) is below the field prime p = 2^255-19.
func isCanonicalPoint(s []byte) bool {
	if s[31]&0x7f != 0x7f {
		return true
	}
	for i := 30; i > 0; i-- {
		if s[i] != 0xff {
			return true
		}
	}
	return s[0] < 0xed
}
