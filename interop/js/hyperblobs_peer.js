// Hyperblobs peer for TestInteropHyperblobs*.
// Usage: node hyperblobs_peer.js <port> <json config>
// config: { role: 'writer'|'reader', key, initiator }
// writer: a corestore core named "blobs" gets, in order: put(pattern(100, 1)),
//   put(pattern(1 MiB + 3, 2)), put(pattern(5000, 3), { blockSize: 1000 }),
//   a write stream of pattern(200000, 4) in chunks of 3000, 70000, 5, then the
//   rest, and a dedup write stream (block map) of chunks A B A C A where
//   A, B, C are pattern(4096, 5|6|7). It prints "ids <json array of ids>"
//   and "key <hex>".
// reader: opens the core with `key` (sparse).
// Both connect to 127.0.0.1:<port>, run store.replicate(initiator), print
// "replicating" and follow stdin commands:
//   "read <json {id, opts}>"  prints "data <sha256> <length>" of
//                             blobs.get(id, opts)
//   "stream <json {id, opts}>" the same through createReadStream(id, opts)
//   "exit"
const net = require('net')
const readline = require('readline')
const crypto = require('crypto')
const fs = require('fs')
const os = require('os')
const path = require('path')
const Corestore = require('corestore')
const Hyperblobs = require('hyperblobs')

const port = Number(process.argv[2])
const cfg = JSON.parse(process.argv[3])

function pattern (n, seed) {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = ((i * 7 + Math.floor(i / 251)) & 0xff) ^ seed
  return b
}

const sha = (b) => crypto.createHash('sha256').update(b).digest('hex')

function writeStream (blobs, chunks, opts) {
  return new Promise((resolve, reject) => {
    const ws = blobs.createWriteStream(opts)
    ws.on('error', reject)
    ws.on('close', () => resolve(ws.id))
    for (const c of chunks) ws.write(c)
    ws.end()
  })
}

async function main () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hb-peer-'))
  const store = new Corestore(dir)
  await store.ready()
  let core
  if (cfg.role === 'writer') {
    core = store.get({ name: 'blobs' })
    await core.ready()
    const blobs = new Hyperblobs(core)
    const ids = []
    ids.push(await blobs.put(pattern(100, 1)))
    ids.push(await blobs.put(pattern((1 << 20) + 3, 2)))
    ids.push(await blobs.put(pattern(5000, 3), { blockSize: 1000 }))
    const big = pattern(200000, 4)
    ids.push(await writeStream(blobs, [big.subarray(0, 3000), big.subarray(3000, 73000), big.subarray(73000, 73005), big.subarray(73005)]))
    const A = pattern(4096, 5)
    const B = pattern(4096, 6)
    const C = pattern(4096, 7)
    ids.push(await writeStream(blobs, [A, B, A, C, A], { dedup: true }))
    console.log('ids ' + JSON.stringify(ids))
    console.log('key ' + core.key.toString('hex'))
  } else {
    core = store.get({ key: Buffer.from(cfg.key, 'hex') })
    await core.ready()
  }
  const blobs = new Hyperblobs(core)

  const socket = net.connect(port, '127.0.0.1')
  const stream = store.replicate(!!cfg.initiator)
  socket.pipe(stream).pipe(socket)
  stream.on('error', () => {})
  socket.on('error', () => {})
  console.log('replicating')

  const rl = readline.createInterface({ input: process.stdin })
  for await (const line of rl) {
    const sp = line.indexOf(' ')
    const cmd = sp === -1 ? line.trim() : line.slice(0, sp)
    if (cmd === 'read' || cmd === 'stream') {
      const { id, opts } = JSON.parse(line.slice(sp + 1))
      const o = { timeout: 60000, ...(opts || {}) }
      let data
      if (cmd === 'read') {
        data = await blobs.get(id, o)
      } else {
        const parts = []
        for await (const p of blobs.createReadStream(id, o)) parts.push(p)
        data = Buffer.concat(parts)
      }
      console.log('data ' + sha(data) + ' ' + data.length)
    } else if (cmd === 'exit') {
      break
    }
  }
  stream.destroy()
  socket.destroy()
  await store.close()
  fs.rmSync(dir, { recursive: true, force: true })
  process.exit(0)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
