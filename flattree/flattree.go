// Package flattree maps a binary tree onto a flat list, the layout hypercore
// uses for its Merkle tree (npm flat-tree 1.x).
//
// Leaves sit at the even indexes 0, 2, 4, ...; each parent sits between its
// two children, so index 1 is the parent of 0 and 2, index 3 the parent of 1
// and 5, and so on. The depth of a node is the number of trailing one bits of
// its index; its offset is its position among the nodes of the same depth.
package flattree

import "math/bits"

// Index returns the flat index of the node at depth and offset.
func Index(depth, offset uint64) uint64 {
	return (1+2*offset)<<depth - 1
}

// Depth returns the depth of index: 0 for leaves.
func Depth(index uint64) uint64 {
	return uint64(bits.TrailingZeros64(^index))
}

// Offset returns the position of index among the nodes of its depth.
func Offset(index uint64) uint64 {
	if index&1 == 0 {
		return index / 2
	}
	return index >> (Depth(index) + 1)
}

// Parent returns the index of the parent of index.
func Parent(index uint64) uint64 {
	d := Depth(index)
	return Index(d+1, Offset(index)>>1)
}

// Sibling returns the index of the other child of index's parent.
func Sibling(index uint64) uint64 {
	d := Depth(index)
	return Index(d, Offset(index)^1)
}

// Uncle returns the sibling of index's parent.
func Uncle(index uint64) uint64 {
	return Sibling(Parent(index))
}

// Children returns the two children of index; ok is false for a leaf.
func Children(index uint64) (left, right uint64, ok bool) {
	if index&1 == 0 {
		return 0, 0, false
	}
	d := Depth(index)
	o := Offset(index) * 2
	return Index(d-1, o), Index(d-1, o+1), true
}

// LeftChild returns the left child of index; ok is false for a leaf.
func LeftChild(index uint64) (uint64, bool) {
	l, _, ok := Children(index)
	return l, ok
}

// RightChild returns the right child of index; ok is false for a leaf.
func RightChild(index uint64) (uint64, bool) {
	_, r, ok := Children(index)
	return r, ok
}

// LeftSpan returns the leftmost leaf below index (index itself for a leaf).
func LeftSpan(index uint64) uint64 {
	if index&1 == 0 {
		return index
	}
	d := Depth(index)
	return Offset(index) << (d + 1)
}

// RightSpan returns the rightmost leaf below index (index itself for a leaf).
func RightSpan(index uint64) uint64 {
	if index&1 == 0 {
		return index
	}
	d := Depth(index)
	return (Offset(index)+1)<<(d+1) - 2
}

// Spans returns LeftSpan and RightSpan of index.
func Spans(index uint64) (left, right uint64) {
	return LeftSpan(index), RightSpan(index)
}

// Count returns the number of nodes in the subtree rooted at index,
// index included.
func Count(index uint64) uint64 {
	if index&1 == 0 {
		return 1
	}
	return 2<<Depth(index) - 1
}

// CountLeaves returns the number of leaves below index (1 for a leaf).
func CountLeaves(index uint64) uint64 {
	return (Count(index) + 1) / 2
}

// NextLeaf returns the leaf just right of the subtree rooted at index.
func NextLeaf(index uint64) uint64 {
	return RightSpan(index) + 2
}

// FullRoots returns the roots of the complete subtrees that together cover
// the leaves left of the leaf index, in order. index must be even (a leaf
// position; 2*length for a tree of length leaves); FullRoots(0) is empty.
// For an odd index it returns nil.
func FullRoots(index uint64) []uint64 {
	if index&1 == 1 {
		return nil
	}
	var out []uint64
	n := index / 2
	var offset uint64
	for n > 0 {
		factor := uint64(1) << (63 - bits.LeadingZeros64(n))
		out = append(out, offset+factor-1)
		offset += 2 * factor
		n -= factor
	}
	return out
}

// Iterator walks a flat tree from node to node without recomputing depths.
// The zero value is not positioned; use NewIterator.
type Iterator struct {
	Index  uint64 // the current node
	Offset uint64 // its offset at its depth
	Factor uint64 // 2 << depth: twice the number of leaves below it
}

// NewIterator returns an iterator positioned at index.
func NewIterator(index uint64) *Iterator {
	it := &Iterator{}
	it.Seek(index)
	return it
}

// Seek moves to index.
func (it *Iterator) Seek(index uint64) {
	it.Index = index
	if index&1 == 1 {
		it.Offset = Offset(index)
		it.Factor = 2 << Depth(index)
	} else {
		it.Offset = index / 2
		it.Factor = 2
	}
}

// IsLeft reports whether the current node is a left child.
func (it *Iterator) IsLeft() bool { return it.Offset&1 == 0 }

// IsRight reports whether the current node is a right child.
func (it *Iterator) IsRight() bool { return it.Offset&1 == 1 }

