package udx

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
)

// Errors returned by sockets and streams.
var (
	ErrClosed        = fmt.Errorf("udx: %w", net.ErrClosed)
	ErrStreamIDInUse = errors.New("udx: stream id already in use")
	ErrNotConnected  = errors.New("udx: stream not connected")
	ErrConnected     = errors.New("udx: stream already connected")
	ErrWriteClosed   = errors.New("udx: write after end")
	ErrReset         = errors.New("udx: stream destroyed by remote")
	ErrTimeout       = errors.New("udx: stream timed out (no acks)")
	ErrBadAddress    = errors.New("udx: invalid remote address")
	ErrOtherUDX      = errors.New("udx: socket belongs to another UDX instance")
	ErrRelay         = errors.New("udx: stream is already relaying or destination closed")
	ErrChanging      = errors.New("udx: remote change already in progress")
)

// Config configures a UDX instance. The zero value is ready to use.
type Config struct {
	// Logger receives debug logs; nil means silent.
	Logger *slog.Logger
	// DatagramQueue is how many received datagrams wait for ReadFrom
	// before new ones are dropped; 0 means 1024. The queue takes memory
	// only for the datagrams waiting in it.
	DatagramQueue int
	// NoBatch turns off recvmmsg/sendmmsg and GSO/GRO (Linux).
	NoBatch bool
}

// UDX is an instance holding the stream id table shared by its sockets,
// so a stream can move between sockets of one instance (ChangeRemote).
type UDX struct {
	cfg Config
	log *slog.Logger

	mu      sync.RWMutex
	streams map[uint32]*Stream
}

// New returns a UDX instance.
func New(cfg *Config) *UDX {
	u := &UDX{streams: make(map[uint32]*Stream)}
	if cfg != nil {
		u.cfg = *cfg
	}
	u.log = u.cfg.Logger
	if u.log == nil {
		u.log = slog.New(slog.DiscardHandler)
	}
	if u.cfg.DatagramQueue <= 0 {
		u.cfg.DatagramQueue = 1024
	}
	return u
}

func (u *UDX) lookup(id uint32) *Stream {
	u.mu.RLock()
	s := u.streams[id]
	u.mu.RUnlock()
	return s
}

func (u *UDX) register(s *Stream) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if _, ok := u.streams[s.id]; ok {
		return ErrStreamIDInUse
	}
	u.streams[s.id] = s
	return nil
}

func (u *UDX) unregister(s *Stream) {
	u.mu.Lock()
	if u.streams[s.id] == s {
		delete(u.streams, s.id)
	}
	u.mu.Unlock()
}

// Listen binds a new socket of this instance. network is "udp", "udp4" or
// "udp6"; address is host:port (port 0 picks one).
func (u *UDX) Listen(network, address string) (*Socket, error) {
	ua, err := net.ResolveUDPAddr(network, address)
	if err != nil {
		return nil, err
	}
	c, err := net.ListenUDP(network, ua)
	if err != nil {
		return nil, err
	}
	v6 := c.LocalAddr().(*net.UDPAddr).IP.To4() == nil
	var bc batchConn = &plainConn{c: c, v6: v6}
	if !u.cfg.NoBatch {
		bc = newBatchConn(c, v6)
	}
	return u.newSocket(bc), nil
}

func (u *UDX) newSocket(bc batchConn) *Socket {
	s := &Socket{
		u:      u,
		conn:   bc,
		ready:  make(chan struct{}, 1),
		closed: make(chan struct{}),
	}
	s.park = newParker(s, bc)
	s.readers.Add(1)
	go s.readLoop()
	return s
}

// Listen binds a socket on a fresh UDX instance.
func Listen(network, address string) (*Socket, error) {
	return New(nil).Listen(network, address)
}

// Datagram is a UDP datagram received on a socket that was not a packet
// of one of its streams.
type Datagram struct {
	Data []byte
	From netip.AddrPort
}

// Socket is one UDP socket carrying datagrams and UDX streams. Its reader
// goroutine runs until Close; on Linux it ends while the socket is idle
// (no datagram for 250 ms) and a new one starts when one arrives, so
// quiet sockets hold no goroutine.
type Socket struct {
	u    *UDX
	conn batchConn

	// received datagrams waiting for ReadFrom: queue[head:], growing
	// with use only; ready holds a token while it is not empty
	qmu     sync.Mutex
	queue   []Datagram
	head    int
	ready   chan struct{}
	handler atomic.Pointer[func(Datagram)]

	ttlMu     sync.Mutex
	closeOnce sync.Once
	closed    chan struct{}
	readers   sync.WaitGroup // the reader goroutine, while one runs
	park      *parker        // nil: the reader never parks

	// counters
	PacketsDropped atomic.Uint64 // datagrams dropped because the queue was full
}

