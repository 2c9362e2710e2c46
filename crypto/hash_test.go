package crypto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strconv"
	"testing"

	"golang.org/x/crypto/blake2b"
)

func TestHash(t *testing.T) {
	// BLAKE2b-256 of the empty string.
	empty := mustHex(t, "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8")
	if h := Hash(); !bytes.Equal(h[:], empty) {
		t.Fatalf("Hash() = %x", h)
	}
	if h := Hash(nil, []byte{}); !bytes.Equal(h[:], empty) {
		t.Fatalf("Hash(nil, empty) = %x", h)
	}
	want := blake2b.Sum256([]byte("hello world"))
	if got := Hash([]byte("hello"), []byte(" "), []byte("world")); got != want {
		t.Fatalf("batched hash %x, want %x", got, want)
	}
	// Reused pooled state must not leak between calls.
	if got := Hash([]byte("hello world")); got != want {
		t.Fatalf("second hash %x", got)
	}
}

func TestKeyedHash(t *testing.T) {
	key := bytes.Repeat([]byte{9}, 32)
	h, _ := blake2b.New256(key)
	h.Write([]byte("abc"))
	got, err := KeyedHash(key, []byte("a"), []byte("bc"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:], h.Sum(nil)) {
		t.Fatalf("keyed hash %x", got)
	}
	for _, n := range []int{0, 1, 15, 65} {
		if _, err := KeyedHash(make([]byte, n), nil); !errors.Is(err, ErrHashKeySize) {
			t.Fatalf("key of %d bytes: %v", n, err)
		}
	}
	for _, n := range []int{16, 64} {
		if _, err := KeyedHash(make([]byte, n), nil); err != nil {
			t.Fatalf("key of %d bytes: %v", n, err)
		}
	}
}

func TestHashSize(t *testing.T) {
	for _, n := range []int{0, 15, 65} {
		if err := HashSize(make([]byte, n), nil, []byte("x")); !errors.Is(err, ErrHashSize) {
			t.Fatalf("output of %d bytes: %v", n, err)
		}
	}
	if err := HashSize(make([]byte, 32), make([]byte, 8), nil); !errors.Is(err, ErrHashKeySize) {
		t.Fatalf("8-byte key: %v", err)
	}
	out := make([]byte, 64)
	if err := HashSize(out, nil, []byte("x")); err != nil {
		t.Fatal(err)
	}
	want := blake2b.Sum512([]byte("x"))
	if !bytes.Equal(out, want[:]) {
		t.Fatalf("64-byte hash %x", out)
	}
	out = make([]byte, 24)
	key := make([]byte, 16)
	if err := HashSize(out, key, []byte("x")); err != nil {
		t.Fatal(err)
	}
	h, _ := blake2b.New(24, key)
	h.Write([]byte("x"))
	if !bytes.Equal(out, h.Sum(nil)) {
		t.Fatalf("24-byte keyed hash %x", out)
	}
}

func TestDiscoveryKey(t *testing.T) {
	var pub [32]byte
	copy(pub[:], bytes.Repeat([]byte{0xab}, 32))
	h, _ := blake2b.New256(pub[:])
	h.Write([]byte("hypercore"))
	got := DiscoveryKey(pub)
	if !bytes.Equal(got[:], h.Sum(nil)) {
		t.Fatalf("discovery key %x", got)
	}
}

func TestNamespace(t *testing.T) {
	name := []byte("corestore")
	ns := Namespace(name, 3)
	if len(ns) != 3 {
		t.Fatalf("%d keys", len(ns))
	}
	root := blake2b.Sum256(name)
	for i, got := range ns {
		want := blake2b.Sum256(append(root[:], byte(i)))
		if got != want {
			t.Fatalf("key %d = %x, want %x", i, got, want)
		}
	}
	ids := NamespaceIDs(name, []byte{2, 0})
	if ids[0] != ns[2] || ids[1] != ns[0] {
		t.Fatal("explicit ids differ from counted ones")
	}
	if len(Namespace(name, 0)) != 0 || len(Namespace(name, -1)) != 0 {
		t.Fatal("empty namespace not empty")
	}
	big := Namespace(name, 258)
	if big[256] != big[0] || big[257] != big[1] || big[255] == big[0] {
		t.Fatal("ids do not wrap at 256 as in JavaScript")
	}
	if Namespace([]byte("other"), 1)[0] == ns[0] {
		t.Fatal("different names gave the same key")
	}
}

