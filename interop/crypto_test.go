package interop

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"

	"filippo.io/edwards25519"
	"golang.org/x/crypto/blake2b"
	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/salsa20/salsa"

	wcrypto "github.com/warrenp2p/warren/crypto"
)

// cryptoRun sends req to js/crypto.js and decodes its reply into out. It
// fails the test if JavaScript found any Go value that differs from its own.
func cryptoRun(t *testing.T, req any, out any) {
	t.Helper()
	env := Require(t)
	in, err := json.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	raw := env.Run(t, in, "crypto.js")
	var mm struct {
		Mismatches []json.RawMessage `json:"mismatches"`
	}
	if err := json.Unmarshal(raw, &mm); err != nil {
		t.Fatalf("reply: %v\n%.500s", err, raw)
	}
	for _, m := range mm.Mismatches {
		t.Errorf("JavaScript disagrees with Go: %s", m)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
}

func cryptoHex(b []byte) string { return hex.EncodeToString(b) }

func cryptoUnhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cryptoPattern(n int, salt byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31) ^ salt
	}
	return b
}

type cryptoNode struct {
	Index uint64 `json:"index"`
	Size  uint64 `json:"size"`
	Hash  string `json:"hash"`
}

func cryptoJSNode(n wcrypto.TreeNode) cryptoNode {
	return cryptoNode{Index: n.Index, Size: n.Size, Hash: cryptoHex(n.Hash[:])}
}