// UDX returns the instance the socket belongs to.
func (s *Socket) UDX() *UDX { return s.u }

// LocalAddr returns the bound address.
func (s *Socket) LocalAddr() netip.AddrPort { return s.conn.localAddr() }

// SetTTL sets the IP TTL (hop limit) of outgoing packets.
func (s *Socket) SetTTL(ttl int) error { return s.conn.setTTL(ttl) }

// TTL returns the current IP TTL.
func (s *Socket) TTL() (int, error) { return s.conn.ttl() }

// WriteTo sends one datagram.
func (s *Socket) WriteTo(b []byte, to netip.AddrPort) error {
	if isClosed(s.closed) {
		return ErrClosed
	}
	if !to.IsValid() || to.Port() == 0 {
		return ErrBadAddress
	}
	return s.conn.writeBatch([]message{{buf: b, addr: to}})
}

// SendTTL sends one datagram with a TTL for this packet only, as hole
// punching does with low-TTL probes.
func (s *Socket) SendTTL(b []byte, to netip.AddrPort, ttl int) error {
	s.ttlMu.Lock()
	defer s.ttlMu.Unlock()
	old, err := s.conn.ttl()
	if err != nil {
		return err
	}
	if err := s.conn.setTTL(ttl); err != nil {
		return err
	}
	err = s.WriteTo(b, to)
	if rerr := s.conn.setTTL(old); err == nil {
		err = rerr
	}
	return err
}

// ReadFrom waits for the next datagram that is not a stream packet.
// Datagrams go to the handler instead while one is set (SetHandler).
func (s *Socket) ReadFrom(ctx context.Context) (Datagram, error) {
	for {
		if d, ok := s.pop(); ok {
			return d, nil
		}
		select {
		case <-s.ready:
		case <-s.closed:
			if d, ok := s.pop(); ok {
				return d, nil
			}
			return Datagram{}, ErrClosed
		case <-ctx.Done():
			return Datagram{}, ctx.Err()
		}
	}
}

// SetHandler makes the socket hand every datagram that is not a stream
// packet to h instead of queueing it for ReadFrom; nil goes back to
// queueing. h runs on the socket's reader goroutine, one datagram at a
// time in arrival order, and owns d.Data. It must not block (packets of
// the socket's streams wait meanwhile) and must not close the socket. A
// handler saves the goroutine a ReadFrom loop needs, which counts when a
// process runs many sockets, as a DHT testnet does.
func (s *Socket) SetHandler(h func(d Datagram)) {
	if h == nil {
		s.handler.Store(nil)
		return
	}
	s.handler.Store(&h)
}

// push queues d for ReadFrom, or drops it when DatagramQueue are waiting.
func (s *Socket) push(d Datagram) bool {
	s.qmu.Lock()
	if len(s.queue)-s.head >= s.u.cfg.DatagramQueue {
		s.qmu.Unlock()
		return false
	}
	if s.head > 0 && len(s.queue) == cap(s.queue) {
		// slide the waiting datagrams down instead of growing
		k := copy(s.queue, s.queue[s.head:])
		clear(s.queue[k:])
		s.queue, s.head = s.queue[:k], 0
	}
	s.queue = append(s.queue, d)
	s.qmu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
	return true
}

// pop takes the oldest queued datagram. An emptied queue lets go of its
// storage once it grew past a few entries.
func (s *Socket) pop() (Datagram, bool) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	if s.head == len(s.queue) {
		return Datagram{}, false
	}
	d := s.queue[s.head]
	s.queue[s.head] = Datagram{}
	s.head++
	if s.head == len(s.queue) {
		if cap(s.queue) > 16 {
			s.queue = nil
		} else {
			s.queue = s.queue[:0]
		}
		s.head = 0
	} else {
		// more are waiting: pass the token on to another reader
		select {
		case s.ready <- struct{}{}:
		default:
		}
	}
	return d, true
}

// Close closes the socket, ends its reader and closes every stream still
// using it.
func (s *Socket) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		if s.park != nil {
			s.park.close()
		}
		err = s.conn.close()
		s.readers.Wait()
		s.u.mu.RLock()
		var mine []*Stream
		for _, st := range s.u.streams {
			mine = append(mine, st)
		}
		s.u.mu.RUnlock()
		for _, st := range mine {
			st.socketClosed(s)
		}
	})
	return err
}

func (s *Socket) send(ms []message) {
	if len(ms) == 0 {
		return
	}
	_ = s.conn.writeBatch(ms)
}

