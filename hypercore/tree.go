package hypercore

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/flattree"
)

// Errors of the Merkle tree.
var (
	// ErrInvalidProof is returned for a proof that does not verify.
	ErrInvalidProof = errors.New("hypercore: invalid proof")
	// ErrInvalidChecksum is returned when a proven node disagrees with the
	// node stored locally.
	ErrInvalidChecksum = errors.New("hypercore: invalid checksum")
	// ErrInvalidRequest is returned for a proof request that cannot be
	// answered from this tree (out of bounds, contradictory, missing nodes).
	ErrInvalidRequest = errors.New("hypercore: invalid proof request")
)

// maxSafe is the largest integer a JS peer handles exactly; larger lengths,
// offsets or paddings in a request or proof are refused.
const maxSafe = 1<<53 - 1

// nodeSource reads stored tree nodes.
type nodeSource interface {
	// getNode returns the node at index, or ok=false if it is not stored.
	getNode(index uint64) (n Node, ok bool, err error)
}

func mustNode(src nodeSource, index uint64) (Node, error) {
	n, ok, err := src.getNode(index)
	if err != nil {
		return n, err
	}
	if !ok {
		return n, fmt.Errorf("%w: tree node %d is not stored", ErrInvalidRequest, index)
	}
	return n, nil
}

func leafNode(index uint64, data []byte) Node {
	return Node{Index: index, Size: uint64(len(data)), Hash: crypto.LeafHash(data)}
}

func parentNode(index uint64, a, b Node) Node {
	return Node{Index: index, Size: a.Size + b.Size, Hash: crypto.ParentHash(a, b)}
}

// tree is a signed state of the Merkle tree: its roots, length, fork and
// the signature over them.
type tree struct {
	fork       uint64
	length     uint64
	byteLength uint64
	roots      []Node
	signature  []byte
	prologue   *Prologue
}

func (t *tree) hash() [32]byte { return crypto.TreeHash(t.roots) }

func (t *tree) state() treeState {
	return treeState{hash: t.hash(), length: t.length, fork: t.fork}
}

func (t *tree) clone() *tree {
	c := *t
	c.roots = append([]Node(nil), t.roots...)
	return &c
}

// treeBatch is a tree being extended: by local appends or by a verified
// upgrade proof. nodes holds every node it adds.
type treeBatch struct {
	tree
	nodes     []Node
	upgraded  bool
	ancestors uint64 // blocks shared with the tree the batch started from
}

func newBatch(t *tree) *treeBatch {
	b := &treeBatch{tree: *t.clone(), ancestors: t.length}
	return b
}

// append adds one block to the batch.
func (b *treeBatch) append(data []byte) {
	head := b.length * 2
	b.appendRoot(leafNode(head, data), flattree.NewIterator(head))
}

// appendRoot adds node, the next full subtree at ite, merging roots.
func (b *treeBatch) appendRoot(node Node, ite *flattree.Iterator) {
	b.upgraded = true
	b.length += ite.Factor / 2
	b.byteLength += node.Size
	b.roots = append(b.roots, node)
	b.nodes = append(b.nodes, node)
	for len(b.roots) > 1 {
		a := b.roots[len(b.roots)-1]
		l := b.roots[len(b.roots)-2]
		if ite.Sibling() != l.Index {
			ite.Sibling()
			break
		}
		p := parentNode(ite.Parent(), a, l)
		b.nodes = append(b.nodes, p)
		b.roots = append(b.roots[:len(b.roots)-2], p)
	}
}

// rootsAt reads the roots of the tree at length from src.
func rootsAt(src nodeSource, length uint64) ([]Node, error) {
	idx := flattree.FullRoots(2 * length)
	roots := make([]Node, len(idx))
	for i, x := range idx {
		n, err := mustNode(src, x)
		if err != nil {
			return nil, err
		}
		roots[i] = n
	}
	return roots, nil
}

func totalSize(nodes []Node) uint64 {
	var s uint64
	for _, n := range nodes {
		s += n.Size
	}
	return s
}

// nodeQueue hands out proof nodes in the order the verifier expects them,
// with one extra node (a root already proven) that may be asked for anywhere.
type nodeQueue struct {
	nodes []Node
	i     int
	extra *Node
}

func (q *nodeQueue) len() int {
	n := len(q.nodes) - q.i
	if q.extra != nil {
		n++
	}
	return n
}

