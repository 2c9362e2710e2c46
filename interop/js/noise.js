// One side of a Noise handshake (noise-handshake + noise-curve-ed), driven
// over stdin/stdout with hex lines, for the Go interop tests.
//
//   node noise.js <XX|IK> <initiator|responder> <static seed hex>
//        [--remote <pub hex>] [--prologue <hex>] [--ephemeral <seed hex>]
//        [--payload <hex>]...
//
// For each of its own messages it prints "msg <hex>" (carrying the next
// --payload, or an empty one); for each peer message it reads one hex line
// from stdin and prints "payload <hex>". When done it prints "hash", "tx",
// "rx" and "rs" lines, then "done". A failure prints "error <message>" and
// exits with status 2.
const Noise = require('noise-handshake')
const curve = require('noise-curve-ed')
const readline = require('readline')

const args = process.argv.slice(2)
const pattern = args[0]
const initiator = args[1] === 'initiator'
const staticKey = curve.generateKeyPair(Buffer.from(args[2], 'hex'))
let remote = null
let prologue = Buffer.alloc(0)
let ephemeral = null
const payloads = []
for (let i = 3; i < args.length; i += 2) {
  const v = Buffer.from(args[i + 1], 'hex')
  if (args[i] === '--remote') remote = v
  else if (args[i] === '--prologue') prologue = v
  else if (args[i] === '--ephemeral') ephemeral = curve.generateKeyPair(v)
  else if (args[i] === '--payload') payloads.push(v)
  else throw new Error('unknown option ' + args[i])
}

const hex = (b) => Buffer.from(b).toString('hex')

async function main () {
  const noise = new Noise(pattern, initiator, staticKey, { curve })
  noise.initialise(prologue, remote)
  if (ephemeral) noise.e = ephemeral
  console.log('pub ' + hex(staticKey.publicKey))

  const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]()
  let ourTurn = initiator
  while (!noise.complete) {
    if (ourTurn) {
      const msg = noise.send(payloads.shift() || Buffer.alloc(0))
      console.log('msg ' + hex(msg))
    } else {
      const { value, done } = await lines.next()
      if (done) throw new Error('stdin ended mid-handshake')
      const payload = noise.recv(Buffer.from(value.trim(), 'hex'))
      console.log('payload ' + hex(payload))
    }
    ourTurn = !ourTurn
  }
  console.log('hash ' + hex(noise.hash))
  console.log('tx ' + hex(noise.tx))
  console.log('rx ' + hex(noise.rx))
  console.log('rs ' + hex(noise.rs))
  console.log('done')
  process.exit(0)
}

main().catch((err) => {
  console.log('error ' + err.message)
  process.exit(2)
})
