package protomux

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

type rwc struct {
	io.Reader
	io.Writer
}

func (rwc) Close() error { return nil }

func TestFramedRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := Framed(rwc{Writer: &buf})
	msgs := [][]byte{{}, []byte("a"), bytes.Repeat([]byte{7}, 70000), []byte("end")}
	for _, m := range msgs {
		if err := w.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.HasPrefix(buf.Bytes(), []byte{0, 0, 0, 1, 0, 0, 'a', 0x70, 0x11, 0x01}) {
		t.Fatalf("wire %x", buf.Bytes()[:10])
	}
	r := Framed(rwc{Reader: &buf})
	for _, m := range msgs {
		got, err := r.ReadMessage()
		if err != nil || !bytes.Equal(got, m) {
			t.Fatalf("got %d bytes, %v", len(got), err)
		}
	}
	if _, err := r.ReadMessage(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
	if err := w.WriteMessage(make([]byte, MaxFrame+1)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatal(err)
	}
}

func TestFramedTruncated(t *testing.T) {
	r := Framed(rwc{Reader: bytes.NewReader([]byte{5, 0, 0, 'a', 'b'})})
	if _, err := r.ReadMessage(); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err %v", err)
	}
}

func FuzzFramed(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 0, 'a'})
	f.Add([]byte{0xff, 0xff, 0xff, 1})
	f.Add([]byte{2, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		r := Framed(rwc{Reader: bytes.NewReader(data)})
		var msgs [][]byte
		for {
			m, err := r.ReadMessage()
			if err != nil {
				break
			}
			msgs = append(msgs, bytes.Clone(m))
		}
		// Re-encoding what was read gives a prefix of the input.
		var buf bytes.Buffer
		w := Framed(rwc{Writer: &buf})
		for _, m := range msgs {
			if err := w.WriteMessage(m); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.HasPrefix(data, buf.Bytes()) {
			t.Fatalf("re-encoding %x is not a prefix of %x", buf.Bytes(), data)
		}
	})
}
