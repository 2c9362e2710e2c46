package secretstream

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"testing"

	"golang.org/x/crypto/chacha20"
	"golang.org/x/crypto/poly1305" //nolint:staticcheck // reference implementation in a test only
)

type sodiumVectors struct {
	Generator string `json:"generator"`
	Cases     []struct {
		Name    string  `json:"name"`
		Key     string  `json:"key"`
		Header  string  `json:"header"`
		Counter *uint32 `json:"counter"`
		Msgs    []struct {
			Tag byte   `json:"tag"`
			M   string `json:"m"`
			C   string `json:"c"`
		} `json:"msgs"`
	} `json:"cases"`
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadVectors(t *testing.T) sodiumVectors {
	t.Helper()
	raw, err := os.ReadFile("testdata/sodium_vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v sodiumVectors
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Cases) == 0 {
		t.Fatal("no vectors")
	}
	return v
}

// sealMessage pushes m with tag through s using the in-place frame layout
// and returns the secretstream ciphertext.
func sealMessage(s *sodiumState, m []byte, tag byte) []byte {
	frame := make([]byte, blockBytes+len(m)+macBytes)
	copy(frame[blockBytes:], m)
	s.seal(frame, tag)
	return frame[headroom:]
}

// openMessage pulls one secretstream ciphertext through s.
func openMessage(s *sodiumState, c []byte) (byte, []byte, error) {
	frame := make([]byte, headroom+len(c))
	copy(frame[headroom:], c)
	tag, m, err := s.open(frame)
	return tag, append([]byte(nil), m...), err
}

func vectorState(t *testing.T, key, header string, counter *uint32) *sodiumState {
	var k [32]byte
	var h [sodiumHeaderBytes]byte
	copy(k[:], unhex(t, key))
	copy(h[:], unhex(t, header))
	s := new(sodiumState)
	s.init(&k, &h)
	if counter != nil {
		binary.LittleEndian.PutUint32(s.nonce[:4], *counter)
	}
	return s
}

// TestSodiumVectors checks push and pull against libsodium's own output
// (sodium-native), including every tag, rekeying and the counter wrap.
func TestSodiumVectors(t *testing.T) {
	v := loadVectors(t)
	for _, tc := range v.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			push := vectorState(t, tc.Key, tc.Header, tc.Counter)
			pull := vectorState(t, tc.Key, tc.Header, tc.Counter)
			for i, msg := range tc.Msgs {
				m, want := unhex(t, msg.M), unhex(t, msg.C)
				if got := sealMessage(push, m, msg.Tag); !bytes.Equal(got, want) {
					t.Fatalf("push %d: got %x want %x", i, got, want)
				}
				tag, got, err := openMessage(pull, want)
				if err != nil {
					t.Fatalf("pull %d: %v", i, err)
				}
				if tag != msg.Tag || !bytes.Equal(got, m) {
					t.Fatalf("pull %d: tag %d msg %x, want tag %d msg %x", i, tag, got, msg.Tag, m)
				}
			}
		})
	}
}

// refPush is libsodium's push written out step by step with the raw
// ChaCha20 stream and Poly1305, to check the AEAD shortcut on random input.
func refPush(key *[32]byte, nonce *[12]byte, m []byte, tag byte) []byte {
	var block [64]byte
	c, _ := chacha20.NewUnauthenticatedCipher(key[:], nonce[:])
	c.XORKeyStream(block[:], block[:])
	var pk [32]byte
	copy(pk[:], block[:32])
	mac := poly1305.New(&pk)
	block = [64]byte{tag}
	c.SetCounter(1)
	c.XORKeyStream(block[:], block[:])
	out := make([]byte, 1+len(m)+16)
	out[0] = block[0]
	c.SetCounter(2)
	c.XORKeyStream(out[1:1+len(m)], m)
	mac.Write(block[:])
	mac.Write(out[1 : 1+len(m)])
	var pad [16]byte
	mac.Write(pad[:(0x10-64+len(m))&0xf]) // libsodium's padding, not RFC 8439's
	var lens [16]byte
	binary.LittleEndian.PutUint64(lens[8:], uint64(64+len(m)))
	mac.Write(lens[:])
	mac.Sum(out[1+len(m) : 1+len(m)])
	return out
}

