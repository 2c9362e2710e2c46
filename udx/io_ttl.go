//go:build unix

package udx

import (
	"syscall"

	"golang.org/x/sys/unix"
)

func setTTL(rc syscall.RawConn, v6 bool, ttl int) error {
	var serr error
	err := rc.Control(func(fd uintptr) {
		if v6 {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, ttl)
			// a dual-stack socket sends IPv4 with the IPv4 TTL
			_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl)
			return
		}
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl)
	})
	if err != nil {
		return err
	}
	return serr
}

func getTTL(rc syscall.RawConn, v6 bool) (int, error) {
	var v int
	var serr error
	err := rc.Control(func(fd uintptr) {
		if v6 {
			v, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS)
			return
		}
		v, serr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL)
	})
	if err != nil {
		return 0, err
	}
	return v, serr
}

func (p *plainConn) setTTL(ttl int) error {
	rc, err := p.c.SyscallConn()
	if err != nil {
		return err
	}
	return setTTL(rc, p.v6, ttl)
}

func (p *plainConn) ttl() (int, error) {
	rc, err := p.c.SyscallConn()
	if err != nil {
		return 0, err
	}
	return getTTL(rc, p.v6)
}
