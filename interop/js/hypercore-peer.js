// Hypercore peer for the multi-peer, sparse, extension and hostile-peer
// interop tests (interop/hypercore_peers_test.go).
// Usage: node hypercore-peer.js <port> <json config>
// Connects to 127.0.0.1:<port> as the secret-stream initiator and
// replicates one core. config: { role: 'writer'|'reader', seed, key,
// blocks, sparse, tamper, encryptionKey }.
// writer: creates the core from seed with `blocks` blocks "block-<i>"
//   ("f<fork>-block-<i>" after a truncation) and prints "key <hex>".
// reader: opens the core by key (sparse unless sparse is false).
// tamper: 'signature' | 'proof' | 'blockproof' | 'block' makes the peer
//   corrupt what it sends in data messages: the upgrade signature, an
//   upgrade proof node, a block proof node, or block values.
// The core registers the extension "warren-echo": a message "m" is printed
// as "ext <m>" and answered with "re:<m>".
// stdin commands:
//   append N | truncate L         (writer) prints "length <L>" / "fork <F>"
//   get N                         download 0..N-1, print "got <N> <sha256> fork <F>"
//   range S E                     download [S,E), print "range <S> <E> <sha256 of S..E-1>"
//   have N                        print "have <count of blocks held in 0..N-1>"
//   ext TEXT                      broadcast TEXT on the extension
//   die                           exit at once without closing anything
//   exit                          close and exit
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

function block (i, fork) {
  return Buffer.from((fork ? 'f' + fork + '-' : '') + 'block-' + i)
}

function flip (buf, at) {
  const b = Buffer.from(buf) // a copy: the original may be stored
  b[at % b.length] ^= 1
  return b
}

function tamper (m) {
  if (cfg.tamper === 'signature' && m.upgrade) {
    m.upgrade = { ...m.upgrade, signature: flip(m.upgrade.signature, 7) }
  } else if (cfg.tamper === 'proof' && m.upgrade && m.upgrade.nodes.length > 0) {
    const nodes = m.upgrade.nodes.slice()
    nodes[0] = { ...nodes[0], hash: flip(nodes[0].hash, 0) }
    m.upgrade = { ...m.upgrade, nodes }
  } else if (cfg.tamper === 'blockproof' && m.block && m.block.nodes.length > 0) {
    const nodes = m.block.nodes.slice()
    nodes[nodes.length - 1] = { ...nodes[nodes.length - 1], hash: flip(nodes[nodes.length - 1].hash, 3) }
    m.block = { ...m.block, nodes }
  } else if (cfg.tamper === 'block' && m.block) {
    m.block = { ...m.block, value: Buffer.concat([Buffer.from('evil-'), m.block.value]) }
  }
  return m
}

async function main () {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hc-peer-'))
  const opts = {}
  if (cfg.encryptionKey) opts.encryptionKey = unhex(cfg.encryptionKey)
  let core
  if (cfg.role === 'writer') {
    opts.keyPair = hcrypto.keyPair(unhex(cfg.seed))
    core = new Hypercore(dir, opts)
    await core.ready()
    const batch = []
    for (let i = 0; i < cfg.blocks; i++) batch.push(block(i))
    for (let i = 0; i < batch.length; i += 4096) await core.append(batch.slice(i, i + 4096))
    console.log('key ' + core.key.toString('hex'))
  } else {
    if (cfg.sparse === false) opts.sparse = false
    core = new Hypercore(dir, unhex(cfg.key), opts)
    await core.ready()
  }

  if (cfg.tamper) {
    core.on('peer-add', (peer) => {
      const send = peer.wireData.send.bind(peer.wireData)
      peer.wireData.send = (m) => send(tamper(m))
    })
  }

  const ext = core.registerExtension('warren-echo', {
    encoding: 'utf-8',
    onmessage (m, peer) {
      console.log('ext ' + m)
      if (!m.startsWith('re:')) ext.send('re:' + m, peer)
    }
  })

  const socket = net.connect(port, '127.0.0.1')
  const stream = core.replicate(true)
  socket.pipe(stream).pipe(socket)
  stream.on('error', () => {})
  socket.on('error', () => {})
  if (cfg.role === 'reader' && cfg.sparse === false) core.download({ start: 0, end: -1 })

  const rl = readline.createInterface({ input: process.stdin })
  for await (const line of rl) {
    const [cmd, a, b] = line.trim().split(' ')
    if (cmd === 'append') {
      const n = Number(a)
      const batch = []
      for (let i = 0; i < n; i++) batch.push(block(core.length + i, core.fork))
      await core.append(batch)
      console.log('length ' + core.length)
    } else if (cmd === 'truncate') {
      await core.truncate(Number(a))
      console.log('fork ' + core.fork)
    } else if (cmd === 'get' || cmd === 'range') {
      const start = cmd === 'get' ? 0 : Number(a)
      const end = cmd === 'get' ? Number(a) : Number(b)
      // One download of the range, then local reads: far quicker in
      // hypercore than a get per block for long ranges.
      await core.download({ start, end }).done()
      const h = crypto.createHash('sha256')
      for (let i = start; i < end; i++) h.update(await core.get(i, { timeout: 60000 }))
      if (cmd === 'get') console.log('got ' + end + ' ' + h.digest('hex') + ' fork ' + core.fork)
      else console.log('range ' + start + ' ' + end + ' ' + h.digest('hex'))
    } else if (cmd === 'have') {
      let n = 0
      for (let i = 0; i < Number(a); i++) if (await core.has(i)) n++
      console.log('have ' + n)
    } else if (cmd === 'ext') {
      ext.broadcast(a)
    } else if (cmd === 'die') {
      process.exit(3)
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
