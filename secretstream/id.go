package secretstream

import (
	"golang.org/x/crypto/blake2b"
)

// The first two namespaces of hypercore-crypto's
// namespace("hyperswarm/secret-stream", 3): BLAKE2b-256 of the name, then
// BLAKE2b-256 of that digest followed by the index byte. (The third, for
// unordered UDX messages, is in datagram.go.)
var nsInitiator, nsResponder = namespaces()

func namespaces() (a, b [32]byte) {
	name := blake2b.Sum256([]byte("hyperswarm/secret-stream"))
	ns := func(i byte) [32]byte {
		return blake2b.Sum256(append(name[:], i))
	}
	return ns(0), ns(1)
}

// StreamID returns the 32-byte id that the initiator (initiator true) or
// the responder of a handshake with hash handshakeHash puts in its header
// frame: BLAKE2b-256 of the role's namespace keyed with the handshake hash.
// It is NoiseSecretStream.id of the JS module; HyperDHT uses it too.
func StreamID(handshakeHash []byte, initiator bool) [32]byte {
	ns := nsResponder
	if initiator {
		ns = nsInitiator
	}
	var id [32]byte
	key := handshakeHash
	if len(key) > blake2b.Size {
		key = key[:blake2b.Size]
	}
	h, err := blake2b.New256(key)
	if err != nil {
		// Only a key over 64 bytes fails, and it was truncated above.
		panic("secretstream: blake2b: " + err.Error())
	}
	h.Write(ns[:])
	h.Sum(id[:0])
	return id
}
