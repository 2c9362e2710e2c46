package interop

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"filippo.io/edwards25519"

	"github.com/warrenp2p/warren/noise"
)

// TestInteropNoiseVectors regenerates the known-answer vectors checked in
// at noise/testdata/vectors.json (which the noise unit tests replay
// without node) from noise-handshake and requires them to be identical.
func TestInteropNoiseVectors(t *testing.T) {
	env := Require(t)
	raw, err := os.ReadFile(filepath.Join(env.Dir, "..", "noise", "testdata", "vectors.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want []map[string]any
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 {
		t.Fatal("no vectors")
	}
	// Strip the outputs so the JS computes them afresh from the inputs.
	var inputs []map[string]any
	for _, v := range want {
		in := map[string]any{}
		for k, x := range v {
			switch k {
			case "messages", "hash", "initiatorTx", "initiatorRx":
			default:
				in[k] = x
			}
		}
		inputs = append(inputs, in)
	}
	stdin, _ := json.Marshal(inputs)
	var got []map[string]any
	if err := json.Unmarshal(env.Run(t, stdin, "noise-vector.js"), &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("noise-handshake no longer produces the checked-in vectors:\n got  %v\n want %v", got, want)
	}
}

// noiseTestPoints is a set of public keys on and off the edge of validity:
// all small-order encodings (both sign bits), every non-canonical y, points
// with a torsion component, random bytes and valid keys.
func noiseTestPoints(t *testing.T) [][]byte {
	t.Helper()
	var pts [][]byte
	small := []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	}
	for _, s := range small {
		b, _ := hex.DecodeString(s)
		pts = append(pts, b)
		f := bytes.Clone(b)
		f[31] ^= 0x80
		pts = append(pts, f)
	}
	// y = p + k for k in 0..18: the non-canonical encodings.
	for k := 0; k < 19; k++ {
		b := bytes.Repeat([]byte{0xff}, 32)
		b[31] = 0x7f
		b[0] = byte(0xed + k)
		pts = append(pts, b, append(bytes.Clone(b[:31]), 0xff))
	}
	torsion, err := new(edwards25519.Point).SetBytes(pts[4]) // order 8
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 8; i++ {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		pts = append(pts, pub)
		p, err := new(edwards25519.Point).SetBytes(pub)
		if err != nil {
			t.Fatal(err)
		}
		pts = append(pts, new(edwards25519.Point).Add(p, torsion).Bytes())
		r := make([]byte, 32)
		rand.Read(r)
		pts = append(pts, r)
	}
	return pts
}

// TestInteropNoiseCurvePoints checks that noise.DH accepts and rejects
// exactly the public keys noise-curve-ed (libsodium's
// crypto_scalarmult_ed25519_noclamp) does, with the same output.
func TestInteropNoiseCurvePoints(t *testing.T) {
	env := Require(t)
	seed := randomSeed(t)
	pts := noiseTestPoints(t)
	var hexPts []string
	for _, p := range pts {
		hexPts = append(hexPts, hex.EncodeToString(p))
	}
	stdin, _ := json.Marshal(map[string]any{"seed": hex.EncodeToString(seed), "points": hexPts})
	var js []*string
	if err := json.Unmarshal(env.Run(t, stdin, "noise-points.js"), &js); err != nil {
		t.Fatal(err)
	}
	if len(js) != len(pts) {
		t.Fatalf("JS answered %d points, want %d", len(js), len(pts))
	}
	priv := ed25519.NewKeyFromSeed(seed)
	accepted := 0
	for i, p := range pts {
		out, err := noise.DH(priv, p)
		switch {
		case js[i] == nil && err == nil:
			t.Errorf("point %x: JS rejects, Go accepts", p)
		case js[i] != nil && err != nil:
			t.Errorf("point %x: JS accepts, Go rejects: %v", p, err)
		case js[i] != nil && *js[i] != hex.EncodeToString(out[:]):
			t.Errorf("point %x: DH differs:\n go %x\n js %s", p, out, *js[i])
		}
		if err == nil {
			accepted++
		}
	}
	if accepted < 8 {
		t.Errorf("only %d points accepted; the valid keys should be", accepted)
	}
}
