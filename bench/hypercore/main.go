// Command hypercore measures hypercore appends and replication in Go and,
// in the same run, with hypercore 11 in JS (interop/js/bench_hypercore.js),
// and prints the figures side by side:
//
//   - append: -blocks blocks of 1 KiB in batches of 1024, blocks/s, and
//     -single single appends (reported only);
//   - replication of -blocks x 1 KiB over TCP loopback + secret-stream +
//     protomux, blocks/s timed by the reader from its connect to the last
//     block stored: Go->Go, JS->JS, JS writer->Go reader, Go writer->JS
//     reader;
//   - the same for -big blocks of 64 KiB, in MiB/s.
//
// Each writer is filled before any timing and serves every reader. Its
// last line, the headline, is the 1 KiB replication Go->Go against JS->JS:
//
//	hypercore: go=<blocks/s> js=<blocks/s> unit=blocks/s ratio=<go/js>
//
// Run it with bench/run hypercore [-blocks N] [-big N] [-single N]
// [-runs R] [-only append|repl|big] [-cpuprofile FILE] [-memprofile FILE]
// [-trace FILE] [-goonly]. Each figure is the best of -runs runs (the
// machine may be shared); the replication runs start once both writers
// have rested 2 s after their fill, and the four pairs take turns run by
// run. With -only, the headline is that part's first row; -goonly runs
// only the Go->Go replication of the part chosen, for profiling.
package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/warrenp2p/warren/hypercore"
	"github.com/warrenp2p/warren/interop"
	"github.com/warrenp2p/warren/protomux"
	"github.com/warrenp2p/warren/secretstream"
)

func main() {
	blocks := flag.Int("blocks", 65536, "1 KiB blocks appended and replicated")
	big := flag.Int("big", 2048, "64 KiB blocks replicated")
	single := flag.Int("single", 2000, "single appends (reported only)")
	runs := flag.Int("runs", 1, "runs of each measurement; the best counts")
	only := flag.String("only", "", "run one part: append, repl or big")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the Go side (both ends of Go->Go) to this file")
	goOnly := flag.Bool("goonly", false, "replicate Go->Go only (for profiling): no JS, no headline")
	traceFile := flag.String("trace", "", "write a Go execution trace of the whole run to this file")
	memprofile := flag.String("memprofile", "", "write an allocation profile of the whole run to this file")
	flag.Parse()
	if *memprofile != "" {
		defer func() {
			f, err := os.Create(*memprofile)
			if err != nil {
				fail(err)
			}
			defer f.Close()
			if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
				fail(err)
			}
		}()
	}
	if *traceFile != "" {
		f, err := os.Create(*traceFile)
		if err != nil {
			fail(err)
		}
		if err := trace.Start(f); err != nil {
			fail(err)
		}
		defer trace.Stop()
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fail(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fail(err)
		}
		defer pprof.StopCPUProfile()
	}
	b := &bench{runs: max(*runs, 1), goOnly: *goOnly}
	var err error
	if b.env, err = interop.Lookup(); err != nil {
		fail(err)
	}
	var head row
	if *only == "" || *only == "append" {
		if err := b.append(*blocks, *single); err != nil {
			fail(err)
		}
	}
	if *only == "" || *only == "repl" {
		if head, err = b.replicate("repl-1k", *blocks, 1024, false); errors.Is(err, errGoOnly) {
			return
		} else if err != nil {
			fail(err)
		}
	}
	if *only == "" || *only == "big" {
		r, err := b.replicate("repl-64k", *big, 64<<10, true)
		if errors.Is(err, errGoOnly) {
			return
		} else if err != nil {
			fail(err)
		}
		if *only == "big" {
			head = r
		}
	}
	if head.unit == "" {
		head = b.rows[0]
	}
	fmt.Printf("hypercore: go=%.0f js=%.0f unit=%s ratio=%.2f\n", head.goV, head.jsV, head.unit, head.goV/head.jsV)
}

func fail(err error) {
	pprof.StopCPUProfile()
	fmt.Fprintln(os.Stderr, "hypercore bench:", err)
	os.Exit(1)
}

// errGoOnly ends a -goonly run after its Go->Go replication.
var errGoOnly = errors.New("go->go only")

type bench struct {
	env    *interop.Env
	runs   int
	goOnly bool
	rows   []row
}

type row struct {
	name      string
	goV, jsV  float64
	unit      string
	extraNote string
}

func (b *bench) report(r row) {
	b.rows = append(b.rows, r)
	fmt.Printf("%-28s go=%-10.0f js=%-10.0f unit=%s ratio=%.2f%s\n", r.name+":", r.goV, r.jsV, r.unit, r.goV/r.jsV, r.extraNote)
}

// settle is how long the writers rest after their fill before the reads
// are timed.
const settle = 2 * time.Second

