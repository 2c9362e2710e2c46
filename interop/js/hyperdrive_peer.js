// Hyperdrive peer for TestInteropHyperdrive*.
// Usage: node hyperdrive_peer.js <port> <json config>
// config: { role: 'writer'|'reader', primaryKey, plan (file of ops), mid,
//           key, initiator }
// writer: a corestore with primaryKey, new Hyperdrive(store), applies the ops
//   of the plan in order (put / symlink / del, file contents from
//   pattern(size, seed)) and prints "version <v after op mid> <final v>" and
//   "key <hex>".
// reader: a fresh corestore opens new Hyperdrive(store, key).
// Both connect to 127.0.0.1:<port>, run store.replicate(initiator), print
// "replicating" and follow stdin commands:
//   "wait <v>"        until the drive has version >= v; prints "version <v>"
//   "summary <mid>"   prints "summary <json>" (entries with content hashes,
//                     readdir and shallow list of /, diff against mid)
//   "hashes"          prints "hashes <db> <blobs>": sha256 over every block
//                     (4-byte big-endian length + bytes) of both cores
//   "mirror <dir>"    mirrors the drive into new Localdrive(dir), prints
//                     "mirrored <json count>"
//   "exit"
const net = require('net')
const readline = require('readline')
const crypto = require('crypto')
const fs = require('fs')
const os = require('os')
const path = require('path')
const Corestore = require('corestore')
const Hyperdrive = require('hyperdrive')
const Localdrive = require('localdrive')

const port = Number(process.argv[2])
const cfg = JSON.parse(process.argv[3])
const unhex = (s) => (s ? Buffer.from(s, 'hex') : null)

// pattern is the content of a planned file; the Go test has the same.
function pattern (n, seed) {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = ((i * 7 + Math.floor(i / 251)) & 0xff) ^ seed
  return b
}

const sha = (b) => crypto.createHash('sha256').update(b).digest('hex')

async function applyOps (drive, ops) {
  for (const op of ops) {
    if (op.op === 'put') {
      const opts = { executable: !!op.executable }
      if (op.metadata !== undefined) opts.metadata = op.metadata
      await drive.put(op.path, pattern(op.size, op.seed), opts)
    } else if (op.op === 'symlink') {
      await drive.symlink(op.path, op.target)
    } else if (op.op === 'del') {
      await drive.del(op.path)
    }
  }
}

async function summary (drive, mid) {
  const files = []
  for await (const e of drive.list('/')) {
    const v = e.value
    let data = null
    if (v.blob) data = await drive.get(e.key, { timeout: 60000 })
    files.push({
      key: e.key,
      executable: !!v.executable,
      linkname: v.linkname || '',
      metadata: v.metadata === null || v.metadata === undefined ? '' : JSON.stringify(v.metadata),
      size: data ? data.length : 0,
      sha256: data ? sha(data) : ''
    })
  }
  const readdir = []
  for await (const n of drive.readdir('/')) readdir.push(n)
  const shallow = []
  for await (const e of drive.list('/', { recursive: false })) shallow.push(e.key)
  const diff = []
  for await (const d of drive.diff(mid, '/')) {
    diff.push({ key: (d.left || d.right).key, left: !!d.left, right: !!d.right })
  }
  return { version: drive.version, files, readdir, shallow, diff }
}

async function coreHash (core) {
  const h = crypto.createHash('sha256')
  for (let i = 0; i < core.length; i++) {
    const b = await core.get(i, { timeout: 60000 })
    const l = Buffer.alloc(4)
    l.writeUInt32BE(b.length)
    h.update(l)
    h.update(b)
  }
  return h.digest('hex')
}

async function main () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hd-peer-'))
  const opts = cfg.primaryKey ? { primaryKey: unhex(cfg.primaryKey), unsafe: true } : {}
  const store = new Corestore(dir, opts)
  await store.ready()
  let drive
  if (cfg.role === 'writer') {
    drive = new Hyperdrive(store)
    await drive.ready()
    const ops = JSON.parse(fs.readFileSync(cfg.plan, 'utf8'))
    await applyOps(drive, ops.slice(0, cfg.mid))
    const mid = drive.version
    await applyOps(drive, ops.slice(cfg.mid))
    console.log('version ' + mid + ' ' + drive.version)
    console.log('key ' + drive.key.toString('hex'))
  } else {
    drive = new Hyperdrive(store, unhex(cfg.key))
    await drive.ready()
  }

  const socket = net.connect(port, '127.0.0.1')
  const stream = store.replicate(!!cfg.initiator)
  socket.pipe(stream).pipe(socket)
  stream.on('error', () => {})
  socket.on('error', () => {})
  console.log('replicating')

  const rl = readline.createInterface({ input: process.stdin })
  for await (const line of rl) {
    const [cmd, arg] = line.trim().split(' ')
    if (cmd === 'wait') {
      const v = Number(arg)
      while (drive.version < v) await drive.core.update({ wait: true })
      console.log('version ' + drive.version)
    } else if (cmd === 'summary') {
      console.log('summary ' + JSON.stringify(await summary(drive, Number(arg))))
    } else if (cmd === 'hashes') {
      const blobs = await drive.getBlobs()
      console.log('hashes ' + (await coreHash(drive.core)) + ' ' + (await coreHash(blobs.core)))
    } else if (cmd === 'mirror') {
      const m = drive.mirror(new Localdrive(arg))
      await m.done()
      console.log('mirrored ' + JSON.stringify(m.count))
    } else if (cmd === 'exit') {
      break
    }
  }
  stream.destroy()
  socket.destroy()
  await drive.close()
  await store.close()
  fs.rmSync(dir, { recursive: true, force: true })
  process.exit(0)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