// TestInteropCryptoVectors compares keys, signatures, hashes, namespaces,
// discovery keys and tree hashes: JavaScript computes each from the same
// inputs and checks Go's values, and Go checks JavaScript's.
func TestInteropCryptoVectors(t *testing.T) {
	type keyPair struct {
		PublicKey string `json:"publicKey"`
		SecretKey string `json:"secretKey"`
		Valid     bool   `json:"valid"`
	}
	type hashReq struct {
		Data []string `json:"data"`
		Go   string   `json:"go"`
	}
	type keyedReq struct {
		Key    *string  `json:"key"`
		Data   []string `json:"data"`
		OutLen int      `json:"outLen"`
	}
	type discReq struct {
		Key string `json:"key"`
		Go  any    `json:"go"`
	}
	type nsReq struct {
		Name  string   `json:"name"`
		Count int      `json:"count,omitempty"`
		IDs   []int    `json:"ids,omitempty"`
		Go    []string `json:"go"`
	}
	type leafReq struct {
		Data string `json:"data"`
		Size int    `json:"size,omitempty"`
		Fill *int   `json:"fill,omitempty"`
		Go   string `json:"go"`
	}
	type parentReq struct {
		A  cryptoNode `json:"a"`
		B  cryptoNode `json:"b"`
		Go string     `json:"go"`
	}
	type treeReq struct {
		Roots []cryptoNode `json:"roots"`
		Go    string       `json:"go"`
	}
	type signReq struct {
		Seed string `json:"seed"`
		Msg  string `json:"msg"`
		Go   string `json:"go"`
	}
	type verifyReq struct {
		Msg string `json:"msg"`
		Sig string `json:"sig"`
		PK  string `json:"pk"`
	}
	var req struct {
		Seeds []string `json:"seeds"`
		Go    struct {
			KeyPairs []keyPair `json:"keyPairs"`
		} `json:"go"`
		Sign       []signReq   `json:"sign"`
		Verify     []verifyReq `json:"verify"`
		Hashes     []hashReq   `json:"hashes"`
		Keyed      []keyedReq  `json:"keyed"`
		Discovery  []discReq   `json:"discovery"`
		Namespaces []nsReq     `json:"namespaces"`
		Leaves     []leafReq   `json:"leaves"`
		Parents    []parentReq `json:"parents"`
		Trees      []treeReq   `json:"trees"`
	}

	// Key pairs and signatures.
	var kps []wcrypto.KeyPair
	for i := range 4 {
		seed := cryptoPattern(32, byte(i))
		kp, err := wcrypto.KeyPairFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		kps = append(kps, kp)
		req.Seeds = append(req.Seeds, cryptoHex(seed))
		req.Go.KeyPairs = append(req.Go.KeyPairs, keyPair{cryptoHex(kp.PublicKey), cryptoHex(kp.SecretKey), wcrypto.ValidateKeyPair(kp)})
	}
	messages := [][]byte{{}, []byte("hello"), cryptoPattern(1000, 1), cryptoPattern(70000, 2)}
	var goSigs [][]byte
	for i, m := range messages {
		kp := kps[i%len(kps)]
		sig := wcrypto.Sign(m, kp.SecretKey)
		goSigs = append(goSigs, sig)
		req.Sign = append(req.Sign, signReq{Seed: req.Seeds[i%len(kps)], Msg: cryptoHex(m), Go: cryptoHex(sig)})
		// Go's signatures, and the same with a flipped bit, judged by sodium.
		req.Verify = append(req.Verify, verifyReq{cryptoHex(m), cryptoHex(sig), cryptoHex(kp.PublicKey)})
		bad := bytes.Clone(sig)
		bad[i] ^= 4
		req.Verify = append(req.Verify, verifyReq{cryptoHex(m), cryptoHex(bad), cryptoHex(kp.PublicKey)})
	}

	// Hashes.
	hashInputs := [][][]byte{nil, {{}}, {[]byte("a")}, {[]byte("ab"), {}, []byte("c")}, {cryptoPattern(5000, 3), cryptoPattern(7, 4)}}
	for _, parts := range hashInputs {
		r := hashReq{Data: []string{}}
		for _, p := range parts {
			r.Data = append(r.Data, cryptoHex(p))
		}
		h := wcrypto.Hash(parts...)
		r.Go = cryptoHex(h[:])
		req.Hashes = append(req.Hashes, r)
	}

	// Keyed and sized hashes, including sizes sodium refuses.
	type keyedCase struct {
		key    []byte // nil: no key
		outLen int
	}
	keyedCases := []keyedCase{
		{cryptoPattern(32, 5), 32}, {cryptoPattern(16, 5), 32}, {cryptoPattern(64, 5), 32},
		{cryptoPattern(15, 5), 32}, {cryptoPattern(65, 5), 32}, {[]byte{}, 32},
		{nil, 16}, {nil, 64}, {nil, 15}, {nil, 65}, {cryptoPattern(20, 6), 24},
	}
	keyedData := [][]byte{[]byte("keyed "), cryptoPattern(300, 7)}
	for _, c := range keyedCases {
		r := keyedReq{OutLen: c.outLen}
		if c.key != nil {
			k := cryptoHex(c.key)
			r.Key = &k
		}
		for _, d := range keyedData {
			r.Data = append(r.Data, cryptoHex(d))
		}
		req.Keyed = append(req.Keyed, r)
	}

	// Discovery keys: 32-byte keys, and lengths JavaScript throws on (Go's
	// DiscoveryKey takes a [32]byte, so those cannot be expressed there).
	for _, n := range []int{32, 32, 31, 33, 0} {
		key := cryptoPattern(n, byte(n))
		r := discReq{Key: cryptoHex(key)}
		if n == 32 {
			d := wcrypto.DiscoveryKey([32]byte(key))
			r.Go = cryptoHex(d[:])
		}
		req.Discovery = append(req.Discovery, r)
	}

	// Namespaces: several names, counted and explicit ids, wrapping ids.
	for _, c := range []struct {
		name  []byte
		count int
		ids   []int
	}{
		{[]byte("hypercore"), 3, nil}, {[]byte("corestore"), 1, nil}, {[]byte{}, 2, nil},
		{cryptoPattern(100, 8), 300, nil}, {[]byte("autobase"), 0, []int{7, 0, 255, 3}},
		{[]byte("wrap"), 0, []int{256, 257, 1}},
	} {
		r := nsReq{Name: cryptoHex(c.name), Count: c.count, IDs: c.ids}
		var got [][32]byte
		if c.ids != nil {
			ids := make([]byte, len(c.ids))
			for i, id := range c.ids {
				ids[i] = byte(id)
			}
			got = wcrypto.NamespaceIDs(c.name, ids)
		} else {
			got = wcrypto.Namespace(c.name, c.count)
		}
		for _, h := range got {
			r.Go = append(r.Go, cryptoHex(h[:]))
		}
		req.Namespaces = append(req.Namespaces, r)
	}

	// Leaves: empty, small, at the inline limit, large (built in JS from a fill byte).
	leafSizes := []int{0, 1, 118, 119, 120, 1024, 4096, 65536}
	for _, n := range leafSizes {
		d := cryptoPattern(n, 9)
		h := wcrypto.LeafHash(d)
		req.Leaves = append(req.Leaves, leafReq{Data: cryptoHex(d), Go: cryptoHex(h[:])})
	}
	for _, n := range []int{1 << 20, 4<<20 + 3} {
		fill := 0x5a
		h := wcrypto.LeafHash(bytes.Repeat([]byte{byte(fill)}, n))
		req.Leaves = append(req.Leaves, leafReq{Size: n, Fill: &fill, Go: cryptoHex(h[:])})
	}

	// Parents in both argument orders, and trees.
	var nodes []wcrypto.TreeNode
	for i := range 6 {
		d := cryptoPattern(i*10, byte(i))
		nodes = append(nodes, wcrypto.TreeNode{Index: uint64(2 * i), Size: uint64(len(d)), Hash: wcrypto.LeafHash(d)})
	}
	big := wcrypto.TreeNode{Index: 1<<40 - 1, Size: 1 << 45, Hash: wcrypto.Hash([]byte("big"))}
	for _, pair := range [][2]wcrypto.TreeNode{{nodes[0], nodes[1]}, {nodes[3], nodes[2]}, {nodes[4], big}, {big, nodes[5]}} {
		h := wcrypto.ParentHash(pair[0], pair[1])
		req.Parents = append(req.Parents, parentReq{A: cryptoJSNode(pair[0]), B: cryptoJSNode(pair[1]), Go: cryptoHex(h[:])})
	}
	for _, roots := range [][]wcrypto.TreeNode{nil, nodes[:1], {big, nodes[2], nodes[5]}, nodes} {
		r := treeReq{Roots: []cryptoNode{}}
		for _, n := range roots {
			r.Roots = append(r.Roots, cryptoJSNode(n))
		}
		h := wcrypto.TreeHash(roots)
		r.Go = cryptoHex(h[:])
		req.Trees = append(req.Trees, r)
	}

	var res struct {
		KeyPairs   []keyPair  `json:"keyPairs"`
		Signatures []string   `json:"signatures"`
		Verify     []bool     `json:"verify"`
		Hashes     []string   `json:"hashes"`
		Keyed      []any      `json:"keyed"`
		Discovery  []any      `json:"discovery"`
		Namespaces [][]string `json:"namespaces"`
		Leaves     []string   `json:"leaves"`
		Parents    []string   `json:"parents"`
		Trees      []string   `json:"trees"`
	}
	cryptoRun(t, req, &res)

	// Go checks what JavaScript produced.
	for i, kp := range res.KeyPairs {
		if kp != req.Go.KeyPairs[i] {
			t.Errorf("key pair %d: js %+v, go %+v", i, kp, req.Go.KeyPairs[i])
		}
	}
	for i, s := range res.Signatures {
		sig := cryptoUnhex(t, s)
		if !wcrypto.Verify(messages[i], sig, kps[i%len(kps)].PublicKey) || !bytes.Equal(sig, goSigs[i]) {
			t.Errorf("JS signature %d not the same or not valid in Go", i)
		}
	}
	for i, ok := range res.Verify {
		if want := i%2 == 0; ok != want {
			t.Errorf("sodium verdict on Go signature case %d = %v, want %v", i, ok, want)
		}
	}
	for i, h := range res.Hashes {
		if h != req.Hashes[i].Go {
			t.Errorf("hash %d: js %s go %s", i, h, req.Hashes[i].Go)
		}
	}
	for i, c := range keyedCases {
		var goVal any
		var err error
		out := make([]byte, c.outLen)
		if c.key != nil && c.outLen == 32 {
			var h [32]byte
			h, err = wcrypto.KeyedHash(c.key, keyedData...)
			copy(out, h[:])
		} else {
			err = wcrypto.HashSize(out, c.key, keyedData...)
		}
		if err == nil {
			goVal = cryptoHex(out)
		}
		js := res.Keyed[i]
		if jsErr, isErr := js.(map[string]any); isErr {
			if err == nil {
				t.Errorf("keyed case %d (key %d bytes, out %d): JS throws %v, Go gives %v", i, len(c.key), c.outLen, jsErr["error"], goVal)
			}
			continue
		}
		if err != nil || js != goVal {
			t.Errorf("keyed case %d: js %v, go %v (%v)", i, js, goVal, err)
		}
	}
	for i, d := range res.Discovery {
		if _, isErr := d.(map[string]any); isErr != (req.Discovery[i].Go == nil) {
			t.Errorf("discovery %d: js %v go %v", i, d, req.Discovery[i].Go)
		} else if !isErr && d != req.Discovery[i].Go {
			t.Errorf("discovery %d: js %v go %v", i, d, req.Discovery[i].Go)
		}
	}
	for i, ns := range res.Namespaces {
		if fmt.Sprint(ns) != fmt.Sprint(req.Namespaces[i].Go) || len(ns) != len(req.Namespaces[i].Go) {
			t.Errorf("namespace %d: js %v go %v", i, ns, req.Namespaces[i].Go)
		}
	}
	for i, h := range res.Leaves {
		if h != req.Leaves[i].Go {
			t.Errorf("leaf %d: js %s go %s", i, h, req.Leaves[i].Go)
		}
	}
	for i, h := range res.Parents {
		if h != req.Parents[i].Go {
			t.Errorf("parent %d: js %s go %s", i, h, req.Parents[i].Go)
		}
	}
	for i, h := range res.Trees {
		if h != req.Trees[i].Go {
			t.Errorf("tree %d: js %s go %s", i, h, req.Trees[i].Go)
		}
	}
	if len(res.Leaves) != len(req.Leaves) || len(res.Trees) != len(req.Trees) || len(res.Keyed) != len(keyedCases) {
		t.Fatal("JS answered fewer cases than asked")
	}
}

