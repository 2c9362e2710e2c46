// Package dht is a Kademlia RPC node wire-compatible with npm dht-rpc
// 6.27.0: the request/response datagram format, the internal commands
// PING, PING_NAT, FIND_NODE, DOWN_HINT (and answers to DELAYED_PING), a
// routing table like kademlia-routing-table (256 rows of K=20 nodes, ids
// are BLAKE2b-256 of the 6-byte address and are only believed when they
// match the address a datagram came from), iterative queries with
// concurrency, slow-node handling, down hints and a commit phase, tokens
// bound to the asker's host with secrets rotating every 7.5 s, NAT sampling
// as npm nat-sampler, and dht-rpc's ephemeral-to-persistent decision.
//
// A node has two sockets like dht-rpc: a server socket on the configured
// port and a client socket. While firewalled it sends from the client
// socket; a PING_NAT check (other nodes answer to the server socket's port)
// proves it reachable. Ephemeral nodes carry no id on the wire and are kept
// out of other nodes' routing tables; with Config.Ephemeral nil (adaptive)
// a reachable node becomes persistent after about 20 stable minutes, with
// Ephemeral false as soon as the check passes. NewBootstrapper starts the
// node others join through.
//
// On UDX sockets a node runs no goroutine of its own: datagrams arrive
// through the sockets' handlers, and one timer per node runs the 750 ms
// drain (congestion window, token rotation), the 5 s tick and the
// timeouts of all its requests in flight (a deadline heap), so requests
// cost no timer or goroutine each. Routing entries come from a per-node
// slab and a table's rows share one array, which keeps a process running
// many nodes compact.
//
//	n, _ := dht.New(&dht.Config{Bootstrap: []string{"node1.example:49737"}})
//	defer n.Close()
//	n.Handle(myCommand, func(ctx context.Context, req *dht.Request) { req.Reply(v, nil) })
//	_ = n.Bootstrapped(ctx)
//	q := n.Query(ctx, target, myCommand, value, &dht.QueryOptions{AutoCommit: true})
//	for r := range q.Replies(ctx) { ... }
//
// # Differences from dht-rpc
//
//   - Incoming requests are rate limited per source address (Config.RateLimit,
//     1000/s by default; dht-rpc has no limit) and at most 256 DELAYED_PING
//     replies wait at a time.
//   - Bootstrap entries "ip@name:port" use ip without first pinging it.
//   - Query replies are buffered without backpressure (dht-rpc's stream
//     pauses the walk while its reader is slow).
//   - The health tracker does not let offline samples drain the healthy
//     count (see health.go).
//   - No suspend/resume, no adaptive request timeouts, no events: state is
//     read with Ephemeral, Firewalled, Persistent, PublicAddr, Online.
package dht
