// Hyperswarm peer for the Go interop tests (TestInteropSwarm...).
//
//   node swarm_peer.js <bootstrap host:port> <seed hex>
//
// Makes an ephemeral hyperdht node on 127.0.0.1 joining the network, a
// Hyperswarm on it with the key pair of seed, and a Corestore in a temporary
// directory that is replicated over every swarm connection.
// Prints "ready <json {publicKey}>", then one line per event:
//   "connection <json {remotePublicKey, handshakeHash, initiator, client}>"
//   "closed <json {remotePublicKey, handshakeHash}>"
// and reads JSON commands on stdin, one per line, answering each with
// "result <json>":
//   {"op":"join","topic":hex,"server":b,"client":b}  join, wait for the announce/lookup and flush
//   {"op":"listen"}        start the server without a topic
//   {"op":"joinPeer","publicKey":hex}
//   {"op":"flush"}
//   {"op":"leave","topic":hex}
//   {"op":"conns"}         -> {conns: [{remotePublicKey, handshakeHash, initiator}]}
//   {"op":"write","name":s,"blocks":n}   appends "<name>-<i>" blocks to a named core -> {key}
//   {"op":"read","key":hex,"name":s,"blocks":n} downloads and checks them -> {ok}
// Closing stdin destroys the swarm and exits.
const Hyperswarm = require('hyperswarm')
const DHT = require('hyperdht')
const Corestore = require('corestore')
const dgram = require('dgram')
const fs = require('fs')
const os = require('os')
const path = require('path')
const readline = require('readline')

const hex = (b) => (b ? Buffer.from(b).toString('hex') : null)

function freePort () {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4')
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

async function main () {
  const [bootstrap, seed] = process.argv.slice(2)
  const dht = new DHT({ ephemeral: true, bootstrap: [bootstrap], port: await freePort(), host: '127.0.0.1' })
  await dht.fullyBootstrapped()
  const keyPair = DHT.keyPair(Buffer.from(seed, 'hex'))
  const swarm = new Hyperswarm({ dht, keyPair })
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'swarm-peer-'))
  const store = new Corestore(dir)
  await store.ready()

  swarm.on('connection', (conn, info) => {
    const id = { remotePublicKey: hex(conn.remotePublicKey), handshakeHash: hex(conn.handshakeHash) }
    console.log('connection ' + JSON.stringify({ ...id, initiator: conn.isInitiator, client: info.client }))
    conn.on('error', () => {})
    conn.on('close', () => console.log('closed ' + JSON.stringify(id)))
    store.replicate(conn)
  })

  console.log('ready ' + JSON.stringify({ publicKey: hex(keyPair.publicKey) }))

  const rl = readline.createInterface({ input: process.stdin })
  for await (const line of rl) {
    if (!line.trim()) continue
    const cmd = JSON.parse(line)
    let out
    try {
      out = await run(swarm, store, cmd)
    } catch (err) {
      out = { error: err.message }
    }
    console.log('result ' + JSON.stringify(out || {}))
  }
  await swarm.destroy()
  await store.close()
  fs.rmSync(dir, { recursive: true, force: true })
}

async function run (swarm, store, cmd) {
  switch (cmd.op) {
    case 'join': {
      const d = swarm.join(Buffer.from(cmd.topic, 'hex'), { server: !!cmd.server, client: !!cmd.client })
      await d.flushed()
      await swarm.flush()
      return {}
    }
    case 'listen':
      await swarm.listen()
      return {}
    case 'joinPeer':
      swarm.joinPeer(Buffer.from(cmd.publicKey, 'hex'))
      return {}
    case 'flush':
      await swarm.flush()
      return {}
    case 'leave':
      await swarm.leave(Buffer.from(cmd.topic, 'hex'))
      return {}
    case 'conns':
      return {
        conns: [...swarm.connections].map((c) => ({
          remotePublicKey: hex(c.remotePublicKey), handshakeHash: hex(c.handshakeHash), initiator: c.isInitiator
        }))
      }
    case 'write': {
      const core = store.get({ name: cmd.name })
      await core.ready()
      const blocks = []
      for (let i = 0; i < cmd.blocks; i++) blocks.push(Buffer.from(cmd.name + '-' + i))
      await core.append(blocks)
      return { key: hex(core.key) }
    }
    case 'read': {
      const core = store.get({ key: Buffer.from(cmd.key, 'hex') })
      await core.ready()
      for (let i = 0; i < cmd.blocks; i++) {
        const b = await core.get(i, { timeout: 20000 })
        if (b.toString() !== cmd.name + '-' + i) throw new Error('block ' + i + ' is ' + b.toString())
      }
      return { ok: true }
    }
    default:
      throw new Error('unknown op ' + cmd.op)
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