func (q *nodeQueue) shift(index uint64) (Node, error) {
	if q.extra != nil && q.extra.Index == index {
		n := *q.extra
		q.extra = nil
		return n, nil
	}
	if q.i >= len(q.nodes) {
		return Node{}, fmt.Errorf("%w: expected node %d, got none", ErrInvalidProof, index)
	}
	n := q.nodes[q.i]
	if n.Index != index {
		return Node{}, fmt.Errorf("%w: expected node %d, got node %d", ErrInvalidProof, index, n.Index)
	}
	q.i++
	return n, nil
}

// verifyTree hashes the block, hash and seek parts of a proof up to the root
// they prove, appending every node it learns to nodes. It returns nil when
// the proof proves no node.
func verifyTree(p *Proof, nodes *[]Node) (*Node, error) {
	return verifyTreeTrusted(p, nodes, nil)
}

// trustedSource is a nodeSource that can also say cheaply (without a
// storage read) whether it holds a verified node.
type trustedSource interface {
	nodeSource
	trustedNode(index uint64) (Node, bool)
}

// verifyTreeTrusted is verifyTree that, given trusted, stops hashing as
// soon as the block's path reaches a node trusted holds and every node the
// proof still carries is one trusted holds too (compared, not hashed): the
// block is then proven by that node. A reader that asked for blocks far
// ahead of what it had gets every proof sized for its state at the time of
// the request; by the time the answer arrives the earlier answers have
// usually verified most of that path. A trusted node with another hash
// fails the proof. The root returned is then the trusted node.
func verifyTreeTrusted(p *Proof, nodes *[]Node, trusted trustedSource) (*Node, error) {
	var index uint64
	var value []byte
	var untrusted []Node
	has := false
	switch {
	case p.Block != nil:
		if p.Block.Index > maxSafe/2 {
			return nil, fmt.Errorf("%w: block index out of range", ErrInvalidProof)
		}
		index, value, untrusted, has = 2*p.Block.Index, p.Block.Value, p.Block.Nodes, true
		if value == nil {
			value = []byte{}
		}
	case p.Hash != nil:
		if p.Hash.Index > maxSafe {
			return nil, fmt.Errorf("%w: node index out of range", ErrInvalidProof)
		}
		index, untrusted, has = p.Hash.Index, p.Hash.Nodes, true
	}
	if !has && (p.Seek == nil || len(p.Seek.Nodes) == 0) {
		return nil, nil
	}
	var root *Node
	if p.Seek != nil && len(p.Seek.Nodes) > 0 {
		if p.Seek.Nodes[0].Index > maxSafe {
			return nil, fmt.Errorf("%w: node index out of range", ErrInvalidProof)
		}
		ite := flattree.NewIterator(p.Seek.Nodes[0].Index)
		q := &nodeQueue{nodes: p.Seek.Nodes}
		r, err := q.shift(ite.Index)
		if err != nil {
			return nil, err
		}
		*nodes = append(*nodes, r)
		for q.len() > 0 {
			n, err := q.shift(ite.Sibling())
			if err != nil {
				return nil, err
			}
			r = parentNode(ite.Parent(), r, n)
			*nodes = append(*nodes, n, r)
		}
		root = &r
	}
	if !has {
		return root, nil
	}
	ite := flattree.NewIterator(index)
	q := &nodeQueue{nodes: untrusted, extra: root}
	var r Node
	if value != nil {
		r = leafNode(index, value)
	} else {
		var err error
		if r, err = q.shift(index); err != nil {
			return nil, err
		}
	}
	*nodes = append(*nodes, r)
	if trusted != nil && root == nil {
		if t, ok := trusted.trustedNode(r.Index); ok {
			if stop, err := restTrusted(q, trusted); err != nil || stop {
				if err != nil {
					return nil, err
				}
				return matchTrusted(r, t)
			}
			trusted = nil // a node above is new to us: hash the whole path
		}
	}
	for q.len() > 0 {
		n, err := q.shift(ite.Sibling())
		if err != nil {
			return nil, err
		}
		r = parentNode(ite.Parent(), r, n)
		if trusted != nil && root == nil {
			if t, ok := trusted.trustedNode(r.Index); ok {
				stop, err := restTrusted(q, trusted)
				if err != nil {
					return nil, err
				}
				if stop {
					*nodes = append(*nodes, n)
					return matchTrusted(r, t)
				}
				trusted = nil
			}
		}
		*nodes = append(*nodes, n, r)
	}
	return &r, nil
}

