package hypercore

import (
	"github.com/warrenp2p/warren/compact"
)

// The other messages of the hypercore/alpha protomux channel. Their
// layouts follow hypercore 11's lib/messages.js (wire.*).

// Handshake is the payload of the channel's open message.
type Handshake struct {
	Seeks      bool
	Capability [32]byte
}

// Sync tells the remote our fork and length and what we know of theirs.
type Sync struct {
	Fork, Length, RemoteLength                                 uint64
	CanUpgrade, Uploading, Downloading, HasManifest, AllowPush bool
}

// NoData answers a request that cannot be served.
type NoData struct {
	Request, Reason uint64
}

// Range says the sender has (or dropped) blocks [Start, Start+Length).
type Range struct {
	Drop          bool
	Start, Length uint64
}

// Want and Unwant ask the remote to announce (or stop announcing) a range.
type Want struct {
	Start, Length uint64
	Any           bool
}

// Bitfield carries a run of the sender's bitfield from Start.
type Bitfield struct {
	Start    uint64
	Bitfield []uint32
}

func encodeHandshake(h Handshake) []byte {
	var f uint64
	if h.Seeks {
		f = 1
	}
	b := binaryAppendUint(nil, f)
	return append(b, h.Capability[:]...)
}

func decodeHandshake(b []byte) (h Handshake, err error) {
	s := &compact.State{Buf: b, End: len(b)}
	f, err := compact.Uint.Decode(s)
	if err != nil {
		return h, err
	}
	h.Seeks = f&1 != 0
	h.Capability, err = compact.Bytes32.Decode(s)
	return h, err
}

func bit(v bool, m uint64) uint64 {
	if v {
		return m
	}
	return 0
}

func encodeSync(m Sync) []byte {
	f := bit(m.CanUpgrade, 1) | bit(m.Uploading, 2) | bit(m.Downloading, 4) | bit(m.HasManifest, 8) | bit(m.AllowPush, 16)
	b := binaryAppendUint(nil, f)
	b = binaryAppendUint(b, m.Fork)
	b = binaryAppendUint(b, m.Length)
	return binaryAppendUint(b, m.RemoteLength)
}

func decodeUints(s *compact.State, dst ...*uint64) error {
	for _, d := range dst {
		v, err := compact.Uint.Decode(s)
		if err != nil {
			return err
		}
		*d = v
	}
	return nil
}

func decodeSync(b []byte) (m Sync, err error) {
	s := &compact.State{Buf: b, End: len(b)}
	var f uint64
	if err = decodeUints(s, &f, &m.Fork, &m.Length, &m.RemoteLength); err != nil {
		return m, err
	}
	m.CanUpgrade, m.Uploading, m.Downloading = f&1 != 0, f&2 != 0, f&4 != 0
	m.HasManifest, m.AllowPush = f&8 != 0, f&16 != 0
	return m, nil
}

func encodeNoData(m NoData) []byte {
	b := binaryAppendUint(nil, m.Request)
	if m.Reason == 0 {
		return binaryAppendUint(b, 0)
	}
	b = binaryAppendUint(b, 1)
	return binaryAppendUint(b, m.Reason)
}

func decodeNoData(b []byte) (m NoData, err error) {
	s := &compact.State{Buf: b, End: len(b)}
	if m.Request, err = compact.Uint.Decode(s); err != nil {
		return m, err
	}
	var f uint64
	if s.Start < s.End {
		if f, err = compact.Uint.Decode(s); err != nil {
			return m, err
		}
	}
	if f&1 != 0 {
		m.Reason, err = compact.Uint.Decode(s)
	}
	return m, err
}

func encodeRange(m Range) []byte {
	b := binaryAppendUint(nil, bit(m.Drop, 1)|bit(m.Length == 1, 2))
	b = binaryAppendUint(b, m.Start)
	if m.Length != 1 {
		b = binaryAppendUint(b, m.Length)
	}
	return b
}

func decodeRange(b []byte) (m Range, err error) {
	s := &compact.State{Buf: b, End: len(b)}
	var f uint64
	if err = decodeUints(s, &f, &m.Start); err != nil {
		return m, err
	}
	m.Drop = f&1 != 0
	if f&2 != 0 {
		m.Length = 1
		return m, nil
	}
	m.Length, err = compact.Uint.Decode(s)
	return m, err
}

func decodeWant(b []byte) (m Want, err error) {
	s := &compact.State{Buf: b, End: len(b)}
	if err = decodeUints(s, &m.Start, &m.Length); err != nil {
		return m, err
	}
	if s.Start < s.End {
		var f uint64
		if f, err = compact.Uint.Decode(s); err != nil {
			return m, err
		}
		m.Any = f&1 != 0
	}
	return m, nil
}

func decodeBitfield(b []byte) (m Bitfield, err error) {
	s := &compact.State{Buf: b, End: len(b)}
	if m.Start, err = compact.Uint.Decode(s); err != nil {
		return m, err
	}
	m.Bitfield, err = compact.Uint32Array.Decode(s)
	return m, err
}
