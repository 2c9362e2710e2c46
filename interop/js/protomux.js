// Protomux peer for TestInteropProtomux: connects to 127.0.0.1:<port>,
// frames the TCP stream with a uint24-LE length (as secret-stream does on
// the wire), runs a JS Protomux over it and plays the scenario the Go test
// drives through stdin. Usage: node protomux.js <port> [transport], where
// transport is framed (default), secret-init or secret-resp: the last two
// run Protomux over @hyperswarm/secret-stream as initiator or responder.
const net = require('net')
const readline = require('readline')
const { Duplex } = require('streamx')
const b4a = require('b4a')
const c = require('compact-encoding')
const Protomux = require('protomux')
const SecretStream = require('@hyperswarm/secret-stream')

const port = Number(process.argv[2])
const transport = process.argv[3] || 'framed'

// A duplex whose writes and 'data' events are whole messages.
class FramedStream extends Duplex {
  constructor (socket) {
    super()
    this.socket = socket
    this.pending = null
    socket.on('data', (d) => this._onsocketdata(d))
    socket.on('end', () => this.push(null))
    socket.on('error', (err) => this.destroy(err))
    socket.on('close', () => this.destroy())
  }

  _onsocketdata (d) {
    this.pending = this.pending ? b4a.concat([this.pending, d]) : d
    while (this.pending.byteLength >= 3) {
      const p = this.pending
      const n = p[0] | (p[1] << 8) | (p[2] << 16)
      if (p.byteLength < 3 + n) break
      this.push(p.subarray(3, 3 + n))
      this.pending = p.subarray(3 + n)
    }
    if (this.pending.byteLength === 0) this.pending = null
  }

  _write (data, cb) {
    const n = data.byteLength
    this.socket.write(b4a.concat([b4a.from([n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff]), data]))
    cb(null)
  }

  _final (cb) {
    this.socket.end()
    cb(null)
  }

  _destroy (cb) {
    this.socket.destroy()
    cb(null)
  }
}

function describe (type, v) {
  if (type === 0) return 's:' + v
  if (type === 1) return 'u:' + v
  let sum = 0
  for (const x of v) sum = (sum + x) % 65536
  return 'b:' + v.byteLength + ':' + b4a.toString(v.subarray(0, 8), 'hex') + ':' + sum
}

function bigBuffer (n, seed) {
  const b = b4a.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff
  return b
}

const socket = net.connect(port, '127.0.0.1')
const stream = transport === 'framed'
  ? new FramedStream(socket)
  : new SecretStream(transport === 'secret-init', socket)

// Registered before Protomux's own listener, so while protomux handles a
// frame these describe that frame.
let frameNo = 0
let currentFrame = null
stream.on('data', (f) => {
  frameNo++
  currentFrame = f
})

const mux = new Protomux(stream)
const channels = {}
const received = {}
let opened = 0
const batch = []

function makeChannel (name, protocol, id, handshake) {
  received[name] = []
  const ch = mux.createChannel({
    protocol,
    id,
    handshake,
    onopen (hs) {
      console.log('open ' + name + ' ' + (hs === null ? '-' : hs))
      if (++opened === 4) onallopen()
    },
    onclose (isRemote) {
      console.log('close ' + name + ' remote=' + isRemote)
    }
  })
  const onmessage = (type) => (v) => {
    received[name].push(describe(type, v))
    checkReceived()
  }
  ch.addMessage({ encoding: c.string, onmessage: onmessage(0) })
  ch.addMessage({ encoding: c.uint, onmessage: onmessage(1) })
  ch.addMessage({ encoding: c.buffer, onmessage: onmessage(2) })
  ch.addMessage({
    encoding: c.string,
    onmessage (v) {
      batch.push({ v, frameNo, first: b4a.toString(currentFrame.subarray(0, 2), 'hex') })
      if (batch.length === 4) {
        const frames = new Set(batch.map((b) => b.frameNo)).size
        console.log('batch-recv frames=' + frames + ' first=' + batch[0].first + ' msgs=' + batch.map((b) => b.v).join(','))
      }
    }
  })
  channels[name] = ch
  return ch
}

const PER_CHANNEL = 8
let reported = false
function checkReceived () {
  if (reported) return
  for (const name of ['A', 'B1', 'B2', 'C']) {
    if (!received[name] || received[name].length < PER_CHANNEL) return
  }
  reported = true
  for (const name of ['A', 'B1', 'B2', 'C']) console.log('got ' + name + ' ' + received[name].join('|'))
  console.log('got-all')
}

function onallopen () {
  console.log('all-open')
  for (const name of ['A', 'B1', 'B2', 'C']) {
    const ch = channels[name]
    for (let i = 0; i < 3; i++) ch.messages[0].send('js-' + name + '-' + i)
    for (const u of [1, 65536, 2 ** 50]) ch.messages[1].send(u)
    ch.messages[2].send(b4a.from('js-' + name))
    ch.messages[2].send(bigBuffer(100000, name.length))
  }
}

// Go opens A; JS accepts it through pair.
mux.pair({ protocol: 'warren/a' }, () => {
  makeChannel('A', 'warren/a', null, null).open()
})
// B1: both sides create and open it (Go's open answered by JS's channel).
makeChannel('B1', 'warren/b', b4a.from([1]), c.string).open('js-hs-B1')
// B2: JS opens, Go accepts through its pair.
makeChannel('B2', 'warren/b', b4a.from([2]), c.string).open('js-hs-B2')
// C: JS opens, Go has created and opened its channel up front.
makeChannel('C', 'warren/c', null, c.string).open('js-hs-C')

stream.on('close', () => {
  console.log('mux-closed')
  process.exit(0)
})

const rl = readline.createInterface({ input: process.stdin })
rl.on('line', (line) => {
  const [cmd, arg] = line.trim().split(' ')
  if (cmd === 'batch') {
    mux.cork()
    for (const name of ['A', 'B1', 'B2', 'C']) channels[name].messages[3].send('js-batch-' + name)
    mux.uncork()
    console.log('sent-batch')
  } else if (cmd === 'close') {
    channels[arg].close()
    console.log('closed-local ' + arg)
  } else if (cmd === 'end') {
    stream.end()
  }
})
