// Reports how noise-curve-ed's dh treats candidate public keys. Reads
// {"seed": hex, "points": [hex...]} on stdin and prints a JSON array with,
// for each point, the DH output as hex, or null when dh throws.
const curve = require('noise-curve-ed')

let input = ''
process.stdin.on('data', (d) => { input += d })
process.stdin.on('end', () => {
  const { seed, points } = JSON.parse(input)
  const kp = curve.generateKeyPair(Buffer.from(seed, 'hex'))
  const out = points.map((p) => {
    try {
      return Buffer.from(curve.dh(Buffer.from(p, 'hex'), kp)).toString('hex')
    } catch {
      return null
    }
  })
  console.log(JSON.stringify(out))
})
