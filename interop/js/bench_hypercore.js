// JS side of bench/hypercore (hypercore 11 on its default RocksDB storage).
//
//   node bench_hypercore.js append --blocks N --size S --batch B --single M
//     appends N blocks of S bytes in batches of B, then M single appends, to
//     a core in a temp dir. Prints one line per phase; the last line is the
//     batched figure in blocks/s.
//   node bench_hypercore.js serve --blocks N --size S
//     creates a core of N blocks of S bytes, listens on TCP loopback and
//     replicates it to every connection (secret-stream responder). Prints
//     "ready <key hex> <port>" once the core is written; stops on stdin EOF
//     or "exit".
//   node bench_hypercore.js fetch --key K --port P --blocks N
//     opens an empty core by key, connects to 127.0.0.1:P (secret-stream
//     initiator) and downloads blocks 0..N-1. Prints the time and bytes;
//     the last line is the figure in blocks/s, timed from the connect to
//     the last block stored.
const net = require('net')
const readline = require('readline')
const Hypercore = require('hypercore')
const fs = require('fs')
const os = require('os')
const path = require('path')

const mode = process.argv[2]
const args = {}
for (let i = 3; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1]
const num = (name, def) => (args[name] === undefined ? def : Number(args[name]))

function tmpdir (name) {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'bench-hypercore-' + name + '-'))
}

function makeBlocks (n, size) {
  const out = []
  for (let i = 0; i < n; i++) {
    const b = Buffer.alloc(size)
    b.writeUInt32BE(i, 0)
    out.push(b)
  }
  return out
}

async function append () {
  const n = num('blocks', 65536)
  const size = num('size', 1024)
  const batch = num('batch', 1024)
  const single = num('single', 2000)
  const dir = tmpdir('append')
  const core = new Hypercore(dir)
  await core.ready()
  const blocks = makeBlocks(batch, size)
  let start = process.hrtime.bigint()
  for (let i = 0; i < n; i += batch) await core.append(blocks.slice(0, Math.min(batch, n - i)))
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  console.log(`append: ${n} x ${size} B in batches of ${batch}: ${secs.toFixed(3)} s`)
  let singleRate = 0
  if (single > 0) {
    start = process.hrtime.bigint()
    for (let i = 0; i < single; i++) await core.append(blocks[i % blocks.length])
    const s = Number(process.hrtime.bigint() - start) / 1e9
    singleRate = single / s
  }
  console.log(`single appends: ${singleRate.toFixed(0)} blocks/s`)
  await core.close()
  fs.rmSync(dir, { recursive: true, force: true })
  console.log((n / secs).toFixed(0))
}

async function serve () {
  const n = num('blocks', 65536)
  const size = num('size', 1024)
  const dir = tmpdir('serve')
  const core = new Hypercore(dir)
  await core.ready()
  const blocks = makeBlocks(1024, size)
  for (let i = 0; i < n; i += 1024) await core.append(blocks.slice(0, Math.min(1024, n - i)))
  const streams = new Set()
  const server = net.createServer((socket) => {
    const stream = core.replicate(false)
    streams.add(stream)
    socket.pipe(stream).pipe(socket)
    const drop = () => { streams.delete(stream); stream.destroy(); socket.destroy() }
    stream.on('error', drop)
    socket.on('error', drop)
    socket.on('close', drop)
  })
  server.listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  console.log(`ready ${core.key.toString('hex')} ${server.address().port}`)
  const rl = readline.createInterface({ input: process.stdin })
  for await (const line of rl) if (line.trim() === 'exit') break
  server.close()
  for (const s of streams) s.destroy()
  await core.close()
  fs.rmSync(dir, { recursive: true, force: true })
  process.exit(0)
}

async function fetch () {
  const n = num('blocks', 65536)
  const dir = tmpdir('fetch')
  const core = new Hypercore(dir, Buffer.from(args.key, 'hex'))
  await core.ready()
  const start = process.hrtime.bigint()
  const socket = net.connect(num('port'), '127.0.0.1')
  const stream = core.replicate(true)
  socket.pipe(stream).pipe(socket)
  stream.on('error', () => {})
  socket.on('error', () => {})
  await core.download({ start: 0, end: n }).done()
  const secs = Number(process.hrtime.bigint() - start) / 1e9
  if (core.contiguousLength < n) throw new Error('download ended at ' + core.contiguousLength)
  console.log(`fetch: ${n} blocks, ${core.byteLength} bytes in ${secs.toFixed(3)} s`)
  stream.destroy()
  socket.destroy()
  await core.close()
  fs.rmSync(dir, { recursive: true, force: true })
  console.log((n / secs).toFixed(0))
  process.exit(0)
}

const modes = { append, serve, fetch }
if (!modes[mode]) {
  console.error('usage: bench_hypercore.js append|serve|fetch [--flags]')
  process.exit(2)
}
modes[mode]().catch((err) => {
  console.error(err)
  process.exit(1)
})
