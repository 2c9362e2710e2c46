// Corestore replication peer for TestInteropCorestoreReplicate*.
// Usage: node corestore-replicate.js <port> <json config>
// config: { role: 'writer'|'reader', primaryKey, names, blocks, keys,
//           initiator }
// writer: a corestore with primaryKey makes get({ name }) for every name,
//   appends `blocks` blocks "<name>-<i>" to each, then closes and reopens
//   the store so no core is open (the remote's channel opens them on demand)
//   and prints "keys <json {name: keyhex}>".
// reader: a fresh corestore opens get({ key }) for every key in `keys`
//   ({name: keyhex}).
// Both then connect to 127.0.0.1:<port> and run store.replicate(initiator)
// over the socket (secret-stream initiator as the config says), print
// "replicating", and follow stdin commands:
//   "get <name> <n>"   downloads blocks 0..n-1 of core <name> and prints
//                      "got <name> <n> <sha256 of the blocks concatenated>"
//   "append <name> <n>" appends n blocks and prints "length <name> <L>"
//   "exit"
const net = require('net')
const readline = require('readline')
const crypto = require('crypto')
const Corestore = require('corestore')
const fs = require('fs')
const os = require('os')
const path = require('path')

const port = Number(process.argv[2])
const cfg = JSON.parse(process.argv[3])
const unhex = (s) => (s ? Buffer.from(s, 'hex') : null)

async function main () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-repl-'))
  const opts = cfg.primaryKey ? { primaryKey: unhex(cfg.primaryKey), unsafe: true } : {}
  let store = new Corestore(dir, opts)
  await store.ready()
  const keys = {}
  if (cfg.role === 'writer') {
    for (const name of cfg.names) {
      const core = store.get({ name })
      await core.ready()
      const batch = []
      for (let i = 0; i < cfg.blocks; i++) batch.push(Buffer.from(name + '-' + i))
      await core.append(batch)
      keys[name] = core.key.toString('hex')
      await core.close()
    }
    await store.close()
    store = new Corestore(dir)
    await store.ready()
  } else {
    Object.assign(keys, cfg.keys)
  }
  const cores = {}
  const open = async (name) => {
    if (!cores[name]) {
      cores[name] = cfg.role === 'writer' ? store.get({ name }) : store.get({ key: unhex(keys[name]) })
      await cores[name].ready()
    }
    return cores[name]
  }
  if (cfg.role === 'reader') for (const name of Object.keys(keys)) await open(name)

  const socket = net.connect(port, '127.0.0.1')
  const stream = store.replicate(!!cfg.initiator)
  socket.pipe(stream).pipe(socket)
  stream.on('error', () => {})
  socket.on('error', () => {})
  if (cfg.role === 'writer') console.log('keys ' + JSON.stringify(keys))
  console.log('replicating')

  const rl = readline.createInterface({ input: process.stdin })
  for await (const line of rl) {
    const [cmd, name, arg] = line.trim().split(' ')
    if (cmd === 'get') {
      const core = await open(name)
      const n = Number(arg)
      const h = crypto.createHash('sha256')
      const ps = []
      for (let i = 0; i < n; i++) ps.push(core.get(i, { timeout: 30000 }))
      for (const p of ps) h.update(await p)
      console.log('got ' + name + ' ' + n + ' ' + h.digest('hex'))
    } else if (cmd === 'append') {
      const core = await open(name)
      const n = Number(arg)
      const batch = []
      for (let i = 0; i < n; i++) batch.push(Buffer.from(name + '-' + (core.length + i)))
      await core.append(batch)
      console.log('length ' + name + ' ' + core.length)
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
