package protomux

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/warrenp2p/warren/compact"
)

// hostileMux runs a mux over a fakeConn with channel "q" open on both
// sides (local id 1, remote id 1) and a pair for protocol "p".
func hostileMux(tb testing.TB, cfg *Config) (*Mux, *fakeConn, chan string) {
	c := newFakeConn()
	if cfg == nil {
		cfg = &Config{}
	}
	cfg.DeferStart = true
	m := New(c, cfg)
	got := make(chan string, 1024)
	add := func(ch *Channel) {
		ch.AddMessage(func(p []byte) error {
			select {
			case got <- ch.Protocol() + ":" + string(p):
			default:
			}
			return nil
		})
		AddTypedMessage(ch, compact.String, func(s string) error { return nil })
	}
	q, err := m.Channel(ChannelOptions{Protocol: "q"})
	if err != nil {
		tb.Fatal(err)
	}
	add(q)
	q.Open(nil)
	m.Pair("p", nil, func(id []byte) {
		ch, err := m.Channel(ChannelOptions{Protocol: "p", ID: id, AllowDuplicates: true})
		if err != nil {
			return
		}
		add(ch)
		ch.Open([]byte("hs"))
	})
	m.Start()
	c.in <- []byte{0, 1, 1, 1, 'q', 0}
	return m, c, got
}

// alive checks the mux still delivers messages on channel q.
func alive(t *testing.T, m *Mux, c *fakeConn, got chan string) {
	t.Helper()
	c.in <- []byte{1, 0, 'o', 'k'}
	for {
		select {
		case g := <-got:
			if g == "q:ok" {
				return
			}
		case <-m.Done():
			t.Fatalf("mux died: %v", m.Err())
		case <-time.After(5 * time.Second):
			t.Fatal("no message")
		}
	}
}

