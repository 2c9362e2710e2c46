// Corestore peer for TestInteropCorestoreSparse*: on-demand cores are
// sparse on both sides.
// Usage: node corestore-sparse.js <json config>
// config: { role: 'writer'|'stored'|'reader', name, blocks, key }
// writer: a fresh corestore makes get({ name }) with `blocks` blocks
//   "<name>-<i>" and keeps that session open (so the core is offered on
//   every stream); prints "key <hex>".
// stored: the same, then the store is closed and reopened with no core
//   open, so a remote asking for the core makes corestore open it on demand
//   (no session); prints "key <hex>".
// reader: a fresh corestore opens get({ key }) and keeps that session
//   (with notDownloadingLinger 0, so "idle" takes effect at once).
// Each role then listens on 127.0.0.1, runs store.replicate(false) on every
// connection, prints "port <n>" and follows stdin commands:
//   "get <i>"   prints "got <i> <block as text>" (waiting for it)
//   "held"      prints "held <blocks stored> length <length>" (reader)
//   "download"  downloads every block, prints "downloaded <length>"
//   "idle"      makes the session inactive (the core is no longer
//               downloading), prints "idle"
//   "active"    makes it active again, prints "active"
//   "exit"
const net = require('net')
const readline = require('readline')
const Corestore = require('corestore')
const fs = require('fs')
const os = require('os')
const path = require('path')

const cfg = JSON.parse(process.argv[2])

async function main () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-sparse-'))
  let store = new Corestore(dir)
  await store.ready()
  let core = null
  if (cfg.role === 'reader') {
    core = store.get({ key: Buffer.from(cfg.key, 'hex'), notDownloadingLinger: 0 })
    await core.ready()
  } else {
    core = store.get({ name: cfg.name })
    await core.ready()
    const batch = []
    for (let i = 0; i < cfg.blocks; i++) batch.push(Buffer.from(cfg.name + '-' + i))
    await core.append(batch)
    console.log('key ' + core.key.toString('hex'))
    if (cfg.role === 'stored') {
      await core.close()
      await store.close()
      store = new Corestore(dir)
      await store.ready()
      core = null
    }
  }

  const sockets = new Set()
  const server = net.createServer((socket) => {
    sockets.add(socket)
    const stream = store.replicate(false)
    socket.pipe(stream).pipe(socket)
    stream.on('error', () => {})
    socket.on('error', () => {})
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  console.log('port ' + server.address().port)

  const session = () => {
    if (core === null) core = store.get({ name: cfg.name })
    return core
  }
  const rl = readline.createInterface({ input: process.stdin })
  for await (const line of rl) {
    const [cmd, arg] = line.trim().split(' ')
    if (cmd === 'get') {
      const b = await session().get(Number(arg), { timeout: 30000 })
      console.log('got ' + arg + ' ' + b.toString())
    } else if (cmd === 'held') {
      const c = session()
      await c.ready()
      let n = 0
      for (let i = 0; i < c.length; i++) if (await c.has(i)) n++
      console.log('held ' + n + ' length ' + c.length)
    } else if (cmd === 'download') {
      const c = session()
      await c.ready()
      await c.download({ start: 0, end: c.length }).done()
      console.log('downloaded ' + c.length)
    } else if (cmd === 'idle' || cmd === 'active') {
      session().setActive(cmd === 'active')
      console.log(cmd)
    } else if (cmd === 'exit') {
      break
    }
  }
  for (const s of sockets) s.destroy()
  server.close()
  await store.close()
  fs.rmSync(dir, { recursive: true, force: true })
  process.exit(0)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
