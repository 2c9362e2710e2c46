package udx

import (
	"context"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Protocol constants, as libudx.
const (
	mtuBase      = 1200
	mtuMax       = 1500
	mtuStep      = 32
	mtuMaxProbes = 3
	ipv4Overhead = 20 + 8 + HeaderSize
	ipv6Overhead = 40 + 8 + HeaderSize

	defaultRwndMax  = 4 << 20
	highWatermark   = 262144
	maxRTOTimeouts  = 6
	rtoMinMS        = 1000
	rtoMaxMS        = 30000
	rttMaxUS        = 30_000_000
	rttMinWindowUS  = 300_000_000
	tlpMaxAckDelay  = 2000 // µs
	initPacingRate  = 25000
	maxOutOfOrder   = 16384 // packets buffered past the next expected one
	maxWriteChunk   = 256 << 10
	defaultLinger   = 10 * time.Second
	messageQueueLen = 256
)

const (
	timerNone = iota
	timerRTO
	timerRackReo
	timerTLP
	timerZWP
	timerKeepalive
)

const (
	mtuStateBase = iota + 1
	mtuStateSearch
	mtuStateError
	mtuStateComplete
)

var epoch = time.Now()

// nowUS is the stream clock in microseconds (monotonic, never 0).
func nowUS() int64 { return int64(time.Since(epoch)/time.Microsecond) + 1 }

// StreamConfig configures a stream. The zero value is the default.
type StreamConfig struct {
	// Firewall is asked about a packet that arrives on a socket the
	// stream is not connected to, typically the first packet of an
	// incoming stream whose remote address is not known yet. Returning
	// true accepts the packet; the hook may call Connect. Nil rejects
	// such packets, as udx-native does by default.
	Firewall func(s *Stream, sock *Socket, from netip.AddrPort) bool
	// ReceiveWindow is the receive buffer advertised to the sender;
	// 0 means 4 MiB (libudx's default).
	ReceiveWindow int
	// Seq is the first sequence number this side sends (udx-native opts.seq).
	Seq uint32
	// KeepAlive sends a heartbeat after this much idle time; 0 is off.
	KeepAlive time.Duration
}

// outPacket is one sequenced packet (data and/or end) this side sent or
// will send.
type outPacket struct {
	seq     uint32
	flags   uint8
	buf     []byte // header + payload; the header is written on each send
	payload int

	timeSent      int64
	transmits     uint8
	rtoTimeouts   uint8
	retransmitted bool
	lost          bool
	probe         bool

	firstSentTS int64
	deliveredTS int64
	delivered   uint32
	appLimited  bool
	txInflight  uint32 // packets in flight, this one included, when last sent

	prev, next *outPacket
	list       *pktList
}

func (p *outPacket) size() int { return HeaderSize + p.payload }

type inPacket struct {
	flags uint8
	data  []byte
}

// Stream is a reliable, ordered byte stream over a Socket, a net.Conn.
// Reads and writes may run concurrently with each other.
type Stream struct {
	u   *UDX
	id  uint32
	cfg StreamConfig

	mu        sync.Mutex
	post      []func() // run after unlocking
	tx        []message
	recycle   []*outPacket // acked packets, pooled after the next flushTx
	sock      *Socket
	remoteID  uint32
	remote    netip.AddrPort
	connected bool
	closed    bool
	closeErr  error
	closedCh  chan struct{}

	ending       bool // CloseWrite called: END queued
	ended        bool // our END acked
	endingRemote bool
	endedRemote  bool
	remoteEnded  uint32
	ackNeeded    bool
	ackPending   bool
	inBatch      bool // the socket reader will call afterBatch

	// send side
	seq, remoteAcked uint32
	out              map[uint32]*outPacket
	writeQ           []*outPacket
	writeHead        int
	queuedBytes      int // bytes written and not yet acked
	inflight         int // bytes in flight
	inflightQ        pktList
	retransmitQ      pktList
	sendRwnd         uint32
	wl1, wl2         uint32
	cwnd, ssthresh   uint32
	caState          int
	highSeq          uint32
	sacks            int
	reorderingSeen   bool

	srtt, rttvar int64 // µs
	rto          int64 // ms
	rttMin       winFilter
	rackRTT      int64
	rackTimeSent int64
	rackNextSeq  uint32
	rackFack     uint32
	tlpInFlight  bool
	tlpIsRetrans bool
	tlpPermitted bool
	tlpEndSeq    uint32

	delivered, lost, appLimited uint32
	firstSentTS, deliveredTS    int64
	rateDelivered               uint32
	rateInterval                int64
	bbr                         bbrState

	pacingBPMS   uint64
	tbAvailable  uint64
	tbLastRefill int64 // ms
	pacingTimer  *time.Timer
	pacingArmed  bool

	timer        *time.Timer
	pendingTimer int
	timerAt      int64
	nextRTO      int64 // µs

	mtu, mtuMaxSize, mtuProbeSize, mtuProbeCount, mtuState int
	mtuProbeWanted                                         bool

	keepalive time.Duration

	prevSock           *Socket
	prevRemote         netip.AddrPort
	remoteChanging     bool
	seqOnRemoteChanged uint32
	remoteChangedCh    chan struct{}

	relayed   bool
	relaying  atomic.Bool // relayed, for the socket reader without the lock
	relayTo   *Stream
	relayFrom map[*Stream]struct{}

	// receive side
	ack       uint32
	incoming  map[uint32]inPacket
	inMax     uint32
	rbuf      []byte
	roff      int
	rwndMax   int
	advWindow uint32
	eof       bool
	msgs      chan []byte
	readCh    chan struct{}
	writeCh   chan struct{}
	rdl, wdl  deadline

	retransmits, fastRecoveries, rtoCount int
	packetsTx, packetsRx                  uint64
}

// Stats is a snapshot of a stream's transport state.
type Stats struct {
	RTT            time.Duration // smoothed round-trip time
	MinRTT         time.Duration
	RTO            time.Duration
	Cwnd           int    // congestion window, packets
	Inflight       int    // packets in flight
	MTU            int    // path MTU in use
	PacingRate     uint64 // bytes per second
	BBRState       int    // 0 startup, 1 drain, 2 probe bandwidth, 3 probe RTT
	Retransmits    int    // packets sent more than once
	FastRecoveries int
	RTOs           int
	PacketsSent    uint64
	PacketsRecv    uint64
	// InflightLimit caps the window (packets) after round trips that lost
	// more than 2% of their packets, typically to a receiver's socket
	// buffer; 0 means no cap.
	InflightLimit int
}

// Stats returns the stream's current transport state.
func (s *Stream) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{
		RTT:            time.Duration(s.srtt) * time.Microsecond,
		RTO:            time.Duration(s.rto) * time.Millisecond,
		Cwnd:           int(s.cwnd),
		Inflight:       s.inflightQ.n,
		MTU:            s.mtu,
		PacingRate:     s.pacingBPMS * 1000,
		BBRState:       s.bbr.state,
		Retransmits:    s.retransmits,
		FastRecoveries: s.fastRecoveries,
		RTOs:           s.rtoCount,
		PacketsSent:    s.packetsTx,
		PacketsRecv:    s.packetsRx,
		InflightLimit:  int(s.bbr.inflightHi),
	}
	if s.bbr.minRTT > 0 {
		st.MinRTT = time.Duration(s.bbr.minRTT) * time.Microsecond
	}
	return st
}