// restTrusted reports whether every node left in q is one trusted holds,
// so hashing may stop: a node the peer sent must never be ignored, or a
// lying peer's answer would be taken for its authentic block. A node that
// differs from the trusted one fails the proof; one trusted lacks means the
// path must be hashed in full.
func restTrusted(q *nodeQueue, trusted trustedSource) (bool, error) {
	if q.extra != nil {
		return false, nil
	}
	for _, n := range q.nodes[q.i:] {
		t, ok := trusted.trustedNode(n.Index)
		if !ok {
			return false, nil
		}
		if t.Hash != n.Hash || t.Size != n.Size {
			return false, fmt.Errorf("%w at node %d", ErrInvalidChecksum, n.Index)
		}
	}
	return true, nil
}

// matchTrusted checks the node a proof computed against the trusted node
// of the same index.
func matchTrusted(computed, trusted Node) (*Node, error) {
	if computed.Hash != trusted.Hash || computed.Size != trusted.Size {
		return nil, fmt.Errorf("%w at node %d", ErrInvalidChecksum, computed.Index)
	}
	return &trusted, nil
}

// verifyUpgrade grows batch with the upgrade part of p. blockRoot, the root
// proven by verifyTree, may stand in for one of the upgrade nodes; the result
// reports whether it did (and so is proven by the upgrade).
func verifyUpgrade(p *Proof, blockRoot *Node, b *treeBatch) (bool, error) {
	u := p.Upgrade
	if u.Start > maxSafe || u.Length > maxSafe || u.Start+u.Length > maxSafe/2 {
		return false, fmt.Errorf("%w: upgrade out of range", ErrInvalidProof)
	}
	if pr := b.prologue; pr != nil {
		if u.Start < pr.Length && (u.Start != 0 || u.Length < pr.Length) {
			return false, fmt.Errorf("%w: upgrade does not satisfy prologue", ErrInvalidProof)
		}
	}
	q := &nodeQueue{nodes: u.Nodes, extra: blockRoot}
	grow := len(b.roots) > 0
	i := 0
	to := 2 * (u.Start + u.Length)
	ite := flattree.NewIterator(0)
	for ; ite.FullRoot(to); ite.NextTree() {
		if i < len(b.roots) && b.roots[i].Index == ite.Index {
			i++
			continue
		}
		if grow {
			grow = false
			root := ite.Index
			if i < len(b.roots) {
				ite.Seek(b.roots[len(b.roots)-1].Index)
				for ite.Index != root {
					n, err := q.shift(ite.Sibling())
					if err != nil {
						return false, err
					}
					b.appendRoot(n, ite)
				}
				continue
			}
		}
		n, err := q.shift(ite.Index)
		if err != nil {
			return false, err
		}
		b.appendRoot(n, ite)
	}
	if pr := b.prologue; pr != nil && b.length == pr.Length && b.hash() != pr.Hash {
		return false, fmt.Errorf("%w: prologue hash mismatch", ErrInvalidProof)
	}
	extra := u.AdditionalNodes
	if len(extra) > 0 {
		if len(b.roots) == 0 {
			return false, fmt.Errorf("%w: additional nodes without roots", ErrInvalidProof)
		}
		ite.Seek(b.roots[len(b.roots)-1].Index)
		j := 0
		for j < len(extra) && extra[j].Index == ite.Sibling() {
			b.appendRoot(extra[j], ite)
			j++
		}
		for j < len(extra) {
			n := extra[j]
			j++
			for n.Index != ite.Index {
				if ite.Factor <= 2 {
					return false, fmt.Errorf("%w: unexpected node %d", ErrInvalidProof, n.Index)
				}
				ite.LeftChild()
			}
			b.appendRoot(n, ite)
			ite.Sibling()
		}
	}
	if b.length > maxSafe/2 {
		return false, fmt.Errorf("%w: upgrade out of range", ErrInvalidProof)
	}
	b.signature = append([]byte(nil), u.Signature...)
	b.fork = p.Fork
	return q.extra == nil, nil
}

