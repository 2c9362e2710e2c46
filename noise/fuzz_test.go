package noise

import (
	"errors"
	"sync"
	"testing"
)

type fuzzKey struct {
	p Pattern
	k int
}

type fuzzState struct {
	h    *Handshake
	real []byte
}

var (
	fuzzMu    sync.Mutex
	fuzzCache = map[fuzzKey]fuzzState{}
)

// clone copies a handshake in progress for the fuzzer, so each input starts
// from the same state without replaying the earlier messages.
func (h *Handshake) clone() *Handshake {
	c := *h
	c.ss.hasher = newHasher()
	return &c
}

// cachedTarget is fuzzTarget, computed once per step.
func cachedTarget(t *testing.T, p Pattern, k int) (*Handshake, []byte) {
	fuzzMu.Lock()
	defer fuzzMu.Unlock()
	st, ok := fuzzCache[fuzzKey{p, k}]
	if !ok {
		st.h, st.real = fuzzTarget(t, p, k)
		fuzzCache[fuzzKey{p, k}] = st
	}
	return st.h.clone(), st.real
}

// fuzzTarget returns the handshake that is about to read message k, with
// the real message k it expects, after playing messages 0..k-1. The
// ephemerals are fixed so the seed corpus stays meaningful.
func fuzzTarget(t *testing.T, p Pattern, k int) (*Handshake, []byte) {
	init, resp := pair(t, p, []byte("fuzz"), true)
	w, r := init, resp
	for i := 0; ; i++ {
		msg, err := w.WriteMessage(payload(i))
		if err != nil {
			t.Fatal(err)
		}
		if i == k {
			return r, msg
		}
		if _, err := r.ReadMessage(msg); err != nil {
			t.Fatal(err)
		}
		w, r = r, w
	}
}

// FuzzReadMessage feeds arbitrary bytes to ReadMessage at every step of
// both patterns, from both roles. It must never panic; a failure must
// leave the handshake dead; the genuine message must be accepted.
func FuzzReadMessage(f *testing.F) {
	for _, p := range patterns {
		for k := 0; k < numMessages(p); k++ {
			init, resp := pair(f, p, []byte("fuzz"), true)
			w, r := init, resp
			var msg []byte
			for i := 0; i <= k; i++ {
				var err error
				if msg, err = w.WriteMessage(payload(i)); err != nil {
					f.Fatal(err)
				}
				if i < k {
					if _, err := r.ReadMessage(msg); err != nil {
						f.Fatal(err)
					}
				}
				w, r = r, w
			}
			f.Add(uint8(p), uint8(k), msg)
			f.Add(uint8(p), uint8(k), msg[:len(msg)-1])
			f.Add(uint8(p), uint8(k), msg[:32])
			f.Add(uint8(p), uint8(k), []byte{})
		}
	}
	f.Fuzz(func(t *testing.T, pat, step uint8, data []byte) {
		p := patterns[int(pat)%len(patterns)]
		k := int(step) % numMessages(p)
		h, real := cachedTarget(t, p, k)
		got, err := h.ReadMessage(data)
		if err != nil {
			if h.Complete() {
				t.Fatal("complete after a failed read")
			}
			if _, err := h.ReadMessage(real); !errors.Is(err, ErrState) {
				t.Fatalf("read after failure: %v", err)
			}
			if _, err := h.WriteMessage(nil); !errors.Is(err, ErrState) {
				t.Fatalf("write after failure: %v", err)
			}
			if string(data) == string(real) {
				t.Fatalf("genuine message rejected: %v", err)
			}
			return
		}
		if string(data) == string(real) && string(got) != string(payload(k)) {
			t.Fatalf("genuine message gave payload %q", got)
		}
		if k == numMessages(p)-1 && !h.Complete() {
			t.Fatal("last message accepted but not complete")
		}
	})
}
