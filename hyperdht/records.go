package hyperdht

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"net/netip"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
)

// Record errors.
var (
	// ErrSeqReused means a mutable record with that seq but another value
	// is stored.
	ErrSeqReused = &dht.RemoteError{Code: ErrCodeSeqReused}
	// ErrSeqTooLow means a newer mutable record is stored.
	ErrSeqTooLow = &dht.RemoteError{Code: ErrCodeSeqTooLow}
)

const maxBumpDrift = 60 * time.Second

// persistent wraps a handler of the commands only persistent nodes serve.
func (d *DHT) persistent(h dht.Handler) dht.Handler {
	return func(ctx context.Context, req *dht.Request) {
		if _, ok := d.node.ID(); !ok {
			req.Error(dht.ErrCodeUnknownCommand, nil)
			return
		}
		h(ctx, req)
	}
}

var noExtras = &dht.ReplyOptions{NoToken: true, NoCloserNodes: true}

func (d *DHT) onLookup(_ context.Context, req *dht.Request) {
	if req.Target == nil {
		return
	}
	recs := d.records.get(*req.Target, 20)
	bump := uint64(0)
	if r, ok := d.routes.get(*req.Target); ok && len(recs) < 20 {
		recs = append(recs, r.record)
	}
	if len(recs) == 0 {
		req.Reply(nil, nil)
		return
	}
	req.Reply(encodeLookupRaw(recs, bump), nil)
}

func (d *DHT) onFindPeer(_ context.Context, req *dht.Request) {
	if req.Target == nil {
		return
	}
	if r, ok := d.routes.get(*req.Target); ok {
		req.Reply(r.record, nil)
		return
	}
	req.Reply(nil, nil)
}

// annSignable is what announce and unannounce signatures sign.
func annSignable(ns [32]byte, target, id, token [32]byte, peer *Peer, refresh *[32]byte) []byte {
	var ref []byte
	if refresh != nil {
		ref = refresh[:]
	}
	h := crypto.Hash(target[:], id[:], token[:], peer.Encode(), ref)
	return append(ns[:], h[:]...)
}

func (d *DHT) onAnnounce(_ context.Context, req *dht.Request) {
	id, ok := d.node.ID()
	if req.Target == nil || req.Token == nil || !ok {
		return
	}
	ann, err := DecodeAnnounce(req.Value)
	if err != nil {
		return
	}
	if ann.Peer == nil {
		if ann.Refresh == nil {
			return
		}
		d.onRefresh(*ann.Refresh, req)
		return
	}
	msg := annSignable(NSAnnounce, *req.Target, id, *req.Token, ann.Peer, ann.Refresh)
	if ann.Signature == nil || !crypto.Verify(msg, ann.Signature[:], ed25519.PublicKey(ann.Peer.PublicKey[:])) {
		return
	}
	if len(ann.Peer.RelayAddresses) > 3 {
		ann.Peer.RelayAddresses = ann.Peer.RelayAddresses[:3]
	}
	self := crypto.Hash(ann.Peer.PublicKey[:]) == *req.Target
	record := ann.Peer.Encode()
	if self {
		d.setRoute(*req.Target, &route{relay: req.From, record: record})
		d.records.remove(*req.Target, ann.Peer.PublicKey)
	} else {
		d.records.add(*req.Target, ann.Peer.PublicKey, record)
	}
	if ann.Refresh != nil {
		d.refreshes.set(*ann.Refresh, refreshEntry{topic: *req.Target, record: record, announce: self})
	}
	req.Reply(nil, noExtras)
}

func (d *DHT) onRefresh(token [32]byte, req *dht.Request) {
	active := crypto.Hash(token[:])
	r, ok := d.refreshes.get(active)
	if !ok {
		return
	}
	var pk [32]byte
	copy(pk[:], r.record)
	if r.announce {
		d.setRoute(r.topic, &route{relay: req.From, record: r.record})
		d.records.remove(r.topic, pk)
	} else {
		d.records.add(r.topic, pk, r.record)
	}
	d.refreshes.delete(active)
	d.refreshes.set(token, r)
	req.Reply(nil, noExtras)
}

// setRoute stores a route unless a local server owns the target.
func (d *DHT) setRoute(target [32]byte, r *route) {
	if cur, ok := d.routes.get(target); ok && cur.server != nil {
		return
	}
	d.routes.set(target, r)
}

func (d *DHT) onUnannounce(_ context.Context, req *dht.Request) {
	id, ok := d.node.ID()
	if req.Target == nil || req.Token == nil || !ok {
		return
	}
	ann, err := DecodeAnnounce(req.Value)
	if err != nil || ann.Peer == nil || ann.Signature == nil {
		return
	}
	msg := annSignable(NSUnannounce, *req.Target, id, *req.Token, ann.Peer, ann.Refresh)
	if !crypto.Verify(msg, ann.Signature[:], ed25519.PublicKey(ann.Peer.PublicKey[:])) {
		return
	}
	d.unannounceLocal(*req.Target, ann.Peer.PublicKey)
	req.Reply(nil, noExtras)
}

