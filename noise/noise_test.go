package noise

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
)

func seedKey(b byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, ed25519.SeedSize))
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// pair builds an initiator and a responder with static keys 1 and 2.
func pair(t testing.TB, p Pattern, prologue []byte, fixedEphemeral bool) (init, resp *Handshake) {
	t.Helper()
	ic := Config{Pattern: p, Initiator: true, StaticKey: seedKey(1), Prologue: prologue}
	rc := Config{Pattern: p, StaticKey: seedKey(2), Prologue: prologue}
	if p == IK {
		ic.RemoteStatic = pubOf(rc.StaticKey)
	}
	if fixedEphemeral {
		ic.Ephemeral, rc.Ephemeral = seedKey(3), seedKey(4)
	}
	var err error
	if init, err = New(ic); err != nil {
		t.Fatal(err)
	}
	if resp, err = New(rc); err != nil {
		t.Fatal(err)
	}
	return init, resp
}

func numMessages(p Pattern) int {
	if p == IK {
		return 2
	}
	return 3
}

func payload(i int) []byte { return []byte(fmt.Sprintf("payload of message %d", i)) }

var patterns = []Pattern{XX, IK}

func TestHandshake(t *testing.T) {
	for _, p := range patterns {
		t.Run(p.String(), func(t *testing.T) {
			init, resp := pair(t, p, []byte("prologue"), false)
			if p == IK {
				if !bytes.Equal(init.RemoteStatic(), pubOf(seedKey(2))) {
					t.Error("IK initiator should know the remote static from the start")
				}
			} else if init.RemoteStatic() != nil {
				t.Error("XX initiator knows a remote static before any message")
			}
			if resp.RemoteStatic() != nil {
				t.Error("responder knows a remote static before any message")
			}
			w, r := init, resp
			for i := 0; i < numMessages(p); i++ {
				if w.Complete() || r.Complete() {
					t.Fatalf("complete before message %d", i)
				}
				if _, err := w.Result(); !errors.Is(err, ErrState) {
					t.Fatalf("Result before completion: %v", err)
				}
				msg, err := w.WriteMessage(payload(i))
				if err != nil {
					t.Fatalf("write %d: %v", i, err)
				}
				if i > 0 || p == IK {
					if bytes.Contains(msg, payload(i)) {
						t.Errorf("message %d carries its payload in the clear", i)
					}
				}
				got, err := r.ReadMessage(msg)
				if err != nil {
					t.Fatalf("read %d: %v", i, err)
				}
				if !bytes.Equal(got, payload(i)) {
					t.Fatalf("payload %d = %q", i, got)
				}
				w, r = r, w
			}
			if !init.Complete() || !resp.Complete() {
				t.Fatal("not complete")
			}
			if !bytes.Equal(resp.RemoteStatic(), pubOf(seedKey(1))) {
				t.Error("responder did not learn the initiator's static key")
			}
			ri, err := init.Result()
			if err != nil {
				t.Fatal(err)
			}
			rr, err := resp.Result()
			if err != nil {
				t.Fatal(err)
			}
			if ri.Hash != rr.Hash || ri.Hash == [64]byte{} {
				t.Errorf("hashes differ or are zero: %x %x", ri.Hash, rr.Hash)
			}
			if ri.Tx != rr.Rx || ri.Rx != rr.Tx || ri.Tx == ri.Rx {
				t.Error("split keys do not pair up")
			}
			if !bytes.Equal(ri.RemoteStatic, pubOf(seedKey(2))) || !bytes.Equal(rr.RemoteStatic, pubOf(seedKey(1))) {
				t.Error("wrong remote static in Result")
			}
			// Result hands out copies.
			ri.RemoteStatic[0] ^= 1
			if again, _ := init.Result(); !bytes.Equal(again.RemoteStatic, pubOf(seedKey(2))) {
				t.Error("Result shares its RemoteStatic slice")
			}
			// Message calls after completion are out of order.
			if _, err := init.WriteMessage(nil); !errors.Is(err, ErrState) {
				t.Errorf("write after completion: %v", err)
			}
			if _, err := resp.ReadMessage(make([]byte, 100)); !errors.Is(err, ErrState) {
				t.Errorf("read after completion: %v", err)
			}
		})
	}
}

