package corestore

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/hypercore"
)

// TestSharedStorageLayout: every core's records go to the one database
// under storage/, each core directory holds only block data, and the cores
// read back after the store is reopened.
func TestSharedStorageLayout(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, &Options{PrimaryKey: testPK})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var dks [][32]byte
	for i := range 5 {
		c, err := s.Get(ctx, GetOptions{Name: fmt.Sprint("core-", i)})
		if err != nil {
			t.Fatal(err)
		}
		for j := range i + 1 {
			if _, err := c.Append([]byte(fmt.Sprintf("%d/%d", i, j))); err != nil {
				t.Fatal(err)
			}
		}
		dks = append(dks, c.DiscoveryKey())
		c.Close()
	}
	if _, err := os.Stat(filepath.Join(dir, "storage", "db")); err != nil {
		t.Fatalf("no shared database: %v", err)
	}
	for _, dk := range dks {
		if _, err := os.Stat(filepath.Join(s.r.coreDir(dk), "db")); err == nil {
			t.Fatal("a core has a database of its own")
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, dir, testPK)
	list, err := s.List()
	if err != nil || len(list) != 5 {
		t.Fatalf("List = %d cores, %v", len(list), err)
	}
	for i, dk := range dks {
		c, err := s.Get(ctx, GetOptions{DiscoveryKey: dk[:]})
		if err != nil {
			t.Fatal(err)
		}
		if c.Length() != uint64(i+1) {
			t.Fatalf("core %d: length %d", i, c.Length())
		}
		v, err := c.Get(ctx, uint64(i), hypercore.GetOptions{})
		if err != nil || string(v) != fmt.Sprintf("%d/%d", i, i) {
			t.Fatalf("core %d: last block %q %v", i, v, err)
		}
		c.Close()
	}
}

// TestOwnDatabaseCore: a core directory with a database of its own (a
// store written before the shared database) still opens, by name.
func TestOwnDatabaseCore(t *testing.T) {
	dir := t.TempDir()
	kp, err := DeriveKeyPair(testPK, DefaultNamespace, "old")
	if err != nil {
		t.Fatal(err)
	}
	m := hypercore.DefaultManifest(kp.PublicKey)
	key := m.Hash()
	s := openStore(t, dir, testPK)
	old, err := hypercore.Open(s.r.coreDir(crypto.DiscoveryKey(key)), hypercore.Options{KeyPair: &kp})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Append([]byte("kept")); err != nil {
		t.Fatal(err)
	}
	old.Close()
	c, err := s.Get(t.Context(), GetOptions{Name: "old"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v, err := c.Get(t.Context(), 0, hypercore.GetOptions{}); err != nil || string(v) != "kept" {
		t.Fatalf("block 0 = %q %v", v, err)
	}
	if !c.Writable() {
		t.Fatal("core not writable")
	}
}

// TestSessionOutlivesStore: a session still open when the store closes
// keeps working, and a second Open of the directory meanwhile is refused.
func TestSessionOutlivesStore(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, &Options{PrimaryKey: testPK})
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.Get(t.Context(), GetOptions{Name: "live"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Append([]byte("after close")); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, &Options{PrimaryKey: testPK}); !errors.Is(err, ErrLocked) {
		t.Fatalf("Open while a session uses the storage: %v", err)
	}
	c.Close()
	s = openStore(t, dir, testPK)
	c, err = s.Get(t.Context(), GetOptions{Name: "live"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Length() != 1 {
		t.Fatalf("length %d after reopen", c.Length())
	}
}
