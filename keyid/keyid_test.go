package keyid

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func TestZBase32Vectors(t *testing.T) {
	// Values checked against npm z32.
	for _, c := range []struct {
		in  []byte
		out string
	}{
		{nil, ""},
		{[]byte{0}, "yy"},
		{[]byte{0xff}, "9h"},
		{[]byte("hello"), "pb1sa5dx"},
		{[]byte{0xf0, 0xbf, 0xc7}, "6n9hq"},
		{[]byte{0xd4, 0x7a, 0x04}, "4t7ye"},
	} {
		if got := ZBase32Encode(c.in); got != c.out {
			t.Errorf("encode %x = %q, want %q", c.in, got, c.out)
		}
		got, err := ZBase32Decode(c.out)
		if err != nil || !bytes.Equal(got, c.in) && len(c.in) > 0 {
			t.Errorf("decode %q = %x, %v", c.out, got, err)
		}
	}
}

func TestZBase32DecodeLengths(t *testing.T) {
	// z32 yields these many bytes for each count of leftover characters.
	want := []int{0, 1, 1, 2, 2, 3, 4, 4, 5, 6}
	for n, w := range want {
		b, err := ZBase32Decode(strings.Repeat("9", n))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != w {
			t.Errorf("%d characters gave %d bytes, want %d", n, len(b), w)
		}
	}
	// A lone character still produces a byte: its five bits, then zeros.
	if b, _ := ZBase32Decode("9"); b[0] != 0xf8 {
		t.Errorf("decode 9 = %x", b)
	}
	// Bits past the last byte are ignored: 'yn' and 'yy' both give 0x00.
	if b, _ := ZBase32Decode("yn"); !bytes.Equal(b, []byte{0}) {
		t.Errorf("decode yn = %x", b)
	}
}

func TestZBase32Invalid(t *testing.T) {
	for _, s := range []string{"Y", "yyyyyyyl", "0", "yy v", "yy\x00", "y\xff", "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyé"} {
		_, err := ZBase32Decode(s)
		if !errors.Is(err, ErrInvalidCharacter) {
			t.Errorf("decode %q: %v", s, err)
		}
	}
	_, err := ZBase32Decode("yyyL")
	if err == nil || !strings.Contains(err.Error(), "position 3") {
		t.Errorf("error does not name the position: %v", err)
	}
}

func TestZBase32RoundTrip(t *testing.T) {
	for n := 0; n < 70; n++ {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i*37 + n)
		}
		s := ZBase32Encode(b)
		if len(s) != (8*n+4)/5 {
			t.Fatalf("%d bytes encode to %d characters", n, len(s))
		}
		got, err := ZBase32Decode(s)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("round trip of %d bytes: %x, %v", n, got, err)
		}
	}
}

var sampleKey = func() []byte {
	b := make([]byte, 32)
	for i := range b {
		b[i] = byte(i * 9)
	}
	return b
}()

func TestEncodeDecode(t *testing.T) {
	id, err := Encode(sampleKey)
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 52 {
		t.Fatalf("id %q", id)
	}
	for _, s := range []string{
		id,
		"pear://" + id,
		"pear://" + id + "/some/path",
		hex.EncodeToString(sampleKey),
		strings.ToUpper(hex.EncodeToString(sampleKey)),
		"pear://" + hex.EncodeToString(sampleKey) + "/",
	} {
		got, err := Decode(s)
		if err != nil || !bytes.Equal(got, sampleKey) {
			t.Errorf("decode %q = %x, %v", s, got, err)
		}
		if n, err := Normalize(s); err != nil || n != id {
			t.Errorf("normalize %q = %q, %v", s, n, err)
		}
		if !IsValid(s) {
			t.Errorf("%q not valid", s)
		}
	}
	for _, n := range []int{0, 31, 33} {
		if _, err := Encode(make([]byte, n)); !errors.Is(err, ErrKeySize) {
			t.Errorf("encode %d bytes: %v", n, err)
		}
	}
}

func TestDecodeInvalid(t *testing.T) {
	id, _ := Encode(sampleKey)
	hx := hex.EncodeToString(sampleKey)
	for _, s := range []string{
		"",
		id[:51],
		id + "y",
		strings.ToUpper(id),
		"PEAR://" + id,
		"pear:/" + id,
		" " + id[1:],
		hx[:63],
		hx + "0",
		hx[:63] + "g",
		"0x" + hx[2:],
		"pear://",
		"pear:///" + id,
	} {
		if _, err := Decode(s); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("decode %q: %v", s, err)
		}
		if IsValid(s) {
			t.Errorf("%q valid", s)
		}
		if _, err := Normalize(s); err == nil {
			t.Errorf("normalize %q succeeded", s)
		}
	}
	_, err := Decode(strings.ToUpper(id))
	if !errors.Is(err, ErrInvalidCharacter) {
		t.Errorf("upper case z32 error %v does not match ErrInvalidCharacter", err)
	}
	// Non-canonical trailing bits are accepted, as by JavaScript.
	last := strings.IndexByte(Alphabet, id[51])
	alt := id[:51] + string(Alphabet[last^1])
	if got, err := Decode(alt); err != nil || !bytes.Equal(got, sampleKey) {
		t.Errorf("decode with other trailing bit: %x, %v", got, err)
	}
}

func FuzzZBase32Decode(f *testing.F) {
	for _, s := range []string{"", "y", "9h", "pb1sa5dx", "yyyL", "ybndrfg8ejkmcpqxot1uwisza345h769", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := ZBase32Decode(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidCharacter) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		want := len(s)/8*5 + []int{0, 1, 1, 2, 2, 3, 4, 4}[len(s)%8]
		if len(b) != want {
			t.Fatalf("%d characters gave %d bytes", len(s), len(b))
		}
		// Encoding any bytes and decoding gives them back.
		back, err := ZBase32Decode(ZBase32Encode(b))
		if err != nil || !bytes.Equal(back, b) {
			t.Fatalf("round trip of %x: %x, %v", b, back, err)
		}
	})
}

func FuzzDecode(f *testing.F) {
	id, _ := Encode(sampleKey)
	for _, s := range []string{id, "pear://" + id + "/x", hex.EncodeToString(sampleKey), "", "pear://", strings.ToUpper(id)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		key, err := Decode(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("error %v is not ErrInvalidKey", err)
			}
			return
		}
		if len(key) != KeySize {
			t.Fatalf("decoded %d bytes", len(key))
		}
		n, err := Normalize(s)
		if err != nil {
			t.Fatal(err)
		}
		again, err := Decode(n)
		if err != nil || !bytes.Equal(again, key) {
			t.Fatalf("normalized id %q decodes to %x, %v", n, again, err)
		}
	})
}

func BenchmarkDecode(b *testing.B) {
	id, _ := Encode(sampleKey)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(id); err != nil {
			b.Fatal(err)
		}
	}
}
