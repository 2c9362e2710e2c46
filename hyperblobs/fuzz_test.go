package hyperblobs

import (
	"encoding/json"
	"testing"
)

func FuzzDecodeID(f *testing.F) {
	f.Add([]byte(`{"blockOffset":1,"byteOffset":100,"blockLength":4,"byteLength":196625}`))
	f.Add([]byte(`{"blockOffset":0,"byteOffset":0,"blockLength":1,"byteLength":3,"blockMap":true}`))
	f.Add([]byte(`{"blockOffset":1e3}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := DecodeID(b)
		if err != nil {
			return
		}
		// A decoded ID re-encodes to JSON that decodes to the same ID.
		j, _ := json.Marshal(id)
		id2, err := DecodeID(j)
		if err != nil || id2 != id {
			t.Fatalf("%s -> %+v -> %s -> %+v %v", b, id, j, id2, err)
		}
	})
}

func FuzzDecodeBlockMap(f *testing.F) {
	for _, p := range EncodeBlockMap([]MapBlock{{1, 2}, {300, 65536}}) {
		f.Add(p)
	}
	f.Add([]byte{0, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeBlockMap([][]byte{b})
		if err != nil {
			return
		}
		back, err := DecodeBlockMap(EncodeBlockMap(m))
		if err != nil || len(back) != len(m) {
			t.Fatalf("round trip of %x: %v", b, err)
		}
	})
}
