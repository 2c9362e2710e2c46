//go:build linux

package udx

import (
	"runtime"
	"sync"
	"testing"
)

// Many sockets reading at once share a bounded number of whole read sets.
func TestReadSetsBoundedAcrossSockets(t *testing.T) {
	u := New(nil)
	const sockets, each = 64, 40
	var mu sync.Mutex
	count := 0
	var socks []*Socket
	for i := 0; i < sockets; i++ {
		s, err := u.Listen("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s.SetHandler(func(d Datagram) {
			mu.Lock()
			count++
			mu.Unlock()
		})
		socks = append(socks, s)
	}
	src, err := u.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	payload := make([]byte, 300)
	for j := 0; j < each; j++ {
		for _, s := range socks {
			if err := src.WriteTo(payload, s.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
	}
	waitFor(t, "every datagram", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return count == sockets*each
	})
	for i := range wholeMade {
		if made := wholeMade[i].Load(); made > maxReadSets {
			t.Fatalf("pool %d: %d whole sets made", i, made)
		}
	}
	// idle sets do not stay: the collector drops them from the pools and
	// they stop counting
	waitFor(t, "idle read sets to be collected", func() bool {
		runtime.GC()
		return wholeMade[0].Load() == 0 && wholeMade[1].Load() == 0
	})
}
