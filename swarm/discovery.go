package swarm

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/warrenp2p/warren/hyperdht"
)

// Refresh cadence of a topic, as hyperswarm's peer discovery.
var (
	refreshInterval  = 10 * time.Minute
	refreshJitter    = 2 * time.Minute
	delayGracePeriod = 30 * time.Second
)

// JoinOptions say how a topic is joined. Server announces us on the topic
// so peers connect to us; Client looks the topic up and connects to the
// peers found. Leaving both false (or passing nil) joins as both.
type JoinOptions struct {
	Server bool
	Client bool
	// Limit bounds the peers taken from each lookup; 0 is no limit.
	Limit int
}

// Status describes a joined topic.
type Status struct {
	Topic     [32]byte
	Server    bool   // announcing
	Client    bool   // looking up
	Sessions  int    // Join calls not yet left
	Refreshes uint64 // announces/lookups started
	Announced bool   // an announce may be held by DHT nodes (unannounced on leave)
}

// Discovery is one Join of a topic. Several Joins of one topic share the
// topic's announce and lookup; the topic is left when the last is destroyed
// or on Leave.
type Discovery struct {
	t         *topic
	isClient  bool
	isServer  bool
	destroyed bool
}

// topic is the discovery of one topic (hyperswarm's PeerDiscovery); all
// fields are guarded by s.mu.
type topic struct {
	s               *Swarm
	key             [32]byte
	sessions        []*Discovery
	clientSessions  int
	serverSessions  int
	isClient        bool
	isServer        bool
	limit           int
	destroyed       bool
	destroying      *run
	suspended       bool
	activeCancel    context.CancelFunc
	activeClock     uint64
	timer           *time.Timer
	current         *run
	closestNodes    []netip.AddrPort
	firstAnnounce   bool
	needsUnannounce bool
	refreshes       uint64
	wait            *run // the previous discovery of the topic being destroyed
}

