package dht

import (
	"context"
	"os"

	"github.com/warrenp2p/warren/udx"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// BenchmarkTestnetMemory starts a testnet of DHT_BENCH_NODES (default 200)
// nodes on UDX sockets on 127.0.0.1 in one process, all bootstrapped, and
// reports heap and runtime memory per node. The sockets are opened without
// recvmmsg batching (DHT_BENCH_BATCH=1 keeps udx's defaults: batching and
// GRO, read buffers borrowed from a shared pool). bench/run dht-memory
// measures resident memory against dht-rpc.
func BenchmarkTestnetMemory(b *testing.B) {
	size := 200
	if s := getenv("DHT_BENCH_NODES"); s != "" {
		size, _ = strconv.Atoi(s)
	}
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		var u *udx.UDX
		if getenv("DHT_BENCH_BATCH") == "" {
			u = udx.New(&udx.Config{NoBatch: true, DatagramQueue: 256})
		}
		boot, err := NewBootstrapper("127.0.0.1", 0xfff0, &Config{Host: "127.0.0.1", UDX: u})
		if err != nil {
			b.Fatal(err)
		}
		nodes := []*Node{boot}
		bs := []string{boot.LocalAddr().String()}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		f := false
		for j := 1; j < size; j++ {
			n, err := New(&Config{Host: "127.0.0.1", Bootstrap: bs, Ephemeral: &f, Firewalled: &f, UDX: u})
			if err != nil {
				b.Fatal(err)
			}
			nodes = append(nodes, n)
		}
		for _, n := range nodes {
			if err := n.Bootstrapped(ctx); err != nil {
				b.Fatal(err)
			}
		}
		cancel()
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/float64(size), "heap-B/node")
		b.ReportMetric(float64(after.Sys-before.Sys)/float64(size), "sys-B/node")
		b.ReportMetric(float64(runtime.NumGoroutine())/float64(size), "goroutines/node")
		for _, n := range nodes {
			n.Close()
		}
	}
}

func getenv(k string) string { return os.Getenv(k) }
