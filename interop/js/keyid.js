// Key id vectors for Warren's keyid package, both ways.
//
// Reads one JSON request on stdin, writes one JSON reply on stdout. Byte
// strings are hex. For each input the reply holds what z32 and
// hypercore-id-encoding return, or { error } where they throw. Where the
// request carries Go's answer ("go"), disagreements are listed in
// "mismatches", so JavaScript checks Go as well as Go checking JavaScript.
const z32 = require('z32')
const id = require('hypercore-id-encoding')

const hex = (b) => Buffer.from(b).toString('hex')
const buf = (s) => Buffer.from(s, 'hex')

const mismatches = []
function check (what, input, goValue, jsValue) {
  if (goValue === undefined) return
  // Go reports only that it refused; the message need not match.
  const js = jsValue && jsValue.error !== undefined ? { error: true } : jsValue
  if (JSON.stringify(goValue) !== JSON.stringify(js)) mismatches.push({ what, input, go: goValue, js: jsValue })
}

function attempt (fn) {
  try {
    return fn()
  } catch (err) {
    return { error: err.message }
  }
}

function main (req) {
  const res = {}
  res.z32Encode = (req.z32Encode || []).map((x) => {
    const out = z32.encode(buf(x.data))
    check('z32.encode', x.data, x.go, out)
    return out
  })
  res.z32Decode = (req.z32Decode || []).map((x) => {
    const out = attempt(() => hex(z32.decode(x.text)))
    check('z32.decode', x.text, x.go, out)
    return out
  })
  res.encode = (req.encode || []).map((x) => {
    const out = attempt(() => id.encode(buf(x.key)))
    check('encode', x.key, x.go, out)
    return out
  })
  res.decode = (req.decode || []).map((x) => {
    const out = attempt(() => hex(id.decode(x.text)))
    check('decode', x.text, x.go, out)
    return out
  })
  res.normalize = (req.normalize || []).map((x) => {
    const out = attempt(() => id.normalize(x.text))
    check('normalize', x.text, x.go, out)
    return out
  })
  res.isValid = (req.isValid || []).map((x) => {
    const out = id.isValid(x.text)
    check('isValid', x.text, x.go, out)
    return out
  })
  res.mismatches = mismatches
  return res
}

let input = ''
process.stdin.setEncoding('utf8')
process.stdin.on('data', (d) => { input += d })
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify(main(JSON.parse(input))))
})