// Join joins topic: as a server the swarm announces itself on it (and
// listens), as a client it looks the topic up and dials the peers found.
// Both refresh every 10 minutes (plus up to 2 minutes of jitter). Join
// returns at once; Flushed or Flush wait for the first announce/lookup.
func (s *Swarm) Join(topicKey [32]byte, opts *JoinOptions) (*Discovery, error) {
	o := JoinOptions{Server: true, Client: true}
	if opts != nil {
		o = *opts
		if !o.Server && !o.Client {
			o.Server, o.Client = true, true
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	t := s.discovery[topicKey]
	if t == nil || t.destroyed {
		nt := &topic{s: s, key: topicKey, firstAnnounce: true, suspended: s.suspended}
		if t != nil {
			nt.wait = t.destroy()
		}
		t = nt
		s.discovery[topicKey] = t
	}
	d := &Discovery{t: t}
	t.sessions = append(t.sessions, d)
	d.refreshLocked(o)
	return d, nil
}

// Leave leaves topic: every Join of it ends, its refreshes stop and, if we
// announced on it, the announce is removed from the nodes that hold it.
func (s *Swarm) Leave(ctx context.Context, topicKey [32]byte) error {
	s.mu.Lock()
	t := s.discovery[topicKey]
	if t == nil {
		s.mu.Unlock()
		return nil
	}
	r := t.destroy()
	s.mu.Unlock()
	err := r.wait(ctx)
	s.mu.Lock()
	if s.discovery[topicKey] == t {
		delete(s.discovery, topicKey)
	}
	s.mu.Unlock()
	if err != nil && ctx.Err() != nil {
		return err
	}
	return nil
}

// Status describes topic if it is joined.
func (s *Swarm) Status(topicKey [32]byte) (Status, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.discovery[topicKey]
	if t == nil {
		return Status{}, false
	}
	return Status{
		Topic: t.key, Server: t.isServer, Client: t.isClient, Sessions: len(t.sessions),
		Refreshes: t.refreshes, Announced: t.needsUnannounce,
	}, true
}

// Topics returns the joined topics.
func (s *Swarm) Topics() [][32]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([][32]byte, 0, len(s.discovery))
	for k := range s.discovery {
		out = append(out, k)
	}
	return out
}

// Topic returns the topic of the discovery.
func (d *Discovery) Topic() [32]byte { return d.t.key }

// Flushed waits until the topic's current announce or lookup is done (and
// the server listens, if it was starting). It returns that refresh's
// error, if it failed.
func (d *Discovery) Flushed(ctx context.Context) error { return d.t.flushed(ctx) }

// Refresh changes how this Join takes part (server, client) and runs an
// announce/lookup now, waiting for it.
func (d *Discovery) Refresh(ctx context.Context, opts *JoinOptions) error {
	s := d.t.s
	s.mu.Lock()
	if d.destroyed {
		s.mu.Unlock()
		return ErrDestroyed
	}
	o := JoinOptions{Server: d.isServer, Client: d.isClient, Limit: d.t.limit}
	if opts != nil {
		o = *opts
		if !o.Server && !o.Client {
			o.Server, o.Client = true, true
		}
	}
	r := d.refreshLocked(o)
	s.mu.Unlock()
	return r.wait(ctx)
}

// Destroy ends this Join. When it was the topic's last, the topic is left
// (see Swarm.Leave); when it was the last server Join, the announce is
// removed by the next lookup.
func (d *Discovery) Destroy(ctx context.Context) error {
	t := d.t
	s := t.s
	s.mu.Lock()
	if d.destroyed {
		s.mu.Unlock()
		return nil
	}
	d.destroyed = true
	if d.isClient {
		t.clientSessions--
	}
	if d.isServer {
		t.serverSessions--
	}
	for i, x := range t.sessions {
		if x == d {
			t.sessions = append(t.sessions[:i], t.sessions[i+1:]...)
			break
		}
	}
	if t.destroyed {
		s.mu.Unlock()
		return nil
	}
	if len(t.sessions) == 0 {
		s.mu.Unlock()
		return s.Leave(ctx, t.key)
	}
	var r *run
	if t.serverSessions == 0 && t.needsUnannounce {
		r = t.refreshLocked()
	}
	s.mu.Unlock()
	if r != nil {
		if err := r.wait(ctx); err != nil && ctx.Err() != nil {
			return err
		}
	}
	return nil
}

// refreshLocked applies o to the session and refreshes the topic. s.mu held.
func (d *Discovery) refreshLocked(o JoinOptions) *run {
	t := d.t
	if o.Client != d.isClient {
		d.isClient = o.Client
		if o.Client {
			t.clientSessions++
		} else {
			t.clientSessions--
		}
	}
	if o.Server != d.isServer {
		d.isServer = o.Server
		if o.Server {
			t.serverSessions++
		} else {
			t.serverSessions--
		}
	}
	t.limit = o.Limit
	return t.refreshLocked()
}

func doneRun(err error) *run {
	r := newRun()
	r.finish(err)
	return r
}

func (t *topic) active() bool { return !t.destroyed && !t.suspended }

// refreshLocked starts an announce/lookup, or joins the one running if the
// mode did not change. s.mu held.
func (t *topic) refreshLocked() *run {
	if t.destroyed {
		return doneRun(ErrDestroyed)
	}
	if t.suspended {
		return doneRun(nil)
	}
	server, client := t.serverSessions > 0, t.clientSessions > 0
	if server == t.isServer && client == t.isClient {
		if t.current != nil {
			return t.current
		}
	} else {
		if t.activeCancel != nil {
			t.activeCancel()
		}
		t.isServer, t.isClient = server, client
	}
	r := newRun()
	t.current = r
	t.refreshes++ // at once, so a refresh still starting sees it is stale
	clock := t.refreshes
	s := t.s
	s.goOwned(func() {
		err := t.refresh(clock)
		s.mu.Lock()
		if t.current == r {
			t.current = nil
		}
		s.mu.Unlock()
		r.finish(err)
	})
	return r
}

// refresh runs one announce or lookup (hyperswarm's _refresh).
func (t *topic) refresh(clock uint64) error {
	s := t.s
	s.mu.Lock()
	if t.suspended || clock != t.refreshes {
		s.mu.Unlock()
		return nil
	}
	wait := t.wait
	s.mu.Unlock()

	if wait != nil {
		_ = wait.wait(s.ctx)
		s.mu.Lock()
		t.wait = nil
		stale := clock != t.refreshes || !t.active()
		s.mu.Unlock()
		if stale {
			return nil
		}
	}

	s.mu.Lock()
	clear := t.isServer && t.firstAnnounce
	if clear {
		t.firstAnnounce = false
	}
	announcing := t.isServer
	var listening *run
	if announcing {
		listening = s.listenLocked()
	}
	s.mu.Unlock()

	if announcing {
		if err := listening.wait(s.ctx); err != nil {
			s.mu.Lock()
			if t.active() && !s.closed && clock == t.refreshes {
				t.refreshLater(false)
			}
			s.mu.Unlock()
			return err
		}
		s.mu.Lock()
		if clock != t.refreshes || !t.active() {
			s.mu.Unlock()
			return nil
		}
		t.needsUnannounce = true
		s.mu.Unlock()
	}

	s.mu.Lock()
	if clock != t.refreshes || !t.active() {
		s.mu.Unlock()
		return nil
	}
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	t.activeCancel = cancel
	t.activeClock = clock
	kp := s.kp
	limit := t.limit
	opts := &hyperdht.TopicQueryOptions{KeyPair: &kp, Nodes: t.closestNodes}
	switch {
	case announcing:
		opts.Announce = true
		opts.Unannounce = clear
		if s.server != nil {
			opts.RelayAddresses = s.server.RelayAddresses()
		}
	case t.needsUnannounce:
		opts.Unannounce = true
	}
	handed := 0
	opts.OnPeers = func(res hyperdht.LookupResult) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if !t.isClient || !t.active() || s.closed {
			return
		}
		for _, p := range res.Peers {
			if limit > 0 {
				if handed >= limit {
					continue
				}
				handed++
			}
			s.handlePeer(p, t.key)
		}
	}
	s.mu.Unlock()

	closest, err := s.dht.QueryTopic(ctx, t.key, opts)
	if err == nil && ctx.Err() != nil {
		err = ErrRefreshCancelled
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if t.activeClock == clock {
		t.activeCancel = nil
		if t.active() && !s.closed {
			t.refreshLater(false)
		}
	}
	if err != nil {
		if !t.active() {
			return nil
		}
		s.log.Debug("swarm: refresh failed", "topic", keyString(t.key), "err", err)
		return err
	}
	t.closestNodes = closest
	if clock != t.refreshes {
		return nil
	}
	if !announcing {
		t.needsUnannounce = false
	}
	return nil
}

// refreshLater schedules the next refresh: 10 minutes plus jitter, or only
// the jitter when eager (after the machine slept through one). s.mu held.
func (t *topic) refreshLater(eager bool) {
	jitter := time.Duration(rand.Int64N(int64(refreshJitter) + 1))
	delay := refreshInterval + jitter
	if eager {
		delay = jitter
	}
	if t.timer != nil {
		t.timer.Stop()
	}
	start := time.Now()
	var tm *time.Timer
	tm = time.AfterFunc(delay, func() {
		s := t.s
		s.mu.Lock()
		defer s.mu.Unlock()
		if t.timer != tm || !t.active() || s.closed {
			return
		}
		t.timer = nil
		if time.Since(start) > delay+delayGracePeriod {
			t.refreshLater(true)
			return
		}
		t.refreshLocked()
	})
	t.timer = tm
}

// flushed waits for the server to listen (if starting) and the current
// refresh.
func (t *topic) flushed(ctx context.Context) error {
	s := t.s
	s.mu.Lock()
	listening, current := s.listening, t.current
	s.mu.Unlock()
	if listening != nil {
		if err := listening.wait(ctx); err != nil {
			return err
		}
	}
	if current != nil {
		return current.wait(ctx)
	}
	return nil
}

// destroy leaves the topic for good. s.mu held.
func (t *topic) destroy() *run {
	if t.destroying != nil {
		return t.destroying
	}
	t.destroyed = true
	for _, d := range t.sessions {
		d.destroyed = true
	}
	t.sessions = nil
	t.clientSessions, t.serverSessions = 0, 0
	t.destroying = t.abort()
	return t.destroying
}

// suspend stops the topic until resume. s.mu held.
func (t *topic) suspend() *run {
	if t.suspended {
		return doneRun(nil)
	}
	t.suspended = true
	return t.abort()
}

// resume restarts a suspended topic. s.mu held.
func (t *topic) resume() {
	if !t.suspended {
		return
	}
	t.suspended = false
	t.refreshLocked()
}

// abort stops the running query and the timer, waits for the current
// refresh and removes our announce from the closest nodes. s.mu held; the
// work runs on its own goroutine.
func (t *topic) abort() *run {
	s := t.s
	r := newRun()
	wait := t.wait
	s.goOwned(func() {
		if wait != nil {
			_ = wait.wait(s.ctx)
		}
		s.mu.Lock()
		if t.activeCancel != nil {
			t.activeCancel()
			t.activeCancel = nil
		}
		if t.timer != nil {
			t.timer.Stop()
			t.timer = nil
		}
		nodes := append([]netip.AddrPort(nil), t.closestNodes...)
		current := t.current
		s.mu.Unlock()
		if current != nil {
			_ = current.wait(s.ctx)
		}
		s.mu.Lock()
		if t.active() {
			s.mu.Unlock()
			r.finish(nil)
			return
		}
		for _, n := range t.closestNodes {
			found := false
			for _, o := range nodes {
				found = found || o == n
			}
			if !found {
				nodes = append(nodes, n)
			}
		}
		needs := t.needsUnannounce
		kp := s.kp
		s.mu.Unlock()
		var err error
		if needs && len(nodes) > 0 {
			ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
			_, err = s.dht.QueryTopic(ctx, t.key, &hyperdht.TopicQueryOptions{
				KeyPair: &kp, Unannounce: true, Nodes: nodes, OnlyClosestNodes: true,
			})
			cancel()
		}
		s.mu.Lock()
		if needs {
			t.needsUnannounce = false
		}
		s.mu.Unlock()
		r.finish(err)
	})
	return r
}
