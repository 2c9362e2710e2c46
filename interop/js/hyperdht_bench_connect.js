// JS side of bench/run dht-connect: connect plus first echo to a server on
// a 10-node local hyperdht testnet, n times; prints
// "dht-connect js p50=<ms> p95=<ms> n=<n>".
//
//   node hyperdht_bench_connect.js [n]
const createTestnet = require('hyperdht/testnet')

async function main () {
  const n = Number(process.argv[2] || 200)
  const testnet = await createTestnet(10, { port: 40000 + Math.floor(Math.random() * 20000) })
  const server = testnet.createNode()
  const client = testnet.createNode()
  await server.fullyBootstrapped()
  await client.fullyBootstrapped()
  const s = server.createServer((sock) => {
    sock.on('data', (d) => sock.write(d))
    sock.on('error', () => {})
  })
  await s.listen()
  const lat = []
  for (let i = 0; i < n; i++) {
    const start = process.hrtime.bigint()
    const sock = client.connect(s.publicKey)
    await new Promise((resolve, reject) => {
      sock.on('error', reject)
      sock.once('data', resolve)
      sock.write(Buffer.from('ping'))
    })
    lat.push(Number(process.hrtime.bigint() - start) / 1e6)
    sock.destroy()
  }
  lat.sort((a, b) => a - b)
  console.log(`dht-connect js p50=${lat[Math.floor(n / 2)].toFixed(3)} p95=${lat[Math.floor(n * 0.95)].toFixed(3)} n=${n}`)
  await testnet.destroy()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
