package netlab

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Netem describes impairments of a host's link, in the manner of tc
// netem. The zero value is a perfect link.
//
// The kernels netlab targets may lack the netem qdisc (sch_netem is not
// built into the CI VM's kernel), so the impairments are applied by a
// forwarder in this process and tc is not needed: [Host.SetNetem]
// unplugs the kernel bridge in the host's link namespace and copies frames
// between its two ends through AF_PACKET sockets, dropping, duplicating,
// delaying and pacing IPv4 and IPv6 frames as asked (ARP and other frames
// pass untouched, so neighbours stay resolvable). Semantics follow netem:
//
//   - Delay, plus a uniform random Jitter in [-Jitter, +Jitter], is added to
//     every frame; jitter can reorder frames, as with netem.
//   - Loss and Duplicate are independent per-frame probabilities.
//   - Reorder sends that share of frames at once, without Delay, so they
//     overtake delayed ones; it needs Delay > 0.
//   - Rate paces frames as a link of that speed would (after the delay).
//   - Limit caps the frames waiting in the forwarder (default 1000, like
//     netem); frames beyond it are dropped.
//
// The forwarder is slower than the kernel: on a 2-CPU VM it moves about
// 60,000 frames per second per direction (some 600 Mbit/s of 1200-byte
// datagrams); offered more, its queue overflows Limit and frames are lost.
// Once started it stays in the path until the lab closes, passing frames
// straight through when the Netem is zero again.
//
// Impairments act on datagrams: a UDP GSO batch (UDP_SEGMENT) reaching an
// impaired link is first cut into its datagrams, as a NIC would cut it
// before the wire. A TCP TSO train still counts as one frame.
type Netem struct {
	Delay     time.Duration
	Jitter    time.Duration
	Loss      float64 // percent, e.g. 1 for 1%
	Reorder   float64 // percent
	Duplicate float64 // percent
	Rate      string  // optional rate in tc units, e.g. "100mbit", "10mbps" (bytes), "800kbit"
	Limit     int     // frames queued per direction; 0 means 1000
}

// ErrNetem reports an invalid [Netem].
var ErrNetem = errors.New("netlab: invalid netem")

// SetNetem impairs the host's link in both directions: frames from the
// host towards the public segment (or its NAT router) and frames towards
// the host each get n independently, so a round trip sees 2×Delay and
// loss on both legs. A zero Netem restores a perfect link. It may be
// called at any time; the first call that impairs the link moves traffic
// onto the forwarder (see [Netem]), and a few frames in flight at that
// moment may be lost.
func (h *Host) SetNetem(n Netem) error {
	return h.SetNetemEach(n, n)
}

// SetNetemEach impairs the host's link with out for frames leaving the
// host and in for frames arriving at it.
func (h *Host) SetNetemEach(out, in Netem) error {
	po, err := out.compile()
	if err != nil {
		return err
	}
	pi, err := in.compile()
	if err != nil {
		return err
	}
	h.linkMu.Lock()
	defer h.linkMu.Unlock()
	h.lab.mu.Lock()
	closed := h.lab.closed
	h.lab.mu.Unlock()
	if closed {
		return errLabClosed
	}
	if h.fwd == nil {
		if po.zero && pi.zero {
			return nil
		}
		f, err := startForwarder(h.link)
		if err != nil {
			return err
		}
		h.fwd = f
	}
	h.fwd.dirs[0].params.Store(po)
	h.fwd.dirs[1].params.Store(pi)
	return nil
}

// stopLink stops the host's forwarder, if any.
func (h *Host) stopLink() {
	h.linkMu.Lock()
	defer h.linkMu.Unlock()
	if h.fwd != nil {
		h.fwd.close()
		h.fwd = nil
	}
}

// impairment is a compiled Netem.
type impairment struct {
	zero      bool
	delay     time.Duration
	jitter    time.Duration
	loss      float64 // probability 0..1
	reorder   float64
	duplicate float64
	bitsPerS  float64 // 0: unlimited
	limit     int
}

