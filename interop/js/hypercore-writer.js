// JS writer for the Go hypercore interop tests.
// stdin: JSON { seed, compat, encryptionKey, ops: [{append: n} | {truncate: len}],
//               requests: [{block, hash, seek, upgrade, manifest}] }
// stdout: JSON with the key, discovery key, manifest, the signed head after
// every op, the raw stored blocks and, per request, the hex of the data
// message (request id = position) this core answers with.
const Hypercore = require('hypercore')
const Verifier = require('hypercore/lib/verifier')
const { MerkleTree } = require('hypercore/lib/merkle-tree')
const m = require('hypercore/lib/messages')
const c = require('compact-encoding')
const crypto = require('hypercore-crypto')
const fs = require('fs')
const os = require('os')
const path = require('path')

const hex = (b) => (b ? Buffer.from(b).toString('hex') : null)
const unhex = (s) => (s ? Buffer.from(s, 'hex') : null)

async function main () {
  const cfg = JSON.parse(fs.readFileSync(0, 'utf8'))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hc-writer-'))
  const keyPair = crypto.keyPair(unhex(cfg.seed))
  const opts = { keyPair, compat: !!cfg.compat }
  if (cfg.encryptionKey) opts.encryptionKey = unhex(cfg.encryptionKey)
  const core = new Hypercore(dir, opts)
  await core.ready()

  const out = {
    key: hex(core.key),
    discoveryKey: hex(core.discoveryKey),
    manifest: hex(Verifier.encodeManifest(core.manifest)),
    compat: core.core.compat,
    heads: [],
    blocks: [],
    proofs: []
  }

  let next = 0
  for (const op of cfg.ops) {
    if (op.append) {
      const batch = []
      for (let i = 0; i < op.append; i++) batch.push(Buffer.from('block-' + next++))
      await core.append(batch)
    } else {
      await core.truncate(op.truncate)
      next = op.truncate
    }
    out.heads.push({
      length: core.length,
      fork: core.fork,
      byteLength: core.byteLength,
      treeHash: hex(await core.treeHash()),
      signature: hex(core.core.state.signature)
    })
  }

  for (let i = 0; i < core.length; i++) out.blocks.push(hex(await core.get(i, { raw: true })))

  for (let id = 0; id < cfg.requests.length; id++) {
    const r = cfg.requests[id]
    const msg = {
      id,
      fork: core.fork,
      block: r.block || null,
      hash: r.hash || null,
      seek: r.seek || null,
      upgrade: r.upgrade || null,
      manifest: !!r.manifest
    }
    const rx = core.core.state.storage.read()
    const block = msg.block ? rx.getBlock(msg.block.index) : null
    let tp
    try {
      tp = await MerkleTree.proof(core.core.state, rx, msg)
    } catch (err) {
      rx.tryFlush()
      out.proofs.push({ error: err.code || err.message })
      continue
    }
    rx.tryFlush()
    const proof = await tp.settle()
    if (block) proof.block.value = await block
    if (msg.manifest && !core.core.compat) proof.manifest = core.core.header.manifest
    out.proofs.push({ data: hex(c.encode(m.wire.data, { request: id, ...proof })) })
  }

  await core.close()
  fs.rmSync(dir, { recursive: true, force: true })
  process.stdout.write(JSON.stringify(out))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
