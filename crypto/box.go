package crypto

import (
	"crypto/rand"
	"crypto/sha512"
	"errors"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/salsa20/salsa"
)

// Sizes used by sealed boxes (libsodium crypto_box_seal).
const (
	BoxKeySize   = 32      // crypto_box_PUBLICKEYBYTES and crypto_box_SECRETKEYBYTES
	BoxSeedSize  = 32      // crypto_box_SEEDBYTES
	SealOverhead = 32 + 16 // crypto_box_SEALBYTES: ephemeral key and MAC
)

var (
	// ErrBoxKey is returned for an encryption key of the wrong size, or a
	// public key whose shared secret would be all zero (a small-order point),
	// which libsodium refuses.
	ErrBoxKey = errors.New("crypto: invalid encryption key")
	// ErrDecrypt is returned when a sealed box cannot be opened: too short,
	// a bad ephemeral key, or a failed authentication.
	ErrDecrypt = errors.New("crypto: sealed box cannot be opened")
)

// EncryptionKeyPair is an X25519 key pair for sealed boxes.
type EncryptionKeyPair struct {
	PublicKey []byte // 32 bytes
	SecretKey []byte // 32 bytes
}

// NewEncryptionKeyPair returns a fresh random encryption key pair, as
// hypercore-crypto encryptionKeyPair() without a seed.
func NewEncryptionKeyPair() (EncryptionKeyPair, error) {
	sk := make([]byte, BoxKeySize)
	if _, err := rand.Read(sk); err != nil {
		return EncryptionKeyPair{}, err
	}
	return boxKeyPair(sk)
}

// EncryptionKeyPairFromSeed derives an encryption key pair from a 32-byte
// seed as crypto_box_seed_keypair does: the secret key is the first half of
// the SHA-512 of the seed.
func EncryptionKeyPairFromSeed(seed []byte) (EncryptionKeyPair, error) {
	if len(seed) != BoxSeedSize {
		return EncryptionKeyPair{}, ErrSeedSize
	}
	h := sha512.Sum512(seed)
	return boxKeyPair(h[:BoxKeySize])
}

func boxKeyPair(sk []byte) (EncryptionKeyPair, error) {
	pk, err := curve25519.X25519(sk, curve25519.Basepoint)
	if err != nil {
		return EncryptionKeyPair{}, err
	}
	return EncryptionKeyPair{PublicKey: pk, SecretKey: append([]byte(nil), sk...)}, nil
}

// boxKey computes the crypto_box shared key of a secret and a public key.
func boxKey(sk, pk []byte) (*[32]byte, error) {
	shared, err := curve25519.X25519(sk, pk)
	if err != nil {
		return nil, err
	}
	var s, key [32]byte
	var zero [16]byte
	copy(s[:], shared)
	salsa.HSalsa20(&key, &zero, &s, &salsa.Sigma)
	return &key, nil
}

// sealNonce is BLAKE2b-192 of the ephemeral then the recipient public key.
func sealNonce(epk, pk []byte) *[24]byte {
	h, _ := blake2b.New(24, nil)
	h.Write(epk)
	h.Write(pk)
	var n [24]byte
	copy(n[:], h.Sum(nil))
	return &n
}

// Encrypt seals message to publicKey anonymously, as hypercore-crypto
// encrypt() (crypto_box_seal): a fresh ephemeral key, then XSalsa20-Poly1305.
// The result is SealOverhead bytes longer than message.
func Encrypt(message, publicKey []byte) ([]byte, error) {
	if len(publicKey) != BoxKeySize {
		return nil, ErrBoxKey
	}
	eph, err := NewEncryptionKeyPair()
	if err != nil {
		return nil, err
	}
	key, err := boxKey(eph.SecretKey, publicKey)
	if err != nil {
		return nil, ErrBoxKey
	}
	out := make([]byte, BoxKeySize, len(message)+SealOverhead)
	copy(out, eph.PublicKey)
	return secretbox.Seal(out, message, sealNonce(eph.PublicKey, publicKey), key), nil
}

// Decrypt opens a sealed box made for kp, as hypercore-crypto decrypt()
// (crypto_box_seal_open). It returns ErrDecrypt for anything that does not
// open, and ErrBoxKey if kp has keys of the wrong size.
func Decrypt(ciphertext []byte, kp EncryptionKeyPair) ([]byte, error) {
	if len(kp.PublicKey) != BoxKeySize || len(kp.SecretKey) != BoxKeySize {
		return nil, ErrBoxKey
	}
	if len(ciphertext) < SealOverhead {
		return nil, ErrDecrypt
	}
	epk := ciphertext[:BoxKeySize]
	key, err := boxKey(kp.SecretKey, epk)
	if err != nil {
		return nil, ErrDecrypt
	}
	out, ok := secretbox.Open(make([]byte, 0, len(ciphertext)-SealOverhead), ciphertext[BoxKeySize:], sealNonce(epk, kp.PublicKey), key)
	if !ok {
		return nil, ErrDecrypt
	}
	return out, nil
}
