// Package hyperdht is HyperDHT (npm hyperdht 6.34.0) in Go: servers found by
// their public key, clients connecting to them by that key over an encrypted
// UDX stream, topics announced and looked up with signed records, and
// immutable and mutable records stored on the DHT, wire-compatible with the
// JavaScript module.
//
// A DHT wraps a dht.Node and registers hyperdht's commands on it:
//
//	d, _ := hyperdht.New(&hyperdht.Config{DHT: dht.Config{Bootstrap: boot}})
//	defer d.Close()
//	srv, _ := d.Listen(ctx, keyPair, nil)
//	conn, _ := srv.Accept(ctx)                // net.Conn
//	c, _ := other.Connect(ctx, keyPair.PublicKey) // on another node
//
// # Connecting
//
// The client finds the server's relays with FIND_PEER and sends the first
// Noise IK message (prologue: the PEER_HANDSHAKE namespace) in a
// PEER_HANDSHAKE through one of them; the server answers with the second,
// and both payloads carry the UDX stream ids, addresses and NAT kinds. Then:
//
//   - the server is reachable, or the handshake reached it without a relay:
//     the client opens the UDX stream straight to it (and a reachable
//     client is connected to by the server);
//   - both are on one host over loopback (the relay sees 127.x for both):
//     each side opens the stream to the address the relay saw;
//   - both are behind one NAT (the relay sees one public address): the
//     client pings the server's local addresses and connects to the first
//     that answers, since the NAT's public address needs hairpinning;
//   - otherwise the peers punch a hole: probe and punch rounds of encrypted
//     payloads over PEER_HOLEPUNCH, from a socket of their own whose NAT
//     mapping they sample. Consistent NATs probe each other's addresses; a
//     consistent side facing a random NAT sprays random ports while the
//     random side opens 256 sockets (birthday paradox), at most one such
//     punch per 20 s as in hyperdht.
//
// The stream then carries a secretstream started from the handshake keys;
// besides its byte stream it carries datagrams (secretstream's
// SendDatagram/ReadDatagram, secret-stream's send and 'message') as UDX
// messages.
//
// # Blind relays
//
// Either side may name a blind relay (ConnectOptions.RelayThrough,
// ListenOptions.RelayThrough or Config.RelayThrough; the server's choice
// wins) with a random token, in the handshake payload's relayThrough field.
// When the peers need hole punching, the relay is the fallback: the client
// punches first, and when punching fails (two random NATs, a declined or
// rate-limited punch, a probe that learns nothing, or nothing connecting
// in time) it sends an abort round and both connect to the relay, open a
// protomux "blind-relay" channel (id: their own public key) and pair their
// UDX streams under the token (package blindrelay). The relay splices the
// two streams with udx RelayTo and sees only ciphertext. A relay drops
// packets for a side that has not sent it anything yet, so each side first
// sends an empty UDX message (which secret-stream ignores) and holds its
// data until a packet from the peer arrives, for at most 300 ms. A server
// that cannot punch at all pairs at once. Any node can be a relay
// (DHT.ServeBlindRelay, Config.BlindRelay).
//
// # Differences from hyperdht
//
//   - Blind relays are a fallback, not a race: hyperdht pairs through the
//     relay as soon as the handshake names one and punches meanwhile,
//     moving a relayed stream to the punched path later (changeRemote) and
//     closing the relay connection; Warren pairs only after punching
//     failed and stays on the relay once there. A Warren server still
//     pairs when a hyperdht client (which pairs at once) aborts its punch
//     or when nothing connects within 10 s (hyperdht gives up on a relay
//     after 15 s). Without a relay, two peers both behind random NATs fail
//     with ErrDoubleRandomNAT, and a random punch within 20 s of the last
//     one with ErrTryLater (hyperdht waits and retries when a relay is
//     named).
//   - The connection to the relay is kept alive with UDX heartbeats every
//     5 s (hyperdht sends empty secret-stream frames); the relayed stream
//     ends when that connection does.
//   - The LAN shortcut is taken only when the relay sees one public address
//     for both peers and is not raced with punching; no reopening of an unstable
//     puncher socket, socket pool, reusable sockets, suspend/resume or
//     plugins.
//   - The connection pool (Pool) hands out a connection once it is open (a
//     hyperdht pool hands out the stream while it still connects), and
//     servers' connections join it by Pool.Add rather than by attaching
//     the server.
//   - A server does not ask a client on the same host over loopback to punch
//     (it sends no holepunch info and opens the stream itself), so a JS
//     client connects to it directly.
//   - Junk handshakes are forgotten at once and at most 1024 handshakes per
//     server and 512 handshake goroutines per node are in flight.
//   - A reachable server seen over loopback is dialled at the loopback
//     address it names first (its DHT socket), not at a public interface
//     address from its payload nor where the relay saw its reply (hyperdht
//     dials the latter; a hyperdht node that became reachable after it
//     announced replies from its client socket, and libudx takes the acks
//     from the other socket, warren's udx does not). Reserved ranges
//     (192.0.2.0/24 and the like) are never dialled as the server's address
//     nor tried as LAN addresses, so nodes bound to 0.0.0.0 on a loopback
//     network connect.
//   - A Firewall may refuse with ErrRejected: the server then answers with
//     error code 1 (ABORTED) and the client fails at once with a
//     ServerError matching ErrRejected. Any other firewall error drops the
//     handshake unanswered, which is all hyperdht's servers do (the client
//     gives up only after its request timeouts).
//
// Connections from Connect and Accept send an empty secret-stream frame
// after Config.KeepAlive of idle writing (5 s by default, hyperdht's
// connectionKeepAlive).
package hyperdht

