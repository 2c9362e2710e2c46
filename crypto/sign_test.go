package crypto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"testing"

	"filippo.io/edwards25519"
)

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 8032 section 7.1, test 2 (one-byte message).
func TestSignRFC8032(t *testing.T) {
	seed := mustHex(t, "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb")
	wantPub := mustHex(t, "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c")
	wantSig := mustHex(t, "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da"+
		"085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00")
	kp, err := KeyPairFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(kp.PublicKey, wantPub) {
		t.Fatalf("public key %x", kp.PublicKey)
	}
	if !bytes.Equal(kp.SecretKey[:32], seed) || !bytes.Equal(kp.SecretKey[32:], wantPub) {
		t.Fatalf("secret key layout %x", kp.SecretKey)
	}
	sig := Sign([]byte{0x72}, kp.SecretKey)
	if !bytes.Equal(sig, wantSig) {
		t.Fatalf("signature %x", sig)
	}
	if !Verify([]byte{0x72}, sig, kp.PublicKey) {
		t.Fatal("valid signature rejected")
	}
	if Verify([]byte{0x73}, sig, kp.PublicKey) {
		t.Fatal("signature of another message accepted")
	}
	bad := bytes.Clone(sig)
	bad[10] ^= 1
	if Verify([]byte{0x72}, bad, kp.PublicKey) {
		t.Fatal("tampered signature accepted")
	}
	if Verify([]byte{0x72}, sig[:63], kp.PublicKey) || Verify([]byte{0x72}, append(bytes.Clone(sig), 0), kp.PublicKey) {
		t.Fatal("signature of wrong length accepted")
	}
	if Verify([]byte{0x72}, sig, kp.PublicKey[:31]) || Verify([]byte{0x72}, sig, nil) {
		t.Fatal("public key of wrong length accepted")
	}
}

func TestKeyPairs(t *testing.T) {
	for _, n := range []int{0, 31, 33, 64} {
		if _, err := KeyPairFromSeed(make([]byte, n)); err != ErrSeedSize {
			t.Fatalf("seed of %d bytes: %v", n, err)
		}
	}
	a, err := NewKeyPair()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewKeyPair()
	if bytes.Equal(a.PublicKey, b.PublicKey) {
		t.Fatal("two random key pairs are equal")
	}
	if !ValidateKeyPair(a) || !ValidateKeyPair(b) {
		t.Fatal("fresh key pair not valid")
	}
	if ValidateKeyPair(KeyPair{PublicKey: a.PublicKey, SecretKey: b.SecretKey}) {
		t.Fatal("mixed key pair valid")
	}
	if ValidateKeyPair(KeyPair{PublicKey: a.PublicKey, SecretKey: a.SecretKey[:32]}) {
		t.Fatal("short secret key valid")
	}
	// Like hypercore-crypto, only the public half of the secret key counts.
	odd := bytes.Clone(a.SecretKey)
	copy(odd[:32], b.SecretKey[:32])
	if !ValidateKeyPair(KeyPair{PublicKey: a.PublicKey, SecretKey: odd}) {
		t.Fatal("validation re-derived the key from the seed")
	}
}

// forge builds signatures the way a hostile peer could.
type forge struct {
	a   *edwards25519.Scalar // secret scalar
	pub []byte
}

func newForge(t testing.TB, seed byte) forge {
	h := sha512.Sum512(bytes.Repeat([]byte{seed}, 32))
	a, err := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	if err != nil {
		t.Fatal(err)
	}
	return forge{a: a, pub: new(edwards25519.Point).ScalarBaseMult(a).Bytes()}
}

func challenge(r, pub, msg []byte) *edwards25519.Scalar {
	h := sha512.New()
	h.Write(r)
	h.Write(pub)
	h.Write(msg)
	k, _ := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
	return k
}

