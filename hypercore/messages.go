package hypercore

import (
	"github.com/warrenp2p/warren/compact"
	"github.com/warrenp2p/warren/crypto"
)

// Node is a Merkle tree node: flat-tree index, bytes below it, hash.
type Node = crypto.TreeNode

// NodeCodec is the wire codec of a tree node: index, size, hash.
var NodeCodec compact.Codec[Node] = nodeCodec{}

type nodeCodec struct{}

func (nodeCodec) Preencode(s *compact.State, n Node) {
	compact.Uint.Preencode(s, n.Index)
	compact.Uint.Preencode(s, n.Size)
	s.End += 32
}

func (nodeCodec) Encode(s *compact.State, n Node) {
	compact.Uint.Encode(s, n.Index)
	compact.Uint.Encode(s, n.Size)
	compact.Bytes32.Encode(s, n.Hash)
}

func (nodeCodec) Decode(s *compact.State) (n Node, err error) {
	if n.Index, err = compact.Uint.Decode(s); err != nil {
		return n, err
	}
	if n.Size, err = compact.Uint.Decode(s); err != nil {
		return n, err
	}
	n.Hash, err = compact.Bytes32.Decode(s)
	return n, err
}

var nodeArray = compact.Array(NodeCodec)

// BlockProof carries a block and the nodes that tie it to a root.
type BlockProof struct {
	Index uint64
	Value []byte
	Nodes []Node
}

// HashProof carries the nodes that tie the tree node Index to a root.
type HashProof struct {
	Index uint64
	Nodes []Node
}

// SeekProof carries the nodes that locate a byte offset.
type SeekProof struct {
	Bytes uint64
	Nodes []Node
}

// UpgradeProof carries the roots (or the nodes to reach them) of a longer
// tree, from Start for Length blocks, the nodes up to the prover's own length
// and the signature of that tree.
type UpgradeProof struct {
	Start           uint64
	Length          uint64
	Nodes           []Node
	AdditionalNodes []Node
	Signature       []byte
}

// Proof is the content of a data message: what a peer sends to answer a
// request, verifiable against the core key alone.
type Proof struct {
	Fork     uint64
	Block    *BlockProof
	Hash     *HashProof
	Seek     *SeekProof
	Upgrade  *UpgradeProof
	Manifest *Manifest
}

// Data is the wire message carrying a proof in answer to request Request.
type Data struct {
	Request uint64
	Proof
}

// DataCodec is the compact codec of the data message (hypercore wire.data).
var DataCodec compact.Codec[*Data] = dataCodec{}

type dataCodec struct{}

func (d *Data) flags() uint64 {
	var f uint64
	if d.Block != nil {
		f |= 1
	}
	if d.Hash != nil {
		f |= 2
	}
	if d.Seek != nil {
		f |= 4
	}
	if d.Upgrade != nil {
		f |= 8
	}
	if d.Manifest != nil {
		f |= 16
	}
	return f
}

func (dataCodec) Preencode(s *compact.State, d *Data) {
	s.End++
	compact.Uint.Preencode(s, d.Request)
	compact.Uint.Preencode(s, d.Fork)
	if b := d.Block; b != nil {
		compact.Uint.Preencode(s, b.Index)
		compact.Buffer.Preencode(s, b.Value)
		nodeArray.Preencode(s, b.Nodes)
	}
	if h := d.Hash; h != nil {
		compact.Uint.Preencode(s, h.Index)
		nodeArray.Preencode(s, h.Nodes)
	}
	if k := d.Seek; k != nil {
		compact.Uint.Preencode(s, k.Bytes)
		nodeArray.Preencode(s, k.Nodes)
	}
	if u := d.Upgrade; u != nil {
		compact.Uint.Preencode(s, u.Start)
		compact.Uint.Preencode(s, u.Length)
		nodeArray.Preencode(s, u.Nodes)
		nodeArray.Preencode(s, u.AdditionalNodes)
		compact.Buffer.Preencode(s, u.Signature)
	}
	if d.Manifest != nil {
		ManifestCodec.Preencode(s, d.Manifest)
	}
}

