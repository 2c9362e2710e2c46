package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// warrenBin is the binary TestMain builds for the tests that run it.
var warrenBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "warren-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	warrenBin = filepath.Join(dir, "warren")
	build := exec.Command("go", "build", "-o", warrenBin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building warren:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running warren process.
type proc struct {
	cmd    *exec.Cmd
	lines  chan string
	stderr *syncBuffer
	done   chan struct{}
	err    error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs warren with args (and a private storage directory); it is
// killed at the end of the test if still running.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(warrenBin, args...)
	cmd.Env = append(os.Environ(), "WARREN_STORAGE="+t.TempDir(), "WARREN_BOOTSTRAP=")
	p := &proc{cmd: cmd, lines: make(chan string, 16), stderr: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("warren %s stderr:\n%s", strings.Join(args, " "), p.stderr.String())
		}
	})
	return p
}

// line returns the next stdout line.
func (p *proc) line(t *testing.T) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			<-p.done
			t.Fatalf("warren exited (%v) before printing a line:\n%s", p.err, p.stderr.String())
		}
		return l
	case <-time.After(90 * time.Second):
		t.Fatalf("warren printed nothing:\n%s", p.stderr.String())
	}
	return ""
}

// stop sends SIGTERM and expects a clean exit 0.
func (p *proc) stop(t *testing.T) { t.Helper(); p.stopWith(t, syscall.SIGTERM) }

// stopWith sends sig and expects a clean exit 0.
func (p *proc) stopWith(t *testing.T, sig os.Signal) {
	t.Helper()
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("warren did not exit on SIGTERM:\n%s", p.stderr.String())
	}
	if p.err != nil {
		t.Fatalf("warren exited with %v on SIGTERM:\n%s", p.err, p.stderr.String())
	}
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// httpService answers every request with body and closes, HTTP/1.0 style.
func httpService(t *testing.T, body string) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					l, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if l == "\r\n" {
						break
					}
				}
				fmt.Fprintf(c, "HTTP/1.0 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func httpGet(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.0\r\n\r\n")
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A bootstrap node, a tunnel server and a tunnel client, each its own
// warren process on loopback, in public and private mode; SIGTERM and
// Ctrl-C (SIGINT) end each with status 0.
func TestTunnelEndToEnd(t *testing.T) {
	boot := start(t, "dht", "bootstrap", "--host", "127.0.0.1", "--port", fmt.Sprint(freeUDPPort(t)))
	l := boot.line(t)
	baddr, ok := strings.CutPrefix(l, "listening ")
	if !ok {
		t.Fatalf("bootstrap printed %q", l)
	}
	node := start(t, "--bootstrap", baddr, "dht", "node", "--host", "127.0.0.1", "--stats-interval", "100ms")
	if l := node.line(t); !strings.HasPrefix(l, "listening 127.0.0.1:") {
		t.Fatalf("node printed %q", l)
	}
	port := httpService(t, "hello through the tunnel")
	for _, mode := range []string{"--public", "--private"} {
		t.Run(mode, func(t *testing.T) {
			srv := start(t, "--bootstrap", baddr, "tunnel", "serve", "--port", fmt.Sprint(port), mode)
			key := srv.line(t)
			url := srv.line(t)
			if !strings.HasPrefix(url, "hs://") {
				t.Fatalf("second line %q is no hs:// URL", url)
			}
			for _, k := range []string{key, url} {
				cl := start(t, "--bootstrap", baddr, "tunnel", "connect", k, "--port", "0")
				addr, ok := strings.CutPrefix(cl.line(t), "listening ")
				if !ok {
					t.Fatal("connect printed no listening line")
				}
				resp := httpGet(t, addr)
				if !strings.HasSuffix(resp, "\r\n\r\nhello through the tunnel") {
					t.Fatalf("response %q", resp)
				}
				cl.stopWith(t, os.Interrupt) // Ctrl-C
			}
			srv.stop(t)
		})
	}
	// The node logs its stats at info level every --stats-interval.
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(node.stderr.String(), "msg=stats nodes="); {
		if time.Now().After(deadline) {
			t.Fatalf("dht node logged no stats:\n%s", node.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	node.stop(t)
	boot.stop(t)
}

// runWarren runs warren to completion and returns its exit code, stdout
// and stderr.
func runWarren(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(warrenBin, args...)
	cmd.Env = append(append(os.Environ(), "WARREN_BOOTSTRAP="), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

func TestErrorsExitNonZero(t *testing.T) {
	env := []string{"WARREN_STORAGE=" + t.TempDir()}
	for _, args := range [][]string{
		{"tunnel", "serve"},
		{"tunnel", "serve", "--port", "70000"},
		{"tunnel", "serve", "--port", "8000", "--key", "too-short"},
		{"tunnel", "serve", "--port", "8000", "--public", "--private"},
		{"tunnel", "connect"},
		{"tunnel", "connect", "not-a-key", "--public"},
		{"tunnel", "connect", "hs://0000nope"},
		{"--log-level", "loud", "version"},
		{"--bootstrap", "no-port", "tunnel", "serve", "--port", "8000"},
		{"dht", "bootstrap", "--host", "0.0.0.0"},
		{"no-such-command"},
	} {
		code, _, stderr := runWarren(t, env, args...)
		if code == 0 {
			t.Errorf("warren %v: exit 0", args)
			continue
		}
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "warren: ") {
			t.Errorf("warren %v: stderr not one warren: line:\n%s", args, stderr)
		}
	}
}

func TestKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "store")
	code, out1, stderr := runWarren(t, nil, "--storage", dir, "keys")
	if code != 0 || !strings.Contains(stderr, "created") {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	fi, err := os.Stat(filepath.Join(dir, identityFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	var z, h string
	if _, err := fmt.Sscanf(out1, "public-key %s\npublic-key-hex %s\n", &z, &h); err != nil || len(z) != 52 || len(h) != 64 {
		t.Fatalf("output %q: %v", out1, err)
	}
	code, out2, stderr := runWarren(t, []string{"WARREN_STORAGE=" + dir}, "keys")
	if code != 0 || out2 != out1 || strings.Contains(stderr, "created") {
		t.Fatalf("second run: exit %d, %q (was %q), stderr %q", code, out2, out1, stderr)
	}
}
