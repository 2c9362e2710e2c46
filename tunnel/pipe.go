package tunnel

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// closeWriter is a connection that can end its write side alone
// (*net.TCPConn, *secretstream.Conn).
type closeWriter interface {
	CloseWrite() error
}

// copyBufPool holds the buffers Pipe copies through.
var copyBufPool = sync.Pool{New: func() any { b := make([]byte, 64*1024); return &b }}

// Pipe copies bytes between a and b in both directions until both
// directions have ended, then closes both. When one side ends its write
// side (EOF), Pipe ends the other side's write side (CloseWrite) once every
// byte read before the EOF is written, so half-closed exchanges such as
// HTTP/1.0 work; a side without CloseWrite is closed instead. A read or
// write error in either direction aborts both. Pipe returns the first
// error other than an orderly end.
func Pipe(a, b net.Conn) error {
	errs := make(chan error, 2)
	var once sync.Once
	abort := func() {
		once.Do(func() {
			a.Close()
			b.Close()
		})
	}
	half := func(dst, src net.Conn) {
		err := copyOneWay(dst, src)
		if err == nil {
			if cw, ok := dst.(closeWriter); ok {
				err = cw.CloseWrite()
			} else {
				err = dst.Close()
			}
		}
		if err != nil {
			abort()
		}
		errs <- err
	}
	go half(a, b)
	go half(b, a)
	err1 := <-errs
	err2 := <-errs
	abort()
	if err1 != nil {
		return err1
	}
	return err2
}

// copyOneWay copies src to dst until src's EOF (nil) or an error.
func copyOneWay(dst, src net.Conn) error {
	bp := copyBufPool.Get().(*[]byte)
	defer copyBufPool.Put(bp)
	buf := *bp
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if rerr != nil {
			if errors.Is(rerr, io.EOF) {
				return nil
			}
			return rerr
		}
	}
}

// KeepAlive is how often an idle tunnelled DHT connection sends a
// heartbeat, so that NAT mappings on its path stay open while a tunnelled
// session (ssh, say) idles: the 5 s of hyperdht's connectionKeepAlive.
const KeepAlive = 5 * time.Second

// keepAlive turns on heartbeats on a DHT connection's UDX stream (a
// secretstream whose NetConn has SetKeepAlive); other connections are left
// alone.
func keepAlive(c net.Conn) {
	nc, ok := c.(interface{ NetConn() net.Conn })
	if !ok {
		return
	}
	if ka, ok := nc.NetConn().(interface{ SetKeepAlive(time.Duration) }); ok {
		ka.SetKeepAlive(KeepAlive)
	}
}
