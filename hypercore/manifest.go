package hypercore

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/warrenp2p/warren/compact"
	"github.com/warrenp2p/warren/crypto"
)

// The hypercore namespaces, derived as hypercore 11 derives them:
// crypto.Namespace("hypercore", 6).
var (
	nsTree              [32]byte
	nsReplicateInit     [32]byte
	nsReplicateResp     [32]byte
	nsManifest          [32]byte
	DefaultNamespace    [32]byte // the namespace of a default signer
	nsDefaultEncryption [32]byte
)

func init() {
	ns := crypto.Namespace([]byte("hypercore"), 6)
	nsTree, nsReplicateInit, nsReplicateResp = ns[0], ns[1], ns[2]
	nsManifest, DefaultNamespace, nsDefaultEncryption = ns[3], ns[4], ns[5]
}

// Manifest describes who may sign a core and how. The key of a non-compat
// core is the hash of its manifest (see Manifest.Hash).
type Manifest struct {
	Version    uint64    // 0 (legacy), 1 (default) or 2 (linked cores, user data)
	AllowPatch bool      // multisig signers may sign older lengths with a patch
	Quorum     uint64    // signatures needed
	Signers    []Signer  // Ed25519 signers
	Prologue   *Prologue // a fixed start of the core every signer agrees on
	Linked     [][32]byte
	UserData   []byte // non-nil marks the field present (version 2)
}

// Signer is one Ed25519 signer of a manifest.
type Signer struct {
	Namespace [32]byte // DefaultNamespace unless the manifest says otherwise
	PublicKey [32]byte
}

// Prologue pins the first Length blocks of a core to a tree hash.
type Prologue struct {
	Hash   [32]byte
	Length uint64
}

// Errors about manifests and signatures.
var (
	ErrManifest  = errors.New("hypercore: invalid manifest")
	ErrSignature = errors.New("hypercore: invalid signature")
	ErrNotSigner = errors.New("hypercore: key pair is not a signer of this core")
)

// DefaultManifest returns the version 1 manifest with one default signer,
// as hypercore's defaultSignerManifest.
func DefaultManifest(publicKey []byte) *Manifest {
	var s Signer
	s.Namespace = DefaultNamespace
	copy(s.PublicKey[:], publicKey)
	return &Manifest{Version: 1, Quorum: 1, Signers: []Signer{s}}
}

// Hash returns the manifest hash: the key of a non-compat core.
func (m *Manifest) Hash() [32]byte {
	return crypto.Hash(nsManifest[:], m.Encode())
}

// Encode returns the wire encoding of m (hypercore messages manifest).
func (m *Manifest) Encode() []byte { return compact.Encode[*Manifest](ManifestCodec, m) }

// DecodeManifest parses the wire encoding of a manifest.
func DecodeManifest(b []byte) (*Manifest, error) {
	m, err := compact.DecodeExact[*Manifest](ManifestCodec, b)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrManifest, err)
	}
	return m, nil
}

// isCompat reports whether key is the public key of the manifest's one signer:
// such cores sign with the legacy signable and have no manifest hash key.
func (m *Manifest) isCompat(key []byte) bool {
	return m != nil && len(m.Signers) == 1 && bytes.Equal(key, m.Signers[0].PublicKey[:])
}

// Validate checks what hypercore's createManifest checks.
func (m *Manifest) Validate() error {
	if m.Quorum > uint64(len(m.Signers)) {
		return fmt.Errorf("%w: quorum higher than the number of signers", ErrManifest)
	}
	if m.Version < 2 && (m.UserData != nil || len(m.Linked) > 0) {
		return fmt.Errorf("%w: user data and linked cores need version 2", ErrManifest)
	}
	return nil
}

// ManifestCodec is the compact codec of a manifest.
var ManifestCodec compact.Codec[*Manifest] = manifestCodec{}

type manifestCodec struct{}

const (
	manifestPatch    = 1
	manifestPrologue = 2
	manifestLinked   = 4
	manifestUserData = 8
)

func (manifestCodec) Preencode(s *compact.State, m *Manifest) {
	compact.Uint.Preencode(s, m.Version)
	if m.Version == 0 {
		s.End++ // hash
		s.End++ // type
		switch {
		case m.Prologue != nil && len(m.Signers) == 0:
			s.End += 32
		case m.Quorum == 1 && len(m.Signers) == 1 && !m.AllowPatch:
			s.End += 65
		default:
			s.End++
			compact.Uint.Preencode(s, m.Quorum)
			compact.Uint.Preencode(s, uint64(len(m.Signers)))
			s.End += 65 * len(m.Signers)
		}
		return
	}
	compact.Uint.Preencode(s, m.flags())
	s.End++ // hash
	compact.Uint.Preencode(s, m.Quorum)
	compact.Uint.Preencode(s, uint64(len(m.Signers)))
	s.End += 65 * len(m.Signers)
	if m.Prologue != nil {
		s.End += 32
		compact.Uint.Preencode(s, m.Prologue.Length)
	}
	if m.Linked != nil {
		compact.Uint.Preencode(s, uint64(len(m.Linked)))
		s.End += 32 * len(m.Linked)
	}
	if m.UserData != nil {
		compact.Buffer.Preencode(s, m.UserData)
	}
}

