//go:build unix

package flock

import (
	"errors"
	"os"
	"syscall"
)

// Lock opens (creating if needed) the file at path and takes an exclusive,
// non-blocking flock on it, held for as long as the returned file stays
// open. If another process holds the lock it returns ErrLocked.
func Lock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrLocked
		}
		return nil, err
	}
	return f, nil
}
