// One side of the UDX bulk benchmark (udx-native).
//
//   node bench_udx.js recv <localId> <remoteId>
//   node bench_udx.js send <localId> <remoteId> <bytes> [chunk]
//
// Prints "port <n>" once bound on 127.0.0.1 (or $UDX_BIND), waits for
// "connect <port> [host]" on
// stdin, then transfers. The receiver prints "done <bytes> <ms>" when the
// sender's end arrives (ms from its first byte); both print
// "cpu <seconds>" (user+system of this process) before exiting.
const UDX = require('udx-native')
const readline = require('readline')

const [mode, localId, remoteId, bytesArg, chunkArg] = process.argv.slice(2)
const total = Number(bytesArg || 0)
const chunkSize = Number(chunkArg || 65536)

const udx = new UDX()
const socket = udx.createSocket()
const host = process.env.UDX_BIND || '127.0.0.1' // the lossy case runs in a namespace
socket.bind(0, host)
const stream = udx.createStream(Number(localId))
console.log('port ' + socket.address().port)

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', (line) => {
  const [cmd, port, remoteHost] = line.trim().split(' ')
  if (cmd !== 'connect') return
  stream.connect(socket, Number(remoteId), Number(port), remoteHost || '127.0.0.1')
  if (mode === 'recv') recv()
  else send()
})

function finish() {
  const u = process.cpuUsage()
  console.log('cpu ' + ((u.user + u.system) / 1e6).toFixed(3))
  rl.close()
  socket.close()
}

stream.on('close', finish)
stream.on('error', (err) => console.error('stream error', err))

function recv() {
  let n = 0
  let start = 0
  stream.on('data', (d) => {
    if (n === 0) start = process.hrtime.bigint()
    n += d.byteLength
  })
  stream.on('end', () => {
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    console.log('done ' + n + ' ' + ms.toFixed(1))
    stream.end()
  })
}

function send() {
  const buf = Buffer.alloc(chunkSize, 0xab)
  let sent = 0
  stream.resume()
  const pump = () => {
    while (sent < total) {
      const b = total - sent < chunkSize ? buf.subarray(0, total - sent) : buf
      sent += b.byteLength
      if (!stream.write(b)) {
        stream.once('drain', pump)
        return
      }
    }
    stream.end()
  }
  pump()
}
