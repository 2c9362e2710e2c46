package udx

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// waitFor polls cond for up to 30 s (the machine may be busy).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestDatagramQueueLimitAndOrder(t *testing.T) {
	u := New(&Config{DatagramQueue: 4})
	a, err := u.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := u.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for i := 0; i < 10; i++ {
		if err := a.WriteTo([]byte{byte(i)}, b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "4 queued and 6 dropped", func() bool {
		b.qmu.Lock()
		queued := len(b.queue) - b.head
		b.qmu.Unlock()
		return queued == 4 && b.PacketsDropped.Load() == 6
	})
	for i := 0; i < 4; i++ {
		d, err := b.ReadFrom(t.Context())
		if err != nil || len(d.Data) != 1 || d.Data[0] != byte(i) || d.From != a.LocalAddr() {
			t.Fatalf("datagram %d: %+v %v", i, d, err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := b.ReadFrom(ctx); err != context.DeadlineExceeded {
		t.Fatalf("empty queue: %v", err)
	}
	// the queue takes room again after it was drained
	if err := a.WriteTo([]byte("again"), b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if d, err := b.ReadFrom(t.Context()); err != nil || string(d.Data) != "again" {
		t.Fatalf("%+v %v", d, err)
	}
}

func TestSetHandler(t *testing.T) {
	u := New(nil)
	a, err := u.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := u.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var mu sync.Mutex
	var got []string
	b.SetHandler(func(d Datagram) {
		if d.From != a.LocalAddr() {
			t.Errorf("from %v", d.From)
		}
		mu.Lock()
		got = append(got, string(d.Data))
		mu.Unlock()
	})
	const n = 200
	for i := 0; i < n; i++ {
		// sizes from 1 byte to more than a small batch holds
		msg := fmt.Sprintf("%d:%0*d", i, (i*97)%1400, 0)
		if err := a.WriteTo([]byte(msg), b.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		if i%20 == 19 {
			// a few at a time: the socket buffer may be small (no root)
			waitFor(t, "a chunk handled", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(got) == i+1
			})
		}
	}
	waitFor(t, "all datagrams handled", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == n
	})
	mu.Lock()
	for i, s := range got {
		if want := fmt.Sprintf("%d:%0*d", i, (i*97)%1400, 0); s != want {
			t.Fatalf("datagram %d out of order or changed: %.20q", i, s)
		}
	}
	mu.Unlock()
	b.qmu.Lock()
	queued := len(b.queue) - b.head
	b.qmu.Unlock()
	if queued != 0 {
		t.Fatalf("%d datagrams queued while a handler was set", queued)
	}
	// without a handler ReadFrom gets them again
	b.SetHandler(nil)
	if err := a.WriteTo([]byte("queued"), b.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	if d, err := b.ReadFrom(t.Context()); err != nil || string(d.Data) != "queued" {
		t.Fatalf("%+v %v", d, err)
	}
}
