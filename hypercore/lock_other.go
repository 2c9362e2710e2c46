//go:build !unix

package hypercore

import "os"

// lockFile opens path; on systems without flock the store relies on
// pebble's own lock of its directory.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
