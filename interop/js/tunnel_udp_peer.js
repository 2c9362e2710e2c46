// Holesail-style UDP tunnel peers for TestInteropTunnelUDP..., doing what
// holesail-server 2.4 / holesail-client 2.3 do with --udp (their
// @holesail/hyper-cmd-lib-net 1.1.2 framed UDP piping) on hyperdht.
//
//   node tunnel_udp_peer.js server <bootstrap> <targetPort> <seedHex> <public|private>
//       puts the record {"host":"127.0.0.1","udp":true,"port":<targetPort>};
//       every DHT connection gets its own unbound UDP socket: frames read on
//       the connection are sent to 127.0.0.1:<targetPort>, datagrams that
//       socket receives go back framed; prints "key <z32>"
//   node tunnel_udp_peer.js client <bootstrap> <key> <public|private>
//       reads the record, binds a UDP socket on a free local port and gives
//       every sender (address:port) its own DHT connection: its datagrams go
//       there framed, the frames coming back go to it; prints
//       "record <json>" and "listening <port>"
//
// A frame is a datagram's length as a 32-bit big-endian integer, then the
// datagram, written on the connection's stream. Closing stdin exits; on
// exit the client prints "stats <json>" (connections opened, frames
// relayed each way).
const DHT = require('hyperdht')
const dgram = require('dgram')
const z32 = require('z32')
const b4a = require('b4a')

function frame (msg) {
  const head = Buffer.alloc(4)
  head.writeUInt32BE(msg.length, 0)
  return Buffer.concat([head, msg])
}

// unframer calls onDatagram for every whole frame in the chunks it is fed.
function unframer (onDatagram) {
  let pending = Buffer.alloc(0)
  return (chunk) => {
    pending = Buffer.concat([pending, chunk])
    while (pending.length >= 4) {
      const len = pending.readUInt32BE(0)
      if (pending.length < 4 + len) break
      onDatagram(pending.subarray(4, 4 + len))
      pending = pending.subarray(4 + len)
    }
  }
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
  const stats = { connections: 0, failed: 0, toServer: 0, toSenders: 0 }
  let stopping = false
  let closeAll

  if (role === 'server') {
    const port = Number(arg1)
    const seed = Buffer.from(arg2, 'hex')
    const secure = arg3 === 'private'
    const dht = new DHT(opts)
    await dht.fullyBootstrapped()
    const keyPair = DHT.keyPair(seed)
    const firewall = secure ? (remotePublicKey) => !b4a.equals(remotePublicKey, keyPair.publicKey) : false
    const server = dht.createServer({ firewall, reusableSocket: true }, (c) => {
      stats.connections++
      const sock = dgram.createSocket('udp4')
      sock.on('message', (msg) => { stats.toSenders++; c.write(frame(msg)) })
      sock.on('error', (err) => c.destroy(err))
      sock.on('close', () => c.end())
      c.on('data', unframer((msg) => { stats.toServer++; sock.send(msg, port, '127.0.0.1') }))
      c.on('end', () => sock.close())
      c.on('error', () => { try { sock.close() } catch {} })
    })
    await server.listen(keyPair)
    await putRecord(dht, keyPair, Buffer.from(JSON.stringify({ host: '127.0.0.1', udp: true, port })))
    console.log('key ' + z32.encode(secure ? seed : keyPair.publicKey))
    closeAll = async () => { await server.close(); await dht.destroy() }
  } else if (role === 'client') {
    const keyPair = arg2 === 'private' ? DHT.keyPair(z32.decode(arg1)) : null
    const publicKey = keyPair ? keyPair.publicKey : z32.decode(arg1)
    const dht = new DHT({ ...opts, keyPair: keyPair || undefined })
    const record = await dht.mutableGet(publicKey, { latest: true })
    console.log('record ' + (record ? b4a.toString(record.value) : 'null'))
    const proxy = dgram.createSocket('udp4')
    const senders = new Map()
    proxy.on('message', (msg, rinfo) => {
      const id = rinfo.address + ':' + rinfo.port
      let c = senders.get(id)
      if (!c) {
        stats.connections++
        c = dht.connect(publicKey)
        senders.set(id, c)
        c.on('data', unframer((reply) => {
          stats.toSenders++
          proxy.send(reply, rinfo.port, rinfo.address)
        }))
        c.on('error', (err) => {
          console.error('connection for ' + id + ' failed: ' + err.message)
          c.destroy()
        })
        c.on('close', () => {
          if (senders.get(id) !== c) return
          senders.delete(id)
          // Ended before the client stopped: the next datagram of this
          // sender opens a new connection, as holesail's client does, and
          // what was written to this one is lost.
          if (!stopping) stats.failed++
        })
      }
      stats.toServer++
      c.write(frame(msg))
    })
    await new Promise((resolve) => proxy.bind(0, '127.0.0.1', resolve))
    console.log('listening ' + proxy.address().port)
    closeAll = async () => {
      stopping = true
      for (const c of senders.values()) c.destroy()
      proxy.close()
      await dht.destroy()
    }
  } else {
    throw new Error('usage: tunnel_udp_peer.js server|client ...')
  }

  process.stdin.resume()
  process.stdin.on('end', async () => {
    console.log('stats ' + JSON.stringify(stats))
    await closeAll()
    process.exit(0)
  })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
