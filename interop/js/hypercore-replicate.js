// Hypercore replication peer for TestInteropHypercoreReplicate*.
// Usage: node hypercore-replicate.js <port> <json config>
// Connects to 127.0.0.1:<port> and replicates one core as the secret-stream
// initiator. config: { role: 'writer'|'reader', seed, key, compat,
// encryptionKey, blocks, size }.
// writer: creates the core from seed, appends `blocks` blocks ("block-<i>",
//   or "f<fork>-block-<i>" after a truncation), prints "key <hex>", then on
//   stdin "append N" appends N more and prints "length <L>", and
//   "truncate L" truncates and prints "fork <F>".
// reader: opens the core by key, then on stdin "get N" fetches blocks
//   0..N-1 and prints "got <N> <sha256 of their concatenation> fork <F>".
// Both stop on "exit".
const net = require('net')
const readline = require('readline')
const crypto = require('crypto')
const Hypercore = require('hypercore')
const hcrypto = require('hypercore-crypto')
const fs = require('fs')
const os = require('os')
const path = require('path')

const port = Number(process.argv[2])
const cfg = JSON.parse(process.argv[3])
const unhex = (s) => (s ? Buffer.from(s, 'hex') : null)

function block (i, size, fork) {
  const b = Buffer.alloc(size || 0)
  const s = Buffer.from((fork ? 'f' + fork + '-' : '') + 'block-' + i)
  if (!size) return s
  for (let j = 0; j < size; j += s.length) s.copy(b, j)
  return b
}

async function main () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hc-repl-'))
  const opts = {}
  if (cfg.encryptionKey) opts.encryptionKey = unhex(cfg.encryptionKey)
  let core
  if (cfg.role === 'writer') {
    opts.keyPair = hcrypto.keyPair(unhex(cfg.seed))
    opts.compat = !!cfg.compat
    core = new Hypercore(dir, opts)
    await core.ready()
    const batch = []
    for (let i = 0; i < cfg.blocks; i++) batch.push(block(i, cfg.size))
    for (let i = 0; i < batch.length; i += 1024) await core.append(batch.slice(i, i + 1024))
    console.log('key ' + core.key.toString('hex'))
  } else {
    if (cfg.compat) opts.compat = true
    core = new Hypercore(dir, unhex(cfg.key), opts)
    await core.ready()
  }

  const socket = net.connect(port, '127.0.0.1')
  const stream = core.replicate(true)
  socket.pipe(stream).pipe(socket)
  stream.on('error', () => {})
  socket.on('error', () => {})

  const rl = readline.createInterface({ input: process.stdin })
  for await (const line of rl) {
    const [cmd, arg] = line.trim().split(' ')
    if (cmd === 'append') {
      const n = Number(arg)
      const batch = []
      for (let i = 0; i < n; i++) batch.push(block(core.length + i, cfg.size, core.fork))
      await core.append(batch)
      console.log('length ' + core.length)
    } else if (cmd === 'truncate') {
      await core.truncate(Number(arg))
      console.log('fork ' + core.fork)
    } else if (cmd === 'get') {
      const n = Number(arg)
      const h = crypto.createHash('sha256')
      const ps = []
      for (let i = 0; i < n; i++) ps.push(core.get(i, { timeout: 30000 }))
      for (const p of ps) h.update(await p)
      console.log('got ' + n + ' ' + h.digest('hex') + ' fork ' + core.fork)
    } else if (cmd === 'exit') {
      break
    }
  }
  stream.destroy()
  socket.destroy()
  await core.close()
  fs.rmSync(dir, { recursive: true, force: true })
  process.exit(0)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