// TestFreshEphemerals checks that two runs with the same static keys
// produce different transcripts and keys.
func TestFreshEphemerals(t *testing.T) {
	for _, p := range patterns {
		a := transcript(t, p, nil, false)
		b := transcript(t, p, nil, false)
		if bytes.Equal(a.msgs[0], b.msgs[0]) || a.init.Hash == b.init.Hash {
			t.Errorf("%v: two handshakes produced the same first message or hash", p)
		}
		c := transcript(t, p, nil, true)
		d := transcript(t, p, nil, true)
		if c.init.Hash != d.init.Hash || c.init.Tx != d.init.Tx || !bytes.Equal(bytes.Join(c.msgs, nil), bytes.Join(d.msgs, nil)) {
			t.Errorf("%v: fixed ephemerals are not deterministic", p)
		}
	}
}

type run struct {
	msgs       [][]byte
	init, resp Result
}

func transcript(t testing.TB, p Pattern, prologue []byte, fixed bool) run {
	t.Helper()
	init, resp := pair(t, p, prologue, fixed)
	var out run
	w, r := init, resp
	for i := 0; i < numMessages(p); i++ {
		msg, err := w.WriteMessage(payload(i))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.ReadMessage(msg); err != nil {
			t.Fatal(err)
		}
		out.msgs = append(out.msgs, msg)
		w, r = r, w
	}
	out.init, _ = init.Result()
	out.resp, _ = resp.Result()
	return out
}

// replay runs a handshake in which message k is replaced by mutate(msg).
// It returns the index of the message whose ReadMessage failed and that
// error, or -1 if the handshake completed.
func replay(t *testing.T, p Pattern, k int, mutate func([]byte) []byte) (int, error) {
	t.Helper()
	init, resp := pair(t, p, nil, true)
	w, r := init, resp
	for i := 0; i < numMessages(p); i++ {
		msg, err := w.WriteMessage(payload(i))
		if err != nil {
			// A responder handed a bad ephemeral fails on its reply.
			return i, err
		}
		if i == k {
			msg = mutate(bytes.Clone(msg))
		}
		if _, err := r.ReadMessage(msg); err != nil {
			if _, err2 := r.ReadMessage(msg); !errors.Is(err2, ErrState) {
				t.Fatalf("read after failure: %v", err2)
			}
			if _, err2 := r.WriteMessage(nil); !errors.Is(err2, ErrState) {
				t.Fatalf("write after failure: %v", err2)
			}
			if r.Complete() {
				t.Fatal("failed handshake reports Complete")
			}
			if _, err2 := r.Result(); !errors.Is(err2, ErrState) {
				t.Fatalf("Result after failure: %v", err2)
			}
			return i, err
		}
		w, r = r, w
	}
	return -1, nil
}

// detectBy is the last message at which tampering with message k must have
// been noticed: the same message when it is authenticated, else the next.
func detectBy(p Pattern, k int) int {
	if p == XX && k == 0 {
		return 1
	}
	return k
}

func TestTamperEveryByte(t *testing.T) {
	for _, p := range patterns {
		ref := transcript(t, p, nil, true)
		for k, msg := range ref.msgs {
			for j := range msg {
				bits := []byte{0x01}
				if j%32 == 31 { // also the sign bit of any key here
					bits = append(bits, 0x80)
				}
				for _, bit := range bits {
					at, err := replay(t, p, k, func(m []byte) []byte { m[j] ^= bit; return m })
					if at < 0 || at > detectBy(p, k) {
						t.Fatalf("%v: flipping bit %#x of byte %d of message %d went unnoticed (failed at %d: %v)", p, bit, j, k, at, err)
					}
					if !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrBadKey) {
						t.Fatalf("%v: tampered message %d byte %d: unexpected error %v", p, k, j, err)
					}
				}
			}
		}
	}
}

func TestTruncatedAndExtended(t *testing.T) {
	for _, p := range patterns {
		ref := transcript(t, p, nil, true)
		for k, msg := range ref.msgs {
			for n := 0; n < len(msg); n++ {
				at, err := replay(t, p, k, func(m []byte) []byte { return m[:n] })
				if at < 0 || at > detectBy(p, k) {
					t.Fatalf("%v: message %d truncated to %d bytes went unnoticed", p, k, n)
				}
				if n < 32 && at != k {
					t.Fatalf("%v: message %d truncated to %d bytes not rejected at once", p, k, n)
				}
				if at == k && n < 32 && !errors.Is(err, ErrBadMessage) {
					t.Fatalf("%v: message %d truncated to %d: %v, want ErrBadMessage", p, k, n, err)
				}
			}
			at, _ := replay(t, p, k, func(m []byte) []byte { return append(m, 0) })
			if at < 0 || at > detectBy(p, k) {
				t.Fatalf("%v: message %d with a byte appended went unnoticed", p, k)
			}
		}
	}
}

