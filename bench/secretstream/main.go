// Command secretstream measures bulk throughput of secret-stream over TCP
// loopback, Go to Go, then runs interop/js/bench_secretstream.js for the same
// work JS to JS, and prints both. Its last line is
//
//	secretstream: go=<MiB/s> js=<MiB/s> unit=MiB/s ratio=<go/js>
//
// Run it with bench/run secretstream [-bytes N] [-chunk N] [-runs N]. Each
// side runs -runs times, alternating, and the best run of each counts, so a
// burst of load from elsewhere on the machine does not decide the ratio.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/warrenp2p/warren/interop"
	"github.com/warrenp2p/warren/secretstream"
)

func main() {
	total := flag.Int64("bytes", 1<<30, "bytes to transfer")
	chunk := flag.Int("chunk", 256<<10, "bytes per write, on both sides")
	runs := flag.Int("runs", 3, "runs of each side; the best counts (the machine may be shared)")
	flag.Parse()
	if err := run(*total, *chunk, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "secretstream bench:", err)
		os.Exit(1)
	}
}

func run(total int64, chunk, runs int) error {
	var goMiBs, jsMiBs float64
	for range max(runs, 1) {
		g, err := goBench(total, chunk)
		if err != nil {
			return err
		}
		j, err := jsBench(total, chunk)
		if err != nil {
			return err
		}
		goMiBs, jsMiBs = max(goMiBs, g), max(jsMiBs, j)
	}
	fmt.Printf("secretstream: go=%.1f js=%.1f unit=MiB/s ratio=%.2f\n", goMiBs, jsMiBs, goMiBs/jsMiBs)
	return nil
}

// goBench sends total bytes from a Client to a Server over TCP loopback
// and returns MiB/s as seen by the receiver.
func goBench(total int64, chunk int) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	type result struct {
		n    int64
		secs float64
		err  error
	}
	done := make(chan result, 1)
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		s := secretstream.Server(raw, nil)
		defer s.Close()
		if err := s.Handshake(context.Background()); err != nil {
			done <- result{err: err}
			return
		}
		start := time.Now()
		buf := make([]byte, 256<<10)
		var n int64
		for {
			m, err := s.Read(buf)
			n += int64(m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				done <- result{err: err}
				return
			}
		}
		done <- result{n: n, secs: time.Since(start).Seconds()}
	}()

	cpu0 := cpuSeconds()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return 0, err
	}
	c := secretstream.Client(raw, nil)
	defer c.Close()
	if err := c.Handshake(context.Background()); err != nil {
		return 0, err
	}
	buf := make([]byte, chunk)
	for i := range buf {
		buf[i] = 7
	}
	for left := total; left > 0; {
		n := int64(len(buf))
		if left < n {
			n = left
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return 0, err
		}
		left -= n
	}
	if err := c.CloseWrite(); err != nil {
		return 0, err
	}
	res := <-done
	if res.err != nil {
		return 0, res.err
	}
	if res.n != total {
		return 0, fmt.Errorf("received %d of %d bytes", res.n, total)
	}
	cpu := cpuSeconds() - cpu0
	gib := float64(res.n) / (1 << 30)
	mibs := float64(res.n) / (1 << 20) / res.secs
	fmt.Printf("go: %d bytes in %.3f s, %.1f MiB/s, %.2f cpu-s/GiB (sender and receiver)\n", res.n, res.secs, mibs, cpu/gib)
	return mibs, nil
}

// jsBench runs the JS benchmark and returns the figure on its last line.
func jsBench(total int64, chunk int) (float64, error) {
	env, err := interop.Lookup()
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := env.Command(ctx, "bench_secretstream.js", "--bytes", strconv.FormatInt(total, 10), "--chunk", strconv.Itoa(chunk))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("node bench_secretstream.js: %w", err)
	}
	var last string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			if last != "" {
				fmt.Println(last)
			}
			last = l
		}
	}
	v, err := strconv.ParseFloat(last, 64)
	if err != nil {
		return 0, fmt.Errorf("JS benchmark printed %q last", last)
	}
	fmt.Printf("js: %.1f MiB/s\n", v)
	return v, nil
}

// cpuSeconds is the user and system CPU time of this process so far.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}
