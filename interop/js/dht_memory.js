// Memory per dht-rpc node: starts a bootstrapper and n-1 persistent nodes
// on 127.0.0.1 in this process, waits until all are bootstrapped and then
// quietMs more, and prints
// "memory nodes=<n> rss-per-node=<bytes> heap-per-node=<bytes>".
//   node --expose-gc dht_memory.js <n> [quietMs]
const DHT = require('dht-rpc')

async function main () {
  const n = Number(process.argv[2] || 200)
  const quietMs = Number(process.argv[3] || 0)
  global.gc && global.gc()
  const before = process.memoryUsage()
  const boot = DHT.bootstrapper(0xfff1, '127.0.0.1', { host: '127.0.0.1' })
  await boot.fullyBootstrapped()
  const nodes = [boot]
  const bootstrap = ['127.0.0.1:' + 0xfff1]
  for (let i = 1; i < n; i++) nodes.push(new DHT({ bootstrap, ephemeral: false, firewalled: false, host: '127.0.0.1' }))
  await Promise.all(nodes.map((x) => x.fullyBootstrapped()))
  await new Promise((resolve) => setTimeout(resolve, quietMs))
  global.gc && global.gc()
  const after = process.memoryUsage()
  console.log('memory nodes=' + n +
    ' rss-per-node=' + Math.round((after.rss - before.rss) / n) +
    ' heap-per-node=' + Math.round((after.heapUsed + after.external - before.heapUsed - before.external) / n))
  await Promise.all(nodes.map((x) => x.destroy()))
}

main().catch((err) => { console.error(err); process.exit(1) })
