// Package secretstream is the encrypted, framed stream of the JavaScript
// module @hyperswarm/secret-stream, over any net.Conn.
//
// A connection starts with a Noise XX handshake (Ed25519 keys, see package
// noise) whose messages are framed with a 3-byte little-endian length, or
// from the keys of a handshake done elsewhere (HyperDHT does an IK handshake
// over the DHT and then calls FromHandshake). Each side then sends a header
// frame holding its 32-byte stream id, derived from the handshake hash, and
// the 24-byte header of libsodium's crypto_secretstream_xchacha20poly1305;
// every later frame is one secretstream message (a 1-byte tag, the
// ciphertext and a 16-byte MAC) behind its 3-byte length.
//
// Client and Server return a *Conn that handshakes on the first Read or
// Write, or on an explicit Handshake, in the manner of crypto/tls. Read and
// Write treat the connection as a byte stream; WriteMessage and ReadMessage
// keep frame boundaries, which is what protomux needs.
//
// Over a connection that also carries messages (a DatagramConn, such as a
// UDX stream), SendDatagram and ReadDatagram carry encrypted, unordered and
// unreliable datagrams beside the stream, as the JS module's send and
// 'message' do: each is an 8-byte counter and an XSalsa20-Poly1305
// secretbox under a per-direction key hashed from the handshake hash, the
// counter (random at the start) padded with zeros as its nonce. Datagrams
// that do not open are dropped.
//
// Anything wrong on the wire (a failed handshake, a wrong stream id, a frame
// that does not authenticate, is replayed, or is over the size limit) closes
// the connection with an error, and nothing from that frame is delivered.
package secretstream
