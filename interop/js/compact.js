// Encodes and decodes compact-encoding values for TestInteropCompact.
//
// stdin: a JSON array of requests, each {codec, value} (encode) or
// {codec, hex} (decode). stdout: a JSON array of results in the same order,
// {hex} for an encode, {value} for a decode, or {error} if the codec threw.
//
// Codec names: the compact-encoding export name (uint, int8, buffer,
// fixed32, ipv4Address, ...), "net.<name>" for compact-encoding-net,
// "array(<name>)" and "frame(<name>)" for those combinators,
// "bitfield(<n>)" for compact-encoding-bitfield, and
// "exact(<name>)" to fail when the decode leaves bytes unread.
//
// Value representation in JSON (shared with compact_test.go):
//   integers       JSON numbers (only up to 2^53-1 are exact in JS)
//   floats         JSON numbers, or "NaN", "Infinity", "-Infinity", "-0"
//   buffers        lowercase hex strings, null for null
//   strings, bool  as themselves
//   addresses      {host, port} (decode also reports family)
//   uint32array    array of numbers
//   bitfield       encode: a number; decode: the bytes JS returns, as hex
//   none           null
const c = require('compact-encoding')
const net = require('compact-encoding-net')
const bitfield = require('compact-encoding-bitfield')
const b4a = require('b4a')

function codec(name) {
  let m = /^(array|frame|exact)\((.*)\)$/.exec(name)
  if (m) {
    const inner = codec(m[2])
    if (m[1] === 'array') return c.array(inner)
    if (m[1] === 'frame') return c.frame(inner)
    return { exact: inner }
  }
  m = /^fixed\((\d+)\)$/.exec(name)
  if (m) return c.fixed(Number(m[1]))
  m = /^bitfield\((\d+)\)$/.exec(name)
  if (m) return bitfield(Number(m[1]))
  if (name.startsWith('net.')) {
    const n = net[name.slice(4)]
    if (!n) throw new Error('unknown codec ' + name)
    return n
  }
  const n = c[name]
  if (!n || typeof n.decode !== 'function') throw new Error('unknown codec ' + name)
  return n
}

function kind(name) {
  const m = /^(array|frame|exact)\((.*)\)$/.exec(name)
  if (m) return m[1] === 'array' ? { array: kind(m[2]) } : kind(m[2])
  if (/^(float32|float64)$/.test(name)) return 'float'
  if (/^(buffer|optionalBuffer|raw|fixed\d+|fixed\(\d+\))$/.test(name)) return 'buffer'
  if (/^bitfield\(/.test(name)) return 'bitfield'
  if (/^uint32array$/.test(name)) return 'uint32array'
  return 'plain'
}

function fromJSON(k, v) {
  if (k.array) return v.map((x) => fromJSON(k.array, x))
  if (k === 'float') {
    if (v === 'NaN') return NaN
    if (v === 'Infinity') return Infinity
    if (v === '-Infinity') return -Infinity
    if (v === '-0') return -0
    return v
  }
  if (k === 'buffer') return v === null ? null : b4a.from(v, 'hex')
  if (k === 'uint32array') return new Uint32Array(v)
  return v
}

function toJSON(k, v) {
  if (k.array) return v.map((x) => toJSON(k.array, x))
  if (k === 'float') {
    if (Number.isNaN(v)) return 'NaN'
    if (v === Infinity) return 'Infinity'
    if (v === -Infinity) return '-Infinity'
    if (Object.is(v, -0)) return '-0'
    return v
  }
  if (k === 'buffer' || k === 'bitfield') return v === null ? null : b4a.toString(v, 'hex')
  if (v instanceof Uint32Array) return Array.from(v)
  if (v === undefined) return null
  return v
}

function run(req) {
  const enc = codec(req.codec)
  const k = kind(req.codec)
  if (req.hex !== undefined) {
    const buf = b4a.from(req.hex, 'hex')
    if (enc.exact) {
      const state = c.state(0, buf.byteLength, buf)
      const value = enc.exact.decode(state)
      if (state.start !== state.end) throw new Error('trailing bytes')
      return { value: toJSON(k, value) }
    }
    return { value: toJSON(k, c.decode(enc, buf)) }
  }
  return { hex: b4a.toString(c.encode(enc.exact || enc, fromJSON(k, req.value)), 'hex') }
}

let input = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (d) => (input += d))
process.stdin.on('end', () => {
  const out = JSON.parse(input).map((req) => {
    try {
      return run(req)
    } catch (err) {
      return { error: String(err.message || err) }
    }
  })
  process.stdout.write(JSON.stringify(out) + '\n')
})