// NewStream creates a stream with local id id on this instance. It
// receives packets addressed to id on any socket of the instance once
// connected (or accepted by its firewall).
func (u *UDX) NewStream(id uint32, cfg *StreamConfig) (*Stream, error) {
	s := &Stream{
		u:        u,
		id:       id,
		closedCh: make(chan struct{}),
		out:      make(map[uint32]*outPacket),
		incoming: make(map[uint32]inPacket),
		msgs:     make(chan []byte, messageQueueLen),
		readCh:   make(chan struct{}, 1),
		writeCh:  make(chan struct{}, 1),
		rdl:      makeDeadline(),
		wdl:      makeDeadline(),
	}
	if cfg != nil {
		s.cfg = *cfg
	}
	s.rwndMax = s.cfg.ReceiveWindow
	if s.rwndMax <= 0 {
		s.rwndMax = defaultRwndMax
	}
	now := nowUS()
	s.caState = caOpen
	s.resetMTU()
	s.appLimited = ^uint32(0)
	s.rto = rtoMinMS
	s.rttMin.reset(now, -1)
	s.rttMin.v = [3]float64{1e18, 1e18, 1e18}
	s.tbAvailable = initPacingRate
	s.tbLastRefill = now / 1000
	s.cwnd = 10
	s.sendRwnd = defaultRwndMax
	s.seq, s.remoteAcked, s.wl2 = s.cfg.Seq, s.cfg.Seq, s.cfg.Seq
	s.keepalive = s.cfg.KeepAlive
	s.bbrInit(now)
	s.timer = time.AfterFunc(time.Hour, s.onTimer)
	s.timer.Stop()
	s.pacingTimer = time.AfterFunc(time.Hour, s.onPacingTimer)
	s.pacingTimer.Stop()
	if err := u.register(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Connect creates stream localID on sock's instance and connects it to
// remoteID at addr.
func Connect(sock *Socket, localID, remoteID uint32, addr netip.AddrPort, cfg *StreamConfig) (*Stream, error) {
	s, err := sock.u.NewStream(localID, cfg)
	if err != nil {
		return nil, err
	}
	if err := s.Connect(sock, remoteID, addr); err != nil {
		s.Destroy()
		return nil, err
	}
	return s, nil
}

// ID returns the local stream id.
func (s *Stream) ID() uint32 { return s.id }

// RemoteID returns the remote stream id (0 before Connect).
func (s *Stream) RemoteID() uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remoteID
}

// Socket returns the socket the stream sends on (nil before Connect).
func (s *Stream) Socket() *Socket {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sock
}

// unlock releases the stream lock, sends the queued packets first and
// then runs deferred work that must not hold the lock.
func (s *Stream) unlock() {
	s.flushTx()
	post := s.post
	s.post = nil
	s.mu.Unlock()
	for _, f := range post {
		f()
	}
}

func (s *Stream) unlockNoFlush() {
	post := s.post
	s.post = nil
	s.mu.Unlock()
	for _, f := range post {
		f()
	}
}

func (s *Stream) flushTx() {
	if len(s.tx) > 0 {
		if s.sock != nil {
			s.sock.send(s.tx)
		}
		for i := range s.tx {
			s.tx[i] = message{}
		}
		s.tx = s.tx[:0]
	}
	for i, p := range s.recycle {
		packetPool.Put(p)
		s.recycle[i] = nil
	}
	s.recycle = s.recycle[:0]
}

func (s *Stream) queueTx(b []byte) {
	if s.sock == nil {
		return
	}
	s.packetsTx++
	s.tx = append(s.tx, message{buf: b, addr: s.remote})
	if len(s.tx) >= 64 {
		s.flushTx()
	}
}

func validAddr(a netip.AddrPort) (netip.AddrPort, bool) {
	a = unmapAddr(a)
	return a, a.IsValid() && a.Port() != 0
}

// Connect binds the stream to sock and the remote stream remoteID at addr.
func (s *Stream) Connect(sock *Socket, remoteID uint32, addr netip.AddrPort) error {
	addr, ok := validAddr(addr)
	if !ok {
		return ErrBadAddress
	}
	if sock.u != s.u {
		return ErrOtherUDX
	}
	if isClosed(sock.closed) {
		return ErrClosed
	}
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return ErrClosed
	}
	if s.connected {
		return ErrConnected
	}
	s.connected = true
	s.remoteID = remoteID
	s.sock = sock
	s.remote = addr
	s.mtuMaxSize = mtuMax
	if s.ackNeeded {
		s.ackNeeded = false
		s.sendAck()
	}
	if s.keepalive > 0 {
		s.startTimer(timerKeepalive, s.keepalive.Microseconds())
	}
	return nil
}

func (s *Stream) resetMTU() {
	s.mtu = mtuBase
	s.mtuState = mtuStateBase
	s.mtuProbeCount = 0
	s.mtuProbeSize = mtuBase
	s.mtuMaxSize = mtuMax
	s.mtuProbeWanted = false
}

func (s *Stream) overhead() int {
	if s.remote.Addr().Is4() || !s.remote.IsValid() {
		return ipv4Overhead
	}
	return ipv6Overhead
}

func (s *Stream) maxPayload() int { return s.mtu - s.overhead() }

