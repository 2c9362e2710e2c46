package protomux

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/warrenp2p/warren/compact"
)

// maxSafeUint is the largest integer a JS number holds exactly; JS
// compact-encoding refuses to decode a varint above it.
const maxSafeUint = 1<<53 - 1

// putUint writes n as a compact-encoding varint at the start of b and
// returns the number of bytes written. b must have room for compact.UintSize(n).
func putUint(b []byte, n uint64) int {
	switch {
	case n <= 0xfc:
		b[0] = byte(n)
		return 1
	case n <= 0xffff:
		b[0] = 0xfd
		binary.LittleEndian.PutUint16(b[1:], uint16(n))
		return 3
	case n <= 0xffffffff:
		b[0] = 0xfe
		binary.LittleEndian.PutUint32(b[1:], uint32(n))
		return 5
	}
	b[0] = 0xff
	binary.LittleEndian.PutUint64(b[1:], n)
	return 9
}

// appendUint appends n as a compact-encoding varint to b.
func appendUint(b []byte, n uint64) []byte {
	l := len(b)
	b = slices.Grow(b, 9)[:l+compact.UintSize(n)]
	putUint(b[l:], n)
	return b
}

// reader decodes the protomux framing from buf[start:end].
type reader struct {
	buf        []byte
	start, end int
}

func truncated(what string) error {
	return fmt.Errorf("%w: %s: %w", ErrProtocol, what, compact.ErrTruncated)
}

// uint reads a varint exactly as JS c.uint does: non-minimal forms are
// accepted and values above 2^53-1 are an error.
func (r *reader) uint() (uint64, error) {
	if r.start >= r.end {
		return 0, truncated("varint")
	}
	a := r.buf[r.start]
	r.start++
	var n int
	switch {
	case a <= 0xfc:
		return uint64(a), nil
	case a == 0xfd:
		n = 2
	case a == 0xfe:
		n = 4
	default:
		n = 8
	}
	if r.end-r.start < n {
		return 0, truncated("varint")
	}
	b := r.buf[r.start : r.start+n]
	r.start += n
	switch n {
	case 2:
		return uint64(binary.LittleEndian.Uint16(b)), nil
	case 4:
		return uint64(binary.LittleEndian.Uint32(b)), nil
	}
	v := binary.LittleEndian.Uint64(b)
	if v > maxSafeUint {
		return 0, fmt.Errorf("%w: varint above 2^53-1: %w", ErrProtocol, compact.ErrOverflow)
	}
	return v, nil
}

// string reads a length-prefixed UTF-8 string (malformed UTF-8 becomes
// U+FFFD as in JS).
func (r *reader) string() (string, error) {
	// Validate the length with the JS varint rules first.
	save := r.start
	if _, err := r.uint(); err != nil {
		return "", err
	}
	r.start = save
	s := compact.State{Start: r.start, End: r.end, Buf: r.buf}
	v, err := compact.String.Decode(&s)
	if err != nil {
		return "", fmt.Errorf("%w: string: %w", ErrProtocol, err)
	}
	r.start = s.Start
	return v, nil
}

// optionalBuffer reads a length-prefixed buffer where length 0 means nil.
// The result aliases the input.
func (r *reader) optionalBuffer() ([]byte, error) {
	n, err := r.uint()
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, nil
	}
	if uint64(r.end-r.start) < n {
		return nil, truncated("buffer")
	}
	b := r.buf[r.start : r.start+int(n)]
	r.start += int(n)
	return b, nil
}

// rest returns the unread bytes and consumes them.
func (r *reader) rest() []byte {
	b := r.buf[r.start:r.end]
	r.start = r.end
	return b
}
