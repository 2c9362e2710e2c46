package hypercore

import (
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/warrenp2p/warren/protomux"
)

// FuzzPeer plays a hostile remote: after a valid open it sends the fuzzer's
// messages (type byte, then payload) to a Peer replicating a small core.
// The peer must not panic or hang; whatever it stores must still verify.
func FuzzPeer(f *testing.F) {
	f.Add([]byte{0, 3, 0, 0, 9, 0})       // sync
	f.Add([]byte{1, 6, 9, 1, 0, 2, 0, 0}) // request
	f.Add(append([]byte{3, 40}, encodeData(&Data{Request: 1, Proof: Proof{Upgrade: &UpgradeProof{Length: 3}}})...))
	f.Add([]byte{8, 3, 2, 5, 0, 7, 4, 0, 1, 0xff, 0xff})  // range, bitfield-ish
	f.Add([]byte{7, 7, 0, 1, 0xff, 0xff, 0xff, 0xff})     // bitfield
	f.Add([]byte{5, 2, 0, 100, 5, 3, 0, 4, 1})            // want, want any
	f.Add([]byte{2, 1, 1, 9, 6, 4, 101, 99, 104, 111, 1}) // cancel, extension
	dir := f.TempDir()
	w, err := Open(dir, Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer w.Close()
	for i := range 10 {
		w.Append(blockData(i))
	}
	key := w.Key()
	f.Fuzz(func(t *testing.T, script []byte) {
		r, err := Open(t.TempDir(), Options{Key: key[:]})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ca, cb := net.Pipe()
		ma := protomux.New(protomux.Framed(ca), &protomux.Config{DeferStart: true})
		mb := protomux.New(protomux.Framed(cb), &protomux.Config{DeferStart: true})
		defer func() { ma.Close(); mb.Close(); <-ma.Done(); <-mb.Done() }()
		hs := bytes.Repeat([]byte{7}, 64)
		peer, err := r.Replicate(ma, true, hs)
		if err != nil {
			t.Fatal(err)
		}
		dk := r.DiscoveryKey()
		ch, err := mb.Channel(protomux.ChannelOptions{Protocol: Protocol, ID: dk[:]})
		if err != nil {
			t.Fatal(err)
		}
		var msgs []*protomux.Message
		for range 10 {
			msgs = append(msgs, ch.AddMessage(nil))
		}
		capa, _ := Capability(false, key, hs)
		ch.Open(encodeHandshake(Handshake{Capability: capa}))
		ma.Start()
		mb.Start()
		// The script: type byte, length byte, payload.
		for len(script) >= 2 {
			typ, n := int(script[0])%10, int(script[1])
			script = script[2:]
			n = min(n, len(script))
			msgs[typ].Send(script[:n])
			script = script[n:]
		}
		select {
		case <-peer.Done():
		case <-time.After(50 * time.Millisecond):
		}
		ma.Close()
		select {
		case <-peer.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("peer did not end after the mux closed")
		}
		// Whatever was stored verifies.
		if r.Length() > 0 && !r.verifier.verify(treeState{hash: r.TreeHash(), length: r.Length(), fork: r.Fork()}, r.Signature()) {
			t.Fatal("stored head does not verify")
		}
	})
}
