// Blind relay and datagram peer for the Go interop tests
// (TestInteropBlindRelay..., TestInteropHyperDHTDatagrams).
//
//   node blindrelay_peer.js testnet <n>           bootstrapper + n persistent nodes on 127.0.0.1
//   node blindrelay_peer.js join <host:port> <n>  n persistent nodes joining a network
//
// One more ephemeral "user" node is made, firewalled with no quick
// firewall check unless "open" is given, on 127.0.0.1 unless "host=<ip>"
// is given; listen and connect run on it.
// Prints "ready <json>" ({bootstrap, ports}), then reads JSON commands on
// stdin and answers each with "result <json>":
//   {"op":"relay"}                          an open node serving blind-relay;
//                                           -> {publicKey, port}
//   {"op":"listen","seed":hex,"relayThrough":hex|null}
//                                           echo server (stream data and
//                                           secret-stream messages, which it sends
//                                           back); -> {publicKey}
//   {"op":"connect","publicKey":hex,"data":s,"datagram":s|null,"relayThrough":hex|null,"noPunch":bool}
//                                           connect (no local shortcut; with noPunch
//                                           no hole punching and no fast open), echo
//                                           data, then send the datagram until it
//                                           comes back; -> {echo, datagram, remote}
//   {"op":"accepted"}                       -> {remotes: ["host:port", ...]} of the
//                                           connections the echo server took
const DHT = require('hyperdht')
const RelayServer = require('blind-relay').Server
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

const accepted = []

async function main () {
  const [mode, arg1, arg2] = process.argv.slice(2)
  const open = process.argv.includes('open')
  const nodes = []
  let bootstrap
  let count
  if (mode === 'testnet') {
    const port = await freePort()
    const first = new DHT({ ephemeral: false, firewalled: false, bootstrap: [], port, host: '127.0.0.1' })
    await first.fullyBootstrapped()
    nodes.push(first)
    bootstrap = ['127.0.0.1:' + port]
    count = Number(arg1)
  } else if (mode === 'join') {
    bootstrap = [arg1]
    count = Number(arg2)
  } else {
    throw new Error('unknown mode ' + mode)
  }
  for (let i = 0; i < count; i++) {
    const n = new DHT({ ephemeral: false, firewalled: false, bootstrap, port: await freePort(), host: '127.0.0.1' })
    await n.fullyBootstrapped()
    nodes.push(n)
  }
  const userOpts = { ephemeral: true, quickFirewall: open, bootstrap, port: await freePort(), host: '127.0.0.1' }
  if (open) userOpts.firewalled = false
  const hostArg = process.argv.find((a) => a.startsWith('host='))
  if (hostArg) userOpts.host = hostArg.slice(5)
  const user = new DHT(userOpts)
  await user.fullyBootstrapped()
  nodes.push(user)

  console.log('ready ' + JSON.stringify({ bootstrap, ports: nodes.map((n) => n.address().port), firewalled: user.firewalled }))

  const ctx = { user, bootstrap, nodes }
  const rl = readline.createInterface({ input: process.stdin })
  for await (const line of rl) {
    if (!line.trim()) continue
    const cmd = JSON.parse(line)
    let out
    try {
      out = await run(ctx, cmd)
    } catch (err) {
      out = { error: err.message }
    }
    console.log('result ' + JSON.stringify(out))
  }
  for (const n of nodes) await n.destroy()
}

function remoteOf (socket) {
  const raw = socket.rawStream
  return raw ? raw.remoteHost + ':' + raw.remotePort : null
}

async function run (ctx, cmd) {
  const { user } = ctx
  switch (cmd.op) {
    case 'relay': {
      const node = new DHT({ ephemeral: false, firewalled: false, bootstrap: ctx.bootstrap, port: await freePort(), host: '127.0.0.1' })
      await node.fullyBootstrapped()
      ctx.nodes.push(node)
      const relay = new RelayServer({
        createStream (opts) {
          return node.createRawStream({ ...opts, framed: true })
        }
      })
      const server = node.createServer({ shareLocalAddress: false }, (socket) => {
        const session = relay.accept(socket, { id: socket.remotePublicKey })
        session.on('error', () => {})
        socket.on('error', () => {})
      })
      await server.listen()
      return { publicKey: hex(server.publicKey), port: node.address().port }
    }
    case 'listen': {
      const keyPair = DHT.keyPair(Buffer.from(cmd.seed, 'hex'))
      const opts = { shareLocalAddress: false }
      if (cmd.relayThrough) opts.relayThrough = Buffer.from(cmd.relayThrough, 'hex')
      const server = user.createServer(opts, (socket) => {
        socket.on('open', () => accepted.push(remoteOf(socket)))
        socket.on('data', (d) => socket.write(d))
        socket.on('message', (m) => socket.send(m))
        socket.on('end', () => socket.end())
        socket.on('error', () => {})
      })
      await server.listen(keyPair)
      return { publicKey: hex(keyPair.publicKey) }
    }
    case 'accepted':
      return { remotes: accepted }
    case 'connect': {
      const opts = { localConnection: false }
      if (cmd.relayThrough) opts.relayThrough = Buffer.from(cmd.relayThrough, 'hex')
      if (cmd.noPunch) {
        opts.holepunch = () => false
        opts.fastOpen = false
      }
      const socket = user.connect(Buffer.from(cmd.publicKey, 'hex'), opts)
      const want = Buffer.from(cmd.data)
      let got = Buffer.alloc(0)
      let onEcho = null
      const failed = new Promise((resolve, reject) => socket.on('error', reject))
      socket.on('data', (d) => {
        got = Buffer.concat([got, d])
        if (onEcho && got.length >= want.length) onEcho()
      })
      await Promise.race([new Promise((resolve) => socket.once('open', resolve)), failed])
      const p = new Promise((resolve) => { onEcho = resolve })
      socket.write(want)
      await Promise.race([p, failed])
      const echo = got.toString()
      let datagram = null
      if (cmd.datagram != null) {
        const back = new Promise((resolve) => socket.once('message', (m) => resolve(Buffer.from(m).toString())))
        const timer = setInterval(() => socket.send(Buffer.from(cmd.datagram)), 200)
        socket.send(Buffer.from(cmd.datagram))
        datagram = await Promise.race([back, new Promise((resolve) => setTimeout(() => resolve('timeout'), 10000))])
        clearInterval(timer)
      }
      const remote = remoteOf(socket)
      socket.end()
      return { echo, datagram, remote }
    }
  }
  throw new Error('unknown op ' + cmd.op)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
