// Encodes and decodes hyperbee extension messages for the Go interop test.
// stdin: JSON { encode: [msg], decode: [hex] } where msg is
//   { cache: {start, end, blocks}, get: {version, key}, iterator: {version,
//     gte, gt, lte, lt, limit, reverse, checkpoint} } with byte fields in hex.
// stdout: JSON { encoded: [hex], decoded: [msg] } in the same form.
const { Extension } = require('hyperbee/lib/messages')
const fs = require('fs')

const BYTES = ['key', 'gte', 'gt', 'lte', 'lt']

function mapBytes (obj, fn) {
  if (!obj) return obj
  const out = { ...obj }
  for (const k of BYTES) if (k in out) out[k] = fn(out[k])
  return out
}

const unhex = (s) => (typeof s === 'string' ? Buffer.from(s, 'hex') : null)
const hex = (b) => (b ? Buffer.from(b).toString('hex') : null)

const cfg = JSON.parse(fs.readFileSync(0, 'utf8'))
const encoded = cfg.encode.map((m) => {
  const msg = { cache: m.cache || null, get: mapBytes(m.get, unhex), iterator: mapBytes(m.iterator, unhex) }
  return Extension.encode(msg).toString('hex')
})
const decoded = cfg.decode.map((h) => {
  const m = Extension.decode(Buffer.from(h, 'hex'))
  return { cache: m.cache, get: mapBytes(m.get, hex), iterator: mapBytes(m.iterator, hex) }
})
process.stdout.write(JSON.stringify({ encoded, decoded }))
