// Prints known-answer vectors for libsodium's crypto_secretstream_xchacha20poly1305
// as JSON, produced by sodium-native (libsodium itself). The Go package
// secretstream keeps the output in secretstream/testdata/sodium_vectors.json.
//
// Each case starts from init_push with a fixed key, optionally sets the 32-bit
// message counter in the state to force a counter wrap, then pushes a list of
// messages with chosen tags. sodium-javascript is run over the same state to
// show where the two libraries agree.
const sn = require('sodium-native')
const sj = require('sodium-javascript')

const P = 'crypto_secretstream_xchacha20poly1305_'
const STATEBYTES = sn[P + 'STATEBYTES']
const ABYTES = sn[P + 'ABYTES']

function bytes (n, seed) {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (seed * 131 + i * 7 + (i >> 3)) & 255
  return b
}

const MSG = 0
const PUSH = 1
const REKEY = 2
const FINAL = 3

const plans = [
  { name: 'plain', counter: null, msgs: [[0, MSG], [1, MSG], [63, MSG], [64, MSG], [65, MSG], [1000, MSG], [17, MSG]] },
  { name: 'tags', counter: null, msgs: [[5, PUSH], [10, MSG], [3, REKEY], [40, MSG], [0, REKEY], [77, MSG], [9, FINAL], [12, MSG]] },
  { name: 'wrap', counter: 0xfffffffe, msgs: [[8, MSG], [8, MSG], [8, MSG], [100, MSG]] },
  { name: 'wrap-rekey', counter: 0xffffffff, msgs: [[3, REKEY], [20, MSG]] }
]

const cases = []
let seed = 1
for (const plan of plans) {
  const key = bytes(32, seed++)
  const state = Buffer.alloc(STATEBYTES)
  const header = Buffer.alloc(24)
  sn[P + 'init_push'](state, header, key)
  if (plan.counter !== null) state.writeUInt32LE(plan.counter, 32)
  const jstate = Buffer.from(state)
  const startState = state.toString('hex')

  const msgs = []
  let agree = true
  for (const [len, tag] of plan.msgs) {
    const m = bytes(len, seed++)
    const c = Buffer.alloc(len + ABYTES)
    sn[P + 'push'](state, c, m, null, tag)
    const jc = Buffer.alloc(len + ABYTES)
    sj[P + 'push'](jstate, jc, m, null, new Uint8Array([tag]))
    if (!jc.equals(c)) agree = false
    msgs.push({ tag, m: m.toString('hex'), c: c.toString('hex') })
  }
  // check that libsodium pulls its own output back, state included
  const pull = Buffer.alloc(STATEBYTES)
  sn[P + 'init_pull'](pull, header, key)
  if (plan.counter !== null) pull.writeUInt32LE(plan.counter, 32)
  for (const v of msgs) {
    const c = Buffer.from(v.c, 'hex')
    const m = Buffer.alloc(c.length - ABYTES)
    const tag = Buffer.alloc(1)
    sn[P + 'pull'](pull, m, tag, c, null)
    if (tag[0] !== v.tag || m.toString('hex') !== v.m) throw new Error('libsodium pull mismatch in ' + plan.name)
  }
  cases.push({
    name: plan.name,
    key: key.toString('hex'),
    header: header.toString('hex'),
    counter: plan.counter,
    state: startState,
    sodiumJavascriptAgrees: agree,
    msgs
  })
}

process.stdout.write(JSON.stringify({ generator: 'sodium-native ' + require('sodium-native/package.json').version, cases }, null, 1) + '\n')