func TestRandomBytes(t *testing.T) {
	a, b := RandomBytes(32), RandomBytes(32)
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Fatalf("random bytes %x %x", a, b)
	}
	if len(RandomBytes(0)) != 0 {
		t.Fatal("zero length")
	}
}

func leafRef(data []byte) [32]byte {
	b := []byte{0}
	b = binary.LittleEndian.AppendUint64(b, uint64(len(data)))
	return blake2b.Sum256(append(b, data...))
}

func TestLeafHash(t *testing.T) {
	for _, n := range []int{0, 1, 100, leafInline - 1, leafInline, leafInline + 1, 65536, 1 << 20} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i * 7)
		}
		if got, want := LeafHash(data), leafRef(data); got != want {
			t.Fatalf("leaf of %d bytes: %x, want %x", n, got, want)
		}
	}
	if LeafHash(nil) != LeafHash([]byte{}) {
		t.Fatal("nil and empty leaves differ")
	}
}

func TestParentAndTreeHash(t *testing.T) {
	a := TreeNode{Index: 0, Size: 3, Hash: LeafHash([]byte("abc"))}
	b := TreeNode{Index: 2, Size: 2, Hash: LeafHash([]byte("de"))}
	ref := []byte{1}
	ref = binary.LittleEndian.AppendUint64(ref, 5)
	ref = append(ref, a.Hash[:]...)
	ref = append(ref, b.Hash[:]...)
	want := blake2b.Sum256(ref)
	if got := ParentHash(a, b); got != want {
		t.Fatalf("parent %x, want %x", got, want)
	}
	if got := ParentHash(b, a); got != want {
		t.Fatal("parent depends on argument order")
	}
	p := TreeNode{Index: 1, Size: 5, Hash: want}
	c := TreeNode{Index: 4, Size: 1, Hash: LeafHash([]byte("f"))}
	ref = []byte{2}
	for _, r := range []TreeNode{p, c} {
		ref = append(ref, r.Hash[:]...)
		ref = binary.LittleEndian.AppendUint64(ref, r.Index)
		ref = binary.LittleEndian.AppendUint64(ref, r.Size)
	}
	if got := TreeHash([]TreeNode{p, c}); got != blake2b.Sum256(ref) {
		t.Fatalf("tree %x", got)
	}
	if TreeHash([]TreeNode{c, p}) == TreeHash([]TreeNode{p, c}) {
		t.Fatal("tree hash ignores root order")
	}
	if got := TreeHash(nil); got != blake2b.Sum256([]byte{2}) {
		t.Fatalf("empty tree %x", got)
	}
}

func TestHashAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	small := make([]byte, 1024)
	large := make([]byte, 64*1024)
	n := TreeNode{Index: 1, Size: 2}
	roots := []TreeNode{n, n, n}
	for name, f := range map[string]func(){
		"Hash":           func() { Hash(small, large) },
		"LeafHash small": func() { LeafHash(small) },
		"LeafHash large": func() { LeafHash(large) },
		"ParentHash":     func() { ParentHash(n, n) },
		"TreeHash":       func() { TreeHash(roots) },
	} {
		f() // fill the pool
		if a := testing.AllocsPerRun(100, f); a != 0 {
			t.Errorf("%s: %v allocations per call", name, a)
		}
	}
}

func BenchmarkLeafHash(b *testing.B) {
	for _, size := range []int{0, 1024, 4096, 65536} {
		data := make([]byte, size)
		b.Run(byteSize(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				LeafHash(data)
			}
		})
	}
}

func BenchmarkParentHash(b *testing.B) {
	x, y := TreeNode{Index: 0, Size: 1}, TreeNode{Index: 2, Size: 1}
	b.ReportAllocs()
	for b.Loop() {
		ParentHash(x, y)
	}
}

func BenchmarkTreeHash(b *testing.B) {
	roots := make([]TreeNode, 8)
	b.ReportAllocs()
	for b.Loop() {
		TreeHash(roots)
	}
}

func BenchmarkHash(b *testing.B) {
	data := make([]byte, 1024)
	b.SetBytes(1024)
	b.ReportAllocs()
	for b.Loop() {
		Hash(data)
	}
}

func byteSize(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return strconv.Itoa(n/1024) + "KiB"
	}
	return strconv.Itoa(n) + "B"
}