func (m *Manifest) flags() uint64 {
	var f uint64
	if m.AllowPatch {
		f |= manifestPatch
	}
	if m.Prologue != nil {
		f |= manifestPrologue
	}
	if m.Linked != nil {
		f |= manifestLinked
	}
	if m.UserData != nil {
		f |= manifestUserData
	}
	return f
}

func encodeSigner(s *compact.State, sg Signer) {
	compact.Uint.Encode(s, 0) // ed25519
	compact.Bytes32.Encode(s, sg.Namespace)
	compact.Bytes32.Encode(s, sg.PublicKey)
}

func decodeSigner(s *compact.State) (sg Signer, err error) {
	t, err := compact.Uint.Decode(s)
	if err != nil {
		return sg, err
	}
	if t != 0 {
		return sg, fmt.Errorf("%w: unknown signature id %d", ErrManifest, t)
	}
	if sg.Namespace, err = compact.Bytes32.Decode(s); err != nil {
		return sg, err
	}
	sg.PublicKey, err = compact.Bytes32.Decode(s)
	return sg, err
}

func encodeSigners(s *compact.State, ss []Signer) {
	compact.Uint.Encode(s, uint64(len(ss)))
	for _, sg := range ss {
		encodeSigner(s, sg)
	}
}

func decodeSigners(s *compact.State) ([]Signer, error) {
	n, err := compact.Uint.Decode(s)
	if err != nil {
		return nil, err
	}
	if n > compact.MaxArrayLen || n > uint64(s.Remaining()/65) {
		return nil, fmt.Errorf("%w: too many signers", ErrManifest)
	}
	out := make([]Signer, 0, n)
	for range n {
		sg, err := decodeSigner(s)
		if err != nil {
			return nil, err
		}
		out = append(out, sg)
	}
	return out, nil
}

func (manifestCodec) Encode(s *compact.State, m *Manifest) {
	compact.Uint.Encode(s, m.Version)
	if m.Version == 0 {
		compact.Uint.Encode(s, 0) // blake2b
		switch {
		case m.Prologue != nil && len(m.Signers) == 0:
			compact.Uint.Encode(s, 0)
			compact.Bytes32.Encode(s, m.Prologue.Hash)
		case m.Quorum == 1 && len(m.Signers) == 1 && !m.AllowPatch:
			compact.Uint.Encode(s, 1)
			encodeSigner(s, m.Signers[0])
		default:
			compact.Uint.Encode(s, 2)
			if m.AllowPatch {
				compact.Uint.Encode(s, 1)
			} else {
				compact.Uint.Encode(s, 0)
			}
			compact.Uint.Encode(s, m.Quorum)
			encodeSigners(s, m.Signers)
		}
		return
	}
	compact.Uint.Encode(s, m.flags())
	compact.Uint.Encode(s, 0) // blake2b
	compact.Uint.Encode(s, m.Quorum)
	encodeSigners(s, m.Signers)
	if m.Prologue != nil {
		compact.Bytes32.Encode(s, m.Prologue.Hash)
		compact.Uint.Encode(s, m.Prologue.Length)
	}
	if m.Linked != nil {
		compact.Uint.Encode(s, uint64(len(m.Linked)))
		for _, k := range m.Linked {
			compact.Bytes32.Encode(s, k)
		}
	}
	if m.UserData != nil {
		compact.Buffer.Encode(s, m.UserData)
	}
}