type cryptoVerdict struct {
	Name   string `json:"name"`
	Msg    string `json:"msg"`
	Sig    string `json:"sig"`
	PK     string `json:"pk"`
	Sodium bool   `json:"sodium"`
}

// TestInteropCryptoHostileJS: sodium-native forges hostile signatures and
// gives its verdict; Go's Verify must agree on every one, including those
// plain RFC 8032 verification (crypto/ed25519) would accept.
func TestInteropCryptoHostileJS(t *testing.T) {
	type hostileReq struct {
		Seed string `json:"seed"`
		Msg  string `json:"msg"`
	}
	req := struct {
		Hostile []hostileReq `json:"hostile"`
	}{}
	for i := range 3 {
		req.Hostile = append(req.Hostile, hostileReq{cryptoHex(cryptoPattern(32, byte(40+i))), cryptoHex(cryptoPattern(i*50, byte(i)))})
	}
	var res struct {
		Hostile []cryptoVerdict `json:"hostile"`
	}
	cryptoRun(t, req, &res)
	cryptoCheckVerdicts(t, res.Hostile)
}

func cryptoCheckVerdicts(t *testing.T, vs []cryptoVerdict) {
	t.Helper()
	var accepted, stricter int
	for _, v := range vs {
		msg, sig, pk := cryptoUnhex(t, v.Msg), cryptoUnhex(t, v.Sig), cryptoUnhex(t, v.PK)
		got := wcrypto.Verify(msg, sig, pk)
		if got != v.Sodium {
			t.Errorf("%s: sodium %v, Go %v (sig %s pk %s)", v.Name, v.Sodium, got, v.Sig, v.PK)
		}
		if got {
			accepted++
		}
		if len(sig) == 64 && len(pk) == 32 && ed25519.Verify(pk, msg, sig) && !v.Sodium {
			stricter++
		}
	}
	t.Logf("%d cases: %d accepted, %d accepted by crypto/ed25519 but not libsodium", len(vs), accepted, stricter)
	if accepted == 0 || stricter == 0 || accepted == len(vs) {
		t.Fatal("the vectors do not exercise both verdicts and libsodium's extra checks")
	}
}