// verifyProof checks the tree part of p against t (and src for nodes the
// proof leans on) and returns the batch it proves. The signature of an
// upgraded batch is checked by the caller.
func verifyProof(t *tree, src nodeSource, p *Proof) (*treeBatch, error) {
	b := newBatch(t)
	var trusted trustedSource
	if ts, ok := src.(trustedSource); ok && p.Upgrade == nil && p.Seek == nil {
		trusted = ts
	}
	unverified, err := verifyTreeTrusted(p, &b.nodes, trusted)
	if err != nil {
		return nil, err
	}
	if p.Upgrade != nil {
		used, err := verifyUpgrade(p, unverified, b)
		if err != nil {
			return nil, err
		}
		if used {
			unverified = nil
		}
	}
	if unverified != nil {
		n, ok, err := src.getNode(unverified.Index)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: node %d is not known", ErrInvalidProof, unverified.Index)
		}
		if n.Hash != unverified.Hash {
			return nil, fmt.Errorf("%w at node %d", ErrInvalidChecksum, unverified.Index)
		}
	}
	return b, nil
}

// ProofRequest says what a proof should prove: at most one of Block and
// Hash, optionally a seek, optionally an upgrade.
type ProofRequest struct {
	Block   *RequestBlock
	Hash    *RequestBlock
	Seek    *RequestSeek
	Upgrade *RequestUpgrade
}

// pendingProof collects the node lists of a proof being built; a nil slice
// with its flag false means the part was not started.
type pendingProof struct {
	node, seek, upgrade, additional          []Node
	hasNode, hasSeek, hasUpgrade, hasAdditon bool
}

type indexed struct {
	value     bool
	index     uint64
	nodes     uint64
	lastIndex uint64
}

// generateProof builds the proof answering req from t and the nodes in src.
// A block proof comes without its value: the caller adds it.
func generateProof(t *tree, src nodeSource, req ProofRequest) (*Proof, error) {
	upgrade := req.Upgrade
	if upgrade != nil {
		u := *upgrade
		if t.prologue != nil && u.Start < t.prologue.Length {
			u.Start, u.Length = 0, t.prologue.Length
		}
		upgrade = &u
	}
	if upgrade != nil && (upgrade.Start > maxSafe || upgrade.Length > maxSafe) {
		return nil, fmt.Errorf("%w: upgrade out of range", ErrInvalidRequest)
	}
	if req.Seek != nil && (req.Seek.Bytes > maxSafe || req.Seek.Padding > maxSafe) {
		return nil, fmt.Errorf("%w: seek out of range", ErrInvalidRequest)
	}
	head := 2 * t.length
	from, to := uint64(0), head
	if upgrade != nil {
		from = upgrade.Start * 2
		to = from + upgrade.Length*2
	}
	var node *indexed
	switch {
	case req.Block != nil:
		if req.Block.Index > maxSafe/2 {
			return nil, fmt.Errorf("%w: block out of range", ErrInvalidRequest)
		}
		node = &indexed{value: true, index: 2 * req.Block.Index, nodes: req.Block.Nodes, lastIndex: req.Block.Index}
	case req.Hash != nil:
		if req.Hash.Index > maxSafe {
			return nil, fmt.Errorf("%w: node out of range", ErrInvalidRequest)
		}
		node = &indexed{index: req.Hash.Index, nodes: req.Hash.Nodes, lastIndex: flattree.RightSpan(req.Hash.Index) / 2}
	}
	out := &Proof{Fork: t.fork}
	if head == 0 {
		return out, nil
	}
	if from >= to || to > head {
		return nil, fmt.Errorf("%w: invalid upgrade", ErrInvalidRequest)
	}
	if req.Seek != nil && upgrade != nil && node != nil && node.index >= from {
		return nil, fmt.Errorf("%w: cannot both seek and request a block when upgrading", ErrInvalidRequest)
	}
	subTree := head
	p := &pendingProof{}
	var err error
	if node != nil && (upgrade == nil || node.lastIndex < upgrade.Start) {
		if subTree, err = nodesToRoot(node.index, node.nodes, to); err != nil {
			return nil, err
		}
		seekRoot := head
		if req.Seek != nil {
			if seekRoot, err = seekUntrustedTree(t, src, subTree, req.Seek.Bytes, req.Seek.Padding); err != nil {
				return nil, err
			}
		}
		if err := blockAndSeekProof(src, node, req.Seek != nil, seekRoot, subTree, p); err != nil {
			return nil, err
		}
	} else if (node != nil || req.Seek != nil) && upgrade != nil {
		if req.Seek != nil {
			if subTree, err = seekFromHead(src, to, req.Seek.Bytes, req.Seek.Padding); err != nil {
				return nil, err
			}
		} else {
			subTree = node.index
		}
	}
	if upgrade != nil {
		if err := upgradeProof(src, node, req.Seek != nil, from, to, subTree, p); err != nil {
			return nil, err
		}
		if head > to {
			if err := additionalUpgradeProof(src, to, head, p); err != nil {
				return nil, err
			}
		}
	}
	if req.Block != nil {
		if !p.hasNode {
			return nil, fmt.Errorf("%w: invalid block request", ErrInvalidRequest)
		}
		out.Block = &BlockProof{Index: req.Block.Index, Nodes: p.node}
	} else if req.Hash != nil {
		if !p.hasNode {
			return nil, fmt.Errorf("%w: invalid hash request", ErrInvalidRequest)
		}
		out.Hash = &HashProof{Index: req.Hash.Index, Nodes: p.node}
	}
	if req.Seek != nil && p.hasSeek {
		out.Seek = &SeekProof{Bytes: req.Seek.Bytes, Nodes: p.seek}
	}
	if upgrade != nil {
		out.Upgrade = &UpgradeProof{
			Start:           upgrade.Start,
			Length:          upgrade.Length,
			Nodes:           p.upgrade,
			AdditionalNodes: p.additional,
			Signature:       t.signature,
		}
	}
	return out, nil
}