func (dataCodec) Encode(s *compact.State, d *Data) {
	compact.Uint.Encode(s, d.flags())
	compact.Uint.Encode(s, d.Request)
	compact.Uint.Encode(s, d.Fork)
	if b := d.Block; b != nil {
		compact.Uint.Encode(s, b.Index)
		compact.Buffer.Encode(s, b.Value)
		nodeArray.Encode(s, b.Nodes)
	}
	if h := d.Hash; h != nil {
		compact.Uint.Encode(s, h.Index)
		nodeArray.Encode(s, h.Nodes)
	}
	if k := d.Seek; k != nil {
		compact.Uint.Encode(s, k.Bytes)
		nodeArray.Encode(s, k.Nodes)
	}
	if u := d.Upgrade; u != nil {
		compact.Uint.Encode(s, u.Start)
		compact.Uint.Encode(s, u.Length)
		nodeArray.Encode(s, u.Nodes)
		nodeArray.Encode(s, u.AdditionalNodes)
		compact.Buffer.Encode(s, u.Signature)
	}
	if d.Manifest != nil {
		ManifestCodec.Encode(s, d.Manifest)
	}
}

func (dataCodec) Decode(s *compact.State) (*Data, error) {
	d := &Data{}
	flags, err := compact.Uint.Decode(s)
	if err != nil {
		return nil, err
	}
	if d.Request, err = compact.Uint.Decode(s); err != nil {
		return nil, err
	}
	if d.Fork, err = compact.Uint.Decode(s); err != nil {
		return nil, err
	}
	if flags&1 != 0 {
		b := &BlockProof{}
		if b.Index, err = compact.Uint.Decode(s); err != nil {
			return nil, err
		}
		v, err := compact.Buffer.Decode(s)
		if err != nil {
			return nil, err
		}
		value := make([]byte, len(v)) // make then copy: not zeroed first
		copy(value, v)
		b.Value = value
		if b.Nodes, err = nodeArray.Decode(s); err != nil {
			return nil, err
		}
		d.Block = b
	}
	if flags&2 != 0 {
		h := &HashProof{}
		if h.Index, err = compact.Uint.Decode(s); err != nil {
			return nil, err
		}
		if h.Nodes, err = nodeArray.Decode(s); err != nil {
			return nil, err
		}
		d.Hash = h
	}
	if flags&4 != 0 {
		k := &SeekProof{}
		if k.Bytes, err = compact.Uint.Decode(s); err != nil {
			return nil, err
		}
		if k.Nodes, err = nodeArray.Decode(s); err != nil {
			return nil, err
		}
		d.Seek = k
	}
	if flags&8 != 0 {
		u := &UpgradeProof{}
		if u.Start, err = compact.Uint.Decode(s); err != nil {
			return nil, err
		}
		if u.Length, err = compact.Uint.Decode(s); err != nil {
			return nil, err
		}
		if u.Nodes, err = nodeArray.Decode(s); err != nil {
			return nil, err
		}
		if u.AdditionalNodes, err = nodeArray.Decode(s); err != nil {
			return nil, err
		}
		sig, err := compact.Buffer.Decode(s)
		if err != nil {
			return nil, err
		}
		u.Signature = append([]byte(nil), sig...)
		d.Upgrade = u
	}
	if flags&16 != 0 {
		if d.Manifest, err = ManifestCodec.Decode(s); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Request is the wire request message: which block, tree node, byte offset
// and/or upgrade the sender wants proven.
type Request struct {
	ID       uint64
	Fork     uint64
	Block    *RequestBlock
	Hash     *RequestBlock
	Seek     *RequestSeek
	Upgrade  *RequestUpgrade
	Manifest bool
	Priority uint64
}

// RequestBlock asks for block (or tree node) Index; Nodes is how many
// nodes up its path the requester already has.
type RequestBlock struct {
	Index uint64
	Nodes uint64
}

// RequestSeek asks for the block holding byte Bytes, counting Padding bytes
// less per block.
type RequestSeek struct {
	Bytes   uint64
	Padding uint64
}

// RequestUpgrade asks for the tree from Start to Start+Length.
type RequestUpgrade struct {
	Start  uint64
	Length uint64
}

// RequestCodec is the compact codec of the request message.
var RequestCodec compact.Codec[*Request] = requestCodec{}

type requestCodec struct{}

func (requestCodec) Preencode(s *compact.State, r *Request) {
	s.End++
	compact.Uint.Preencode(s, r.ID)
	compact.Uint.Preencode(s, r.Fork)
	for _, b := range []*RequestBlock{r.Block, r.Hash} {
		if b != nil {
			compact.Uint.Preencode(s, b.Index)
			compact.Uint.Preencode(s, b.Nodes)
		}
	}
	if r.Seek != nil {
		compact.Uint.Preencode(s, r.Seek.Bytes)
		compact.Uint.Preencode(s, r.Seek.Padding)
	}
	if r.Upgrade != nil {
		compact.Uint.Preencode(s, r.Upgrade.Start)
		compact.Uint.Preencode(s, r.Upgrade.Length)
	}
	if r.Priority != 0 {
		compact.Uint.Preencode(s, r.Priority)
	}
}

func (requestCodec) Encode(s *compact.State, r *Request) {
	var f uint64
	if r.Block != nil {
		f |= 1
	}
	if r.Hash != nil {
		f |= 2
	}
	if r.Seek != nil {
		f |= 4
	}
	if r.Upgrade != nil {
		f |= 8
	}
	if r.Manifest {
		f |= 16
	}
	if r.Priority != 0 {
		f |= 32
	}
	compact.Uint.Encode(s, f)
	compact.Uint.Encode(s, r.ID)
	compact.Uint.Encode(s, r.Fork)
	for _, b := range []*RequestBlock{r.Block, r.Hash} {
		if b != nil {
			compact.Uint.Encode(s, b.Index)
			compact.Uint.Encode(s, b.Nodes)
		}
	}
	if r.Seek != nil {
		compact.Uint.Encode(s, r.Seek.Bytes)
		compact.Uint.Encode(s, r.Seek.Padding)
	}
	if r.Upgrade != nil {
		compact.Uint.Encode(s, r.Upgrade.Start)
		compact.Uint.Encode(s, r.Upgrade.Length)
	}
	if r.Priority != 0 {
		compact.Uint.Encode(s, r.Priority)
	}
}

func decodePair(s *compact.State) (a, b uint64, err error) {
	if a, err = compact.Uint.Decode(s); err != nil {
		return
	}
	b, err = compact.Uint.Decode(s)
	return
}

func (requestCodec) Decode(s *compact.State) (*Request, error) {
	r := &Request{}
	flags, err := compact.Uint.Decode(s)
	if err != nil {
		return nil, err
	}
	if r.ID, r.Fork, err = decodePair(s); err != nil {
		return nil, err
	}
	if flags&1 != 0 {
		r.Block = &RequestBlock{}
		if r.Block.Index, r.Block.Nodes, err = decodePair(s); err != nil {
			return nil, err
		}
	}
	if flags&2 != 0 {
		r.Hash = &RequestBlock{}
		if r.Hash.Index, r.Hash.Nodes, err = decodePair(s); err != nil {
			return nil, err
		}
	}
	if flags&4 != 0 {
		r.Seek = &RequestSeek{}
		if r.Seek.Bytes, r.Seek.Padding, err = decodePair(s); err != nil {
			return nil, err
		}
	}
	if flags&8 != 0 {
		r.Upgrade = &RequestUpgrade{}
		if r.Upgrade.Start, r.Upgrade.Length, err = decodePair(s); err != nil {
			return nil, err
		}
	}
	r.Manifest = flags&16 != 0
	if flags&32 != 0 {
		if r.Priority, err = compact.Uint.Decode(s); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// size is the encoded length of d: what it weighs in queues and batches.
func (d *Data) size() int {
	var s compact.State
	dataCodec{}.Preencode(&s, d)
	return s.End
}
