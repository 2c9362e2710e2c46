package hypercore

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/warrenp2p/warren/compact"
	"github.com/warrenp2p/warren/crypto"
)

func seedProofs(f *testing.F) {
	full, nodes := buildTree(11)
	full.signature = bytes.Repeat([]byte{9}, 64)
	reqs := []ProofRequest{
		{Block: &RequestBlock{Index: 3}, Upgrade: &RequestUpgrade{Start: 0, Length: 11}},
		{Hash: &RequestBlock{Index: 5}, Upgrade: &RequestUpgrade{Start: 2, Length: 9}},
		{Seek: &RequestSeek{Bytes: 30}, Upgrade: &RequestUpgrade{Start: 0, Length: 11}},
		{Upgrade: &RequestUpgrade{Start: 3, Length: 4}},
	}
	for i, r := range reqs {
		p, err := generateProof(full, nodes, r)
		if err != nil {
			f.Fatal(err)
		}
		if p.Block != nil {
			p.Block.Value = blockData(int(p.Block.Index))
		}
		if i == 0 {
			p.Manifest = DefaultManifest(bytes.Repeat([]byte{1}, 32))
		}
		f.Add(encodeData(&Data{Request: uint64(i), Proof: *p}))
	}
}

// FuzzData decodes data messages: no panic, and what decodes re-encodes to
// a message that decodes to the same value.
func FuzzData(f *testing.F) {
	seedProofs(f)
	f.Add([]byte{0x1f, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeData(b)
		if err != nil {
			return
		}
		again, err := decodeData(encodeData(d))
		if err != nil {
			t.Fatalf("re-encoded data does not decode: %v", err)
		}
		if !reflect.DeepEqual(normData(d), normData(again)) {
			t.Fatalf("round trip differs:\n%+v\n%+v", d, again)
		}
	})
}

// normData maps empty slices to nil so round trips compare equal.
func normData(d *Data) *Data {
	c := *d
	fix := func(n []Node) []Node {
		if len(n) == 0 {
			return nil
		}
		return n
	}
	if c.Block != nil {
		b := *c.Block
		b.Nodes = fix(b.Nodes)
		if len(b.Value) == 0 {
			b.Value = nil
		}
		c.Block = &b
	}
	if c.Hash != nil {
		h := *c.Hash
		h.Nodes = fix(h.Nodes)
		c.Hash = &h
	}
	if c.Seek != nil {
		s := *c.Seek
		s.Nodes = fix(s.Nodes)
		c.Seek = &s
	}
	if c.Upgrade != nil {
		u := *c.Upgrade
		u.Nodes, u.AdditionalNodes = fix(u.Nodes), fix(u.AdditionalNodes)
		if len(u.Signature) == 0 {
			u.Signature = nil
		}
		c.Upgrade = &u
	}
	if c.Manifest != nil {
		c.Manifest = normManifest(c.Manifest)
	}
	return &c
}

func normManifest(m *Manifest) *Manifest {
	c := *m
	if len(c.Signers) == 0 {
		c.Signers = nil
	}
	return &c
}

// FuzzRequest decodes request messages and checks the round trip.
func FuzzRequest(f *testing.F) {
	for _, r := range []*Request{
		{ID: 1, Fork: 2, Block: &RequestBlock{Index: 3, Nodes: 2}, Upgrade: &RequestUpgrade{Start: 0, Length: 9}, Manifest: true},
		{ID: 7, Hash: &RequestBlock{Index: 5}, Seek: &RequestSeek{Bytes: 100, Padding: 8}, Priority: 2},
	} {
		f.Add(compact.Encode[*Request](RequestCodec, r))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := compact.DecodeExact[*Request](RequestCodec, b)
		if err != nil {
			return
		}
		again, err := compact.DecodeExact[*Request](RequestCodec, compact.Encode[*Request](RequestCodec, r))
		if err != nil || !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip: %+v %+v %v", r, again, err)
		}
	})
}

// FuzzManifest decodes manifests: no panic, and a decoded manifest
// re-encodes to the same bytes' meaning (and the same hash once canonical).
func FuzzManifest(f *testing.F) {
	kp := bytes.Repeat([]byte{3}, 32)
	f.Add(DefaultManifest(kp).Encode())
	m0 := DefaultManifest(kp)
	m0.Version = 0
	f.Add(m0.Encode())
	m2 := &Manifest{Version: 2, Quorum: 2, AllowPatch: true, Signers: []Signer{{}, {PublicKey: [32]byte{1}}}, Prologue: &Prologue{Length: 4}, Linked: [][32]byte{{5}}, UserData: []byte("hi")}
	f.Add(m2.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeManifest(b)
		if err != nil {
			return
		}
		enc := m.Encode()
		m2, err := DecodeManifest(enc)
		if err != nil {
			t.Fatalf("re-encoded manifest does not decode: %v", err)
		}
		if !bytes.Equal(m2.Encode(), enc) || m2.Hash() != m.Hash() {
			t.Fatal("manifest encoding is not stable")
		}
	})
}

