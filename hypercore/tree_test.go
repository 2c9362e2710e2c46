package hypercore

import (
	"errors"
	"fmt"
	"testing"

	"github.com/warrenp2p/warren/flattree"
)

type memNodes map[uint64]Node

func (m memNodes) getNode(i uint64) (Node, bool, error) {
	n, ok := m[i]
	return n, ok, nil
}

// buildTree appends n blocks "block-i" and returns the tree and all nodes.
func buildTree(n int) (*tree, memNodes) {
	b := newBatch(&tree{})
	for i := range n {
		b.append(blockData(i))
	}
	nodes := memNodes{}
	for _, x := range b.nodes {
		nodes[x.Index] = x
	}
	t := b.tree.clone()
	return t, nodes
}

func blockData(i int) []byte { return []byte(fmt.Sprintf("block-%d", i)) }

// prefix returns the reader's view: the tree at length m and the nodes of it.
func prefix(full memNodes, m uint64) (*tree, memNodes) {
	src := memNodes{}
	for i, n := range full {
		if flattree.RightSpan(i) < 2*m {
			src[i] = n
		}
	}
	roots, err := rootsAt(src, m)
	if err != nil {
		panic(err)
	}
	return &tree{length: m, roots: roots, byteLength: totalSize(roots)}, src
}

func TestTreeHashMatchesRebuild(t *testing.T) {
	full, nodes := buildTree(13)
	roots, err := rootsAt(nodes, 13)
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != 3 || full.hash() != (&tree{roots: roots}).hash() {
		t.Fatalf("roots %v", roots)
	}
	var size uint64
	for i := range 13 {
		size += uint64(len(blockData(i)))
	}
	if full.byteLength != size {
		t.Fatalf("byte length %d want %d", full.byteLength, size)
	}
}

func TestProofsUpgradeEveryShape(t *testing.T) {
	for n := uint64(1); n <= 33; n++ {
		full, nodes := buildTree(int(n))
		for m := uint64(0); m < n; m++ {
			reader, rsrc := prefix(nodes, m)
			for i := uint64(0); i < n; i++ {
				req := ProofRequest{Block: &RequestBlock{Index: i}, Upgrade: &RequestUpgrade{Start: m, Length: n - m}}
				p, err := generateProof(full, nodes, req)
				if err != nil {
					t.Fatalf("n=%d m=%d i=%d: %v", n, m, i, err)
				}
				p.Block.Value = blockData(int(i))
				b, err := verifyProof(reader, rsrc, p)
				if err != nil {
					t.Fatalf("n=%d m=%d i=%d verify: %v", n, m, i, err)
				}
				if b.length != n || b.hash() != full.hash() || b.byteLength != full.byteLength {
					t.Fatalf("n=%d m=%d i=%d: batch length %d", n, m, i, b.length)
				}
				// A changed block must not verify to the same tree.
				p.Block.Value = []byte("evil")
				b, err = verifyProof(reader, rsrc, p)
				if err == nil && b.hash() == full.hash() {
					t.Fatalf("n=%d m=%d i=%d: tampered block verified", n, m, i)
				}
			}
		}
	}
}

func TestProofBlockWithoutUpgrade(t *testing.T) {
	full, nodes := buildTree(20)
	for i := uint64(0); i < 20; i++ {
		// The reader has the tree but not the leaf.
		rsrc := memNodes{}
		for k, v := range nodes {
			if k != 2*i {
				rsrc[k] = v
			}
		}
		// Ask for one node: the leaf's sibling; the parent is then checked
		// against the reader's store.
		p, err := generateProof(full, nodes, ProofRequest{Block: &RequestBlock{Index: i, Nodes: 1}})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Block.Nodes) != 1 {
			t.Fatalf("block %d: %d nodes", i, len(p.Block.Nodes))
		}
		p.Block.Value = blockData(int(i))
		if _, err := verifyProof(full, rsrc, p); err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		p.Block.Value = []byte("x")
		if _, err := verifyProof(full, rsrc, p); !errors.Is(err, ErrInvalidChecksum) {
			t.Fatalf("block %d tampered: %v", i, err)
		}
	}
}

func TestProofSeek(t *testing.T) {
	full, nodes := buildTree(20)
	var offsets []uint64
	var off uint64
	for i := range 20 {
		offsets = append(offsets, off)
		off += uint64(len(blockData(i)))
	}
	for i, o := range offsets {
		for _, delta := range []uint64{0, 3} {
			reader, rsrc := prefix(nodes, 0)
			p, err := generateProof(full, nodes, ProofRequest{Seek: &RequestSeek{Bytes: o + delta}, Upgrade: &RequestUpgrade{Start: 0, Length: 20}})
			if err != nil {
				t.Fatal(err)
			}
			b, err := verifyProof(reader, rsrc, p)
			if err != nil {
				t.Fatalf("seek %d: %v", o+delta, err)
			}
			if b.hash() != full.hash() {
				t.Fatal("seek upgrade hash")
			}
			got := map[uint64]Node{}
			for _, n := range b.nodes {
				got[n.Index] = n
			}
			idx, rel, err := seekLocal(memNodes(got), &b.tree, o+delta, 0)
			if err != nil || idx != uint64(i) || rel != delta {
				t.Fatalf("seek %d: got block %d+%d (%v), want %d+%d", o+delta, idx, rel, err, i, delta)
			}
		}
	}
}

func TestGenerateProofRejectsBadRequests(t *testing.T) {
	full, nodes := buildTree(10)
	bad := []ProofRequest{
		{Upgrade: &RequestUpgrade{Start: 5, Length: 6}},
		{Upgrade: &RequestUpgrade{Start: 5, Length: 0}},
		{Block: &RequestBlock{Index: 3, Nodes: 30}},
		{Block: &RequestBlock{Index: 1 << 62}},
		{Hash: &RequestBlock{Index: 1<<64 - 1}},
		{Seek: &RequestSeek{Bytes: 1 << 60}, Upgrade: &RequestUpgrade{Length: 10}},
	}
	for i, r := range bad {
		if _, err := generateProof(full, nodes, r); err == nil {
			t.Errorf("request %d: no error", i)
		}
	}
}