func TestPrologueMismatch(t *testing.T) {
	for _, p := range patterns {
		ic := Config{Pattern: p, Initiator: true, StaticKey: seedKey(1), Prologue: []byte("a"), RemoteStatic: pubOf(seedKey(2))}
		rc := Config{Pattern: p, StaticKey: seedKey(2), Prologue: []byte("b")}
		if err := runToEnd(t, ic, rc); !errors.Is(err, ErrDecrypt) {
			t.Errorf("%v: prologue mismatch gave %v, want ErrDecrypt", p, err)
		}
		rc.Prologue = []byte("a")
		if err := runToEnd(t, ic, rc); err != nil {
			t.Errorf("%v: equal prologues: %v", p, err)
		}
	}
}

func TestIKWrongRemoteStatic(t *testing.T) {
	ic := Config{Pattern: IK, Initiator: true, StaticKey: seedKey(1), RemoteStatic: pubOf(seedKey(9))}
	rc := Config{Pattern: IK, StaticKey: seedKey(2)}
	if err := runToEnd(t, ic, rc); !errors.Is(err, ErrDecrypt) {
		t.Errorf("IK with wrong remote static: %v, want ErrDecrypt", err)
	}
}

func TestPatternMismatch(t *testing.T) {
	ic := Config{Pattern: IK, Initiator: true, StaticKey: seedKey(1), RemoteStatic: pubOf(seedKey(2))}
	rc := Config{Pattern: XX, StaticKey: seedKey(2)}
	if err := runToEnd(t, ic, rc); err == nil {
		t.Error("IK initiator completed with an XX responder")
	}
}

// runToEnd runs the two configs against each other and returns the first
// error.
func runToEnd(t *testing.T, ic, rc Config) error {
	t.Helper()
	init, err := New(ic)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := New(rc)
	if err != nil {
		t.Fatal(err)
	}
	w, r := init, resp
	for !init.Complete() || !resp.Complete() {
		msg, err := w.WriteMessage(nil)
		if err != nil {
			return err
		}
		if _, err := r.ReadMessage(msg); err != nil {
			return err
		}
		w, r = r, w
	}
	a, _ := init.Result()
	b, _ := resp.Result()
	if a.Hash != b.Hash {
		t.Fatal("completed with different hashes")
	}
	return nil
}

