// JS side of bench/hyperbee: puts and gets on a Hyperbee over a Hypercore
// stored in a temp dir. Prints one line per phase and, last, the combined
// figure in ops/s (all operations over the time of all phases).
// Usage: node bench_hyperbee.js [--puts N] [--gets N] [--batch B] [--single N]
//   --batch B: puts go in batches of B (one append each); 1 = single puts
//   --single N: additionally time N single puts (reported, not combined)
const Hypercore = require('hypercore')
const Hyperbee = require('hyperbee')
const crypto = require('crypto')
const fs = require('fs')
const os = require('os')
const path = require('path')

function arg (name, def) {
  const i = process.argv.indexOf('--' + name)
  return i === -1 ? def : Number(process.argv[i + 1])
}

async function main () {
  const puts = arg('puts', 100000)
  const gets = arg('gets', 100000)
  const batchSize = arg('batch', 1000)
  const single = arg('single', 2000)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-hyperbee-'))
  const core = new Hypercore(dir)
  const db = new Hyperbee(core)
  await db.ready()

  const value = Buffer.alloc(32)
  const keys = []
  for (let i = 0; i < puts; i++) keys.push(crypto.randomBytes(16))

  let start = process.hrtime.bigint()
  for (let i = 0; i < puts; i += batchSize) {
    if (batchSize === 1) {
      await db.put(keys[i], value)
      continue
    }
    const b = db.batch()
    for (let j = i; j < Math.min(i + batchSize, puts); j++) await b.put(keys[j], value)
    await b.flush()
  }
  const putSecs = Number(process.hrtime.bigint() - start) / 1e9
  console.log(`puts: ${(puts / putSecs).toFixed(0)} ops/s (batches of ${batchSize})`)

  start = process.hrtime.bigint()
  for (let i = 0; i < gets; i++) {
    const k = keys[(Math.random() * keys.length) | 0]
    const e = await db.get(k)
    if (!e) throw new Error('missing key')
  }
  const getSecs = Number(process.hrtime.bigint() - start) / 1e9
  console.log(`gets: ${(gets / getSecs).toFixed(0)} ops/s`)

  if (single > 0) {
    start = process.hrtime.bigint()
    for (let i = 0; i < single; i++) await db.put(crypto.randomBytes(16), value)
    const s = Number(process.hrtime.bigint() - start) / 1e9
    console.log(`single puts: ${(single / s).toFixed(0)} ops/s`)
  }

  await db.close()
  fs.rmSync(dir, { recursive: true, force: true })
  console.log(((puts + gets) / (putSecs + getSecs)).toFixed(0))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
