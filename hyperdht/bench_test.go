package hyperdht

import (
	"context"
	"io"
	"sort"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
	"github.com/warrenp2p/warren/dht"
)

// BenchmarkConnectEcho measures connect plus first echo to a server on a
// 10-node local testnet (the shape of bench/run dht-connect), reporting the
// p50 and p95 latencies.
func BenchmarkConnectEcho(b *testing.B) {
	tn := newTestnetB(b, 9)
	ctx := context.Background()
	sn := tn.addB(b, &Config{DHT: dht.Config{}})
	cn := tn.addB(b, &Config{DHT: dht.Config{}})
	if err := sn.Bootstrapped(ctx); err != nil {
		b.Fatal(err)
	}
	if err := cn.Bootstrapped(ctx); err != nil {
		b.Fatal(err)
	}
	kp, _ := crypto.NewKeyPair()
	srv, err := sn.Listen(ctx, kp, nil)
	if err != nil {
		b.Fatal(err)
	}
	go func() {
		for {
			c, err := srv.Accept(ctx)
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	var lat []time.Duration
	buf := make([]byte, 4)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		c, err := cn.Connect(ctx, kp.PublicKey)
		if err != nil {
			b.Fatal(err)
		}
		c.Write([]byte("ping"))
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		c.Close()
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95-ms")
}
