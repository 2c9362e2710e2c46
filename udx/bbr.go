package udx

// Congestion control: BBR (v1) over packet-timed round trips with a
// delivery-rate estimator, the same family and constants as libudx
// (udx_bbr.c, udx_rate.c). Times are microseconds; bandwidth is packets
// per millisecond.

const (
	bbrStartup = iota
	bbrDrain
	bbrProbeBW
	bbrProbeRTT
)

const (
	caOpen = iota + 1
	caRecovery
	caLoss
)

const (
	bbrCycleLen          = 8
	bbrMinRTTIntervalUS  = 10_000_000
	bbrProbeRTTModeUS    = 200_000
	bbrPacingMargin      = 0.99
	bbrHighGain          = 2.88539 // 2/ln(2)
	bbrDrainGain         = 1 / 2.88539
	bbrCwndGain          = 2.0
	bbrCwndMinTarget     = 4
	bbrFullBWThresh      = 1.25
	bbrFullBWCount       = 3
	bbrExtraAckedGain    = 1.0
	bbrExtraAckedWinRTTs = 5
	bbrExtraAckedMaxMS   = 100
	minRTTFloorUS        = 1000 // round-trip times below this count as 1 ms, as libudx's ms clock does

	// Loss-bounded inflight (after BBRv2's inflight_hi): a round trip
	// that loses more than 1/bbrLossThreshDiv of its packets, and at
	// least bbrLossMinPackets, caps the window below the inflight at
	// which the losses began. While the cap binds it grows again, by
	// r/bbrInflightHiGrowDiv of itself in the r-th round trip after the
	// loss: slowly at first, near the level that overflowed, and then
	// fast enough to get out of the way of a path that has more room.
	bbrLossThreshDiv     = 50 // 2%
	bbrLossMinPackets    = 16
	bbrInflightHiBeta    = 0.85
	bbrInflightHiGrowDiv = 256
	bbrInflightHiMaxStep = 64 // rounds after which the growth rate stops rising
)

var bbrPacingGains = [bbrCycleLen]float64{1.25, 0.75, 1, 1, 1, 1, 1, 1}

type bbrState struct {
	minRTT           int64 // µs
	minRTTStamp      int64
	probeRTTDone     int64
	bw               winFilter // packets/ms, windowed by round count
	rttCount         int64
	nextRTTDelivered uint32
	cycleStamp       int64
	state            int
	prevCAState      int

	packetConservation bool
	roundStart         bool
	idleRestart        bool
	probeRTTRoundDone  bool

	pacingGain    float64
	cwndGain      float64
	fullBWReached bool
	fullBWCount   int
	cycleIndex    int
	hasSeenRTT    bool
	priorCwnd     uint32
	fullBW        float64

	ackEpochStart    int64
	extraAcked       [2]uint32
	ackEpochAcked    uint32
	extraAckedWinRTT int
	extraAckedWinIdx int

	// loss-bounded inflight
	inflightHi       uint32 // window cap in packets, 0 = none
	roundLost0       uint32 // s.lost at the start of the round
	roundDelivered0  uint32 // s.delivered at the start of the round
	roundLostMinInfl uint32 // lowest inflight-at-send of a packet lost this round, 0 = none
	roundHiLimited   bool   // the cap bound the window this round
	hiRounds         uint32 // round trips since the cap was last lowered
}

// rateSample is one delivery-rate sample built while processing an ack.
type rateSample struct {
	priorTimestamp int64
	priorDelivered uint32
	delivered      int64
	interval       int64 // µs
	rtt            int64 // µs, -1 when none
	losses         uint32
	ackedSacked    uint32
	seq            uint32
	isAppLimited   bool
	isRetrans      bool
}

func (s *Stream) maxBW() float64 { return s.bbr.bw.get() }

func (s *Stream) bwToPacing(bw, gain float64) uint64 {
	r := uint64(bw * float64(s.maxPayload()) * gain * bbrPacingMargin)
	return max(r, 1)
}

