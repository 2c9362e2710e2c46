//go:build linux

package udx

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
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

	// rset is the read buffer set the socket's reader goroutine holds
	// while datagrams are waiting; nil while the socket is idle.
	rset *readSet

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
	return m
}

// readSet is one recvmmsg batch: buffers, headers, addresses and control
// space, wired together once. Sockets borrow a set from a shared pool only
// while datagrams are waiting, so an idle socket holds no read buffers (a
// GRO set is 1 MiB: a thousand DHT nodes' sockets each keeping one would
// cost gigabytes of address space).
type readSet struct {
	gro   bool
	full  bool // a whole batch; else one buffer
	ms    []message
	hdrs  []unix.Mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrAny
	oob   []byte
}

// At most maxReadSets whole sets of each kind exist at a time; past that
// (many sockets reading at once, or readers descheduled while holding a
// set) sockets get sets of one buffer. Idle sets wait in per-P pools
// (sync.Pool: no lock shared by every socket of the process, and the
// garbage collector drops sets that stay unused); a whole set dropped that
// way stops counting once it is collected.
const maxReadSets = 8

var (
	wholeSets [2]sync.Pool
	smallSets [2]sync.Pool
	wholeMade [2]atomic.Int32 // whole sets in existence
)

func readSetPool(gro bool) int {
	if gro {
		return 1
	}
	return 0
}

// getReadSet takes a set from the pool or makes one.
func getReadSet(gro bool) *readSet {
	i := readSetPool(gro)
	if rs, _ := wholeSets[i].Get().(*readSet); rs != nil {
		return rs
	}
	if wholeMade[i].Add(1) <= maxReadSets {
		rs := newReadSet(gro, true)
		runtime.AddCleanup(rs, func(i int) { wholeMade[i].Add(-1) }, i)
		return rs
	}
	wholeMade[i].Add(-1)
	if rs, _ := smallSets[i].Get().(*readSet); rs != nil {
		return rs
	}
	return newReadSet(gro, false)
}

// newReadSet makes a set: a whole one has readBatchLen buffers of
// maxDatagram bytes, or with GRO groReadBatchLen of up to 64 KiB (the
// kernel hands over coalesced runs of datagrams).
func newReadSet(gro, full bool) *readSet {
	n, size := readBatchLen, maxDatagram
	if gro {
		n, size = groReadBatchLen, groBufSize
	}
	if !full {
		n = 1
	}
	rs := &readSet{
		gro:   gro,
		full:  full,
		ms:    make([]message, n),
		hdrs:  make([]unix.Mmsghdr, n),
		iovs:  make([]unix.Iovec, n),
		names: make([]unix.RawSockaddrAny, n),
	}
	if gro {
		rs.oob = make([]byte, n*unix.CmsgSpace(4))
	}
	all := make([]byte, n*size)
	for i := range rs.ms {
		b := all[i*size : (i+1)*size : (i+1)*size]
		rs.ms[i].buf = b
		rs.iovs[i].Base = &b[0]
		rs.iovs[i].SetLen(size)
		h := &rs.hdrs[i].Hdr
		h.Name = (*byte)(unsafe.Pointer(&rs.names[i]))
		h.Iov = &rs.iovs[i]
		h.SetIovlen(1)
		if gro {
			h.Control = &rs.oob[i*unix.CmsgSpace(4)]
		}
	}
	return rs
}

// putReadSet hands a set back once nothing refers to its buffers.
func putReadSet(rs *readSet) {
	i := readSetPool(rs.gro)
	if rs.full {
		wholeSets[i].Put(rs)
	} else {
		smallSets[i].Put(rs)
	}
}

// prepare resets the fields recvmmsg overwrites.
func (rs *readSet) prepare() {
	for i := range rs.hdrs {
		h := &rs.hdrs[i]
		h.Len = 0
		h.Hdr.Namelen = unix.SizeofSockaddrAny
		h.Hdr.Flags = 0
		if rs.gro {
			h.Hdr.SetControllen(unix.CmsgSpace(4))
		}
	}
}

// readPooled waits for datagrams and reads a batch of them with one
// recvmmsg into a borrowed read set. The messages stay valid until the
// next call, which is when the set goes back to the pool if the socket
// has nothing more to read. Only the socket's reader goroutine calls it.
func (m *mmsgConn) readPooled() ([]message, error) {
	var got int
	var errno syscall.Errno
	err := m.rc.Read(func(fd uintptr) bool {
		if m.rset == nil {
			// Borrow a set only when a datagram is waiting: a peek at
			// one byte tells, without the pool (most reads of a quiet
			// socket find nothing).
			var b [1]byte
			_, _, e := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1, unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
			if e == unix.EAGAIN || e == unix.EINTR {
				return false
			}
			m.rset = getReadSet(m.gro)
		}
		rs := m.rset
		rs.prepare()
		r, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&rs.hdrs[0])), uintptr(len(rs.hdrs)), unix.MSG_DONTWAIT, 0, 0)
		if e == unix.EAGAIN || e == unix.EINTR {
			// idle: give the buffers back while waiting
			putReadSet(rs)
			m.rset = nil
			return false
		}
		got, errno = int(r), e
		return true
	})
	if err != nil {
		if m.rset != nil {
			putReadSet(m.rset)
			m.rset = nil
		}
		return nil, err
	}
	if errno != 0 {
		return nil, errno
	}
	rs := m.rset
	total, coalesced := 0, false
	for i := 0; i < got; i++ {
		msg := &rs.ms[i]
		msg.n = int(rs.hdrs[i].Len)
		msg.addr = sockaddrToAddrPort(&rs.names[i])
		msg.seg = 0
		if m.gro {
			oobLen := unix.CmsgSpace(4)
			msg.seg = groSize(rs.oob[i*oobLen:][:rs.hdrs[i].Hdr.Controllen])
		}
		total += msg.n
		coalesced = coalesced || (msg.seg > 0 && msg.seg < msg.n)
	}
	if total > smallBatch && (!m.gro || coalesced || total > groSmallBatch) {
		// bulk (a GSO sender's runs arrive coalesced): dispatched from
		// the set, no copy
		return rs.ms[:got], nil
	}
	// Datagrams one by one (DHT traffic, acks, a sender without GSO):
	// copy them out and hand the set back now, so a socket waiting on a
	// lock while dispatching does not keep a set (1 MiB with GRO) from
	// the others.
	out := make([]message, got)
	data := make([]byte, total)
	for i := 0; i < got; i++ {
		msg := rs.ms[i]
		k := copy(data, msg.buf[:msg.n])
		msg.buf, data = data[:k:k], data[k:]
		out[i] = msg
	}
	putReadSet(rs)
	m.rset = nil
	return out, nil
}

// A batch is copied out of its read set before dispatch when it holds at
// most smallBatch bytes or, on a GRO socket, when no datagrams were
// coalesced and it holds at most groSmallBatch bytes.
const (
	smallBatch    = 16 << 10
	groSmallBatch = 64 << 10
)

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