func TestSodiumMatchesReference(t *testing.T) {
	var key [32]byte
	var header [sodiumHeaderBytes]byte
	rand.Read(key[:])
	rand.Read(header[:])
	var s sodiumState
	s.init(&key, &header)
	for i := 0; i < 300; i++ {
		m := make([]byte, i*7%400)
		rand.Read(m)
		tag := byte(i % 4)
		k, n := s.key, s.nonce
		want := refPush(&k, &n, m, tag)
		if got := sealMessage(&s, m, tag); !bytes.Equal(got, want) {
			t.Fatalf("message %d (len %d tag %d): got %x want %x", i, len(m), tag, got, want)
		}
	}
}

// TestSodiumRejects checks that a forged, truncated, replayed or reordered
// message fails and leaves the pull state as it was.
func TestSodiumRejects(t *testing.T) {
	var key [32]byte
	var header [sodiumHeaderBytes]byte
	rand.Read(key[:])
	rand.Read(header[:])
	var push, pull sodiumState
	push.init(&key, &header)
	pull.init(&key, &header)

	c1 := sealMessage(&push, []byte("first message"), tagMessage)
	c2 := sealMessage(&push, []byte("second"), tagMessage)

	for i := range c1 {
		bad := bytes.Clone(c1)
		bad[i] ^= 0x10
		if _, _, err := openMessage(&pull, bad); !errors.Is(err, errAuth) {
			t.Fatalf("flipped byte %d: err %v", i, err)
		}
	}
	if _, _, err := openMessage(&pull, c1[:len(c1)-1]); !errors.Is(err, errAuth) {
		t.Fatalf("truncated: err %v", err)
	}
	if _, _, err := openMessage(&pull, c1[:sodiumABytes-1]); !errors.Is(err, errAuth) {
		t.Fatalf("too short: err %v", err)
	}
	if _, _, err := openMessage(&pull, c2); !errors.Is(err, errAuth) {
		t.Fatalf("out of order: err %v", err)
	}
	if _, m, err := openMessage(&pull, c1); err != nil || string(m) != "first message" {
		t.Fatalf("state changed by failures: %q %v", m, err)
	}
	if _, _, err := openMessage(&pull, c1); !errors.Is(err, errAuth) {
		t.Fatalf("replay: err %v", err)
	}
	if _, m, err := openMessage(&pull, c2); err != nil || string(m) != "second" {
		t.Fatalf("second: %q %v", m, err)
	}
}

func BenchmarkSodiumSeal(b *testing.B) {
	for _, size := range []int{64, 1024, 65536} {
		b.Run(byteSize(size), func(b *testing.B) {
			var key [32]byte
			var header [sodiumHeaderBytes]byte
			var s sodiumState
			s.init(&key, &header)
			frame := make([]byte, blockBytes+size+macBytes)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				s.seal(frame, tagMessage)
			}
		})
	}
}

func BenchmarkSodiumOpen(b *testing.B) {
	for _, size := range []int{64, 1024, 65536} {
		b.Run(byteSize(size), func(b *testing.B) {
			var key [32]byte
			var header [sodiumHeaderBytes]byte
			var push, pull sodiumState
			push.init(&key, &header)
			pull.init(&key, &header)
			// Keep both states in step and time only open.
			frame := make([]byte, blockBytes+size+macBytes)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				push.seal(frame, tagMessage)
				b.StartTimer()
				if _, _, err := pull.open(frame); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func byteSize(n int) string {
	switch {
	case n >= 1<<20:
		return itoa(n>>20) + "MiB"
	case n >= 1<<10:
		return itoa(n>>10) + "KiB"
	}
	return itoa(n) + "B"
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}