// FuzzVerifyProof feeds arbitrary data messages to the verifier of a
// small tree: it must return an error or a batch, never panic or hang.
func FuzzVerifyProof(f *testing.F) {
	seedProofs(f)
	_, nodes := buildTree(11)
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := decodeData(b)
		if err != nil {
			return
		}
		for _, m := range []uint64{0, 4, 11} {
			reader, rsrc := prefix(nodes, m)
			verifyProof(reader, rsrc, &d.Proof)
		}
	})
}

// FuzzStoredRecords decodes stored records (head, auth, node, multisig):
// no panic, and valid records round-trip.
func FuzzStoredRecords(f *testing.F) {
	f.Add(byte(0), encodeHead(headRecord{fork: 2, length: 10, byteLength: 77, signature: bytes.Repeat([]byte{1}, 64)}))
	kp, _ := crypto.KeyPairFromSeed(bytes.Repeat([]byte{4}, 32))
	f.Add(byte(1), encodeAuth(authRecord{key: [32]byte{1}, manifest: DefaultManifest(kp.PublicKey), keyPair: &kp}))
	f.Add(byte(1), encodeAuth(authRecord{key: [32]byte{1}}))
	f.Add(byte(2), encodeNodeRecord(Node{Index: 5, Size: 300, Hash: [32]byte{7}}))
	f.Add(byte(2), encodeLeafRecord(Node{Index: 8, Size: 30, Hash: [32]byte{7}}, 12345))
	f.Add(byte(3), encodeMultisig([]multisigInput{{signer: 0, patch: 1}}))
	f.Fuzz(func(t *testing.T, kind byte, b []byte) {
		switch kind % 4 {
		case 0:
			h, err := decodeHead(b)
			if err == nil {
				h2, err := decodeHead(encodeHead(h))
				if err != nil || !reflect.DeepEqual(h, h2) {
					t.Fatalf("head round trip %+v %+v %v", h, h2, err)
				}
			}
		case 1:
			a, err := decodeAuth(b)
			if err == nil {
				a2, err := decodeAuth(encodeAuth(a))
				if err != nil || a2.key != a.key || (a.manifest == nil) != (a2.manifest == nil) || (a.keyPair == nil) != (a2.keyPair == nil) {
					t.Fatalf("auth round trip %v", err)
				}
			}
		case 2:
			n, err := decodeNodeRecord(9, b)
			if err == nil {
				n2, err := decodeNodeRecord(9, encodeNodeRecord(n))
				if err != nil || n != n2 {
					t.Fatal("node round trip")
				}
			}
			if n, off, has, err := decodeNodeRecordOffset(8, b); err == nil && has {
				n2, off2, has2, err := decodeNodeRecordOffset(8, encodeLeafRecord(n, off))
				if err != nil || n != n2 || off != off2 || !has2 {
					t.Fatal("leaf record round trip")
				}
			}
		case 3:
			decodeMultisig(b)
			decodeMultisigV0(b)
		}
	})
}

// FuzzWire decodes the other channel messages (handshake, sync, no-data,
// range, want, bitfield): no panic, and those with encoders round-trip.
func FuzzWire(f *testing.F) {
	f.Add(byte(0), encodeHandshake(Handshake{Seeks: true, Capability: [32]byte{1}}))
	f.Add(byte(1), encodeSync(Sync{Fork: 1, Length: 100, RemoteLength: 4, CanUpgrade: true, Downloading: true}))
	f.Add(byte(2), encodeNoData(NoData{Request: 5, Reason: 1}))
	f.Add(byte(3), encodeRange(Range{Start: 0, Length: 1}))
	f.Add(byte(3), encodeRange(Range{Drop: true, Start: 9, Length: 100}))
	f.Add(byte(4), []byte{1, 2, 1})
	f.Add(byte(5), []byte{0, 1, 0xff, 0xff, 0, 0})
	f.Fuzz(func(t *testing.T, kind byte, b []byte) {
		switch kind % 6 {
		case 0:
			if h, err := decodeHandshake(b); err == nil {
				if h2, err := decodeHandshake(encodeHandshake(h)); err != nil || h2 != h {
					t.Fatal("handshake round trip")
				}
			}
		case 1:
			if m, err := decodeSync(b); err == nil {
				if m2, err := decodeSync(encodeSync(m)); err != nil || m2 != m {
					t.Fatal("sync round trip")
				}
			}
		case 2:
			if m, err := decodeNoData(b); err == nil {
				if m2, err := decodeNoData(encodeNoData(m)); err != nil || m2 != m {
					t.Fatal("no-data round trip")
				}
			}
		case 3:
			if m, err := decodeRange(b); err == nil {
				if m2, err := decodeRange(encodeRange(m)); err != nil || m2 != m {
					t.Fatal("range round trip")
				}
			}
		case 4:
			decodeWant(b)
		case 5:
			decodeBitfield(b)
		}
	})
}
