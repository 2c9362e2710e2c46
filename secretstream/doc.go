// Package secretstream is the encrypted, framed stream of
// @hyperswarm/secret-stream over any net.Conn.
package secretstream
