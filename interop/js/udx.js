// UDX peer for the Go interop tests (udx-native).
//
//   node udx.js <mode> <localId> <remoteId> [size]
//
// Prints "port <n>" once bound on 127.0.0.1 (or $UDX_BIND), then reads commands from
// stdin, one per line:
//   connect <port> [host]   connect the stream to the Go side
//   change <port>           changeRemote to the Go side's new port (same remote id)
//   dgram <port> <text>     send a datagram
//   destroy                 destroy the stream
// Modes:
//   sink    read everything, print "recv <bytes> <sha256>" on end, then write
//           "after-end" and end (the Go side half-closed first)
//   source  write <size> random bytes, end, print "sent <bytes> <sha256>";
//           print "reply <text>" with what the Go side writes back
//   idle    only print events
// Always: "dgram <text> <from-port>" for datagrams (answered with "echo:<text>"),
// "message <text>" for stream messages (answered with "echo:<text>"),
// "error <code>" and "closed" for stream events.
const UDX = require('udx-native')
const crypto = require('crypto')
const readline = require('readline')

const [mode, localId, remoteId, sizeArg] = process.argv.slice(2)
const size = Number(sizeArg || 0)

const udx = new UDX()
const socket = udx.createSocket()
const host = process.env.UDX_BIND || '127.0.0.1' // the netem tests run in a namespace
socket.bind(0, host)
const stream = udx.createStream(Number(localId))

socket.on('message', (buf, rinfo) => {
  console.log('dgram ' + buf.toString() + ' ' + rinfo.port)
  socket.trySend(Buffer.from('echo:' + buf.toString()), rinfo.port, rinfo.address)
})
stream.on('message', (buf) => {
  console.log('message ' + buf.toString())
  stream.trySend(Buffer.from('echo:' + buf.toString()))
})
stream.on('error', (err) => console.log('error ' + (err.code || err.message)))
stream.on('close', () => {
  console.log('closed')
  socket.close()
  rl.close()
})

console.log('port ' + socket.address().port)

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', (line) => {
  const [cmd, a, ...rest] = line.trim().split(' ')
  if (cmd === 'connect') {
    stream.connect(socket, Number(remoteId), Number(a), rest[0] || '127.0.0.1')
    start()
  } else if (cmd === 'change') {
    // resolves at once (null) when nothing was in flight
    const changing = stream.changeRemote(socket, Number(remoteId), Number(a), '127.0.0.1')
    Promise.resolve(changing).then(
      () => console.log('changed'),
      (err) => console.log('change-failed ' + err.message)
    )
  } else if (cmd === 'dgram') {
    socket.trySend(Buffer.from(rest.join(' ')), Number(a), '127.0.0.1')
  } else if (cmd === 'message') {
    stream.trySend(Buffer.from([a, ...rest].join(' ')))
  } else if (cmd === 'destroy') {
    stream.destroy()
  }
})

function start() {
  if (mode === 'sink') {
    const h = crypto.createHash('sha256')
    let n = 0
    stream.on('data', (d) => {
      n += d.byteLength
      h.update(d)
    })
    stream.on('end', () => {
      console.log('recv ' + n + ' ' + h.digest('hex'))
      stream.end(Buffer.from('after-end'))
    })
  } else if (mode === 'source') {
    const h = crypto.createHash('sha256')
    let sent = 0
    let reply = ''
    stream.on('data', (d) => {
      reply += d.toString()
    })
    stream.on('end', () => console.log('reply ' + reply))
    const chunk = 65536
    const pump = () => {
      while (sent < size) {
        const buf = crypto.randomBytes(Math.min(chunk, size - sent))
        sent += buf.byteLength
        h.update(buf)
        if (!stream.write(buf)) {
          stream.once('drain', pump)
          return
        }
      }
      stream.end()
      console.log('sent ' + sent + ' ' + h.digest('hex'))
    }
    pump()
  }
}
