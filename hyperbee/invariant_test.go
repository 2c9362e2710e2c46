package hyperbee

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

// checkTree walks the tree at the bee's version and checks it is a B-tree
// of hyperbee's shape: keys in order, every node but the root holding
// minKeys to maxChildren-1 keys, inner nodes one child more than keys, all
// leaves at one depth. It returns the number of keys.
func checkTree(t testing.TB, b *Bee) int {
	t.Helper()
	ctx := context.Background()
	tx := b.reader()
	root, err := tx.root(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if root == nil {
		return 0
	}
	leafDepth := -1
	count := 0
	var walk func(n *treeNode, depth int, lo, hi []byte) error
	walk = func(n *treeNode, depth int, lo, hi []byte) error {
		if depth > 0 && (len(n.keys) < minKeys || len(n.keys) >= maxChildren) {
			return fmt.Errorf("node at depth %d has %d keys", depth, len(n.keys))
		}
		if len(n.keys) >= maxChildren {
			return fmt.Errorf("root has %d keys", len(n.keys))
		}
		keys := make([][]byte, len(n.keys))
		for i, k := range n.keys {
			if keys[i], err = tx.keyOf(ctx, k); err != nil {
				return err
			}
			if i > 0 && bytes.Compare(keys[i-1], keys[i]) >= 0 {
				return fmt.Errorf("keys out of order at depth %d", depth)
			}
			if lo != nil && bytes.Compare(keys[i], lo) <= 0 || hi != nil && bytes.Compare(keys[i], hi) >= 0 {
				return fmt.Errorf("key %q outside (%q, %q)", keys[i], lo, hi)
			}
		}
		count += len(keys)
		if len(n.children) == 0 {
			if leafDepth == -1 {
				leafDepth = depth
			} else if leafDepth != depth {
				return fmt.Errorf("leaves at depths %d and %d", leafDepth, depth)
			}
			return nil
		}
		if len(n.children) != len(n.keys)+1 {
			return fmt.Errorf("%d keys, %d children", len(n.keys), len(n.children))
		}
		for i := range n.children {
			c, err := tx.childNode(ctx, n, i)
			if err != nil {
				return err
			}
			clo, chi := lo, hi
			if i > 0 {
				clo = keys[i-1]
			}
			if i < len(keys) {
				chi = keys[i]
			}
			if err := walk(c, depth+1, clo, chi); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, 0, nil, nil); err != nil {
		t.Fatal(err)
	}
	return count
}

// FuzzOps runs random puts, deletes and batches and checks the tree stays
// a well-formed B-tree that agrees with a map.
func FuzzOps(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 200, 201, 202})
	f.Add(bytes.Repeat([]byte{17, 130, 255, 3}, 100))
	f.Fuzz(func(t *testing.T, ops []byte) {
		ctx := context.Background()
		b := New(&MemLog{}, Options{})
		m := map[string]bool{}
		var bt *Batch
		for i, op := range ops {
			k := []byte{'k', op & 0x3f}
			var err error
			switch {
			case op>>6 == 3 && bt == nil:
				bt = b.Batch()
			case op>>6 == 3:
				err = bt.Flush(ctx)
				bt = nil
			case op>>6 == 2:
				if bt != nil {
					err = bt.Del(ctx, k)
				} else {
					err = b.Del(ctx, k)
				}
				delete(m, string(k))
			default:
				if bt != nil {
					err = bt.Put(ctx, k, []byte{byte(i)})
				} else {
					err = b.Put(ctx, k, []byte{byte(i)})
				}
				m[string(k)] = true
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if bt != nil {
			if err := bt.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if n := checkTree(t, b); n != len(m) {
			t.Fatalf("tree has %d keys, map %d", n, len(m))
		}
		for k := range m {
			if e, err := b.Get(ctx, []byte(k)); err != nil || e == nil {
				t.Fatalf("key %q: %v %v", k, e, err)
			}
		}
	})
}

func TestTreeShape(t *testing.T) {
	ctx := context.Background()
	b := New(&MemLog{}, Options{})
	for i := range 3000 {
		b.Put(ctx, tkey(i*7919%3000), []byte("v"))
		if i%500 == 0 {
			checkTree(t, b)
		}
	}
	for i := range 2500 {
		b.Del(ctx, tkey(i*104729%3000))
		if i%250 == 0 {
			checkTree(t, b)
		}
	}
	if n := checkTree(t, b); n != 500 {
		t.Fatalf("%d keys", n)
	}
}

// FuzzOpsCAS adds refused and accepted compare-and-swaps, same-value puts
// with SkipSameValue and sub-databases to FuzzOps: two bytes per operation.
func FuzzOpsCAS(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 6, 1, 1, 1, 2, 2, 7, 3, 3, 2, 4, 1, 5, 1})
	f.Add(bytes.Repeat([]byte{0, 9, 6, 0, 3, 9, 0, 10, 7, 0, 1, 4}, 30))
	f.Fuzz(func(t *testing.T, ops []byte) {
		ctx := context.Background()
		b := New(&MemLog{}, Options{SkipSameValue: len(ops)%2 == 1})
		sub := b.Sub([]byte("s"), nil)
		m := map[string]byte{}
		var bt, sbt *Batch
		refuse := func(prev, next *Entry) bool { return false }
		accept := func(prev, next *Entry) bool { return true }
		for i := 0; i+1 < len(ops); i += 2 {
			kind, kb := ops[i]%8, ops[i+1]
			k := []byte{'k', kb & 0x1f}
			target, full := b, string(k)
			if kb&0x20 != 0 {
				target, full = sub, "s\x00"+string(k)
			}
			v := []byte{kb >> 6}
			var err error
			put := func(c CAS) {
				switch {
				case bt != nil && target == b:
					_, err = bt.PutCAS(ctx, k, v, c)
				case sbt != nil && target == sub:
					_, err = sbt.PutCAS(ctx, k, v, c)
				case bt == nil && sbt == nil:
					_, err = target.PutCAS(ctx, k, v, c)
				default:
					return
				}
				if _, ok := m[full]; !ok || c == nil || c(nil, nil) {
					m[full] = v[0]
				}
			}
			del := func(c CAS) {
				switch {
				case bt != nil && target == b:
					_, err = bt.DelCAS(ctx, k, c)
				case sbt != nil && target == sub:
					_, err = sbt.DelCAS(ctx, k, c)
				case bt == nil && sbt == nil:
					_, err = target.DelCAS(ctx, k, c)
				default:
					return
				}
				if c == nil || c(nil, nil) {
					delete(m, full)
				}
			}
			switch kind {
			case 0, 1:
				put(nil)
			case 2:
				del(nil)
			case 3:
				put(refuse)
			case 4:
				put(accept)
			case 5:
				del(refuse)
			case 6, 7:
				switch {
				case bt != nil:
					err, bt = bt.Flush(ctx), nil
				case sbt != nil:
					err, sbt = sbt.Flush(ctx), nil
				case kind == 6:
					bt = b.Batch()
				default:
					sbt = sub.Batch()
				}
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		for _, x := range []*Batch{bt, sbt} {
			if x != nil {
				if err := x.Flush(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		if n := checkTree(t, b); n != len(m) {
			t.Fatalf("tree has %d keys, map %d", n, len(m))
		}
		for k, v := range m {
			e, err := b.Get(ctx, []byte(k))
			if err != nil || e == nil || len(e.Value) != 1 || e.Value[0] != v {
				t.Fatalf("key %q: %+v %v, want %d", k, e, err, v)
			}
		}
	})
}
