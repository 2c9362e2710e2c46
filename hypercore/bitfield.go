package hypercore

import (
	"math/bits"

	"github.com/cockroachdb/pebble/v2"
)

// The bitfield says which blocks are stored. It is kept in pages of
// bitfieldPageBits bits, cached in memory and written with the batch that
// changes them.

func (c *Core) page(p uint64) []byte {
	// Readers holding only c.mu's read lock may fill the cache concurrently.
	c.pagesMu.Lock()
	defer c.pagesMu.Unlock()
	if b, ok := c.pages[p]; ok {
		return b
	}
	v, ok, err := c.st.get(indexKey(keyBitfield, p))
	if err != nil || !ok || len(v) != bitfieldPageBytes {
		v = make([]byte, bitfieldPageBytes)
	}
	c.pages[p] = v
	return v
}

func (c *Core) hasLocked(i uint64) bool {
	b := c.page(i / bitfieldPageBits)
	j := i % bitfieldPageBits
	return b[j/8]&(1<<(j%8)) != 0
}

// setBits sets or clears [start, end) and returns the pages touched, whose
// previous contents are remembered until the batch commits.
func (c *Core) setBits(start, end uint64, on bool) []uint64 {
	var dirty []uint64
	for i := start; i < end; {
		p := i / bitfieldPageBits
		b := c.page(p)
		stop := min(end, (p+1)*bitfieldPageBits)
		for ; i < stop; i++ {
			j := i % bitfieldPageBits
			if on {
				b[j/8] |= 1 << (j % 8)
			} else {
				b[j/8] &^= 1 << (j % 8)
			}
		}
		dirty = append(dirty, p)
	}
	return dirty
}

func (c *Core) writePages(wb *pebble.Batch, dirty []uint64) {
	for _, p := range dirty {
		wb.Set(indexKey(keyBitfield, p), c.page(p), nil)
	}
}

// dropPages forgets cached pages after a failed commit so they are read
// again from storage.
func (c *Core) dropPages(dirty []uint64) {
	c.pagesMu.Lock()
	defer c.pagesMu.Unlock()
	for _, p := range dirty {
		delete(c.pages, p)
	}
}

// scanContiguous returns the first block at or after from that is not stored.
func (c *Core) scanContiguous(from uint64) uint64 {
	i := from
	for i < c.t.length {
		p := i / bitfieldPageBits
		b := c.page(p)
		j := i % bitfieldPageBits
		if j%64 == 0 && j+64 <= bitfieldPageBits {
			w := uint64(0)
			for k := range 8 {
				w |= uint64(b[j/8+uint64(k)]) << (8 * k)
			}
			if w == ^uint64(0) {
				i += 64
				continue
			}
			i += uint64(bits.TrailingZeros64(^w))
			break
		}
		if b[j/8]&(1<<(j%8)) == 0 {
			break
		}
		i++
	}
	return min(i, c.t.length)
}

func (c *Core) loadContiguous() error {
	c.contiguous = c.scanContiguous(0)
	return nil
}
