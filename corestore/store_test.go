package corestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/hypercore"
	"github.com/warrenp2p/warren/secretstream"
)

var testPK = bytes.Repeat([]byte{7}, 32)

func openStore(t *testing.T, dir string, pk []byte) *Store {
	t.Helper()
	s, err := Open(dir, &Options{PrimaryKey: pk})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestDerivationDistinct(t *testing.T) {
	a, _ := DeriveKeyPair(testPK, DefaultNamespace, "a")
	b, _ := DeriveKeyPair(testPK, DefaultNamespace, "b")
	ns := DeriveNamespace(DefaultNamespace, "x")
	a2, _ := DeriveKeyPair(testPK, ns, "a")
	a3, _ := DeriveKeyPair(bytes.Repeat([]byte{8}, 32), DefaultNamespace, "a")
	again, _ := DeriveKeyPair(testPK, DefaultNamespace, "a")
	if !bytes.Equal(a.PublicKey, again.PublicKey) {
		t.Fatal("derivation not deterministic")
	}
	for _, o := range []crypto.KeyPair{b, a2, a3} {
		if bytes.Equal(a.PublicKey, o.PublicKey) {
			t.Fatal("different inputs gave the same key pair")
		}
	}
	if ns == DefaultNamespace || DeriveNamespace(ns, "y") == DeriveNamespace(DefaultNamespace, "y") {
		t.Fatal("namespaces do not nest")
	}
}

func TestGetNamedPersists(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, &Options{PrimaryKey: testPK})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := s.Get(ctx, GetOptions{Name: "log"})
	if err != nil {
		t.Fatal(err)
	}
	kp, _ := s.KeyPair("log")
	if want := hypercore.DefaultManifest(kp.PublicKey).Hash(); c.Key() != want {
		t.Fatalf("key %x, want manifest hash %x", c.Key(), want)
	}
	if !c.Writable() || c.Info().Compat {
		t.Fatal("named core should be a writable v1 manifest core")
	}
	if _, err := c.Append([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	c2, err := s.Get(ctx, GetOptions{Name: "log"})
	if err != nil || c2.Core != c.Core {
		t.Fatalf("second get: %v, same core %v", err, c2 != nil && c2.Core == c.Core)
	}
	other, err := s.Namespace("ns").Get(ctx, GetOptions{Name: "log"})
	if err != nil || other.Key() == c.Key() {
		t.Fatalf("namespaced get: %v", err)
	}
	key := c.Key()
	c.Close()
	c2.Close()
	other.Close()

	if _, err := Open(dir, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second open: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, &Options{PrimaryKey: bytes.Repeat([]byte{1}, 32)}); !errors.Is(err, ErrPrimaryKeyMismatch) {
		t.Fatalf("open with other key: %v", err)
	}
	s = openStore(t, dir, nil)
	if !bytes.Equal(s.PrimaryKey(), testPK) {
		t.Fatal("primary key not persisted")
	}
	c, err = s.Get(ctx, GetOptions{Key: key[:], NoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v, err := c.Get(ctx, 0, hypercore.GetOptions{}); err != nil || string(v) != "hello" {
		t.Fatalf("block 0 = %q, %v", v, err)
	}
	if !c.Writable() {
		t.Fatal("reopened named core lost its key pair")
	}
	if _, err := s.Get(ctx, GetOptions{Name: "missing", NoCreate: true}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("NoCreate of missing core: %v", err)
	}
	if _, err := s.Get(ctx, GetOptions{}); !errors.Is(err, ErrNoKey) {
		t.Fatalf("empty get: %v", err)
	}
}

func TestRandomPrimaryKey(t *testing.T) {
	a := openStore(t, t.TempDir(), nil)
	b := openStore(t, t.TempDir(), nil)
	if bytes.Equal(a.PrimaryKey(), b.PrimaryKey()) || len(a.PrimaryKey()) != 32 {
		t.Fatal("random primary keys equal or wrong size")
	}
	if _, err := Open(t.TempDir(), &Options{PrimaryKey: []byte{1}}); !errors.Is(err, ErrPrimaryKey) {
		t.Fatalf("short primary key: %v", err)
	}
}

// pipePair returns two handshaken secret-stream connections over net.Pipe.
func pipePair(t *testing.T) (*secretstream.Conn, *secretstream.Conn) {
	t.Helper()
	a, b := net.Pipe()
	ca, cb := secretstream.Client(a, nil), secretstream.Server(b, nil)
	return ca, cb
}

func replicatePair(t *testing.T, sa, sb *Store) (*Replication, *Replication) {
	t.Helper()
	ca, cb := pipePair(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	type res struct {
		r   *Replication
		err error
	}
	ch := make(chan res, 1)
	go func() { r, err := sb.Replicate(ctx, cb); ch <- res{r, err} }()
	ra, err := sa.Replicate(ctx, ca)
	if err != nil {
		t.Fatal(err)
	}
	rb := <-ch
	if rb.err != nil {
		t.Fatal(rb.err)
	}
	t.Cleanup(func() { ra.Close(); rb.r.Close(); <-ra.Done(); <-rb.r.Done() })
	return ra, rb.r
}

func waitBlocks(t *testing.T, c *hypercore.Session, prefix string, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range n {
		v, err := c.Get(ctx, uint64(i), hypercore.GetOptions{Wait: true})
		if err != nil || string(v) != fmt.Sprintf("%s-%d", prefix, i) {
			t.Fatalf("block %d = %q, %v", i, v, err)
		}
	}
}

// TestReplicateManyCores: several cores replicate over one stream, cores
// the reader opens later join it, and a core the writer has only on disk is
// opened when the reader asks for it.
func TestReplicateManyCores(t *testing.T) {
	ctx := context.Background()
	wdir := t.TempDir()
	w := openStore(t, wdir, testPK)
	names := []string{"a", "b", "c", "d"}
	keys := map[string][32]byte{}
	for _, n := range names {
		c, err := w.Get(ctx, GetOptions{Name: n})
		if err != nil {
			t.Fatal(err)
		}
		var blocks [][]byte
		for i := range 300 {
			blocks = append(blocks, []byte(fmt.Sprintf("%s-%d", n, i)))
		}
		if _, err := c.Append(blocks...); err != nil {
			t.Fatal(err)
		}
		keys[n] = c.Key()
		c.Close()
	}
	// Reopen the writer so that no core is open: every one must be opened
	// on demand.
	w.Close()
	w = openStore(t, wdir, nil)

	r := openStore(t, t.TempDir(), nil)
	var early []*hypercore.Session
	for _, n := range names[:2] {
		k := keys[n]
		c, err := r.Get(ctx, GetOptions{Key: k[:]})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		early = append(early, c)
	}
	replicatePair(t, r, w)
	for i, c := range early {
		waitBlocks(t, c, names[i], 300)
	}
	for _, n := range names[2:] {
		k := keys[n]
		c, err := r.Get(ctx, GetOptions{Key: k[:]})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		waitBlocks(t, c, n, 300)
	}
	// A core neither side stores is rejected, not created.
	other, _ := crypto.NewKeyPair()
	c, err := r.Get(ctx, GetOptions{KeyPair: &other})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(100 * time.Millisecond)
	if w.r.stored(c.DiscoveryKey()) {
		t.Fatal("writer created a core the remote asked for")
	}
}

func TestCloseEndsReplication(t *testing.T) {
	a := openStore(t, t.TempDir(), nil)
	b := openStore(t, t.TempDir(), nil)
	ra, rb := replicatePair(t, a, b)
	a.Close()
	select {
	case <-ra.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("replication did not end on store close")
	}
	select {
	case <-rb.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("remote replication did not end")
	}
	if _, err := a.Get(context.Background(), GetOptions{Name: "x"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}
}

func FuzzDecodePrimaryKey(f *testing.F) {
	f.Add(encodePrimaryKey([32]byte{1, 2, 3}))
	f.Add([]byte("WCSK"))
	f.Add(append([]byte("WCSK\x02"), make([]byte, 32)...))
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := decodePrimaryKey(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v is not ErrCorrupt", err)
			}
			return
		}
		if !bytes.Equal(encodePrimaryKey(k), b) {
			t.Fatal("round trip differs")
		}
	})
}

// TestVectorsCorestore7 pins keys corestore 7.12.5 derived for primary key
// 07*32 (interop/js/corestore-keys.js).
func TestVectorsCorestore7(t *testing.T) {
	s := openStore(t, t.TempDir(), testPK)
	for _, v := range []struct {
		ns        []string
		name      string
		pub, key  string
		namespace string
	}{
		{nil, "a", "b37d6317dbbb75b9ca3ca7833b01913cfe39a213e11e019265141d80624f82b4", "604c36703e6640aeca1c57b1bac6ca60fbd7fa041555ae20f499621a747e2ad0", "0000000000000000000000000000000000000000000000000000000000000000"},
		{[]string{"x", "y"}, "b", "f70b484b4c61d9bb634eae0aa7442ffcc2a59fe2dc6620ed1da85dfccdab438b", "cc46da56e2e32e363b02910b07d11d18498980f54711fbd5e5874b450d781d78", "0b7335ce80f0b3582275b39d56c0ee98968b3dcd52d96ecf1e9abf2d2b2a5b8f"},
	} {
		view := s
		for _, n := range v.ns {
			view = view.Namespace(n)
		}
		if ns := view.NamespaceKey(); fmt.Sprintf("%x", ns) != v.namespace {
			t.Errorf("%v: namespace %x", v.ns, ns)
		}
		c, err := view.Get(context.Background(), GetOptions{Name: v.name})
		if err != nil {
			t.Fatal(err)
		}
		kp, _ := view.KeyPair(v.name)
		if fmt.Sprintf("%x", kp.PublicKey) != v.pub {
			t.Errorf("%s: public key %x", v.name, kp.PublicKey)
		}
		if k := c.Key(); fmt.Sprintf("%x", k) != v.key {
			t.Errorf("%s: core key %x", v.name, k)
		}
		c.Close()
	}
}

func TestGetByKeyPairAndList(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, t.TempDir(), testPK)
	kp, _ := s.KeyPair("n")
	byName, err := s.Get(ctx, GetOptions{Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	defer byName.Close()
	byKP, err := s.Get(ctx, GetOptions{KeyPair: &kp})
	if err != nil {
		t.Fatal(err)
	}
	defer byKP.Close()
	if byKP.Core != byName.Core {
		t.Fatal("get by key pair opened another core than get by name")
	}
	dk := byName.DiscoveryKey()
	byDK, err := s.Get(ctx, GetOptions{DiscoveryKey: dk[:]})
	if err != nil || byDK.Core != byName.Core {
		t.Fatalf("get by discovery key: %v", err)
	}
	byDK.Close()
	other, err := s.Namespace("o").Get(ctx, GetOptions{Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	odk := other.DiscoveryKey()
	if len(list) != 2 || !((list[0] == dk && list[1] == odk) || (list[0] == odk && list[1] == dk)) {
		t.Fatalf("list %x", list)
	}
}

func FuzzParseCoreDir(f *testing.F) {
	f.Add(strings.Repeat("ab", 32))
	f.Add(strings.Repeat("AB", 32))
	f.Add("")
	f.Fuzz(func(t *testing.T, name string) {
		dk, ok := parseCoreDir(name)
		if ok && fmt.Sprintf("%x", dk) != name {
			t.Fatalf("%q parsed to %x", name, dk)
		}
	})
}