func nodesToRoot(index, nodes, head uint64) (uint64, error) {
	if nodes > 64 {
		return 0, fmt.Errorf("%w: nodes is out of bounds", ErrInvalidRequest)
	}
	ite := flattree.NewIterator(index)
	for range nodes {
		ite.Parent()
		if ite.Contains(head) {
			return 0, fmt.Errorf("%w: nodes is out of bounds", ErrInvalidRequest)
		}
	}
	return ite.Index, nil
}

// unpadded is the size of a node without the padding of its leaves; it may
// be negative for a padding larger than the blocks.
func unpadded(size, padding, leaves uint64) int64 {
	if padding == 0 {
		return int64(size)
	}
	hi, lo := bits.Mul64(padding, leaves)
	if hi != 0 || lo > size+maxSafe {
		return -maxSafe
	}
	return int64(size) - int64(lo)
}

const loopGuard = 1024

// byteOffset returns the byte offset of the tree node index in t.
func byteOffset(t *tree, src nodeSource, index uint64) (uint64, error) {
	if index == 2*t.length {
		return t.byteLength, nil
	}
	if index&1 == 1 {
		index = flattree.LeftSpan(index)
	}
	var head, sum uint64
	for _, r := range t.roots {
		head += 2 * (r.Index - head + 1)
		if index >= head {
			sum += r.Size
			continue
		}
		ite := flattree.NewIterator(r.Index)
		for cnt := 0; ite.Index != index; cnt++ {
			if cnt >= loopGuard {
				return 0, fmt.Errorf("%w: bad byte offset index %d", ErrInvalidRequest, index)
			}
			if index < ite.Index {
				ite.LeftChild()
			} else {
				n, err := mustNode(src, ite.LeftChild())
				if err != nil {
					return 0, err
				}
				sum += n.Size
				ite.Sibling()
			}
		}
		return sum, nil
	}
	return 0, fmt.Errorf("%w: byte offset of %d not found", ErrInvalidRequest, index)
}

func seekTrustedTree(src nodeSource, root uint64, bytes int64, padding uint64) (uint64, error) {
	if bytes == 0 {
		return root, nil
	}
	ite := flattree.NewIterator(root)
	for cnt := 0; ite.Index&1 == 1; cnt++ {
		if cnt >= loopGuard {
			return 0, fmt.Errorf("%w: bad seek", ErrInvalidRequest)
		}
		l, ok, err := src.getNode(ite.LeftChild())
		if err != nil {
			return 0, err
		}
		if !ok {
			ite.Parent()
			return ite.Index, nil
		}
		size := unpadded(l.Size, padding, ite.CountLeaves())
		if size == bytes {
			return ite.Index, nil
		}
		if size > bytes {
			continue
		}
		bytes -= size
		ite.Sibling()
	}
	return ite.Index, nil
}

