package hypercore

import (
	"encoding/binary"
	"errors"

	"golang.org/x/crypto/salsa20"

	"github.com/warrenp2p/warren/crypto"
)

// EncryptionPadding is the number of bytes default block encryption puts in
// front of every block: the blinded fork id the nonce is built from.
const EncryptionPadding = 8

// ErrEncryptionKey is returned for an encryption key that is not 32 bytes.
var ErrEncryptionKey = errors.New("hypercore: encryption key must be 32 bytes")

// blockEncryption is hypercore's default block encryption: XSalsa20 with a
// per-core block key, the nonce made of the block index and the fork id
// blinded with a second key.
type blockEncryption struct {
	blockKey    [32]byte
	blindingKey [32]byte
}

// newBlockEncryption derives the keys of a core from its encryption key.
// isBlockKey means encryptionKey is already the block key; compat cores
// derive it with the legacy keyed hash.
func newBlockEncryption(encryptionKey, coreKey []byte, compat, isBlockKey bool) (*blockEncryption, error) {
	if len(encryptionKey) != 32 {
		return nil, ErrEncryptionKey
	}
	e := &blockEncryption{}
	switch {
	case isBlockKey:
		copy(e.blockKey[:], encryptionKey)
	case compat:
		k, err := crypto.KeyedHash(coreKey, encryptionKey)
		if err != nil {
			return nil, err
		}
		e.blockKey = k
	default:
		e.blockKey = crypto.Hash(nsDefaultEncryption[:], coreKey, encryptionKey)
	}
	e.blindingKey = crypto.Hash(e.blockKey[:])
	return e, nil
}

// BlockEncryptionKey returns the block key a core with this key derives from
// encryptionKey (hypercore blockEncryptionKey).
func BlockEncryptionKey(coreKey, encryptionKey []byte) [32]byte {
	return crypto.Hash(nsDefaultEncryption[:], coreKey, encryptionKey)
}

// encrypt returns the stored form of block index: EncryptionPadding bytes of
// blinded fork id, then the encrypted data.
func (e *blockEncryption) encrypt(index, fork uint64, data []byte) []byte {
	out := make([]byte, EncryptionPadding+len(data))
	var nonce [24]byte
	binary.LittleEndian.PutUint64(nonce[:8], index)
	var pad [8]byte
	binary.LittleEndian.PutUint64(pad[:], fork)
	salsa20.XORKeyStream(out[:8], pad[:], nonce[:], &e.blindingKey)
	copy(nonce[8:16], out[:8])
	salsa20.XORKeyStream(out[8:], data, nonce[:], &e.blockKey)
	return out
}

// decrypt returns the data of the stored block index.
func (e *blockEncryption) decrypt(index uint64, block []byte) ([]byte, error) {
	if len(block) < EncryptionPadding {
		return nil, ErrCorrupt
	}
	var nonce [24]byte
	binary.LittleEndian.PutUint64(nonce[:8], index)
	copy(nonce[8:16], block[:8])
	out := make([]byte, len(block)-EncryptionPadding)
	salsa20.XORKeyStream(out, block[8:], nonce[:], &e.blockKey)
	return out, nil
}
