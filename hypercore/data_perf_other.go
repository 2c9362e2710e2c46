//go:build !linux

package hypercore

import "os"

// writeBlocksAt writes bs one after the other from off.
func writeBlocksAt(f *os.File, bs [][]byte, off int64) error {
	return writeBlocksAtEach(f, bs, off)
}