func (s *Stream) bbrInitPacingFromRTT() {
	srttMS := 1.0
	if s.srtt > 0 {
		srttMS = max(float64(s.srtt)/1000, 1)
		s.bbr.hasSeenRTT = true
	}
	s.pacingBPMS = s.bwToPacing(float64(s.cwnd)/srttMS, bbrHighGain)
}

func (s *Stream) bbrSetPacing(bw, gain float64) {
	rate := s.bwToPacing(bw, gain)
	if !s.bbr.hasSeenRTT && s.srtt > 0 {
		s.bbrInitPacingFromRTT()
	}
	if s.bbr.fullBWReached || rate > s.pacingBPMS {
		s.pacingBPMS = rate
	}
}

func (s *Stream) bbrSaveCwnd() {
	if s.bbr.prevCAState < caRecovery && s.bbr.state != bbrProbeRTT {
		s.bbr.priorCwnd = s.cwnd
	} else {
		s.bbr.priorCwnd = max(s.bbr.priorCwnd, s.cwnd)
	}
}

func (s *Stream) bbrOnTransmitStart(now int64) {
	if s.appLimited == 0 {
		return
	}
	s.bbr.idleRestart = true
	s.bbr.ackEpochStart = now
	s.bbr.ackEpochAcked = 0
	switch s.bbr.state {
	case bbrProbeBW:
		s.bbrSetPacing(s.maxBW(), 1)
	case bbrProbeRTT:
		s.bbrCheckProbeRTTDone(now)
	}
}

func (s *Stream) bbrBDP(bw, gain float64) uint32 {
	if s.bbr.minRTT < 0 {
		return 10
	}
	rtt := max(s.bbr.minRTT, minRTTFloorUS)
	return uint32(bw * float64(rtt) / 1000 * gain)
}

func (s *Stream) bbrAckAggregationCwnd() uint32 {
	if !s.bbr.fullBWReached {
		return 0
	}
	maxAggr := uint32(s.maxBW() * bbrExtraAckedMaxMS)
	aggr := uint32(bbrExtraAckedGain * float64(max(s.bbr.extraAcked[0], s.bbr.extraAcked[1])))
	return min(aggr, maxAggr)
}

func (s *Stream) bbrRecoverOrRestore(rs *rateSample, acked uint32) (uint32, bool) {
	prev, state := s.bbr.prevCAState, s.caState
	cwnd := s.cwnd
	if rs.losses > 0 {
		if cwnd > rs.losses {
			cwnd -= rs.losses
		} else {
			cwnd = 1
		}
	}
	inflight := uint32(s.inflightQ.n)
	if state == caRecovery && prev != caRecovery {
		s.bbr.packetConservation = true
		s.bbr.nextRTTDelivered = s.delivered
		cwnd = inflight + acked
	} else if prev >= caRecovery && state == caOpen {
		cwnd = max(cwnd, s.bbr.priorCwnd)
		s.bbr.packetConservation = false
	}
	s.bbr.prevCAState = state
	if s.bbr.packetConservation {
		return max(cwnd, inflight+acked), true
	}
	return cwnd, false
}

func (s *Stream) bbrSetCwnd(rs *rateSample, acked uint32, bw, gain float64) {
	cwnd := s.cwnd
	if acked > 0 {
		var done bool
		cwnd, done = s.bbrRecoverOrRestore(rs, acked)
		if !done {
			target := s.bbrBDP(bw, gain) + s.bbrAckAggregationCwnd()
			if s.bbr.fullBWReached {
				cwnd = min(cwnd+acked, target)
			} else if cwnd < target || s.delivered < 10 {
				cwnd += acked
			}
			cwnd = max(cwnd, bbrCwndMinTarget)
		}
	}
	if hi := s.bbr.inflightHi; hi > 0 && cwnd >= hi {
		cwnd = hi
		s.bbr.roundHiLimited = true
	}
	s.cwnd = cwnd
	if s.bbr.state == bbrProbeRTT {
		s.cwnd = min(s.cwnd, bbrCwndMinTarget)
	}
}

