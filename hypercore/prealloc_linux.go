//go:build linux

package hypercore

import (
	"os"
	"syscall"
)

// preallocate reserves the data file's blocks up to size. Writing into
// reserved space is far cheaper than growing the file write by write.
// Failure (a file system without fallocate) is harmless.
func preallocate(f *os.File, size int64) {
	_ = syscall.Fallocate(int(f.Fd()), 0, 0, size)
}
