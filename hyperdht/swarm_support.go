package hyperdht

import (
	"context"
	"errors"
	"net/netip"
	"sync"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
)

// TopicQueryOptions adjust QueryTopic. The zero value is a plain lookup.
type TopicQueryOptions struct {
	// KeyPair signs announces and unannounces; required by Announce and
	// Unannounce.
	KeyPair *crypto.KeyPair
	// Announce commits KeyPair's announce record, reachable through
	// RelayAddresses, to the closest nodes after the walk (hyperdht's
	// announce).
	Announce       bool
	RelayAddresses []netip.AddrPort
	// Unannounce removes KeyPair's record from every node on the way that
	// holds it, as hyperdht's lookupAndUnannounce does (and announce with
	// clear: a node among the closest is cleared before it is announced to).
	Unannounce bool
	// Nodes to start the walk from instead of the routing table (a previous
	// query's closest nodes); OnlyClosestNodes visits only those.
	Nodes            []netip.AddrPort
	OnlyClosestNodes bool
	// OnPeers, if set, is called with each node's announce records as its
	// reply arrives, on the caller's goroutine.
	OnPeers func(LookupResult)
}

// QueryTopic walks to topic with LOOKUP as hyperdht's lookup, announce and
// lookupAndUnannounce do, handing each node's records to opts.OnPeers, and
// returns the closest nodes that answered. It is what a swarm's discovery
// runs on every refresh.
func (d *DHT) QueryTopic(ctx context.Context, topic [32]byte, opts *TopicQueryOptions) ([]netip.AddrPort, error) {
	var o TopicQueryOptions
	if opts != nil {
		o = *opts
	}
	if (o.Announce || o.Unannounce) && o.KeyPair == nil {
		return nil, errors.New("hyperdht: announce and unannounce need a key pair")
	}
	var pk [32]byte
	if o.KeyPair != nil {
		copy(pk[:], o.KeyPair.PublicKey)
	}
	if o.Unannounce {
		d.unannounceLocal(topic, pk)
	}

	// Unannounces in flight, one per node, so an announce to the same node
	// waits for its unannounce.
	var (
		mu     sync.Mutex
		claims = map[netip.AddrPort]chan struct{}{}
		wg     sync.WaitGroup
	)
	unannounceAt := func(r *dht.Response) chan struct{} {
		mu.Lock()
		defer mu.Unlock()
		if ch, ok := claims[r.From]; ok {
			return ch
		}
		ch := make(chan struct{})
		claims[r.From] = ch
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ch)
			_ = d.requestAnnounce(ctx, CmdUnannounce, topic, *o.KeyPair, r, nil)
		}()
		return ch
	}
	holdsOurs := func(r *dht.Response) bool {
		if r.Token == nil || r.FromID == nil || len(r.Value) == 0 {
			return false
		}
		l, err := DecodeLookupReply(r.Value)
		if err != nil {
			return false
		}
		found := len(l.Peers) >= 20
		for _, p := range l.Peers {
			found = found || p.PublicKey == pk
		}
		return found
	}

	qo := &dht.QueryOptions{Nodes: o.Nodes, OnlyClosestNodes: o.OnlyClosestNodes}
	if o.Announce {
		qo.Commit = func(ctx context.Context, q *dht.Query, r *dht.Response) error {
			if o.Unannounce && holdsOurs(r) {
				select {
				case <-unannounceAt(r):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			return d.requestAnnounce(ctx, CmdAnnounce, topic, *o.KeyPair, r, o.RelayAddresses)
		}
	}
	q := d.node.Query(ctx, topic, CmdLookup, nil, qo)
	defer q.Close()
	for r := range q.Replies(ctx) {
		if len(r.Value) == 0 {
			continue
		}
		l, err := DecodeLookupReply(r.Value)
		if err != nil {
			continue
		}
		if o.Unannounce && holdsOurs(r) {
			unannounceAt(r)
		}
		if o.OnPeers != nil {
			o.OnPeers(LookupResult{From: r.From, Peers: l.Peers})
		}
	}
	wg.Wait()
	err := q.Err()
	closest := q.ClosestNodes()
	return closest, err
}
