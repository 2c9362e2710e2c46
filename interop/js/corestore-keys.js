// Key derivation peer for TestInteropCorestoreKeys.
// stdin: JSON { primaryKey: hex, cores: [{ namespaces: [string], name }],
//               expect: [{ publicKey, secretKey, key, discoveryKey, namespace }] | null }
// For every entry it opens a real corestore 7 store with that primary key,
// narrows it with store.namespace() once per namespace, calls
// get({ name }) and records the core's key pair, core key, discovery key,
// manifest version, compat flag and the namespace bytes.
// stdout: JSON { cores: [...] } and, when expect is given, one line
// "check ok <n>" or "check fail <i> <field>" comparing what Go derived.
const Corestore = require('corestore')
const fs = require('fs')
const os = require('os')
const path = require('path')

const hex = (b) => (b ? Buffer.from(b).toString('hex') : null)

async function main () {
  const input = JSON.parse(fs.readFileSync(0, 'utf8'))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cs-keys-'))
  const store = new Corestore(dir, { primaryKey: Buffer.from(input.primaryKey, 'hex'), unsafe: true })
  await store.ready()
  const out = []
  for (const e of input.cores) {
    let s = store
    for (const ns of e.namespaces) s = s.namespace(ns)
    const core = s.get({ name: e.name })
    await core.ready()
    out.push({
      publicKey: hex(core.keyPair.publicKey),
      secretKey: hex(core.keyPair.secretKey),
      key: hex(core.key),
      discoveryKey: hex(core.discoveryKey),
      namespace: hex(s.ns),
      manifestVersion: core.manifest ? core.manifest.version : null,
      compat: !!core.core.compat
    })
    await core.close()
  }
  console.log(JSON.stringify({ cores: out }))
  if (input.expect) {
    let bad = null
    for (let i = 0; i < out.length && !bad; i++) {
      for (const f of ['publicKey', 'secretKey', 'key', 'discoveryKey', 'namespace']) {
        if (input.expect[i][f] !== out[i][f]) { bad = i + ' ' + f; break }
      }
    }
    console.log(bad ? 'check fail ' + bad : 'check ok ' + out.length)
  }
  await store.close()
  fs.rmSync(dir, { recursive: true, force: true })
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
