// hyperdht peer for the Go interop tests (TestInteropHyperDHT...).
//
//   node hyperdht_peer.js testnet <n>           bootstrapper + n persistent nodes on 127.0.0.1
//   node hyperdht_peer.js join <host:port> <n>  n persistent nodes joining a network
//
// Either way one more ephemeral "user" node is made; commands run on it.
// A last argument "firewalled" keeps the user node firewalled (no quick
// firewall check), so its servers reply through a hole puncher; "open"
// declares it reachable (firewalled: false); "wildcard" binds it to 0.0.0.0
// instead of 127.0.0.1, "host=<ip>" to ip; "nowait" prints ready before the
// user node is fully bootstrapped (its firewall state still settling), and
// "adaptive" leaves its ephemeral option unset (hyperdht's default).
// Prints "ready <json>" ({bootstrap, ports}), then reads JSON commands on
// stdin, one per line, and answers each with "result <json>":
//   {"op":"listen","seed":hex,"reusableSocket":b} echo server; -> {publicKey}
//   {"op":"connect","publicKey":hex,"data":s,"holdMs":n}
//                                             connect, write data, read the echo, and
//                                             with holdMs again after that long; -> {echo, later}
//   {"op":"settle"}                            mark the node reachable, as its
//                                             passed firewall check does; -> {remoteAddress}
//   {"op":"immutablePut","value":s}            -> {hash}
//   {"op":"immutableGet","hash":hex}           -> {value}
//   {"op":"mutablePut","seed":hex,"value":s,"seq":n} -> {publicKey}
//   {"op":"mutableGet","publicKey":hex,"seq":n} -> {seq, value}
//   {"op":"announce","topic":hex,"seed":hex}
//   {"op":"lookup","topic":hex}                -> {peers: [hex publicKey]}
// Closing stdin destroys the nodes and exits.
const DHT = require('hyperdht')
const NatSampler = require('nat-sampler')
const dgram = require('dgram')
const readline = require('readline')

function hex (b) { return b ? Buffer.from(b).toString('hex') : null }

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
  const [mode, arg1, arg2, arg3] = process.argv.slice(2)
  const firewalled = [arg2, arg3].includes('firewalled')
  const open = [arg2, arg3].includes('open')
  const wildcard = process.argv.includes('wildcard')
  const nodes = []
  let bootstrap

  if (mode === 'testnet') {
    const port = await freePort()
    const first = new DHT({ ephemeral: false, firewalled: false, bootstrap: [], port, host: '127.0.0.1' })
    await first.fullyBootstrapped()
    nodes.push(first)
    bootstrap = ['127.0.0.1:' + port]
    for (let i = 0; i < Number(arg1); i++) {
      const n = new DHT({ ephemeral: false, firewalled: false, bootstrap, port: await freePort(), host: '127.0.0.1' })
      await n.fullyBootstrapped()
      nodes.push(n)
    }
  } else if (mode === 'join') {
    bootstrap = [arg1]
    for (let i = 0; i < Number(arg2); i++) {
      const n = new DHT({ ephemeral: false, firewalled: false, bootstrap, port: await freePort(), host: '127.0.0.1' })
      await n.fullyBootstrapped()
      nodes.push(n)
    }
  } else {
    throw new Error('unknown mode ' + mode)
  }
  const userOpts = { ephemeral: true, quickFirewall: !firewalled, bootstrap, port: await freePort(), host: '127.0.0.1' }
  if (open) userOpts.firewalled = false
  if (process.argv.includes('adaptive')) delete userOpts.ephemeral
  if (wildcard) userOpts.host = '0.0.0.0'
  const hostArg = process.argv.find((a) => a.startsWith('host='))
  if (hostArg) userOpts.host = hostArg.slice(5)
  const user = new DHT(userOpts)
  if (process.argv.includes('nowait')) await user.ready()
  else await user.fullyBootstrapped()
  nodes.push(user)

  console.log('ready ' + JSON.stringify({ bootstrap, ports: nodes.map((n) => n.address().port), firewalled: user.firewalled }))

  const rl = readline.createInterface({ input: process.stdin })
  for await (const line of rl) {
    if (!line.trim()) continue
    const cmd = JSON.parse(line)
    let out
    try {
      out = await run(user, cmd)
    } catch (err) {
      out = { error: err.message }
    }
    console.log('result ' + JSON.stringify(out))
  }
  for (const n of nodes) await n.destroy()
}

