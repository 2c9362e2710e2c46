//go:build linux

package udx

import (
	"errors"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Parking idle readers (Linux): a socket whose reader goroutine saw no
// datagram for idleAfter registers its descriptor with one epoll instance
// shared by the process and lets the goroutine end. The poller's one
// goroutine starts a new reader when the descriptor becomes readable. A
// process running a thousand DHT nodes, whose sockets are quiet most of
// the time, thus keeps no goroutine stack per socket, while a busy socket
// keeps its reader and reads as before.

// rawConner is a conn whose descriptor the poller can watch.
type rawConner interface {
	rawConn() (syscall.RawConn, error)
}

func (p *plainConn) rawConn() (syscall.RawConn, error) { return p.c.SyscallConn() }

// newParker returns the parking state of a socket on bc, or nil when bc
// cannot be watched (test shims).
func newParker(s *Socket, bc batchConn) *parker {
	rcr, ok := bc.(rawConner)
	if !ok {
		return nil
	}
	rc, err := rcr.rawConn()
	if err != nil {
		return nil
	}
	return &parker{s: s, rc: rc}
}

// epollEventFD is the token of the poller's wake-up eventfd.
const epollEventFD = -1

// thePoller is the epoll instance shared by every parked socket of the
// process. Its goroutine runs while at least one socket is registered
// with it and ends when the last of them closes.
var thePoller struct {
	mu      sync.Mutex
	epfd    int
	evfd    int
	made    bool
	running bool
	next    int32
	socks   map[int32]*parker // registered sockets by token
}

// arm registers p's descriptor for one readiness report (a socket that
// is readable already is reported at once). p.mu is held.
func (p *parker) arm() error {
	pl := &thePoller
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if !pl.made {
		epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
		if err != nil {
			return err
		}
		evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
		if err != nil {
			unix.Close(epfd)
			return err
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: epollEventFD}
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
			unix.Close(epfd)
			unix.Close(evfd)
			return err
		}
		pl.epfd, pl.evfd, pl.made = epfd, evfd, true
		pl.socks = map[int32]*parker{}
	}
	op := unix.EPOLL_CTL_MOD
	if !p.registered {
		op = unix.EPOLL_CTL_ADD
		tok := pl.next
		for tok <= 0 || pl.socks[tok] != nil {
			tok++
			if tok <= 0 {
				tok = 1
			}
		}
		pl.next = tok + 1
		p.token = tok
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLONESHOT, Fd: p.token}
	var err error
	if cerr := p.rc.Control(func(fd uintptr) { err = unix.EpollCtl(pl.epfd, op, int(fd), &ev) }); cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if !p.registered {
		p.registered = true
		pl.socks[p.token] = p
	}
	if !pl.running {
		pl.running = true
		go pollLoop()
	}
	return nil
}

// unregister takes a closing socket's descriptor out of the poller,
// before the descriptor is closed (so a reused number is never watched
// for the wrong socket).
func (p *parker) unregister() {
	pl := &thePoller
	pl.mu.Lock()
	defer pl.mu.Unlock()
	_ = p.rc.Control(func(fd uintptr) { _ = unix.EpollCtl(pl.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
	delete(pl.socks, p.token)
	if len(pl.socks) == 0 && pl.running {
		// wake the poller so it ends
		var one [8]byte
		one[0] = 1
		_, _ = unix.Write(pl.evfd, one[:])
	}
}

// pollLoop is the poller's goroutine: it waits for registered sockets to
// become readable and starts their readers. It ends when no socket is
// registered.
func pollLoop() {
	pl := &thePoller
	var evs [64]unix.EpollEvent
	var woken []*parker
	for {
		n, err := unix.EpollWait(pl.epfd, evs[:], -1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			// cannot happen with a valid epoll descriptor; wake every
			// socket so none is left without a reader
			n = 0
		}
		pl.mu.Lock()
		woken = woken[:0]
		if err != nil && !errors.Is(err, unix.EINTR) {
			for _, p := range pl.socks {
				woken = append(woken, p)
			}
		}
		for _, ev := range evs[:max(n, 0)] {
			if ev.Fd == epollEventFD {
				var b [8]byte
				_, _ = unix.Read(pl.evfd, b[:])
				continue
			}
			if p := pl.socks[ev.Fd]; p != nil {
				woken = append(woken, p)
			}
		}
		if len(pl.socks) == 0 {
			pl.running = false
			pl.mu.Unlock()
			return
		}
		pl.mu.Unlock()
		for i, p := range woken {
			p.wake()
			woken[i] = nil
		}
	}
}
