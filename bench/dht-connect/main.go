// Command dht-connect compares HyperDHT connect-plus-first-echo latency of
// Warren and of the JS hyperdht on a 10-node local testnet, in one run.
//
// The Go side is hyperdht's BenchmarkConnectEcho, run through go test; the
// JS side is interop/js/hyperdht_bench_connect.js. The last line is
//
//	dht-connect: go=<p50 ms> js=<p50 ms> unit=ms-p50 ratio=<js/go>
//
// (for a latency, a ratio above 1 means Go is faster).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"

	"github.com/warrenp2p/warren/interop"
)

func main() {
	n := flag.Int("n", 200, "connections per side")
	flag.Parse()
	if err := run(*n); err != nil {
		fmt.Fprintln(os.Stderr, "dht-connect:", err)
		os.Exit(1)
	}
}

var (
	goMetric = regexp.MustCompile(`([0-9.]+) p50-ms\s+([0-9.]+) p95-ms`)
	jsMetric = regexp.MustCompile(`p50=([0-9.]+) p95=([0-9.]+)`)
)

func run(n int) error {
	ctx := context.Background()
	out, err := exec.CommandContext(ctx, "go", "test", "-run=^$", "-bench=^BenchmarkConnectEcho$",
		fmt.Sprintf("-benchtime=%dx", n), "./hyperdht").CombinedOutput()
	if err != nil {
		return fmt.Errorf("go benchmark: %v\n%s", err, out)
	}
	gm := goMetric.FindSubmatch(out)
	if gm == nil {
		return fmt.Errorf("no p50/p95 in go benchmark output:\n%s", out)
	}
	fmt.Printf("go: p50=%s ms p95=%s ms n=%d\n", gm[1], gm[2], n)

	env, err := interop.Lookup()
	if err != nil {
		return err
	}
	jsOut, err := env.Command(ctx, "hyperdht_bench_connect.js", strconv.Itoa(n)).Output()
	if err != nil {
		return fmt.Errorf("js benchmark: %v", err)
	}
	jm := jsMetric.FindSubmatch(jsOut)
	if jm == nil {
		return fmt.Errorf("no p50/p95 in js output: %s", jsOut)
	}
	fmt.Printf("js: p50=%s ms p95=%s ms n=%d\n", jm[1], jm[2], n)

	goP50, _ := strconv.ParseFloat(string(gm[1]), 64)
	jsP50, _ := strconv.ParseFloat(string(jm[1]), 64)
	if goP50 <= 0 {
		return fmt.Errorf("go p50 is %v", goP50)
	}
	fmt.Printf("dht-connect: go=%.3f js=%.3f unit=ms-p50 ratio=%.2f\n", goP50, jsP50, jsP50/goP50)
	return nil
}
