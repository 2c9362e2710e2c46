package blindrelay

import (
	"context"
	"errors"
	"math"
	"sync"

	"github.com/warrenp2p/warren/protomux"
)

// ErrBadStreamID reports a relay that answered a pairing with a stream id
// UDX cannot have.
var ErrBadStreamID = errors.New("blindrelay: relay sent an invalid stream id")

// Client asks a relay for pairings over one connection's mux.
type Client struct {
	ch        *protomux.Channel
	pairMsg   *protomux.Message
	unpairMsg *protomux.Message

	mu       sync.Mutex
	closed   bool
	requests map[[32]byte]*request
	done     chan struct{}
}

type request struct {
	initiator bool
	res       chan uint64
}

// NewClient opens the blind-relay channel with id on mux (HyperDHT uses
// the client's own public key as id). A relay opens its side as soon as
// it accepts the connection, so create the client before the mux starts
// reading (protomux.Config.DeferStart), or the relay's open is rejected.
func NewClient(mux *protomux.Mux, id []byte) (*Client, error) {
	c := &Client{requests: map[[32]byte]*request{}, done: make(chan struct{})}
	ch, err := mux.Channel(protomux.ChannelOptions{Protocol: Protocol, ID: id, OnClose: func(bool) { c.onClose() }})
	if err != nil {
		return nil, err
	}
	c.ch = ch
	c.pairMsg = ch.AddMessage(c.onPair)
	c.unpairMsg = ch.AddMessage(nil)
	if err := ch.Open(nil); err != nil {
		ch.Close()
		return nil, err
	}
	return c, nil
}

// Pair asks the relay to pair the local UDX stream streamID under token,
// on the initiator's or the responder's side, and waits until the other
// side asked too. It returns the id of the relay's stream to connect the
// local stream to, at the address of the connection to the relay.
// Cancelling ctx sends an unpair.
func (c *Client) Pair(ctx context.Context, initiator bool, token [32]byte, streamID uint32) (uint32, error) {
	r := &request{initiator: initiator, res: make(chan uint64, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return 0, ErrClosed
	}
	if c.requests[token] != nil {
		c.mu.Unlock()
		return 0, ErrAlreadyPairing
	}
	c.requests[token] = r
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		if c.requests[token] == r {
			delete(c.requests, token)
		}
		c.mu.Unlock()
	}
	if err := c.pairMsg.Send((&Pair{IsInitiator: initiator, Token: token, ID: uint64(streamID)}).Encode()); err != nil {
		forget()
		return 0, err
	}
	select {
	case id := <-r.res:
		if id == 0 || id > math.MaxUint32 {
			return 0, ErrBadStreamID
		}
		return uint32(id), nil
	case <-c.done:
		return 0, ErrClosed
	case <-ctx.Done():
		forget()
		_ = c.Unpair(token)
		return 0, ctx.Err()
	}
}

// Unpair cancels a pairing under token, or tears down its link.
func (c *Client) Unpair(token [32]byte) error {
	c.mu.Lock()
	delete(c.requests, token)
	c.mu.Unlock()
	return c.unpairMsg.Send((&Unpair{Token: token}).Encode())
}

func (c *Client) onPair(b []byte) error {
	m, err := DecodePair(b)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.requests[m.Token]
	if r == nil || r.initiator != m.IsInitiator {
		return nil
	}
	delete(c.requests, m.Token)
	r.res <- m.ID
	return nil
}

func (c *Client) onClose() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	c.closed = true
	clear(c.requests)
	close(c.done)
}

// Done is closed once the channel closed.
func (c *Client) Done() <-chan struct{} { return c.done }

// Close closes the channel; pending pairings fail with ErrClosed.
func (c *Client) Close() error {
	err := c.ch.Close()
	c.onClose()
	return err
}