func (s *Stream) sendRwndPackets() uint32 {
	if s.sendRwnd == 0 {
		return 0
	}
	return max(s.sendRwnd/uint32(s.maxPayload()), 1)
}

func (s *Stream) sendWindowPackets() uint32 { return min(s.cwnd, s.sendRwndPackets()) }

func (s *Stream) sendWindowBytes() int {
	return int(min(uint64(s.cwnd)*uint64(s.maxPayload()), uint64(s.sendRwnd)))
}

func (s *Stream) recvWindow() uint32 {
	buffered := len(s.rbuf) - s.roff
	if buffered >= s.rwndMax {
		return 0
	}
	return uint32(s.rwndMax - buffered)
}

func (s *Stream) header(typ uint8, seq uint32) Header {
	w := s.recvWindow()
	s.advWindow = w
	return Header{Type: typ, StreamID: s.remoteID, Window: w, Seq: seq, Ack: s.ack}
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// ---- timers ----

func (s *Stream) startTimer(kind int, us int64) {
	if s.closed {
		return
	}
	us = max(us, 1)
	s.pendingTimer = kind
	s.timerAt = nowUS() + us
	s.timer.Reset(time.Duration(us) * time.Microsecond)
}

func (s *Stream) stopTimer() {
	s.timer.Stop()
	s.pendingTimer = timerNone
}

func (s *Stream) onTimer() {
	s.mu.Lock()
	defer s.unlock()
	if s.closed || s.pendingTimer == timerNone {
		return
	}
	if now := nowUS(); now < s.timerAt {
		s.timer.Reset(time.Duration(s.timerAt-now) * time.Microsecond)
		return
	}
	kind := s.pendingTimer
	s.pendingTimer = timerNone
	switch kind {
	case timerRTO:
		s.onRTO()
	case timerRackReo:
		s.rackDetectLoss()
		if s.pendingTimer != timerRTO {
			s.rearmRTO(s.pendingTimer != timerRackReo && s.pendingTimer != timerTLP)
		}
	case timerTLP:
		s.onTLP()
	case timerZWP:
		s.sendProbe()
		s.startTimer(timerZWP, s.rto*2*1000)
	case timerKeepalive:
		if s.seq == s.remoteAcked && s.keepalive > 0 {
			s.sendProbe()
			s.startTimer(timerKeepalive, s.keepalive.Microseconds())
		}
	}
}

func (s *Stream) onPacingTimer() {
	s.mu.Lock()
	defer s.unlock()
	s.pacingArmed = false
	if s.closed || !s.connected {
		return
	}
	s.refillPacing()
	s.sendPackets()
}

func (s *Stream) rearmRTO(fromNow bool) {
	if s.seq == s.remoteAcked {
		s.stopTimer()
		return
	}
	us := s.rto * 1000
	if !fromNow {
		us = max(s.nextRTO-nowUS(), 1000)
	}
	s.startTimer(timerRTO, us)
	if fromNow {
		s.nextRTO = nowUS() + us
	}
}

func (s *Stream) armTimers(armTLP bool) {
	switch s.pendingTimer {
	case timerNone, timerZWP, timerKeepalive:
		s.startTimer(timerRTO, s.rto*1000)
		s.nextRTO = nowUS() + s.rto*1000
	}
	if armTLP && s.caState == caOpen && s.sacks == 0 {
		s.scheduleLossProbe(false)
	}
}

func (s *Stream) scheduleLossProbe(advancingRTO bool) bool {
	if s.seq == s.remoteAcked || s.caState != caOpen || s.sacks > 0 {
		return false
	}
	timeout := int64(1_000_000)
	if s.srtt > 0 {
		timeout = max(2*s.srtt, 2000)
		if s.inflightQ.n+s.retransmitQ.n == 1 {
			timeout += tlpMaxAckDelay
		}
	}
	rtoDelta := s.rto * 1000
	if !advancingRTO {
		rtoDelta = max(s.nextRTO-nowUS(), 1)
	} else {
		s.nextRTO = nowUS() + rtoDelta
	}
	s.startTimer(timerTLP, min(timeout, rtoDelta))
	return true
}

func (s *Stream) onTLP() {
	if s.remoteAcked == s.seq {
		return
	}
	if s.tlpInFlight || !s.tlpPermitted {
		s.rearmRTO(false)
		return
	}
	if !s.sendNew(true) {
		p := s.out[s.seq-1]
		if p == nil || p.lost {
			s.rearmRTO(false)
			return
		}
		s.inflightQ.remove(p)
		s.inflight -= p.size()
		s.retransmit(p)
		s.tlpIsRetrans = true
		s.tlpInFlight = true
		s.tlpEndSeq = p.seq
		s.tlpPermitted = false
	}
	s.rearmRTO(true)
}

func (s *Stream) onRTO() {
	if s.remoteAcked == s.seq {
		return
	}
	s.highSeq = s.seq
	s.rtoCount++
	s.caState = caLoss
	s.tlpInFlight, s.tlpIsRetrans = false, false
	s.startTimer(timerRTO, s.rto*2*1000)
	s.retransmitQ.clear()
	now := nowUS()
	reo := s.rackReoWnd()
	for seq := s.remoteAcked; seq != s.seq; seq++ {
		p := s.out[seq]
		if p == nil {
			continue
		}
		if p.lost {
			s.retransmitQ.pushBack(p)
			continue
		}
		remaining := p.timeSent + s.rackRTT + reo - now
		if p.seq == s.remoteAcked || remaining < 0 {
			if p.rtoTimeouts >= maxRTOTimeouts {
				s.closeWith(ErrTimeout)
				return
			}
			s.lost++
			s.bbrNoteLost(p)
			p.rtoTimeouts++
			if p.probe {
				s.unprobe(p)
			}
			p.lost = true
			s.inflightQ.remove(p)
			s.retransmitQ.pushBack(p)
			s.inflight -= p.size()
		}
	}
	s.bbrOnRTO()
	s.sendPackets()
}

func (s *Stream) rttMinUS() int64 {
	v := s.rttMin.get()
	if v >= 1e17 {
		return 1<<62 - 1
	}
	return int64(v)
}

func (s *Stream) rackReoWnd() int64 {
	if !s.reorderingSeen {
		if s.caState == caRecovery || s.caState == caLoss || s.sacks >= 3 {
			return 0
		}
	}
	r := s.rttMinUS() / 4
	return min(r, s.srtt)
}

// rackDetectLoss marks packets sent before the most recently delivered
// one (plus a reordering window) as lost, and returns how long until the
// next one would be (µs), or 0.
func (s *Stream) rackDetectLoss() int64 {
	var timeout int64
	reo := s.rackReoWnd()
	now := nowUS()
	resending, probesLost := 0, 0
	for p := s.inflightQ.head; p != nil; {
		next := p.next
		if p.timeSent > s.rackTimeSent {
			break
		}
		if sentAfter(s.rackTimeSent, s.rackNextSeq, p.timeSent, p.seq+1) {
			remaining := p.timeSent + s.rackRTT + reo - now
			if remaining <= 0 {
				p.lost = true
				s.lost++
				s.bbrNoteLost(p)
				s.inflight -= p.size()
				s.inflightQ.remove(p)
				s.retransmitQ.pushBack(p)
				if p.probe {
					s.unprobe(p)
					probesLost++
				}
				resending++
			} else if remaining > timeout {
				timeout = remaining
			}
		}
		p = next
	}
	if resending > probesLost && s.caState == caOpen {
		s.fastRecoveries++
		s.caState = caRecovery
		s.highSeq = s.seq
		s.tlpInFlight, s.tlpIsRetrans = false, false
	}
	s.sendPackets()
	return timeout
}

// ---- sending ----

// Pacing is libudx's token bucket: every millisecond it is refilled with
// one millisecond of the pacing rate (more after a pause), and any tokens
// left release the next packet.
func (s *Stream) refillPacing() {
	nowMS := nowUS() / 1000
	if nowMS > s.tbLastRefill {
		s.tbAvailable = uint64(nowMS-s.tbLastRefill) * s.pacingBPMS
		s.tbLastRefill = nowMS
	}
}

func (s *Stream) armPacing() {
	if !s.pacingArmed && !s.closed {
		s.pacingArmed = true
		s.pacingTimer.Reset(time.Millisecond)
	}
}

func (s *Stream) maySend(retransmit bool) bool {
	s.refillPacing()
	if s.tbAvailable == 0 {
		s.armPacing()
		return false
	}
	if retransmit {
		return uint32(s.inflightQ.n) < s.cwnd
	}
	return uint32(s.inflightQ.n) < s.sendWindowPackets()
}

func (s *Stream) sendPackets() {
	if s.closed || s.sock == nil {
		return
	}
	for s.retransmitQ.head != nil && s.maySend(true) {
		s.retransmit(s.retransmitQ.head)
	}
	for s.sendNew(false) {
	}
}

// transmit puts p on the wire and into the inflight queue.
func (s *Stream) transmit(p *outPacket, retransmit bool) {
	s.rateCheckAppLimited()
	if p.transmits < 255 {
		p.transmits++
	}
	if retransmit {
		p.retransmitted = true
	}
	now := nowUS()
	p.timeSent = now
	s.rateOnSent(p, now)
	if p.lost {
		s.retransmitQ.remove(p)
		p.lost = false
	}
	s.inflightQ.pushBack(p)
	s.inflight += p.size()
	p.txInflight = uint32(s.inflightQ.n)
	h := s.header(p.flags, p.seq)
	if p.probe && !retransmit {
		pad := s.mtuProbeSize - s.overhead() - p.payload
		h.DataOffset = uint8(pad)
		b := AppendPacket(make([]byte, 0, HeaderSize+pad+p.payload), h, nil, p.buf[HeaderSize:])
		s.queueTx(b)
	} else {
		if p.probe {
			p.probe = false
		}
		h.Put(p.buf)
		s.queueTx(p.buf)
	}
	sz := uint64(p.size())
	if sz >= s.tbAvailable {
		s.tbAvailable = 0
		s.armPacing()
	} else {
		s.tbAvailable -= sz
	}
}

func (s *Stream) sendNew(tlp bool) bool {
	if s.writeHead >= len(s.writeQ) {
		return false
	}
	if !tlp && !s.maySend(false) {
		return false
	}
	p := s.writeQ[s.writeHead]
	s.writeQ[s.writeHead] = nil
	s.writeHead++
	if s.writeHead == len(s.writeQ) {
		s.writeQ = s.writeQ[:0]
		s.writeHead = 0
	}
	wasEmpty := s.inflightQ.n == 0
	p.seq = s.seq
	if s.mtuProbeWanted && !tlp && !s.remoteChanging && p.flags&FlagData != 0 {
		pad := s.mtuProbeSize - s.overhead() - p.payload
		if pad > 0 && pad <= 255 {
			p.probe = true
		}
	}
	s.out[p.seq] = p
	s.transmit(p, false)
	s.seq++
	if wasEmpty {
		s.bbrOnTransmitStart(nowUS())
	}
	if p.probe {
		s.mtuProbeCount++
		s.mtuProbeWanted = false
	}
	if tlp {
		s.tlpIsRetrans = false
		s.tlpInFlight = true
		s.tlpEndSeq = p.seq
		s.tlpPermitted = false
	}
	s.armTimers(!tlp)
	return true
}

func (s *Stream) retransmit(p *outPacket) {
	wasEmpty := s.inflightQ.n == 0
	s.transmit(p, true)
	s.retransmits++
	if wasEmpty {
		s.bbrOnTransmitStart(nowUS())
	}
	s.armTimers(false)
}

func (s *Stream) unprobe(p *outPacket) {
	p.probe = false
	if s.mtuState == mtuStateSearch {
		if s.mtuProbeCount >= mtuMaxProbes {
			s.mtuState = mtuStateComplete
		} else {
			s.mtuProbeWanted = true
		}
	}
}

// sendProbe sends a heartbeat; the remote answers with an ack.
func (s *Stream) sendProbe() {
	if s.sock == nil {
		return
	}
	h := s.header(FlagHeartbeat, s.seq)
	s.queueTx(h.Append(nil))
}

// enqueue appends written bytes to the write queue in packet-sized pieces.
func (s *Stream) enqueue(b []byte) {
	mp := s.maxPayload()
	if n := len(s.writeQ); n > s.writeHead {
		t := s.writeQ[n-1]
		if t.flags&FlagEnd == 0 && t.payload < mp {
			k := min(mp-t.payload, len(b))
			t.buf = append(t.buf, b[:k]...)
			t.payload += k
			b = b[k:]
		}
	}
	for len(b) > 0 {
		k := min(mp, len(b))
		p := newPacket(HeaderSize + mp)
		p.flags = FlagData
		p.buf = append(p.buf, b[:k]...)
		p.payload = k
		s.writeQ = append(s.writeQ, p)
		b = b[k:]
	}
}

// Sent packets are recycled: a bulk transfer would otherwise allocate
// (and collect) a buffer per packet. A packet the peer acknowledged waits
// in Stream.recycle until the queued sends that may still point at its
// buffer have gone out (flushTx).
var packetPool = sync.Pool{New: func() any { return new(outPacket) }}

// newPacket returns a cleared packet whose buf holds room for a header
// and is at least size bytes long in capacity.
func newPacket(size int) *outPacket {
	p := packetPool.Get().(*outPacket)
	buf := p.buf
	if cap(buf) < size {
		buf = make([]byte, 0, size)
	}
	*p = outPacket{buf: buf[:HeaderSize]}
	return p
}

// ---- receiving ----

// receive handles one stream packet from the socket reader. It reports
// whether the stream wants afterBatch.
func (s *Stream) receive(sock *Socket, from netip.AddrPort, p *Packet, raw []byte, skipped int) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	if s.sock != sock && !(s.prevSock == sock && sock != nil) {
		fw := s.cfg.Firewall
		s.mu.Unlock()
		if fw == nil || !fw(s, sock, unmapAddr(from)) {
			return false
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return false
		}
	}
	// Packets this one triggers wait in s.tx for afterBatch, so a burst
	// of acks read with one recvmmsg leads to one sendmmsg.
	defer s.unlockNoFlush()
	if s.connected && (s.sock == sock || s.prevSock == sock) {
		if f := unmapAddr(from); f != s.remote && f != s.prevRemote {
			return false // not from our peer: spoofed or stale, dropped
		}
	}
	if s.relayTo != nil {
		s.relayPacket(p, raw)
		return false
	}
	s.inBatch = true
	s.packetsRx += uint64(skipped)
	s.process(p)
	return !s.closed
}

