package netlab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// ErrGoexit reports that the function given to [Host.Run] called
// runtime.Goexit (for example through t.FailNow) instead of returning.
var ErrGoexit = errors.New("netlab: function called runtime.Goexit")

// Run calls fn on a goroutine locked to an OS thread that has been moved
// into the host's network namespace, and waits for it. Sockets fn creates
// (net.ListenUDP, net.Dial, ...) belong to that namespace for their whole
// life and may be used from any goroutine afterwards. Goroutines fn starts
// run in the process's own namespace, not the host's.
//
// Afterwards the thread is moved back; if that fails it stays locked, so
// the runtime discards it. A panic in fn is re-raised in the caller; fn
// must not call t.FailNow and friends (Run then returns [ErrGoexit]).
func (h *Host) Run(fn func() error) error {
	return runIn(h.ns, fn)
}

// ListenUDP opens an IPv4 UDP socket in the host's namespace bound to the
// host's address and port (0 picks a free port).
func (h *Host) ListenUDP(port uint16) (*net.UDPConn, error) {
	var c *net.UDPConn
	err := h.Run(func() error {
		var err error
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(h.Addr, port)))
		return err
	})
	return c, err
}

// Command returns a command that runs name with args inside the host's
// namespace (through "ip netns exec"), for peers written in other
// languages. The context kills the process as in exec.CommandContext.
func (h *Host) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", h.ns, name}, args...)...)
}

// runIn runs fn on a fresh goroutine locked to a thread inside the named
// namespace and returns its result.
func runIn(ns string, fn func() error) error {
	type result struct {
		err      error
		returned bool
		panicked bool
		value    any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() { done <- r }()
		runtime.LockOSThread()
		restore, err := enterNS(ns)
		if err != nil {
			runtime.UnlockOSThread()
			r.err, r.returned = err, true
			return
		}
		defer func() {
			if v := recover(); v != nil {
				r.panicked, r.value = true, v
			}
			if restore() == nil {
				runtime.UnlockOSThread()
			}
			// Otherwise the thread stays locked and the runtime ends it
			// together with this goroutine.
		}()
		r.err = fn()
		r.returned = true
	}()
	r := <-done
	switch {
	case r.panicked:
		panic(r.value)
	case !r.returned:
		return ErrGoexit
	}
	return r.err
}

// enterNS moves the calling (locked) thread into namespace ns and returns
// a function that moves it back.
func enterNS(ns string) (restore func() error, err error) {
	target, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("netlab: open namespace %s: %w", ns, err)
	}
	defer unix.Close(target)
	orig, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("netlab: open own namespace: %w", err)
	}
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		unix.Close(orig)
		return nil, fmt.Errorf("netlab: enter namespace %s: %w", ns, err)
	}
	return func() error {
		defer unix.Close(orig)
		return unix.Setns(orig, unix.CLONE_NEWNET)
	}, nil
}
