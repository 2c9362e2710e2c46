package udx

import "testing"

// lossRound runs one round trip of the loss-bounded inflight logic: the
// round delivered and lost that many packets, the lost ones sent with
// lostInfl packets in flight, and the window did or did not reach the cap.
func lossRound(s *Stream, delivered, lost int, lostInfl uint32, capped bool) {
	for range lost {
		s.lost++
		s.bbrNoteLost(&outPacket{transmits: 1, txInflight: lostInfl})
	}
	s.delivered += uint32(delivered)
	s.bbr.roundHiLimited = capped
	s.bbr.roundStart = true
	s.bbrUpdateInflightHi()
}

func TestInflightHi(t *testing.T) {
	s, err := New(nil).NewStream(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Destroy()

	// 1% loss, or too few losses, leave the window alone
	lossRound(s, 990, 10, 500, false)
	lossRound(s, 100, 10, 500, false)
	if s.bbr.inflightHi != 0 {
		t.Fatalf("cap %d after light loss", s.bbr.inflightHi)
	}
	// a retransmission lost at a low inflight does not lower the cap
	s.lost++
	s.bbrNoteLost(&outPacket{transmits: 2, txInflight: 3})
	// 5% loss starting at 800 packets in flight: cap 0.85*800
	lossRound(s, 950, 49, 800, false)
	if s.bbr.inflightHi != 680 {
		t.Fatalf("cap %d, want 680", s.bbr.inflightHi)
	}
	// the cap binds the window
	s.cwnd = 2000
	s.bbrSetCwnd(&rateSample{}, 0, 0, 1)
	if s.cwnd != 680 {
		t.Fatalf("cwnd %d, want 680", s.cwnd)
	}
	// growth: r/256 of the cap in the r-th round, only while it binds
	lossRound(s, 1000, 0, 0, false)
	if s.bbr.inflightHi != 680 {
		t.Fatalf("cap grew to %d while not binding", s.bbr.inflightHi)
	}
	lossRound(s, 1000, 0, 0, true) // r=2: +5
	if s.bbr.inflightHi != 685 {
		t.Fatalf("cap %d, want 685", s.bbr.inflightHi)
	}
	for range 30 {
		lossRound(s, 1000, 0, 0, true)
	}
	if s.bbr.inflightHi < 1360 {
		t.Fatalf("cap %d after 32 rounds, want it at least doubled", s.bbr.inflightHi)
	}
	// a lossy round at a higher inflight never raises the cap
	hi := s.bbr.inflightHi
	lossRound(s, 900, 100, hi*2, false)
	if s.bbr.inflightHi != hi || s.bbr.hiRounds != 0 {
		t.Fatalf("cap %d (was %d), rounds %d", s.bbr.inflightHi, hi, s.bbr.hiRounds)
	}
	// nor falls below twice the BDP, BBR's own window
	s.bbr.minRTT = 20_000              // 20 ms
	s.bbr.bw.reset(s.bbr.rttCount, 50) // 50 packets/ms: BDP 1000
	lossRound(s, 900, 100, 200, false)
	if s.bbr.inflightHi != 2000 {
		t.Fatalf("cap %d, want 2 BDP = 2000", s.bbr.inflightHi)
	}
}