func (manifestCodec) Decode(s *compact.State) (*Manifest, error) {
	version, err := compact.Uint.Decode(s)
	if err != nil {
		return nil, err
	}
	if version == 0 {
		return decodeManifestV0(s)
	}
	if version > 3 {
		return nil, fmt.Errorf("%w: unknown version %d", ErrManifest, version)
	}
	m := &Manifest{Version: version}
	flags, err := compact.Uint.Decode(s)
	if err != nil {
		return nil, err
	}
	if err := decodeHashID(s); err != nil {
		return nil, err
	}
	if m.Quorum, err = compact.Uint.Decode(s); err != nil {
		return nil, err
	}
	if m.Signers, err = decodeSigners(s); err != nil {
		return nil, err
	}
	m.AllowPatch = flags&manifestPatch != 0
	if flags&manifestPrologue != 0 {
		p := &Prologue{}
		if p.Hash, err = compact.Bytes32.Decode(s); err != nil {
			return nil, err
		}
		if p.Length, err = compact.Uint.Decode(s); err != nil {
			return nil, err
		}
		m.Prologue = p
	}
	if flags&manifestLinked != 0 {
		n, err := compact.Uint.Decode(s)
		if err != nil {
			return nil, err
		}
		if n > compact.MaxArrayLen || n > uint64(s.Remaining()/32) {
			return nil, fmt.Errorf("%w: too many linked cores", ErrManifest)
		}
		m.Linked = make([][32]byte, n)
		for i := range m.Linked {
			if m.Linked[i], err = compact.Bytes32.Decode(s); err != nil {
				return nil, err
			}
		}
	}
	if flags&manifestUserData != 0 {
		b, err := compact.Buffer.Decode(s)
		if err != nil {
			return nil, err
		}
		m.UserData = append([]byte{}, b...)
	}
	return m, nil
}

func decodeHashID(s *compact.State) error {
	h, err := compact.Uint.Decode(s)
	if err != nil {
		return err
	}
	if h != 0 {
		return fmt.Errorf("%w: unknown hash id %d", ErrManifest, h)
	}
	return nil
}

func decodeManifestV0(s *compact.State) (*Manifest, error) {
	if err := decodeHashID(s); err != nil {
		return nil, err
	}
	t, err := compact.Uint.Decode(s)
	if err != nil {
		return nil, err
	}
	m := &Manifest{}
	switch t {
	case 0:
		h, err := compact.Bytes32.Decode(s)
		if err != nil {
			return nil, err
		}
		m.Prologue = &Prologue{Hash: h}
		return m, nil
	case 1:
		sg, err := decodeSigner(s)
		if err != nil {
			return nil, err
		}
		m.Quorum = 1
		m.Signers = []Signer{sg}
		return m, nil
	case 2:
		flags, err := compact.Uint.Decode(s)
		if err != nil {
			return nil, err
		}
		m.AllowPatch = flags&1 != 0
		if m.Quorum, err = compact.Uint.Decode(s); err != nil {
			return nil, err
		}
		if m.Signers, err = decodeSigners(s); err != nil {
			return nil, err
		}
		return m, nil
	}
	return nil, fmt.Errorf("%w: unknown type %d", ErrManifest, t)
}

// treeSignable is the message a hypercore 11 signer signs for a tree:
// the tree namespace, the signer context (manifest hash, or the signer's
// namespace for version 0 manifests), the tree hash, length and fork.
func treeSignable(ctx, treeHash [32]byte, length, fork uint64) []byte {
	b := make([]byte, 0, 112)
	b = append(b, nsTree[:]...)
	b = append(b, ctx[:]...)
	b = append(b, treeHash[:]...)
	b = appendUint64LE(b, length)
	return appendUint64LE(b, fork)
}

// treeSignableCompat is what compat cores (key = public key) sign.
func treeSignableCompat(treeHash [32]byte, length, fork uint64, noHeader bool) []byte {
	b := make([]byte, 0, 80)
	if !noHeader {
		b = append(b, nsTree[:]...)
	}
	b = append(b, treeHash[:]...)
	b = appendUint64LE(b, length)
	return appendUint64LE(b, fork)
}

func appendUint64LE(b []byte, v uint64) []byte {
	return append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24), byte(v>>32), byte(v>>40), byte(v>>48), byte(v>>56))
}

// verifier checks and makes the signatures of one core.
type verifier struct {
	key      [32]byte
	manifest *Manifest
	compat   bool
	version  uint64
	quorum   uint64
	legacy   bool // compat signatures without the tree namespace header
}

func newVerifier(key [32]byte, m *Manifest) *verifier {
	v := &verifier{key: key, manifest: m}
	v.compat = m.isCompat(key[:])
	if v.compat {
		v.quorum = 1
	} else {
		v.version = m.Version
		v.quorum = m.Quorum
	}
	return v
}

// treeState is what a signature covers.
type treeState struct {
	hash   [32]byte
	length uint64
	fork   uint64
}

func (v *verifier) signable(i int, t treeState) []byte {
	if v.compat {
		return treeSignableCompat(t.hash, t.length, t.fork, v.legacy)
	}
	ctx := v.key
	if v.version == 0 {
		ctx = v.manifest.Signers[i].Namespace
	}
	return treeSignable(ctx, t.hash, t.length, t.fork)
}