func (s *Stream) afterBatch() {
	s.mu.Lock()
	defer s.unlock()
	if s.inBatch {
		s.inBatch = false
		s.sendPackets()
	}
	if s.ackPending && !s.closed {
		s.ackPending = false
		s.sendAck()
	}
}

func (s *Stream) relayPacket(p *Packet, raw []byte) {
	if seqDiff(p.Seq, s.seq) > 0 {
		s.seq = p.Seq
	}
	r := s.relayTo
	destroy := p.Type&FlagDestroy != 0
	b := append([]byte(nil), raw...)
	s.post = append(s.post, func() { r.forward(b) })
	if destroy {
		s.closeWith(ErrReset)
	}
}

// forward sends a relayed packet on to this stream's remote.
func (s *Stream) forward(b []byte) {
	s.mu.Lock()
	defer s.unlock()
	if s.sock == nil {
		return
	}
	b[4], b[5], b[6], b[7] = byte(s.remoteID), byte(s.remoteID>>8), byte(s.remoteID>>16), byte(s.remoteID>>24)
	s.queueTx(b)
}

func (s *Stream) process(p *Packet) {
	s.packetsRx++
	typ := p.Type
	ack := p.Ack
	priorAcked := s.remoteAcked
	ackAdvanced := seqDiff(ack, priorAcked) > 0
	dataInflight := s.remoteAcked != s.seq

	if typ&FlagHeartbeat != 0 {
		s.sendAck()
		return
	}

	if seqDiff(p.Seq, s.ack) >= 0 {
		if typ&(FlagData|FlagEnd) != 0 && !s.endedRemote {
			if _, dup := s.incoming[p.Seq]; !dup {
				s.processData(typ, p.Seq, p.Payload)
			}
		}
		if typ&FlagEnd != 0 {
			s.endingRemote = true
			s.remoteEnded = p.Seq
		}
		if typ&FlagDestroy != 0 {
			s.closeWith(ErrReset)
			return
		}
	}
	if typ&FlagMessage != 0 {
		select {
		case s.msgs <- append([]byte(nil), p.Payload...):
		default:
		}
	}
	for !s.endedRemote && len(s.incoming) > 0 {
		ip, ok := s.incoming[s.ack]
		if !ok {
			break
		}
		delete(s.incoming, s.ack)
		s.ack++
		if ip.flags&FlagData != 0 {
			s.appendRead(ip.data)
		}
	}

	if seqLess(s.seq, ack) {
		return // acks data we never sent
	}
	if seqDiff(ack, s.remoteAcked) >= 0 {
		if seqLess(s.wl1, p.Seq) || (s.wl1 == p.Seq && seqDiff(s.wl2, ack) <= 0) {
			if p.Window > 0 && s.pendingTimer == timerZWP {
				s.stopTimer()
			}
			s.sendRwnd = p.Window
			s.wl1 = p.Seq
			s.wl2 = ack
		}
	}
	if s.remoteChanging && seqDiff(ack, s.seqOnRemoteChanged) >= 0 {
		s.remoteChanging = false
		if s.remoteChangedCh != nil {
			close(s.remoteChangedCh)
			s.remoteChangedCh = nil
		}
	}
	if s.tlpInFlight && seqDiff(ack, s.tlpEndSeq) >= 0 {
		if !s.tlpIsRetrans || seqDiff(ack, s.tlpEndSeq) > 0 {
			s.tlpInFlight = false
		}
	}
	if seqDiff(ack, s.highSeq) > 0 && (s.caState == caRecovery || s.caState == caLoss) {
		if s.caState == caRecovery {
			s.cwnd = s.ssthresh
		}
		s.caState = caOpen
	}

	delivered0, lost0 := s.delivered, s.lost
	rs := rateSample{rtt: -1}
	ended := false
	for q := priorAcked; seqLess(q, ack); q++ {
		a := s.ackPacket(q, false, &rs)
		if a == 1 {
			s.delivered++
		}
		if a == 2 {
			ended = true
			break
		}
	}
	if ackAdvanced {
		s.remoteAcked = ack
	}
	if ended {
		if s.closed {
			return
		}
		if s.remoteAcked == s.seq {
			if s.keepalive > 0 {
				s.startTimer(timerKeepalive, s.keepalive.Microseconds())
			} else {
				s.stopTimer()
			}
		}
		if s.ended && s.endedRemote {
			s.closeWith(nil)
			return
		}
		s.sendAck()
		return
	}
	for i := 0; i < p.NumSACKs(); i++ {
		r := p.SACK(i)
		if !s.sackValid(r.Start, r.End) {
			continue
		}
		stop := false
		for q := r.Start; q != r.End; q++ {
			a := s.ackPacket(q, true, &rs)
			if a == 2 {
				stop = true
				break
			}
			if a == 1 {
				s.delivered++
			}
		}
		if stop {
			break
		}
	}
	if s.closed {
		return
	}
	delivered := s.delivered - delivered0
	lost := s.lost - lost0
	armRTOorTLP := ackAdvanced && dataInflight
	if delivered > 0 {
		if s.writeRoom() {
			notify(s.writeCh) // wake a blocked Write only once it can go on
		}
		if s.remoteAcked == s.seq {
			armRTOorTLP = false
			endQueued := s.ending && !s.ended
			if s.sendRwnd == 0 && (s.queuedBytes > 0 || endQueued) {
				s.startTimer(timerZWP, s.rto*1000)
			} else if s.keepalive > 0 {
				s.startTimer(timerKeepalive, s.keepalive.Microseconds())
			} else {
				s.stopTimer()
			}
		} else {
			s.nextRTO = nowUS() + s.rto*1000
		}
		if t := s.rackDetectLoss(); t > 0 && !s.closed {
			s.startTimer(timerRackReo, t)
			armRTOorTLP = false
		}
	}
	if armRTOorTLP && !s.scheduleLossProbe(true) {
		s.rearmRTO(true)
	}
	if typ&(FlagData|FlagEnd) != 0 {
		s.ackPending = true
	}
	if dataInflight {
		now := nowUS()
		s.rateGen(delivered, lost, &rs, now)
		s.bbrMain(&rs, now)
	}
	if !s.inBatch {
		s.sendPackets()
	}
}

