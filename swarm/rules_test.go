package swarm

import (
	"bytes"
	"context"
	"testing"
	"time"
)

func TestKeepNewConn(t *testing.T) {
	lo := bytes.Repeat([]byte{1}, 32)
	hi := bytes.Repeat([]byte{2}, 32)
	cases := []struct {
		local, remote []byte
		newInitiator  bool
		outdated      bool
		want          bool
	}{
		// The greater key is the expected initiator: it keeps its own dial
		// and refuses the smaller key's; the smaller key keeps the greater's.
		{hi, lo, false, false, false}, // we are greater; the new one is theirs
		{hi, lo, true, false, true},   // we are greater; the new one is ours
		{lo, hi, false, false, true},  // we are smaller; the new one is theirs
		{lo, hi, true, false, false},  // we are smaller; the new one is ours
		// An established existing connection always gives way.
		{hi, lo, false, true, true},
		{lo, hi, true, true, true},
	}
	for i, c := range cases {
		if got := keepNewConn(c.local, c.remote, c.newInitiator, c.outdated); got != c.want {
			t.Errorf("case %d: keepNew = %v", i, got)
		}
	}
	// Both sides of a pair that dialled each other at once agree: each sees
	// the other's dial arrive while holding its own, and exactly one of them
	// keeps the arriving one.
	if keepNewConn(hi, lo, false, false) == keepNewConn(lo, hi, false, false) {
		t.Fatal("the two sides disagree")
	}
}

func TestPeerPriorities(t *testing.T) {
	s := &Swarm{}
	p := newPeerInfo(s, [32]byte{1})
	want := []int{PriorityNormal, PriorityVeryHigh, PriorityHigh, PriorityLow}
	for a, w := range want {
		p.attempts = a
		if !p.updatePriority() || p.priority != w {
			t.Fatalf("attempts %d: priority %d, want %d", a, p.priority, w)
		}
	}
	p.attempts = 4
	if p.updatePriority() {
		t.Fatal("a peer that failed 4 times is queued")
	}
	p.explicit = true
	if !p.updatePriority() || p.attempts != 3 || p.priority != PriorityLow {
		t.Fatalf("explicit peer: %d %d", p.attempts, p.priority)
	}
	p.banned = true
	if p.updatePriority() {
		t.Fatal("banned peer queued")
	}

	// A connection that lasted resets the attempts; a short one does not.
	q := newPeerInfo(s, [32]byte{2})
	now := time.Now()
	q.attempts = 2
	q.connected(now)
	q.disconnected(now.Add(minConnectionTime))
	if q.attempts != 1 {
		t.Fatalf("long connection: attempts %d", q.attempts)
	}
	q.connected(now)
	q.disconnected(now.Add(time.Second))
	if q.attempts != 2 {
		t.Fatalf("short connection: attempts %d", q.attempts)
	}
}

func TestRetryTimerChoice(t *testing.T) {
	s := &Swarm{}
	r := newRetryTimer(s, defaultBackoffs, 0, true)
	p := newPeerInfo(s, [32]byte{1})
	check := func(proven bool, attempts int, want int) {
		t.Helper()
		p.proven, p.attempts = proven, attempts
		got := -1
		for i, tm := range r.timers {
			if r.pick(p) == tm {
				got = i
			}
		}
		if got != want {
			t.Fatalf("proven=%v attempts=%d: timer %d, want %d", proven, attempts, got, want)
		}
	}
	check(false, 0, 0)
	check(true, 1, 0)
	check(true, 2, 1)
	check(true, 3, 2)
	check(false, 1, 1)
	check(false, 2, 2)
	check(false, 3, 2)
	check(false, 4, -1)
	p.explicit = true
	check(false, 4, 3)
	p.explicit = false
	p.reconnecting = false
	check(true, 1, -1)
	if r.timers[0].period != time.Duration(float64(time.Second)*0.66) {
		t.Fatalf("bulk period %v", r.timers[0].period)
	}
	// Default timers add hyperswarm's random parts: up to 240 jitters to
	// the extra long backoff, and one more jitter to every timer.
	d := newRetryTimer(s, defaultBackoffs, defaultJitter, false)
	if p := d.timers[3].period; p < time.Duration(float64(10*time.Minute)*0.66) || p > time.Duration(float64(10*time.Minute+241*defaultJitter)*0.66) {
		t.Fatalf("extra long period %v", p)
	}
}

