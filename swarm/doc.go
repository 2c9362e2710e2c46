// Package swarm is hyperswarm (npm hyperswarm 4.17.2) in Go: join topics,
// find the peers on them through a HyperDHT, and keep one encrypted
// connection to each, wire-compatible with JavaScript swarms on the same
// topics.
//
//	s, _ := swarm.New(&swarm.Config{Bootstrap: nodes})
//	defer s.Close()
//	s.Join(topic, nil)           // announce and look up
//	s.Flush(ctx)                 // first announce/lookup done, peers dialled
//	for {
//		c, _ := s.Accept(ctx)    // *swarm.Conn, a net.Conn
//		go serve(c)
//	}
//
// # Model
//
// A Swarm has one identity (a key pair) and one HyperDHT node. Joining a
// topic as a server starts the swarm's server (announced under the hash of
// its public key, so peers can connect to it) and announces the public key
// on the topic; joining as a client looks the topic up. Both happen in one
// LOOKUP walk towards the topic (the announce commits to the closest nodes
// at its end) and are refreshed every 10 minutes plus up to 2 minutes of
// jitter. The first announce of a topic also clears announces of ours left
// from an earlier run, and a lookup after the last server Join left removes
// ours; leaving the topic unannounces from the nodes the last walk found
// closest.
//
// Peers found by lookups go to a dial queue ordered by priority (random
// within a priority); at most MaxParallel (3) dials run at once and
// connections stop at MaxPeers (64; fewer when peers were joined
// explicitly). When a dialled connection ends or a dial fails, the peer's
// attempts grow and it is retried after about 1, 5 or 15 s (by how often
// it failed and whether it ever connected), then no more until a lookup
// finds it again; a connection that lasted 15 s resets the attempts.
// Explicit peers (JoinPeer) are retried every 10 minutes after that.
//
// Every connection, dialled or accepted, is handed out once by Accept as a
// *Conn: the secret-stream connection (a net.Conn) and the peer's PeerInfo.
// A connection not accepted while AcceptBacklog (64) others wait is closed;
// a dialled peer is then retried as after any lost connection. Conn.Done
// tells when a connection ended, however it ended.
//
// # One connection per peer
//
// The swarm keeps at most one connection (or dial) per remote public key.
// When a peer connects to us while we hold another connection or dial to
// it, hyperswarm's rule decides: if the existing connection is established
// the new one wins (the peer must have lost the old one); otherwise the one
// initiated by the peer with the greater public key wins, so when two
// peers dial each other at once both keep the same connection. The loser is
// destroyed; the winner replaces it once it has ended. Our own dials are
// only started when no connection to the peer exists.
//
// # Flush
//
// Flush waits for every topic's current announce/lookup, then for every
// peer queued or being dialled at that moment to connect or fail, or until
// no more dials can start (MaxPeers reached).
//
// # Differences from hyperswarm
//
//   - The swarm sends the keepalives (an empty frame every 5 s on every
//     connection) that hyperdht's connections send in JS, so a JS peer sees
//     the same traffic from a Go peer as from a JS one.
//   - "Established" is judged differently. hyperswarm calls a connection
//     established once it has read and written data frames (keepalives
//     included, sent every 5 s by hyperdht). Go's secretstream does not
//     count frames, so the swarm counts data read and written through the
//     Conn's own methods and otherwise treats a connection open for 5 s as
//     established, which is when a JS peer's keepalives would have made it
//     so.
//   - The Swarm's key pair must be its DHT's (connections are made with the
//     DHT's key pair); hyperswarm can share one DHT between swarms with
//     different key pairs.
//   - No relayThrough option (blind relays are left to the DHT's own
//     configuration), no connection pooling between swarms and no reaction
//     to network changes (keepalives and refreshes on a new network).
//   - The Firewall sees only the remote public key, not the handshake
//     payload, and is called with the swarm's lock held.
//   - Suspend closes the server and forgets queued peers (hyperswarm keeps
//     their queued flag set, so they were not queued again until found).
//   - A lookup's Limit counts the peers handed to the dial queue per
//     refresh, which is what hyperswarm's limit does in effect.
//   - Flush counts every dial that ends, not only dials of queued peers, so
//     a Flush waiting on a JoinPeer dial returns (hyperswarm's waits for
//     good).
//   - MaxServerConnections is applied (hyperswarm keeps it unused), and a
//     dial gives up after 30 s.
//   - A server that fails to start is retried at the next refresh instead of
//     failing every later refresh.
package swarm