func (d *DHT) unannounceLocal(target, pk [32]byte) {
	if crypto.Hash(pk[:]) == target {
		if r, ok := d.routes.get(target); ok && r.server == nil {
			d.routes.delete(target)
		}
	}
	d.records.remove(target, pk)
}

func (d *DHT) onMutableGet(_ context.Context, req *dht.Request) {
	if req.Target == nil || req.Value == nil {
		return
	}
	seq, err := decodeUint(req.Value)
	if err != nil {
		return
	}
	v, ok := d.mutables.get(*req.Target)
	if !ok {
		req.Reply(nil, nil)
		return
	}
	local, _ := decodeUint(v)
	if local < seq {
		req.Reply(nil, nil)
		return
	}
	req.Reply(v, nil)
}

// mutableSignable is what mutable signatures sign.
func mutableSignable(seq uint64, value []byte) []byte {
	h := crypto.Hash(encodeMutableSignable(seq, value))
	return append(NSMutablePut[:], h[:]...)
}

// VerifyMutable checks a mutable record's signature.
func VerifyMutable(publicKey []byte, seq uint64, value, signature []byte) bool {
	return len(publicKey) == 32 && crypto.Verify(mutableSignable(seq, value), signature, ed25519.PublicKey(publicKey))
}

// SignMutable signs a mutable record.
func SignMutable(kp crypto.KeyPair, seq uint64, value []byte) [64]byte {
	var s [64]byte
	copy(s[:], crypto.Sign(mutableSignable(seq, value), kp.SecretKey))
	return s
}

func (d *DHT) onMutablePut(_ context.Context, req *dht.Request) {
	if req.Target == nil || req.Token == nil || req.Value == nil {
		return
	}
	p, err := DecodeMutablePutRequest(req.Value)
	if err != nil || crypto.Hash(p.PublicKey[:]) != *req.Target {
		return
	}
	if p.Value == nil || !VerifyMutable(p.PublicKey[:], p.Seq, p.Value, p.Signature[:]) {
		return
	}
	if local, ok := d.mutables.get(*req.Target); ok {
		if ex, err := DecodeMutableGetResponse(local); err == nil {
			if ex.Value != nil && ex.Seq == p.Seq && !bytes.Equal(ex.Value, p.Value) {
				req.Error(ErrCodeSeqReused, nil)
				return
			}
			if p.Seq < ex.Seq {
				req.Error(ErrCodeSeqTooLow, nil)
				return
			}
		}
	}
	rec := &MutableGetResponse{Seq: p.Seq, Value: bytes.Clone(p.Value), Signature: p.Signature}
	d.mutables.set(*req.Target, rec.Encode())
	req.Reply(nil, nil)
}

func (d *DHT) onImmutableGet(_ context.Context, req *dht.Request) {
	if req.Target == nil {
		return
	}
	v, _ := d.immutables.get(*req.Target)
	req.Reply(v, nil)
}

func (d *DHT) onImmutablePut(_ context.Context, req *dht.Request) {
	if req.Target == nil || req.Token == nil || req.Value == nil {
		return
	}
	if crypto.Hash(req.Value) != *req.Target {
		return
	}
	d.immutables.set(*req.Target, bytes.Clone(req.Value))
	req.Reply(nil, nil)
}

// ---- client side ----

// commitWith returns a query commit that sends command with value and the
// node's token.
func (d *DHT) commitWith(command uint64, target [32]byte, value []byte) func(ctx context.Context, q *dht.Query, r *dht.Response) error {
	return func(ctx context.Context, q *dht.Query, r *dht.Response) error {
		if r.Token == nil {
			return dht.ErrNoToken
		}
		res, err := d.node.Request(ctx, r.From, command, value, &dht.RequestOptions{Target: &target, Token: r.Token})
		if err != nil {
			return err
		}
		return res.Err()
	}
}

// ImmutablePut stores value on the nodes closest to its hash and returns
// the hash.
func (d *DHT) ImmutablePut(ctx context.Context, value []byte) ([32]byte, error) {
	target := crypto.Hash(value)
	q := d.node.Query(ctx, target, CmdImmutableGet, nil, &dht.QueryOptions{Commit: d.commitWith(CmdImmutablePut, target, value)})
	return target, q.Wait(ctx)
}

// ImmutableGet finds the value whose hash is target; ErrNotFound if no node
// has it.
func (d *DHT) ImmutableGet(ctx context.Context, target [32]byte) ([]byte, error) {
	q := d.node.Query(ctx, target, CmdImmutableGet, nil, nil)
	defer q.Close()
	for r := range q.Replies(ctx) {
		if len(r.Value) > 0 && crypto.Hash(r.Value) == target {
			return bytes.Clone(r.Value), nil
		}
	}
	if err := q.Err(); err != nil {
		return nil, err
	}
	return nil, ErrNotFound
}

// ErrNotFound means no node returned the record.
var ErrNotFound = errors.New("hyperdht: record not found")

// MutableRecord is a signed mutable record.
type MutableRecord struct {
	Seq       uint64
	Value     []byte
	Signature [64]byte
}

