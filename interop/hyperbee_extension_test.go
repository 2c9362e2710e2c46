package interop

import (
	"encoding/hex"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/warrenp2p/warren/hyperbee"
)

// extJSON is an extension message in the JS script's JSON form.
type extJSON struct {
	Cache *struct {
		Start  uint64   `json:"start"`
		End    uint64   `json:"end"`
		Blocks []uint64 `json:"blocks"`
	} `json:"cache"`
	Get *struct {
		Version uint64  `json:"version"`
		Key     *string `json:"key"`
	} `json:"get"`
	Iterator *struct {
		Version    uint64   `json:"version"`
		GTE        *string  `json:"gte"`
		GT         *string  `json:"gt"`
		LTE        *string  `json:"lte"`
		LT         *string  `json:"lt"`
		Limit      uint64   `json:"limit"`
		Reverse    bool     `json:"reverse"`
		Checkpoint []uint64 `json:"checkpoint"`
	} `json:"iterator"`
}

func optHex(b []byte) *string {
	if b == nil {
		return nil
	}
	return hp(b)
}

func toExtJSON(m *hyperbee.ExtensionMessage) extJSON {
	var j extJSON
	if c := m.Cache; c != nil {
		j.Cache = &struct {
			Start  uint64   `json:"start"`
			End    uint64   `json:"end"`
			Blocks []uint64 `json:"blocks"`
		}{c.Start, c.End, append([]uint64{}, c.Blocks...)}
	}
	if g := m.Get; g != nil {
		j.Get = &struct {
			Version uint64  `json:"version"`
			Key     *string `json:"key"`
		}{g.Version, optHex(g.Key)}
	}
	if it := m.Iterator; it != nil {
		j.Iterator = &struct {
			Version    uint64   `json:"version"`
			GTE        *string  `json:"gte"`
			GT         *string  `json:"gt"`
			LTE        *string  `json:"lte"`
			LT         *string  `json:"lt"`
			Limit      uint64   `json:"limit"`
			Reverse    bool     `json:"reverse"`
			Checkpoint []uint64 `json:"checkpoint"`
		}{it.Version, optHex(it.GTE), optHex(it.GT), optHex(it.LTE), optHex(it.LT), it.Limit, it.Reverse, append([]uint64{}, it.Checkpoint...)}
	}
	return j
}

// TestInteropHyperbeeExtension: the "hyperbee" extension messages (cache,
// get, iterator) encode to the same bytes in Go and JS, and each side
// decodes what the other encoded.
func TestInteropHyperbeeExtension(t *testing.T) {
	env := Require(t)
	msgs := []*hyperbee.ExtensionMessage{
		{Cache: &hyperbee.ExtCache{Start: 3, End: 900, Blocks: []uint64{3, 899, 300, 128}}},
		{Cache: &hyperbee.ExtCache{Start: 0, End: 0}},
		{Get: &hyperbee.ExtGet{Version: 4242, Key: []byte("some/key")}},
		{Get: &hyperbee.ExtGet{Version: 0, Key: []byte{}}},
		{Iterator: &hyperbee.ExtIterator{Version: 77, GTE: []byte("a"), LT: []byte("b"), Limit: 10, Reverse: true, Checkpoint: []uint64{70, 0, 3, 65, 2, 1}}},
		{Iterator: &hyperbee.ExtIterator{Version: 1 << 40, GT: []byte("x"), LTE: []byte("z")}},
		{Cache: &hyperbee.ExtCache{Start: 1, End: 2, Blocks: []uint64{1}}, Get: &hyperbee.ExtGet{Version: 2}},
	}
	var want []extJSON
	var goHex []string
	for _, m := range msgs {
		want = append(want, toExtJSON(m))
		goHex = append(goHex, hex.EncodeToString(hyperbee.EncodeExtension(m)))
	}
	in, err := json.Marshal(map[string]any{"encode": want, "decode": goHex})
	if err != nil {
		t.Fatal(err)
	}
	var res struct {
		Encoded []string  `json:"encoded"`
		Decoded []extJSON `json:"decoded"`
	}
	if err := json.Unmarshal(env.Run(t, in, "hyperbee_extension.js"), &res); err != nil {
		t.Fatal(err)
	}
	for i := range msgs {
		if res.Encoded[i] != goHex[i] {
			t.Errorf("message %d: JS %s, Go %s", i, res.Encoded[i], goHex[i])
		}
		raw, _ := hex.DecodeString(res.Encoded[i])
		m, err := hyperbee.DecodeExtension(raw)
		if err != nil {
			t.Fatalf("message %d: Go cannot decode JS bytes: %v", i, err)
		}
		if got := toExtJSON(m); !reflect.DeepEqual(got, want[i]) {
			t.Errorf("message %d: Go decoded %+v, want %+v", i, got, want[i])
		}
		a, _ := json.Marshal(res.Decoded[i])
		b, _ := json.Marshal(want[i])
		if string(a) != string(b) {
			t.Errorf("message %d: JS decoded Go bytes as %s, want %s", i, a, b)
		}
	}
}
