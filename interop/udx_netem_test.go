package interop

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warrenp2p/warren/internal/netlab"
	"github.com/warrenp2p/warren/udx"
)

// nsPeer is interop/js/udx.js running inside a netlab host.
type nsPeer struct {
	stdin io.WriteCloser
	lines chan string
}

func startNSPeer(t *testing.T, env *Env, h *netlab.Host, args ...string) *nsPeer {
	return startNSScript(t, env, h, "udx.js", args...)
}

func startNSScript(t *testing.T, env *Env, h *netlab.Host, script string, args ...string) *nsPeer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	cmd := h.Command(ctx, env.Node, append([]string{env.Script(script)}, args...)...)
	cmd.Dir = env.Dir
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(env.Dir, "node_modules"), "UDX_BIND="+h.Addr.String())
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	p := &nsPeer{stdin: stdin, lines: make(chan string, 16)}
	done := make(chan struct{})
	go func() {
		defer close(p.lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
	}()
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		cancel()
		if s := stderr.String(); s != "" {
			t.Logf("node stderr: %s", s)
		}
	})
	return p
}

func (p *nsPeer) expect(t *testing.T, prefix string) string {
	t.Helper()
	for l := range p.lines {
		if strings.HasPrefix(l, prefix) {
			return strings.TrimSpace(strings.TrimPrefix(l, prefix))
		}
	}
	t.Fatalf("JS peer exited before printing %q", prefix)
	return ""
}