// sign with a chosen nonce scalar r and public key bytes pub (which may
// carry a torsion component the scalar a does not account for).
func (f forge) sign(r *edwards25519.Scalar, pub, msg []byte) []byte {
	R := new(edwards25519.Point).ScalarBaseMult(r).Bytes()
	k := challenge(R, pub, msg)
	s := edwards25519.NewScalar().MultiplyAdd(k, f.a, r)
	return append(R, s.Bytes()...)
}

var order8 = smallOrder[2][:]

func TestVerifyHostile(t *testing.T) {
	msg := []byte("hostile")
	f := newForge(t, 7)
	identity := edwards25519.NewIdentityPoint().Bytes()
	zero := make([]byte, 32)

	// R is the identity: S = k*a makes the equation hold.
	rID := f.sign(edwards25519.NewScalar(), f.pub, msg)
	if !bytes.Equal(rID[:32], identity) {
		t.Fatal("forge: R is not the identity")
	}
	if !ed25519.Verify(f.pub, msg, rID) {
		t.Fatal("forge: stdlib rejects identity-R signature")
	}
	if Verify(msg, rID, f.pub) {
		t.Fatal("signature with small-order R accepted")
	}

	// The identity public key with R = identity, S = 0 verifies for every
	// message under plain RFC 8032 rules; libsodium rejects it.
	idSig := append(bytes.Clone(identity), zero...)
	if !ed25519.Verify(identity, msg, idSig) {
		t.Fatal("stdlib rejects identity key")
	}
	if Verify(msg, idSig, identity) {
		t.Fatal("identity public key accepted")
	}
	// The same with the sign bit set on the key.
	neg := bytes.Clone(identity)
	neg[31] |= 0x80
	if Verify(msg, idSig, neg) {
		t.Fatal("identity public key with sign bit accepted")
	}
	// An order-8 key.
	if Verify(msg, append(bytes.Clone(order8), zero...), order8) {
		t.Fatal("order-8 key accepted")
	}

	// S + L is not canonical; pick a nonce whose S leaves room below 2^253.
	found := false
	for r := uint64(1); r < 100 && !found; r++ {
		good := f.sign(scalarOf(r), f.pub, msg)
		if !Verify(msg, good, f.pub) {
			t.Fatal("forged honest signature rejected")
		}
		nc, ok := addOrder(good[32:])
		if !ok {
			continue
		}
		found = true
		bad := append(bytes.Clone(good[:32]), nc...)
		if Verify(msg, bad, f.pub) || ed25519.Verify(f.pub, msg, bad) {
			t.Fatal("non-canonical S accepted")
		}
	}
	if !found {
		t.Fatal("no S small enough to add L")
	}

	// A mixed-order key A + T8: cofactorless verification passes exactly
	// when the challenge is a multiple of 8. libsodium accepts those.
	T, err := new(edwards25519.Point).SetBytes(order8)
	if err != nil {
		t.Fatal(err)
	}
	A, _ := new(edwards25519.Point).SetBytes(f.pub)
	mixed := new(edwards25519.Point).Add(A, T).Bytes()
	var accepted, rejected bool
	for i := 0; i < 200 && !(accepted && rejected); i++ {
		m := []byte{byte(i), 'm'}
		sig := f.sign(scalarOf(uint64(i+1)), mixed, m)
		k := challenge(sig[:32], mixed, m).Bytes()
		want := k[0]%8 == 0
		if got := Verify(m, sig, mixed); got != want {
			t.Fatalf("mixed-order key, challenge mod 8 = %d: Verify = %v", k[0]%8, got)
		}
		accepted = accepted || want
		rejected = rejected || !want
	}
	if !accepted || !rejected {
		t.Fatal("mixed-order search found no case of each kind")
	}
}

func scalarOf(n uint64) *edwards25519.Scalar {
	var b [32]byte
	for i := 0; i < 8; i++ {
		b[i] = byte(n >> (8 * i))
	}
	s, _ := edwards25519.NewScalar().SetCanonicalBytes(b[:])
	return s
}

