package hyperbee

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrDecode reports a block that is not a valid hyperbee message. Blocks come
// from peers, so every decoder returns it (wrapped) instead of panicking.
var ErrDecode = errors.New("hyperbee: malformed block")

// Protocol is the protocol name stored in the header block (block 0).
const Protocol = "hyperbee"

// protobuf wire types used by hyperbee's messages.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// Metadata is the optional metadata of a header: hyperdrive stores its blobs
// core key in ContentFeed. Nil fields are absent on the wire.
type Metadata struct {
	ContentFeed []byte
	UserData    []byte
}

// Header is block 0 of every bee.
type Header struct {
	Protocol string
	Metadata *Metadata // nil when absent
}

// Level is one B-tree node inside a block's index: the sequence numbers of
// its keys and, for inner nodes, (seq, offset) pairs locating each child as
// level offset inside block seq, flattened.
type Level struct {
	Keys     []uint64
	Children []uint64
}

// Index is the decoded index of a block (the "YoloIndex"): level 0 is the
// root of the tree at this version, the others are nodes rewritten by it.
type Index struct {
	Levels []Level
}

// Node is a decoded tree block: the key written, its value (nil when the
// block deletes the key or was put without a value) and the encoded index.
type Node struct {
	Index []byte
	Key   []byte
	Value []byte // nil means absent; a present empty value is non-nil
}

func appendVarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }

func appendBytesField(b []byte, tag byte, v []byte) []byte {
	b = append(b, tag)
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// EncodeHeader encodes a header block.
func EncodeHeader(h *Header) []byte {
	b := appendBytesField(nil, 0x0a, []byte(h.Protocol))
	if h.Metadata != nil {
		var m []byte
		if h.Metadata.ContentFeed != nil {
			m = appendBytesField(m, 0x0a, h.Metadata.ContentFeed)
		}
		if h.Metadata.UserData != nil {
			m = appendBytesField(m, 0x12, h.Metadata.UserData)
		}
		b = appendBytesField(b, 0x12, m)
	}
	return b
}

// EncodeNode encodes a tree block.
func EncodeNode(n *Node) []byte {
	size := 3 + len(n.Index) + len(n.Key) + len(n.Value) + 15
	b := make([]byte, 0, size)
	b = appendBytesField(b, 0x0a, n.Index)
	b = appendBytesField(b, 0x12, n.Key)
	if n.Value != nil {
		b = appendBytesField(b, 0x1a, n.Value)
	}
	return b
}

// EncodeIndex encodes a block index with packed varint keys and children.
func EncodeIndex(ix *Index) []byte {
	var b []byte
	for _, l := range ix.Levels {
		b = append(b, 0x0a)
		b = appendVarint(b, uint64(levelLen(&l)))
		b = appendLevel(b, &l)
	}
	return b
}

func packedLen(vs []uint64) int {
	n := 0
	for _, v := range vs {
		n += varintLen(v)
	}
	return n
}

func levelLen(l *Level) int {
	n := 0
	if p := packedLen(l.Keys); p > 0 {
		n += 1 + varintLen(uint64(p)) + p
	}
	if p := packedLen(l.Children); p > 0 {
		n += 1 + varintLen(uint64(p)) + p
	}
	return n
}

func appendLevel(b []byte, l *Level) []byte {
	if p := packedLen(l.Keys); p > 0 {
		b = append(b, 0x0a)
		b = appendVarint(b, uint64(p))
		for _, v := range l.Keys {
			b = appendVarint(b, v)
		}
	}
	if p := packedLen(l.Children); p > 0 {
		b = append(b, 0x12)
		b = appendVarint(b, uint64(p))
		for _, v := range l.Children {
			b = appendVarint(b, v)
		}
	}
	return b
}

// reader walks a protobuf message without ever reading past its end.
type reader struct {
	b   []byte
	off int
}

func (r *reader) done() bool { return r.off >= len(r.b) }

func (r *reader) varint() (uint64, error) {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		return 0, fmt.Errorf("%w: bad varint at %d", ErrDecode, r.off)
	}
	r.off += n
	return v, nil
}

// field reads a field key and returns its tag and wire type.
func (r *reader) field() (tag uint64, wire int, err error) {
	k, err := r.varint()
	if err != nil {
		return 0, 0, err
	}
	return k >> 3, int(k & 7), nil
}

// bytes reads a length-delimited payload. The result aliases the input.
func (r *reader) bytes() ([]byte, error) {
	n, err := r.varint()
	if err != nil {
		return nil, err
	}
	if n > uint64(len(r.b)-r.off) {
		return nil, fmt.Errorf("%w: length %d past end", ErrDecode, n)
	}
	v := r.b[r.off : r.off+int(n) : r.off+int(n)]
	r.off += int(n)
	return v, nil
}