// readLoop is the socket's one reader goroutine. On a parkable socket it
// reads with a deadline and ends when a whole idleAfter passed without a
// datagram (the poller starts it again).
func (s *Socket) readLoop() {
	defer s.readers.Done()
	park := s.park
	if park != nil && park.off {
		park = nil
	}
	if park != nil {
		park.extend()
	}
	active := false // a batch came since the deadline was set
	// A conn reading batches (recvmmsg) borrows its buffers from a pool
	// while data is waiting; any other reads one datagram at a time into
	// a buffer of the socket's own.
	var next func() ([]message, error)
	if p, ok := s.conn.(interface{ readPooled() ([]message, error) }); ok {
		next = p.readPooled
	} else {
		ms := []message{{buf: make([]byte, maxDatagram)}}
		next = func() ([]message, error) {
			n, err := s.conn.readBatch(ms)
			return ms[:n], err
		}
	}
	var touched []*Stream
	var pkt Packet
	var dgs []datagram
	for {
		ms, err := next()
		if err != nil {
			if isClosed(s.closed) || errors.Is(err, net.ErrClosed) {
				return
			}
			if park != nil && isTimeout(err) {
				if active {
					active = false
					park.extend()
					continue
				}
				if park.park() {
					return
				}
				park = nil // parking is off for this socket
			}
			continue // e.g. ICMP port unreachable reported on a later read
		}
		active = true
		dgs = dgs[:0]
		for i := range ms {
			m := &ms[i]
			data := m.buf[:m.n]
			seg := m.seg
			if seg <= 0 || seg >= len(data) {
				seg = len(data)
			}
			for len(data) > 0 {
				k := min(seg, len(data))
				dgs = append(dgs, datagram{data[:k], m.addr})
				data = data[k:]
			}
		}
		skipped := 0
		for i, d := range dgs {
			if i+1 < len(dgs) && supersededAck(d, dgs[i+1]) && s.coalescable(binaryID(d.b)) {
				skipped++
				continue
			}
			if st := s.dispatch(d.b, d.from, &pkt, skipped); st != nil && !contains(touched, st) {
				touched = append(touched, st)
			}
			skipped = 0
		}
		clear(dgs)
		for i, st := range touched {
			st.afterBatch()
			touched[i] = nil
		}
		touched = touched[:0]
	}
}

type datagram struct {
	b    []byte
	from netip.AddrPort
}

// supersededAck reports whether a is a bare ack (no flags, SACKs or
// data) that the next datagram b, a bare ack for the same stream from
// the same sender with a sequence and ack no older, makes redundant.
// udx-native acks every data packet; a batch of its acks is handled as
// its newest one (a stretch ack), which saves the sender most of its
// per-ack work.
func supersededAck(a, b datagram) bool {
	if len(a.b) != HeaderSize || len(b.b) != HeaderSize || !IsUDX(a.b) || !IsUDX(b.b) {
		return false
	}
	if a.b[2] != 0 || b.b[2] != 0 || a.b[3] != 0 || b.b[3] != 0 || a.from != b.from {
		return false
	}
	if binaryID(a.b) != binaryID(b.b) {
		return false
	}
	seqA, seqB := binary.LittleEndian.Uint32(a.b[12:]), binary.LittleEndian.Uint32(b.b[12:])
	ackA, ackB := binary.LittleEndian.Uint32(a.b[16:]), binary.LittleEndian.Uint32(b.b[16:])
	return seqDiff(seqB, seqA) >= 0 && seqDiff(ackB, ackA) >= 0
}

// coalescable reports whether acks for stream id may be coalesced: it is
// a stream of this instance (anything else goes to ReadFrom as it came)
// that does not relay (relays forward every packet).
func (s *Socket) coalescable(id uint32) bool {
	st := s.u.lookup(id)
	return st != nil && !st.relaying.Load()
}

// dispatch routes one datagram: a packet of a known stream goes to that
// stream, anything else to the datagram queue. skipped counts the
// superseded acks before it, for the stream's statistics.
func (s *Socket) dispatch(b []byte, from netip.AddrPort, pkt *Packet, skipped int) *Stream {
	if IsUDX(b) {
		if st := s.u.lookup(binaryID(b)); st != nil {
			if err := pkt.Decode(b); err != nil {
				return nil // malformed stream packet: dropped
			}
			if st.receive(s, from, pkt, b, skipped) {
				return st
			}
			return nil
		}
	}
	d := Datagram{Data: append([]byte(nil), b...), From: from}
	if h := s.handler.Load(); h != nil {
		(*h)(d)
		return nil
	}
	if !s.push(d) {
		s.PacketsDropped.Add(1)
	}
	return nil
}

func binaryID(b []byte) uint32 {
	return uint32(b[4]) | uint32(b[5])<<8 | uint32(b[6])<<16 | uint32(b[7])<<24
}

func contains(list []*Stream, s *Stream) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