func (n Netem) compile() (*impairment, error) {
	p := &impairment{
		delay:     n.Delay,
		jitter:    n.Jitter,
		loss:      n.Loss / 100,
		reorder:   n.Reorder / 100,
		duplicate: n.Duplicate / 100,
		limit:     n.Limit,
	}
	for _, v := range []float64{n.Loss, n.Reorder, n.Duplicate} {
		if !(v >= 0 && v <= 100) {
			return nil, fmt.Errorf("%w: percentage %v out of [0, 100]", ErrNetem, v)
		}
	}
	if n.Delay < 0 || n.Jitter < 0 || n.Limit < 0 {
		return nil, fmt.Errorf("%w: negative delay, jitter or limit", ErrNetem)
	}
	if n.Reorder > 0 && n.Delay == 0 {
		return nil, fmt.Errorf("%w: reorder needs a delay", ErrNetem)
	}
	if n.Rate != "" {
		r, err := parseRate(n.Rate)
		if err != nil {
			return nil, err
		}
		p.bitsPerS = r
	}
	if p.limit == 0 {
		p.limit = 1000
	}
	p.zero = n.Delay == 0 && n.Jitter == 0 && n.Loss == 0 && n.Duplicate == 0 && p.bitsPerS == 0
	return p, nil
}

// parseRate parses a tc rate such as "100mbit" or "1.5mbps" into bits per
// second.
func parseRate(s string) (float64, error) {
	units := []struct {
		suffix string
		mult   float64
	}{
		{"tbit", 1e12}, {"gbit", 1e9}, {"mbit", 1e6}, {"kbit", 1e3},
		{"tibit", 1 << 40}, {"gibit", 1 << 30}, {"mibit", 1 << 20}, {"kibit", 1 << 10},
		{"tbps", 8e12}, {"gbps", 8e9}, {"mbps", 8e6}, {"kbps", 8e3},
		{"bit", 1}, {"bps", 8},
	}
	low := strings.ToLower(strings.TrimSpace(s))
	// Longest suffixes first, so "kibit" is not read as "bit".
	best := -1
	for i, u := range units {
		if strings.HasSuffix(low, u.suffix) && (best < 0 || len(u.suffix) > len(units[best].suffix)) {
			best = i
		}
	}
	mult, num := 1.0, low
	if best >= 0 {
		mult, num = units[best].mult, strings.TrimSuffix(low, units[best].suffix)
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || !(v > 0) || v*mult > 1e15 {
		return 0, fmt.Errorf("%w: rate %q", ErrNetem, s)
	}
	return v * mult, nil
}

// vnetHdrLen is the size of struct virtio_net_hdr, which PACKET_VNET_HDR
// puts before every frame read or written, so checksum-offload and GSO
// state survive the trip through user space.
const vnetHdrLen = 10

// forwarder copies frames between the two ends ("lh", host side; "lu",
// uplink side) of a link namespace, applying an impairment per direction.
type forwarder struct {
	a, b *os.File
	dirs [2]*direction // 0: a→b (out of the host), 1: b→a (into the host)
	stop chan struct{}
	wg   sync.WaitGroup
}

// startForwarder unplugs the bridge in namespace ns and starts copying
// frames between its ports in this process.
func startForwarder(ns string) (*forwarder, error) {
	if err := ipCmd(ns, "link set dev lh nomaster", "link set dev lu nomaster"); err != nil {
		return nil, err
	}
	f := &forwarder{stop: make(chan struct{})}
	err := runIn(ns, func() error {
		var err error
		if f.a, err = packetSocket("lh"); err != nil {
			return err
		}
		if f.b, err = packetSocket("lu"); err != nil {
			f.a.Close()
			return err
		}
		return nil
	})
	if err != nil {
		// Put the bridge back so the link keeps working.
		_ = ipCmd(ns, "link set dev lh master br0", "link set dev lu master br0")
		return nil, err
	}
	f.dirs[0] = newDirection(f.a, f.b)
	f.dirs[1] = newDirection(f.b, f.a)
	for _, d := range f.dirs {
		f.wg.Add(2)
		go func() { defer f.wg.Done(); d.readLoop() }()
		go func() { defer f.wg.Done(); d.writeLoop(f.stop) }()
	}
	return f, nil
}

// close stops the forwarder and waits for its goroutines.
func (f *forwarder) close() {
	close(f.stop)
	f.a.Close()
	f.b.Close()
	f.wg.Wait()
}

// packetSocket opens a non-blocking AF_PACKET socket bound to interface
// name in the calling thread's namespace, with virtio-net headers and
// without copies of its own transmissions.
func packetSocket(name string) (*os.File, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return nil, err
	}
	// Protocol 0 receives nothing until bind picks the interface.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("netlab: packet socket: %w", err)
	}
	fail := func(what string, err error) (*os.File, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("netlab: packet socket %s: %s: %w", name, what, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return fail("PACKET_VNET_HDR", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1); err != nil {
		return fail("PACKET_IGNORE_OUTGOING", err)
	}
	for _, opt := range []int{unix.SO_RCVBUFFORCE, unix.SO_SNDBUFFORCE} {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, 8<<20) // best effort
	}
	proto := htons(unix.ETH_P_ALL)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
		return fail("bind", err)
	}
	return os.NewFile(uintptr(fd), "packet:"+name), nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// direction is one way through a forwarder.
