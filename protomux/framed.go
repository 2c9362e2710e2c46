package protomux

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"sync"
)

// MessageConn carries whole messages: one WriteMessage on one side is one
// ReadMessage on the other. secretstream connections implement it.
type MessageConn interface {
	// ReadMessage returns the next message. The slice is valid until the
	// next call to ReadMessage.
	ReadMessage() ([]byte, error)
	// WriteMessage sends p as one message.
	WriteMessage(p []byte) error
	// Close closes the connection, unblocking ReadMessage and WriteMessage.
	Close() error
}

// A MessageConn that also has WriteMessages(msgs [][]byte) error (as
// secretstream connections do) is handed every run of queued messages in
// one call, so it can send them with one write to the network. Each message
// must still arrive as its own message.
type batchWriter interface {
	WriteMessages(msgs [][]byte) error
}

// MaxFrame is the largest message Framed can carry (the uint24 length).
const MaxFrame = 1<<24 - 1

// ErrMessageTooLarge is returned by a Framed connection's WriteMessage for
// a message longer than MaxFrame.
var ErrMessageTooLarge = errors.New("protomux: message larger than a uint24 frame")

// Framed turns a byte stream into a MessageConn by prefixing every message
// with its length as a little-endian uint24, the framing
// @hyperswarm/secret-stream uses on the wire. Reads may be called from one
// goroutine at a time; writes are safe from any goroutine.
func Framed(rw io.ReadWriteCloser) MessageConn {
	return &framed{rw: rw, r: bufio.NewReaderSize(rw, 64*1024)}
}

type framed struct {
	rw  io.ReadWriteCloser
	r   *bufio.Reader
	buf []byte
	hdr [3]byte

	wmu  sync.Mutex
	wbuf []byte
}

func (f *framed) ReadMessage() ([]byte, error) {
	if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
		return nil, err
	}
	n := int(f.hdr[0]) | int(f.hdr[1])<<8 | int(f.hdr[2])<<16
	if cap(f.buf) < n {
		f.buf = make([]byte, n)
	}
	b := f.buf[:n]
	if _, err := io.ReadFull(f.r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("protomux: reading frame: %w", err)
	}
	return b, nil
}

// smallFrame is the size up to which header and payload are copied into
// one buffer and written with a single Write.
const smallFrame = 64 * 1024

func (f *framed) WriteMessage(p []byte) error {
	if len(p) > MaxFrame {
		return ErrMessageTooLarge
	}
	f.wmu.Lock()
	defer f.wmu.Unlock()
	hdr := [3]byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16)}
	if len(p) <= smallFrame {
		f.wbuf = append(append(f.wbuf[:0], hdr[:]...), p...)
		_, err := f.rw.Write(f.wbuf)
		return err
	}
	if _, err := f.rw.Write(hdr[:]); err != nil {
		return err
	}
	_, err := f.rw.Write(p)
	return err
}

func (f *framed) Close() error { return f.rw.Close() }
