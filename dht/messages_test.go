package dht

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"reflect"
	"testing"
)

// Datagrams captured from dht-rpc 6.27.0: a bootstrapper at
// 127.0.0.1:45678 sending to and answering 127.0.0.1:44687.
var (
	jsBootID     = "48c4387dd7aef0dddd22c0c8eea6545710ca11ec5c3f604b8a344fe73834bb32"
	jsReqPing    = "0305b1ae7f0000018fae" + jsBootID + "00"
	jsReqUser    = "031bb2ae7f0000018fae" + jsBootID + "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd07abababababababababababababababababababababababababababababababab026869"
	jsResPing    = "130101007f0000018fae" + jsBootID
	jsResUser    = "131303007f0000018fae" + jsBootID + "9161c7d5f46fd836dfb953ee4c169dc9e74b08c1a84d4009db20c1f0292ac27304706f6e67"
	jsResUnknown = "130904007f0000018fae" + jsBootID + "01"
)

func unhex(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNodeIDMatchesJS(t *testing.T) {
	id := NodeID(netip.MustParseAddrPort("127.0.0.1:45678"))
	if hex.EncodeToString(id[:]) != jsBootID {
		t.Fatalf("id %x", id)
	}
}

func TestDecodeJSRequests(t *testing.T) {
	me := netip.MustParseAddrPort("127.0.0.1:44687")
	boot := netip.MustParseAddrPort("127.0.0.1:45678")
	bootID := NodeID(boot)

	b := unhex(t, jsReqPing)
	m, err := DecodeRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.TID != 0xaeb1 || m.To != me || m.ID == nil || *m.ID != bootID || !m.Internal || m.Command != CmdPing || m.Token != nil || m.Target != nil || m.Value != nil {
		t.Fatalf("ping %+v", m)
	}
	if got := AppendRequest(nil, m); !bytes.Equal(got, b) {
		t.Fatalf("re-encoded %x", got)
	}

	b = unhex(t, jsReqUser)
	m, err = DecodeRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	if m.Internal || m.Command != 7 || *m.Token != [32]byte(bytes.Repeat([]byte{0xcd}, 32)) || *m.Target != [32]byte(bytes.Repeat([]byte{0xab}, 32)) || string(m.Value) != "hi" {
		t.Fatalf("user %+v", m)
	}
	if got := AppendRequest(nil, m); !bytes.Equal(got, b) {
		t.Fatalf("re-encoded %x", got)
	}
}

func TestDecodeJSResponses(t *testing.T) {
	me := netip.MustParseAddrPort("127.0.0.1:44687")
	for _, c := range []struct {
		hex   string
		tid   uint16
		err   uint64
		value string
		token bool
	}{
		{jsResPing, 1, 0, "", false},
		{jsResUser, 3, 0, "pong", true},
		{jsResUnknown, 4, ErrCodeUnknownCommand, "", false},
	} {
		b := unhex(t, c.hex)
		m, err := DecodeResponse(b)
		if err != nil {
			t.Fatal(err)
		}
		if m.TID != c.tid || m.To != me || m.Error != c.err || string(m.Value) != c.value || (m.Token != nil) != c.token || m.ID == nil {
			t.Fatalf("%s: %+v", c.hex, m)
		}
		if got := AppendResponse(nil, m); !bytes.Equal(got, b) {
			t.Fatalf("re-encoded %x", got)
		}
	}
}

func TestMessageRoundTrip(t *testing.T) {
	id, tok, tgt := [32]byte{1}, [32]byte{2}, [32]byte{3}
	reqs := []*RequestMessage{
		{TID: 65535, To: netip.MustParseAddrPort("1.2.3.4:65535"), Command: 0},
		{TID: 7, To: netip.MustParseAddrPort("10.0.0.1:1"), ID: &id, Token: &tok, Internal: true, Command: 300, Target: &tgt, Value: []byte{}},
		{TID: 8, To: netip.MustParseAddrPort("10.0.0.1:1"), Command: 1 << 40, Value: bytes.Repeat([]byte{9}, 300)},
	}
	for _, m := range reqs {
		got, err := DecodeRequest(AppendRequest(nil, m))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("got %+v want %+v", got, m)
		}
	}
	res := []*ResponseMessage{
		{TID: 1, To: netip.MustParseAddrPort("1.2.3.4:5")},
		{TID: 2, To: netip.MustParseAddrPort("1.2.3.4:5"), ID: &id, Token: &tok, CloserNodes: []netip.AddrPort{netip.MustParseAddrPort("5.6.7.8:9"), netip.MustParseAddrPort("9.9.9.9:999")}, Error: 2, Value: []byte("x")},
	}
	for _, m := range res {
		got, err := DecodeResponse(AppendResponse(nil, m))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Fatalf("got %+v want %+v", got, m)
		}
	}
}

