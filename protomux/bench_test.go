package protomux

import (
	"net"
	"testing"
)

func benchmarkSend(b *testing.B, size int, cork bool) {
	pa, pb := net.Pipe()
	a := New(Framed(pa), &Config{DeferStart: true})
	r := New(Framed(pb), &Config{DeferStart: true})
	defer func() { a.Close(); r.Close(); <-a.Done(); <-r.Done() }()
	ch, _ := a.Channel(ChannelOptions{Protocol: "bench"})
	msg := ch.AddMessage(nil)
	ch.Open(nil)
	done := make(chan struct{})
	n := 0
	rc, _ := r.Channel(ChannelOptions{Protocol: "bench"})
	rc.AddMessage(func([]byte) error {
		n++
		if n == b.N {
			close(done)
		}
		return nil
	})
	rc.Open(nil)
	a.Start()
	r.Start()
	if err := ch.Opened(b.Context()); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, size)
	b.SetBytes(int64(size))
	b.ResetTimer()
	for i := range b.N {
		if cork && i%64 == 0 {
			a.Cork()
		}
		if err := msg.Send(payload); err != nil {
			b.Fatal(err)
		}
		if cork && (i%64 == 63 || i == b.N-1) {
			a.Uncork()
		}
		if !a.Drained() {
			a.WaitDrain(b.Context())
		}
	}
	<-done
}

func BenchmarkSend1K(b *testing.B)        { benchmarkSend(b, 1024, false) }
func BenchmarkSend64K(b *testing.B)       { benchmarkSend(b, 64*1024, false) }
func BenchmarkSend1KCorked(b *testing.B)  { benchmarkSend(b, 1024, true) }
func BenchmarkSend64B(b *testing.B)       { benchmarkSend(b, 64, false) }
func BenchmarkSend64BCorked(b *testing.B) { benchmarkSend(b, 64, true) }