func (s *Stream) sackValid(start, end uint32) bool {
	return seqDiff(end, s.seq) <= 0 && seqDiff(start, end) < 0 &&
		seqDiff(start, s.seq) < 0 && seqDiff(start, s.remoteAcked) >= 0
}

func (s *Stream) processData(typ uint8, seq uint32, data []byte) {
	if seq == s.ack && typ&FlagData != 0 {
		s.ack++
		s.appendRead(data)
		return
	}
	if seqDiff(seq, s.ack) >= maxOutOfOrder {
		return
	}
	s.incoming[seq] = inPacket{flags: typ, data: append([]byte(nil), data...)}
	if seqDiff(seq, s.inMax) > 0 || len(s.incoming) == 1 {
		s.inMax = seq
	}
}

func (s *Stream) appendRead(data []byte) {
	if len(data) == 0 {
		return
	}
	if s.roff > 0 && s.roff >= len(s.rbuf)/2 {
		n := copy(s.rbuf, s.rbuf[s.roff:])
		s.rbuf = s.rbuf[:n]
		s.roff = 0
	}
	s.rbuf = append(s.rbuf, data...)
	notify(s.readCh)
}

// ackPacket marks seq delivered: 0 if it was not outstanding, 1 if it
// was, 2 if this completed our end of the stream.
func (s *Stream) ackPacket(seq uint32, sack bool, rs *rateSample) int {
	p := s.out[seq]
	if p == nil {
		if !sack && s.sacks > 0 {
			s.sacks--
		}
		return 0
	}
	delete(s.out, seq)
	if s.mtuState == mtuStateSearch && s.mtuProbeCount > 0 && p.probe {
		s.mtuProbeCount = 0
		s.mtu = s.mtuProbeSize
		if s.mtuProbeSize >= s.mtuMaxSize {
			s.mtuState = mtuStateComplete
		} else {
			s.mtuProbeSize = min(s.mtuProbeSize+mtuStep, s.mtuMaxSize)
			s.mtuProbeWanted = true
		}
	}
	if s.mtuState == mtuStateBase || s.mtuState == mtuStateError {
		s.mtuState = mtuStateSearch
		s.mtuProbeSize = min(s.mtu+mtuStep, s.mtuMaxSize)
		s.mtuProbeWanted = true
	}
	if sack {
		s.sacks++
	}
	if p.lost {
		s.retransmitQ.remove(p)
	} else {
		s.inflightQ.remove(p)
		s.inflight -= p.size()
	}
	s.rateOnDelivered(p, rs)
	now := nowUS()
	rtt := s.clampRTT(now - p.timeSent)
	next := seq + 1
	if !p.retransmitted {
		s.rttMin.applyMin(rttMinWindowUS, now, float64(rtt))
		if s.srtt == 0 {
			s.srtt = max(rtt, 1)
			s.rttvar = rtt / 2
		} else {
			d := rtt - s.srtt
			if d < 0 {
				d = -d
			}
			s.rttvar = (3*s.rttvar + d) / 4
			s.srtt = max((7*s.srtt+rtt)/8, 1)
		}
		s.tlpPermitted = true
		s.rto = min(max((s.srtt+4*s.rttvar)/1000, rtoMinMS), rtoMaxMS)
	}
	if !p.retransmitted || rtt >= s.rttMinUS() {
		s.rackRTT = rtt
		rs.rtt = rtt
		if sentAfter(p.timeSent, next, s.rackTimeSent, s.rackNextSeq) {
			s.rackTimeSent = p.timeSent
			s.rackNextSeq = next
		}
	}
	if seqDiff(next, s.rackFack) > 0 {
		s.rackFack = next
	} else if seqDiff(next, s.rackFack) < 0 && !p.retransmitted {
		s.reorderingSeen = true
	}
	s.queuedBytes -= p.payload
	s.recycle = append(s.recycle, p)
	if s.ending && !s.ended && s.inflightQ.n == 0 && s.retransmitQ.n == 0 && s.writeHead >= len(s.writeQ) {
		s.ended = true
		notify(s.writeCh)
		return 2
	}
	return 1
}

