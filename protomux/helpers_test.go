package protomux

import (
	"context"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// fakeConn is a MessageConn fed by a test: frames put on in are read, and
// written frames are recorded.
type fakeConn struct {
	in     chan []byte
	closed chan struct{}
	once   sync.Once

	mu  sync.Mutex
	out [][]byte
}

func newFakeConn() *fakeConn {
	return &fakeConn{in: make(chan []byte, 64), closed: make(chan struct{})}
}

func (f *fakeConn) ReadMessage() ([]byte, error) {
	select {
	case b, ok := <-f.in:
		if !ok {
			return nil, io.EOF
		}
		return b, nil
	case <-f.closed:
		return nil, net.ErrClosed
	}
}

func (f *fakeConn) WriteMessage(p []byte) error {
	select {
	case <-f.closed:
		return net.ErrClosed
	default:
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.out = append(f.out, append([]byte(nil), p...))
	return nil
}

func (f *fakeConn) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

func (f *fakeConn) written() [][]byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([][]byte(nil), f.out...)
}

// countConn counts the messages written through it.
type countConn struct {
	MessageConn
	mu     sync.Mutex
	writes [][]byte
	reads  int
}

func (c *countConn) WriteMessage(p []byte) error {
	c.mu.Lock()
	c.writes = append(c.writes, append([]byte(nil), p...))
	c.mu.Unlock()
	return c.MessageConn.WriteMessage(p)
}

func (c *countConn) ReadMessage() ([]byte, error) {
	b, err := c.MessageConn.ReadMessage()
	if err == nil {
		c.mu.Lock()
		c.reads++
		c.mu.Unlock()
	}
	return b, err
}

func (c *countConn) written() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.writes...)
}

// pipe returns two framed message conns joined by net.Pipe.
func pipe() (*countConn, *countConn) {
	a, b := net.Pipe()
	return &countConn{MessageConn: Framed(a)}, &countConn{MessageConn: Framed(b)}
}

// muxPair starts two muxes over a pipe; both are closed when the test ends.
func muxPair(t *testing.T, cfgA, cfgB *Config) (*Mux, *Mux, *countConn, *countConn) {
	t.Helper()
	ca, cb := pipe()
	a, b := New(ca, cfgA), New(cb, cfgB)
	t.Cleanup(func() {
		a.Close()
		b.Close()
		waitDone(t, a)
		waitDone(t, b)
	})
	return a, b, ca, cb
}

func waitDone(t *testing.T, m *Mux) {
	t.Helper()
	select {
	case <-m.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("mux did not finish")
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func mustOpened(t *testing.T, chs ...*Channel) {
	t.Helper()
	for _, c := range chs {
		if err := c.Opened(ctxT(t)); err != nil {
			t.Fatalf("channel %s %x: %v", c.Protocol(), c.ID(), err)
		}
	}
}

func recvT[T any](t *testing.T, c <-chan T) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(5 * time.Second):
		t.Fatal("timed out waiting")
		panic("unreachable")
	}
}

func waitClosed(t *testing.T, c *Channel) {
	t.Helper()
	select {
	case <-c.Closed():
	case <-time.After(5 * time.Second):
		t.Fatalf("channel %s not closed", c.Protocol())
	}
}

// checkGoroutines fails if the goroutine count does not come back to base.
func checkGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Fatalf("%d goroutines, want %d:\n%s", n, base, buf)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var errTest = errors.New("test error")
