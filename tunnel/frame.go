package tunnel

import (
	"encoding/binary"
	"errors"
	"io"
)

// UDP tunnels carry each datagram on the DHT connection's byte stream as
// one frame: its length as a 4-byte big-endian integer, then its bytes.
// This is the framing of holesail 2.4 (@holesail/hyper-cmd-lib-net 1.1),
// which sends the frames over the reliable secret stream, not as
// unreliable UDX messages, so datagrams arrive in order and none is lost
// between the two ends of the tunnel.

// MaxDatagram is the largest datagram a UDP tunnel carries, the most a
// UDP length field can say. A frame announcing more is an error (holesail
// would buffer whatever length it is told).
const MaxDatagram = 65535

// frameHeader is the size of a frame's length prefix.
const frameHeader = 4

// ErrFrameTooLarge means a UDP tunnel peer announced a datagram longer
// than MaxDatagram.
var ErrFrameTooLarge = errors.New("tunnel: UDP frame longer than 65535 bytes")

// appendFrame appends the frame of datagram p to dst.
func appendFrame(dst, p []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(p)))
	return append(dst, p...)
}

// frameReader reads datagram frames from a byte stream.
type frameReader struct {
	r   io.Reader
	hdr [frameHeader]byte
	buf []byte
}

func newFrameReader(r io.Reader) *frameReader {
	return &frameReader{r: r}
}

// next returns the next datagram, valid until the following call. It
// returns io.EOF when the stream ends between frames,
// io.ErrUnexpectedEOF when it ends inside one, and ErrFrameTooLarge for a
// length over MaxDatagram.
func (f *frameReader) next() ([]byte, error) {
	if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(f.hdr[:])
	if n > MaxDatagram {
		return nil, ErrFrameTooLarge
	}
	if cap(f.buf) < int(n) {
		// Grow to what is needed, not to the maximum at once: most
		// datagrams are small.
		f.buf = make([]byte, min(max(int(n), 2*cap(f.buf), 2048), MaxDatagram))
	}
	p := f.buf[:n]
	if _, err := io.ReadFull(f.r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return p, nil
}
