// JS side of bench/secretstream: bulk throughput of @hyperswarm/secret-stream
// over TCP loopback, JS to JS.
//
//   node bench_secretstream.js [--bytes N] [--chunk N]
//
// The receiver runs in a child process (so sender and receiver each have a
// core, like the Go benchmark's two goroutines). The sender writes N bytes
// in chunks; the receiver times from the open stream to the end of the data.
// The last line printed is the throughput in MiB/s.
const net = require('net')
const { fork } = require('child_process')
const SecretStream = require('@hyperswarm/secret-stream')
const { once } = require('events')

const args = {}
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1]
const total = Number(args.bytes || 1024 * 1024 * 1024)
const chunk = Number(args.chunk || 65536)

if (args.serve) {
  const server = net.createServer((socket) => {
    server.close()
    const s = new SecretStream(false, socket)
    let n = 0
    let start = 0
    const cpu0 = process.cpuUsage()
    s.on('error', (err) => { throw err })
    s.on('open', () => { start = process.hrtime.bigint() })
    s.on('data', (d) => {
      if (start === 0) start = process.hrtime.bigint()
      n += d.byteLength
    })
    s.on('end', () => {
      const secs = Number(process.hrtime.bigint() - start) / 1e9
      const cpu = process.cpuUsage(cpu0)
      process.send({ bytes: n, secs, recvCPU: (cpu.user + cpu.system) / 1e6 })
      s.end()
    })
  })
  server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }))
} else {
  const child = fork(__filename, ['--serve', '1'])
  child.once('message', async ({ port }) => {
    const cpu0 = process.cpuUsage()
    const s = new SecretStream(true, net.connect(port, '127.0.0.1'))
    s.on('error', (err) => { throw err })
    await s.opened
    const buf = Buffer.alloc(chunk, 7)
    let left = total
    while (left > 0) {
      const n = Math.min(chunk, left)
      left -= n
      if (!s.write(n === chunk ? buf : buf.subarray(0, n))) await once(s, 'drain')
    }
    s.end()
    const [res] = await once(child, 'message')
    const cpu = process.cpuUsage(cpu0)
    const sendCPU = (cpu.user + cpu.system) / 1e6
    const mib = res.bytes / (1 << 20)
    console.log(`js: ${res.bytes} bytes in ${res.secs.toFixed(3)} s, cpu send ${sendCPU.toFixed(2)} s recv ${res.recvCPU.toFixed(2)} s, ${((sendCPU + res.recvCPU) / (res.bytes / (1 << 30))).toFixed(2)} cpu-s/GiB`)
    console.log((mib / res.secs).toFixed(1))
    child.kill()
    process.exit(0)
  })
}
