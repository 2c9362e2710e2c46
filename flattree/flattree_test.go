package flattree

import (
	"encoding/json"
	"os"
	"slices"
	"testing"
)

type vectors struct {
	Nodes []struct {
		Index, Depth, Offset, Parent, Sibling uint64
		Children                              []uint64
		LeftSpan, RightSpan, Count            uint64
		CountLeaves, NextLeaf                 uint64
		FullRoots                             []uint64
	}
	Big []struct {
		Index, Depth, Offset, Parent, Sibling, LeftSpan, RightSpan uint64
	}
	Walks []struct {
		Start uint64
		Moves []string
		Seen  [][]any
	}
	RootWalks []struct {
		Head  uint64
		Roots []uint64
	}
}

// loadVectors reads the vectors dumped from npm flat-tree by
// interop/js/hypercore-flattree.js.
func loadVectors(t *testing.T) *vectors {
	t.Helper()
	b, err := os.ReadFile("testdata/vectors.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

func TestNodesMatchJS(t *testing.T) {
	v := loadVectors(t)
	if len(v.Nodes) < 100 {
		t.Fatal("too few vectors")
	}
	for _, n := range v.Nodes {
		i := n.Index
		check := func(name string, got, want uint64) {
			if got != want {
				t.Errorf("%s(%d) = %d, want %d", name, i, got, want)
			}
		}
		check("Depth", Depth(i), n.Depth)
		check("Offset", Offset(i), n.Offset)
		check("Parent", Parent(i), n.Parent)
		check("Sibling", Sibling(i), n.Sibling)
		check("LeftSpan", LeftSpan(i), n.LeftSpan)
		check("RightSpan", RightSpan(i), n.RightSpan)
		check("Count", Count(i), n.Count)
		check("CountLeaves", CountLeaves(i), n.CountLeaves)
		check("NextLeaf", NextLeaf(i), n.NextLeaf)
		check("Index", Index(Depth(i), Offset(i)), i)
		l, r, ok := Children(i)
		if ok != (n.Children != nil) || (ok && (l != n.Children[0] || r != n.Children[1])) {
			t.Errorf("Children(%d) = %d %d %v, want %v", i, l, r, ok, n.Children)
		}
		if i%2 == 0 {
			got := FullRoots(i)
			if len(got) != len(n.FullRoots) || !slices.Equal(got, n.FullRoots) {
				t.Errorf("FullRoots(%d) = %v, want %v", i, got, n.FullRoots)
			}
		}
	}
	for _, n := range v.Big {
		i := n.Index
		if Depth(i) != n.Depth || Offset(i) != n.Offset || Parent(i) != n.Parent ||
			Sibling(i) != n.Sibling || LeftSpan(i) != n.LeftSpan || RightSpan(i) != n.RightSpan {
			t.Errorf("big index %d disagrees with JS", i)
		}
	}
}

func TestIteratorMatchesJS(t *testing.T) {
	v := loadVectors(t)
	for _, w := range v.Walks {
		it := NewIterator(w.Start)
		for k, m := range w.Moves {
			switch m {
			case "parent":
				it.Parent()
			case "sibling":
				it.Sibling()
			case "leftChild":
				it.LeftChild()
			case "rightChild":
				it.RightChild()
			case "next":
				it.Next()
			case "prev":
				it.Prev()
			case "rightSpan":
				it.RightSpan()
			case "leftSpan":
				it.LeftSpan()
			case "nextTree":
				it.NextTree()
			case "prevTree":
				it.PrevTree()
			default:
				t.Fatalf("unknown move %q", m)
			}
			s := w.Seen[k]
			got := []any{float64(it.Index), float64(it.Offset), float64(it.Factor), it.IsLeft(), it.Contains(w.Start), it.IsRoot(8), float64(it.Count())}
			for j := range s {
				if s[j] != got[j] {
					t.Fatalf("start %d move %d (%s): got %v, want %v", w.Start, k, m, got, s)
				}
			}
		}
	}
	for _, rw := range v.RootWalks {
		var got []uint64
		for it := NewIterator(0); it.FullRoot(rw.Head); it.NextTree() {
			got = append(got, it.Index)
		}
		if !slices.Equal(got, rw.Roots) {
			t.Errorf("root walk to %d = %v, want %v", rw.Head, got, rw.Roots)
		}
		if fr := FullRoots(rw.Head); !slices.Equal(fr, rw.Roots) {
			t.Errorf("FullRoots(%d) = %v, want %v", rw.Head, fr, rw.Roots)
		}
	}
}

func TestFullRootsOdd(t *testing.T) {
	if FullRoots(3) != nil {
		t.Fatal("odd index must give nil")
	}
}