func seekUntrustedTree(t *tree, src nodeSource, root, bytes, padding uint64) (uint64, error) {
	off, err := byteOffset(t, src, root)
	if err != nil {
		return 0, err
	}
	offset := unpadded(off, padding, flattree.LeftSpan(root)/2)
	b := int64(bytes)
	if offset > b {
		return 0, fmt.Errorf("%w: invalid seek", ErrInvalidRequest)
	}
	if offset == b {
		return root, nil
	}
	b -= offset
	n, err := mustNode(src, root)
	if err != nil {
		return 0, err
	}
	if unpadded(n.Size, padding, flattree.CountLeaves(root)) <= b {
		return 0, fmt.Errorf("%w: invalid seek", ErrInvalidRequest)
	}
	return seekTrustedTree(src, root, b, padding)
}

func seekFromHead(src nodeSource, head, bytes, padding uint64) (uint64, error) {
	b := int64(bytes)
	for _, r := range flattree.FullRoots(head) {
		n, err := mustNode(src, r)
		if err != nil {
			return 0, err
		}
		size := unpadded(n.Size, padding, flattree.CountLeaves(r))
		if b == size {
			return r, nil
		}
		if b > size {
			b -= size
			continue
		}
		return seekTrustedTree(src, r, b, padding)
	}
	return head, nil
}

func seekProof(src nodeSource, seekRoot, root uint64, p *pendingProof) error {
	ite := flattree.NewIterator(seekRoot)
	p.hasSeek = true
	p.seek = p.seek[:0]
	n, err := mustNode(src, ite.Index)
	if err != nil {
		return err
	}
	p.seek = append(p.seek, n)
	for cnt := 0; ite.Index != root; cnt++ {
		if cnt >= loopGuard {
			return fmt.Errorf("%w: bad seek proof", ErrInvalidRequest)
		}
		n, err := mustNode(src, ite.Sibling())
		if err != nil {
			return err
		}
		p.seek = append(p.seek, n)
		ite.Parent()
	}
	return nil
}

func blockAndSeekProof(src nodeSource, node *indexed, seek bool, seekRoot, root uint64, p *pendingProof) error {
	if node == nil {
		return seekProof(src, seekRoot, root, p)
	}
	ite := flattree.NewIterator(node.index)
	p.hasNode = true
	// One node per level up to root (plus the node itself for a hash
	// proof): allocated once.
	size := 1
	if d, e := flattree.Depth(root), flattree.Depth(node.index); d > e && d-e < 64 {
		size += int(d - e)
	}
	p.node = make([]Node, 0, size)
	if !node.value {
		n, err := mustNode(src, ite.Index)
		if err != nil {
			return err
		}
		p.node = append(p.node, n)
	}
	for cnt := 0; ite.Index != root; cnt++ {
		if cnt >= loopGuard {
			return fmt.Errorf("%w: bad block proof", ErrInvalidRequest)
		}
		ite.Sibling()
		if seek && ite.Contains(seekRoot) && ite.Index != seekRoot {
			if err := seekProof(src, seekRoot, ite.Index, p); err != nil {
				return err
			}
		} else {
			n, err := mustNode(src, ite.Index)
			if err != nil {
				return err
			}
			p.node = append(p.node, n)
		}
		ite.Parent()
	}
	return nil
}

func upgradeProof(src nodeSource, node *indexed, seek bool, from, to, subTree uint64, p *pendingProof) error {
	if from == 0 {
		p.hasUpgrade = true
		p.upgrade = []Node{}
	}
	for ite := flattree.NewIterator(0); ite.FullRoot(to); ite.NextTree() {
		if ite.Index+ite.Factor/2 < from {
			continue
		}
		if !p.hasUpgrade && ite.Contains(from-2) {
			p.hasUpgrade = true
			p.upgrade = []Node{}
			root := ite.Index
			target := from - 2
			ite.Seek(target)
			for cnt := 0; ite.Index != root; cnt++ {
				if cnt >= loopGuard {
					return fmt.Errorf("%w: bad upgrade proof", ErrInvalidRequest)
				}
				ite.Sibling()
				if ite.Index > target {
					if !p.hasNode && !p.hasSeek && ite.Contains(subTree) {
						if err := blockAndSeekProof(src, node, seek, subTree, ite.Index, p); err != nil {
							return err
						}
					} else {
						n, err := mustNode(src, ite.Index)
						if err != nil {
							return err
						}
						p.upgrade = append(p.upgrade, n)
					}
				}
				ite.Parent()
			}
			continue
		}
		if !p.hasUpgrade {
			p.hasUpgrade = true
			p.upgrade = []Node{}
		}
		if !p.hasNode && !p.hasSeek && ite.Contains(subTree) {
			if err := blockAndSeekProof(src, node, seek, subTree, ite.Index, p); err != nil {
				return err
			}
			continue
		}
		n, err := mustNode(src, ite.Index)
		if err != nil {
			return err
		}
		p.upgrade = append(p.upgrade, n)
	}
	return nil
}