func TestPeerQueueOrder(t *testing.T) {
	s := &Swarm{}
	var q peerQueue
	var ps []*PeerInfo
	for i, pr := range []int{PriorityLow, PriorityVeryHigh, PriorityNormal, PriorityVeryHigh, PriorityVeryLow} {
		p := newPeerInfo(s, [32]byte{byte(i)})
		p.priority = pr
		q.add(p)
		ps = append(ps, p)
	}
	want := []int{PriorityVeryHigh, PriorityVeryHigh, PriorityNormal, PriorityLow, PriorityVeryLow}
	for _, w := range want {
		p := q.shift()
		if p == nil || p.priority != w {
			t.Fatalf("got %v, want priority %d", p, w)
		}
	}
	if q.shift() != nil || q.len() != 0 {
		t.Fatal("queue not empty")
	}
}

// TestRefreshCadence: a joined topic announces again on its own after the
// refresh interval (shortened here from 10 minutes).
func TestRefreshCadence(t *testing.T) {
	oi, oj := refreshInterval, refreshJitter
	refreshInterval, refreshJitter = 300*time.Millisecond, 100*time.Millisecond
	defer func() { refreshInterval, refreshJitter = oi, oj }()
	tn := newTestnet(t, 4)
	ctx := testCtx(t)
	topic := topicOf("cadence")
	s := tn.swarm(t, nil)
	if _, err := s.Join(topic, &JoinOptions{Server: true}); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "three refreshes", func() bool {
		st, _ := s.Status(topic)
		return st.Refreshes >= 3
	})
	s.Close()
}

// TestFlushExplicitPeer: Flush returns once a JoinPeer dial settled, even
// when it fails.
func TestFlushExplicitPeer(t *testing.T) {
	tn := newTestnet(t, 4)
	ctx := testCtx(t)
	s := tn.swarm(t, nil)
	s.JoinPeer(bytes.Repeat([]byte{9}, 32)) // nobody listens on this key
	fctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	if err := s.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	if len(s.Connections()) != 0 {
		t.Fatal("connected to nobody")
	}
	p, ok := s.Peer(bytes.Repeat([]byte{9}, 32))
	if !ok || !p.Explicit() || p.Attempts() == 0 {
		t.Fatal("explicit peer forgotten or not tried")
	}
}

// established reports whether s counts its connection to peer as
// established (outdated, for the duplicate rule) now.
func established(s *Swarm, peer *Swarm) bool {
	k, _ := keyOf(peer.PublicKey())
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.all[k]
	return e != nil && e.outdated(time.Now())
}

// TestEstablishedByDataBothWays: a fresh connection that carried only its
// headers is not established for the duplicate rule (hyperswarm's byte
// counters skip the headers), data one way is not enough, and data both
// ways makes it so at once, without waiting for the 5 s stand-in for
// keepalives.
func TestEstablishedByDataBothWays(t *testing.T) {
	tn := newTestnet(t, 6)
	ctx := testCtx(t)
	quiet := &Config{KeepAlive: -1}
	a, b := tn.swarm(t, quiet), tn.swarm(t, quiet)
	if err := b.Listen(ctx); err != nil {
		t.Fatal(err)
	}
	a.JoinPeer(b.PublicKey())
	eventually(t, 30*time.Second, "connected", func() bool { return sameSingleConn(t, a, b) })
	if established(a, b) || established(b, a) {
		t.Fatal("a connection that carried only its headers counts as established")
	}
	ca, err := a.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := b.Accept(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.WriteMessage([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	if _, err := cb.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	if cb.e.outdated(cb.e.opened) || ca.e.outdated(ca.e.opened) {
		t.Fatal("data one way counts as established")
	}
	if err := cb.WriteMessage([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	if !ca.e.outdated(ca.e.opened) || !cb.e.outdated(cb.e.opened) {
		t.Fatal("data both ways does not count as established")
	}
}
