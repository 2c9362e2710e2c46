// dht-rpc peer for the Go interop tests (TestInteropDHT...).
//
//   node dht_peer.js testnet <n>               bootstrapper + n persistent nodes on 127.0.0.1
//   node dht_peer.js join <host:port> <n> [checked] [adaptive]
//                                             n persistent nodes joining a network, plus
//                                             one node asking to be persistent but
//                                             firewalled until its PING_NAT check passes
//                                             ("checked") and one adaptive node
//
// Every node answers the user command 42: without a token it replies
// "js:<port>:<value>", with a valid token it replies "stored" and prints
// "stored <port> <value>".
//
// Prints "ready <json>" with the nodes, then reads JSON commands on stdin,
// one per line, and answers each with "result <json>":
//   {"op":"info"}                                   node ids, flags, routing tables
//   {"op":"findNode","node":i,"target":hex}         closest replies of a FIND_NODE walk
//   {"op":"query","node":i,"target":hex,"command":c,"value":s,"commit":bool}
//   {"op":"ping","node":i,"host":h,"port":p}
//   {"op":"request","node":i,"host":h,"port":p,"command":c,"value":s}
//   {"op":"delayedPing","node":i,"host":h,"port":p,"delay":ms}
//   {"op":"destroy","node":i}                       destroy one node
//   {"op":"mute","node":i}                          make one node silent, ports kept
// Closing stdin destroys the nodes and exits.
const DHT = require('dht-rpc')
const dgram = require('dgram')
const readline = require('readline')

const CMD = 42

function hex (b) { return b ? Buffer.from(b).toString('hex') : null }

function serve (node) {
  node.on('request', (req) => {
    if (req.command !== CMD) return req.error(DHT.ERROR_UNKNOWN_COMMAND)
    const port = node.address().port
    if (req.token) {
      console.log('stored ' + port + ' ' + (req.value ? req.value.toString() : ''))
      return req.reply(Buffer.from('stored'))
    }
    req.reply(Buffer.from('js:' + port + ':' + (req.value ? req.value.toString() : '')))
  })
  return node
}

function freePort () {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4')
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

function describe (node) {
  return {
    host: '127.0.0.1',
    port: node.address().port,
    serverPort: node.io.serverSocket.address().port,
    id: hex(node.id),
    tableId: hex(node.table.id),
    ephemeral: node.ephemeral,
    firewalled: node.firewalled,
    nodes: node.toArray()
  }
}

function reply (m) {
  return {
    from: m.from,
    fromId: hex(m.from.id),
    to: m.to,
    value: m.value ? m.value.toString() : null,
    token: !!m.token,
    error: m.error
  }
}

async function main () {
  const [mode, arg1, arg2, ...extra] = process.argv.slice(2)
  const nodes = []
  let bootstrap

  if (mode === 'testnet') {
    const port = await freePort()
    const boot = serve(DHT.bootstrapper(port, '127.0.0.1', { host: '127.0.0.1' }))
    await boot.fullyBootstrapped()
    nodes.push(boot)
    bootstrap = ['127.0.0.1:' + port]
    for (let i = 0; i < Number(arg1); i++) {
      const n = serve(new DHT({ bootstrap, ephemeral: false, firewalled: false, host: '127.0.0.1' }))
      await n.fullyBootstrapped()
      nodes.push(n)
    }
  } else if (mode === 'join') {
    bootstrap = [arg1]
    for (let i = 0; i < Number(arg2); i++) {
      const n = serve(new DHT({ bootstrap, ephemeral: false, firewalled: false, host: '127.0.0.1' }))
      await n.fullyBootstrapped()
      nodes.push(n)
    }
    if (extra.includes('checked')) {
      const n = serve(new DHT({ bootstrap, ephemeral: false, host: '127.0.0.1' }))
      await n.fullyBootstrapped()
      nodes.push(n)
    }
    if (extra.includes('adaptive')) {
      const n = serve(new DHT({ bootstrap, host: '127.0.0.1' }))
      await n.fullyBootstrapped()
      nodes.push(n)
    }
  } else {
    throw new Error('unknown mode ' + mode)
  }

  console.log('ready ' + JSON.stringify({ bootstrap, nodes: nodes.map(describe) }))

  const rl = readline.createInterface({ input: process.stdin })
  for await (const line of rl) {
    if (!line.trim()) continue
    const cmd = JSON.parse(line)
    const node = nodes[cmd.node || 0]
    let out
    try {
      out = await run(node, nodes, cmd)
    } catch (err) {
      out = { error: err.message }
    }
    console.log('result ' + JSON.stringify(out))
  }
  for (const n of nodes) await n.destroy()
}

async function run (node, nodes, cmd) {
  switch (cmd.op) {
    case 'info':
      return nodes.map(describe)
    case 'findNode': {
      const q = node.findNode(Buffer.from(cmd.target, 'hex'))
      const replies = []
      for await (const m of q) replies.push(reply(m))
      return { replies, closest: q.closestReplies.map(reply) }
    }
    case 'query': {
      const q = node.query(
        { target: Buffer.from(cmd.target, 'hex'), command: cmd.command, value: Buffer.from(cmd.value || '') },
        { commit: !!cmd.commit }
      )
      const replies = []
      for await (const m of q) replies.push(reply(m))
      return { replies, closest: q.closestReplies.map(reply) }
    }
    case 'ping': {
      const m = await node.ping({ host: cmd.host, port: cmd.port })
      return reply(m)
    }
    case 'delayedPing': {
      const start = Date.now()
      const m = await node.delayedPing({ host: cmd.host, port: cmd.port }, cmd.delay)
      return { ...reply(m), elapsed: Date.now() - start }
    }
    case 'destroy': {
      const addr = node.address()
      await node.destroy()
      return { destroyed: addr.port }
    }
    case 'mute': {
      // A dead node that keeps its ports: nothing in, nothing out, no ticks.
      // Destroying it would free its ports for another process's node.
      clearInterval(node._tickInterval)
      node.io.suspended = true
      for (const s of [node.io.serverSocket, node.io.clientSocket]) s.trySend = () => {}
      return { muted: node.address().port }
    }
    case 'request': {
      const m = await node.request(
        { command: cmd.command, value: cmd.value === undefined ? null : Buffer.from(cmd.value) },
        { host: cmd.host, port: cmd.port }
      )
      return reply(m)
    }
  }
  throw new Error('unknown op ' + cmd.op)
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
