// Package tunnel exposes TCP and UDP services through HyperDHT, compatible
// with holesail 2 (holesail-server 2.4, holesail-client 2.3).
//
// A Server holds a key pair derived from a 32-byte seed. It listens on the
// DHT under that key pair, keeps a mutable record {"host":...,"port":...}
// under its public key, and pipes every incoming connection to a new TCP
// connection to the local service. A Client listens on a local TCP port
// and forwards each accepted connection over a new DHT connection to the
// server. Bytes are piped as they are, half-closes included (Pipe).
//
// Public tunnels hand out the server's public key. Private tunnels hand out
// the seed: the server's firewall admits only clients identifying with the
// key pair derived from it, so the client's DHT node must be created with
// that key pair (Key.KeyPair).
//
// Connection keys: holesail's CLI derives the seed from a --key secret with
// SHA-256 (SeedFromSecret) and prints hs:// URLs (URL); ParseKey reads
// those, bare z-base-32 or hex keys, and secrets.
//
// UDP services (holesail --udp): with ServerConfig.UDP the record says
// "udp":true and every DHT connection is one UDP session, with its own
// socket connected to the service. A UDP Client listens on a local UDP
// port and gives each sender (address and port) its own DHT connection,
// so replies go back to the sender that caused them. Datagrams travel on
// the connection's reliable byte stream, each framed by a 4-byte
// big-endian length, as holesail does; sessions idle for IdleTimeout end.
package tunnel
