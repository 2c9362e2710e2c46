package interop

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/warrenp2p/warren/keyid"
)

// keyidResult is Go's answer in the form keyid.js compares: the value, or
// {"error": true} where Go refuses.
func keyidResult(v string, err error) any {
	if err != nil {
		return map[string]bool{"error": true}
	}
	return v
}

func keyidHexResult(b []byte, err error) any {
	if err != nil {
		return keyidResult("", err)
	}
	return hex.EncodeToString(b)
}

// keyidTexts returns hand-picked and random strings around the shapes the
// decoders care about: 52 z-base-32 characters, 64 hex digits, pear:// links,
// bad characters, upper case and multi-byte characters.
func keyidTexts(key []byte) []string {
	id := keyid.ZBase32Encode(key)
	hx := hex.EncodeToString(key)
	texts := []string{
		"", "y", "yy", "9", "99", "999", "9999", "99999", "999999", "9999999", "99999999", "999999999",
		id, id[:51], id + "y", strings.ToUpper(id), id[:51] + "9", id[:51] + "o",
		"pear://" + id, "pear://" + id + "/", "pear://" + id + "/a/b", "pear://" + id + "?x", "PEAR://" + id,
		"pear:/" + id, "pear://", "pear:///" + id, "pear://pear://" + id,
		hx, strings.ToUpper(hx), hx[:63], hx + "0", hx[:62] + "zz", hx[:63] + "g", "0x" + hx[2:], " " + hx[1:],
		"pear://" + hx, "pear://" + strings.ToUpper(hx) + "/x",
		id[:50] + "é", id[:48] + "😀", id[:51] + "\x00", hx[:60] + "😀",
		strings.Repeat("é", 26), strings.Repeat("😀", 13), strings.Repeat("é", 32),
	}
	rng := rand.New(rand.NewPCG(1, 2))
	sets := []string{
		keyid.Alphabet,
		keyid.Alphabet + "0lv2YBN",
		"0123456789abcdef",
		"0123456789abcdefABCDEF",
		"0123456789abcdefgxX ",
		keyid.Alphabet + "/:é",
	}
	lengths := []int{52, 52, 64, 64, 59, 71, 51, 53, 63, 65}
	for range 1500 {
		set := []rune(sets[rng.IntN(len(sets))])
		n := rng.IntN(80)
		if rng.IntN(2) == 0 {
			n = lengths[rng.IntN(len(lengths))]
		}
		var b strings.Builder
		prefix := rng.IntN(4) == 0
		if prefix {
			b.WriteString("pear://")
			n -= 7
		}
		for i := 0; i < n; i++ {
			b.WriteRune(set[rng.IntN(len(set))])
		}
		if prefix && rng.IntN(2) == 0 {
			b.WriteString("/tail")
		}
		texts = append(texts, b.String())
	}
	return texts
}

func keyidRun(t *testing.T, req any, out any) {
	t.Helper()
	env := Require(t)
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	raw := env.Run(t, in, "keyid.js")
	var mm struct {
		Mismatches []json.RawMessage `json:"mismatches"`
	}
	if err := json.Unmarshal(raw, &mm); err != nil {
		t.Fatalf("reply: %v\n%.500s", err, raw)
	}
	for i, m := range mm.Mismatches {
		if i == 20 {
			t.Errorf("... and %d more", len(mm.Mismatches)-20)
			break
		}
		t.Errorf("JavaScript disagrees with Go: %s", m)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
}

type keyidText struct {
	Text string `json:"text"`
	Go   any    `json:"go"`
}

// TestInteropKeyIDDecode: every text is decoded by z32 and
// hypercore-id-encoding and by Go; results and refusals must be the same.
// JavaScript checks Go's answers and Go checks JavaScript's.
func TestInteropKeyIDDecode(t *testing.T) {
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i*13 + 7)
	}
	texts := keyidTexts(key)
	var req struct {
		Z32Decode []keyidText `json:"z32Decode"`
		Decode    []keyidText `json:"decode"`
		Normalize []keyidText `json:"normalize"`
		IsValid   []keyidText `json:"isValid"`
	}
	var accepted int
	for _, s := range texts {
		req.Z32Decode = append(req.Z32Decode, keyidText{s, keyidHexResult(keyid.ZBase32Decode(s))})
		k, err := keyid.Decode(s)
		if err == nil {
			accepted++
		}
		req.Decode = append(req.Decode, keyidText{s, keyidHexResult(k, err)})
		n, err := keyid.Normalize(s)
		req.Normalize = append(req.Normalize, keyidText{s, keyidResult(n, err)})
		req.IsValid = append(req.IsValid, keyidText{s, keyid.IsValid(s)})
	}
	var res struct {
		Z32Decode []any  `json:"z32Decode"`
		Decode    []any  `json:"decode"`
		Normalize []any  `json:"normalize"`
		IsValid   []bool `json:"isValid"`
	}
	keyidRun(t, req, &res)
	if len(res.Decode) != len(texts) || len(res.Z32Decode) != len(texts) || len(res.IsValid) != len(texts) {
		t.Fatal("JS answered fewer cases than asked")
	}
	same := func(jsv, gov any) bool {
		if m, ok := jsv.(map[string]any); ok {
			_, goErr := gov.(map[string]bool)
			return goErr && m["error"] != nil
		}
		return jsv == gov
	}
	for i, s := range texts {
		if !same(res.Z32Decode[i], req.Z32Decode[i].Go) {
			t.Errorf("z32 decode %q: js %v go %v", s, res.Z32Decode[i], req.Z32Decode[i].Go)
		}
		if !same(res.Decode[i], req.Decode[i].Go) {
			t.Errorf("decode %q: js %v go %v", s, res.Decode[i], req.Decode[i].Go)
		}
		if !same(res.Normalize[i], req.Normalize[i].Go) {
			t.Errorf("normalize %q: js %v go %v", s, res.Normalize[i], req.Normalize[i].Go)
		}
		if res.IsValid[i] != req.IsValid[i].Go {
			t.Errorf("isValid %q: js %v go %v", s, res.IsValid[i], req.IsValid[i].Go)
		}
	}
	t.Logf("%d texts, %d accepted as keys", len(texts), accepted)
	if accepted < 50 || accepted > len(texts)-50 {
		t.Fatalf("the texts do not exercise both outcomes (%d of %d accepted)", accepted, len(texts))
	}
}

