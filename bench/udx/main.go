// Command udx measures one bulk UDX stream on loopback: Go to Go, Go to
// JS (udx-native) and JS to JS (two node processes running
// interop/js/bench_udx.js), and prints throughput and CPU seconds per
// GiB for each. Its last line is
//
//	udx: go=<MiB/s> js=<MiB/s> unit=MiB/s ratio=<go/js>
//
// where go is Go to Go and js is JS to JS. Run it with bench/run udx
// [-bytes N] [-runs N]; the best of -runs counts for each case.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/warrenp2p/warren/interop"
	"github.com/warrenp2p/warren/udx"
)

func main() {
	total := flag.Int64("bytes", 512<<20, "bytes to transfer")
	runs := flag.Int("runs", 3, "runs of each case; the best counts (the machine may be shared)")
	flag.Parse()
	if err := run(*total, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "udx bench:", err)
		os.Exit(1)
	}
}

type result struct {
	mibs   float64 // MiB/s seen by the receiver
	cpuGiB float64 // CPU seconds (both sides) per GiB moved
}

func (r result) String() string {
	return fmt.Sprintf("%8.1f MiB/s  %6.2f CPU s/GiB", r.mibs, r.cpuGiB)
}

func best(a, b result) result {
	if b.mibs > a.mibs {
		return b
	}
	return a
}

func run(total int64, runs int) error {
	env, err := interop.Lookup()
	if err != nil {
		return err
	}
	var gg, gj, jg, jj result
	for range max(runs, 1) {
		r, err := goToGo(total)
		if err != nil {
			return fmt.Errorf("go->go: %w", err)
		}
		gg = best(gg, r)
		if r, err = goToJS(env, total); err != nil {
			return fmt.Errorf("go->js: %w", err)
		}
		gj = best(gj, r)
		if r, err = jsToGo(env, total); err != nil {
			return fmt.Errorf("js->go: %w", err)
		}
		jg = best(jg, r)
		if r, err = jsToJS(env, total); err != nil {
			return fmt.Errorf("js->js: %w", err)
		}
		jj = best(jj, r)
	}
	fmt.Printf("one bulk stream, loopback, %d MiB, best of %d\n", total>>20, runs)
	fmt.Printf("  go -> go  %v\n", gg)
	fmt.Printf("  go -> js  %v\n", gj)
	fmt.Printf("  js -> go  %v\n", jg)
	fmt.Printf("  js -> js  %v\n", jj)
	fmt.Printf("  go->js / js->js = %.2f\n", gj.mibs/jj.mibs)
	if line, err := lossy(); err != nil {
		fmt.Printf("lossy case (1%% loss each way, 20 ms RTT) skipped: %v\n", err)
	} else {
		fmt.Printf("lossy case (1%% loss each way, 20 ms RTT, %d MiB goodput):\n  %s\n", lossyBytes>>20, line)
	}
	fmt.Printf("udx: go=%.1f js=%.1f unit=MiB/s ratio=%.2f\n", gg.mibs, jj.mibs, gg.mibs/jj.mibs)
	return nil
}

const lossyBytes = 32 << 20

// lossy runs the netem case, which needs root for network namespaces: it
// lives in the interop tests (TestInteropUDXLossyBench) because netlab
// builds its labs from a testing.TB.
func lossy() (string, error) {
	if os.Geteuid() != 0 {
		return "", errors.New("needs root for network namespaces")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-run", "^TestInteropUDXLossyBench$", "-v", ".")
	cmd.Dir = interop.Dir()
	cmd.Env = append(os.Environ(), "WARREN_UDX_LOSSY_BENCH=1", fmt.Sprintf("WARREN_UDX_LOSSY_BYTES=%d", lossyBytes))
	out, err := cmd.CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "udx-lossy:") {
			return l, nil
		}
	}
	if err == nil {
		err = errors.New("no result")
	}
	return "", fmt.Errorf("%v\n%s", err, out)
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func perGiB(cpu float64, total int64) float64 { return cpu / (float64(total) / (1 << 30)) }

func mibs(total int64, d time.Duration) float64 { return float64(total) / (1 << 20) / d.Seconds() }

func writeAll(w io.Writer, total int64) error {
	buf := make([]byte, 256<<10)
	for i := range buf {
		buf[i] = byte(i)
	}
	for total > 0 {
		n := min(total, int64(len(buf)))
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		total -= n
	}
	return nil
}

func goToGo(total int64) (result, error) {
	u := udx.New(nil)
	a, err := u.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	defer a.Close()
	b, err := u.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	defer b.Close()
	sa, err := udx.Connect(a, 1, 2, b.LocalAddr(), nil)
	if err != nil {
		return result{}, err
	}
	defer sa.Destroy()
	sb, err := udx.Connect(b, 2, 1, a.LocalAddr(), nil)
	if err != nil {
		return result{}, err
	}
	defer sb.Destroy()
	cpu0 := cpuSeconds()
	start := time.Now()
	errc := make(chan error, 1)
	go func() {
		err := writeAll(sa, total)
		if err == nil {
			err = sa.CloseWrite()
		}
		errc <- err
	}()
	n, err := io.Copy(io.Discard, sb)
	d := time.Since(start)
	if err != nil {
		return result{}, err
	}
	if err := <-errc; err != nil {
		return result{}, err
	}
	if n != total {
		return result{}, fmt.Errorf("received %d of %d bytes", n, total)
	}
	return result{mibs(total, d), perGiB(cpuSeconds()-cpu0, total)}, nil
}

