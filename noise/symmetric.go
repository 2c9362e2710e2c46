package noise

import (
	"encoding/binary"
	"hash"

	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/chacha20poly1305"
)

const (
	hashLen       = blake2b.Size // BLAKE2b-512 output, the Noise HASHLEN
	hmacBlockLen  = blake2b.BlockSize
	keyLen        = chacha20poly1305.KeySize
	macLen        = chacha20poly1305.Overhead
	pubLen        = 32
	maxCiphertext = 65535 // largest ciphertext noise-handshake accepts
)

// symmetricState is the Noise SymmetricState with its embedded CipherState:
// the running handshake hash, the chaining key and the current cipher key.
type symmetricState struct {
	h      [hashLen]byte
	ck     [hashLen]byte
	k      [keyLen]byte
	hasKey bool
	n      uint32
	hasher hash.Hash // unkeyed BLAKE2b-512, reset before each use
	pad    [hmacBlockLen]byte
}

func newHasher() hash.Hash {
	h, err := blake2b.New512(nil)
	if err != nil { // only possible with a key longer than 64 bytes
		panic(err)
	}
	return h
}

// init sets h and ck from the protocol name, as Noise's InitializeSymmetric.
func (s *symmetricState) init(protocol string) {
	s.hasher = newHasher()
	if len(protocol) <= hashLen {
		s.h = [hashLen]byte{}
		copy(s.h[:], protocol)
	} else {
		s.hasher.Reset()
		s.hasher.Write([]byte(protocol))
		s.hasher.Sum(s.h[:0])
	}
	s.ck = s.h
}

// mixHash sets h = BLAKE2b-512(h || data).
func (s *symmetricState) mixHash(data []byte) {
	s.hasher.Reset()
	s.hasher.Write(s.h[:])
	s.hasher.Write(data)
	s.hasher.Sum(s.h[:0])
}

// hmac computes HMAC-BLAKE2b-512(key, a || b || c) into out. Keys are at
// most one block long here (chaining keys and PRKs are 64 bytes).
func (s *symmetricState) hmac(out, key *[hashLen]byte, a, b []byte) {
	for i := range s.pad {
		s.pad[i] = 0x36
	}
	for i, v := range key {
		s.pad[i] ^= v
	}
	s.hasher.Reset()
	s.hasher.Write(s.pad[:])
	s.hasher.Write(a)
	s.hasher.Write(b)
	var inner [hashLen]byte
	s.hasher.Sum(inner[:0])

	for i := range s.pad {
		s.pad[i] = 0x5c
	}
	for i, v := range key {
		s.pad[i] ^= v
	}
	s.hasher.Reset()
	s.hasher.Write(s.pad[:])
	s.hasher.Write(inner[:])
	s.hasher.Sum(out[:0])
	clear(s.pad[:])
	clear(inner[:])
}

// hkdf derives two 64-byte outputs from the chaining key and input key
// material (RFC 5869 with HMAC-BLAKE2b-512 and empty info).
func (s *symmetricState) hkdf(out1, out2 *[hashLen]byte, ikm []byte) {
	var prk [hashLen]byte
	s.hmac(&prk, &s.ck, ikm, nil)
	s.hmac(out1, &prk, []byte{1}, nil)
	s.hmac(out2, &prk, out1[:], []byte{2})
	clear(prk[:])
}

// mixKey feeds a DH output into the chaining key and sets a new cipher key.
func (s *symmetricState) mixKey(dh []byte) {
	var ck, tk [hashLen]byte
	s.hkdf(&ck, &tk, dh)
	s.ck = ck
	copy(s.k[:], tk[:keyLen])
	s.hasKey = true
	s.n = 0
	clear(tk[:])
	clear(ck[:])
}

// split returns the two transport keys, truncated to 32 bytes.
func (s *symmetricState) split() (k1, k2 [keyLen]byte) {
	var t1, t2 [hashLen]byte
	s.hkdf(&t1, &t2, nil)
	copy(k1[:], t1[:keyLen])
	copy(k2[:], t2[:keyLen])
	clear(t1[:])
	clear(t2[:])
	return k1, k2
}

// nonce lays out the counter the way noise-handshake does: 32-bit little
// endian at bytes 4..8 of the 12-byte IETF nonce.
func (s *symmetricState) nonce() [chacha20poly1305.NonceSize]byte {
	var n [chacha20poly1305.NonceSize]byte
	binary.LittleEndian.PutUint32(n[4:], s.n)
	return n
}

// encryptAndHash appends the ciphertext of plaintext (the plaintext itself
// before a key exists) to dst and mixes it into h.
func (s *symmetricState) encryptAndHash(dst, plaintext []byte) []byte {
	start := len(dst)
	if !s.hasKey {
		dst = append(dst, plaintext...)
	} else {
		aead, err := chacha20poly1305.New(s.k[:])
		if err != nil {
			panic(err) // key is always 32 bytes
		}
		n := s.nonce()
		dst = aead.Seal(dst, n[:], plaintext, s.h[:])
		s.n++
	}
	s.mixHash(dst[start:])
	return dst
}

// decryptAndHash opens ciphertext (or passes it through before a key
// exists) and mixes the ciphertext into h. The result is a fresh slice.
func (s *symmetricState) decryptAndHash(ciphertext []byte) ([]byte, error) {
	if !s.hasKey {
		out := make([]byte, len(ciphertext))
		copy(out, ciphertext)
		s.mixHash(ciphertext)
		return out, nil
	}
	if len(ciphertext) < macLen || len(ciphertext) > maxCiphertext {
		return nil, ErrBadMessage
	}
	aead, err := chacha20poly1305.New(s.k[:])
	if err != nil {
		panic(err)
	}
	n := s.nonce()
	out, err := aead.Open(make([]byte, 0, len(ciphertext)-macLen), n[:], ciphertext, s.h[:])
	if err != nil {
		return nil, ErrDecrypt
	}
	s.n++
	s.mixHash(ciphertext)
	return out, nil
}

// wipe clears all secret state.
func (s *symmetricState) wipe() {
	clear(s.h[:])
	clear(s.ck[:])
	clear(s.k[:])
	s.hasKey = false
	s.n = 0
}
