// Crypto vectors for Warren's crypto package, both ways.
//
// Reads one JSON request on stdin and writes one JSON reply on stdout.
// Every byte string is hex. For each kind of input the reply holds what
// hypercore-crypto / sodium-native computes; where the request also carries
// the values Go computed ("go" fields), the reply lists every disagreement in
// "mismatches", so the check runs in JavaScript as well as in Go.
//
// It also forges hostile Ed25519 signatures with sodium's own point and
// scalar operations ("hostile" in the reply) and reports libsodium's verdict
// on each, and judges the hostile signatures Go forged ("verify").
const crypto = require('hypercore-crypto')
const sodium = require('sodium-native')

const hex = (b) => Buffer.from(b).toString('hex')
const buf = (s) => Buffer.from(s, 'hex')

const mismatches = []
function check (what, goValue, jsValue) {
  if (goValue === undefined) return
  if (JSON.stringify(goValue) !== JSON.stringify(jsValue)) {
    mismatches.push({ what, go: goValue, js: jsValue })
  }
}

function attempt (fn) {
  try {
    return fn()
  } catch (err) {
    return { error: err.message }
  }
}

const node = (n) => ({ index: n.index, size: n.size, hash: buf(n.hash) })

// Scalars mod L as BigInt, little endian.
const L = (1n << 252n) + 27742317777372353535851937790883648493n
function toBig (b) {
  let n = 0n
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i])
  return n
}
function fromBig (n) {
  const b = Buffer.alloc(32)
  for (let i = 0; i < 32; i++) {
    b[i] = Number(n & 0xffn)
    n >>= 8n
  }
  return b
}
function sha512 (...parts) {
  const out = Buffer.alloc(64)
  sodium.crypto_hash_sha512(out, Buffer.concat(parts))
  return out
}
function reduce (wide) {
  const out = Buffer.alloc(32)
  sodium.crypto_core_ed25519_scalar_reduce(out, wide)
  return out
}
function secretScalar (seed) {
  const h = sha512(seed).subarray(0, 32)
  h[0] &= 248
  h[31] &= 127
  h[31] |= 64
  return toBig(h) % L
}
function sodiumVerify (msg, sig, pk) {
  return crypto.verify(msg, sig, pk)
}

const IDENTITY = buf('01' + '00'.repeat(31))
const ORDER8 = buf('26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05')

// hostile builds signatures a malicious peer could send, and the verdict of
// libsodium on each.
function hostile (seed, message) {
  const out = []
  const kp = crypto.keyPair(seed)
  const a = secretScalar(seed)
  const push = (name, msg, sig, pk) => out.push({ name, msg: hex(msg), sig: hex(sig), pk: hex(pk), sodium: sodiumVerify(msg, sig, pk) })

  const honest = crypto.sign(message, kp.secretKey)
  push('honest', message, honest, kp.publicKey)

  // R = identity, S = k*a.
  {
    const k = toBig(reduce(sha512(IDENTITY, kp.publicKey, message)))
    push('identity R', message, Buffer.concat([IDENTITY, fromBig((k * a) % L)]), kp.publicKey)
  }
  // Identity public key, R = identity, S = 0: passes plain RFC 8032.
  push('identity key', message, Buffer.concat([IDENTITY, Buffer.alloc(32)]), IDENTITY)
  const negIdentity = Buffer.from(IDENTITY)
  negIdentity[31] |= 0x80
  push('identity key, sign bit', message, Buffer.concat([IDENTITY, Buffer.alloc(32)]), negIdentity)
  push('order-8 key', message, Buffer.concat([ORDER8, Buffer.alloc(32)]), ORDER8)

  // S + L: same signature, scalar not reduced.
  {
    const S = toBig(honest.subarray(32))
    if (S + L < (1n << 253n)) {
      push('S+L', message, Buffer.concat([honest.subarray(0, 32), fromBig(S + L)]), kp.publicKey)
    }
    push('S = L', message, Buffer.concat([honest.subarray(0, 32), fromBig(L)]), kp.publicKey)
  }
  // R with its sign bit flipped.
  {
    const sig = Buffer.from(honest)
    sig[31] ^= 0x80
    push('R sign flipped', message, sig, kp.publicKey)
  }
  // Non-canonical public keys y + p for small y.
  for (let y = 2; y < 19; y++) {
    const pk = Buffer.alloc(32, 0xff)
    pk[0] = 0xed + y
    pk[31] = 0x7f
    push('non-canonical key y=' + y, message, honest, pk)
  }
  // Mixed-order key A + T8: passes cofactorless verification exactly when
  // the challenge is a multiple of 8.
  {
    const mixed = Buffer.alloc(32)
    sodium.crypto_core_ed25519_add(mixed, kp.publicKey, ORDER8)
    for (let i = 0; i < 24; i++) {
      const msg = Buffer.concat([message, Buffer.from([i])])
      const r = reduce(sha512(Buffer.from('nonce'), Buffer.from([i])))
      const R = Buffer.alloc(32)
      sodium.crypto_scalarmult_ed25519_base_noclamp(R, r)
      const k = toBig(reduce(sha512(R, mixed, msg)))
      const S = (toBig(r) + k * a) % L
      push('mixed-order key, k mod 8 = ' + (k % 8n), msg, Buffer.concat([R, fromBig(S)]), mixed)
    }
  }
  // Wrong lengths.
  push('short signature', message, honest.subarray(0, 63), kp.publicKey)
  push('short key', message, honest, kp.publicKey.subarray(0, 31))
  return out
}

