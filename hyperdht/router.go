package hyperdht

import (
	"context"

	"github.com/warrenp2p/warren/dht"
)

// onPeerHandshake routes PEER_HANDSHAKE as hyperdht's router: a node with
// a server for the target answers it, a node that knows the server's relay
// address forwards it, and replies from the server go back to the client.
func (d *DHT) onPeerHandshake(_ context.Context, req *dht.Request) {
	if req.Value == nil {
		return
	}
	hs, err := DecodeHandshake(req.Value)
	if err != nil {
		return
	}
	var r *route
	if req.Target != nil {
		r, _ = d.routes.get(*req.Target)
	}
	if r != nil && r.server != nil {
		if hs.Noise == nil {
			return
		}
		srv := r.server
		d.goFunc(func() { srv.onHandshake(req, hs) })
		return
	}
	var relay = r != nil
	from := req.From
	switch hs.Mode {
	case ModeFromClient:
		if hs.Noise == nil {
			return
		}
		if !relay && hs.RelayAddress == nil {
			req.Reply(nil, &dht.ReplyOptions{NoToken: true})
			return
		}
		to := hs.RelayAddress
		if to == nil {
			to = &r.relay
		}
		req.Relay((&Handshake{Mode: ModeFromRelay, Noise: hs.Noise, PeerAddress: &from}).Encode(), *to, nil)
	case ModeFromRelay:
		if !relay || hs.Noise == nil {
			return
		}
		req.Relay((&Handshake{Mode: ModeFromSecondRelay, Noise: hs.Noise, PeerAddress: hs.PeerAddress, RelayAddress: &from}).Encode(), r.relay, nil)
	case ModeFromServer:
		if hs.PeerAddress == nil || hs.Noise == nil {
			return
		}
		req.Reply((&Handshake{Mode: ModeReply, Noise: hs.Noise, PeerAddress: &from}).Encode(),
			&dht.ReplyOptions{To: *hs.PeerAddress, NoToken: true, NoCloserNodes: true})
	}
}

// onPeerHolepunch forwards holepunch rounds between client and server, and
// hands those for a local server to it.
func (d *DHT) onPeerHolepunch(_ context.Context, req *dht.Request) {
	if req.Value == nil {
		return
	}
	hp, err := DecodeHolepunch(req.Value)
	if err != nil {
		return
	}
	var r *route
	if req.Target != nil {
		r, _ = d.routes.get(*req.Target)
	}
	from := req.From
	switch hp.Mode {
	case ModeFromRelay:
		if r == nil || r.server == nil || hp.PeerAddress == nil {
			return
		}
		srv := r.server
		d.goFunc(func() { srv.onHolepunch(req, hp) })
	case ModeFromClient:
		to := hp.PeerAddress
		if to == nil {
			if r == nil || r.server != nil {
				return
			}
			to = &r.relay
		}
		req.Relay((&Holepunch{Mode: ModeFromRelay, ID: hp.ID, Payload: hp.Payload, PeerAddress: &from}).Encode(), *to, nil)
	case ModeFromServer:
		if hp.PeerAddress == nil {
			return
		}
		req.Reply((&Holepunch{Mode: ModeReply, ID: hp.ID, Payload: hp.Payload, PeerAddress: &from}).Encode(),
			&dht.ReplyOptions{To: *hp.PeerAddress, NoToken: true, NoCloserNodes: true})
	}
}
