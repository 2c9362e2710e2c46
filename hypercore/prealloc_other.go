//go:build !linux

package hypercore

import "os"

// preallocate does nothing where fallocate is not available.
func preallocate(*os.File, int64) {}
