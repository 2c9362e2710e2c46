package dht

// health follows dht-rpc's lib/health.js: once per tick it samples the
// response and timeout counters; with enough traffic a tick with no
// responses counts as offline and one with more than half timeouts as
// degraded. Two offline ticks make the node offline; four degraded (or
// four healthy) ticks in the window flip the degraded state.
type health struct {
	window   [healthWindow]healthSample
	filled   int
	head     int
	offline  int
	degraded int
	healthy  int

	isOnline   bool
	isDegraded bool
}

const (
	healthWindow     = 4
	offlineThreshold = 2
	idleThreshold    = 4
)

type healthSample struct {
	responses, timeouts uint64
	set                 bool // offline/degraded were decided for this sample
	offline, degraded   bool
}

func newHealth() health { return health{isOnline: true} }

func (h *health) reset() { *h = newHealth() }

func (h *health) update(responses, timeouts uint64) {
	tail := (h.head + 1) % healthWindow
	if h.filled == healthWindow {
		old := &h.window[tail]
		// health.js also decrements the healthy count when an offline
		// sample leaves the window, so after an outage it can never count
		// four healthy ticks and stays degraded; only samples that were
		// counted are uncounted here.
		if old.set && old.degraded {
			h.degraded--
		} else if old.set && !old.offline {
			h.healthy--
		}
	}
	prev := h.window[h.head]
	h.head = tail
	h.window[h.head] = healthSample{responses: responses, timeouts: timeouts}
	if h.filled < healthWindow {
		h.filled++
	}
	if h.filled < healthWindow {
		return // cold
	}
	dr, dt := responses-prev.responses, timeouts-prev.timeouts
	if dr+dt < idleThreshold {
		return // idle
	}
	s := &h.window[h.head]
	s.set = true
	s.offline = dr == 0
	s.degraded = !s.offline && dt*2 > dr+dt
	if s.offline {
		h.offline++
	} else {
		h.offline = 0
		if s.degraded {
			h.degraded++
		} else {
			h.healthy++
		}
	}
	if !s.offline {
		h.isOnline = true
	} else if h.offline >= offlineThreshold {
		h.isOnline = false
	}
	if !h.isOnline || h.healthy == healthWindow {
		h.isDegraded = false
	} else if h.degraded == healthWindow {
		h.isDegraded = true
	}
}
