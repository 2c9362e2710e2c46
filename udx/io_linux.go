//go:build linux

package udx

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux batched I/O: recvmmsg/sendmmsg, with UDP GRO on receive (the
// kernel hands over runs of same-size datagrams from one sender as one
// buffer) and UDP GSO on send (one sendmsg carries a run of same-size
// packets to one address, split by the kernel), when the kernel has them.

const (
	readBatchLen    = 32
	groReadBatchLen = 16
	groBufSize      = 65535
	maxGSOSegs      = 64
	maxGSOBytes     = 65000
	socketBufSize   = 4 << 20
)

type mmsgConn struct {
	plainConn
	rc  syscall.RawConn
	gro bool

	gsoMu  sync.Mutex
	gso    bool
	gsoOff bool // set after the kernel refused a GSO send

	// reader state, owned by the socket's reader goroutine
	rhdrs  []unix.Mmsghdr
	riovs  []unix.Iovec
	rnames []unix.RawSockaddrAny
	roob   []byte

	wpool sync.Pool
}

type writeScratch struct {
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	oob   []byte
}

func newBatchConn(c *net.UDPConn, v6 bool) batchConn {
	rc, err := c.SyscallConn()
	if err != nil {
		return &plainConn{c: c, v6: v6}
	}
	m := &mmsgConn{plainConn: plainConn{c: c, v6: v6}, rc: rc}
	_ = rc.Control(func(fd uintptr) {
		f := int(fd)
		if unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, socketBufSize) != nil {
			_ = unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_RCVBUF, socketBufSize)
		}
		if unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, socketBufSize) != nil {
			_ = unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_SNDBUF, socketBufSize)
		}
		m.gro = unix.SetsockoptInt(f, unix.SOL_UDP, unix.UDP_GRO, 1) == nil
		// probe GSO support: reading the option works where sending does
		_, err := unix.GetsockoptInt(f, unix.SOL_UDP, unix.UDP_SEGMENT)
		m.gso = err == nil
	})
	m.rhdrs = make([]unix.Mmsghdr, readBatchLen)
	m.riovs = make([]unix.Iovec, readBatchLen)
	m.rnames = make([]unix.RawSockaddrAny, readBatchLen)
	m.roob = make([]byte, readBatchLen*unix.CmsgSpace(4))
	return m
}

// readBufs is how many read buffers of what size the socket's reader
// gives readBatch: GRO buffers hold up to 64 KiB each, so fewer of them.
func (m *mmsgConn) readBufs() (n, size int) {
	if m.gro {
		return groReadBatchLen, groBufSize
	}
	return readBatchLen, maxDatagram
}

func (m *mmsgConn) readBatch(ms []message) (int, error) {
	n := min(len(ms), readBatchLen)
	oobLen := unix.CmsgSpace(4)
	for i := 0; i < n; i++ {
		b := ms[i].buf[:cap(ms[i].buf)]
		m.riovs[i].Base = &b[0]
		m.riovs[i].SetLen(len(b))
		h := &m.rhdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&m.rnames[i]))
		h.Namelen = unix.SizeofSockaddrAny
		h.Iov = &m.riovs[i]
		h.SetIovlen(1)
		if m.gro {
			h.Control = &m.roob[i*oobLen]
			h.SetControllen(oobLen)
		} else {
			h.Control = nil
			h.SetControllen(0)
		}
		h.Flags = 0
	}
	var got int
	var errno syscall.Errno
	err := m.rc.Read(func(fd uintptr) bool {
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&m.rhdrs[0])), uintptr(n), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EAGAIN || e == unix.EINTR {
			return false
		}
		got, errno = int(r), e
		return true
	})
	if err != nil {
		return 0, err
	}
	if errno != 0 {
		return 0, errno
	}
	for i := 0; i < got; i++ {
		ms[i].n = int(m.rhdrs[i].Len)
		ms[i].addr = sockaddrToAddrPort(&m.rnames[i])
		ms[i].seg = 0
		if m.gro {
			ms[i].seg = groSize(m.roob[i*oobLen:][:m.rhdrs[i].Hdr.Controllen])
		}
	}
	return got, nil
}

// groSize finds the UDP_GRO segment size in a control message buffer.
func groSize(oob []byte) int {
	for len(oob) >= unix.SizeofCmsghdr {
		h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
		l := int(h.Len)
		if l < unix.SizeofCmsghdr || l > len(oob) {
			return 0
		}
		if h.Level == unix.SOL_UDP && h.Type == unix.UDP_GRO && l >= unix.CmsgLen(4) {
			return int(*(*int32)(unsafe.Pointer(&oob[unix.CmsgLen(0)])))
		}
		oob = oob[min(unix.CmsgSpace(l-unix.CmsgLen(0)), len(oob)):]
	}
	return 0
}

func sockaddrToAddrPort(sa *unix.RawSockaddrAny) netip.AddrPort {
	switch sa.Addr.Family {
	case unix.AF_INET:
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&p.Port))[:])
		return netip.AddrPortFrom(netip.AddrFrom4(p.Addr), port)
	case unix.AF_INET6:
		p := (*unix.RawSockaddrInet6)(unsafe.Pointer(sa))
		port := binary.BigEndian.Uint16((*[2]byte)(unsafe.Pointer(&p.Port))[:])
		return unmapAddr(netip.AddrPortFrom(netip.AddrFrom16(p.Addr), port))
	}
	return netip.AddrPort{}
}

