// Hyperdrive peer on hyperswarm for TestInteropDriveCLI* and bench/drive-clone.
//
// Usage:
//   node drive_cli_peer.js share <bootstrap host:port> <dir>
//     Mirrors <dir> into a new hyperdrive (a fresh corestore in a temporary
//     directory), joins the swarm on the drive's discovery key as server and
//     client, replicates the corestore on every connection and prints
//     "key <hex>" then "shared <files> <version>".
//     stdin commands:
//       "put <path> <text>"  writes a file into the drive, prints "version <v>"
//       "mirror"             mirrors <dir> again, prints "version <v>"
//       "exit"
//   node drive_cli_peer.js clone <bootstrap host:port> <key> <dir> [live]
//     Opens the drive by key (hex or z-base32), joins its discovery key as a
//     client, waits for the first update from a peer and mirrors the drive
//     into <dir>; prints "cloned <files> <bytes> <ms>" (ms from joining the
//     swarm to the copy being complete). With "live" it keeps following the
//     drive and prints "updated <version>" after mirroring each new version,
//     until stdin says "exit" or closes.
//
// Each peer prints "peers <n>" on stderr when a connection opens.
const fs = require('fs')
const os = require('os')
const path = require('path')
const readline = require('readline')
const Corestore = require('corestore')
const Hyperdrive = require('hyperdrive')
const Hyperswarm = require('hyperswarm')
const DHT = require('hyperdht')
const Localdrive = require('localdrive')
const id = require('hypercore-id-encoding')

async function main () {
  const [mode, bootstrap, a, b, c] = process.argv.slice(2)
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'drive-cli-'))
  const store = new Corestore(tmp)
  await store.ready()

  const dht = new DHT({ bootstrap: [bootstrap], host: '127.0.0.1' })
  const swarm = new Hyperswarm({ dht })
  let peers = 0
  swarm.on('connection', (conn) => {
    peers++
    process.stderr.write('peers ' + peers + '\n')
    conn.on('close', () => { peers-- })
    conn.on('error', () => {})
    store.replicate(conn)
  })

  const stop = async () => {
    await swarm.destroy().catch(() => {})
    await store.close().catch(() => {})
    fs.rmSync(tmp, { recursive: true, force: true })
    process.exit(0)
  }

  if (mode === 'share') {
    const dir = a
    const drive = new Hyperdrive(store)
    await drive.ready()
    const m = new Localdrive(dir).mirror(drive)
    await m.done()
    console.log('key ' + drive.key.toString('hex'))
    swarm.join(drive.discoveryKey, { server: true, client: true })
    await swarm.flush()
    console.log('shared ' + m.count.files + ' ' + drive.version)

    const rl = readline.createInterface({ input: process.stdin })
    for await (const line of rl) {
      const parts = line.trim().split(' ')
      if (parts[0] === 'put') {
        await drive.put(parts[1], Buffer.from(parts.slice(2).join(' ')))
        console.log('version ' + drive.version)
      } else if (parts[0] === 'mirror') {
        await new Localdrive(dir).mirror(drive).done()
        console.log('version ' + drive.version)
      } else if (parts[0] === 'exit') {
        break
      }
    }
    await stop()
  } else if (mode === 'clone') {
    const key = id.decode(a)
    const dir = b
    const live = c === 'live'
    const drive = new Hyperdrive(store, key)
    await drive.ready()
    const start = Date.now()
    const done = drive.findingPeers()
    swarm.join(drive.discoveryKey, { server: false, client: true })
    swarm.flush().then(done, done)
    // Wait until a peer has given us a version with content.
    while (drive.version <= 1) {
      await drive.core.update({ wait: true })
      if (drive.version <= 1) await new Promise((resolve) => setTimeout(resolve, 100))
    }
    const local = new Localdrive(dir)
    let m = drive.mirror(local)
    await m.done()
    let bytes = 0
    for await (const entry of drive.list('/', { recursive: true })) {
      if (entry.value.blob) bytes += entry.value.blob.byteLength
    }
    console.log('cloned ' + m.count.files + ' ' + bytes + ' ' + (Date.now() - start))
    if (!live) return stop()

    let mirrored = drive.version
    let running = null
    let stopping = false
    const follow = () => {
      if (running || stopping) return running
      running = followLoop().finally(() => { running = null })
      return running
    }
    const followLoop = async () => {
      while (drive.version !== mirrored && !stopping) {
        const v = drive.version
        m = drive.mirror(local)
        await m.done()
        mirrored = v
        console.log('updated ' + v)
      }
    }
    const onChange = () => {
      const p = follow()
      if (p) p.catch((err) => { if (!stopping) console.error(err) })
    }
    drive.core.on('append', onChange)
    drive.core.on('truncate', onChange)
    onChange()
    const rl = readline.createInterface({ input: process.stdin })
    for await (const line of rl) {
      if (line.trim() === 'exit') break
    }
    stopping = true
    if (running) await running.catch(() => {})
    await stop()
  } else {
    throw new Error('unknown mode ' + mode)
  }
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
