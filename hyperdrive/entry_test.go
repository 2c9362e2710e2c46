package hyperdrive

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/warrenp2p/warren/hyperblobs"
)

// Vectors from unix-path-resolve 1.0.2: resolve('/', path).
func TestNormalizeVectors(t *testing.T) {
	for in, want := range map[string]string{
		"a": "/a", "/a": "/a", "a/b/": "/a/b", "//a//b": "/a/b", "a/./b": "/a/b",
		"a/../b": "/b", "../a": "ERR", "/a/..": "/", `a\b`: "/a/b", `\a`: "/a",
		"c:/x/y": "/x/y", `C:\x`: "/x", "file:/x": "/x", "file:///x": "/x",
		"http://host/x/y": "/x/y", "x://": "/", "é:/z": "/z", "a:": "/a:", ".": "/",
		"": "/", "/": "/", "a/b/../../..": "ERR", "...": "/...", " sp ace/ ": "/ sp ace/ ",
		"a/b/../..": "/",
	} {
		got, err := Resolve("/", in)
		if err != nil {
			got = "ERR"
		}
		if got != want {
			t.Errorf("Resolve(/, %q) = %q, want %q", in, got, want)
		}
		n, err := Normalize(in)
		if want == "/" || want == "ERR" {
			if err == nil {
				t.Errorf("Normalize(%q) = %q, want an error", in, n)
			}
		} else if n != want {
			t.Errorf("Normalize(%q) = %q %v", in, n, err)
		}
	}
	if got, _ := Resolve("/links/x", "../docs/a"); got != "/links/docs/a" {
		t.Errorf("relative resolve %q", got)
	}
}

// Vectors from node 20: JSON.stringify(JSON.parse(in)).
func TestCanonicalJSONVectors(t *testing.T) {
	for in, want := range map[string]string{
		`{"b":1,"a":2}`:              `{"b":1,"a":2}`,
		`{"10":1,"2":2,"a":3,"1":4}`: `{"1":4,"2":2,"10":1,"a":3}`,
		`[1.0, 1e21, 1e-7, 123456789012345678901234, 0.000001, -0, 5e-324, 1.5e300]`: `[1,1e+21,1e-7,1.2345678901234569e+23,0.000001,0,5e-324,1.5e+300]`,
		`"<&>\u2028\u0041\/"`:                    "\"<&>\u2028A/\"",
		`{"a":1,"b":2,"a":3}`:                    `{"a":3,"b":2}`,
		`{"x":"\u0000\u001f\u007f"}`:             "{\"x\":\"\\u0000\\u001f\x7f\"}",
		`1E2`:                                    `100`,
		`"\ud83d\ude00"`:                         `"😀"`,
		`{"4294967294":1,"4294967295":2,"01":3}`: `{"4294967294":1,"4294967295":2,"01":3}`,
		` { "a" : [ true , false , null ] } `:    `{"a":[true,false,null]}`,
		`"\b\f\n\r\t\"\\"`:                       `"\b\f\n\r\t\"\\"`,
	} {
		got, err := canonicalJSON([]byte(in))
		if err != nil || string(got) != want {
			t.Errorf("canonicalJSON(%s) = %s %v, want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{``, `{`, `{"a":1}x`, `[1,]`, `nul`, `{"a" 1}`} {
		if _, err := canonicalJSON([]byte(bad)); err == nil {
			t.Errorf("canonicalJSON(%q) accepted", bad)
		}
	}
}

func TestEncodeValueBytes(t *testing.T) {
	for _, tc := range []struct {
		e    Entry
		want string
	}{
		{Entry{Blob: &hyperblobs.ID{BlockOffset: 3, BlockLength: 1, ByteOffset: 7, ByteLength: 5}},
			`{"executable":false,"linkname":null,"blob":{"blockOffset":3,"byteOffset":7,"blockLength":1,"byteLength":5},"metadata":null}`},
		{Entry{Executable: true, Blob: &hyperblobs.ID{}, Metadata: json.RawMessage(`{"x": [1, "<"]}`)},
			`{"executable":true,"linkname":null,"blob":{"blockOffset":0,"byteOffset":0,"blockLength":0,"byteLength":0},"metadata":{"x":[1,"<"]}}`},
		{Entry{Linkname: "../a \"b\"\n"},
			`{"executable":false,"linkname":"../a \"b\"\n","blob":null,"metadata":null}`},
	} {
		got, err := EncodeValue(&tc.e)
		if err != nil || string(got) != tc.want {
			t.Errorf("EncodeValue(%+v) = %s %v\nwant %s", tc.e, got, err, tc.want)
		}
	}
	if _, err := EncodeValue(&Entry{Metadata: json.RawMessage(`{`)}); err == nil {
		t.Error("invalid metadata encoded")
	}
}

// TestEntryRoundTrip: random entries survive EncodeValue then DecodeValue,
// and re-encoding gives the same bytes.
func TestEntryRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	str := func() string {
		alphabet := []rune("ab/\\\"\n\x01é✓\u2028<&>😀 ")
		var sb strings.Builder
		for range r.IntN(12) {
			sb.WriteRune(alphabet[r.IntN(len(alphabet))])
		}
		return sb.String()
	}
	for i := range 2000 {
		e := &Entry{Executable: r.IntN(2) == 0}
		switch r.IntN(3) {
		case 0:
			e.Linkname = "x" + str()
		case 1:
			e.Blob = &hyperblobs.ID{
				BlockOffset: r.Uint64N(1 << 40), BlockLength: r.Uint64N(1<<20) + 1,
				ByteOffset: r.Uint64N(1 << 50), ByteLength: r.Uint64N(1 << 50), BlockMap: r.IntN(5) == 0,
			}
		}
		if r.IntN(2) == 0 {
			m, _ := json.Marshal(map[string]any{str(): str(), "n": r.IntN(1000), "l": []any{str(), true, nil}})
			e.Metadata, _ = canonicalJSON(m)
		}
		b, err := EncodeValue(e)
		if err != nil {
			t.Fatal(err)
		}
		if !json.Valid(b) {
			t.Fatalf("invalid JSON %s", b)
		}
		d, err := DecodeValue(b)
		if err != nil {
			t.Fatalf("%d: decode %s: %v", i, b, err)
		}
		if !reflect.DeepEqual(d, e) {
			t.Fatalf("%d: round trip\n%+v\n%+v", i, e, d)
		}
		b2, _ := EncodeValue(d)
		if !bytes.Equal(b, b2) {
			t.Fatalf("re-encoding differs:\n%s\n%s", b, b2)
		}
	}
}

func TestDecodeValueHostile(t *testing.T) {
	for _, s := range []string{
		``, `null`, `[]`, `"x"`, `{"linkname":5}`, `{"blob":{"blockOffset":-1}}`,
		`{"blob":"x"}`, `{"blob":{"blockOffset":1e300}}`, `{`,
	} {
		if _, err := DecodeValue([]byte(s)); err == nil {
			t.Errorf("DecodeValue(%s) accepted", s)
		}
	}
	e, err := DecodeValue([]byte(`{"executable":1,"extra":{"y":2},"metadata":null}`))
	if err != nil || e.Executable || e.Metadata != nil || e.Blob != nil {
		t.Fatalf("%+v %v", e, err)
	}
}