// TestInteropCryptoHostileGo: Go forges hostile signatures with
// edwards25519; sodium-native judges them and Go must agree.
func TestInteropCryptoHostileGo(t *testing.T) {
	seed := cryptoPattern(32, 77)
	h := sha512.Sum512(seed)
	a, _ := edwards25519.NewScalar().SetBytesWithClamping(h[:32])
	A := new(edwards25519.Point).ScalarBaseMult(a)
	pub := A.Bytes()
	challenge := func(R, pk, m []byte) *edwards25519.Scalar {
		h := sha512.New()
		h.Write(R)
		h.Write(pk)
		h.Write(m)
		k, _ := edwards25519.NewScalar().SetUniformBytes(h.Sum(nil))
		return k
	}
	sign := func(r *edwards25519.Scalar, pk, m []byte) []byte {
		R := new(edwards25519.Point).ScalarBaseMult(r).Bytes()
		S := edwards25519.NewScalar().MultiplyAdd(challenge(R, pk, m), a, r)
		return append(R, S.Bytes()...)
	}
	nonce := func(i int) *edwards25519.Scalar {
		h := sha512.Sum512([]byte{byte(i), 'n'})
		r, _ := edwards25519.NewScalar().SetUniformBytes(h[:])
		return r
	}
	type verifyReq struct {
		Msg string `json:"msg"`
		Sig string `json:"sig"`
		PK  string `json:"pk"`
	}
	var cases []cryptoVerdict
	add := func(name string, m, sig, pk []byte) {
		cases = append(cases, cryptoVerdict{Name: name, Msg: cryptoHex(m), Sig: cryptoHex(sig), PK: cryptoHex(pk)})
	}
	msg := []byte("go forged")
	add("honest", msg, sign(nonce(0), pub, msg), pub)
	add("identity R", msg, sign(edwards25519.NewScalar(), pub, msg), pub)

	// Every small-order point, with and without the sign bit, as the key
	// (with R = that point and S = 0) and as R.
	small := [][]byte{}
	for _, s := range []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
		"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	} {
		p := cryptoUnhex(t, s)
		neg := bytes.Clone(p)
		neg[31] |= 0x80
		small = append(small, p, neg)
	}
	for i, p := range small {
		add(fmt.Sprintf("small-order key %d", i), msg, append(bytes.Clone(p), make([]byte, 32)...), p)
		honest := sign(nonce(1), pub, msg)
		add(fmt.Sprintf("small-order R %d", i), msg, append(bytes.Clone(p), honest[32:]...), pub)
	}

	// Non-canonical S: add L where it fits.
	L := [32]byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 31: 0x10}
	for i := 2; i < 12; i++ {
		sig := sign(nonce(i), pub, msg)
		var carry int
		for j := range 32 {
			v := int(sig[32+j]) + int(L[j]) + carry
			sig[32+j], carry = byte(v), v>>8
		}
		add("S+L", msg, sig, pub)
	}

	// Mixed-order key: accepted exactly when the challenge is 0 mod 8.
	T, _ := new(edwards25519.Point).SetBytes(small[4])
	mixed := new(edwards25519.Point).Add(A, T).Bytes()
	for i := range 24 {
		m := append([]byte("mixed"), byte(i))
		add("mixed-order key", m, sign(nonce(100+i), mixed, m), mixed)
	}
	// Garbage.
	add("all ones", msg, bytes.Repeat([]byte{0xff}, 64), bytes.Repeat([]byte{0xff}, 32))

	req := struct {
		Verify []verifyReq `json:"verify"`
	}{}
	for _, c := range cases {
		req.Verify = append(req.Verify, verifyReq{c.Msg, c.Sig, c.PK})
	}
	var res struct {
		Verify []bool `json:"verify"`
	}
	cryptoRun(t, req, &res)
	if len(res.Verify) != len(cases) {
		t.Fatalf("%d verdicts for %d cases", len(res.Verify), len(cases))
	}
	for i := range cases {
		cases[i].Sodium = res.Verify[i]
	}
	cryptoCheckVerdicts(t, cases)
}

