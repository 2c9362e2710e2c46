package secretstream

import (
	"context"
	"errors"
	"io"
	"testing"
)

// BenchmarkTCPBulk measures Write to Read over TCP loopback: the whole frame
// path, both ends, the kernel in between.
func BenchmarkTCPBulk(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			c, s := handshakePair(b, nil, nil)
			msg := make([]byte, size)
			done := make(chan error, 1)
			go func() {
				buf := make([]byte, 256<<10)
				for {
					_, err := s.Read(buf)
					if err != nil {
						if errors.Is(err, io.EOF) {
							err = nil
						}
						done <- err
						return
					}
				}
			}()
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
			}
			c.CloseWrite()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkWriteFrame measures the sending frame path alone (the raw conn
// discards what it is given).
func BenchmarkWriteFrame(b *testing.B) {
	for _, size := range []int{64, 1 << 10, 64 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			_, resp := testKeys()
			c, err := FromHandshake(&memConn{r: nil}, resp, nil)
			if err != nil {
				b.Fatal(err)
			}
			msg := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.WriteMessage(msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// replayConn serves the same recorded frames over and over; the reading
// Conn's pull state is reset to match at each rewind.
type replayConn struct {
	memConn
	data   []byte
	off    int
	rewind func()
}

func (r *replayConn) Read(p []byte) (int, error) {
	if r.off == len(r.data) {
		r.off = 0
		r.rewind()
	}
	n := copy(p, r.data[r.off:])
	r.off += n
	return n, nil
}

// BenchmarkReadFrame measures the receiving frame path alone: raw reads
// from memory, open, and the copy out of Read.
func BenchmarkReadFrame(b *testing.B) {
	for _, size := range []int{64, 1 << 10, 64 << 10} {
		b.Run(byteSize(size), func(b *testing.B) {
			ini, resp := testKeys()
			var p rawPeer
			stream := p.header(ini, nil)
			body := len(stream)
			for range 64 {
				stream = append(stream, p.frame(make([]byte, size))...)
			}
			rc := &replayConn{data: stream}
			c, err := FromHandshake(rc, resp, nil)
			if err != nil {
				b.Fatal(err)
			}
			if err := c.Handshake(context.Background()); err != nil { // reads the header
				b.Fatal(err)
			}
			start := c.pull
			rc.rewind = func() {
				rc.off = body
				c.pull = start
			}
			buf := make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