// groupOrder is L = 2^252 + 27742317777372353535851937790883648493, little endian.
var groupOrder = [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}

// addOrder returns s + L if it still fits in 253 bits.
func addOrder(s []byte) ([]byte, bool) {
	out := make([]byte, 32)
	carry := 0
	for i := range 32 {
		v := int(s[i]) + int(groupOrder[i]) + carry
		out[i] = byte(v)
		carry = v >> 8
	}
	return out, carry == 0 && out[31]&0xe0 == 0
}

func TestPointChecks(t *testing.T) {
	for i, e := range smallOrder {
		if !hasSmallOrder(e[:]) {
			t.Fatalf("entry %d not small order", i)
		}
		s := e
		s[31] |= 0x80
		if !hasSmallOrder(s[:]) {
			t.Fatalf("entry %d with sign bit not small order", i)
		}
	}
	// The list holds exactly the small-order points: check each decodes to
	// a point killed by the cofactor.
	for i, e := range smallOrder[:5] {
		p, err := new(edwards25519.Point).SetBytes(e[:])
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		if p.MultByCofactor(p).Equal(edwards25519.NewIdentityPoint()) != 1 {
			t.Fatalf("entry %d is not of small order", i)
		}
	}
	if hasSmallOrder(newForge(t, 1).pub) {
		t.Fatal("ordinary key reported small order")
	}
	p := bytes.Repeat([]byte{0xff}, 32)
	p[31] = 0x7f
	for _, c := range []struct {
		low       byte
		canonical bool
	}{{0xec, true}, {0xed, false}, {0xee, false}, {0xff, false}, {0x00, true}} {
		s := bytes.Clone(p)
		s[0] = c.low
		if isCanonicalPoint(s) != c.canonical {
			t.Fatalf("y low byte %#x: canonical = %v", c.low, !c.canonical)
		}
		s[31] |= 0x80
		if isCanonicalPoint(s) != c.canonical {
			t.Fatalf("y low byte %#x with sign: canonical = %v", c.low, !c.canonical)
		}
	}
	almost := bytes.Clone(p)
	almost[15] = 0xfe
	almost[0] = 0xff
	if !isCanonicalPoint(almost) {
		t.Fatal("value below p reported non-canonical")
	}
	// y = p + 2 (non-canonical 2) is rejected even though 2 is not small order.
	yp2 := bytes.Clone(p)
	yp2[0] = 0xef
	if isCanonicalPoint(yp2) {
		t.Fatal("p+2 reported canonical")
	}
}

func FuzzVerify(f *testing.F) {
	kp, _ := KeyPairFromSeed(bytes.Repeat([]byte{1}, 32))
	sig := Sign([]byte("m"), kp.SecretKey)
	f.Add([]byte("m"), sig, []byte(kp.PublicKey))
	f.Add([]byte("m"), make([]byte, 64), make([]byte, 32))
	f.Add([]byte{}, bytes.Repeat([]byte{0xff}, 64), bytes.Repeat([]byte{0xff}, 32))
	f.Fuzz(func(t *testing.T, msg, sig, pub []byte) {
		ok := Verify(msg, sig, pub)
		if ok && (len(sig) != 64 || len(pub) != 32) {
			t.Fatal("accepted wrong lengths")
		}
		if ok && !ed25519.Verify(pub, msg, sig) {
			t.Fatal("accepted what RFC 8032 rejects")
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	kp, _ := KeyPairFromSeed(bytes.Repeat([]byte{1}, 32))
	msg := make([]byte, 64)
	sig := Sign(msg, kp.SecretKey)
	b.ReportAllocs()
	for b.Loop() {
		if !Verify(msg, sig, kp.PublicKey) {
			b.Fatal("rejected")
		}
	}
}

func BenchmarkSign(b *testing.B) {
	kp, _ := KeyPairFromSeed(bytes.Repeat([]byte{1}, 32))
	msg := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		Sign(msg, kp.SecretKey)
	}
}
