// A @hyperswarm/secret-stream peer over TCP for Warren's interop tests.
//
//   node secretstream_peer.js --role server|client [--port N] [--size BYTES]
//        [--order go-first|js-first] [--keepalive MS] [--timeout MS]
//        [--idle MS] [--handshake JSON]
//
// A server listens on 127.0.0.1 and prints "port N"; a client connects to
// --port. Once the stream is open it prints "keys <publicKey> <remotePublicKey>
// <handshakeHash>" (hex). Then, with --order go-first, it reads until the
// peer ends its side and prints "recv <bytes> <sha256> <emptyMessages>",
// waits --idle ms, sends --size random bytes, ends its side and prints
// "sent <bytes> <sha256>"; with js-first it sends first and reads after.
// It prints "closed" when the stream has closed, then exits.
// --handshake is {"tx","rx","hash","publicKey","remotePublicKey"} in hex:
// the stream starts from those keys instead of its own Noise handshake.
const net = require('net')
const crypto = require('crypto')
const { once } = require('events')
const SecretStream = require('@hyperswarm/secret-stream')

const args = {}
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1]

const role = args.role
const size = Number(args.size || 0)
const order = args.order || 'go-first'
const idle = Number(args.idle || 0)

function fail (err) {
  console.log('error ' + (err && err.message))
  process.exit(1)
}

function recv (s) {
  return new Promise((resolve) => {
    const h = crypto.createHash('sha256')
    let n = 0
    let empty = 0
    s.on('data', (d) => {
      if (d.byteLength === 0) empty++
      n += d.byteLength
      h.update(d)
    })
    s.on('end', () => resolve(`recv ${n} ${h.digest('hex')} ${empty}`))
  })
}

async function send (s) {
  const h = crypto.createHash('sha256')
  let left = size
  while (left > 0) {
    const b = crypto.randomBytes(Math.min(65536, left))
    h.update(b)
    left -= b.byteLength
    if (!s.write(b)) await once(s, 'drain')
  }
  s.end()
  return `sent ${size} ${h.digest('hex')}`
}

async function run (socket) {
  const opts = {}
  if (args.handshake) {
    const h = JSON.parse(args.handshake)
    opts.handshake = {}
    for (const k of ['tx', 'rx', 'hash', 'publicKey', 'remotePublicKey']) opts.handshake[k] = Buffer.from(h[k], 'hex')
  }
  if (args.keepalive) opts.keepAlive = Number(args.keepalive)
  const s = new SecretStream(role === 'client', socket, opts)
  if (args.timeout) s.setTimeout(Number(args.timeout))
  s.on('error', fail)
  const closed = once(s, 'close')
  if (!(await s.opened)) fail(new Error('not opened'))
  console.log(`keys ${s.publicKey.toString('hex')} ${s.remotePublicKey.toString('hex')} ${s.handshakeHash.toString('hex')}`)

  const sleep = () => new Promise((resolve) => setTimeout(resolve, idle))
  if (order === 'js-first') {
    const got = recv(s)
    await sleep()
    console.log(await send(s))
    console.log(await got)
  } else {
    console.log(await recv(s))
    await sleep()
    console.log(await send(s))
  }
  await closed
  console.log('closed')
  process.exit(0)
}

if (role === 'server') {
  // allowHalfOpen: a plain net.Socket closes as soon as the peer ends its
  // side, which would make half-close untestable; hyperswarm's UDX streams
  // are half-open the same way.
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    server.close()
    run(socket).catch(fail)
  })
  server.listen(0, '127.0.0.1', () => console.log('port ' + server.address().port))
} else {
  const socket = net.connect({ port: Number(args.port), host: '127.0.0.1', allowHalfOpen: true })
  run(socket).catch(fail)
}
