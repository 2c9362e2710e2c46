//go:build !unix

package flock

import "os"

// Lock opens the file at path. Systems without flock get no advisory lock:
// callers must rely on other guards (Pebble locks its own directory).
func Lock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
