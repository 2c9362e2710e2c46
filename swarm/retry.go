package swarm

import (
	"math/rand/v2"
	"time"
)

// Hyperswarm's retry backoffs (before their random part) and jitter.
var defaultBackoffs = [4]time.Duration{time.Second, 5 * time.Second, 15 * time.Second, 10 * time.Minute}

const defaultJitter = 500 * time.Millisecond

// retryTimer requeues peers after a backoff chosen from their attempts, in
// batches: four bulk timers (short, medium, long, extra long).
type retryTimer struct {
	s      *Swarm
	timers [4]*bulkTimer
}

// newRetryTimer builds the timers as retry-timer does: each backoff gets a
// random part (the jitter times 1, 2, 4 and 240, as hyperswarm's constants)
// and each timer a further random part up to the jitter.
func newRetryTimer(s *Swarm, backoffs [4]time.Duration, jitter time.Duration, custom bool) *retryTimer {
	r := &retryTimer{s: s}
	mult := [4]int64{1, 2, 4, 240}
	for i := range r.timers {
		d := backoffs[i]
		if !custom && jitter > 0 {
			d += time.Duration(rand.Int64N(int64(jitter)*mult[i] + 1))
		}
		if jitter > 0 {
			d += time.Duration(rand.Int64N(int64(jitter) + 1))
		}
		r.timers[i] = &bulkTimer{s: s, period: time.Duration(float64(d) * 0.66)}
	}
	return r
}

// add schedules p's retry; false when p is not to be retried. s.mu held.
func (r *retryTimer) add(p *PeerInfo) bool {
	t := r.pick(p)
	if t == nil {
		return false
	}
	t.add(p)
	return true
}

func (r *retryTimer) pick(p *PeerInfo) *bulkTimer {
	if p.banned || !p.reconnecting {
		return nil
	}
	if p.attempts > 3 {
		if p.explicit {
			return r.timers[3]
		}
		return nil
	}
	if p.attempts == 0 {
		return r.timers[0]
	}
	if p.proven {
		return r.timers[p.attempts-1] // 1: short, 2: medium, 3: long
	}
	if p.attempts == 1 {
		return r.timers[1]
	}
	return r.timers[2]
}

// stop ends the timers. s.mu held.
func (r *retryTimer) stop() {
	for _, t := range r.timers {
		t.stop()
	}
}

// bulkTimer fires every period with the peers added in the period before the
// last, so each waits between one and two periods.
type bulkTimer struct {
	s       *Swarm
	period  time.Duration
	timer   *time.Timer
	next    []*PeerInfo
	pending []*PeerInfo
	stopped bool
}

func (b *bulkTimer) add(p *PeerInfo) {
	if b.stopped {
		return
	}
	if b.timer == nil {
		b.timer = time.AfterFunc(b.period, b.tick)
	}
	b.pending = append(b.pending, p)
}

func (b *bulkTimer) tick() {
	s := b.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if b.stopped {
		return
	}
	if len(b.next) == 0 && len(b.pending) == 0 {
		b.timer = nil // idle until the next add
		return
	}
	batch := b.next
	b.next, b.pending = b.pending, nil
	b.timer.Reset(b.period)
	if len(batch) > 0 {
		s.requeue(batch)
	}
}

func (b *bulkTimer) stop() {
	b.stopped = true
	if b.timer != nil {
		b.timer.Stop()
	}
	b.next, b.pending = nil, nil
}
