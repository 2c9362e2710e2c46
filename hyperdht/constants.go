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
//	conn, _ := srv.Accept(ctx)           // net.Conn
//	c, _ := d.Connect(ctx, keyPair.PublicKey) // on another node
//
// # Differences from hyperdht
//
//   - Only the direct paths are implemented: a server or client that is
//     reachable (not firewalled), a handshake that reached the server
//     without a relay, and peers on one host. Hole punching rounds
//     (PEER_HOLEPUNCH) are answered with an abort, and blind relays are not
//     implemented, so two firewalled peers behind different NATs cannot
//     connect yet.
//   - No connection pool, socket pool, suspend/resume or plugins.
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
