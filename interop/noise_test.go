package interop

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/warrenp2p/warren/noise"
)

// noiseCase is one handshake between a Go side and the JS noise.js peer.
type noiseCase struct {
	pattern     noise.Pattern
	goInitiator bool
	goSeed      []byte // Go static key seed
	jsSeed      []byte // JS static key seed
	goEph       []byte // optional fixed ephemeral seeds
	jsEph       []byte
	prologue    []byte
}

// noiseTranscript is what a run produced: every handshake message in
// order and the Go side's result.
type noiseTranscript struct {
	messages [][]byte
	result   noise.Result
}

func randomSeed(t *testing.T) []byte {
	t.Helper()
	b := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex from JS %q: %v", s, err)
	}
	return b
}

// payloadFor gives each message a distinct, recognisable payload; the
// first one is long to cover a multi-block ChaCha20 stream.
func payloadFor(pattern noise.Pattern, i int) []byte {
	p := []byte(fmt.Sprintf("%v message %d payload", pattern, i))
	if i == 0 {
		p = bytes.Repeat(p, 20)
	}
	return p
}

func runNoiseInterop(t *testing.T, c noiseCase) noiseTranscript {
	t.Helper()
	env := Require(t)
	goKey := ed25519.NewKeyFromSeed(c.goSeed)
	jsKey := ed25519.NewKeyFromSeed(c.jsSeed)
	nmsg := 3
	if c.pattern == noise.IK {
		nmsg = 2
	}

	cfg := noise.Config{Pattern: c.pattern, Initiator: c.goInitiator, StaticKey: goKey, Prologue: c.prologue}
	if c.pattern == noise.IK && c.goInitiator {
		cfg.RemoteStatic = jsKey.Public().(ed25519.PublicKey)
	}
	if c.goEph != nil {
		cfg.Ephemeral = ed25519.NewKeyFromSeed(c.goEph)
	}
	hs, err := noise.New(cfg)
	if err != nil {
		t.Fatal(err)
	}

	role := "responder"
	if !c.goInitiator {
		role = "initiator"
	}
	args := []string{c.pattern.String(), role, hex.EncodeToString(c.jsSeed), "--prologue", hex.EncodeToString(c.prologue)}
	if c.pattern == noise.IK && !c.goInitiator {
		args = append(args, "--remote", hex.EncodeToString(goKey[32:]))
	}
	if c.jsEph != nil {
		args = append(args, "--ephemeral", hex.EncodeToString(c.jsEph))
	}
	for i := 0; i < nmsg; i++ {
		if (i%2 == 0) != c.goInitiator { // JS writes message i
			args = append(args, "--payload", hex.EncodeToString(payloadFor(c.pattern, i)))
		}
	}
	p := env.Start(t, "noise.js", args...)
	if got := p.Expect(t, "pub "); got != hex.EncodeToString(jsKey[32:]) {
		t.Fatalf("JS static public key %s, want %x", got, jsKey[32:])
	}

	var tr noiseTranscript
	for i := 0; i < nmsg; i++ {
		want := payloadFor(c.pattern, i)
		if (i%2 == 0) == c.goInitiator {
			msg, err := hs.WriteMessage(want)
			if err != nil {
				t.Fatalf("Go WriteMessage %d: %v", i, err)
			}
			tr.messages = append(tr.messages, msg)
			fmt.Fprintf(p.Stdin, "%x\n", msg)
			got := unhex(t, p.Expect(t, "payload "))
			if !bytes.Equal(got, want) {
				t.Fatalf("JS got payload %q for message %d, want %q", got, i, want)
			}
		} else {
			msg := unhex(t, p.Expect(t, "msg "))
			tr.messages = append(tr.messages, msg)
			got, err := hs.ReadMessage(msg)
			if err != nil {
				t.Fatalf("Go ReadMessage %d: %v", i, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Go got payload %q for message %d, want %q", got, i, want)
			}
		}
	}
	if !hs.Complete() {
		t.Fatal("Go handshake not complete")
	}
	res, err := hs.Result()
	if err != nil {
		t.Fatal(err)
	}
	tr.result = res

	jsHash := unhex(t, p.Expect(t, "hash "))
	jsTx := unhex(t, p.Expect(t, "tx "))
	jsRx := unhex(t, p.Expect(t, "rx "))
	jsRs := unhex(t, p.Expect(t, "rs "))
	p.Expect(t, "done")
	p.Wait(t)

	if !bytes.Equal(jsHash, res.Hash[:]) {
		t.Errorf("handshake hash differs:\n go %x\n js %x", res.Hash, jsHash)
	}
	if !bytes.Equal(jsTx, res.Rx[:]) || !bytes.Equal(jsRx, res.Tx[:]) {
		t.Errorf("split keys do not pair up:\n go tx %x rx %x\n js tx %x rx %x", res.Tx, res.Rx, jsTx, jsRx)
	}
	if bytes.Equal(res.Tx[:], res.Rx[:]) {
		t.Error("tx == rx")
	}
	if !bytes.Equal(jsRs, goKey[32:]) {
		t.Errorf("JS learned remote static %x, want %x", jsRs, goKey[32:])
	}
	if !bytes.Equal(res.RemoteStatic, jsKey[32:]) {
		t.Errorf("Go learned remote static %x, want %x", res.RemoteStatic, jsKey[32:])
	}
	return tr
}

func testNoiseInterop(t *testing.T, pattern noise.Pattern) {
	for _, goInit := range []bool{true, false} {
		name := "GoInitiator_JSResponder"
		if !goInit {
			name = "JSInitiator_GoResponder"
		}
		t.Run(name, func(t *testing.T) {
			runNoiseInterop(t, noiseCase{
				pattern: pattern, goInitiator: goInit,
				goSeed: randomSeed(t), jsSeed: randomSeed(t),
				prologue: []byte("warren noise interop"),
			})
		})
		t.Run(name+"_EmptyPrologue", func(t *testing.T) {
			runNoiseInterop(t, noiseCase{
				pattern: pattern, goInitiator: goInit,
				goSeed: randomSeed(t), jsSeed: randomSeed(t),
			})
		})
		// With both ephemeral keys fixed the whole transcript is
		// deterministic: it must be byte-identical to a Go-only run.
		t.Run(name+"_FixedEphemeral", func(t *testing.T) {
			c := noiseCase{
				pattern: pattern, goInitiator: goInit,
				goSeed: randomSeed(t), jsSeed: randomSeed(t),
				goEph: randomSeed(t), jsEph: randomSeed(t),
				prologue: []byte("fixed"),
			}
			tr := runNoiseInterop(t, c)
			want := goOnlyTranscript(t, c)
			if len(tr.messages) != len(want) {
				t.Fatalf("%d messages, want %d", len(tr.messages), len(want))
			}
			for i := range want {
				if !bytes.Equal(tr.messages[i], want[i]) {
					t.Errorf("message %d differs from Go-only run:\n mixed %x\n go    %x", i, tr.messages[i], want[i])
				}
			}
		})
	}
}

// goOnlyTranscript replays case c with two Go handshakes.
func goOnlyTranscript(t *testing.T, c noiseCase) [][]byte {
	t.Helper()
	goKey := ed25519.NewKeyFromSeed(c.goSeed)
	jsKey := ed25519.NewKeyFromSeed(c.jsSeed)
	a := noise.Config{Pattern: c.pattern, Initiator: c.goInitiator, StaticKey: goKey, Prologue: c.prologue, Ephemeral: ed25519.NewKeyFromSeed(c.goEph)}
	b := noise.Config{Pattern: c.pattern, Initiator: !c.goInitiator, StaticKey: jsKey, Prologue: c.prologue, Ephemeral: ed25519.NewKeyFromSeed(c.jsEph)}
	if c.pattern == noise.IK {
		if c.goInitiator {
			a.RemoteStatic = jsKey.Public().(ed25519.PublicKey)
		} else {
			b.RemoteStatic = goKey.Public().(ed25519.PublicKey)
		}
	}
	ha, err := noise.New(a)
	if err != nil {
		t.Fatal(err)
	}
	hb, err := noise.New(b)
	if err != nil {
		t.Fatal(err)
	}
	init, resp := ha, hb
	if !c.goInitiator {
		init, resp = hb, ha
	}
	var msgs [][]byte
	w, r := init, resp
	for i := 0; !init.Complete() || !resp.Complete(); i++ {
		m, err := w.WriteMessage(payloadFor(c.pattern, i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadMessage(m); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
		w, r = r, w
	}
	return msgs
}

// TestInteropNoiseXX runs the XX handshake between Go and noise-handshake
// in both roles, with payloads on every message.
func TestInteropNoiseXX(t *testing.T) { testNoiseInterop(t, noise.XX) }

// TestInteropNoiseIK runs the IK handshake between Go and noise-handshake
// in both roles, with payloads on every message.
func TestInteropNoiseIK(t *testing.T) { testNoiseInterop(t, noise.IK) }

// TestInteropNoiseRejects checks that each implementation rejects a
// handshake the other one cannot complete: a prologue mismatch (Go fails
// on the JS reply) and an IK initiator with the wrong responder key (JS
// fails on the Go message), plus a tampered final message from Go.
func TestInteropNoiseRejects(t *testing.T) {
	env := Require(t)

	t.Run("PrologueMismatch_GoRejects", func(t *testing.T) {
		hs, err := noise.New(noise.Config{Initiator: true, StaticKey: ed25519.NewKeyFromSeed(randomSeed(t)), Prologue: []byte("go")})
		if err != nil {
			t.Fatal(err)
		}
		p := env.Start(t, "noise.js", "XX", "responder", hex.EncodeToString(randomSeed(t)), "--prologue", hex.EncodeToString([]byte("js")))
		p.Expect(t, "pub ")
		msg, err := hs.WriteMessage(nil)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(p.Stdin, "%x\n", msg)
		p.Expect(t, "payload ")
		if _, err := hs.ReadMessage(unhex(t, p.Expect(t, "msg "))); !errors.Is(err, noise.ErrDecrypt) {
			t.Fatalf("Go read the JS reply under another prologue: %v", err)
		}
	})

	t.Run("IKWrongKey_JSRejects", func(t *testing.T) {
		hs, err := noise.New(noise.Config{Pattern: noise.IK, Initiator: true, StaticKey: ed25519.NewKeyFromSeed(randomSeed(t)),
			RemoteStatic: ed25519.NewKeyFromSeed(randomSeed(t)).Public().(ed25519.PublicKey)})
		if err != nil {
			t.Fatal(err)
		}
		p := env.Start(t, "noise.js", "IK", "responder", hex.EncodeToString(randomSeed(t)))
		p.Expect(t, "pub ")
		msg, err := hs.WriteMessage([]byte("hello"))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(p.Stdin, "%x\n", msg)
		p.Expect(t, "error ")
	})

	t.Run("TamperedFinal_JSRejects", func(t *testing.T) {
		jsSeed := randomSeed(t)
		hs, err := noise.New(noise.Config{Initiator: true, StaticKey: ed25519.NewKeyFromSeed(randomSeed(t))})
		if err != nil {
			t.Fatal(err)
		}
		p := env.Start(t, "noise.js", "XX", "responder", hex.EncodeToString(jsSeed))
		p.Expect(t, "pub ")
		msg, _ := hs.WriteMessage(nil)
		fmt.Fprintf(p.Stdin, "%x\n", msg)
		p.Expect(t, "payload ")
		if _, err := hs.ReadMessage(unhex(t, p.Expect(t, "msg "))); err != nil {
			t.Fatal(err)
		}
		msg, _ = hs.WriteMessage([]byte("final"))
		msg[len(msg)-1] ^= 1
		fmt.Fprintf(p.Stdin, "%x\n", msg)
		p.Expect(t, "error ")
	})
}
