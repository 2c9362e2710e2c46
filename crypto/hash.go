package crypto

import (
	"crypto/rand"
	"errors"
	"hash"
	"sync"

	"golang.org/x/crypto/blake2b"
)

// Limits of libsodium's crypto_generichash as sodium-native enforces them.
const (
	HashSizeMin = 16 // crypto_generichash_BYTES_MIN
	HashSizeMax = 64 // crypto_generichash_BYTES_MAX
	HashKeyMin  = 16 // crypto_generichash_KEYBYTES_MIN
	HashKeyMax  = 64 // crypto_generichash_KEYBYTES_MAX
)

var (
	// ErrHashSize is returned for a hash output length outside 16..64.
	ErrHashSize = errors.New("crypto: hash output must be 16 to 64 bytes")
	// ErrHashKeySize is returned for a hash key length outside 16..64.
	ErrHashKeySize = errors.New("crypto: hash key must be 16 to 64 bytes")
)

// hasher is a reusable unkeyed BLAKE2b-256 state with scratch space, pooled
// so that per-block hashing allocates nothing.
type hasher struct {
	h   hash.Hash
	buf [64]byte
}

var hashers = sync.Pool{New: func() any {
	h, err := blake2b.New256(nil)
	if err != nil {
		panic(err) // unreachable: no key
	}
	return &hasher{h: h}
}}

func getHasher() *hasher {
	s := hashers.Get().(*hasher)
	s.h.Reset()
	return s
}

// sum finishes the hash into out and returns the hasher to the pool.
func (s *hasher) sum() (out [32]byte) {
	copy(out[:], s.h.Sum(s.buf[:0]))
	hashers.Put(s)
	return out
}

// Hash returns the unkeyed BLAKE2b-256 of the concatenation of data, as
// hypercore-crypto hash() (crypto_generichash_batch) does.
func Hash(data ...[]byte) [32]byte {
	s := getHasher()
	for _, d := range data {
		s.h.Write(d)
	}
	return s.sum()
}

// KeyedHash returns the BLAKE2b-256 of the concatenation of data keyed with
// key, which must be 16 to 64 bytes long as sodium-native requires.
func KeyedHash(key []byte, data ...[]byte) ([32]byte, error) {
	var out [32]byte
	if len(key) < HashKeyMin || len(key) > HashKeyMax {
		return out, ErrHashKeySize
	}
	err := HashSize(out[:], key, data...)
	return out, err
}

// HashSize writes the BLAKE2b hash of the concatenation of data into out,
// whose length (16 to 64 bytes) is the digest size. An empty key means an
// unkeyed hash; otherwise the key must be 16 to 64 bytes. These are the
// limits sodium-native puts on crypto_generichash.
func HashSize(out []byte, key []byte, data ...[]byte) error {
	if len(out) < HashSizeMin || len(out) > HashSizeMax {
		return ErrHashSize
	}
	if len(key) != 0 && (len(key) < HashKeyMin || len(key) > HashKeyMax) {
		return ErrHashKeySize
	}
	h, err := blake2b.New(len(out), key)
	if err != nil {
		return err
	}
	for _, d := range data {
		h.Write(d)
	}
	var sum [HashSizeMax]byte
	copy(out, h.Sum(sum[:0]))
	return nil
}

var hypercoreKey = []byte("hypercore")

// DiscoveryKey returns the discovery key of a 32-byte public key: the
// BLAKE2b-256 of the word "hypercore" keyed with the public key. Peers
// announce and look up a core by this value without revealing its key.
// The key is an array, so a key of the wrong length (which
// hypercore-crypto throws on) cannot reach it: callers check the length
// where they parse the key.
func DiscoveryKey(publicKey [32]byte) [32]byte {
	out, err := KeyedHash(publicKey[:], hypercoreKey)
	if err != nil {
		panic(err) // unreachable: 32 is a valid key size
	}
	return out
}

// Namespace derives count 32-byte keys from name: the hash of name, followed
// by one byte holding the index 0..count-1, hashed again. It matches
// hypercore-crypto namespace(name, count). The index byte wraps after 255,
// as in JavaScript. A count of zero or less gives none.
func Namespace(name []byte, count int) [][32]byte {
	if count <= 0 {
		return [][32]byte{}
	}
	ids := make([]byte, count)
	for i := range ids {
		ids[i] = byte(i)
	}
	return NamespaceIDs(name, ids)
}

// NamespaceIDs is Namespace with explicit ids, matching hypercore-crypto
// namespace(name, ids). JavaScript stores each id into one byte, so ids are
// bytes here.
func NamespaceIDs(name []byte, ids []byte) [][32]byte {
	var ns [33]byte
	root := Hash(name)
	copy(ns[:32], root[:])
	out := make([][32]byte, len(ids))
	for i, id := range ids {
		ns[32] = id
		out[i] = Hash(ns[:])
	}
	return out
}

// RandomBytes returns n bytes from the operating system's secure random
// source.
func RandomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails since Go 1.24
	return b
}
