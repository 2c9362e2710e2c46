package dht

import (
	"bytes"
	"math/bits"
	"math/rand/v2"
	"net/netip"
)

// K is the bucket size of the routing table and the number of closest nodes
// a query keeps, as in kademlia-routing-table.
const K = 20

// node is one entry of the routing table and of the time-ordered node list.
// A process with many nodes holds many of these, so the fields are kept
// small (80 bytes in all).
type node struct {
	id        [32]byte
	addr      addr4
	to        addr4 // our address as this node saw it (zero if unknown)
	downHints uint8
	listed    bool // in the time-ordered list
	held      bool // not in the table, kept by a pending re-ping

	sampled uint32 // tick when to was last fed to the NAT sampler
	added   uint32
	pinged  uint32
	seen    uint32

	// time-ordered list links
	prev, next *node
}

// addr4 is an IPv4 address and port in 6 bytes (a netip.AddrPort takes 32).
type addr4 struct {
	ip   [4]byte
	port uint16
}

// toAddr4 packs an IPv4 a; anything else becomes the zero addr4.
func toAddr4(a netip.AddrPort) addr4 {
	ip := a.Addr().Unmap()
	if !ip.Is4() {
		return addr4{}
	}
	return addr4{ip: ip.As4(), port: a.Port()}
}

