// Package keyid is the text form of Holepunch keys: z-base-32 as the npm
// module z32 writes it, and the 32-byte key ids of hypercore-id-encoding,
// which read z-base-32 or hex.
package keyid

import (
	"errors"
	"fmt"
)

// Alphabet is the z-base-32 alphabet, lower case only.
const Alphabet = "ybndrfg8ejkmcpqxot1uwisza345h769"

// ErrInvalidCharacter is returned (wrapped, with its position) for a
// character outside the z-base-32 alphabet. Upper case is invalid.
var ErrInvalidCharacter = errors.New("keyid: invalid character in base32 input")

// reverse maps a byte to its 5-bit value, or -1.
var reverse = func() (r [256]int8) {
	for i := range r {
		r[i] = -1
	}
	for i := 0; i < len(Alphabet); i++ {
		r[Alphabet[i]] = int8(i)
	}
	return r
}()

// ZBase32Encode returns the z-base-32 text of b: one character per 5 bits,
// the last one padded with zero bits, no padding characters.
func ZBase32Encode(b []byte) string {
	out := make([]byte, (len(b)*8+4)/5)
	var acc uint32
	bits := 0
	j := 0
	for _, c := range b {
		acc = acc<<8 | uint32(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			out[j] = Alphabet[(acc>>bits)&31]
			j++
		}
	}
	if bits > 0 {
		out[j] = Alphabet[(acc<<(5-bits))&31]
	}
	return string(out)
}

// tailBytes is how many bytes z32 decodes from a final group of r
// characters (r = len mod 8). It is not always len*5/8 rounded either way:
// one character alone still yields a byte, as do three and six an extra one.
var tailBytes = [8]int{0, 1, 1, 2, 2, 3, 4, 4}

// ZBase32Decode decodes z-base-32 text of any length as z32 does. Every
// character must be in Alphabet; bits left over past the last whole byte
// are ignored, and missing ones read as zero.
func ZBase32Decode(s string) ([]byte, error) {
	q, r := len(s)/8, len(s)%8
	out := make([]byte, 0, 5*q+5)
	var group [8]byte
	for g := 0; g*8 < len(s); g++ {
		chunk := s[g*8 : min(g*8+8, len(s))]
		group = [8]byte{}
		for i := 0; i < len(chunk); i++ {
			v := reverse[chunk[i]]
			if v < 0 {
				return nil, fmt.Errorf("%w: %q at position %d", ErrInvalidCharacter, chunk[i], g*8+i)
			}
			group[i] = byte(v)
		}
		a, b, c, d, e, f, gg, h := group[0], group[1], group[2], group[3], group[4], group[5], group[6], group[7]
		out = append(out,
			a<<3|b>>2,
			b<<6|c<<1|d>>4,
			d<<4|e>>1,
			e<<7|f<<2|gg>>3,
			gg<<5|h)
	}
	return out[:5*q+tailBytes[r]], nil
}
