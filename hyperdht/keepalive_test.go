package hyperdht

import (
	"context"
	"crypto/ed25519"
	"io"
	"net"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/secretstream"
	"github.com/warrenp2p/warren/udx"
)

func udxOf(t *testing.T, c net.Conn) *udx.Stream {
	t.Helper()
	sc, ok := c.(*secretstream.Conn)
	if !ok {
		t.Fatalf("connection is a %T", c)
	}
	s, ok := sc.NetConn().(*udx.Stream)
	if !ok {
		t.Fatalf("raw connection is a %T", sc.NetConn())
	}
	return s
}

// TestKeepAlive checks that idle connections send keepalives at
// Config.KeepAlive, on both the Connect and the Accept side, and none when
// it is negative.
func TestKeepAlive(t *testing.T) {
	if d, _ := New(&Config{DHT: dht.Config{Host: "127.0.0.1", Bootstrap: []string{}}}); d != nil {
		if d.keepAlive != DefaultKeepAlive {
			t.Errorf("default keepalive %v", d.keepAlive)
		}
		d.Close()
	}
	tn := newTestnet(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const ka = 100 * time.Millisecond
	for _, tc := range []struct {
		name           string
		server, client time.Duration
	}{{"client", -1, ka}, {"server", ka, -1}, {"off", -1, -1}} {
		t.Run(tc.name, func(t *testing.T) {
			sn := tn.add(t, &Config{KeepAlive: tc.server, DHT: dht.Config{Firewalled: boolp(false)}})
			cn := tn.add(t, &Config{KeepAlive: tc.client, DHT: dht.Config{Firewalled: boolp(false)}})
			kp, _ := crypto.NewKeyPair()
			srv, err := sn.Listen(ctx, kp, func(ed25519.PublicKey, *NoisePayload) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			accepted := make(chan net.Conn, 1)
			go func() {
				c, err := srv.Accept(ctx)
				if err == nil {
					accepted <- c
				}
			}()
			c, err := cn.Connect(ctx, kp.PublicKey)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			var sc net.Conn
			select {
			case sc = <-accepted:
			case <-ctx.Done():
				t.Fatal("no connection accepted")
			}
			defer sc.Close()
			// One message each way settles the streams.
			c.Write([]byte("x"))
			buf := make([]byte, 1)
			sc.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := io.ReadFull(sc, buf); err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond)
			idler := udxOf(t, c)
			if tc.client < 0 {
				idler = udxOf(t, sc)
			}
			before := idler.Stats().PacketsSent
			time.Sleep(10 * ka)
			sent := idler.Stats().PacketsSent - before
			if tc.name == "off" {
				if sent > 1 { // a late ack at most
					t.Fatalf("%d packets sent by an idle connection without keepalive", sent)
				}
				return
			}
			if sent < 3 {
				t.Fatalf("%d packets sent in %v idle with a %v keepalive", sent, 10*ka, ka)
			}
		})
	}
}