func (s *Stream) clampRTT(rtt int64) int64 {
	rtt = max(rtt, 0)
	if s.srtt == 0 {
		return min(rtt, rttMaxUS)
	}
	limit := s.srtt + 5*s.rttvar
	if rtt > limit && rtt > 5_000_000 {
		rtt = min(limit, rttMaxUS)
	}
	return rtt
}

// sendAck sends a state packet with our ack, window and SACK ranges.
func (s *Stream) sendAck() {
	if s.sock == nil {
		s.ackNeeded = true
		return
	}
	var sacks []SACK
	if len(s.incoming) > 0 {
		in := false
		var start, end uint32
		limit := s.inMax + 1
		for q := s.ack + 1; seqLess(q, limit) && len(sacks) < MaxSACKs; q++ {
			if _, ok := s.incoming[q]; ok {
				if !in {
					in, start = true, q
				}
				end = q + 1
			} else if in {
				in = false
				sacks = append(sacks, SACK{start, end})
			}
		}
		if in && len(sacks) < MaxSACKs {
			sacks = append(sacks, SACK{start, end})
		}
	}
	h := s.header(0, s.seq)
	s.queueTx(AppendPacket(make([]byte, 0, HeaderSize+8*len(sacks)), h, sacks, nil))

	if s.endingRemote && !s.endedRemote && seqDiff(s.ack, s.remoteEnded) > 0 {
		s.endedRemote = true
		s.eof = true
		notify(s.readCh)
	}
	if s.ended && s.endedRemote {
		s.closeWith(nil)
	}
}