// jsPeer is one bench_udx.js process.
type jsPeer struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
	port  uint16
}

func startJS(ctx context.Context, env *interop.Env, args ...string) (*jsPeer, error) {
	cmd := env.Command(ctx, "bench_udx.js", args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &jsPeer{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	v, err := p.expect("port ")
	if err != nil {
		return nil, err
	}
	port, err := strconv.Atoi(v)
	if err != nil {
		return nil, err
	}
	p.port = uint16(port)
	return p, nil
}

func (p *jsPeer) expect(prefix string) (string, error) {
	for p.out.Scan() {
		if l := p.out.Text(); strings.HasPrefix(l, prefix) {
			return strings.TrimSpace(strings.TrimPrefix(l, prefix)), nil
		}
	}
	return "", errors.New("bench_udx.js exited before printing " + strings.TrimSpace(prefix))
}

func (p *jsPeer) connect(port uint16) error {
	_, err := fmt.Fprintf(p.stdin, "connect %d\n", port)
	return err
}

func (p *jsPeer) addr() netip.AddrPort {
	return netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), p.port)
}

func (p *jsPeer) cpu() (float64, error) {
	v, err := p.expect("cpu ")
	if err != nil {
		return 0, err
	}
	_ = p.stdin.Close()
	_ = p.cmd.Wait()
	return strconv.ParseFloat(v, 64)
}

// done parses "done <bytes> <ms>".
func (p *jsPeer) done(total int64) (time.Duration, error) {
	v, err := p.expect("done ")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(v)
	if len(f) != 2 || f[0] != strconv.FormatInt(total, 10) {
		return 0, fmt.Errorf("JS receiver reported %q", v)
	}
	ms, err := strconv.ParseFloat(f[1], 64)
	return time.Duration(ms * float64(time.Millisecond)), err
}

func goToJS(env *interop.Env, total int64) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := startJS(ctx, env, "recv", "2", "1")
	if err != nil {
		return result{}, err
	}
	u := udx.New(nil)
	sock, err := u.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	defer sock.Close()
	s, err := udx.Connect(sock, 1, 2, p.addr(), nil)
	if err != nil {
		return result{}, err
	}
	defer s.Destroy()
	if err := p.connect(sock.LocalAddr().Port()); err != nil {
		return result{}, err
	}
	go io.Copy(io.Discard, s)
	cpu0 := cpuSeconds()
	if err := writeAll(s, total); err != nil {
		return result{}, err
	}
	s.CloseWrite()
	d, err := p.done(total)
	if err != nil {
		return result{}, err
	}
	goCPU := cpuSeconds() - cpu0
	jsCPU, err := p.cpu()
	if err != nil {
		return result{}, err
	}
	return result{mibs(total, d), perGiB(goCPU+jsCPU, total)}, nil
}

func jsToGo(env *interop.Env, total int64) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p, err := startJS(ctx, env, "send", "2", "1", strconv.FormatInt(total, 10))
	if err != nil {
		return result{}, err
	}
	u := udx.New(nil)
	sock, err := u.Listen("udp4", "127.0.0.1:0")
	if err != nil {
		return result{}, err
	}
	defer sock.Close()
	s, err := udx.Connect(sock, 1, 2, p.addr(), nil)
	if err != nil {
		return result{}, err
	}
	defer s.Destroy()
	cpu0 := cpuSeconds()
	if err := p.connect(sock.LocalAddr().Port()); err != nil {
		return result{}, err
	}
	buf := make([]byte, 256<<10)
	var n int64
	var start time.Time
	for {
		k, err := s.Read(buf)
		if n == 0 && k > 0 {
			start = time.Now()
		}
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return result{}, err
		}
	}
	d := time.Since(start)
	s.CloseWrite()
	goCPU := cpuSeconds() - cpu0
	if n != total {
		return result{}, fmt.Errorf("received %d of %d bytes", n, total)
	}
	jsCPU, err := p.cpu()
	if err != nil {
		return result{}, err
	}
	return result{mibs(total, d), perGiB(goCPU+jsCPU, total)}, nil
}

func jsToJS(env *interop.Env, total int64) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	r, err := startJS(ctx, env, "recv", "2", "1")
	if err != nil {
		return result{}, err
	}
	w, err := startJS(ctx, env, "send", "1", "2", strconv.FormatInt(total, 10))
	if err != nil {
		return result{}, err
	}
	if err := r.connect(w.port); err != nil {
		return result{}, err
	}
	if err := w.connect(r.port); err != nil {
		return result{}, err
	}
	d, err := r.done(total)
	if err != nil {
		return result{}, err
	}
	rc, err := r.cpu()
	if err != nil {
		return result{}, err
	}
	wc, err := w.cpu()
	if err != nil {
		return result{}, err
	}
	return result{mibs(total, d), perGiB(rc+wc, total)}, nil
}