// TestInteropUDXNetem runs Go-to-JS and JS-to-Go transfers over a lossy,
// reordering, duplicating 20 ms link between two network namespaces.
func TestInteropUDXNetem(t *testing.T) {
	env := Require(t)
	netlab.Require(t)
	const size = 4 << 20
	for _, n := range []netlab.Netem{
		{Delay: 10 * time.Millisecond, Loss: 1, Reorder: 2, Duplicate: 1},
		{Delay: 10 * time.Millisecond, Loss: 5, Reorder: 5, Duplicate: 1},
		{Delay: 10 * time.Millisecond, Loss: 10, Reorder: 5, Duplicate: 2},
	} {
		t.Run(fmt.Sprintf("loss%.0f", n.Loss), func(t *testing.T) {
			lab := netlab.New(t)
			hg := lab.Host("go", netlab.HostConfig{})
			hj := lab.Host("js", netlab.HostConfig{})
			if err := setNetem(hg, n); err != nil {
				t.Fatal(err)
			}
			u := udx.New(nil)
			var sock *udx.Socket
			if err := hg.Run(func() (err error) {
				sock, err = u.Listen("udp4", netip.AddrPortFrom(hg.Addr, 0).String())
				return err
			}); err != nil {
				t.Fatal(err)
			}
			defer sock.Close()
			jsPort := func(p *nsPeer) netip.AddrPort {
				port, err := strconv.Atoi(p.expect(t, "port "))
				if err != nil {
					t.Fatal(err)
				}
				return netip.AddrPortFrom(hj.Addr, uint16(port))
			}

			// Go -> JS
			start := time.Now()
			p := startNSPeer(t, env, hj, "sink", "2", "1")
			s, err := udx.Connect(sock, 1, 2, jsPort(p), nil)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(p.stdin, "connect %d %s\n", sock.LocalAddr().Port(), hg.Addr)
			sum, err := writeRandom(s, size, 3)
			if err != nil {
				t.Fatal(err)
			}
			s.CloseWrite()
			if got, want := p.expect(t, "recv "), fmt.Sprintf("%d %s", size, sum); got != want {
				t.Fatalf("JS received %q, want %q", got, want)
			}
			if rest, err := io.ReadAll(s); err != nil || string(rest) != "after-end" {
				t.Fatalf("read after end: %q %v", rest, err)
			}
			t.Logf("Go->JS %v: %v, %+v", n, time.Since(start), s.Stats())

			// JS -> Go
			start = time.Now()
			p = startNSPeer(t, env, hj, "source", "4", "3", strconv.Itoa(size))
			s, err = udx.Connect(sock, 3, 4, jsPort(p), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Destroy()
			fmt.Fprintf(p.stdin, "connect %d %s\n", sock.LocalAddr().Port(), hg.Addr)
			h := sha256.New()
			got, err := io.Copy(h, s)
			if err != nil {
				t.Fatal(err)
			}
			if sent, want := p.expect(t, "sent "), fmt.Sprintf("%d %x", got, h.Sum(nil)); sent != want {
				t.Fatalf("JS sent %q, Go received %q", sent, want)
			}
			s.CloseWrite()
			p.expect(t, "closed")
			t.Logf("JS->Go %v: %v", n, time.Since(start))
		})
	}
}

// LossyBenchEnv turns on TestInteropUDXLossyBench, the lossy case of
// bench/udx (it is a benchmark, not a check, so it does not run by default).
const LossyBenchEnv = "WARREN_UDX_LOSSY_BENCH"

// TestInteropUDXLossyBench measures goodput of one bulk stream over a
// 20 ms round trip with 1% loss on each leg, Go to Go, Go to JS and JS to
// JS, and prints "udx-lossy: go=<MiB/s> gojs=<MiB/s> js=<MiB/s>".
func TestInteropUDXLossyBench(t *testing.T) {
	if os.Getenv(LossyBenchEnv) != "1" {
		t.Skip("set " + LossyBenchEnv + "=1 (bench/udx does)")
	}
	env := Require(t)
	netlab.Require(t)
	size, _ := strconv.Atoi(os.Getenv("WARREN_UDX_LOSSY_BYTES"))
	if size <= 0 {
		size = 32 << 20
	}
	lab := netlab.New(t)
	ha := lab.Host("a", netlab.HostConfig{})
	hb := lab.Host("b", netlab.HostConfig{})
	if err := ha.SetNetem(netlab.Netem{Delay: 10 * time.Millisecond, Loss: 1}); err != nil {
		t.Fatal(err)
	}
	mibs := func(d time.Duration) float64 { return float64(size) / (1 << 20) / d.Seconds() }
	listen := func(h *netlab.Host, u *udx.UDX) *udx.Socket {
		var s *udx.Socket
		if err := h.Run(func() (err error) {
			s, err = u.Listen("udp4", netip.AddrPortFrom(h.Addr, 0).String())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	jsDone := func(p *nsPeer) time.Duration {
		f := strings.Fields(p.expect(t, "done "))
		if len(f) != 2 || f[0] != strconv.Itoa(size) {
			t.Fatalf("JS receiver reported %v", f)
		}
		ms, _ := strconv.ParseFloat(f[1], 64)
		return time.Duration(ms * float64(time.Millisecond))
	}

	// Go -> Go
	u := udx.New(nil)
	a, b := listen(ha, u), listen(hb, u)
	sa, _ := udx.Connect(a, 1, 2, b.LocalAddr(), nil)
	sb, _ := udx.Connect(b, 2, 1, a.LocalAddr(), nil)
	go func() { writeRandom(sa, size, 5); sa.CloseWrite() }()
	buf := make([]byte, 1<<20)
	var n int
	var start time.Time
	for {
		k, err := sb.Read(buf)
		if n == 0 && k > 0 {
			start = time.Now()
		}
		n += k
		if err != nil {
			break
		}
	}
	if n != size {
		t.Fatalf("Go received %d of %d", n, size)
	}
	goGo := mibs(time.Since(start))
	sa.Destroy()
	sb.Destroy()

	// Go -> JS
	r := startNSScript(t, env, hb, "bench_udx.js", "recv", "4", "3")
	port, _ := strconv.Atoi(r.expect(t, "port "))
	s, err := udx.Connect(a, 3, 4, netip.AddrPortFrom(hb.Addr, uint16(port)), nil)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(r.stdin, "connect %d %s\n", a.LocalAddr().Port(), ha.Addr)
	go io.Copy(io.Discard, s)
	if _, err := writeRandom(s, size, 6); err != nil {
		t.Fatal(err)
	}
	s.CloseWrite()
	goJS := mibs(jsDone(r))
	s.Close()

	// JS -> JS
	r = startNSScript(t, env, hb, "bench_udx.js", "recv", "6", "5")
	w := startNSScript(t, env, ha, "bench_udx.js", "send", "5", "6", strconv.Itoa(size))
	rp, wp := r.expect(t, "port "), w.expect(t, "port ")
	fmt.Fprintf(r.stdin, "connect %s %s\n", wp, ha.Addr)
	fmt.Fprintf(w.stdin, "connect %s %s\n", rp, hb.Addr)
	jsJS := mibs(jsDone(r))
	fmt.Printf("udx-lossy: go=%.1f gojs=%.1f js=%.1f unit=MiB/s\n", goGo, goJS, jsJS)
}

// setNetem impairs both legs of h's link with n, except that frames are
// reordered only on the way out: reordered frames skip the delay, and
// with both legs reordered a few round trips would measure ~0 ms, which
// (as in libudx's BBR) collapses the window for ten seconds.
func setNetem(h *netlab.Host, n netlab.Netem) error {
	in := n
	in.Reorder = 0
	return h.SetNetemEach(n, in)
}