func TestOutOfOrder(t *testing.T) {
	for _, p := range patterns {
		init, resp := pair(t, p, nil, false)
		if _, err := init.ReadMessage(make([]byte, 64)); !errors.Is(err, ErrState) {
			t.Errorf("%v: initiator reading first: %v", p, err)
		}
		if _, err := resp.WriteMessage(nil); !errors.Is(err, ErrState) {
			t.Errorf("%v: responder writing first: %v", p, err)
		}
		// Out-of-order calls do not spoil the handshake.
		msg, err := init.WriteMessage(nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := init.WriteMessage(nil); !errors.Is(err, ErrState) {
			t.Errorf("%v: initiator writing twice: %v", p, err)
		}
		if _, err := resp.ReadMessage(msg); err != nil {
			t.Fatalf("%v: %v", p, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	good := seedKey(1)
	badPub := bytes.Clone(good)
	badPub[40] ^= 1
	small, _ := hex.DecodeString("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05")
	cases := map[string]Config{
		"no static":          {},
		"short static":       {StaticKey: good[:32]},
		"mismatched public":  {StaticKey: badPub},
		"unknown pattern":    {Pattern: 7, StaticKey: good},
		"IK without remote":  {Pattern: IK, Initiator: true, StaticKey: good},
		"IK bad remote":      {Pattern: IK, Initiator: true, StaticKey: good, RemoteStatic: small},
		"IK short remote":    {Pattern: IK, Initiator: true, StaticKey: good, RemoteStatic: small[:31]},
		"bad ephemeral":      {StaticKey: good, Ephemeral: good[:40]},
		"ephemeral mismatch": {StaticKey: good, Ephemeral: badPub},
	}
	for name, cfg := range cases {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
	// The zero pattern is XX; a responder ignores RemoteStatic.
	for _, cfg := range []Config{{StaticKey: good}, {Pattern: IK, StaticKey: good, RemoteStatic: small}} {
		if _, err := New(cfg); err != nil {
			t.Errorf("%+v: %v", cfg.Pattern, err)
		}
	}
}

func TestPayloadLimits(t *testing.T) {
	// The first XX message is not encrypted and has no limit.
	init, resp := pair(t, XX, nil, false)
	big := bytes.Repeat([]byte{7}, 100000)
	msg, err := init.WriteMessage(big)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := resp.ReadMessage(msg); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("large cleartext payload: %v", err)
	}
	// Later messages are limited to MaxPayload; refusing does not spoil
	// the handshake.
	if _, err := resp.WriteMessage(big[:MaxPayload+1]); !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("oversized payload: %v", err)
	}
	msg, err = resp.WriteMessage(big[:MaxPayload])
	if err != nil {
		t.Fatal(err)
	}
	if got, err := init.ReadMessage(msg); err != nil || len(got) != MaxPayload {
		t.Fatalf("MaxPayload payload: %v", err)
	}

	init, _ = pair(t, IK, nil, false)
	if _, err := init.WriteMessage(big[:MaxPayload+1]); !errors.Is(err, ErrPayloadTooLarge) {
		t.Fatalf("IK oversized payload: %v", err)
	}
	if _, err := init.WriteMessage(nil); err != nil {
		t.Fatalf("IK after refused payload: %v", err)
	}
}

func TestOversizedCiphertextRejected(t *testing.T) {
	// noise-handshake refuses ciphertexts over 65535 bytes even if they
	// would authenticate; so does ReadMessage.
	_, resp := pair(t, IK, nil, false)
	msg := make([]byte, 32+48+maxCiphertext+1)
	init2, _ := pair(t, IK, nil, false)
	real, err := init2.WriteMessage(nil)
	if err != nil {
		t.Fatal(err)
	}
	copy(msg, real[:32+48])
	if _, err := resp.ReadMessage(msg); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("oversized ciphertext: %v", err)
	}
}

// smallOrder lists encodings of points of small order, all of which a
// peer must not be allowed to use.
var smallOrder = []string{
	"0000000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000000",
	"0100000000000000000000000000000000000000000000000000000000000080",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // non-canonical 0
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // non-canonical 1
}

func TestBadRemoteEphemeral(t *testing.T) {
	for _, p := range patterns {
		for _, s := range smallOrder {
			pt, _ := hex.DecodeString(s)
			at, err := replay(t, p, 0, func(m []byte) []byte { copy(m, pt); return m })
			if at != 0 || !errors.Is(err, ErrBadKey) {
				t.Errorf("%v: small-order ephemeral %s: failed at %d with %v", p, s, at, err)
			}
		}
	}
}

func TestDH(t *testing.T) {
	a, b := seedKey(1), seedKey(2)
	ab, err := DH(a, pubOf(b))
	if err != nil {
		t.Fatal(err)
	}
	ba, err := DH(b, pubOf(a))
	if err != nil {
		t.Fatal(err)
	}
	if ab != ba || ab == [32]byte{} {
		t.Fatalf("DH not symmetric: %x %x", ab, ba)
	}
	for _, s := range smallOrder {
		pt, _ := hex.DecodeString(s)
		if _, err := DH(a, pt); !errors.Is(err, ErrBadKey) {
			t.Errorf("DH with %s: %v", s, err)
		}
	}
	if _, err := DH(a, pubOf(b)[:31]); !errors.Is(err, ErrBadKey) {
		t.Errorf("DH with short key: %v", err)
	}
	if _, err := DH(a[:32], pubOf(b)); !errors.Is(err, ErrConfig) {
		t.Errorf("DH with short private key: %v", err)
	}
}

func TestPatternString(t *testing.T) {
	if XX.String() != "XX" || IK.String() != "IK" || Pattern(9).String() != "Pattern(9)" {
		t.Error("Pattern.String")
	}
}

func benchmarkHandshake(b *testing.B, p Pattern) {
	ic := Config{Pattern: p, Initiator: true, StaticKey: seedKey(1), RemoteStatic: pubOf(seedKey(2))}
	rc := Config{Pattern: p, StaticKey: seedKey(2)}
	pl := []byte("payload")
	b.ReportAllocs()
	for b.Loop() {
		init, _ := New(ic)
		resp, _ := New(rc)
		w, r := init, resp
		for !init.Complete() || !resp.Complete() {
			msg, err := w.WriteMessage(pl)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := r.ReadMessage(msg); err != nil {
				b.Fatal(err)
			}
			w, r = r, w
		}
	}
}

// BenchmarkHandshakeXX measures a full XX handshake, both sides.
func BenchmarkHandshakeXX(b *testing.B) { benchmarkHandshake(b, XX) }

// BenchmarkHandshakeIK measures a full IK handshake, both sides.
func BenchmarkHandshakeIK(b *testing.B) { benchmarkHandshake(b, IK) }