func (m *mmsgConn) putName(dst *unix.RawSockaddrInet6, a netip.AddrPort) uint32 {
	*dst = unix.RawSockaddrInet6{}
	port := (*[2]byte)(unsafe.Pointer(&dst.Port))
	binary.BigEndian.PutUint16(port[:], a.Port())
	if !m.v6 {
		p := (*unix.RawSockaddrInet4)(unsafe.Pointer(dst))
		p.Family = unix.AF_INET
		p.Addr = a.Addr().Unmap().As4()
		return unix.SizeofSockaddrInet4
	}
	dst.Family = unix.AF_INET6
	dst.Addr = a.Addr().As16()
	return unix.SizeofSockaddrInet6
}

func (m *mmsgConn) writeBatch(ms []message) error {
	if len(ms) == 0 {
		return nil
	}
	m.gsoMu.Lock()
	gso := m.gso && !m.gsoOff
	m.gsoMu.Unlock()
	ws, _ := m.wpool.Get().(*writeScratch)
	if ws == nil {
		ws = &writeScratch{}
	}
	defer m.wpool.Put(ws)
	ws.hdrs = ws.hdrs[:0]
	ws.iovs = ws.iovs[:0]
	ws.names = ws.names[:0]
	ws.oob = ws.oob[:0]
	// make room up front so the slices never move while pointers into
	// them are taken
	if cap(ws.iovs) < len(ms) {
		ws.iovs = make([]unix.Iovec, 0, len(ms))
		ws.hdrs = make([]unix.Mmsghdr, 0, len(ms))
		ws.names = make([]unix.RawSockaddrInet6, 0, len(ms))
		ws.oob = make([]byte, 0, len(ms)*unix.CmsgSpace(2))
	}
	oobLen := unix.CmsgSpace(2)
	for i := 0; i < len(ms); {
		// a run of equal-size packets to one address goes as one GSO send
		j := i + 1
		if gso {
			size, total := len(ms[i].buf), len(ms[i].buf)
			for j < len(ms) && j-i < maxGSOSegs && ms[j].addr == ms[i].addr &&
				len(ms[j].buf) <= size && total+len(ms[j].buf) <= maxGSOBytes {
				total += len(ms[j].buf)
				j++
				if len(ms[j-1].buf) < size {
					break // a shorter packet ends the run
				}
			}
		}
		first := len(ws.iovs)
		for k := i; k < j; k++ {
			var iov unix.Iovec
			if len(ms[k].buf) > 0 {
				iov.Base = &ms[k].buf[0]
			}
			iov.SetLen(len(ms[k].buf))
			ws.iovs = append(ws.iovs, iov)
		}
		ws.names = append(ws.names, unix.RawSockaddrInet6{})
		nl := m.putName(&ws.names[len(ws.names)-1], ms[i].addr)
		var h unix.Mmsghdr
		h.Hdr.Name = (*byte)(unsafe.Pointer(&ws.names[len(ws.names)-1]))
		h.Hdr.Namelen = nl
		h.Hdr.Iov = &ws.iovs[first]
		h.Hdr.SetIovlen(j - i)
		if j-i > 1 {
			off := len(ws.oob)
			ws.oob = ws.oob[:off+oobLen]
			clear(ws.oob[off:])
			c := (*unix.Cmsghdr)(unsafe.Pointer(&ws.oob[off]))
			c.Level = unix.SOL_UDP
			c.Type = unix.UDP_SEGMENT
			c.SetLen(unix.CmsgLen(2))
			binary.NativeEndian.PutUint16(ws.oob[off+unix.CmsgLen(0):], uint16(len(ms[i].buf)))
			h.Hdr.Control = &ws.oob[off]
			h.Hdr.SetControllen(oobLen)
		}
		ws.hdrs = append(ws.hdrs, h)
		i = j
	}
	err := m.sendAll(ws.hdrs)
	if err != nil && gso && (errors.Is(err, unix.EIO) || errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP)) {
		m.gsoMu.Lock()
		m.gsoOff = true
		m.gsoMu.Unlock()
		return m.plainConn.writeBatch(ms)
	}
	return err
}

func (m *mmsgConn) sendAll(hdrs []unix.Mmsghdr) error {
	for len(hdrs) > 0 {
		var sent int
		var errno syscall.Errno
		err := m.rc.Write(func(fd uintptr) bool {
			r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&hdrs[0])), uintptr(len(hdrs)), unix.MSG_DONTWAIT, 0, 0)
			if e == unix.EAGAIN || e == unix.EINTR {
				return false
			}
			sent, errno = int(r), e
			return true
		})
		if err != nil {
			return err
		}
		if errno != 0 {
			// the first message failed (e.g. ECONNREFUSED from an earlier
			// ICMP error, or an unroutable address): skip it and go on
			if len(hdrs) == 1 {
				return errno
			}
			if errno == unix.EIO || errno == unix.EINVAL || errno == unix.EOPNOTSUPP {
				return errno
			}
			hdrs = hdrs[1:]
			continue
		}
		hdrs = hdrs[sent:]
	}
	return nil
}