async function run (node, cmd) {
  switch (cmd.op) {
    case 'settle':
      // What dht-rpc does once its firewall check passes: the node is
      // reachable from now on, while the relays still route to the socket
      // it announced from while firewalled.
      // Its NAT samples then come from the nodes that pinged its server
      // socket (here: the loopback address of that socket).
      const nat = new NatSampler()
      for (let i = 0; i < 3; i++) nat.add(node.host || '127.0.0.1', node.io.serverSocket.address().port)
      node._nat = nat
      node.firewalled = node.io.firewalled = false
      return { remoteAddress: node.remoteAddress() }
    case 'info':
      return { firewalled: node.firewalled, stats: node.stats.punches, remoteAddress: node.remoteAddress() }
    case 'listen': {
      const keyPair = DHT.keyPair(Buffer.from(cmd.seed, 'hex'))
      const server = node.createServer({ reusableSocket: !!cmd.reusableSocket }, (socket) => {
        socket.on('data', (d) => socket.write(d))
        socket.on('end', () => socket.end())
        socket.on('error', () => {})
      })
      await server.listen(keyPair)
      return { publicKey: hex(keyPair.publicKey) }
    }
    case 'connect': {
      const socket = node.connect(Buffer.from(cmd.publicKey, 'hex'))
      const want = Buffer.from(cmd.data)
      let got = Buffer.alloc(0)
      let onEcho = null
      const failed = new Promise((resolve, reject) => socket.on('error', reject))
      socket.on('data', (d) => {
        got = Buffer.concat([got, d])
        if (onEcho && got.length >= want.length) onEcho()
      })
      const roundTrip = () => {
        got = Buffer.alloc(0)
        const p = new Promise((resolve) => { onEcho = resolve })
        socket.write(want)
        return Promise.race([p, failed]).then(() => got.toString())
      }
      await Promise.race([new Promise((resolve) => socket.once('open', resolve)), failed])
      const echo = await roundTrip()
      let later = null
      if (cmd.holdMs) {
        await new Promise((resolve) => setTimeout(resolve, cmd.holdMs))
        later = await Promise.race([roundTrip(), new Promise((resolve) => setTimeout(() => resolve('timeout'), 5000))])
      }
      socket.end()
      return { echo, later }
    }
    case 'immutablePut': {
      const { hash } = await node.immutablePut(Buffer.from(cmd.value))
      return { hash: hex(hash) }
    }
    case 'immutableGet': {
      const r = await node.immutableGet(Buffer.from(cmd.hash, 'hex'))
      return { value: r ? r.value.toString() : null }
    }
    case 'mutablePut': {
      const keyPair = DHT.keyPair(Buffer.from(cmd.seed, 'hex'))
      await node.mutablePut(keyPair, Buffer.from(cmd.value), { seq: cmd.seq })
      return { publicKey: hex(keyPair.publicKey) }
    }
    case 'mutableGet': {
      const r = await node.mutableGet(Buffer.from(cmd.publicKey, 'hex'), { seq: cmd.seq || 0 })
      return r ? { seq: r.seq, value: r.value.toString() } : { seq: null, value: null }
    }
    case 'announce': {
      const keyPair = DHT.keyPair(Buffer.from(cmd.seed, 'hex'))
      await node.announce(Buffer.from(cmd.topic, 'hex'), keyPair).finished()
      return { publicKey: hex(keyPair.publicKey) }
    }
    case 'lookup': {
      const peers = new Set()
      for await (const r of node.lookup(Buffer.from(cmd.topic, 'hex'))) {
        for (const p of r.peers) peers.add(hex(p.publicKey))
      }
      return { peers: [...peers] }
    }
  }
  throw new Error('unknown op ' + cmd.op)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
