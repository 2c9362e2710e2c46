package keyid

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the length of a key id in bytes.
const KeySize = 32

var (
	// ErrKeySize is returned by Encode for a key that is not 32 bytes.
	ErrKeySize = errors.New("keyid: key must be 32 bytes long")
	// ErrInvalidKey is returned by Decode for text that is not a key id.
	// Errors for bad z-base-32 characters match both it and
	// ErrInvalidCharacter.
	ErrInvalidKey = errors.New("keyid: invalid hypercore key")
)

// pearScheme is stripped from the front of an id, with any path after it.
const pearScheme = "pear://"

// Encode returns the 52-character z-base-32 id of a 32-byte key.
func Encode(key []byte) (string, error) {
	if len(key) != KeySize {
		return "", ErrKeySize
	}
	return ZBase32Encode(key), nil
}

// Decode returns the 32-byte key written in s, as hypercore-id-encoding
// decode() reads it: an optional "pear://" prefix (anything from the next
// "/" on is ignored), then either 52 z-base-32 characters (lower case) or 64
// hex digits (either case).
func Decode(s string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(s, pearScheme); ok {
		s, _, _ = strings.Cut(rest, "/")
	}
	switch len(s) {
	case 52:
		key, err := ZBase32Decode(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
		}
		return key, nil
	case 64:
		key, err := hex.DecodeString(s)
		if err == nil {
			return key, nil
		}
	}
	return nil, ErrInvalidKey
}

// Normalize returns the canonical z-base-32 id of any form Decode accepts.
func Normalize(s string) (string, error) {
	key, err := Decode(s)
	if err != nil {
		return "", err
	}
	return Encode(key)
}

// IsValid reports whether Decode accepts s.
func IsValid(s string) bool {
	_, err := Decode(s)
	return err == nil
}