import "github.com/warrenp2p/warren/crypto"

// Commands of hyperdht, sent as user (non-internal) dht-rpc commands.
const (
	CmdPeerHandshake = 0
	CmdPeerHolepunch = 1
	CmdFindPeer      = 2
	CmdLookup        = 3
	CmdAnnounce      = 4
	CmdUnannounce    = 5
	CmdMutablePut    = 6
	CmdMutableGet    = 7
	CmdImmutablePut  = 8
	CmdImmutableGet  = 9
	CmdPlugin        = 10
)

// Firewall kinds carried in handshake and holepunch payloads.
const (
	FirewallUnknown    = 0
	FirewallOpen       = 1
	FirewallConsistent = 2
	FirewallRandom     = 3
)

// Error codes carried in payloads and dht-rpc responses.
const (
	ErrCodeNone            = 0
	ErrCodeAborted         = 1
	ErrCodeVersionMismatch = 2
	ErrCodeTryLater        = 3
	ErrCodeSeqReused       = 16
	ErrCodeSeqTooLow       = 17
)

// Handshake and holepunch message modes (router.js).
const (
	ModeFromClient      = 0
	ModeFromServer      = 1
	ModeFromRelay       = 2
	ModeFromSecondRelay = 3
	ModeReply           = 4
)

// Namespaces hyperdht signs and hashes with: BLAKE2b namespaces of
// "hyperswarm/dht" for the command numbers.
var (
	NSAnnounce      [32]byte
	NSUnannounce    [32]byte
	NSMutablePut    [32]byte
	NSPeerHandshake [32]byte
	NSPeerHolepunch [32]byte
	NSPlugin        [32]byte
)

func init() {
	ns := crypto.NamespaceIDs([]byte("hyperswarm/dht"), []byte{
		CmdAnnounce, CmdUnannounce, CmdMutablePut, CmdPeerHandshake, CmdPeerHolepunch, CmdPlugin,
	})
	NSAnnounce, NSUnannounce, NSMutablePut = ns[0], ns[1], ns[2]
	NSPeerHandshake, NSPeerHolepunch, NSPlugin = ns[3], ns[4], ns[5]
}
