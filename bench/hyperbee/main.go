// Command hyperbee measures puts and gets on a bee over a hypercore stored
// on disk, in Go, then runs interop/js/bench_hyperbee.js for the same work
// with hyperbee 2.27 on hypercore 11, and prints both. Its last line is
//
//	hyperbee: go=<ops/s> js=<ops/s> unit=ops/s ratio=<go/js>
//
// where ops/s counts all puts and gets over the time of both phases. Puts
// are random 16-byte keys with 32-byte values in batches of -batch (one
// append each; -batch 1 puts one at a time), gets are random existing keys.
// Single puts (-single of them) are timed apart and only reported: each is
// one append, so they mostly measure the core's durable append.
//
// Run it with bench/run hyperbee [-puts N] [-gets N] [-batch B] [-single N] [-runs R].
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/warrenp2p/warren/hyperbee"
	"github.com/warrenp2p/warren/hypercore"
	"github.com/warrenp2p/warren/interop"
)

func main() {
	puts := flag.Int("puts", 100000, "keys to put")
	gets := flag.Int("gets", 100000, "gets of random existing keys")
	batch := flag.Int("batch", 1000, "puts per batch (one append each); 1 = single puts")
	single := flag.Int("single", 2000, "single puts timed apart (reported only)")
	runs := flag.Int("runs", 1, "runs of each side; the best counts (the machine may be shared)")
	flag.Parse()
	var goOps, jsOps float64
	for range max(*runs, 1) {
		g, err := goBench(*puts, *gets, max(*batch, 1), *single)
		if err != nil {
			fail(err)
		}
		j, err := jsBench(*puts, *gets, max(*batch, 1), *single)
		if err != nil {
			fail(err)
		}
		goOps, jsOps = max(goOps, g), max(jsOps, j)
	}
	fmt.Printf("hyperbee: go=%.0f js=%.0f unit=ops/s ratio=%.2f\n", goOps, jsOps, goOps/jsOps)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "hyperbee bench:", err)
	os.Exit(1)
}

func goBench(puts, gets, batch, single int) (float64, error) {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "bench-hyperbee-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	core, err := hypercore.Open(dir, hypercore.Options{})
	if err != nil {
		return 0, err
	}
	defer core.Close()
	bee := hyperbee.New(hyperbee.CoreLog{Core: core}, hyperbee.Options{})

	value := make([]byte, 32)
	keys := make([][]byte, puts)
	for i := range keys {
		keys[i] = make([]byte, 16)
		rand.Read(keys[i])
	}

	start := time.Now()
	for i := 0; i < puts; i += batch {
		if batch == 1 {
			if err := bee.Put(ctx, keys[i], value); err != nil {
				return 0, err
			}
			continue
		}
		b := bee.Batch()
		for _, k := range keys[i:min(i+batch, puts)] {
			if err := b.Put(ctx, k, value); err != nil {
				return 0, err
			}
		}
		if err := b.Flush(ctx); err != nil {
			return 0, err
		}
	}
	putTime := time.Since(start)
	fmt.Printf("go puts: %.0f ops/s (batches of %d)\n", float64(puts)/putTime.Seconds(), batch)

	start = time.Now()
	for range gets {
		e, err := bee.Get(ctx, keys[mrand.IntN(len(keys))])
		if err != nil {
			return 0, err
		}
		if e == nil {
			return 0, fmt.Errorf("missing key")
		}
	}
	getTime := time.Since(start)
	fmt.Printf("go gets: %.0f ops/s\n", float64(gets)/getTime.Seconds())

	if single > 0 {
		start = time.Now()
		k := make([]byte, 16)
		for range single {
			rand.Read(k)
			if err := bee.Put(ctx, k, value); err != nil {
				return 0, err
			}
		}
		fmt.Printf("go single puts: %.0f ops/s\n", float64(single)/time.Since(start).Seconds())
	}
	ops := float64(puts+gets) / (putTime + getTime).Seconds()
	fmt.Printf("go: %.0f ops/s\n", ops)
	return ops, nil
}

// jsBench runs the JS benchmark and returns the figure on its last line.
func jsBench(puts, gets, batch, single int) (float64, error) {
	env, err := interop.Lookup()
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cmd := env.Command(ctx, "bench_hyperbee.js",
		"--puts", strconv.Itoa(puts), "--gets", strconv.Itoa(gets),
		"--batch", strconv.Itoa(batch), "--single", strconv.Itoa(single))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("node bench_hyperbee.js: %w", err)
	}
	var last string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			if last != "" {
				fmt.Println("js " + last)
			}
			last = l
		}
	}
	v, err := strconv.ParseFloat(last, 64)
	if err != nil {
		return 0, fmt.Errorf("JS benchmark printed %q last", last)
	}
	fmt.Printf("js: %.0f ops/s\n", v)
	return v, nil
}
