//go:build linux

package udx

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"sync"
	"testing"
	"time"
)

// parked reports whether s's reader goroutine is parked with the poller.
func parked(s *Socket) bool {
	s.park.mu.Lock()
	defer s.park.mu.Unlock()
	return s.park.state == readerParked
}

func pollerSockets() int {
	thePoller.mu.Lock()
	defer thePoller.mu.Unlock()
	return len(thePoller.socks)
}

// An idle socket's reader ends (the goroutines of many quiet sockets go
// away); datagrams, with a handler or through ReadFrom, still arrive, in
// order, and wake it.
func TestIdleReaderParksAndWakes(t *testing.T) {
	for _, noBatch := range []bool{false, true} {
		u := New(&Config{NoBatch: noBatch})
		before := runtime.NumGoroutine()
		const n = 20
		var socks []*Socket
		src := listenTest(t, u, nil)
		srcAddr := src.LocalAddr()
		var mu sync.Mutex
		got := map[int][]byte{}
		for i := 0; i < n; i++ {
			s := listenTest(t, u, nil)
			if i < n/2 {
				s.SetHandler(func(d Datagram) {
					if d.From != srcAddr {
						return // another process's datagram to a reused port
					}
					mu.Lock()
					got[i] = append(got[i], d.Data...)
					mu.Unlock()
				})
			}
			socks = append(socks, s)
		}
		waitFor(t, "readers to park", func() bool {
			for _, s := range socks {
				if !parked(s) {
					return false
				}
			}
			return true
		})
		// the sockets' readers are gone (the poller's goroutine is one)
		if g := runtime.NumGoroutine() - before; g > 4 {
			t.Errorf("noBatch=%v: %d goroutines for %d parked sockets", noBatch, g, n)
		}
		for round := 0; round < 3; round++ {
			for i, s := range socks {
				for j := 0; j < 3; j++ {
					if err := src.WriteTo([]byte{byte(i), byte(round), byte(j)}, s.LocalAddr()); err != nil {
						t.Fatal(err)
					}
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			for i, s := range socks[n/2:] {
				for j := 0; j < 3; j++ {
					d, err := s.ReadFrom(ctx)
					if err != nil {
						t.Fatal(err)
					}
					if d.From != srcAddr {
						j--
						continue
					}
					if want := []byte{byte(n/2 + i), byte(round), byte(j)}; !bytes.Equal(d.Data, want) {
						t.Fatalf("socket %d got %v, want %v", n/2+i, d.Data, want)
					}
				}
			}
			cancel()
			waitFor(t, "handler datagrams", func() bool {
				mu.Lock()
				defer mu.Unlock()
				for i := 0; i < n/2; i++ {
					if len(got[i]) != 9*(round+1) { // 3 datagrams of 3 bytes a round
						return false
					}
				}
				return true
			})
			if round < 2 {
				// let them park again before the next round
				waitFor(t, "readers to park again", func() bool {
					for _, s := range socks {
						if !parked(s) {
							return false
						}
					}
					return true
				})
			}
		}
		mu.Lock()
		for i := 0; i < n/2; i++ {
			var want []byte
			for round := 0; round < 3; round++ {
				for j := 0; j < 3; j++ {
					want = append(want, byte(i), byte(round), byte(j))
				}
			}
			if !bytes.Equal(got[i], want) {
				t.Fatalf("handler socket %d got %v, want %v", i, got[i], want)
			}
		}
		mu.Unlock()
		for _, s := range socks {
			s.Close()
		}
		src.Close()
	}
}

// A stream keeps working across its sockets' readers parking: data
// written after a quiet spell longer than idleAfter arrives.
func TestStreamAcrossParkedReaders(t *testing.T) {
	u := New(nil)
	a, b := listenTest(t, u, nil), listenTest(t, u, nil)
	sa, sb := pair(t, a, b)
	msg := randBytes(64<<10, 5)
	for round := 0; round < 2; round++ {
		waitFor(t, "readers to park", func() bool { return parked(a) && parked(b) })
		done := make(chan error, 1)
		go func() {
			_, err := sa.Write(msg)
			done <- err
		}()
		buf := make([]byte, len(msg))
		if _, err := io.ReadFull(sb, buf); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, msg) {
			t.Fatal("stream data differs")
		}
	}
}

// Closing parked sockets (and racing Close against wake-ups) leaves no
// goroutine behind: no reader, and no poller once nothing is registered.
func TestCloseParkedSockets(t *testing.T) {
	before := runtime.NumGoroutine()
	u := New(nil)
	var socks []*Socket
	for i := 0; i < 16; i++ {
		s, err := u.Listen("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		socks = append(socks, s)
	}
	src, err := u.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "readers to park", func() bool {
		for _, s := range socks {
			if !parked(s) {
				return false
			}
		}
		return true
	})
	// wake half of them while closing all
	for _, s := range socks[:8] {
		_ = src.WriteTo([]byte("x"), s.LocalAddr())
	}
	var wg sync.WaitGroup
	for _, s := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.Close()
		}()
	}
	wg.Wait()
	src.Close()
	waitFor(t, "goroutines to end", func() bool {
		return runtime.NumGoroutine() <= before && pollerSockets() == 0
	})
}