func u64(v uint64) []byte {
	b := []byte{0xff, 0, 0, 0, 0, 0, 0, 0, 0}
	binary.LittleEndian.PutUint64(b[1:], v)
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestHostileIgnored(t *testing.T) {
	cases := map[string][][]byte{
		"empty frame":             {{}},
		"unknown control":         {{0, 9, 1, 2, 3}},
		"unknown channel":         {{5, 0, 'x'}},
		"unknown message type":    {{1, 7, 'x'}},
		"huge but safe channel":   {cat(u64(1<<40), []byte{0, 'x'})},
		"close of channel 0":      {{0, 3, 0}},
		"close of unknown":        {{0, 3, 99}},
		"non-minimal varint":      {{0xfd, 1, 0, 0, 'n'}},
		"batch overlong length":   {{0, 0, 1, 200, 0, 'z'}},
		"batch of nothing":        {{0, 0, 1}},
		"batch separators only":   {{0, 0, 1, 0, 2, 0, 3}},
		"nested batch":            {{0, 0, 0, 5, 0, 1, 2, 0, 'n'}},
		"open pending then close": {{0, 1, 2, 1, 'x', 0}, {0, 3, 2}},
		"paired open":             {{0, 1, 2, 1, 'p', 1, 7}, {2, 0, 'h', 'i'}},
		"open in batch with msgs": {{0, 0, 0, 6, 1, 2, 1, 'p', 1, 8, 0, 2, 2, 0, 'y', 3, 1, 1, 'a'}},
	}
	for name, frames := range cases {
		t.Run(name, func(t *testing.T) {
			m, c, got := hostileMux(t, nil)
			defer func() { m.Close(); waitDone(t, m) }()
			for _, f := range frames {
				c.in <- f
			}
			alive(t, m, c, got)
		})
	}
}

func TestHostileDeliveredInBatch(t *testing.T) {
	m, c, got := hostileMux(t, nil)
	defer func() { m.Close(); waitDone(t, m) }()
	// nested batch carrying a message for channel 1, then an overlong item
	// truncated to the end of the frame.
	c.in <- []byte{0, 0, 0, 5, 0, 1, 2, 0, 'n'}
	c.in <- []byte{0, 0, 1, 200, 0, 'z', 'z'}
	// remote opens "p" inside a batch and sends on it at once
	c.in <- []byte{0, 0, 0, 6, 1, 2, 1, 'p', 1, 8, 0, 2, 3, 0, 'y'}
	want := []string{"q:n", "q:zz", "p:y"}
	for _, w := range want {
		select {
		case g := <-got:
			if g != w {
				t.Fatalf("got %q want %q", g, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %q", w)
		}
	}
}

func TestHostileDestroys(t *testing.T) {
	cases := map[string][][]byte{
		"truncated varint":      {{0xfd, 1}},
		"truncated type":        {{1}},
		"unsafe channel id":     {cat(u64(1<<53), []byte{0})},
		"open of channel 0":     {{0, 1, 0, 1, 'p', 0}},
		"open skipping ids":     {{0, 1, 3, 1, 'p', 0}},
		"open of used id":       {{0, 1, 1, 1, 'q', 0}},
		"open huge id":          {cat([]byte{0, 1}, u64(1<<52), []byte{1, 'p', 0})},
		"open truncated string": {{0, 1, 2, 9, 'p'}},
		"open truncated id":     {{0, 1, 2, 1, 'p', 5, 1}},
		"reject unknown":        {{0, 2, 1}},
		"reject truncated":      {{0, 2}},
		"batch truncated id":    {{0, 0, 1, 0}},
		"batch bad item":        {{0, 0, 1, 1, 0xfe}},
		"deep nesting":          {nestedBatch(maxBatchDepth + 1)},
		"bad typed message":     {{1, 1, 9, 'a'}},
	}
	for name, frames := range cases {
		t.Run(name, func(t *testing.T) {
			m, c, _ := hostileMux(t, nil)
			defer m.Close()
			for _, f := range frames {
				c.in <- f
			}
			waitDone(t, m)
			if !errors.Is(m.Err(), ErrProtocol) {
				t.Fatalf("err %v", m.Err())
			}
		})
	}
}

// nestedBatch builds a frame of depth batches each holding the next.
func nestedBatch(depth int) []byte {
	inner := []byte{1, 0, 'd'} // channel 1 message, as a batch item: type 0 'd'
	item := inner[1:]
	id := byte(1)
	for range depth {
		// a batch control message as an item of channel 0: type 0, first id, items
		b := append([]byte{0, id}, byte(len(item)))
		b = append(b, item...)
		item = b
		id = 0
	}
	return append([]byte{0}, item...)
}

func TestNestedBatchDepth(t *testing.T) {
	m, c, got := hostileMux(t, nil)
	defer func() { m.Close(); waitDone(t, m) }()
	c.in <- nestedBatch(50)
	if g := <-got; g != "q:d" {
		t.Fatal(g)
	}
	alive(t, m, c, got)
}

func TestRemoteChannelLimit(t *testing.T) {
	m, c, got := hostileMux(t, &Config{MaxRemoteChannels: 3})
	defer m.Close()
	c.in <- []byte{0, 1, 2, 1, 'x', 0} // rejected, slot 2 free again
	c.in <- []byte{0, 1, 3, 1, 'x', 0}
	alive(t, m, c, got)
	c.in <- []byte{0, 1, 2, 1, 'x', 0} // reuse is fine
	alive(t, m, c, got)
	// The three unpaired opens were rejected with 0 2 <id>.
	var rejects []byte
	for deadline := time.Now().Add(5 * time.Second); len(rejects) < 3 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
		rejects = nil
		for _, f := range c.written() {
			if len(f) == 3 && f[0] == 0 && f[1] == 2 {
				rejects = append(rejects, f[2])
			}
		}
	}
	if string(rejects) != "\x02\x03\x02" {
		t.Fatalf("rejects %v", rejects)
	}
	c.in <- []byte{0, 1, 4, 1, 'x', 0}
	waitDone(t, m)
	if !errors.Is(m.Err(), ErrProtocol) {
		t.Fatalf("err %v", m.Err())
	}
}

// Frames fed in by the fuzzer: each is a uint16 length and that many bytes.
func splitFrames(data []byte) [][]byte {
	var out [][]byte
	for len(data) >= 2 && len(out) < 64 {
		n := int(binary.LittleEndian.Uint16(data))
		data = data[2:]
		n = min(n, len(data))
		out = append(out, data[:n])
		data = data[n:]
	}
	if len(data) > 0 {
		out = append(out, data)
	}
	return out
}

func frames(fs ...[]byte) []byte {
	var b []byte
	for _, f := range fs {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(f)))
		b = append(b, f...)
	}
	return b
}

func FuzzMux(f *testing.F) {
	f.Add(frames([]byte{1, 0, 'x'}))
	f.Add(frames([]byte{0, 1, 2, 1, 'p', 1, 7}, []byte{2, 0, 'h', 'i'}, []byte{0, 3, 2}))
	f.Add(frames([]byte{0, 0, 0, 6, 1, 2, 1, 'p', 1, 8, 0, 2, 2, 0, 'y', 3, 1, 1, 'a'}))
	f.Add(frames([]byte{0, 0, 0, 5, 0, 1, 2, 0, 'n'}, []byte{0, 2, 1}))
	f.Add(frames(nestedBatch(20)))
	f.Add(frames([]byte{0, 1, 2, 1, 'x', 0}, []byte{0, 1, 3, 1, 'p', 0}, []byte{3, 1, 2, 'o', 'k'}))
	f.Add(frames(cat(u64(1<<53), []byte{0}), []byte{0xfd, 1}))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, c, _ := hostileMux(t, nil)
		for _, fr := range splitFrames(data) {
			c.in <- fr
		}
		close(c.in) // EOF
		select {
		case <-m.Done():
		case <-time.After(10 * time.Second):
			t.Fatal("mux did not end after EOF")
		}
		if err := m.Err(); err != nil && !errors.Is(err, ErrProtocol) {
			t.Fatalf("unexpected error kind: %v", err)
		}
	})
}
