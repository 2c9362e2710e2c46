package hyperdrive

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Entries are JSON as hyperbee's "json" value encoding writes them, that is
// JSON.stringify. Go's encoding/json differs from it in small ways (it
// escapes <, >, &, U+2028 and U+2029, formats numbers its own way and keeps
// object keys in source order), so this file writes JSON exactly as
// JSON.stringify would: the bytes of an entry are the same whichever side
// wrote it.

// appendJSString appends s as JSON.stringify quotes a string. Invalid UTF-8
// becomes U+FFFD, as it would have in a JS string.
func appendJSString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"':
				b = append(b, '\\', '"')
			case c == '\\':
				b = append(b, '\\', '\\')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			b = utf8.AppendRune(b, utf8.RuneError)
		} else {
			b = append(b, s[i:i+n]...)
		}
		i += n
	}
	return append(b, '"')
}

// appendJSNumber appends f as JS's Number.prototype.toString writes it
// (JSON.stringify writes non-finite numbers as null).
func appendJSNumber(b []byte, f float64) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return append(b, "null"...)
	}
	if f == 0 {
		return append(b, '0')
	}
	if f < 0 {
		b = append(b, '-')
		f = -f
	}
	// Shortest round-trip digits and the decimal exponent n, such that
	// f = 0.d1d2...dk × 10^n.
	e := strconv.FormatFloat(f, 'e', -1, 64) // d.ddde±xx
	mant, exp, _ := strings.Cut(e, "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	n := x + 1
	k := len(digits)
	switch {
	case k <= n && n <= 21:
		b = append(b, digits...)
		for range n - k {
			b = append(b, '0')
		}
	case 0 < n && n <= 21:
		b = append(b, digits[:n]...)
		b = append(b, '.')
		b = append(b, digits[n:]...)
	case -6 < n && n <= 0:
		b = append(b, '0', '.')
		for range -n {
			b = append(b, '0')
		}
		b = append(b, digits...)
	default:
		b = append(b, digits[0])
		if k > 1 {
			b = append(b, '.')
			b = append(b, digits[1:]...)
		}
		b = append(b, 'e')
		if n-1 >= 0 {
			b = append(b, '+')
		}
		b = strconv.AppendInt(b, int64(n-1), 10)
	}
	return b
}

// canonicalJSON returns JSON.stringify(JSON.parse(raw)): the bytes a JS
// peer writes for the value raw holds.
func canonicalJSON(raw []byte) ([]byte, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	out, err := appendCanonical(nil, d, 0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("trailing data after JSON value")
	}
	return out, nil
}

const maxJSONDepth = 512

type jsMember struct {
	key string
	val []byte
}

func appendCanonical(b []byte, d *json.Decoder, depth int) ([]byte, error) {
	if depth > maxJSONDepth {
		return nil, errors.New("JSON nested too deeply")
	}
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	switch v := t.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case string:
		return appendJSString(b, v), nil
	case json.Number:
		f, err := strconv.ParseFloat(string(v), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, err
		}
		return appendJSNumber(b, f), nil
	case json.Delim:
		switch v {
		case '[':
			b = append(b, '[')
			for i := 0; d.More(); i++ {
				if i > 0 {
					b = append(b, ',')
				}
				if b, err = appendCanonical(b, d, depth+1); err != nil {
					return nil, err
				}
			}
			if _, err := d.Token(); err != nil {
				return nil, err
			}
			return append(b, ']'), nil
		case '{':
			var members []jsMember
			pos := map[string]int{}
			for d.More() {
				kt, err := d.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				val, err := appendCanonical(nil, d, depth+1)
				if err != nil {
					return nil, err
				}
				// A repeated key keeps its first place and its last value.
				if i, ok := pos[k]; ok {
					members[i].val = val
					continue
				}
				pos[k] = len(members)
				members = append(members, jsMember{k, val})
			}
			if _, err := d.Token(); err != nil {
				return nil, err
			}
			// JS objects list array-index keys first, in ascending order.
			sort.SliceStable(members, func(i, j int) bool {
				ai, aok := arrayIndex(members[i].key)
				bi, bok := arrayIndex(members[j].key)
				if aok && bok {
					return ai < bi
				}
				return aok && !bok
			})
			b = append(b, '{')
			for i, m := range members {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendJSString(b, m.key)
				b = append(b, ':')
				b = append(b, m.val...)
			}
			return append(b, '}'), nil
		}
	}
	return nil, fmt.Errorf("unexpected JSON token %v", t)
}

// arrayIndex reports whether k is a canonical array index (0 .. 2^32-2).
func arrayIndex(k string) (uint64, bool) {
	if k == "" || len(k) > 10 || (len(k) > 1 && k[0] == '0') {
		return 0, false
	}
	n, err := strconv.ParseUint(k, 10, 64)
	if err != nil || n >= 1<<32-1 {
		return 0, false
	}
	return n, true
}