// Contains reports whether index lies in the subtree of the current node.
func (it *Iterator) Contains(index uint64) bool {
	switch {
	case index > it.Index:
		return index < it.Index+it.Factor/2
	case index < it.Index:
		return index+it.Factor/2 > it.Index
	default:
		return true
	}
}

// IsRoot reports whether the current node is a root of a tree of length leaves.
func (it *Iterator) IsRoot(length uint64) bool {
	cur := 1 + (it.Index+it.Factor/2-1)/2
	if length < cur {
		return false
	}
	factor := it.Factor * 2
	var index uint64
	if it.Offset&1 == 1 {
		index = it.Index - it.Factor/2
	} else {
		index = it.Index + it.Factor/2
	}
	parentLen := 1 + (index+factor/2-1)/2
	return parentLen > length
}

// Prev moves to the node left of the current one at the same depth
// (staying put at offset 0) and returns its index.
func (it *Iterator) Prev() uint64 {
	if it.Offset == 0 {
		return it.Index
	}
	it.Offset--
	it.Index -= it.Factor
	return it.Index
}

// Next moves to the node right of the current one at the same depth.
func (it *Iterator) Next() uint64 {
	it.Offset++
	it.Index += it.Factor
	return it.Index
}

// Count returns the number of nodes in the current subtree.
func (it *Iterator) Count() uint64 {
	if it.Index&1 == 0 {
		return 1
	}
	return it.Factor - 1
}

// CountLeaves returns the number of leaves in the current subtree.
func (it *Iterator) CountLeaves() uint64 { return (it.Count() + 1) / 2 }

// Sibling moves to the sibling of the current node.
func (it *Iterator) Sibling() uint64 {
	if it.IsLeft() {
		return it.Next()
	}
	return it.Prev()
}

// Parent moves to the parent of the current node.
func (it *Iterator) Parent() uint64 {
	if it.Offset&1 == 1 {
		it.Index -= it.Factor / 2
		it.Offset = (it.Offset - 1) / 2
	} else {
		it.Index += it.Factor / 2
		it.Offset /= 2
	}
	it.Factor *= 2
	return it.Index
}

// LeftSpan moves to the leftmost leaf of the current subtree.
func (it *Iterator) LeftSpan() uint64 {
	it.Index = it.Index - it.Factor/2 + 1
	it.Offset = it.Index / 2
	it.Factor = 2
	return it.Index
}

// RightSpan moves to the rightmost leaf of the current subtree.
func (it *Iterator) RightSpan() uint64 {
	it.Index = it.Index + it.Factor/2 - 1
	it.Offset = it.Index / 2
	it.Factor = 2
	return it.Index
}

// PeekLeftSpan returns the leftmost leaf of the current subtree without moving.
func (it *Iterator) PeekLeftSpan() uint64 { return it.Index - it.Factor/2 + 1 }

// PeekRightSpan returns the rightmost leaf of the current subtree without moving.
func (it *Iterator) PeekRightSpan() uint64 { return it.Index + it.Factor/2 - 1 }

// LeftChild moves to the left child (stays on a leaf).
func (it *Iterator) LeftChild() uint64 {
	if it.Factor == 2 {
		return it.Index
	}
	it.Factor /= 2
	it.Index -= it.Factor / 2
	it.Offset *= 2
	return it.Index
}

// RightChild moves to the right child (stays on a leaf).
func (it *Iterator) RightChild() uint64 {
	if it.Factor == 2 {
		return it.Index
	}
	it.Factor /= 2
	it.Index += it.Factor / 2
	it.Offset = 2*it.Offset + 1
	return it.Index
}

// NextTree moves to the leaf right after the current subtree.
func (it *Iterator) NextTree() uint64 {
	it.Index = it.Index + it.Factor/2 + 1
	it.Offset = it.Index / 2
	it.Factor = 2
	return it.Index
}

// PrevTree moves to the leaf right before the current subtree (leaf 0 when
// there is none).
func (it *Iterator) PrevTree() uint64 {
	if it.Offset == 0 {
		it.Index = 0
		it.Factor = 2
	} else {
		it.Index = it.Index - it.Factor/2 - 1
		it.Offset = it.Index / 2
		it.Factor = 2
	}
	return it.Index
}

// FullRoot grows the current leaf into the largest complete subtree that ends
// before the leaf index and reports whether there is one. The iterator must
// sit on a leaf below index. Walking FullRoot/NextTree from leaf 0 visits the
// roots of a tree whose head is index.
func (it *Iterator) FullRoot(index uint64) bool {
	if index <= it.Index || it.Index&1 == 1 {
		return false
	}
	for index > it.Index+it.Factor+it.Factor/2 {
		it.Index += it.Factor / 2
		it.Factor *= 2
		it.Offset /= 2
	}
	return true
}
