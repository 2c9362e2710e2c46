package corestore

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// The primary key file: a 4-byte magic, a version byte and the 32-byte key.
const (
	primaryKeyFile    = "primary-key"
	primaryKeyVersion = 1
	primaryKeyLen     = 4 + 1 + 32
)

var primaryKeyMagic = []byte("WCSK")

// encodePrimaryKey returns the stored form of key.
func encodePrimaryKey(key [32]byte) []byte {
	b := make([]byte, 0, primaryKeyLen)
	b = append(b, primaryKeyMagic...)
	b = append(b, primaryKeyVersion)
	return append(b, key[:]...)
}

// decodePrimaryKey parses the stored form of a primary key.
func decodePrimaryKey(b []byte) ([32]byte, error) {
	var key [32]byte
	if len(b) != primaryKeyLen || !bytes.Equal(b[:4], primaryKeyMagic) {
		return key, fmt.Errorf("%w: primary key file", ErrCorrupt)
	}
	if b[4] != primaryKeyVersion {
		return key, fmt.Errorf("%w: primary key file version %d", ErrCorrupt, b[4])
	}
	copy(key[:], b[5:])
	return key, nil
}

// loadOrCreatePrimaryKey reads the primary key of the store in dir, or
// stores want (or a random key when want is nil) if there is none yet.
func loadOrCreatePrimaryKey(dir string, want []byte, random func() []byte) ([32]byte, error) {
	path := filepath.Join(dir, primaryKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		key, err := decodePrimaryKey(b)
		if err != nil {
			return key, err
		}
		if want != nil && !bytes.Equal(want, key[:]) {
			return key, ErrPrimaryKeyMismatch
		}
		return key, nil
	}
	if !os.IsNotExist(err) {
		return [32]byte{}, err
	}
	var key [32]byte
	if want != nil {
		copy(key[:], want)
	} else {
		copy(key[:], random())
	}
	if err := writeFileSync(dir, path, encodePrimaryKey(key)); err != nil {
		return key, err
	}
	return key, nil
}

// writeFileSync writes data to path through a synced temporary file and a
// rename, then syncs dir, so a crash leaves either no file or the whole one.
func writeFileSync(dir, path string, data []byte) error {
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
