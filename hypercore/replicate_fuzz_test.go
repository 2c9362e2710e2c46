package hypercore

import (
	"bytes"
	"reflect"
	"testing"
)

// FuzzReplicateMessages decodes the cancel, extension, want and bitfield
// messages: no panic, and what decodes re-encodes to the same message.
func FuzzReplicateMessages(f *testing.F) {
	f.Add(byte(0), encodeCancel(Cancel{Request: 300}))
	f.Add(byte(1), encodeExtension(ExtensionMessage{Name: "hyperbee", Message: []byte{1, 2, 3}}))
	f.Add(byte(1), encodeExtension(ExtensionMessage{Message: []byte("again")}))
	f.Add(byte(2), encodeWant(Want{Start: 1 << 21, Length: 1 << 21}))
	f.Add(byte(2), encodeWant(Want{Start: 5, Length: 9, Any: true}))
	f.Add(byte(3), encodeBitfield(Bitfield{Start: 64, Bitfield: []uint32{0xffff0000, 1}}))
	f.Fuzz(func(t *testing.T, kind byte, b []byte) {
		switch kind % 4 {
		case 0:
			if m, err := decodeCancel(b); err == nil {
				if m2, err := decodeCancel(encodeCancel(m)); err != nil || m2 != m {
					t.Fatal("cancel round trip")
				}
			}
		case 1:
			if m, err := decodeExtension(b); err == nil {
				m2, err := decodeExtension(encodeExtension(m))
				if err != nil || m2.Name != m.Name || !bytes.Equal(m2.Message, m.Message) {
					t.Fatal("extension round trip")
				}
			}
		case 2:
			if m, err := decodeWant(b); err == nil {
				if m2, err := decodeWant(encodeWant(m)); err != nil || m2 != m {
					t.Fatal("want round trip")
				}
			}
		case 3:
			if m, err := decodeBitfield(b); err == nil {
				m2, err := decodeBitfield(encodeBitfield(m))
				if err != nil || m2.Start != m.Start || len(m2.Bitfield) != len(m.Bitfield) || (len(m.Bitfield) > 0 && !reflect.DeepEqual(m2.Bitfield, m.Bitfield)) {
					t.Fatal("bitfield round trip")
				}
			}
		}
	})
}
