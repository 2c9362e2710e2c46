package udx

import (
	"testing"
	"time"
)

// A deadline set after the stream stopped its timers (closed) must not
// block: secretstream sets read deadlines on connections that may have
// been closed under it.
func TestDeadlineSetAfterStop(t *testing.T) {
	d := makeDeadline()
	d.set(time.Now().Add(time.Hour))
	d.stop()
	done := make(chan struct{})
	go func() {
		d.set(time.Now().Add(time.Second))
		d.set(time.Time{})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("set after stop blocks")
	}
}
