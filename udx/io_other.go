//go:build !linux

package udx

import "net"

func newBatchConn(c *net.UDPConn, v6 bool) batchConn {
	return &plainConn{c: c, v6: v6}
}
