package crypto

import (
	"bytes"
	"errors"
	"testing"
)

func TestSealedBox(t *testing.T) {
	kp, err := EncryptionKeyPairFromSeed(bytes.Repeat([]byte{5}, 32))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := EncryptionKeyPairFromSeed(bytes.Repeat([]byte{5}, 32))
	if !bytes.Equal(kp.PublicKey, again.PublicKey) || !bytes.Equal(kp.SecretKey, again.SecretKey) {
		t.Fatal("seeded key pair not deterministic")
	}
	if _, err := EncryptionKeyPairFromSeed(make([]byte, 31)); !errors.Is(err, ErrSeedSize) {
		t.Fatalf("short seed: %v", err)
	}
	for _, msg := range [][]byte{nil, []byte("secret"), make([]byte, 5000)} {
		c, err := Encrypt(msg, kp.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != len(msg)+SealOverhead {
			t.Fatalf("ciphertext of %d bytes for %d", len(c), len(msg))
		}
		c2, _ := Encrypt(msg, kp.PublicKey)
		if bytes.Equal(c, c2) {
			t.Fatal("two seals are equal")
		}
		m, err := Decrypt(c, kp)
		if err != nil || !bytes.Equal(m, msg) {
			t.Fatalf("open: %v %x", err, m)
		}
		for _, i := range []int{0, 31, 32, 47, len(c) - 1} {
			bad := bytes.Clone(c)
			bad[i] ^= 1
			if _, err := Decrypt(bad, kp); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("byte %d flipped: %v", i, err)
			}
		}
	}
	other, _ := NewEncryptionKeyPair()
	c, _ := Encrypt([]byte("x"), kp.PublicKey)
	if _, err := Decrypt(c, other); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := Decrypt(c[:SealOverhead-1], kp); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("short: %v", err)
	}
	if _, err := Decrypt(c, EncryptionKeyPair{PublicKey: kp.PublicKey}); !errors.Is(err, ErrBoxKey) {
		t.Fatalf("no secret key: %v", err)
	}
	// A small-order recipient key gives an all-zero shared secret, which
	// libsodium refuses; so is an ephemeral key of small order.
	if _, err := Encrypt([]byte("x"), make([]byte, 32)); !errors.Is(err, ErrBoxKey) {
		t.Fatalf("zero public key: %v", err)
	}
	if _, err := Encrypt([]byte("x"), make([]byte, 31)); !errors.Is(err, ErrBoxKey) {
		t.Fatalf("short public key: %v", err)
	}
	lowOrder := make([]byte, SealOverhead+1)
	lowOrder[0] = 1
	if _, err := Decrypt(lowOrder, kp); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("low-order ephemeral key: %v", err)
	}
}

func FuzzDecrypt(f *testing.F) {
	kp, _ := EncryptionKeyPairFromSeed(bytes.Repeat([]byte{5}, 32))
	c, _ := Encrypt([]byte("hello"), kp.PublicKey)
	f.Add(c)
	f.Add(make([]byte, SealOverhead))
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, c []byte) {
		m, err := Decrypt(c, kp)
		if err == nil && len(m) != len(c)-SealOverhead {
			t.Fatalf("opened %d bytes from %d", len(m), len(c))
		}
	})
}
