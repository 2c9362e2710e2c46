package hyperblobs

import (
	"fmt"

	"github.com/warrenp2p/warren/compact"
)

// MapBlock is one block of a block map: the core block holding the data
// and its size.
type MapBlock struct {
	Index      uint64
	ByteLength uint64
}

// maxMapBlocks bounds the blocks of a block map, as hyperblobs does
// ("Block map is too large").
const maxMapBlocks = 64

type mapBlockCodec struct{}

func (mapBlockCodec) Preencode(s *compact.State, m MapBlock) {
	compact.Uint.Preencode(s, m.Index)
	compact.Uint.Preencode(s, m.ByteLength)
}

func (mapBlockCodec) Encode(s *compact.State, m MapBlock) {
	compact.Uint.Encode(s, m.Index)
	compact.Uint.Encode(s, m.ByteLength)
}

func (mapBlockCodec) Decode(s *compact.State) (MapBlock, error) {
	i, err := compact.Uint.Decode(s)
	if err != nil {
		return MapBlock{}, err
	}
	n, err := compact.Uint.Decode(s)
	return MapBlock{Index: i, ByteLength: n}, err
}

var mapList = compact.Array[MapBlock](mapBlockCodec{})

// EncodeBlockMap encodes a block map as hyperblobs does: version 0 and the
// list of blocks, 8192 blocks per core block.
func EncodeBlockMap(blocks []MapBlock) [][]byte {
	var out [][]byte
	for i := 0; i < len(blocks) || i == 0; i += 8192 {
		part := blocks[i:min(i+8192, len(blocks))]
		s := &compact.State{}
		compact.Uint.Preencode(s, 0)
		mapList.Preencode(s, part)
		s.Buf = make([]byte, s.End)
		compact.Uint.Encode(s, 0)
		mapList.Encode(s, part)
		out = append(out, s.Buf)
		if len(blocks) == 0 {
			break
		}
	}
	return out
}

// DecodeBlockMap decodes the blocks of a block map. Blocks come from peers:
// a malformed map is an ErrInvalidID error.
func DecodeBlockMap(parts [][]byte) ([]MapBlock, error) {
	var all []MapBlock
	for _, p := range parts {
		s := &compact.State{Buf: p, End: len(p)}
		v, err := compact.Uint.Decode(s)
		if err != nil {
			return nil, fmt.Errorf("%w: block map: %v", ErrInvalidID, err)
		}
		if v != 0 {
			return nil, fmt.Errorf("%w: block map version %d", ErrInvalidID, v)
		}
		l, err := mapList.Decode(s)
		if err != nil {
			return nil, fmt.Errorf("%w: block map: %v", ErrInvalidID, err)
		}
		all = append(all, l...)
	}
	return all, nil
}