func (s *Stream) bbrIsNextCyclePhase(rs *rateSample) bool {
	full := s.deliveredTS-s.bbr.cycleStamp > s.bbr.minRTT
	g := s.bbr.pacingGain
	if g == 1 {
		return full
	}
	inflight := uint32(s.inflightQ.n)
	if g > 1 {
		return full && (rs.losses > 0 || inflight > s.bbrBDP(s.maxBW(), g))
	}
	return full || inflight <= s.bbrBDP(s.maxBW(), 1)
}

func (s *Stream) bbrAdvanceCycle() {
	s.bbr.cycleIndex = (s.bbr.cycleIndex + 1) % bbrCycleLen
	s.bbr.cycleStamp = s.deliveredTS
}

func (s *Stream) bbrResetProbeBW() {
	s.bbr.state = bbrProbeBW
	s.bbr.cycleIndex = 3
	s.bbrAdvanceCycle()
}

func (s *Stream) bbrResetMode() {
	if !s.bbr.fullBWReached {
		s.bbr.state = bbrStartup
	} else {
		s.bbrResetProbeBW()
	}
}

func (s *Stream) bbrUpdateBW(rs *rateSample) {
	s.bbr.roundStart = false
	if rs.delivered < 0 || rs.interval <= 0 {
		return
	}
	if seqDiff(rs.priorDelivered, s.bbr.nextRTTDelivered) >= 0 {
		s.bbr.nextRTTDelivered = s.delivered
		s.bbr.rttCount++
		s.bbr.roundStart = true
		s.bbr.packetConservation = false
	}
	bw := float64(rs.delivered) / (float64(rs.interval) / 1000)
	if !rs.isAppLimited || bw >= s.maxBW() {
		s.bbr.bw.applyMax(bbrCycleLen+2, s.bbr.rttCount, bw)
	}
}

func (s *Stream) bbrUpdateAckAggregation(rs *rateSample) {
	if rs.ackedSacked == 0 || rs.delivered < 0 || rs.interval <= 0 {
		return
	}
	b := &s.bbr
	if b.roundStart {
		b.extraAckedWinRTT = min(0xff, b.extraAckedWinRTT+1)
		if b.extraAckedWinRTT >= bbrExtraAckedWinRTTs {
			b.extraAckedWinRTT = 0
			b.extraAckedWinIdx ^= 1
			b.extraAcked[b.extraAckedWinIdx] = 0
		}
	}
	epoch := max(s.deliveredTS-b.ackEpochStart, 0)
	expected := uint32(s.maxBW() * float64(epoch) / 1000)
	if b.ackEpochAcked <= expected {
		b.ackEpochAcked = 0
		b.ackEpochStart = s.deliveredTS
		expected = 0
	}
	b.ackEpochAcked += rs.ackedSacked
	extra := min(b.ackEpochAcked-expected, s.cwnd)
	if extra > b.extraAcked[b.extraAckedWinIdx] {
		b.extraAcked[b.extraAckedWinIdx] = extra
	}
}

func (s *Stream) bbrCheckFullBW(rs *rateSample) {
	b := &s.bbr
	if b.fullBWReached || !b.roundStart || rs.isAppLimited {
		return
	}
	if s.maxBW() >= b.fullBW*bbrFullBWThresh {
		b.fullBW = s.maxBW()
		b.fullBWCount = 0
		return
	}
	b.fullBWCount++
	b.fullBWReached = b.fullBWCount >= bbrFullBWCount
}

func (s *Stream) bbrCheckDrain() {
	if s.bbr.state == bbrStartup && s.bbr.fullBWReached {
		s.bbr.state = bbrDrain
		s.ssthresh = s.bbrBDP(s.maxBW(), 1)
	}
	if s.bbr.state == bbrDrain && uint32(s.inflightQ.n) <= s.bbrBDP(s.maxBW(), 1) {
		s.bbrResetProbeBW()
	}
}

