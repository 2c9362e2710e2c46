package protomux

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/warrenp2p/warren/compact"
)

// batchConn is a fakeConn that also takes runs of messages in one call,
// as a secretstream connection does.
type batchConn struct {
	*fakeConn
	batches []int // how many messages each WriteMessages call carried
	fail    error
}

func (b *batchConn) WriteMessages(msgs [][]byte) error {
	if b.fail != nil {
		return b.fail
	}
	b.batches = append(b.batches, len(msgs))
	for _, m := range msgs {
		if err := b.fakeConn.WriteMessage(m); err != nil {
			return err
		}
	}
	return nil
}

// TestWriteUsesBatchWriter checks that a run of queued frames goes to a
// connection's WriteMessages in one call, in order, and that a single frame
// still goes through WriteMessage.
func TestWriteUsesBatchWriter(t *testing.T) {
	bc := &batchConn{fakeConn: newFakeConn()}
	m := &Mux{conn: bc}
	var frames [][]byte
	for i := range 5 {
		frames = append(frames, []byte(fmt.Sprintf("frame %d", i)))
	}
	if err := m.write(frames); err != nil {
		t.Fatal(err)
	}
	if err := m.write([][]byte{[]byte("alone")}); err != nil {
		t.Fatal(err)
	}
	if len(bc.batches) != 1 || bc.batches[0] != 5 {
		t.Fatalf("batches %v, want one of 5", bc.batches)
	}
	got := bc.written()
	want := append(frames, []byte("alone"))
	if len(got) != len(want) {
		t.Fatalf("%d frames written, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("frame %d: %q, want %q", i, got[i], want[i])
		}
	}

	bc.fail = errors.New("boom")
	if err := m.write(frames); !errors.Is(err, bc.fail) {
		t.Fatalf("got %v, want the batch writer's error", err)
	}
}

// TestWriteLoopBatchWriterEndToEnd runs a mux over a batch-writing
// connection: every message sent arrives once and in order.
func TestWriteLoopBatchWriterEndToEnd(t *testing.T) {
	bc := &batchConn{fakeConn: newFakeConn()}
	m := New(bc, nil)
	defer m.Close()
	const n = 500
	for i := range n {
		m.mu.Lock()
		m.enqueue([]byte(fmt.Sprintf("m%d", i)))
		m.mu.Unlock()
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(bc.written()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d frames written", len(bc.written()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for i, f := range bc.written() {
		if string(f) != fmt.Sprintf("m%d", i) {
			t.Fatalf("frame %d: %q", i, f)
		}
	}
}

// TestCorkSingleMessagePlain: a corked run that holds one channel message
// goes out as that message's plain frame, as does a lone control message
// (exactly what an uncorked send writes); runs of two or more are batches.
func TestCorkSingleMessagePlain(t *testing.T) {
	c := newFakeConn()
	m := New(c, nil)
	defer m.Close()
	ch, err := m.Channel(ChannelOptions{Protocol: "p"})
	if err != nil {
		t.Fatal(err)
	}
	msg := ch.AddMessage(nil)
	ch.Open(nil)
	big := bytes.Repeat([]byte{7}, 70000)
	m.Cork()
	msg.Send([]byte("a"))
	m.Uncork()
	m.Cork()
	msg.Send(big)
	m.Uncork()
	m.Cork()
	msg.Send([]byte("b"))
	msg.Send([]byte("c"))
	m.Uncork()
	m.Cork()
	ch2, _ := m.Channel(ChannelOptions{Protocol: "q"})
	ch2.Open(nil)
	m.Uncork()
	want := [][]byte{
		{0, 1, 1, 1, 'p', 0},
		{1, 0, 'a'},
		append([]byte{1, 0}, big...),
		{0, 0, 1, 2, 0, 'b', 2, 0, 'c'},
		{0, 1, 2, 1, 'q', 0},
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(c.written()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	got := c.written()
	if len(got) != len(want) {
		t.Fatalf("got %d frames, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("frame %d: got %x want %x", i, got[i][:min(len(got[i]), 16)], want[i][:min(len(want[i]), 16)])
		}
	}
}

// shortCodec preencodes 4 bytes and writes 2: a codec bug.
type shortCodec struct{}

func (shortCodec) Preencode(s *compact.State, _ int) { s.End += 4 }
func (shortCodec) Encode(s *compact.State, _ int) {
	s.Buf[s.Start], s.Buf[s.Start+1] = 'x', 'x'
	s.Start += 2
}
func (shortCodec) Decode(s *compact.State) (int, error) { return 0, nil }

// failCodec records an encoding error.
type failCodec struct{}

func (failCodec) Preencode(s *compact.State, _ int)    { s.End++ }
func (failCodec) Encode(s *compact.State, _ int)       { s.Err = errors.New("cannot encode") }
func (failCodec) Decode(s *compact.State) (int, error) { return 0, nil }

// TestCorkedTypedSendError: a typed message whose encoding fails while the
// mux is corked returns the error and leaves nothing of itself in the
// batch, which goes out with the other messages intact.
func TestCorkedTypedSendError(t *testing.T) {
	c := newFakeConn()
	m := New(c, nil)
	defer m.Close()
	ch, err := m.Channel(ChannelOptions{Protocol: "p"})
	if err != nil {
		t.Fatal(err)
	}
	msg := ch.AddMessage(nil)
	short := AddTypedMessage(ch, compact.Codec[int](shortCodec{}), nil)
	fail := AddTypedMessage(ch, compact.Codec[int](failCodec{}), nil)
	ch.Open(nil)
	m.Cork()
	msg.Send([]byte("a"))
	if err := short.Send(1); !errors.Is(err, compact.ErrInvalid) {
		t.Fatalf("short codec: %v", err)
	}
	if err := fail.Send(1); err == nil {
		t.Fatal("failing codec: no error")
	}
	msg.Send([]byte("b"))
	m.Uncork()
	// A lone failed message: the batch is empty and nothing is sent.
	m.Cork()
	if err := fail.Send(1); err == nil {
		t.Fatal("failing codec: no error")
	}
	m.Uncork()
	msg.Send([]byte("c"))
	want := [][]byte{
		{0, 1, 1, 1, 'p', 0},
		{0, 0, 1, 2, 0, 'a', 2, 0, 'b'},
		{1, 0, 'c'},
	}
	deadline := time.Now().Add(30 * time.Second)
	for len(c.written()) < len(want) && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // nothing more may follow
	got := c.written()
	if len(got) != len(want) {
		t.Fatalf("got %d frames %x, want %d", len(got), got, len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i], want[i]) {
			t.Errorf("frame %d: got %x want %x", i, got[i], want[i])
		}
	}
}
