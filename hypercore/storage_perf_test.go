package hypercore

import (
	"math/rand/v2"
	"testing"
)

// checkBits compares every bit of the core's bitfield below n, as read back
// from storage, with want.
func checkBits(t *testing.T, c *Core, want []bool) {
	t.Helper()
	c.pagesMu.Lock()
	c.pages = map[uint64][]byte{}
	c.pagesMu.Unlock()
	for i, w := range want {
		if got := c.hasLocked(uint64(i)); got != w {
			t.Fatalf("bit %d = %v, want %v", i, got, w)
		}
	}
}

// TestBitfieldSegments sets and clears random ranges, storing only the
// segments each change touched, and reads the bitfield back from storage
// after every change and after reopening.
func TestBitfieldSegments(t *testing.T) {
	dir := t.TempDir()
	c, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 3*bitfieldPageBits + 100
	want := make([]bool, n)
	rng := rand.New(rand.NewPCG(1, 2))
	for round := range 60 {
		start := uint64(rng.IntN(n))
		end := start + uint64(rng.IntN(3000))
		if round%7 == 0 {
			end = start + uint64(rng.IntN(2*bitfieldPageBits))
		}
		end = min(end, n)
		on := rng.IntN(3) != 0
		c.mu.Lock()
		dirty := c.setBits(start, end, on)
		wb := c.st.db.NewBatch()
		c.writePages(wb, dirty)
		if err := wb.Commit(c.st.wo); err != nil {
			t.Fatal(err)
		}
		wb.Close()
		for i := start; i < end; i++ {
			want[i] = on
		}
		if round%10 == 0 {
			checkBits(t, c, want)
		}
		c.mu.Unlock()
	}
	c.Close()
	if c, err = Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	checkBits(t, c, want)
}

// TestBitfieldLegacyPages reads a store written with whole bitfield pages:
// the page holds the bits, and a segment stored later overrides its part.
func TestBitfieldLegacyPages(t *testing.T) {
	c, err := Open(t.TempDir(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	page := make([]byte, bitfieldPageBytes)
	for i := range page {
		page[i] = 0xff
	}
	seg := make([]byte, bitfieldSegmentBytes) // segment 1 of page 1: all clear
	wb := c.st.db.NewBatch()
	wb.Set(c.st.idx(keyBitfield, 1), page, nil)
	wb.Set(c.st.idx(keySegment, segmentsPerPage+1), seg, nil)
	if err := wb.Commit(c.st.wo); err != nil {
		t.Fatal(err)
	}
	wb.Close()
	want := make([]bool, 2*bitfieldPageBits)
	for i := bitfieldPageBits; i < len(want); i++ {
		want[i] = i < bitfieldPageBits+bitfieldSegmentBits || i >= bitfieldPageBits+2*bitfieldSegmentBits
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	checkBits(t, c, want)
}
