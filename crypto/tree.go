package crypto

import (
	"encoding/binary"

	"golang.org/x/crypto/blake2b"
)

// Type bytes that start each Merkle tree hash, so that a leaf can never be
// passed off as a parent or a root list (second preimage protection).
const (
	leafType   = 0
	parentType = 1
	rootType   = 2
)

// TreeNode is a node of a hypercore Merkle tree: its flat-tree index, the
// number of data bytes below it and its hash.
type TreeNode struct {
	Index uint64
	Size  uint64
	Hash  [32]byte
}

// leafInline is the largest leaf that fits, with its 9-byte prefix, in one
// BLAKE2b block; such leaves are hashed from a stack buffer with
// blake2b.Sum256, longer ones are streamed through a pooled hasher.
const leafInline = 119

// LeafHash returns the hash of a block of data, as hypercore-crypto data():
// BLAKE2b-256 of the byte 0, the data length as a little-endian uint64, and
// the data.
func LeafHash(data []byte) [32]byte {
	if len(data) <= leafInline {
		var b [9 + leafInline]byte
		b[0] = leafType
		binary.LittleEndian.PutUint64(b[1:9], uint64(len(data)))
		n := copy(b[9:], data)
		return blake2b.Sum256(b[:9+n])
	}
	s := getHasher()
	s.buf[0] = leafType
	binary.LittleEndian.PutUint64(s.buf[1:9], uint64(len(data)))
	s.h.Write(s.buf[:9])
	s.h.Write(data)
	return s.sum()
}

// ParentHash returns the hash of the parent of two sibling nodes, as
// hypercore-crypto parent(): BLAKE2b-256 of the byte 1, the sum of their
// sizes as a little-endian uint64, then the hash of the node with the lower
// index followed by the other. The order of the arguments does not matter.
func ParentHash(left, right TreeNode) [32]byte {
	if left.Index > right.Index {
		left, right = right, left
	}
	var b [1 + 8 + 32 + 32]byte
	b[0] = parentType
	binary.LittleEndian.PutUint64(b[1:9], left.Size+right.Size)
	copy(b[9:41], left.Hash[:])
	copy(b[41:73], right.Hash[:])
	return blake2b.Sum256(b[:])
}

// TreeHash returns the hash of a list of tree roots, as hypercore-crypto
// tree(): BLAKE2b-256 of the byte 2 followed, for each root in order, by its
// hash, its index and its size as little-endian uint64s. Signatures of a
// hypercore cover this value.
func TreeHash(roots []TreeNode) [32]byte {
	s := getHasher()
	s.buf[0] = rootType
	s.h.Write(s.buf[:1])
	for i := range roots {
		r := &roots[i]
		copy(s.buf[:32], r.Hash[:])
		binary.LittleEndian.PutUint64(s.buf[32:40], r.Index)
		binary.LittleEndian.PutUint64(s.buf[40:48], r.Size)
		s.h.Write(s.buf[:48])
	}
	return s.sum()
}