// TestInteropKeyIDEncode: Go encodes keys and byte strings of every length
// and JavaScript must produce the same text and decode Go's text back to the
// same bytes; JavaScript's encodings decode in Go.
func TestInteropKeyIDEncode(t *testing.T) {
	type encReq struct {
		Data string `json:"data"`
		Key  string `json:"key"`
		Go   any    `json:"go"`
	}
	var req struct {
		Z32Encode []encReq    `json:"z32Encode"`
		Encode    []encReq    `json:"encode"`
		Z32Decode []keyidText `json:"z32Decode"`
		Decode    []keyidText `json:"decode"`
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var datas [][]byte
	for n := range 80 {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		datas = append(datas, b)
		s := keyid.ZBase32Encode(b)
		req.Z32Encode = append(req.Z32Encode, encReq{Data: hex.EncodeToString(b), Go: s})
		// Go's text must decode in JavaScript to the same bytes.
		req.Z32Decode = append(req.Z32Decode, keyidText{s, hex.EncodeToString(b)})
	}
	var keys [][]byte
	for i := range 40 {
		k := make([]byte, 32)
		for j := range k {
			k[j] = byte(rng.Uint32())
		}
		if i == 0 {
			k = bytes.Repeat([]byte{0xff}, 32)
		}
		if i == 1 {
			k = make([]byte, 32)
		}
		keys = append(keys, k)
		s, err := keyid.Encode(k)
		req.Encode = append(req.Encode, encReq{Key: hex.EncodeToString(k), Go: keyidResult(s, err)})
		req.Decode = append(req.Decode, keyidText{s, hex.EncodeToString(k)})
	}
	for _, n := range []int{1, 31, 33, 64} {
		_, err := keyid.Encode(make([]byte, n))
		req.Encode = append(req.Encode, encReq{Key: hex.EncodeToString(make([]byte, n)), Go: keyidResult("", err)})
	}
	var res struct {
		Z32Encode []string `json:"z32Encode"`
		Encode    []any    `json:"encode"`
	}
	keyidRun(t, req, &res)
	for i, s := range res.Z32Encode {
		b, err := keyid.ZBase32Decode(s)
		if err != nil || !bytes.Equal(b, datas[i]) {
			t.Errorf("JS z32 of %x does not decode in Go: %x, %v", datas[i], b, err)
		}
	}
	for i, k := range keys {
		s, _ := res.Encode[i].(string)
		b, err := keyid.Decode(s)
		if err != nil || !bytes.Equal(b, k) {
			t.Errorf("JS id %q of %x does not decode in Go: %v", s, k, err)
		}
	}
	if len(res.Encode) != len(req.Encode) {
		t.Fatal("JS answered fewer cases than asked")
	}
	for i := len(keys); i < len(res.Encode); i++ {
		if _, isErr := res.Encode[i].(map[string]any); !isErr {
			t.Errorf("JS encoded a key of the wrong size: %v", res.Encode[i])
		}
	}
}
