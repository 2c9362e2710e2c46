package tunnel

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/keyid"
)

// Mode says how a connection key is read.
type Mode int

const (
	// Auto reads a key as holesail does: an hs:// URL says its mode; a bare
	// key is tried as a private seed first (if the server published a record
	// under the derived key), then as a public key.
	Auto Mode = iota
	// Public: the key is the server's public key; anyone may connect.
	Public
	// Private: the key is the seed of the server's key pair; the server
	// admits only clients identifying with that same key pair.
	Private
)

func (m Mode) String() string {
	switch m {
	case Public:
		return "public"
	case Private:
		return "private"
	}
	return "auto"
}

// MinSecretLength is the shortest --key holesail accepts without --force.
const MinSecretLength = 32

// URL prefixes holesail prints: "hs://" then four flag characters, the
// first 's' for a private (secure) key, then the key.
const (
	urlScheme     = "hs://"
	urlPrivate    = "hs://s000"
	urlPublic     = "hs://0000"
	urlHeaderSize = len(urlPrivate)
)

// Errors of key handling.
var (
	ErrShortSecret = errors.New("tunnel: a key must be at least 32 characters long (use --force to allow a shorter one)")
	ErrEmptyKey    = errors.New("tunnel: empty connection key")
	ErrInvalidKey  = errors.New("tunnel: connection key is neither a 32-byte z-base-32/hex key nor an hs:// URL")
)

// SeedFromSecret derives a key-pair seed from a user's secret string as
// holesail 2 does with --key (and with the key of a private hs:// URL): the
// SHA-256 of the string's UTF-8 bytes.
func SeedFromSecret(secret string) []byte {
	s := sha256.Sum256([]byte(secret))
	return s[:]
}

// CheckSecret applies holesail's length rule to a --key secret; force skips
// the minimum length.
func CheckSecret(secret string, force bool) error {
	if secret == "" {
		return ErrEmptyKey
	}
	if len(secret) < MinSecretLength && !force {
		return ErrShortSecret
	}
	return nil
}

// NewSecret returns a fresh random secret as holesail makes one for a
// private server started without --key: 32 random bytes in hex.
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// URL returns the hs:// form of a connection key that the holesail CLI
// accepts: for a private server, secret is the string whose SHA-256 is the
// seed; for a public one, the z-base-32 public key.
func URL(private bool, key string) string {
	if private {
		return urlPrivate + key
	}
	return urlPublic + key
}

// Key is one reading of a connection key: the server's public key and, in
// private mode, the seed both ends derive the server's key pair from.
type Key struct {
	PublicKey ed25519.PublicKey
	Seed      []byte // nil in public mode
}

// Private reports whether k is a private key.
func (k Key) Private() bool { return k.Seed != nil }

// KeyPair is the key pair a client must identify with: the server's own
// key pair in private mode; ok is false in public mode.
func (k Key) KeyPair() (kp crypto.KeyPair, ok bool) {
	if k.Seed == nil {
		return crypto.KeyPair{}, false
	}
	kp, err := crypto.KeyPairFromSeed(k.Seed)
	return kp, err == nil
}

func keyFromSeed(seed []byte) (Key, error) {
	kp, err := crypto.KeyPairFromSeed(seed)
	if err != nil {
		return Key{}, err
	}
	return Key{PublicKey: kp.PublicKey, Seed: append([]byte(nil), seed...)}, nil
}

// ParseKey reads a connection key and returns its possible readings, the
// most likely first:
//
//   - an hs:// URL (as holesail prints): private URLs carry the secret,
//     whose SHA-256 is the seed; public ones the z-base-32 public key. The
//     URL decides the mode; a conflicting mode is an error.
//   - a bare 32-byte key in z-base-32 or hex: in Private mode both the
//     seed itself (what holesail-server's key getter and warren hand out)
//     and a holesail secret (SHA-256 of the text: the holesail CLI's
//     private keys are 64 hex digits), hex text read as a secret first; in
//     Public mode the public key; in Auto mode all three, public last.
//   - any other string: a holesail secret (SHA-256 gives the seed), in
//     Private or Auto mode.
func ParseKey(s string, mode Mode) ([]Key, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, ErrEmptyKey
	}
	if strings.HasPrefix(s, urlScheme) && len(s) > urlHeaderSize {
		private := s[len(urlScheme)] == 's'
		body := s[urlHeaderSize:]
		if private && mode == Public || !private && mode == Private {
			return nil, errors.New("tunnel: the hs:// URL is " + map[bool]string{true: "private", false: "public"}[private] + " but " + mode.String() + " mode was asked for")
		}
		if private {
			k, err := keyFromSeed(SeedFromSecret(body))
			if err != nil {
				return nil, err
			}
			return []Key{k}, nil
		}
		pk, err := keyid.Decode(body)
		if err != nil {
			return nil, ErrInvalidKey
		}
		return []Key{{PublicKey: pk}}, nil
	}
	raw, err := keyid.Decode(s)
	if err != nil {
		if mode == Public {
			return nil, ErrInvalidKey
		}
		k, err := keyFromSeed(SeedFromSecret(s))
		if err != nil {
			return nil, err
		}
		return []Key{k}, nil
	}
	var keys []Key
	if mode != Public {
		seedKey, err := keyFromSeed(raw)
		if err != nil {
			return nil, err
		}
		secretKey, err := keyFromSeed(SeedFromSecret(s))
		if err != nil {
			return nil, err
		}
		// holesail makes its private keys from 32 random bytes in hex and
		// hashes them; warren prints seeds in z-base-32.
		if isHex(s) {
			keys = append(keys, secretKey, seedKey)
		} else {
			keys = append(keys, seedKey, secretKey)
		}
	}
	if mode != Private {
		keys = append(keys, Key{PublicKey: raw})
	}
	return keys, nil
}

func isHex(s string) bool {
	if len(s)%2 != 0 {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil
}