// AddrPort unpacks a; the zero addr4 gives the zero netip.AddrPort.
func (a addr4) AddrPort() netip.AddrPort {
	if a == (addr4{}) {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(netip.AddrFrom4(a.ip), a.port)
}

func (a addr4) valid() bool { return a != (addr4{}) }

// table is a Kademlia routing table with 256 rows of at most K nodes,
// indexed by the length of the common prefix with the local id. Nodes
// inside a row are kept sorted by id, as kademlia-routing-table does. Only
// rows up to the longest prefix seen exist (a dozen or so, not 256), and
// they share one array: row i is the window store[i*K:(i+1)*K], its nodes
// first and nil after them. One long-lived allocation instead of a
// growing slice per row.
type table struct {
	id    [32]byte
	store []*node
	size  int
	// onFull is called when a node could not be added because its row is
	// full; it may start a ping of an old node.
	onFull func(newNode *node, row []*node)
}

func newTable(id [32]byte) *table { return &table{id: id} }

// row is row i, nil if it was never used.
func (t *table) row(i int) []*node {
	if i >= t.nrows() {
		return nil
	}
	w := t.store[i*K : (i+1)*K : (i+1)*K]
	n := 0
	for n < K && w[n] != nil {
		n++
	}
	return w[:n]
}

// nrows is the number of rows that exist.
func (t *table) nrows() int { return len(t.store) / K }

// diff is the row index of id: the number of leading bits it shares with
// the table id (255 for the table id itself).
func (t *table) diff(id *[32]byte) int {
	for i := 0; i < 32; i++ {
		if x := id[i] ^ t.id[i]; x != 0 {
			return i*8 + bits.LeadingZeros8(x)
		}
	}
	return 255
}

func rowSearch(row []*node, id *[32]byte, from int) (int, bool) {
	l, r := 0, len(row)-1
	for l <= r {
		m := (l + r) >> 1
		c := bytes.Compare(id[from:], row[m].id[from:])
		if c == 0 {
			return m, true
		}
		if c < 0 {
			r = m - 1
		} else {
			l = m + 1
		}
	}
	return l, false
}

// add inserts n or replaces the node with the same id. It reports false if
// the row is full.
func (t *table) add(n *node) bool {
	i := t.diff(&n.id)
	row := t.row(i)
	j, found := rowSearch(row, &n.id, i>>3)
	if found {
		row[j] = n
		return true
	}
	if len(row) >= K {
		if t.onFull != nil {
			t.onFull(n, row)
		}
		return false
	}
	t.grow(i)
	row = t.store[i*K : i*K+len(row)+1 : (i+1)*K]
	copy(row[j+1:], row[j:])
	row[j] = n
	t.size++
	return true
}

// grow makes rows up to row i exist, four at a time, moving the rows into
// a larger store.
func (t *table) grow(i int) {
	if i < t.nrows() {
		return
	}
	n := min((i+4)&^3, 256)
	store := make([]*node, n*K)
	copy(store, t.store)
	t.store = store
}

func (t *table) remove(id *[32]byte) bool {
	i := t.diff(id)
	row := t.row(i)
	j, found := rowSearch(row, id, i>>3)
	if !found {
		return false
	}
	copy(row[j:], row[j+1:])
	row[len(row)-1] = nil
	// the row's last slot is now nil: the row ends one earlier
	t.size--
	return true
}

func (t *table) get(id *[32]byte) *node {
	i := t.diff(id)
	row := t.row(i)
	j, found := rowSearch(row, id, i>>3)
	if !found {
		return nil
	}
	return row[j]
}

func (t *table) random() *node {
	if t.size == 0 {
		return nil
	}
	n := rand.IntN(t.size)
	for i := range t.nrows() {
		row := t.row(i)
		if n < len(row) {
			return row[n]
		}
		n -= len(row)
	}
	return nil
}

// closest returns up to k nodes near id: the rows sharing the longest
// prefix with id first, then the farther rows, as kademlia-routing-table.
func (t *table) closest(id *[32]byte, k int) []*node {
	var out []*node
	d := t.diff(id)
	push := func(i int) {
		row := t.row(i)
		m := min(k-len(out), len(row))
		out = append(out, row[:m]...)
	}
	for i := d; i >= 0 && len(out) < k; i-- {
		push(i)
	}
	for i := d + 1; i < t.nrows() && len(out) < k; i++ {
		push(i)
	}
	return out
}

func (t *table) all() []*node { return t.closest(&t.id, t.size) }

// xorCompare orders a and b by XOR distance to target (negative: a closer).
func xorCompare(target, a, b *[32]byte) int {
	for i := 0; i < 32; i++ {
		if a[i] == b[i] {
			continue
		}
		return int(target[i]^a[i]) - int(target[i]^b[i])
	}
	return 0
}

// nodeList is a time-ordered set (npm time-ordered-set): adding a node moves
// it to the newest end.
type nodeList struct {
	oldest, latest *node
	length         int
}

func (l *nodeList) has(n *node) bool { return n.listed }

func (l *nodeList) add(n *node) {
	if n.listed {
		l.remove(n)
	}
	n.listed = true
	n.prev = l.latest
	n.next = nil
	if l.latest != nil {
		l.latest.next = n
	}
	l.latest = n
	if l.oldest == nil {
		l.oldest = n
	}
	l.length++
}

func (l *nodeList) remove(n *node) {
	if !n.listed {
		return
	}
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		l.oldest = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		l.latest = n.prev
	}
	n.prev, n.next, n.listed = nil, nil, false
	l.length--
}

// nodeSlab hands out a Node's routing entries from chunks of
// slabChunk, and takes back removed ones for reuse. The entries of a
// long-lived table then sit together instead of scattered among the
// garbage of their size class, which after bootstrap kept most of that
// class's memory in use (a 1000-node testnet: 10 MB of entries in 21 MB).
// An entry taken back is zeroed, so callbacks still holding it see
// another id.
type nodeSlab struct {
	chunk []node
	free  *node // taken-back entries, linked through next
}

const slabChunk = 32 // 2560 bytes

func (s *nodeSlab) get() *node {
	if x := s.free; x != nil {
		s.free, x.next = x.next, nil
		return x
	}
	if len(s.chunk) == 0 {
		s.chunk = make([]node, slabChunk)
	}
	x := &s.chunk[0]
	s.chunk = s.chunk[1:]
	return x
}

// put takes back an entry that is in no table, list or re-ping.
func (s *nodeSlab) put(x *node) {
	if x.listed || x.held {
		return
	}
	*x = node{next: s.free}
	s.free = x
}
