package noise

import (
	"crypto/ed25519"
	"crypto/sha512"
	"crypto/subtle"

	"filippo.io/edwards25519"
)

// keyPair is a local Ed25519 key pair in the form the DH needs: the
// clamped secret scalar (as Ed25519 signing derives it from the seed) and
// the 32-byte public key that goes on the wire.
type keyPair struct {
	scalar edwards25519.Scalar
	pub    [pubLen]byte
}

// setPrivate derives the key pair from a 64-byte Ed25519 private key
// (seed || public). The public half must match the seed.
func (kp *keyPair) setPrivate(priv ed25519.PrivateKey) bool {
	if len(priv) != ed25519.PrivateKeySize {
		return false
	}
	digest := sha512.Sum512(priv[:ed25519.SeedSize])
	defer clear(digest[:])
	if _, err := kp.scalar.SetBytesWithClamping(digest[:32]); err != nil {
		return false
	}
	pub := new(edwards25519.Point).ScalarBaseMult(&kp.scalar).Bytes()
	if subtle.ConstantTimeCompare(pub, priv[ed25519.SeedSize:]) != 1 {
		return false
	}
	copy(kp.pub[:], pub)
	return true
}

// setSeed derives the key pair from a 32-byte Ed25519 seed.
func (kp *keyPair) setSeed(seed []byte) {
	digest := sha512.Sum512(seed)
	defer clear(digest[:])
	if _, err := kp.scalar.SetBytesWithClamping(digest[:32]); err != nil {
		panic(err) // only for input that is not 32 bytes
	}
	copy(kp.pub[:], new(edwards25519.Point).ScalarBaseMult(&kp.scalar).Bytes())
}

// wipe clears the secret scalar.
func (kp *keyPair) wipe() {
	kp.scalar = edwards25519.Scalar{}
}

// remoteKey is a peer's public key: the bytes as received (they are what is
// hashed) and the decoded point.
type remoteKey struct {
	raw [pubLen]byte
	pt  edwards25519.Point
	set bool
}

// lMinusOne is the group order L minus one, little endian; [L-1]P + P is
// the identity exactly when P lies in the prime-order subgroup.
var lMinusOne = func() *edwards25519.Scalar {
	b := [32]byte{
		0xec, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58,
		0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
	}
	s, err := new(edwards25519.Scalar).SetCanonicalBytes(b[:])
	if err != nil {
		panic(err)
	}
	return s
}()

// setBytes decodes and validates a peer's public key with the rules
// libsodium's crypto_scalarmult_ed25519_noclamp applies (which
// noise-curve-ed uses, and which makes the JS handshake fail): the
// y-coordinate must be canonical, the point must decode, must not be of
// small order and must lie in the prime-order subgroup.
func (rk *remoteKey) setBytes(b []byte) bool {
	rk.set = false
	if len(b) != pubLen || !canonicalY(b) {
		return false
	}
	if _, err := rk.pt.SetBytes(b); err != nil {
		return false
	}
	id := edwards25519.NewIdentityPoint()
	if rk.pt.Equal(id) == 1 {
		return false
	}
	// The point is public, so a variable-time multiplication is fine.
	var q edwards25519.Point
	q.VarTimeDoubleScalarBaseMult(lMinusOne, &rk.pt, edwards25519.NewScalar())
	q.Add(&q, &rk.pt)
	if q.Equal(id) != 1 {
		return false
	}
	copy(rk.raw[:], b)
	rk.set = true
	return true
}

// canonicalY reports whether the encoded y-coordinate (sign bit ignored)
// is below the field prime 2^255-19.
func canonicalY(b []byte) bool {
	if b[31]&0x7f != 0x7f {
		return true
	}
	for i := 30; i > 0; i-- {
		if b[i] != 0xff {
			return true
		}
	}
	return b[0] < 0xed
}

// dh is noise-curve-ed's Diffie-Hellman: the local secret scalar times the
// remote point, encoded as a 32-byte Ed25519 point.
func dh(local *keyPair, remote *remoteKey) ([pubLen]byte, bool) {
	var out [pubLen]byte
	if !remote.set {
		return out, false
	}
	var q edwards25519.Point
	q.ScalarMult(&local.scalar, &remote.pt)
	if q.Equal(edwards25519.NewIdentityPoint()) == 1 {
		return out, false
	}
	copy(out[:], q.Bytes())
	return out, true
}

// DH is noise-curve-ed's Diffie-Hellman on Ed25519 keys: the clamped
// secret scalar of priv (derived from its seed as Ed25519 signing does)
// times the point remote, returned as a 32-byte point encoding. It fails
// with ErrConfig for a malformed private key and ErrBadKey for a remote key
// libsodium would reject (non-canonical, not on the curve, small order, or
// outside the prime-order subgroup).
func DH(priv ed25519.PrivateKey, remote []byte) ([32]byte, error) {
	var kp keyPair
	if !kp.setPrivate(priv) {
		return [32]byte{}, ErrConfig
	}
	defer kp.wipe()
	var rk remoteKey
	if !rk.setBytes(remote) {
		return [32]byte{}, ErrBadKey
	}
	out, ok := dh(&kp, &rk)
	if !ok {
		return [32]byte{}, ErrBadKey
	}
	return out, nil
}
