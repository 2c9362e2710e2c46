// JS reader for the Go hypercore interop tests: verifies proofs made by Go.
// stdin: JSON { key, manifest, compat, encryptionKey, proofs: [hex data message], expectReject: [hex] }
// Each proof is checked with the core's own verifier (core.core.verify) and
// stored; the output lists, per proof, whether it verified, then the blocks
// the core now returns (decrypted when an encryption key is given), its
// length, byte length, fork and tree hash. Every expectReject proof must be
// refused (thrown or false).
const Hypercore = require('hypercore')
const Verifier = require('hypercore/lib/verifier')
const m = require('hypercore/lib/messages')
const c = require('compact-encoding')
const fs = require('fs')
const os = require('os')
const path = require('path')

const hex = (b) => (b ? Buffer.from(b).toString('hex') : null)
const unhex = (s) => (s ? Buffer.from(s, 'hex') : null)

async function verify (core, h) {
  try {
    const proof = c.decode(m.wire.data, unhex(h))
    if (proof.fork !== core.core.state.fork && proof.upgrade) {
      // A proof from another fork: the replicator's reorg path.
      const batch = await core.core.verifyReorg(proof)
      if (!batch.finished) return { ok: false, error: 'reorg not finished' }
      if (!(await core.core.reorg(batch))) return { ok: false, error: 'reorg refused' }
    }
    return { ok: await core.core.verify(proof, null) }
  } catch (err) {
    return { ok: false, error: err.code || err.message }
  }
}

async function main () {
  const cfg = JSON.parse(fs.readFileSync(0, 'utf8'))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hc-reader-'))
  const opts = {}
  if (cfg.manifest) opts.manifest = Verifier.decodeManifest(unhex(cfg.manifest))
  if (cfg.encryptionKey) opts.encryptionKey = unhex(cfg.encryptionKey)
  // A key-only JS reader starts as non-compat and switches when it learns
  // the manifest; with encryption that switch hits a bug in hypercore
  // 11.37.1 (DefaultEncryption._reload reads keys.blockKey, which
  // deriveKeys does not return), so compat readers say so up front.
  if (cfg.compat) opts.compat = true
  const core = new Hypercore(dir, unhex(cfg.key), opts)
  await core.ready()

  const out = { rejected: [], verified: [], blocks: [] }
  for (const h of cfg.expectReject || []) out.rejected.push(await verify(core, h))
  out.lengthAfterRejects = core.length
  for (const h of cfg.proofs) out.verified.push(await verify(core, h))

  for (let i = 0; i < core.length; i++) {
    out.blocks.push((await core.has(i)) ? hex(await core.get(i, { wait: false })) : null)
  }
  out.length = core.length
  out.byteLength = core.byteLength
  out.fork = core.fork
  out.treeHash = hex(await core.treeHash())
  await core.close()
  fs.rmSync(dir, { recursive: true, force: true })
  process.stdout.write(JSON.stringify(out))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
