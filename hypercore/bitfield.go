package hypercore

import (
	"math/bits"

	"github.com/cockroachdb/pebble/v2"
)

// The bitfield says which blocks are stored. It is kept in memory in pages
// of bitfieldPageBits bits and stored in segments of bitfieldSegmentBits
// bits: a batch writes only the segments it changed, so a download of a
// single block writes 128 bytes of bitfield, not a whole page. (Stores
// written before segments hold whole pages under keyBitfield; a stored
// segment overrides its part of such a page.)

// segmentsPerPage is how many segments make a page.
const segmentsPerPage = bitfieldPageBits / bitfieldSegmentBits

func (c *Core) page(p uint64) []byte {
	// Readers holding only c.mu's read lock may fill the cache concurrently.
	c.pagesMu.Lock()
	defer c.pagesMu.Unlock()
	if b, ok := c.pages[p]; ok {
		return b
	}
	v, ok, err := c.st.get(c.st.idx(keyBitfield, p))
	if err != nil || !ok || len(v) != bitfieldPageBytes {
		v = make([]byte, bitfieldPageBytes)
	}
	c.st.segments(p*segmentsPerPage, (p+1)*segmentsPerPage, func(seg uint64, b []byte) {
		if len(b) == bitfieldSegmentBytes {
			copy(v[(seg%segmentsPerPage)*bitfieldSegmentBytes:], b)
		}
	})
	c.pages[p] = v
	return v
}

func (c *Core) hasLocked(i uint64) bool {
	if i < c.contiguous {
		return true // every block below contiguous is stored
	}
	b := c.page(i / bitfieldPageBits)
	j := i % bitfieldPageBits
	return b[j/8]&(1<<(j%8)) != 0
}

// setBits sets or clears [start, end) and returns the segments touched,
// whose pages stay changed in memory until the batch commits (or
// dropPages forgets them).
func (c *Core) setBits(start, end uint64, on bool) []uint64 {
	var dirty []uint64
	for i := start; i < end; {
		seg := i / bitfieldSegmentBits
		p := i / bitfieldPageBits
		b := c.page(p)
		stop := min(end, (seg+1)*bitfieldSegmentBits)
		j, k := i%bitfieldPageBits, (stop-1)%bitfieldPageBits+1
		// Whole bytes at once, then the bits at either end.
		for ; j < k && j%8 != 0; j++ {
			setBit(b, j, on)
		}
		for ; j+8 <= k; j += 8 {
			if on {
				b[j/8] = 0xff
			} else {
				b[j/8] = 0
			}
		}
		for ; j < k; j++ {
			setBit(b, j, on)
		}
		i = stop
		dirty = append(dirty, seg)
	}
	return dirty
}

func setBit(b []byte, j uint64, on bool) {
	if on {
		b[j/8] |= 1 << (j % 8)
	} else {
		b[j/8] &^= 1 << (j % 8)
	}
}

// writePages adds the dirty segments to wb (which copies them).
func (c *Core) writePages(wb *pebble.Batch, dirty []uint64) {
	for _, seg := range dirty {
		b := c.page(seg / segmentsPerPage)
		off := (seg % segmentsPerPage) * bitfieldSegmentBytes
		wb.Set(c.st.idx(keySegment, seg), b[off:off+bitfieldSegmentBytes], nil)
	}
}

// dropPages forgets the cached pages of dirty segments after a failed
// commit so they are read again from storage.
func (c *Core) dropPages(dirty []uint64) {
	c.pagesMu.Lock()
	defer c.pagesMu.Unlock()
	for _, seg := range dirty {
		delete(c.pages, seg/segmentsPerPage)
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
