package corestore

import (
	"github.com/warrenp2p/warren/crypto"
)

// nsCorestore is the hypercore-crypto namespace corestore keys its seed
// derivation with: namespace("corestore", 1)[0].
var nsCorestore = crypto.Namespace([]byte("corestore"), 1)[0]

// DefaultNamespace is the namespace of a store that was not narrowed with
// Namespace: 32 zero bytes, as in corestore.
var DefaultNamespace [32]byte

// DeriveNamespace returns the namespace a view named name of a store with
// namespace ns has: the BLAKE2b-256 hash of ns followed by name.
func DeriveNamespace(ns [32]byte, name string) [32]byte {
	return crypto.Hash(ns[:], []byte(name))
}

// DeriveSeed returns the Ed25519 seed of the core called name in namespace
// ns: BLAKE2b-256 keyed with the primary key over the corestore namespace
// constant, ns and name.
func DeriveSeed(primaryKey []byte, ns [32]byte, name string) ([32]byte, error) {
	return crypto.KeyedHash(primaryKey, nsCorestore[:], ns[:], []byte(name))
}

// DeriveKeyPair returns the key pair of the core called name in namespace
// ns of a store with primaryKey, exactly as corestore's createKeyPair.
func DeriveKeyPair(primaryKey []byte, ns [32]byte, name string) (crypto.KeyPair, error) {
	seed, err := DeriveSeed(primaryKey, ns, name)
	if err != nil {
		return crypto.KeyPair{}, err
	}
	return crypto.KeyPairFromSeed(seed[:])
}
