package compact

import (
	"bytes"
	"net/netip"
	"testing"
)

func TestSmoke(t *testing.T) {
	if b := Encode(Uint, 0xfd); !bytes.Equal(b, []byte{0xfd, 0xfd, 0}) {
		t.Fatal(b)
	}
	v, err := DecodeExact(Uint, []byte{0xfe, 1, 0, 1, 0})
	if err != nil || v != 0x10001 {
		t.Fatal(v, err)
	}
	b := Encode(IPv4Address, netip.MustParseAddrPort("1.2.3.4:258"))
	if !bytes.Equal(b, []byte{1, 2, 3, 4, 2, 1}) {
		t.Fatal(b)
	}
	if Encode(Fixed32, make([]byte, 31)) != nil {
		t.Fatal("fixed")
	}
	f := Frame(String)
	b = Encode(f, "hi")
	if !bytes.Equal(b, []byte{3, 2, 'h', 'i'}) {
		t.Fatal(b)
	}
}
