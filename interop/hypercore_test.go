package interop

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/warrenp2p/warren/compact"
	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/hypercore"
)

// hcCase is one kind of core the interop tests build on both sides.
type hcCase struct {
	name    string
	compat  bool
	encKey  []byte
	ops     []hcOp
	padding uint64
}

type hcOp struct {
	Append   int `json:"append,omitempty"`
	Truncate int `json:"truncate,omitempty"`
}

type hcReq struct {
	Block    *hcIdx  `json:"block,omitempty"`
	Hash     *hcIdx  `json:"hash,omitempty"`
	Seek     *hcSeek `json:"seek,omitempty"`
	Upgrade  *hcUp   `json:"upgrade,omitempty"`
	Manifest bool    `json:"manifest,omitempty"`
}
type hcIdx struct {
	Index uint64 `json:"index"`
	Nodes uint64 `json:"nodes"`
}
type hcSeek struct {
	Bytes   uint64 `json:"bytes"`
	Padding uint64 `json:"padding"`
}
type hcUp struct {
	Start  uint64 `json:"start"`
	Length uint64 `json:"length"`
}

type hcWriterOut struct {
	Key          string `json:"key"`
	DiscoveryKey string `json:"discoveryKey"`
	Manifest     string `json:"manifest"`
	Compat       bool   `json:"compat"`
	Heads        []struct {
		Length     uint64 `json:"length"`
		Fork       uint64 `json:"fork"`
		ByteLength uint64 `json:"byteLength"`
		TreeHash   string `json:"treeHash"`
		Signature  string `json:"signature"`
	} `json:"heads"`
	Blocks []string `json:"blocks"`
	Proofs []struct {
		Data  string `json:"data"`
		Error string `json:"error"`
	} `json:"proofs"`
}

func hcCases() []hcCase {
	ops := []hcOp{{Append: 12}, {Truncate: 9}, {Append: 8}, {Append: 1}}
	ek := bytes.Repeat([]byte{0x42}, 32)
	return []hcCase{
		{name: "v1", ops: ops},
		{name: "compat", compat: true, ops: ops},
		{name: "encrypted", encKey: ek, ops: ops, padding: 8},
		{name: "compat-encrypted", compat: true, encKey: ek, ops: ops, padding: 8},
	}
}

// runOps applies the case's operations to a Go core, mirroring the JS
// writer, and returns the plaintext of every block.
func runOps(t *testing.T, c *hypercore.Core, ops []hcOp) [][]byte {
	t.Helper()
	var blocks [][]byte
	for _, op := range ops {
		if op.Append > 0 {
			var batch [][]byte
			for range op.Append {
				b := []byte(fmt.Sprintf("block-%d", len(blocks)))
				blocks = append(blocks, b)
				batch = append(batch, b)
			}
			if _, err := c.Append(batch...); err != nil {
				t.Fatal(err)
			}
		} else {
			if err := c.Truncate(uint64(op.Truncate)); err != nil {
				t.Fatal(err)
			}
			blocks = blocks[:op.Truncate]
		}
	}
	return blocks
}

func toProofRequest(r hcReq) hypercore.ProofRequest {
	var p hypercore.ProofRequest
	if r.Block != nil {
		p.Block = &hypercore.RequestBlock{Index: r.Block.Index, Nodes: r.Block.Nodes}
	}
	if r.Hash != nil {
		p.Hash = &hypercore.RequestBlock{Index: r.Hash.Index, Nodes: r.Hash.Nodes}
	}
	if r.Seek != nil {
		p.Seek = &hypercore.RequestSeek{Bytes: r.Seek.Bytes, Padding: r.Seek.Padding}
	}
	if r.Upgrade != nil {
		p.Upgrade = &hypercore.RequestUpgrade{Start: r.Upgrade.Start, Length: r.Upgrade.Length}
	}
	return p
}

// goData answers request id r from core w as a Go peer would: the hex of
// the data message, or "" and the error.
func goData(w *hypercore.Core, id uint64, r hcReq) (string, error) {
	p, err := w.Proof(toProofRequest(r))
	if err != nil {
		return "", err
	}
	if r.Manifest && !w.Info().Compat {
		p.Manifest = w.Manifest()
	}
	return hex.EncodeToString(compact.Encode(hypercore.DataCodec, &hypercore.Data{Request: id, Proof: *p})), nil
}

