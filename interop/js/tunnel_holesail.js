// Runs holesail itself (the Holesail class of the holesail 2.4.1 package,
// what its CLI runs) on a local DHT, for TestInteropTunnelHolesail.
// holesail is not one of the pinned interop modules: HOLESAIL_MODULES names
// a node_modules directory it is installed in.
//
//   node tunnel_holesail.js <bootstrap> server <port> <public|private> [key]
//       prints "info <json>" (holesail's info: key, url, publicKey, ...)
//   node tunnel_holesail.js <bootstrap> client <key or hs:// url>
//       prints "info <json>" and "listening <port>"
// HOLESAIL_UDP=1 starts the server with udp (holesail --udp); the client
// takes UDP from the server's record, as holesail does.
// Closing stdin exits.
const path = require('path')
const Module = require('module')

const mods = process.env.HOLESAIL_MODULES
if (!mods) throw new Error('HOLESAIL_MODULES is not set')

// holesail's net helpers load bare-dgram (a Bare module) for UDP tunnels;
// under Node, Node's dgram stands in.
const load = Module._load
Module._load = function (request, ...rest) {
  if (request === 'bare-dgram') return require('dgram')
  return load.call(this, request, ...rest)
}

// holesail makes its DHT nodes with no options (the public bootstrap
// nodes): give the module it loads a subclass on the local network.
const bootstrap = process.argv[2]
const dhtPath = require.resolve('hyperdht', { paths: [path.join(mods, 'holesail-server')] })
const HyperDHT = require(dhtPath)
class LocalDHT extends HyperDHT {
  constructor (opts = {}) {
    super({ ...opts, bootstrap: [bootstrap], host: '127.0.0.1' })
  }
}
require.cache[dhtPath].exports = LocalDHT

const Holesail = require(path.join(mods, 'holesail'))

async function main () {
  const [role, a, b, c] = process.argv.slice(3)
  let hs
  if (role === 'server') {
    const udp = process.env.HOLESAIL_UDP === '1' || undefined
    hs = new Holesail({ server: true, port: Number(a), host: '127.0.0.1', secure: b === 'private', key: c, udp })
  } else {
    hs = new Holesail({ client: true, key: a, port: 0, host: '127.0.0.1' })
  }
  await hs.ready()
  if (role === 'server') {
    // Let the node settle its firewall state before clients come: a Go
    // client of a JS server whose state changes under it may open its
    // stream to the wrong socket (reported to hyperdht).
    await hs.dht.dht.fullyBootstrapped()
  }
  console.log('info ' + JSON.stringify(hs.info))
  if (role === 'client') {
    const proxy = hs.dht.proxy
    // A TCP proxy (net.Server) or, for UDP, a dgram socket: wait until bound.
    let bound = false
    try { bound = proxy.address().port > 0 } catch {}
    if (!bound) await new Promise((resolve) => proxy.once('listening', resolve))
    console.log('listening ' + proxy.address().port)
  }
  process.stdin.resume()
  process.stdin.on('end', () => process.exit(0))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