func additionalUpgradeProof(src nodeSource, from, to uint64, p *pendingProof) error {
	if from == 0 {
		p.hasAdditon = true
		p.additional = []Node{}
	}
	for ite := flattree.NewIterator(0); ite.FullRoot(to); ite.NextTree() {
		if ite.Index+ite.Factor/2 < from {
			continue
		}
		if !p.hasAdditon && ite.Contains(from-2) {
			p.hasAdditon = true
			p.additional = []Node{}
			root := ite.Index
			target := from - 2
			ite.Seek(target)
			for cnt := 0; ite.Index != root; cnt++ {
				if cnt >= loopGuard {
					return fmt.Errorf("%w: bad additional upgrade proof", ErrInvalidRequest)
				}
				ite.Sibling()
				if ite.Index > target {
					n, err := mustNode(src, ite.Index)
					if err != nil {
						return err
					}
					p.additional = append(p.additional, n)
				}
				ite.Parent()
			}
			continue
		}
		if !p.hasAdditon {
			p.hasAdditon = true
			p.additional = []Node{}
		}
		n, err := mustNode(src, ite.Index)
		if err != nil {
			return err
		}
		p.additional = append(p.additional, n)
	}
	return nil
}

// ErrOutOfRange is returned for a byte offset or block index beyond the core.
var ErrOutOfRange = errors.New("hypercore: out of range")

// errNodesMissing is returned by seek when the local tree lacks the nodes to
// answer; replication then asks a peer.
var errNodesMissing = errors.New("hypercore: tree nodes missing for seek")

// seekLocal finds the block holding byte offset bytes (counting padding bytes
// less per block) and the offset within it, using the nodes in src.
func seekLocal(src nodeSource, t *tree, bytes, padding uint64) (index, rel uint64, err error) {
	if bytes > maxSafe {
		return 0, 0, ErrOutOfRange
	}
	if bytes == 0 {
		if t.length == 0 {
			return 0, 0, ErrOutOfRange
		}
		return 0, 0, nil
	}
	b := int64(bytes)
	for _, r := range t.roots {
		size := unpadded(r.Size, padding, flattree.CountLeaves(r.Index))
		if b == size {
			i := (flattree.RightSpan(r.Index) + 2) / 2
			if i >= t.length {
				return 0, 0, ErrOutOfRange
			}
			return i, 0, nil
		}
		if b > size {
			b -= size
			continue
		}
		ite := flattree.NewIterator(r.Index)
		for cnt := 0; ite.Index&1 == 1; cnt++ {
			if cnt >= loopGuard {
				return 0, 0, ErrInvalidRequest
			}
			l, ok, err := src.getNode(ite.LeftChild())
			if err != nil {
				return 0, 0, err
			}
			if !ok {
				return 0, 0, errNodesMissing
			}
			size := unpadded(l.Size, padding, ite.CountLeaves())
			if size == b {
				return (ite.RightSpan() + 2) / 2, 0, nil
			}
			if size > b {
				continue
			}
			b -= size
			ite.Sibling()
		}
		return ite.Index / 2, uint64(b), nil
	}
	return 0, 0, ErrOutOfRange
}

// overlay reads nodes from a list first (a batch being verified), then
// from next.
type overlay struct {
	nodes []Node
	next  nodeSource
}

func (o overlay) getNode(index uint64) (Node, bool, error) {
	for i := len(o.nodes) - 1; i >= 0; i-- {
		if o.nodes[i].Index == index {
			return o.nodes[i], true, nil
		}
	}
	return o.next.getNode(index)
}
