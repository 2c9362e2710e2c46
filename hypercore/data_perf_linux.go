//go:build linux

package hypercore

import (
	"os"

	"golang.org/x/sys/unix"
)

// maxIOV is how many buffers one pwritev takes (Linux's IOV_MAX).
const maxIOV = 1024

// writeBlocksAt writes bs one after the other from off with pwritev, so a
// batch of blocks reaches the file without being copied into one buffer.
func writeBlocksAt(f *os.File, bs [][]byte, off int64) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return writeBlocksAtEach(f, bs, off)
	}
	for len(bs) > 0 {
		chunk := bs[:min(len(bs), maxIOV)]
		bs = bs[len(chunk):]
		want := 0
		for _, b := range chunk {
			want += len(b)
		}
		var n int
		var werr error
		if err := rc.Write(func(fd uintptr) bool {
			n, werr = unix.Pwritev(int(fd), chunk, off)
			return true
		}); err != nil {
			return err
		}
		if werr != nil && werr != unix.EINTR {
			return &os.PathError{Op: "pwritev", Path: f.Name(), Err: werr}
		}
		if n < want {
			// A short write (or EINTR): write what is left the plain way.
			if err := writeBlocksAtEach(f, skipBytes(chunk, max(n, 0)), off+int64(max(n, 0))); err != nil {
				return err
			}
		}
		off += int64(want)
	}
	return nil
}

// skipBytes returns bs without its first n bytes.
func skipBytes(bs [][]byte, n int) [][]byte {
	for len(bs) > 0 && n >= len(bs[0]) {
		n -= len(bs[0])
		bs = bs[1:]
	}
	if len(bs) == 0 {
		return nil
	}
	out := append([][]byte{bs[0][n:]}, bs[1:]...)
	return out
}
