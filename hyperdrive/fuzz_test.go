package hyperdrive

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzDecodeValue: entry values come from peers. Decoding never panics, and
// what decodes re-encodes to a value that decodes the same way.
func FuzzDecodeValue(f *testing.F) {
	f.Add([]byte(`{"executable":false,"linkname":null,"blob":{"blockOffset":3,"byteOffset":7,"blockLength":1,"byteLength":5},"metadata":null}`))
	f.Add([]byte(`{"executable":true,"linkname":"/a","blob":null,"metadata":{"a":[1,2,{"b":null}]}}`))
	f.Add([]byte(`{"blob":{"blockMap":true,"blockLength":2}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeValue(b)
		if err != nil {
			return
		}
		enc, err := EncodeValue(e)
		if err != nil {
			// Metadata that Go's decoder took but the JS-style encoder
			// rejects would be a bug: both parse JSON.
			t.Fatalf("decoded %s but cannot re-encode: %v", b, err)
		}
		e2, err := DecodeValue(enc)
		if err != nil || e2.Executable != e.Executable || e2.Linkname != e.Linkname || (e.Blob == nil) != (e2.Blob == nil) {
			t.Fatalf("re-encoded %s decodes as %+v %v", enc, e2, err)
		}
		enc2, _ := EncodeValue(e2)
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("not a fixed point:\n%s\n%s", enc, enc2)
		}
	})
}

// FuzzCanonicalJSON: the JSON.stringify re-encoder accepts what
// encoding/json accepts, emits valid JSON, and is idempotent.
func FuzzCanonicalJSON(f *testing.F) {
	f.Add([]byte(`{"10":1,"2":[1.5e300,-0,"\u2028"],"a":{"a":1,"a":2}}`))
	f.Add([]byte(`"\ud800"`))
	f.Fuzz(func(t *testing.T, b []byte) {
		out, err := canonicalJSON(b)
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("%s -> invalid %s", b, out)
		}
		again, err := canonicalJSON(out)
		if err != nil || !bytes.Equal(again, out) {
			t.Fatalf("not idempotent: %s -> %s -> %s %v", b, out, again, err)
		}
	})
}

// FuzzResolve: paths (and symlink targets) come from peers.
func FuzzResolve(f *testing.F) {
	f.Add("/a/b", "../c")
	f.Add(`c:\x`, "http://h/y")
	f.Fuzz(func(t *testing.T, base, p string) {
		r, err := Resolve(base, p)
		if err != nil {
			return
		}
		if r == "" || r[0] != '/' || (len(r) > 1 && r[len(r)-1] == '/') || bytes.Contains([]byte(r), []byte("//")) {
			t.Fatalf("Resolve(%q, %q) = %q", base, p, r)
		}
		if again, err := Resolve("/", r); err != nil || again != r {
			t.Fatalf("not idempotent: %q -> %q %v", r, again, err)
		}
	})
}
