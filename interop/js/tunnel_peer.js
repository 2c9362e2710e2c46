// Holesail-style tunnel peers for the Go interop tests (TestInteropTunnel...),
// doing what holesail-server 2.4 and holesail-client 2.3 do, on hyperdht.
//
//   node tunnel_peer.js server <bootstrap> <targetPort> <seedHex> <public|private>
//       serves 127.0.0.1:<targetPort> under the key pair of the seed; puts the
//       host record as holesail-server (seq kept if unchanged, else +1);
//       prints "key <z32>" (the seed if private, else the public key) and
//       "publickey <hex>"
//   node tunnel_peer.js client <bootstrap> <key> <public|private|secret>
//       reads the host record and listens on a free local port, forwarding
//       each connection over a new DHT connection; "private" takes the z32
//       seed, "secret" a holesail --key secret (seed = SHA-256, as the
//       holesail CLI); prints "record <json>" and "listening <port>"
//
// Both pipe bytes as holesail's connection piper does: data as it comes,
// end passed on as end, close or error on either side destroys both.
// Closing stdin shuts the peer down. TUNNEL_DHT_HOST binds the DHT node to
// another address than 127.0.0.1 (netlab).
const DHT = require('hyperdht')
const net = require('net')
const crypto = require('crypto')
const z32 = require('z32')
const b4a = require('b4a')

function pipeBoth (a, b) {
  let done = false
  const destroy = (err) => {
    if (done) return
    done = true
    a.end(); b.end()
    a.destroy(err); b.destroy(err)
  }
  a.on('data', (d) => b.write(d))
  b.on('data', (d) => a.write(d))
  a.on('end', () => b.end())
  b.on('end', () => a.end())
  a.on('error', destroy).on('close', destroy)
  b.on('error', destroy).on('close', destroy)
}

async function putRecord (dht, keyPair, value) {
  const old = await dht.mutableGet(keyPair.publicKey, { latest: true })
  const opts = {}
  if (old) opts.seq = b4a.equals(old.value, value) ? old.seq : old.seq + 1
  const { seq } = await dht.mutablePut(keyPair, value, opts)
  return seq
}

async function main () {
  const [role, bootstrap, arg1, arg2, arg3] = process.argv.slice(2)
  const opts = { bootstrap: [bootstrap], host: process.env.TUNNEL_DHT_HOST || '127.0.0.1' }
  let closeAll

  if (role === 'server') {
    const port = Number(arg1)
    const seed = Buffer.from(arg2, 'hex')
    const secure = arg3 === 'private'
    const dht = new DHT(opts)
    // Settle the firewall check first: a server still firewalled answers
    // through its hole puncher's socket, which Go clients on loopback do
    // not always reach (see the report on hyperdht).
    await dht.fullyBootstrapped()
    console.error('server node firewalled:', dht.firewalled)
    const keyPair = DHT.keyPair(seed)
    const firewall = secure ? (remotePublicKey) => !b4a.equals(remotePublicKey, keyPair.publicKey) : false
    const server = dht.createServer({ firewall, reusableSocket: true }, (c) => {
      pipeBoth(c, net.connect({ port, host: '127.0.0.1', allowHalfOpen: true }))
    })
    await server.listen(keyPair)
    const value = Buffer.from(JSON.stringify({ host: '127.0.0.1', udp: undefined, port }))
    const seq = await putRecord(dht, keyPair, value)
    console.error('record put with seq', seq)
    console.log('key ' + z32.encode(secure ? seed : keyPair.publicKey))
    console.log('publickey ' + b4a.toString(keyPair.publicKey, 'hex'))
    closeAll = async () => { await server.close(); await dht.destroy() }
  } else if (role === 'client') {
    const mode = arg2
    let keyPair = null
    let publicKey
    if (mode === 'private') {
      keyPair = DHT.keyPair(z32.decode(arg1))
    } else if (mode === 'secret') {
      keyPair = DHT.keyPair(crypto.createHash('sha256').update(arg1).digest())
    }
    if (keyPair) publicKey = keyPair.publicKey
    else publicKey = z32.decode(arg1)
    const dht = new DHT({ ...opts, keyPair: keyPair || undefined })
    const record = await dht.mutableGet(publicKey, { latest: true })
    console.log('record ' + (record ? b4a.toString(record.value) : 'null'))
    const proxy = net.createServer({ allowHalfOpen: true }, (local) => {
      pipeBoth(local, dht.connect(publicKey, { reusableSocket: true }))
    })
    await new Promise((resolve) => proxy.listen(0, '127.0.0.1', resolve))
    console.log('listening ' + proxy.address().port)
    closeAll = async () => { proxy.close(); await dht.destroy() }
  } else {
    throw new Error('usage: tunnel_peer.js server|client ...')
  }

  process.stdin.resume()
  process.stdin.on('end', async () => {
    await closeAll()
    process.exit(0)
  })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