func (b *bench) append(n, single int) error {
	var goV, jsV, goSingle, jsSingle float64
	// Go and JS take turns, run by run, like the replication pairs.
	for range b.runs {
		v, s, err := goAppend(n, single)
		if err != nil {
			return err
		}
		goV, goSingle = max(goV, v), max(goSingle, s)
		lines, v, err := b.js(context.Background(), "append", "--blocks", strconv.Itoa(n), "--batch", "1024", "--single", strconv.Itoa(single))
		if err != nil {
			return err
		}
		jsV = max(jsV, v)
		for _, l := range lines {
			if rest, ok := strings.CutPrefix(l, "single appends: "); ok {
				f, _ := strconv.ParseFloat(strings.Fields(rest)[0], 64)
				jsSingle = max(jsSingle, f)
			}
		}
	}
	b.report(row{name: "append-1k-batch1024", goV: goV, jsV: jsV, unit: "blocks/s"})
	if single > 0 {
		b.report(row{name: "append-1k-single", goV: goSingle, jsV: jsSingle, unit: "blocks/s"})
	}
	return nil
}

// goAppend appends n 1 KiB blocks in batches of 1024 to a fresh core, then
// single more one at a time, and returns both rates in blocks/s.
func goAppend(n, single int) (batched, singles float64, err error) {
	dir, err := os.MkdirTemp("", "bench-hypercore-append-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	c, err := hypercore.Open(dir, hypercore.Options{})
	if err != nil {
		return 0, 0, err
	}
	defer c.Close()
	batch := makeBlocks(1024, 1024)
	start := time.Now()
	for i := 0; i < n; i += len(batch) {
		if _, err := c.Append(batch[:min(len(batch), n-i)]...); err != nil {
			return 0, 0, err
		}
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("go append: %d x 1024 B in batches of 1024: %.3f s\n", n, secs)
	batched = float64(n) / secs
	if single > 0 {
		start = time.Now()
		for i := range single {
			if _, err := c.Append(batch[i%len(batch)]); err != nil {
				return 0, 0, err
			}
		}
		singles = float64(single) / time.Since(start).Seconds()
	}
	return batched, singles, nil
}

func makeBlocks(n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = make([]byte, size)
		out[i][0], out[i][1], out[i][2], out[i][3] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
	}
	return out
}

// replicate measures the four writer/reader pairs for n blocks of size
// bytes and returns the Go->Go against JS->JS row. inMiB reports MiB/s
// instead of blocks/s.
func (b *bench) replicate(name string, n, size int, inMiB bool) (row, error) {
	ctx := context.Background()
	gw, err := newGoWriter(n, size)
	if err != nil {
		return row{}, err
	}
	defer gw.Close()
	if b.goOnly {
		for range b.runs {
			if _, err := goReader(ctx, gw.key, gw.port, n); err != nil {
				return row{}, err
			}
		}
		return row{}, errGoOnly
	}
	jw, err := b.newJSWriter(ctx, n, size)
	if err != nil {
		return row{}, err
	}
	defer jw.Close()

	unit := "blocks/s"
	scale := 1.0
	if inMiB {
		unit = "MiB/s"
		scale = float64(size) / (1 << 20)
	}
	goFetch := func(key []byte, port int) func() (float64, error) {
		return func() (float64, error) { return goReader(ctx, key, port, n) }
	}
	jsFetch := func(key []byte, port int) func() (float64, error) {
		return func() (float64, error) {
			_, v, err := b.js(ctx, "fetch", "--key", hex.EncodeToString(key), "--port", strconv.Itoa(port), "--blocks", strconv.Itoa(n))
			return v, err
		}
	}
	// Both writers settle first (the JS writer's storage flushes and
	// compacts after its fill), then the four pairs take turns, run by
	// run, so that each meets the machine in the same state.
	time.Sleep(settle)
	pairs := []struct {
		name  string
		fetch func() (float64, error)
	}{
		{"go->go", goFetch(gw.key, gw.port)},
		{"js->js", jsFetch(jw.key, jw.port)},
		{"js->go", goFetch(jw.key, jw.port)},
		{"go->js", jsFetch(gw.key, gw.port)},
	}
	best := make([]float64, len(pairs))
	for range b.runs {
		for i, p := range pairs {
			v, err := p.fetch()
			if err != nil {
				return row{}, fmt.Errorf("%s: %w", p.name, err)
			}
			best[i] = max(best[i], v)
		}
	}
	gg, jj, jg, gj := best[0], best[1], best[2], best[3]
	head := row{name: name + " go->go|js->js", goV: gg * scale, jsV: jj * scale, unit: unit}
	b.report(head)
	b.report(row{name: name + " js->go|js->js", goV: jg * scale, jsV: jj * scale, unit: unit, extraNote: "  (Go reader from a JS writer)"})
	b.report(row{name: name + " go->js|js->js", goV: gj * scale, jsV: jj * scale, unit: unit, extraNote: "  (JS reader from a Go writer)"})
	return head, nil
}

// goWriter serves one core of n blocks to every TCP connection.
type goWriter struct {
	core *hypercore.Core
	dir  string
	ln   net.Listener
	key  []byte
	port int
	wg   sync.WaitGroup
	mu   sync.Mutex
	muxs []*protomux.Mux
}

func newGoWriter(n, size int) (*goWriter, error) {
	dir, err := os.MkdirTemp("", "bench-hypercore-serve-")
	if err != nil {
		return nil, err
	}
	c, err := hypercore.Open(dir, hypercore.Options{})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	batch := makeBlocks(1024, size)
	for i := 0; i < n; i += len(batch) {
		if _, err := c.Append(batch[:min(len(batch), n-i)]...); err != nil {
			c.Close()
			os.RemoveAll(dir)
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.Close()
		os.RemoveAll(dir)
		return nil, err
	}
	key := c.Key()
	w := &goWriter{core: c, dir: dir, ln: ln, key: key[:], port: ln.Addr().(*net.TCPAddr).Port}
	w.wg.Go(w.accept)
	return w, nil
}

func (w *goWriter) accept() {
	for {
		conn, err := w.ln.Accept()
		if err != nil {
			return
		}
		w.wg.Go(func() { w.serve(conn) })
	}
}

func (w *goWriter) serve(conn net.Conn) {
	ss := secretstream.Server(conn, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := ss.Handshake(ctx); err != nil {
		ss.Close()
		return
	}
	mux := protomux.New(ss, &protomux.Config{DeferStart: true})
	if _, err := w.core.Replicate(mux, ss.IsInitiator(), ss.HandshakeHash()); err != nil {
		mux.Close()
		return
	}
	w.mu.Lock()
	w.muxs = append(w.muxs, mux)
	w.mu.Unlock()
	mux.Start()
	<-mux.Done()
}

func (w *goWriter) Close() {
	w.ln.Close()
	w.mu.Lock()
	for _, m := range w.muxs {
		m.Close()
	}
	w.mu.Unlock()
	w.wg.Wait()
	w.core.Close()
	os.RemoveAll(w.dir)
}

// goReader downloads n blocks of the core key from 127.0.0.1:port into a
// fresh core and returns blocks/s from the connect to the last block.
func goReader(ctx context.Context, key []byte, port, n int) (float64, error) {
	dir, err := os.MkdirTemp("", "bench-hypercore-fetch-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	c, err := hypercore.Open(dir, hypercore.Options{Key: key})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return 0, err
	}
	ss := secretstream.Client(conn, nil)
	if err := ss.Handshake(ctx); err != nil {
		ss.Close()
		return 0, err
	}
	mux := protomux.New(ss, &protomux.Config{DeferStart: true})
	defer func() { mux.Close(); <-mux.Done() }()
	if _, err := c.Replicate(mux, ss.IsInitiator(), ss.HandshakeHash()); err != nil {
		return 0, err
	}
	mux.Start()
	if err := c.Download(ctx, 0, uint64(n)); err != nil {
		return 0, fmt.Errorf("download: %w (contiguous %d)", err, c.ContiguousLength())
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("go fetch: %d blocks, %d bytes in %.3f s\n", n, c.ByteLength(), secs)
	return float64(n) / secs, nil
}

// jsWriter is a bench_hypercore.js serve process.
type jsWriter struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	cancel context.CancelFunc
	key    []byte
	port   int
}

func (b *bench) newJSWriter(ctx context.Context, n, size int) (*jsWriter, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	cmd := b.env.Command(ctx, "bench_hypercore.js", "serve", "--blocks", strconv.Itoa(n), "--size", strconv.Itoa(size))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		cancel()
		return nil, err
	}
	w := &jsWriter{cmd: cmd, stdin: stdin, cancel: cancel}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	f := strings.Fields(line)
	if err != nil || len(f) != 3 || f[0] != "ready" {
		w.Close()
		return nil, fmt.Errorf("JS writer printed %q: %v", line, err)
	}
	w.key, err = hex.DecodeString(f[1])
	if err == nil {
		w.port, err = strconv.Atoi(f[2])
	}
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("JS writer printed %q", line)
	}
	go io.Copy(io.Discard, stdout) // the process ends when Close ends it
	return w, nil
}

func (w *jsWriter) Close() {
	io.WriteString(w.stdin, "exit\n")
	w.stdin.Close()
	done := make(chan struct{})
	go func() { w.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		w.cancel()
		<-done
	}
	w.cancel()
}

// js runs the JS benchmark in mode and returns the lines it printed before
// the last and the number on the last.
func (b *bench) js(ctx context.Context, mode string, args ...string) ([]string, float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := b.env.Command(ctx, "bench_hypercore.js", append([]string{mode}, args...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, 0, fmt.Errorf("node bench_hypercore.js %s: %w", mode, err)
	}
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return nil, 0, errors.New("JS benchmark printed nothing")
	}
	last := lines[len(lines)-1]
	v, err := strconv.ParseFloat(last, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("JS benchmark printed %q last", last)
	}
	for _, l := range lines[:len(lines)-1] {
		fmt.Println("js " + l)
	}
	return lines[:len(lines)-1], v, nil
}