func (s *Stream) bbrCheckProbeRTTDone(now int64) {
	if s.bbr.probeRTTDone == 0 || now <= s.bbr.probeRTTDone {
		return
	}
	s.bbr.minRTTStamp = now
	s.cwnd = max(s.cwnd, s.bbr.priorCwnd)
	s.bbrResetMode()
}

func (s *Stream) bbrUpdateMinRTT(rs *rateSample, now int64) {
	b := &s.bbr
	expired := now > b.minRTTStamp+bbrMinRTTIntervalUS
	if rs.rtt >= 0 && (b.minRTT < 0 || rs.rtt < b.minRTT || expired) {
		b.minRTT = max(rs.rtt, 1)
		b.minRTTStamp = now
	}
	if expired && !b.idleRestart && b.state != bbrProbeRTT {
		b.state = bbrProbeRTT
		s.bbrSaveCwnd()
		b.probeRTTDone = 0
	}
	if b.state == bbrProbeRTT {
		s.appLimited = max(s.delivered+uint32(s.inflightQ.n), 1)
		if b.probeRTTDone == 0 && s.inflightQ.n <= bbrCwndMinTarget {
			b.probeRTTDone = now + bbrProbeRTTModeUS
			b.probeRTTRoundDone = false
			b.nextRTTDelivered = s.delivered
		} else if b.probeRTTDone != 0 {
			if b.roundStart {
				b.probeRTTRoundDone = true
			}
			if b.probeRTTRoundDone {
				s.bbrCheckProbeRTTDone(now)
			}
		}
	}
	if rs.delivered > 0 {
		b.idleRestart = false
	}
}

func (s *Stream) bbrUpdateGains() {
	b := &s.bbr
	switch b.state {
	case bbrStartup:
		b.pacingGain, b.cwndGain = bbrHighGain, bbrHighGain
	case bbrDrain:
		b.pacingGain, b.cwndGain = bbrDrainGain, bbrHighGain
	case bbrProbeBW:
		b.pacingGain, b.cwndGain = bbrPacingGains[b.cycleIndex], bbrCwndGain
	default:
		b.pacingGain, b.cwndGain = 1, 1
	}
}

// bbrNoteLost records a packet marked lost for the loss-bounded inflight.
func (s *Stream) bbrNoteLost(p *outPacket) {
	if p.transmits > 1 {
		return // resent in recovery, at whatever inflight that allowed
	}
	if m := s.bbr.roundLostMinInfl; m == 0 || p.txInflight < m {
		s.bbr.roundLostMinInfl = p.txInflight
	}
}

// bbrUpdateInflightHi runs at the start of each round trip. A round that
// lost too much means the bottleneck buffer (typically a receiver's
// socket buffer at loopback or LAN rates) overflows once more than about
// the inflight of its first lost packet is outstanding: the window stays
// below that. Otherwise a cap that bound the window grows, slowly at
// first.
func (s *Stream) bbrUpdateInflightHi() {
	b := &s.bbr
	if !b.roundStart {
		return
	}
	lost := s.lost - b.roundLost0
	delivered := s.delivered - b.roundDelivered0
	if lost >= bbrLossMinPackets && lost*bbrLossThreshDiv > lost+delivered && b.roundLostMinInfl > 0 {
		// never below the window BBR itself keeps (the cwnd gain times
		// the estimated BDP): this only trims the excess of startup and
		// of the ack aggregation allowance
		hi := max(uint32(float64(b.roundLostMinInfl)*bbrInflightHiBeta), s.bbrBDP(s.maxBW(), bbrCwndGain))
		if b.inflightHi == 0 || hi < b.inflightHi {
			b.inflightHi = max(hi, bbrCwndMinTarget)
		}
		b.hiRounds = 0
	} else if b.inflightHi > 0 {
		b.hiRounds = min(b.hiRounds+1, bbrInflightHiMaxStep)
		if b.roundHiLimited {
			step := uint64(b.inflightHi) * uint64(b.hiRounds) / bbrInflightHiGrowDiv
			b.inflightHi = uint32(min(uint64(b.inflightHi)+max(step, 1), 1<<30))
		}
	}
	b.roundLost0, b.roundDelivered0 = s.lost, s.delivered
	b.roundLostMinInfl = 0
	b.roundHiLimited = false
}

