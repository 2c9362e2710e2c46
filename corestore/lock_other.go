//go:build !unix

package corestore

import "os"

// lockFile opens path; without flock the per-core locks of hypercore are
// the only guard against a second process.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
