// Prints hyperdht message encodings (lib/messages.js) as JSON {name: hex}
// for the Go byte-vector tests (TestInteropHyperDHTMessageVectors), plus
// the namespaces and a signed announce/mutable record from fixed seeds.
const c = require('compact-encoding')
const m = require('hyperdht/lib/messages')
const { NS } = require('hyperdht/lib/constants')
const Persistent = require('hyperdht/lib/persistent')
const DHT = require('hyperdht')

const a1 = { host: '1.2.3.4', port: 5678 }
const a2 = { host: '127.0.0.1', port: 49737 }
const k32 = Buffer.alloc(32, 0xab)
const s64 = Buffer.alloc(64, 0xcd)
const big = 0x1_0000_0001

const out = {
  handshake: c.encode(m.handshake, { mode: 2, noise: Buffer.from('noise'), peerAddress: a1, relayAddress: a2 }),
  handshakeBare: c.encode(m.handshake, { mode: 4, noise: Buffer.from('n'), peerAddress: null, relayAddress: null }),
  holepunch: c.encode(m.holepunch, { mode: 1, id: 300, payload: Buffer.from('pay'), peerAddress: a2 }),
  noisePayload: c.encode(m.noisePayload, {
    version: 1,
    error: 0,
    firewall: 2,
    holepunch: { id: 3, relays: [{ relayAddress: a1, peerAddress: a2 }] },
    addresses4: [a1, a2],
    addresses6: [{ host: '::1', port: 80 }],
    udx: { reusableSocket: true, id: 70000, seq: 0 },
    secretStream: {},
    relayThrough: { publicKey: k32, token: k32 },
    relayAddresses: [a2]
  }),
  noisePayloadMin: c.encode(m.noisePayload, {
    version: 1, error: 3, firewall: 0, holepunch: null, addresses4: [], addresses6: [], udx: { id: 5, seq: 0 }, secretStream: {}, relayThrough: null, relayAddresses: null
  }),
  holepunchPayload: c.encode(m.holepunchPayload, {
    error: 0, firewall: 1, round: 2, connected: true, punching: true, addresses: [a1], remoteAddress: a2, token: k32, remoteToken: k32
  }),
  peer: c.encode(m.peer, { publicKey: k32, relayAddresses: [a1, a2] }),
  lookupReply: c.encode(m.lookupRawReply, { peers: [c.encode(m.peer, { publicKey: k32, relayAddresses: [a1] })], bump: 1234 }),
  announce: c.encode(m.announce, { peer: { publicKey: k32, relayAddresses: [] }, refresh: k32, signature: s64, bump: 77 }),
  mutablePut: c.encode(m.mutablePutRequest, { publicKey: k32, seq: big, value: Buffer.from('value'), signature: s64 }),
  mutableGet: c.encode(m.mutableGetResponse, { seq: 9, value: Buffer.from('v'), signature: s64 }),
  nsAnnounce: NS.ANNOUNCE,
  nsUnannounce: NS.UNANNOUNCE,
  nsMutablePut: NS.MUTABLE_PUT,
  nsPeerHandshake: NS.PEER_HANDSHAKE,
  nsPeerHolepunch: NS.PEER_HOLEPUNCH,
  nsPlugin: NS.PLUGIN
}

const kp = DHT.keyPair(Buffer.alloc(32, 1))
out.mutableSignature = Persistent.signMutable(5, Buffer.from('hello'), kp)
out.announceSignature = Persistent.signAnnounce(k32, Buffer.alloc(32, 2), Buffer.alloc(32, 3),
  { peer: { publicKey: kp.publicKey, relayAddresses: [a1] }, refresh: null }, kp)
out.unannounceSignature = Persistent.signUnannounce(k32, Buffer.alloc(32, 2), Buffer.alloc(32, 3),
  { peer: { publicKey: kp.publicKey, relayAddresses: [] }, refresh: null }, kp)

// holepunch secret (NoiseWrap.final) from a fixed handshake hash, and a
// payload sealed with it (SecurePayload)
const sodium = require('sodium-universal')
const SecurePayload = require('hyperdht/lib/secure-payload')
const secret = Buffer.alloc(32)
sodium.crypto_generichash(secret, NS.PEER_HOLEPUNCH, Buffer.alloc(64, 1))
out.holepunchSecret = secret
out.holepunchBox = new SecurePayload(secret).encrypt({
  error: 0, firewall: 2, round: 1, connected: false, punching: true, addresses: [a1], remoteAddress: null, token: k32, remoteToken: null
})

for (const k of Object.keys(out)) out[k] = Buffer.from(out[k]).toString('hex')
console.log(JSON.stringify(out))