// ---- closing ----

// closeWith closes the stream; err nil means both sides ended cleanly
// or a local close.
func (s *Stream) closeWith(err error) {
	if s.closed {
		return
	}
	s.closed = true
	s.connected = false
	s.closeErr = err
	s.flushTx()
	s.u.unregister(s)
	s.stopTimer()
	s.pacingTimer.Stop()
	s.rdl.stop()
	s.wdl.stop()
	clear(s.out)
	s.writeQ, s.writeHead = nil, 0
	s.inflightQ.clear()
	s.retransmitQ.clear()
	clear(s.incoming)
	if s.remoteChangedCh != nil {
		close(s.remoteChangedCh)
		s.remoteChangedCh = nil
	}
	close(s.closedCh)
	if r := s.relayTo; r != nil {
		s.post = append(s.post, func() {
			r.mu.Lock()
			delete(r.relayFrom, s)
			r.mu.Unlock()
		})
	}
	for r := range s.relayFrom {
		s.post = append(s.post, func() {
			r.mu.Lock()
			r.relayTo = nil
			r.mu.Unlock()
			r.Destroy()
		})
	}
	s.relayFrom = nil
}

func (s *Stream) socketClosed(sock *Socket) {
	s.mu.Lock()
	defer s.unlock()
	if s.sock == sock {
		s.sock = nil
		s.closeWith(ErrClosed)
	}
}

// Destroy closes the stream at once, telling the remote with a destroy
// packet (udx-native's stream.destroy()). Pending data is dropped.
func (s *Stream) Destroy() {
	s.mu.Lock()
	defer s.unlock()
	s.destroyLocked()
}

func (s *Stream) destroyLocked() {
	if s.closed {
		return
	}
	if s.connected && !s.relayed {
		h := s.header(FlagDestroy, s.seq)
		s.seq++
		s.queueTx(h.Append(nil))
	}
	s.closeWith(nil)
}

// CloseWrite ends the writing side (half-close): the remote reads EOF
// after all data written so far.
func (s *Stream) CloseWrite() error {
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return ErrClosed
	}
	if !s.connected {
		return ErrNotConnected
	}
	s.endLocked()
	return nil
}

func (s *Stream) endLocked() {
	if s.ending {
		return
	}
	s.ending = true
	if n := len(s.writeQ); n > s.writeHead && s.writeQ[n-1].flags&FlagEnd == 0 {
		s.writeQ[n-1].flags |= FlagEnd
	} else {
		s.writeQ = append(s.writeQ, &outPacket{flags: FlagEnd, buf: make([]byte, HeaderSize)})
	}
	if s.queuedBytes == 0 && s.sendRwnd == 0 {
		s.sendProbe()
		s.startTimer(timerZWP, s.rto*1000)
	}
	s.sendPackets()
}

// Close ends the writing side, waits (up to the write deadline, or 10
// seconds) until the remote has acknowledged everything written, and
// then closes the stream: quietly when both sides have ended, with a
// destroy packet otherwise.
func (s *Stream) Close() error {
	s.mu.Lock()
	if s.closed {
		s.unlock()
		return nil
	}
	if s.connected && !s.relayed {
		s.endLocked()
		linger := time.NewTimer(defaultLinger)
		defer linger.Stop()
		for !s.closed && !s.ended {
			s.unlock()
			select {
			case <-s.writeCh:
			case <-s.closedCh:
			case <-s.wdl.wait():
				s.mu.Lock()
				s.destroyLocked()
				s.unlock()
				return nil
			case <-linger.C:
				s.mu.Lock()
				s.destroyLocked()
				s.unlock()
				return nil
			}
			s.mu.Lock()
		}
	}
	if !s.closed {
		if s.ended && s.endedRemote {
			s.closeWith(nil)
		} else {
			s.destroyLocked()
		}
	}
	s.unlock()
	return nil
}

// Closed returns a channel closed when the stream has closed.
func (s *Stream) Closed() <-chan struct{} { return s.closedCh }

// Err returns why the stream closed: nil while open or after a clean
// close, ErrReset when the remote destroyed it, ErrTimeout when it
// stopped answering.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeErr
}

// ---- net.Conn ----

// Read reads in-order stream data. It returns io.EOF after the remote
// ended its side and all data was read, ErrReset if the remote destroyed
// the stream.
func (s *Stream) Read(b []byte) (int, error) {
	s.mu.Lock()
	for {
		if n := len(s.rbuf) - s.roff; n > 0 {
			k := copy(b, s.rbuf[s.roff:])
			s.roff += k
			if s.roff == len(s.rbuf) {
				s.rbuf, s.roff = s.rbuf[:0], 0
			}
			// tell a sender stalled on a small window that it opened
			if !s.closed && s.advWindow < uint32(s.rwndMax/2) && s.recvWindow() >= uint32(s.rwndMax/2) {
				s.sendAck()
			}
			s.unlock()
			return k, nil
		}
		if s.eof {
			s.unlock()
			return 0, io.EOF
		}
		if s.closed {
			err := s.closeErr
			s.unlock()
			if err == nil {
				return 0, net.ErrClosed
			}
			return 0, err
		}
		if len(b) == 0 {
			s.unlock()
			return 0, nil
		}
		dl := s.rdl.wait()
		s.unlock()
		select {
		case <-s.readCh:
		case <-s.closedCh:
		case <-dl:
			return 0, os.ErrDeadlineExceeded
		}
		s.mu.Lock()
	}
}