func TestDecodeRejectsTruncated(t *testing.T) {
	for _, s := range []string{jsReqPing, jsReqUser} {
		b := unhex(t, s)
		for i := 0; i < len(b); i++ {
			if _, err := DecodeRequest(b[:i]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("request cut at %d: %v", i, err)
			}
		}
	}
	for _, s := range []string{jsResPing, jsResUser, jsResUnknown} {
		b := unhex(t, s)
		for i := 0; i < len(b); i++ {
			if _, err := DecodeResponse(b[:i]); !errors.Is(err, ErrMalformed) {
				t.Fatalf("response cut at %d: %v", i, err)
			}
		}
	}
	if _, err := DecodeRequest(unhex(t, jsResPing)); err == nil {
		t.Fatal("response decoded as request")
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add(unhex(f, jsReqPing))
	f.Add(unhex(f, jsReqUser))
	f.Add([]byte{requestID, 0x1f, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeRequest(b)
		if err != nil {
			return
		}
		// re-encoding gives a message that decodes to the same value
		enc := AppendRequest(nil, m)
		m2, err := DecodeRequest(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("%+v != %+v", m, m2)
		}
	})
}

func FuzzDecodeResponse(f *testing.F) {
	f.Add(unhex(f, jsResPing))
	f.Add(unhex(f, jsResUser))
	f.Add(unhex(f, jsResUnknown))
	f.Add(AppendResponse(nil, &ResponseMessage{CloserNodes: []netip.AddrPort{netip.MustParseAddrPort("1.2.3.4:5")}, Error: 1}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeResponse(b)
		if err != nil {
			return
		}
		enc := AppendResponse(nil, m)
		m2, err := DecodeResponse(enc)
		if err != nil {
			t.Fatal(err)
		}
		if m.Error == 0 && len(m.CloserNodes) == 0 {
			// an explicit zero error or empty closer list is not re-encoded
			m.CloserNodes, m2.CloserNodes = nil, nil
		}
		if len(m.CloserNodes) == 0 {
			m.CloserNodes, m2.CloserNodes = nil, nil
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("%+v != %+v", m, m2)
		}
	})
}

// FuzzHandleDatagram feeds arbitrary datagrams to a live node: it must
// not panic and must keep answering.
func FuzzHandleDatagram(f *testing.F) {
	f.Add(unhex(f, jsReqPing))
	f.Add(unhex(f, jsReqUser))
	f.Add(unhex(f, jsResUser))
	f.Add(AppendRequest(nil, &RequestMessage{Internal: true, Command: CmdDownHint, Value: []byte{1, 2, 3, 4, 5, 6}}))
	f.Add(AppendRequest(nil, &RequestMessage{Internal: true, Command: CmdPingNAT, Value: []byte{1, 2}}))
	f.Add(AppendRequest(nil, &RequestMessage{Internal: true, Command: CmdDelayedPing, Value: []byte{1, 0, 0, 0}}))
	mn := newMemNet()
	n, err := New(&Config{Listen: mn.listen, RateLimit: -1})
	if err != nil {
		f.Fatal(err)
	}
	defer n.Close()
	src, _ := mn.listen(netip.AddrPort{})
	defer src.Close()
	f.Fuzz(func(t *testing.T, b []byte) {
		n.HandleDatagram(n.ServerSocket(), b, src.LocalAddr())
		n.HandleDatagram(n.ClientSocket(), b, netip.MustParseAddrPort("1.2.3.4:5"))
	})
}
