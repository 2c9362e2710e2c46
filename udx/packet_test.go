package udx

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"testing"
)

func TestHeaderBytes(t *testing.T) {
	h := Header{Type: FlagData | FlagEnd, StreamID: 0x01020304, Window: 4 << 20, Seq: 7, Ack: 0xfffffffe}
	got := hex.EncodeToString(h.Append(nil))
	want := "ff01030004030201" + "00004000" + "07000000" + "feffffff"
	if got != want {
		t.Fatalf("header = %s, want %s", got, want)
	}
	var d Header
	if err := d.Decode(h.Append(nil)); err != nil || d != h {
		t.Fatalf("decode = %+v %v", d, err)
	}
}

func TestPacketSACKAndPayload(t *testing.T) {
	sacks := []SACK{{3, 5}, {9, 12}}
	b := AppendPacket(nil, Header{StreamID: 1, Seq: 2, Ack: 3}, sacks, nil)
	if len(b) != HeaderSize+16 || b[2] != FlagSACK {
		t.Fatalf("len %d type %x", len(b), b[2])
	}
	var p Packet
	if err := p.Decode(b); err != nil {
		t.Fatal(err)
	}
	if got := p.SACKs(); len(got) != 2 || got[0] != sacks[0] || got[1] != sacks[1] {
		t.Fatalf("sacks %v", got)
	}
	// Padded data packet: the payload starts after the data offset.
	b = AppendPacket(nil, Header{Type: FlagData, DataOffset: 5}, nil, []byte("hello"))
	if err := p.Decode(b); err != nil || string(p.Payload) != "hello" || len(b) != HeaderSize+10 {
		t.Fatalf("payload %q err %v", p.Payload, err)
	}
}

func TestPacketErrors(t *testing.T) {
	var p Packet
	if err := p.Decode(make([]byte, 19)); !errors.Is(err, ErrShortPacket) {
		t.Fatal(err)
	}
	b := AppendPacket(nil, Header{Type: FlagData}, nil, nil)
	b[1] = 2
	if err := p.Decode(b); !errors.Is(err, ErrNotUDX) {
		t.Fatal(err)
	}
	b[1] = 1
	b[3] = 1
	if err := p.Decode(b); !errors.Is(err, ErrBadOffset) {
		t.Fatal(err)
	}
}