// Verify reports whether sig is a valid signature of the tree state.
func (v *verifier) verify(t treeState, sig []byte) bool {
	m := v.manifest
	if !v.compat && v.version != 0 && m.Prologue != nil && t.length <= m.Prologue.Length {
		return t.length == m.Prologue.Length && t.hash == m.Prologue.Hash
	}
	if len(sig) == 0 || len(m.Signers) == 0 {
		return false
	}
	if v.compat || (v.version == 0 && !m.AllowPatch && len(m.Signers) == 1) {
		return crypto.Verify(v.signable(0, t), sig, m.Signers[0].PublicKey[:])
	}
	if v.quorum == 0 {
		return false
	}
	var proofs []multisigInput
	var err error
	if v.version == 0 {
		proofs, err = decodeMultisigV0(sig)
	} else {
		proofs, err = decodeMultisig(sig)
	}
	if err != nil || uint64(len(proofs)) < v.quorum {
		return false
	}
	tried := make([]bool, len(m.Signers))
	for i := range v.quorum {
		p := proofs[i]
		if p.patch != 0 && m.AllowPatch {
			return false // patched multisig signatures are not supported yet
		}
		if p.signer >= uint64(len(m.Signers)) || tried[p.signer] {
			return false
		}
		tried[p.signer] = true
		if !crypto.Verify(v.signable(int(p.signer), t), p.signature[:], m.Signers[p.signer].PublicKey[:]) {
			return false
		}
	}
	return true
}

// sign signs the tree state with kp, which must be one of the signers.
func (v *verifier) sign(t treeState, kp crypto.KeyPair) ([]byte, error) {
	for i, s := range v.manifest.Signers {
		if !bytes.Equal(s.PublicKey[:], kp.PublicKey) {
			continue
		}
		sig := crypto.Sign(v.signable(i, t), kp.SecretKey)
		if len(v.manifest.Signers) != 1 || v.compat || v.version == 0 {
			return sig, nil
		}
		var in multisigInput
		copy(in.signature[:], sig)
		return encodeMultisig([]multisigInput{in}), nil
	}
	return nil, ErrNotSigner
}

type multisigInput struct {
	signer    uint64
	signature [64]byte
	patch     uint64
}

func encodeMultisig(in []multisigInput) []byte {
	b := binaryAppendUint(nil, uint64(len(in)))
	for _, p := range in {
		b = binaryAppendUint(b, p.signer)
		b = append(b, p.signature[:]...)
		b = binaryAppendUint(b, p.patch)
	}
	return binaryAppendUint(b, 0) // no patch nodes
}

func binaryAppendUint(b []byte, v uint64) []byte {
	s := &compact.State{}
	compact.Uint.Preencode(s, v)
	s.Buf = make([]byte, s.End)
	compact.Uint.Encode(s, v)
	return append(b, s.Buf...)
}

func decodeMultisig(b []byte) ([]multisigInput, error) {
	s := &compact.State{Buf: b, End: len(b)}
	n, err := compact.Uint.Decode(s)
	if err != nil {
		return nil, err
	}
	if n > uint64(s.Remaining()/66) {
		return nil, compact.ErrTruncated
	}
	out := make([]multisigInput, 0, n)
	for range n {
		var p multisigInput
		if p.signer, err = compact.Uint.Decode(s); err != nil {
			return nil, err
		}
		if p.signature, err = compact.Bytes64.Decode(s); err != nil {
			return nil, err
		}
		if p.patch, err = compact.Uint.Decode(s); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if _, err := compact.Array(NodeCodec).Decode(s); err != nil {
		return nil, err
	}
	return out, nil
}

func decodeMultisigV0(b []byte) ([]multisigInput, error) {
	s := &compact.State{Buf: b, End: len(b)}
	n, err := compact.Uint.Decode(s)
	if err != nil {
		return nil, err
	}
	if n > uint64(s.Remaining()/66) {
		return nil, compact.ErrTruncated
	}
	out := make([]multisigInput, 0, n)
	for range n {
		var p multisigInput
		flags, err := compact.Uint.Decode(s)
		if err != nil {
			return nil, err
		}
		if p.signer, err = compact.Uint.Decode(s); err != nil {
			return nil, err
		}
		if p.signature, err = compact.Bytes64.Decode(s); err != nil {
			return nil, err
		}
		if flags&1 != 0 {
			start, err := compact.Uint.Decode(s)
			if err != nil {
				return nil, err
			}
			if p.patch, err = compact.Uint.Decode(s); err != nil {
				return nil, err
			}
			if _, err := compact.UintArray.Decode(s); err != nil {
				return nil, err
			}
			_ = start
			if p.patch == 0 {
				p.patch = 1 // present but empty still counts as a patch
			}
		}
		out = append(out, p)
	}
	if _, err := compact.Array(NodeCodec).Decode(s); err != nil {
		return nil, err
	}
	return out, nil
}