// MutablePut signs value with seq and stores it on the nodes closest to
// the hash of the public key.
func (d *DHT) MutablePut(ctx context.Context, kp crypto.KeyPair, value []byte, seq uint64) error {
	target := crypto.Hash(kp.PublicKey)
	req := &MutablePutRequest{Seq: seq, Value: value, Signature: SignMutable(kp, seq, value)}
	copy(req.PublicKey[:], kp.PublicKey)
	q := d.node.Query(ctx, target, CmdMutableGet, appendUint(nil, 0), &dht.QueryOptions{Commit: d.commitWith(CmdMutablePut, target, req.Encode())})
	return q.Wait(ctx)
}

// MutableGet returns the record with the highest seq (at least minSeq)
// with a valid signature of publicKey.
func (d *DHT) MutableGet(ctx context.Context, publicKey []byte, minSeq uint64) (*MutableRecord, error) {
	target := crypto.Hash(publicKey)
	q := d.node.Query(ctx, target, CmdMutableGet, appendUint(nil, minSeq), nil)
	defer q.Close()
	var best *MutableRecord
	for r := range q.Replies(ctx) {
		if len(r.Value) == 0 {
			continue
		}
		m, err := DecodeMutableGetResponse(r.Value)
		if err != nil || m.Seq < minSeq || (best != nil && m.Seq <= best.Seq) {
			continue
		}
		if !VerifyMutable(publicKey, m.Seq, m.Value, m.Signature[:]) {
			continue
		}
		best = &MutableRecord{Seq: m.Seq, Value: bytes.Clone(m.Value), Signature: m.Signature}
	}
	if err := q.Err(); err != nil {
		return nil, err
	}
	if best == nil {
		return nil, ErrNotFound
	}
	return best, nil
}

// LookupResult is one node's answer to a lookup.
type LookupResult struct {
	From  netip.AddrPort
	Peers []Peer
}

// Lookup walks to topic and returns the announce records the nodes on the
// way hold.
func (d *DHT) Lookup(ctx context.Context, topic [32]byte) ([]LookupResult, error) {
	q := d.node.Query(ctx, topic, CmdLookup, nil, nil)
	var out []LookupResult
	for r := range q.Replies(ctx) {
		if len(r.Value) == 0 {
			continue
		}
		l, err := DecodeLookupReply(r.Value)
		if err != nil {
			continue
		}
		out = append(out, LookupResult{From: r.From, Peers: l.Peers})
	}
	return out, q.Err()
}

// Announce announces kp's public key on topic, reachable through
// relayAddresses, to the nodes closest to topic.
func (d *DHT) Announce(ctx context.Context, topic [32]byte, kp crypto.KeyPair, relayAddresses []netip.AddrPort) error {
	q := d.node.Query(ctx, topic, CmdLookup, nil, &dht.QueryOptions{
		Commit: func(ctx context.Context, q *dht.Query, r *dht.Response) error {
			return d.requestAnnounce(ctx, CmdAnnounce, topic, kp, r, relayAddresses)
		},
	})
	return q.Wait(ctx)
}

// Unannounce removes kp's announcement from topic on the nodes that hold it.
func (d *DHT) Unannounce(ctx context.Context, topic [32]byte, kp crypto.KeyPair) error {
	var pk [32]byte
	copy(pk[:], kp.PublicKey)
	d.unannounceLocal(topic, pk)
	q := d.node.Query(ctx, topic, CmdLookup, nil, nil)
	var reqs []*dht.Response
	for r := range q.Replies(ctx) {
		if r.Token == nil || r.FromID == nil || len(r.Value) == 0 {
			continue
		}
		l, err := DecodeLookupReply(r.Value)
		if err != nil {
			continue
		}
		found := len(l.Peers) >= 20
		for _, p := range l.Peers {
			found = found || p.PublicKey == pk
		}
		if found {
			reqs = append(reqs, r)
		}
	}
	if err := q.Err(); err != nil {
		return err
	}
	for _, r := range reqs {
		_ = d.requestAnnounce(ctx, CmdUnannounce, topic, kp, r, nil)
	}
	return nil
}

func (d *DHT) requestAnnounce(ctx context.Context, cmd uint64, topic [32]byte, kp crypto.KeyPair, r *dht.Response, relays []netip.AddrPort) error {
	if r.Token == nil || r.FromID == nil {
		return dht.ErrNoToken
	}
	ann := &Announce{Peer: &Peer{RelayAddresses: relays}}
	if ann.Peer.RelayAddresses == nil {
		ann.Peer.RelayAddresses = []netip.AddrPort{}
	}
	copy(ann.Peer.PublicKey[:], kp.PublicKey)
	ns := NSAnnounce
	if cmd == CmdUnannounce {
		ns = NSUnannounce
	}
	var sig [64]byte
	copy(sig[:], crypto.Sign(annSignable(ns, topic, *r.FromID, *r.Token, ann.Peer, nil), kp.SecretKey))
	ann.Signature = &sig
	res, err := d.node.Request(ctx, r.From, cmd, ann.Encode(), &dht.RequestOptions{Target: &topic, Token: r.Token})
	if err != nil {
		return err
	}
	return res.Err()
}