func (s *Stream) bbrMain(rs *rateSample, now int64) {
	s.bbrUpdateBW(rs)
	s.bbrUpdateInflightHi()
	s.bbrUpdateAckAggregation(rs)
	if s.bbr.state == bbrProbeBW && s.bbrIsNextCyclePhase(rs) {
		s.bbrAdvanceCycle()
	}
	s.bbrCheckFullBW(rs)
	s.bbrCheckDrain()
	s.bbrUpdateMinRTT(rs, now)
	s.bbrUpdateGains()
	bw := s.maxBW()
	s.bbrSetPacing(bw, s.bbr.pacingGain)
	s.bbrSetCwnd(rs, rs.ackedSacked, bw, s.bbr.cwndGain)
}

func (s *Stream) bbrInit(now int64) {
	s.ssthresh = 0xffff
	s.bbr = bbrState{
		nextRTTDelivered: s.delivered,
		prevCAState:      caOpen,
		minRTT:           -1,
		minRTTStamp:      now,
		ackEpochStart:    now,
		state:            bbrStartup,
	}
	s.bbr.bw.reset(0, 0)
	s.bbrInitPacingFromRTT()
	s.bbrUpdateGains()
}

func (s *Stream) bbrOnRTO() {
	s.bbr.prevCAState = caLoss
	s.bbr.fullBW = 0
	s.bbr.roundStart = true
}

// Delivery-rate estimation.

func (s *Stream) rateOnSent(p *outPacket, now int64) {
	if s.seq == s.remoteAcked {
		s.firstSentTS = now
		s.deliveredTS = now
	}
	p.firstSentTS = s.firstSentTS
	p.deliveredTS = s.deliveredTS
	p.delivered = s.delivered
	p.appLimited = s.appLimited != 0
}

func sentAfter(t1 int64, seq1 uint32, t2 int64, seq2 uint32) bool {
	return t1 > t2 || (t1 == t2 && seqLess(seq2, seq1))
}

func (s *Stream) rateOnDelivered(p *outPacket, rs *rateSample) {
	if p.deliveredTS == 0 {
		return
	}
	if rs.priorDelivered == 0 || sentAfter(p.timeSent, p.seq, s.firstSentTS, rs.seq) {
		rs.priorDelivered = p.delivered
		rs.priorTimestamp = p.deliveredTS
		rs.isAppLimited = p.appLimited
		rs.isRetrans = p.retransmitted
		rs.seq = p.seq
		s.firstSentTS = p.timeSent
		rs.interval = max(s.firstSentTS-p.firstSentTS, 0)
	}
}

func (s *Stream) rateGen(delivered, lost uint32, rs *rateSample, now int64) {
	if s.appLimited != 0 && seqDiff(s.delivered, s.appLimited) > 0 {
		s.appLimited = 0
	}
	if delivered > 0 {
		s.deliveredTS = now
	}
	rs.ackedSacked = delivered
	rs.losses = lost
	if rs.priorTimestamp == 0 {
		rs.delivered, rs.interval = -1, -1
		return
	}
	rs.delivered = int64(s.delivered - rs.priorDelivered)
	snd := rs.interval
	ack := max(now-rs.priorTimestamp, 0)
	rs.interval = max(snd, ack)
	if rs.interval < s.rttMinUS() {
		rs.interval = -1
		return
	}
	if !rs.isAppLimited || rs.delivered*s.rateInterval >= int64(s.rateDelivered)*rs.interval {
		s.rateDelivered = uint32(rs.delivered)
		s.rateInterval = rs.interval
	}
}

func (s *Stream) rateCheckAppLimited() {
	if s.queuedBytes < s.maxPayload() && uint32(s.inflightQ.n) < s.cwnd && s.retransmitQ.n == 0 {
		s.appLimited = max(s.delivered+uint32(s.inflightQ.n), 1)
	}
}