// skip steps over a field of an unknown tag.
func (r *reader) skip(wire int) error {
	switch wire {
	case wireVarint:
		_, err := r.varint()
		return err
	case wireFixed64, wireFixed32:
		n := 8
		if wire == wireFixed32 {
			n = 4
		}
		if len(r.b)-r.off < n {
			return fmt.Errorf("%w: truncated fixed field", ErrDecode)
		}
		r.off += n
		return nil
	case wireBytes:
		_, err := r.bytes()
		return err
	}
	return fmt.Errorf("%w: unsupported wire type %d", ErrDecode, wire)
}

// expectBytes checks a known field has the length-delimited wire type.
func expectBytes(tag uint64, wire int) error {
	if wire != wireBytes {
		return fmt.Errorf("%w: field %d has wire type %d", ErrDecode, tag, wire)
	}
	return nil
}

// DecodeHeader decodes block 0. It does not check the protocol name.
func DecodeHeader(b []byte) (*Header, error) {
	r := reader{b: b}
	h := &Header{}
	found := false
	for !r.done() {
		tag, wire, err := r.field()
		if err != nil {
			return nil, err
		}
		switch tag {
		case 1, 2:
			if err := expectBytes(tag, wire); err != nil {
				return nil, err
			}
			v, err := r.bytes()
			if err != nil {
				return nil, err
			}
			if tag == 1 {
				h.Protocol = string(v)
				found = true
			} else if h.Metadata, err = decodeMetadata(v); err != nil {
				return nil, err
			}
		default:
			if err := r.skip(wire); err != nil {
				return nil, err
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("%w: header without protocol", ErrDecode)
	}
	return h, nil
}

func decodeMetadata(b []byte) (*Metadata, error) {
	r := reader{b: b}
	m := &Metadata{}
	for !r.done() {
		tag, wire, err := r.field()
		if err != nil {
			return nil, err
		}
		switch tag {
		case 1, 2:
			if err := expectBytes(tag, wire); err != nil {
				return nil, err
			}
			v, err := r.bytes()
			if err != nil {
				return nil, err
			}
			if tag == 1 {
				m.ContentFeed = v
			} else {
				m.UserData = v
			}
		default:
			if err := r.skip(wire); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// DecodeNode decodes a tree block. Index, Key and Value alias b.
func DecodeNode(b []byte) (*Node, error) {
	r := reader{b: b}
	n := &Node{}
	var haveIndex, haveKey bool
	for !r.done() {
		tag, wire, err := r.field()
		if err != nil {
			return nil, err
		}
		switch tag {
		case 1, 2, 3:
			if err := expectBytes(tag, wire); err != nil {
				return nil, err
			}
			v, err := r.bytes()
			if err != nil {
				return nil, err
			}
			switch tag {
			case 1:
				n.Index, haveIndex = v, true
			case 2:
				n.Key, haveKey = v, true
			case 3:
				n.Value = v
			}
		default:
			if err := r.skip(wire); err != nil {
				return nil, err
			}
		}
	}
	if !haveIndex || !haveKey {
		return nil, fmt.Errorf("%w: node without index or key", ErrDecode)
	}
	return n, nil
}

// DecodeIndex decodes a block index. Every varint takes at least one input
// byte, so the result is never larger than the input allows.
func DecodeIndex(b []byte) (*Index, error) {
	r := reader{b: b}
	ix := &Index{}
	for !r.done() {
		tag, wire, err := r.field()
		if err != nil {
			return nil, err
		}
		if tag != 1 {
			if err := r.skip(wire); err != nil {
				return nil, err
			}
			continue
		}
		if err := expectBytes(tag, wire); err != nil {
			return nil, err
		}
		v, err := r.bytes()
		if err != nil {
			return nil, err
		}
		l, err := decodeLevel(v)
		if err != nil {
			return nil, err
		}
		ix.Levels = append(ix.Levels, l)
	}
	return ix, nil
}

func decodeLevel(b []byte) (Level, error) {
	r := reader{b: b}
	var l Level
	for !r.done() {
		tag, wire, err := r.field()
		if err != nil {
			return l, err
		}
		if tag != 1 && tag != 2 {
			if err := r.skip(wire); err != nil {
				return l, err
			}
			continue
		}
		if err := expectBytes(tag, wire); err != nil {
			return l, err
		}
		v, err := r.bytes()
		if err != nil {
			return l, err
		}
		// Each varint ends in one byte below 0x80: size the list once.
		n := 0
		for _, c := range v {
			if c < 0x80 {
				n++
			}
		}
		list := make([]uint64, 0, n)
		pr := reader{b: v}
		for !pr.done() {
			x, err := pr.varint()
			if err != nil {
				return l, err
			}
			list = append(list, x)
		}
		dst := &l.Keys
		if tag == 2 {
			dst = &l.Children
		}
		if *dst == nil {
			*dst = list
		} else {
			*dst = append(*dst, list...)
		}
	}
	return l, nil
}
