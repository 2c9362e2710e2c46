package secretstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
	"time"
)

// batchMessages returns messages of awkward sizes: empty, shorter and
// longer than the 60 scratch bytes in front of a frame, not multiples of
// 8, and enough bulk to need more than one chunk, plus one message larger
// than a chunk on its own.
func batchMessages() [][]byte {
	sizes := []int{0, 1, 7, 39, 40, 41, 59, 60, 61, 1000, 1024, 0, 3, 70000,
		100 << 10, 100 << 10, 100 << 10, 300 << 10, 5, 64 << 10}
	msgs := make([][]byte, len(sizes))
	for i, n := range sizes {
		msgs[i] = make([]byte, n)
		for j := range msgs[i] {
			msgs[i][j] = byte(i*31 + j)
		}
	}
	return msgs
}

// TestWriteMessagesWireBytes checks that WriteMessages puts exactly the
// bytes on the wire that the same messages sent one WriteMessage at a time
// would: the frames stay separate frames.
func TestWriteMessagesWireBytes(t *testing.T) {
	c, peer, _, _ := hostile(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.start(ctx); err != nil {
		t.Fatal(err)
	}
	msgs := batchMessages()
	ref := rawPeer{push: c.push} // the state the next frame is sealed with
	var want []byte
	for round := 0; round < 2; round++ {
		for _, m := range msgs {
			want = append(want, ref.frame(m)...)
		}
	}

	got := make(chan []byte, 1)
	go func() {
		peer.SetReadDeadline(time.Now().Add(30 * time.Second))
		var hdr [3]byte
		if _, err := io.ReadFull(peer, hdr[:]); err != nil {
			got <- nil
			return
		}
		if _, err := io.ReadFull(peer, make([]byte, getUint24(hdr[:]))); err != nil {
			got <- nil
			return
		}
		buf := make([]byte, len(want))
		if _, err := io.ReadFull(peer, buf); err != nil {
			got <- nil
			return
		}
		got <- buf
	}()
	if err := c.WriteMessages(msgs); err != nil {
		t.Fatal(err)
	}
	// The same messages again, one call each: the stream state continues.
	for _, m := range msgs {
		if err := c.WriteMessage(m); err != nil {
			t.Fatal(err)
		}
	}
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("wire bytes differ from separate frames (got %d bytes, want %d)", len(b), len(want))
	}
}

// TestWriteMessagesRoundTrip checks that the peer reads every non-empty
// batched message as its own message, in order.
func TestWriteMessagesRoundTrip(t *testing.T) {
	c, s := handshakePair(t, nil, nil)
	msgs := batchMessages()
	errc := make(chan error, 1)
	go func() { errc <- c.WriteMessages(msgs) }()
	for i, want := range msgs {
		if len(want) == 0 {
			continue // an empty frame is a keepalive: the reader skips it
		}
		m, err := s.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(m, want) {
			t.Fatalf("message %d: got %d bytes, want %d", i, len(m), len(want))
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessages(nil); err != nil {
		t.Fatalf("empty batch: %v", err)
	}
}

// TestWriteMessagesTooLarge checks that a batch with an oversized message
// sends nothing and leaves the stream usable.
func TestWriteMessagesTooLarge(t *testing.T) {
	c, s := handshakePair(t, nil, nil)
	err := c.WriteMessages([][]byte{[]byte("a"), make([]byte, MaxMessageSize+1)})
	if !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("got %v, want ErrMessageTooLarge", err)
	}
	if err := c.WriteMessages([][]byte{[]byte("b")}); err != nil {
		t.Fatal(err)
	}
	if m, err := s.ReadMessage(); err != nil || string(m) != "b" {
		t.Fatalf("%q %v", m, err)
	}
}

// TestWriteMessagesAfterCloseWrite checks the batched path reports a
// shut-down stream as WriteMessage does.
func TestWriteMessagesAfterCloseWrite(t *testing.T) {
	c, _ := handshakePair(t, nil, nil)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessages([][]byte{[]byte("x")}); !errors.Is(err, ErrShutdown) {
		t.Fatalf("got %v, want ErrShutdown", err)
	}
}

// TestWriteMessagesSteadyStateAllocs checks that the batched path, like
// the single-frame one, allocates nothing once its buffer exists.
func TestWriteMessagesSteadyStateAllocs(t *testing.T) {
	c, s := handshakePair(t, nil, nil)
	batch := [][]byte{make([]byte, 1024), make([]byte, 37), make([]byte, 1100), make([]byte, 1024)}
	for range 3 {
		c.WriteMessages(batch)
		for range batch {
			s.ReadMessage()
		}
	}
	allocs := testing.AllocsPerRun(200, func() {
		if err := c.WriteMessages(batch); err != nil {
			t.Fatal(err)
		}
		for range batch {
			if _, err := s.ReadMessage(); err != nil {
				t.Fatal(err)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocs per batch", allocs)
	}
}

// TestReadBufferGrowsForBulk: a connection that is sent messages one at a
// time keeps its small read buffer; one that receives a burst grows it
// once to bulkReadBuffer and then reads without allocating, every message
// intact.
func TestReadBufferGrowsForBulk(t *testing.T) {
	c, s := handshakePair(t, nil, nil)
	msg := make([]byte, 1000)
	for i := range 10 {
		msg[0] = byte(i)
		if err := c.WriteMessage(msg); err != nil {
			t.Fatal(err)
		}
		got, err := s.ReadMessage()
		if err != nil || len(got) != len(msg) || got[0] != byte(i) {
			t.Fatalf("message %d: %d bytes, %v", i, len(got), err)
		}
	}
	if n := len(s.rb) - headroom - 1; n != initialReadBuffer {
		t.Fatalf("read buffer of %d bytes after quiet traffic", n)
	}

	burst := make([][]byte, 200)
	for i := range burst {
		burst[i] = bytes.Repeat([]byte{byte(i)}, 1000+i%17)
	}
	send := func() {
		if err := c.WriteMessages(burst); err != nil {
			t.Error(err)
		}
	}
	recv := func() {
		for i, want := range burst {
			got, err := s.ReadMessage()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("burst message %d: %d bytes, %v", i, len(got), err)
			}
		}
	}
	for range 3 {
		go send()
		recv()
	}
	if n := len(s.rb) - headroom - 1; n != bulkReadBuffer {
		t.Fatalf("read buffer of %d bytes after bursts, want %d", n, bulkReadBuffer)
	}
	done := make(chan struct{})
	allocs := testing.AllocsPerRun(5, func() {
		go func() { send(); done <- struct{}{} }()
		recv()
		<-done
	})
	// The goroutine and its closure are the only allocations.
	if allocs > 3 {
		t.Errorf("%v allocations per burst", allocs)
	}
}
