package hyperdht

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
)

func TestPoolSharesOneConnection(t *testing.T) {
	tn := newTestnet(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sn := tn.add(t, &Config{DHT: dht.Config{Firewalled: boolp(false)}})
	cn := tn.add(t, &Config{DHT: dht.Config{Firewalled: boolp(false)}})
	for _, n := range []*DHT{sn, cn} {
		if err := n.Bootstrapped(ctx); err != nil {
			t.Fatal(err)
		}
	}
	kp, _ := crypto.NewKeyPair()
	srv, err := sn.Listen(ctx, kp, nil)
	if err != nil {
		t.Fatal(err)
	}
	spool := sn.NewPool()
	defer spool.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := srv.Accept(context.Background())
			if err != nil {
				return
			}
			accepted.Add(1)
			spool.Add(c)
		}
	}()

	pool := cn.NewPool()
	defer pool.Close()
	const n = 8
	conns := make([]net.Conn, n)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := pool.Connect(ctx, kp.PublicKey, nil)
			if err != nil {
				t.Error(err)
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	for _, c := range conns[1:] {
		if c != conns[0] {
			t.Fatal("concurrent Connects got different connections")
		}
	}
	if _, err := conns[0].Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if pool.Len() != 1 || pool.Get(kp.PublicKey) != conns[0] {
		t.Fatalf("pool holds %d", pool.Len())
	}
	// The server's pool reuses the accepted connection to reach the client.
	deadline := time.Now().Add(20 * time.Second)
	for spool.Len() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	back, err := spool.Connect(ctx, cn.KeyPair().PublicKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := back.Write([]byte("back")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	conns[0].SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := conns[0].Read(buf); err != nil || string(buf) != "back" {
		t.Fatalf("read %q %v", buf, err)
	}
	if got := accepted.Load(); got != 1 {
		t.Fatalf("server accepted %d connections, want 1", got)
	}
	// A closed connection leaves the pool; the next Connect dials anew.
	conns[0].Close()
	deadline = time.Now().Add(20 * time.Second)
	for pool.Get(kp.PublicKey) != nil && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	c2, err := pool.Connect(ctx, kp.PublicKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c2 == conns[0] {
		t.Fatal("pool handed out a closed connection")
	}
}
