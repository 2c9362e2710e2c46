// JS side of the Go hyperbee interop tests.
// stdin: JSON {
//   seed: hex,                      key pair seed of the hypercore
//   metadata: {contentFeed: hex} | undefined, header metadata
//   alwaysDuplicate: false | undefined, hyperbee's option of that name
//   blocks: [hex] | undefined,      if given: append these blocks (Go wrote them)
//                                   to the fresh core first
//   ops: [{put: [k, v], sub?, cas?} | {del: k, sub?, cas?} | {batch: [ops]}],
//                                   run after that; cas: hex value the
//                                   current value must have for the write to happen;
//                                   a put with only a key stores no value
//   queries: [{range: {gt, gte, lt, lte, reverse, limit}, sub?, version?} |
//             {get: k, sub?, version?} | {history: {gt, gte, lt, lte, reverse, limit}} |
//             {diff: {from, to, gt, gte, lt, lte, limit}, sub?}]
// }
// All keys and values are hex. stdout: JSON { blocks: [hex], answers: [...] }.
const Hypercore = require('hypercore')
const Hyperbee = require('hyperbee')
const crypto = require('hypercore-crypto')
const fs = require('fs')
const os = require('os')
const path = require('path')

const hex = (b) => (b ? Buffer.from(b).toString('hex') : b === null ? null : '')
const unhex = (s) => (typeof s === 'string' ? Buffer.from(s, 'hex') : undefined)

function entry (e) {
  if (!e) return null
  return [e.seq, hex(e.key), e.value === null ? null : hex(e.value)]
}

function rangeOpts (r) {
  const o = {}
  for (const k of ['gt', 'gte', 'lt', 'lte']) if (r[k] !== undefined && r[k] !== null) o[k] = unhex(r[k])
  if (r.reverse) o.reverse = true
  if (r.limit) o.limit = r.limit
  return o
}

function casFor (op) {
  if (op.cas === undefined) return undefined
  const want = unhex(op.cas)
  return { cas: (prev) => Buffer.compare(prev.value, want) === 0 }
}

async function apply (target, op) {
  const t = op.sub ? target.sub(unhex(op.sub)) : target
  if (op.put) return t.put(unhex(op.put[0]), unhex(op.put[1]), casFor(op))
  if (op.del) return t.del(unhex(op.del), casFor(op))
  throw new Error('bad op ' + JSON.stringify(op))
}

async function collect (stream) {
  const out = []
  for await (const e of stream) out.push(e)
  return out
}

async function main () {
  const cfg = JSON.parse(fs.readFileSync(0, 'utf8'))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hyperbee-'))
  const core = new Hypercore(dir, { keyPair: crypto.keyPair(unhex(cfg.seed)) })
  await core.ready()

  if (cfg.blocks) await core.append(cfg.blocks.map(unhex))

  const metadata = cfg.metadata ? { contentFeed: unhex(cfg.metadata.contentFeed) } : undefined
  const db = new Hyperbee(core, { metadata, alwaysDuplicate: cfg.alwaysDuplicate !== false })
  await db.ready()

  if (cfg.ops) {
    for (const op of cfg.ops) {
      if (op.batch) {
        const b = db.batch()
        for (const o of op.batch) {
          if (o.sub) throw new Error('no subs in batches here')
          if (o.put) await b.put(unhex(o.put[0]), unhex(o.put[1]), casFor(o))
          else await b.del(unhex(o.del), casFor(o))
        }
        await b.flush()
      } else {
        await apply(db, op)
      }
    }
  }

  const answers = []
  for (const q of cfg.queries) {
    let view = q.version ? db.checkout(q.version) : db
    if (q.sub) view = view.sub(unhex(q.sub))
    if (q.range) {
      answers.push((await collect(view.createReadStream(rangeOpts(q.range)))).map(entry))
    } else if (q.get !== undefined) {
      answers.push(entry(await view.get(unhex(q.get))))
    } else if (q.history) {
      const h = q.history
      const o = {}
      for (const k of ['gt', 'gte', 'lt', 'lte', 'limit']) if (h[k]) o[k] = h[k]
      if (h.reverse) o.reverse = true
      const es = await collect(db.createHistoryStream(o))
      answers.push(es.map((e) => [e.type, ...entry(e)]))
    } else if (q.diff) {
      let left = db.checkout(q.diff.to)
      if (q.sub) left = left.sub(unhex(q.sub))
      const es = await collect(left.createDiffStream(q.diff.from, rangeOpts(q.diff)))
      answers.push(es.map((d) => [entry(d.left), entry(d.right)]))
    } else {
      throw new Error('bad query ' + JSON.stringify(q))
    }
  }

  const blocks = []
  for (let i = 0; i < core.length; i++) blocks.push(hex(await core.get(i)))

  fs.rmSync(dir, { recursive: true, force: true })
  process.stdout.write(JSON.stringify({ blocks, answers }), () => process.exit(0))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