// Write queues b for reliable delivery. It blocks while more than
// libudx's high watermark (256 KiB plus the send window) is unacknowledged.
func (s *Stream) Write(b []byte) (int, error) {
	s.mu.Lock()
	total := 0
	for len(b) > 0 {
		if s.closed {
			err := s.closeErr
			s.unlock()
			if err == nil {
				err = net.ErrClosed
			}
			return total, err
		}
		if !s.connected {
			s.unlock()
			return total, ErrNotConnected
		}
		if s.ending {
			s.unlock()
			return total, ErrWriteClosed
		}
		if !s.writeRoom() {
			dl := s.wdl.wait()
			s.unlock()
			select {
			case <-s.writeCh:
			case <-s.closedCh:
			case <-dl:
				return total, os.ErrDeadlineExceeded
			}
			s.mu.Lock()
			continue
		}
		k := min(len(b), maxWriteChunk)
		idle := s.queuedBytes == 0
		s.enqueue(b[:k])
		s.queuedBytes += k
		b = b[k:]
		total += k
		if idle && s.sendRwnd == 0 {
			s.sendProbe()
			s.startTimer(timerZWP, s.rto*1000)
		}
		s.sendPackets()
	}
	s.unlock()
	return total, nil
}

// writeRoom reports whether Write may queue more: at most libudx's high
// watermark plus the send window is unacknowledged.
func (s *Stream) writeRoom() bool {
	return s.queuedBytes <= highWatermark+s.sendWindowBytes()
}

// LocalAddr returns the socket's address.
func (s *Stream) LocalAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sock == nil {
		return &net.UDPAddr{}
	}
	return net.UDPAddrFromAddrPort(s.sock.LocalAddr())
}

// RemoteAddr returns the remote address.
func (s *Stream) RemoteAddr() net.Addr {
	return net.UDPAddrFromAddrPort(s.RemoteAddrPort())
}

// RemoteAddrPort returns the remote address.
func (s *Stream) RemoteAddrPort() netip.AddrPort {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remote
}

// SetDeadline sets the read and write deadlines.
func (s *Stream) SetDeadline(t time.Time) error {
	s.rdl.set(t)
	s.wdl.set(t)
	return nil
}

// SetReadDeadline sets the read deadline.
func (s *Stream) SetReadDeadline(t time.Time) error { s.rdl.set(t); return nil }

// SetWriteDeadline sets the write deadline.
func (s *Stream) SetWriteDeadline(t time.Time) error { s.wdl.set(t); return nil }

// ---- messages, keepalive, remote changes, relays ----

// SendMessage sends b as one unordered, unreliable message on the stream
// (udx-native stream.send / trySend).
func (s *Stream) SendMessage(b []byte) error {
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return ErrClosed
	}
	if !s.connected {
		return ErrNotConnected
	}
	h := s.header(FlagMessage, s.seq)
	s.queueTx(AppendPacket(make([]byte, 0, HeaderSize+len(b)), h, nil, b))
	return nil
}

// ReadMessage waits for the next message sent with SendMessage.
func (s *Stream) ReadMessage(ctx context.Context) ([]byte, error) {
	select {
	case m := <-s.msgs:
		return m, nil
	case <-s.closedCh:
		select {
		case m := <-s.msgs:
			return m, nil
		default:
		}
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// SetKeepAlive makes an idle stream send a heartbeat every d (0 = off).
func (s *Stream) SetKeepAlive(d time.Duration) {
	s.mu.Lock()
	defer s.unlock()
	s.keepalive = d
	if d > 0 && s.connected && s.remoteAcked == s.seq {
		s.startTimer(timerKeepalive, d.Microseconds())
	}
}

// ChangeRemote moves a live stream to a new socket (of the same UDX
// instance), remote id and address, as hole punching and relays do. The
// returned channel closes once everything sent to the old remote has
// been acknowledged (or the stream closed).
func (s *Stream) ChangeRemote(sock *Socket, remoteID uint32, addr netip.AddrPort) (<-chan struct{}, error) {
	addr, ok := validAddr(addr)
	if !ok {
		return nil, ErrBadAddress
	}
	if sock.u != s.u {
		return nil, ErrOtherUDX
	}
	s.mu.Lock()
	defer s.unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if !s.connected {
		return nil, ErrNotConnected
	}
	if s.remoteChanging {
		return nil, ErrChanging
	}
	s.flushTx()
	// Packets still in flight on the old path (libudx retransmits to the
	// address a packet was first sent to) keep being accepted.
	s.prevSock, s.prevRemote = s.sock, s.remote
	s.remote = addr
	s.remoteID = remoteID
	s.sock = sock
	ch := make(chan struct{})
	if s.seq != s.remoteAcked {
		s.remoteChanging = true
		s.seqOnRemoteChanged = s.seq
		s.remoteChangedCh = ch
	} else {
		close(ch)
	}
	s.resetMTU()
	s.bbr.inflightHi = 0 // a new path has its own buffers
	return ch, nil
}

// RelayTo forwards every packet this stream receives, unchanged but for
// the stream id, to dst's remote (blind relaying). A destroy received
// on s closes s; closing dst destroys s.
func (s *Stream) RelayTo(dst *Stream) error {
	if s == dst {
		return ErrRelay
	}
	s.mu.Lock()
	if s.relayed || s.closed {
		s.unlock()
		return ErrRelay
	}
	s.mu.Unlock()
	dst.mu.Lock()
	if dst.closed {
		dst.unlock()
		return ErrRelay
	}
	if dst.relayFrom == nil {
		dst.relayFrom = make(map[*Stream]struct{})
	}
	dst.relayFrom[s] = struct{}{}
	dst.unlock()
	s.mu.Lock()
	s.relayed = true
	s.relaying.Store(true)
	s.relayTo = dst
	s.unlock()
	return nil
}

var _ net.Conn = (*Stream)(nil)
