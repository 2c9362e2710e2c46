// Package blindrelay is the blind-relay protocol of the JavaScript module
// blind-relay (1.6.x): two peers that cannot reach each other directly ask a
// third node, the relay, to splice their UDX streams together. The relay
// sees only the peers' encrypted packets.
//
// The protocol runs as a protomux channel named "blind-relay" over an
// existing connection to the relay (HyperDHT opens one channel per
// connection, with the client's public key as channel id and no
// handshake). It has two messages:
//
//   - pair: a 7-bit bitfield (bit 0: is initiator), a 32-byte token, a
//     UDX stream id and a sequence number (0). A client sends it with the
//     id of its own stream; when the relay holds a pair for both the
//     initiator and the responder side of one token, it opens one stream
//     per side, relays each into the other (udx.Stream.RelayTo) and sends
//     each client a pair message with the id of the relay stream meant for
//     it. The client then connects its stream to that id at the relay's
//     address.
//   - unpair: the bitfield and the token; it cancels a pending pairing or
//     tears down a paired link.
//
// The tokens are random 32-byte values one peer picks and hands to the
// other inside the HyperDHT handshake; the relay never learns who the
// peers are beyond their connections to it.
//
// Server serves any number of sessions (one per connection); Client asks
// for pairings over one connection. Both are safe for concurrent use.
package blindrelay