func FuzzPacketDecode(f *testing.F) {
	f.Add(AppendPacket(nil, Header{Type: FlagData, StreamID: 1, Seq: 1}, nil, []byte("data")))
	f.Add(AppendPacket(nil, Header{StreamID: 9, Ack: 4}, []SACK{{5, 6}, {8, 10}}, nil))
	f.Add(AppendPacket(nil, Header{Type: FlagData | FlagEnd, DataOffset: 3}, nil, []byte("x")))
	f.Add([]byte{0xff, 1, 0xff, 0xff})
	f.Add(bytes.Repeat([]byte{0xff}, 64))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Packet
		err := p.Decode(b)
		if err != nil {
			if err != ErrBadOffset {
				return
			}
		}
		// The header round-trips byte for byte.
		if got := p.Header.Append(nil); !bytes.Equal(got, b[:HeaderSize]) {
			t.Fatalf("header round trip %x != %x", got, b[:HeaderSize])
		}
		n := p.NumSACKs()
		if n*8 > len(b)-HeaderSize {
			t.Fatalf("%d sacks in %d bytes", n, len(b))
		}
		for i := 0; i < n; i++ {
			_ = p.SACK(i)
		}
		if err == nil {
			if len(p.Payload) != len(b)-HeaderSize-int(p.DataOffset) {
				t.Fatal("payload length")
			}
			// Re-encoding a SACK-free packet gives the same bytes when the
			// padding is zeros.
			if p.Type&FlagSACK == 0 && allZero(b[HeaderSize:HeaderSize+int(p.DataOffset)]) {
				if got := AppendPacket(nil, p.Header, nil, p.Payload); !bytes.Equal(got, b) {
					t.Fatalf("round trip %x != %x", got, b)
				}
			}
		}
	})
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// FuzzStreamPackets feeds arbitrary packets to a live stream with data in
// flight: nothing may panic, and the stream's invariants hold.
func FuzzStreamPackets(f *testing.F) {
	f.Add(AppendPacket(nil, Header{Type: FlagData, StreamID: 1, Seq: 0, Ack: 3}, nil, []byte("x")))
	f.Add(AppendPacket(nil, Header{StreamID: 1, Ack: 2, Window: 0}, []SACK{{4, 9}, {1, 3}}, nil))
	f.Add(AppendPacket(nil, Header{Type: FlagEnd | FlagData, StreamID: 1, Seq: 1}, nil, []byte("end")))
	f.Add(AppendPacket(nil, Header{Type: FlagHeartbeat | FlagMessage, StreamID: 1}, nil, []byte("m")))
	f.Add(AppendPacket(nil, Header{Type: FlagDestroy, StreamID: 1, Seq: 5}, nil, nil))
	u := New(nil)
	a, b := listenTest(f, u, nil), listenTest(f, u, nil)
	var s *Stream
	next := uint32(1)
	fresh := func() {
		next++
		var err error
		s, err = Connect(a, next, 1, b.LocalAddr(), nil)
		if err != nil {
			f.Fatal(err)
		}
		s.Write(make([]byte, 20000))
	}
	fresh()
	f.Fuzz(func(t *testing.T, b []byte) {
		if s.Err() != nil || isClosed(s.closedCh) {
			fresh()
		}
		// the input may hold several packets, split at 0xff 0x01 markers
		for len(b) > 0 {
			n := HeaderSize + int(b[0])%64
			if n > len(b) {
				n = len(b)
			}
			var p Packet
			if p.Decode(b[:n]) == nil {
				s.mu.Lock()
				if !s.closed {
					s.process(&p)
					if s.inflight < 0 || s.queuedBytes < 0 || s.inflightQ.n < 0 || s.sacks < 0 {
						t.Fatalf("bad state: inflight %d queued %d", s.inflight, s.queuedBytes)
					}
				}
				s.unlock()
			}
			b = b[n:]
		}
	})
}

func TestSupersededAck(t *testing.T) {
	from := netip.MustParseAddrPort("127.0.0.1:1000")
	ack := func(id, seq, ackN uint32, typ uint8) datagram {
		h := Header{Type: typ, StreamID: id, Window: 1 << 20, Seq: seq, Ack: ackN}
		return datagram{h.Append(nil), from}
	}
	a := ack(7, 100, 50, 0)
	cases := []struct {
		name string
		b    datagram
		want bool
	}{
		{"newer ack", ack(7, 100, 51, 0), true},
		{"same ack", ack(7, 100, 50, 0), true},
		{"older ack", ack(7, 100, 49, 0), false},
		{"older seq", ack(7, 99, 51, 0), false},
		{"other stream", ack(8, 100, 51, 0), false},
		{"other sender", datagram{ack(7, 100, 51, 0).b, netip.MustParseAddrPort("127.0.0.1:1001")}, false},
		{"data packet", datagram{append(ack(7, 100, 51, FlagData).b, 'x'), from}, false},
		{"end flag", ack(7, 100, 51, FlagEnd), false},
		{"with SACK", datagram{AppendPacket(nil, Header{Type: FlagSACK, StreamID: 7, Seq: 100, Ack: 51}, []SACK{{53, 54}}, nil), from}, false},
		{"not UDX", datagram{make([]byte, HeaderSize), from}, false},
	}
	for _, c := range cases {
		if got := supersededAck(a, c.b); got != c.want {
			t.Errorf("%s: got %v", c.name, got)
		}
	}
	// a SACK-carrying ack is never skipped itself
	s := datagram{AppendPacket(nil, Header{Type: FlagSACK, StreamID: 7, Seq: 100, Ack: 50}, []SACK{{53, 54}}, nil), from}
	if supersededAck(s, ack(7, 100, 51, 0)) {
		t.Error("SACK ack skipped")
	}
}
