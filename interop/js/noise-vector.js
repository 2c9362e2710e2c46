// Known-answer vectors for the Go noise package. Reads a JSON array of
// cases (pattern, prologue, static and ephemeral seeds of both sides,
// payloads; all hex) on stdin, runs each whole handshake in this process
// with noise-handshake + noise-curve-ed, and prints the cases back with
// the transcript filled in: messages, hash, initiatorTx, initiatorRx.
const Noise = require('noise-handshake')
const curve = require('noise-curve-ed')

const h = (s) => Buffer.from(s, 'hex')
const hex = (b) => Buffer.from(b).toString('hex')

function run (c) {
  const iStatic = curve.generateKeyPair(h(c.initiatorStatic))
  const rStatic = curve.generateKeyPair(h(c.responderStatic))
  const initiator = new Noise(c.pattern, true, iStatic, { curve })
  const responder = new Noise(c.pattern, false, rStatic, { curve })
  initiator.initialise(h(c.prologue), rStatic.publicKey)
  responder.initialise(h(c.prologue), null)
  initiator.e = curve.generateKeyPair(h(c.initiatorEphemeral))
  responder.e = curve.generateKeyPair(h(c.responderEphemeral))

  const messages = []
  let [w, r] = [initiator, responder]
  for (let i = 0; !initiator.complete || !responder.complete; i++) {
    const payload = c.payloads[i] || ''
    const msg = w.send(h(payload))
    // Record the bytes before recv: on completion noise-handshake zeroes
    // the remote ephemeral key, which is a view into the received message.
    messages.push(hex(msg))
    if (hex(r.recv(msg)) !== payload) throw new Error('payload mismatch')
    ;[w, r] = [r, w]
  }
  if (hex(initiator.hash) !== hex(responder.hash)) throw new Error('hash mismatch')
  return {
    ...c,
    messages,
    hash: hex(initiator.hash),
    initiatorTx: hex(initiator.tx),
    initiatorRx: hex(initiator.rx)
  }
}

let input = ''
process.stdin.on('data', (d) => { input += d })
process.stdin.on('end', () => {
  console.log(JSON.stringify(JSON.parse(input).map(run), null, 2))
})