// TestInteropCryptoSealedBox: boxes sealed in JavaScript open in Go and the
// reverse; seeded encryption key pairs agree; both refuse a small-order
// recipient key.
func TestInteropCryptoSealedBox(t *testing.T) {
	type sealReq struct {
		Seed string `json:"seed"`
		Msg  string `json:"msg"`
	}
	type openReq struct {
		Seed       string `json:"seed"`
		Ciphertext string `json:"ciphertext"`
	}
	var req struct {
		BoxSeeds []string  `json:"boxSeeds"`
		Seal     []sealReq `json:"seal"`
		Open     []openReq `json:"open"`
		SealTo   []string  `json:"sealTo"`
	}
	seed := cryptoPattern(32, 11)
	kp, err := wcrypto.EncryptionKeyPairFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	req.BoxSeeds = []string{cryptoHex(seed)}
	msgs := [][]byte{{}, []byte("secret"), cryptoPattern(10000, 12)}
	var wantOpen []any
	for i, m := range msgs {
		req.Seal = append(req.Seal, sealReq{cryptoHex(seed), cryptoHex(m)})
		c, err := wcrypto.Encrypt(m, kp.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		req.Open = append(req.Open, openReq{cryptoHex(seed), cryptoHex(c)})
		wantOpen = append(wantOpen, cryptoHex(m))
		bad := bytes.Clone(c)
		bad[len(bad)-1-i] ^= 1
		req.Open = append(req.Open, openReq{cryptoHex(seed), cryptoHex(bad)})
		wantOpen = append(wantOpen, nil)
	}
	// A sealed box whose ephemeral key has small order, with a MAC made
	// from the all-zero shared secret an attacker would know.
	// Plain NaCl (x/crypto/nacl/box) would open it; libsodium refuses.
	for _, epk := range [][]byte{make([]byte, 32), append([]byte{1}, make([]byte, 31)...)} {
		var zero [32]byte
		var key [32]byte
		salsa.HSalsa20(&key, new([16]byte), &zero, &salsa.Sigma)
		nh, _ := blake2b.New(24, nil)
		nh.Write(epk)
		nh.Write(kp.PublicKey)
		var nonce [24]byte
		copy(nonce[:], nh.Sum(nil))
		forged := secretbox.Seal(bytes.Clone(epk), []byte("forged"), &nonce, &key)
		if _, err := wcrypto.Decrypt(forged, kp); err == nil {
			t.Error("Go opened a box with a small-order ephemeral key")
		}
		req.Open = append(req.Open, openReq{cryptoHex(seed), cryptoHex(forged)})
		wantOpen = append(wantOpen, nil)
	}
	req.SealTo = []string{cryptoHex(make([]byte, 32)), "0100000000000000000000000000000000000000000000000000000000000000", cryptoHex(kp.PublicKey)}

	var res struct {
		BoxKeyPairs []struct {
			PublicKey string `json:"publicKey"`
			SecretKey string `json:"secretKey"`
		} `json:"boxKeyPairs"`
		Sealed []string `json:"sealed"`
		Opened []any    `json:"opened"`
		SealTo []any    `json:"sealTo"`
	}
	cryptoRun(t, req, &res)
	if res.BoxKeyPairs[0].PublicKey != cryptoHex(kp.PublicKey) || res.BoxKeyPairs[0].SecretKey != cryptoHex(kp.SecretKey) {
		t.Errorf("encryption key pair: js %+v, go %x %x", res.BoxKeyPairs[0], kp.PublicKey, kp.SecretKey)
	}
	for i, c := range res.Sealed {
		m, err := wcrypto.Decrypt(cryptoUnhex(t, c), kp)
		if err != nil || !bytes.Equal(m, msgs[i]) {
			t.Errorf("JS box %d does not open in Go: %v", i, err)
		}
	}
	for i, o := range res.Opened {
		if o != wantOpen[i] {
			t.Errorf("Go box case %d opened by JS as %v, want %v", i, o, wantOpen[i])
		}
	}
	for i, pk := range req.SealTo {
		_, goErr := wcrypto.Encrypt([]byte("x"), cryptoUnhex(t, pk))
		_, jsErr := res.SealTo[i].(map[string]any)
		if (goErr != nil) != jsErr {
			t.Errorf("sealing to %s: js %v, go %v", pk, res.SealTo[i], goErr)
		}
	}
}