// readSequence computes the requests a fresh reader makes to fetch every
// block of w: an upgrade with block 0, then each block with the number of
// nodes the reader is missing. It replays them on a scratch Go reader.
func readSequence(t *testing.T, w *hypercore.Core, opts hypercore.Options) []hcReq {
	t.Helper()
	r, err := hypercore.Open(t.TempDir(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	n := w.Length()
	seq := []hcReq{{Block: &hcIdx{Index: 0}, Upgrade: &hcUp{Start: 0, Length: n}, Manifest: true}}
	apply := func(q hcReq) {
		p, err := w.Proof(toProofRequest(q))
		if err != nil {
			t.Fatal(err)
		}
		if !w.Info().Compat {
			p.Manifest = w.Manifest()
		}
		if err := r.Apply(p); err != nil {
			t.Fatal(err)
		}
	}
	apply(seq[0])
	for i := uint64(1); i < n; i++ {
		rb, err := r.BlockRequest(i)
		if err != nil {
			t.Fatal(err)
		}
		q := hcReq{Block: &hcIdx{Index: i, Nodes: rb.Nodes}}
		seq = append(seq, q)
		apply(q)
	}
	return seq
}

// extraRequests are proofs compared byte for byte but not applied: hash,
// seek, partial and additional upgrades, and one invalid request.
func extraRequests(n, padding uint64) []hcReq {
	return []hcReq{
		{Hash: &hcIdx{Index: 5}, Upgrade: &hcUp{Start: 0, Length: n}},
		{Seek: &hcSeek{Bytes: 40, Padding: padding}, Upgrade: &hcUp{Start: 0, Length: n}},
		{Seek: &hcSeek{Bytes: 71, Padding: padding}, Upgrade: &hcUp{Start: 4, Length: n - 4}},
		{Upgrade: &hcUp{Start: 5, Length: n - 5}},
		{Upgrade: &hcUp{Start: 3, Length: 7}},
		{Block: &hcIdx{Index: 2}, Upgrade: &hcUp{Start: 5, Length: 4}},
		{Block: &hcIdx{Index: 13}, Upgrade: &hcUp{Start: 5, Length: 12}},
		{Block: &hcIdx{Index: 3, Nodes: 2}, Seek: &hcSeek{Bytes: 10, Padding: padding}},
		{Hash: &hcIdx{Index: 11, Nodes: 1}},
		{Upgrade: &hcUp{Start: 0, Length: n + 1}},
	}
}

func seedFor(name string) []byte {
	h := crypto.Hash([]byte("warren hypercore interop " + name))
	return h[:]
}

// TestInteropHypercoreJSToGo has JS write a core and answer requests; the
// Go side derives the same key, discovery key, manifest, signed heads and
// stored (encrypted) blocks from the same seed, produces byte-identical data
// messages, and a Go reader verifies the JS proofs and reads (decrypts) every
// block.
func TestInteropHypercoreJSToGo(t *testing.T) {
	env := Require(t)
	for _, tc := range hcCases() {
		t.Run(tc.name, func(t *testing.T) {
			kp, err := crypto.KeyPairFromSeed(seedFor(tc.name))
			if err != nil {
				t.Fatal(err)
			}
			w, err := hypercore.Open(t.TempDir(), hypercore.Options{KeyPair: &kp, Compat: tc.compat, EncryptionKey: tc.encKey})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			plain := runOps(t, w, tc.ops)
			key := w.Key()
			readerOpts := hypercore.Options{Key: key[:], EncryptionKey: tc.encKey}
			seq := readSequence(t, w, readerOpts)
			reqs := append(append([]hcReq{}, seq...), extraRequests(w.Length(), tc.padding)...)

			in, _ := json.Marshal(map[string]any{
				"seed":          hex.EncodeToString(seedFor(tc.name)),
				"compat":        tc.compat,
				"encryptionKey": hex.EncodeToString(tc.encKey),
				"ops":           tc.ops,
				"requests":      reqs,
			})
			var js hcWriterOut
			if err := json.Unmarshal(env.Run(t, in, "hypercore-writer.js"), &js); err != nil {
				t.Fatal(err)
			}

			dk := w.DiscoveryKey()
			if js.Key != hex.EncodeToString(key[:]) || js.DiscoveryKey != hex.EncodeToString(dk[:]) {
				t.Fatalf("keys differ: js %s/%s go %x/%x", js.Key, js.DiscoveryKey, key, dk)
			}
			if js.Manifest != hex.EncodeToString(w.Manifest().Encode()) || js.Compat != tc.compat {
				t.Fatalf("manifest differs: js %s go %x", js.Manifest, w.Manifest().Encode())
			}
			last := js.Heads[len(js.Heads)-1]
			th := w.TreeHash()
			if last.Length != w.Length() || last.Fork != w.Fork() || last.ByteLength != w.ByteLength() ||
				last.TreeHash != hex.EncodeToString(th[:]) || last.Signature != hex.EncodeToString(w.Signature()) {
				t.Fatalf("head differs: js %+v go len=%d fork=%d bytes=%d hash=%x sig=%x", last, w.Length(), w.Fork(), w.ByteLength(), th, w.Signature())
			}
			for i, b := range js.Blocks {
				raw, err := w.Get(context.Background(), uint64(i), hypercore.GetOptions{Raw: true})
				if err != nil || hex.EncodeToString(raw) != b {
					t.Fatalf("stored block %d differs: js %s go %x", i, b, raw)
				}
			}
			errs := 0
			for id, r := range reqs {
				g, gerr := goData(w, uint64(id), r)
				jp := js.Proofs[id]
				if (gerr != nil) != (jp.Error != "") {
					t.Fatalf("request %d %+v: go err %v, js err %q", id, r, gerr, jp.Error)
				}
				if g != jp.Data {
					t.Fatalf("request %d: data differs\njs %s\ngo %s", id, jp.Data, g)
				}
				if jp.Error != "" {
					errs++
				}
			}
			if errs != 1 {
				t.Fatalf("%d requests failed on both sides, want only the invalid one", errs)
			}

			// A Go reader verifies and stores the JS proofs.
			r, err := hypercore.Open(t.TempDir(), readerOpts)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			for id := range seq {
				b, _ := hex.DecodeString(js.Proofs[id].Data)
				d, err := compact.DecodeExact(hypercore.DataCodec, b)
				if err != nil {
					t.Fatal(err)
				}
				if err := r.Apply(&d.Proof); err != nil {
					t.Fatalf("JS proof %d: %v", id, err)
				}
			}
			if r.Length() != w.Length() || r.Fork() != w.Fork() || r.ContiguousLength() != r.Length() {
				t.Fatalf("reader length %d fork %d", r.Length(), r.Fork())
			}
			for i, want := range plain {
				got, err := r.Get(context.Background(), uint64(i), hypercore.GetOptions{})
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("block %d from JS: %q %v, want %q", i, got, err, want)
				}
			}
		})
	}
}

type hcReaderOut struct {
	Rejected []struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"rejected"`
	LengthAfterRejects uint64 `json:"lengthAfterRejects"`
	Verified           []struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	} `json:"verified"`
	Blocks     []*string `json:"blocks"`
	Length     uint64    `json:"length"`
	ByteLength uint64    `json:"byteLength"`
	Fork       uint64    `json:"fork"`
	TreeHash   string    `json:"treeHash"`
}

// TestInteropHypercoreGoToJS has a Go writer with a fresh key answer the
// requests of a JS reader: the JS core's own verifier accepts every Go
// proof and signature, decrypts the Go-encrypted blocks, ends at the same
// tree hash, and refuses Go proofs with a flipped signature bit or a
// tampered block.
func TestInteropHypercoreGoToJS(t *testing.T) {
	env := Require(t)
	for _, tc := range hcCases() {
		t.Run(tc.name, func(t *testing.T) {
			kp, err := crypto.NewKeyPair()
			if err != nil {
				t.Fatal(err)
			}
			w, err := hypercore.Open(t.TempDir(), hypercore.Options{KeyPair: &kp, Compat: tc.compat, EncryptionKey: tc.encKey})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			plain := runOps(t, w, tc.ops)
			key := w.Key()
			seq := readSequence(t, w, hypercore.Options{Key: key[:], EncryptionKey: tc.encKey})
			var proofs []string
			for id, q := range seq {
				h, err := goData(w, uint64(id), q)
				if err != nil {
					t.Fatal(err)
				}
				proofs = append(proofs, h)
			}
			// Tampered copies of the first proof.
			first, _ := w.Proof(toProofRequest(seq[0]))
			if !tc.compat {
				first.Manifest = w.Manifest()
			}
			badSig := *first
			up := *first.Upgrade
			up.Signature = append([]byte{}, up.Signature...)
			up.Signature[len(up.Signature)-10] ^= 1
			badSig.Upgrade = &up
			badBlock := *first
			bb := *first.Block
			bb.Value = append([]byte{}, bb.Value...)
			bb.Value[len(bb.Value)-1] ^= 1
			badBlock.Block = &bb
			var rejects []string
			for _, p := range []*hypercore.Proof{&badSig, &badBlock} {
				rejects = append(rejects, hex.EncodeToString(compact.Encode(hypercore.DataCodec, &hypercore.Data{Proof: *p})))
			}
			cfg := map[string]any{
				"key":           hex.EncodeToString(key[:]),
				"compat":        tc.compat,
				"encryptionKey": hex.EncodeToString(tc.encKey),
				"proofs":        proofs,
				"expectReject":  rejects,
			}
			if !tc.compat {
				cfg["manifest"] = hex.EncodeToString(w.Manifest().Encode())
			}
			in, _ := json.Marshal(cfg)
			var js hcReaderOut
			if err := json.Unmarshal(env.Run(t, in, "hypercore-reader.js"), &js); err != nil {
				t.Fatal(err)
			}
			for i, r := range js.Rejected {
				if r.OK {
					t.Fatalf("JS accepted tampered proof %d", i)
				}
			}
			if js.LengthAfterRejects != 0 {
				t.Fatalf("tampered proofs changed the JS core: length %d", js.LengthAfterRejects)
			}
			for i, v := range js.Verified {
				if !v.OK {
					t.Fatalf("JS refused Go proof %d: %s", i, v.Error)
				}
			}
			th := w.TreeHash()
			if js.Length != w.Length() || js.Fork != w.Fork() || js.ByteLength != w.ByteLength() || js.TreeHash != hex.EncodeToString(th[:]) {
				t.Fatalf("JS reader state: %+v, go length %d fork %d bytes %d hash %x", js, w.Length(), w.Fork(), w.ByteLength(), th)
			}
			for i, want := range plain {
				if js.Blocks[i] == nil || *js.Blocks[i] != hex.EncodeToString(want) {
					t.Fatalf("JS block %d = %v, want %x", i, js.Blocks[i], want)
				}
			}
		})
	}
}