type direction struct {
	from, to *os.File
	params   atomic.Pointer[impairment]

	mu         sync.Mutex
	queue      frameHeap
	seq        uint64
	lastDepart time.Time
	wake       chan struct{} // capacity 1: the queue head may have changed
}

func newDirection(from, to *os.File) *direction {
	d := &direction{from: from, to: to, wake: make(chan struct{}, 1)}
	d.params.Store(&impairment{zero: true})
	return d
}

// readLoop reads frames until the socket is closed and drops, duplicates
// or schedules them.
func (d *direction) readLoop() {
	buf := make([]byte, vnetHdrLen+65536+64)
	for {
		n, err := d.from.Read(buf)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			// A transient error (e.g. ENETDOWN) loses a frame; pause so a
			// lasting one does not spin.
			time.Sleep(time.Millisecond)
			continue
		}
		frame := buf[:n]
		p := d.params.Load()
		if p.zero || !isIPFrame(frame) {
			d.send(frame)
			continue
		}
		for _, fr := range splitUDPGSO(frame) {
			if p.loss > 0 && rand.Float64() < p.loss {
				continue
			}
			copies := 1
			if p.duplicate > 0 && rand.Float64() < p.duplicate {
				copies = 2
			}
			for range copies {
				d.schedule(fr, p)
			}
		}
	}
}

// schedule sends frame after the delay p asks for.
func (d *direction) schedule(frame []byte, p *impairment) {
	delay := p.delay
	if p.jitter > 0 {
		delay += time.Duration((rand.Float64()*2 - 1) * float64(p.jitter))
	}
	if p.reorder > 0 && rand.Float64() < p.reorder {
		delay = 0
	}
	if delay <= 0 && p.bitsPerS == 0 {
		d.send(frame)
		return
	}
	now := time.Now()
	at := now.Add(max(delay, 0))
	d.mu.Lock()
	if p.bitsPerS > 0 {
		if at.Before(d.lastDepart) {
			at = d.lastDepart
		}
		bits := float64(len(frame)-vnetHdrLen) * 8
		at = at.Add(time.Duration(bits / p.bitsPerS * float64(time.Second)))
		d.lastDepart = at
	}
	if len(d.queue) >= p.limit {
		d.mu.Unlock()
		return
	}
	d.seq++
	heap.Push(&d.queue, queued{at: at, seq: d.seq, frame: append([]byte(nil), frame...)})
	head := d.queue[0].seq == d.seq
	d.mu.Unlock()
	if head {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// writeLoop sends queued frames when they are due, until stop closes.
func (d *direction) writeLoop(stop <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		var wait time.Duration = -1
		var due [][]byte
		now := time.Now()
		for len(d.queue) > 0 {
			if w := d.queue[0].at.Sub(now); w > 0 {
				wait = w
				break
			}
			due = append(due, heap.Pop(&d.queue).(queued).frame)
		}
		d.mu.Unlock()
		for _, fr := range due {
			d.send(fr)
		}
		if len(due) > 0 {
			continue
		}
		if wait < 0 {
			wait = time.Hour
		}
		timer.Reset(wait)
		select {
		case <-stop:
			return
		case <-d.wake:
		case <-timer.C:
		}
	}
}

// send writes one frame (with its virtio-net header); a frame the kernel
// refuses is lost, as on a real link.
func (d *direction) send(frame []byte) {
	_, _ = d.to.Write(frame)
}

// isIPFrame reports whether a frame (after its virtio-net header) is
// Ethernet carrying IPv4 or IPv6.
func isIPFrame(frame []byte) bool {
	if len(frame) < vnetHdrLen+14 {
		return false
	}
	et := uint16(frame[vnetHdrLen+12])<<8 | uint16(frame[vnetHdrLen+13])
	return et == 0x0800 || et == 0x86dd
}

// queued is a frame waiting for its departure time.
type queued struct {
	at    time.Time
	seq   uint64
	frame []byte
}

// frameHeap orders queued frames by departure time, then arrival.
type frameHeap []queued

func (h frameHeap) Len() int { return len(h) }
func (h frameHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h frameHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *frameHeap) Push(x any)   { *h = append(*h, x.(queued)) }
func (h *frameHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	old[len(old)-1] = queued{}
	*h = old[:len(old)-1]
	return x
}