function main (req) {
  const res = {}

  res.keyPairs = (req.seeds || []).map((s, i) => {
    const kp = crypto.keyPair(buf(s))
    const out = { publicKey: hex(kp.publicKey), secretKey: hex(kp.secretKey), valid: crypto.validateKeyPair(kp) }
    check('keyPair ' + i, req.go && req.go.keyPairs && req.go.keyPairs[i], out)
    return out
  })

  res.signatures = (req.sign || []).map((x, i) => {
    const kp = crypto.keyPair(buf(x.seed))
    const out = hex(crypto.sign(buf(x.msg), kp.secretKey))
    check('sign ' + i, x.go, out)
    return out
  })

  res.verify = (req.verify || []).map((x) => sodiumVerify(buf(x.msg), buf(x.sig), buf(x.pk)))

  res.hashes = (req.hashes || []).map((parts, i) => {
    const out = hex(crypto.hash(parts.data.map(buf)))
    check('hash ' + i, parts.go, out)
    return out
  })

  res.keyed = (req.keyed || []).map((x) => {
    const out = attempt(() => {
      const o = Buffer.alloc(x.outLen)
      // crypto_generichash checks key and output sizes in JavaScript; the
      // batch form leaves that to C asserts.
      sodium.crypto_generichash(o, Buffer.concat(x.data.map(buf)), x.key === null ? undefined : buf(x.key))
      return hex(o)
    })
    return out
  })

  res.discovery = (req.discovery || []).map((x, i) => {
    const out = attempt(() => hex(crypto.discoveryKey(buf(x.key))))
    // Go sends null where it refuses the key.
    check('discoveryKey ' + i, x.go, out.error ? null : out)
    return out
  })

  res.namespaces = (req.namespaces || []).map((x, i) => {
    const out = crypto.namespace(buf(x.name), x.ids || x.count).map(hex)
    check('namespace ' + i, x.go, out)
    return out
  })

  res.leaves = (req.leaves || []).map((x, i) => {
    const data = x.fill === undefined ? buf(x.data) : Buffer.alloc(x.size, x.fill)
    const out = hex(crypto.data(data))
    check('data ' + i, x.go, out)
    return out
  })

  res.parents = (req.parents || []).map((x, i) => {
    const out = hex(crypto.parent(node(x.a), node(x.b)))
    check('parent ' + i, x.go, out)
    return out
  })

  res.trees = (req.trees || []).map((x, i) => {
    const out = hex(crypto.tree(x.roots.map(node)))
    check('tree ' + i, x.go, out)
    return out
  })

  // Sealed boxes: key pairs from seeds, JS seals for Go, and JS opens what
  // Go sealed.
  res.boxKeyPairs = (req.boxSeeds || []).map((s) => {
    const kp = crypto.encryptionKeyPair(buf(s))
    return { publicKey: hex(kp.publicKey), secretKey: hex(kp.secretKey) }
  })
  res.sealed = (req.seal || []).map((x) => {
    const kp = crypto.encryptionKeyPair(buf(x.seed))
    return hex(crypto.encrypt(buf(x.msg), kp.publicKey))
  })
  res.opened = (req.open || []).map((x) => {
    const kp = crypto.encryptionKeyPair(buf(x.seed))
    const m = crypto.decrypt(buf(x.ciphertext), kp)
    return m === null ? null : hex(m)
  })
  res.sealTo = (req.sealTo || []).map((pk) => attempt(() => hex(crypto.encrypt(Buffer.from('x'), buf(pk)))))

  res.hostile = (req.hostile || []).flatMap((x) => hostile(buf(x.seed), buf(x.msg)))

  res.mismatches = mismatches
  return res
}

let input = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (d) => { input += d })
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify(main(JSON.parse(input))))
})
