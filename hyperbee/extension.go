package hyperbee

import "fmt"

// ExtensionName is the hypercore extension hyperbee registers to ask peers
// to prefetch the blocks a get or an iteration will need.
const ExtensionName = "hyperbee"

// ExtensionMessage is one message of the "hyperbee" extension: a request
// to resolve a get or an iteration remotely (Get, Iterator), or the answer,
// a list of blocks worth downloading (Cache). Nil parts are absent.
type ExtensionMessage struct {
	Cache    *ExtCache
	Get      *ExtGet
	Iterator *ExtIterator
}

// ExtCache lists blocks in [Start, End) a peer should download.
type ExtCache struct {
	Start, End uint64
	Blocks     []uint64
}

// ExtGet asks for the blocks a get of Key at Version touches.
type ExtGet struct {
	Version uint64
	Key     []byte // nil: absent
}

// ExtIterator asks for the blocks a range iteration at Version touches,
// resuming at Checkpoint (seq, offset, position triples). Limit 0 means
// no limit.
type ExtIterator struct {
	Version          uint64
	GTE, GT, LTE, LT []byte // nil: absent
	Limit            uint64
	Reverse          bool
	Checkpoint       []uint64
}

func appendVarintField(b []byte, tag byte, v uint64) []byte {
	return appendVarint(append(b, tag), v)
}

func appendPacked(b []byte, tag byte, vs []uint64) []byte {
	p := packedLen(vs)
	if p == 0 {
		return b
	}
	b = appendVarintField(b, tag, uint64(p))
	for _, v := range vs {
		b = appendVarint(b, v)
	}
	return b
}

func appendOptBytes(b []byte, tag byte, v []byte) []byte {
	if v == nil {
		return b
	}
	return appendBytesField(b, tag, v)
}

// EncodeExtension encodes an extension message as hyperbee does.
func EncodeExtension(m *ExtensionMessage) []byte {
	var b []byte
	if c := m.Cache; c != nil {
		var s []byte
		s = appendVarintField(s, 0x08, c.Start)
		s = appendVarintField(s, 0x10, c.End)
		s = appendPacked(s, 0x1a, c.Blocks)
		b = appendBytesField(b, 0x0a, s)
	}
	if g := m.Get; g != nil {
		var s []byte
		s = appendVarintField(s, 0x08, g.Version)
		s = appendOptBytes(s, 0x12, g.Key)
		b = appendBytesField(b, 0x12, s)
	}
	if it := m.Iterator; it != nil {
		var s []byte
		s = appendVarintField(s, 0x08, it.Version)
		s = appendOptBytes(s, 0x12, it.GTE)
		s = appendOptBytes(s, 0x1a, it.GT)
		s = appendOptBytes(s, 0x22, it.LTE)
		s = appendOptBytes(s, 0x2a, it.LT)
		s = appendVarintField(s, 0x30, it.Limit)
		rev := uint64(0)
		if it.Reverse {
			rev = 1
		}
		s = appendVarintField(s, 0x38, rev)
		s = appendPacked(s, 0x42, it.Checkpoint)
		b = appendBytesField(b, 0x1a, s)
	}
	return b
}

// field reads the next field of a message, handing known tags to f, which
// reports whether it consumed the field.
func eachField(b []byte, f func(r *reader, tag uint64, wire int) (bool, error)) error {
	r := reader{b: b}
	for !r.done() {
		tag, wire, err := r.field()
		if err != nil {
			return err
		}
		ok, err := f(&r, tag, wire)
		if err != nil {
			return err
		}
		if !ok {
			if err := r.skip(wire); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *reader) varintField(tag uint64, wire int) (uint64, error) {
	if wire != wireVarint {
		return 0, fmt.Errorf("%w: field %d has wire type %d", ErrDecode, tag, wire)
	}
	return r.varint()
}

func (r *reader) bytesField(tag uint64, wire int) ([]byte, error) {
	if err := expectBytes(tag, wire); err != nil {
		return nil, err
	}
	return r.bytes()
}

func (r *reader) packedField(tag uint64, wire int, into []uint64) ([]uint64, error) {
	v, err := r.bytesField(tag, wire)
	if err != nil {
		return nil, err
	}
	pr := reader{b: v}
	for !pr.done() {
		x, err := pr.varint()
		if err != nil {
			return nil, err
		}
		into = append(into, x)
	}
	return into, nil
}

// DecodeExtension decodes an extension message from a peer.
func DecodeExtension(b []byte) (*ExtensionMessage, error) {
	m := &ExtensionMessage{}
	err := eachField(b, func(r *reader, tag uint64, wire int) (bool, error) {
		if tag < 1 || tag > 3 {
			return false, nil
		}
		v, err := r.bytesField(tag, wire)
		if err != nil {
			return true, err
		}
		switch tag {
		case 1:
			m.Cache, err = decodeExtCache(v)
		case 2:
			m.Get, err = decodeExtGet(v)
		case 3:
			m.Iterator, err = decodeExtIterator(v)
		}
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return m, nil
}

func decodeExtCache(b []byte) (*ExtCache, error) {
	c := &ExtCache{}
	var haveStart, haveEnd bool
	err := eachField(b, func(r *reader, tag uint64, wire int) (bool, error) {
		var err error
		switch tag {
		case 1:
			c.Start, err = r.varintField(tag, wire)
			haveStart = true
		case 2:
			c.End, err = r.varintField(tag, wire)
			haveEnd = true
		case 3:
			c.Blocks, err = r.packedField(tag, wire, c.Blocks)
		default:
			return false, nil
		}
		return true, err
	})
	if err == nil && (!haveStart || !haveEnd) {
		err = fmt.Errorf("%w: cache without start or end", ErrDecode)
	}
	if err != nil {
		return nil, err
	}
	return c, nil
}

func decodeExtGet(b []byte) (*ExtGet, error) {
	g := &ExtGet{}
	err := eachField(b, func(r *reader, tag uint64, wire int) (bool, error) {
		var err error
		switch tag {
		case 1:
			g.Version, err = r.varintField(tag, wire)
		case 2:
			g.Key, err = r.bytesField(tag, wire)
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return g, nil
}

func decodeExtIterator(b []byte) (*ExtIterator, error) {
	it := &ExtIterator{}
	err := eachField(b, func(r *reader, tag uint64, wire int) (bool, error) {
		var err error
		var rev uint64
		switch tag {
		case 1:
			it.Version, err = r.varintField(tag, wire)
		case 2:
			it.GTE, err = r.bytesField(tag, wire)
		case 3:
			it.GT, err = r.bytesField(tag, wire)
		case 4:
			it.LTE, err = r.bytesField(tag, wire)
		case 5:
			it.LT, err = r.bytesField(tag, wire)
		case 6:
			it.Limit, err = r.varintField(tag, wire)
		case 7:
			rev, err = r.varintField(tag, wire)
			it.Reverse = rev != 0
		case 8:
			it.Checkpoint, err = r.packedField(tag, wire, it.Checkpoint)
		default:
			return false, nil
		}
		return true, err
	})
	if err != nil {
		return nil, err
	}
	return it, nil
}
