package tunnel

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/keyid"
)

func TestParseKey(t *testing.T) {
	seed := bytes.Repeat([]byte{3}, 32)
	kp, _ := crypto.KeyPairFromSeed(seed)
	z := keyid.ZBase32Encode(seed)
	secret := "0123456789abcdef0123456789abcdef0123456789abcdef"
	sum := sha256.Sum256([]byte(secret))
	skp, _ := crypto.KeyPairFromSeed(sum[:])

	// A bare z32 key in Auto mode: the seed, the text as a holesail
	// secret, then the public key.
	zsum := sha256.Sum256([]byte(z))
	zkp, _ := crypto.KeyPairFromSeed(zsum[:])
	keys, err := ParseKey(z, Auto)
	if err != nil || len(keys) != 3 {
		t.Fatalf("%v %v", keys, err)
	}
	if !keys[0].Private() || !bytes.Equal(keys[0].PublicKey, kp.PublicKey) ||
		!keys[1].Private() || !bytes.Equal(keys[1].PublicKey, zkp.PublicKey) ||
		keys[2].Private() || !bytes.Equal(keys[2].PublicKey, seed) {
		t.Fatalf("auto readings %+v", keys)
	}
	// 64 hex digits, as holesail's generated private keys: the secret
	// reading first, then the seed.
	hx := hex.EncodeToString(seed)
	hsum := sha256.Sum256([]byte(hx))
	hkp, _ := crypto.KeyPairFromSeed(hsum[:])
	if keys, err := ParseKey(hx, Private); err != nil || len(keys) != 2 || !bytes.Equal(keys[0].PublicKey, hkp.PublicKey) || !bytes.Equal(keys[1].PublicKey, kp.PublicKey) {
		t.Fatalf("hex private: %+v %v", keys, err)
	}
	if keys, err := ParseKey(z, Public); err != nil || len(keys) != 1 || keys[0].Private() {
		t.Fatalf("public: %+v %v", keys, err)
	}
	// Private hs:// URL: SHA-256 of the secret, as holesail.
	keys, err = ParseKey(URL(true, secret), Auto)
	if err != nil || len(keys) != 1 || !bytes.Equal(keys[0].PublicKey, skp.PublicKey) || !bytes.Equal(keys[0].Seed, sum[:]) {
		t.Fatalf("private url: %+v %v", keys, err)
	}
	pkz := keyid.ZBase32Encode(kp.PublicKey)
	keys, err = ParseKey(URL(false, pkz), Auto)
	if err != nil || len(keys) != 1 || keys[0].Private() || !bytes.Equal(keys[0].PublicKey, kp.PublicKey) {
		t.Fatalf("public url: %+v %v", keys, err)
	}
	if _, err := ParseKey(URL(false, pkz), Private); err == nil {
		t.Fatal("public URL accepted in private mode")
	}
	// A secret that is no key reads as a holesail secret.
	keys, err = ParseKey(secret+"xyz", Auto)
	if err != nil || len(keys) != 1 || !keys[0].Private() {
		t.Fatalf("secret: %+v %v", keys, err)
	}
	if _, err := ParseKey(secret+"xyz", Public); err == nil {
		t.Fatal("secret accepted in public mode")
	}
	if _, err := ParseKey("  ", Auto); err != ErrEmptyKey {
		t.Fatalf("empty: %v", err)
	}
}

func TestCheckSecret(t *testing.T) {
	if err := CheckSecret("short", false); err != ErrShortSecret {
		t.Fatal(err)
	}
	if err := CheckSecret("short", true); err != nil {
		t.Fatal(err)
	}
	if err := CheckSecret(string(bytes.Repeat([]byte("k"), 32)), false); err != nil {
		t.Fatal(err)
	}
	s, err := NewSecret()
	if err != nil || len(s) != 64 || CheckSecret(s, false) != nil {
		t.Fatalf("%q %v", s, err)
	}
}

func TestRecordJSON(t *testing.T) {
	for _, c := range []struct {
		r    Record
		want string
	}{
		{Record{Host: "127.0.0.1", Port: 8080}, `{"host":"127.0.0.1","port":8080}`},
		{Record{Host: "a<b", Port: 1, UDP: true}, `{"host":"a<b","udp":true,"port":1}`},
	} {
		if got := string(c.r.Encode()); got != c.want {
			t.Fatalf("encode %+v: %s, want %s", c.r, got, c.want)
		}
		back, err := DecodeRecord([]byte(c.want))
		if err != nil || back != c.r {
			t.Fatalf("decode %s: %+v %v", c.want, back, err)
		}
	}
	// holesail-server library callers may store the port as a string.
	if r, err := DecodeRecord([]byte(`{"host":"localhost","udp":false,"port":"3000"}`)); err != nil || r.Port != 3000 || r.Host != "localhost" {
		t.Fatalf("%+v %v", r, err)
	}
	for _, bad := range []string{``, `[]`, `{"port":70000}`, `{"port":"x"}`, `{"host":5}`, `{"port":1.5}`} {
		if _, err := DecodeRecord([]byte(bad)); err == nil {
			t.Errorf("%s decoded", bad)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add([]byte(`{"host":"127.0.0.1","port":8080}`))
	f.Add([]byte(`{"host":"x","udp":true,"port":"1"}`))
	f.Add([]byte(`{"port":-1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err != nil {
			return
		}
		if r.Port < 0 || r.Port > 65535 {
			t.Fatalf("port %d", r.Port)
		}
		// What decodes re-encodes to something that decodes the same.
		back, err := DecodeRecord(r.Encode())
		if err != nil || back != r {
			t.Fatalf("round trip %+v: %+v %v", r, back, err)
		}
	})
}

type fakeStream struct {
	net.Conn
	ka time.Duration
}

func (f *fakeStream) SetKeepAlive(d time.Duration) { f.ka = d }

type fakeSecure struct {
	net.Conn
	raw *fakeStream
}

func (f *fakeSecure) NetConn() net.Conn { return f.raw }

func TestKeepAliveOnDHTConns(t *testing.T) {
	raw := &fakeStream{}
	keepAlive(&fakeSecure{raw: raw})
	if raw.ka != KeepAlive {
		t.Fatalf("keepalive %v, want %v", raw.ka, KeepAlive)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	keepAlive(a) // no NetConn: left alone, no panic
}

func FuzzParseKey(f *testing.F) {
	f.Add("hs://s000secret", 0)
	f.Add("hs://0000ybndrfg8ejkmcpqxot1uwisza345h769ybndrfg8ejkmcpqx", 1)
	f.Add(strings.Repeat("ab", 32), 2)
	f.Add("hs://", 0)
	f.Fuzz(func(t *testing.T, s string, mode int) {
		keys, err := ParseKey(s, Mode(uint(mode)%3))
		if err != nil {
			return
		}
		if len(keys) == 0 {
			t.Fatal("no readings and no error")
		}
		for _, k := range keys {
			if len(k.PublicKey) != 32 || (k.Seed != nil && len(k.Seed) != 32) {
				t.Fatalf("reading %+v", k)
			}
		}
	})
}
