// Package interop runs the JavaScript reference implementations (pinned in
// package.json and installed with npm ci) against Warren's Go code.
//
// The tests of this package are named TestInterop...; each starts a JS peer
// script from interop/js and talks to it. When node or node_modules is
// missing they skip, unless WARREN_REQUIRE_INTEROP=1, when they fail.
package interop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// RequireEnv is the environment variable that turns a missing JS toolchain
// into a test failure instead of a skip.
const RequireEnv = "WARREN_REQUIRE_INTEROP"

// Env locates node and the interop directory holding node_modules.
type Env struct {
	Node string // path to the node binary
	Dir  string // the interop directory (holds package.json, js/, node_modules/)
}

// Dir returns the absolute path of the interop directory, found from this
// source file so it works from any package's tests and from bench tools.
func Dir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "interop"
	}
	return filepath.Dir(file)
}

// Lookup finds node and node_modules, or reports what is missing.
func Lookup() (*Env, error) {
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("interop: node is not on PATH")
	}
	dir := Dir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "hypercore-crypto")); err != nil {
		return nil, fmt.Errorf("interop: %s/node_modules is missing (run npm ci in interop/)", dir)
	}
	return &Env{Node: node, Dir: dir}, nil
}

// Require returns the environment or skips the test; with
// WARREN_REQUIRE_INTEROP=1 a missing toolchain fails the test instead.
func Require(tb testing.TB) *Env {
	tb.Helper()
	env, err := Lookup()
	if err != nil {
		if os.Getenv(RequireEnv) == "1" {
			tb.Fatalf("%v (and %s=1)", err, RequireEnv)
		}
		tb.Skip(err)
	}
	return env
}

// Script returns the path of a peer script in interop/js.
func (e *Env) Script(name string) string {
	return filepath.Join(e.Dir, "js", name)
}

// Command builds an exec.Cmd running interop/js/<script> with args.
func (e *Env) Command(ctx context.Context, script string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, e.Node, append([]string{e.Script(script)}, args...)...)
	cmd.Dir = e.Dir
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(e.Dir, "node_modules"))
	return cmd
}

// Run runs a script to completion with stdin as its input and returns its
// standard output. A non-zero exit fails the test, showing stderr.
func (e *Env) Run(tb testing.TB, stdin []byte, script string, args ...string) []byte {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	cmd := e.Command(ctx, script, args...)
	if stdin != nil {
		cmd.Stdin = strings.NewReader(string(stdin))
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		tb.Fatalf("node %s %v: %v\n%s", script, args, err, stderr.String())
	}
	return out
}

// hangGuard bounds how long a JS peer may run so a deadlock fails the test
// instead of hanging CI. It is not a performance limit.
const hangGuard = 5 * time.Minute

// Proc is a running JS peer. Its standard output is read line by line; its
// standard error is forwarded to the test log when the test ends.
type Proc struct {
	cmd    *exec.Cmd
	Stdin  io.WriteCloser
	lines  chan string
	stderr *lockedBuffer
	done   chan struct{}
	err    error
}

// Start launches a long-running script. It is killed when the test ends.
func (e *Env) Start(tb testing.TB, script string, args ...string) *Proc {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	return e.StartCmd(tb, e.Command(ctx, script, args...), cancel)
}

// StartCmd launches a peer from a command built elsewhere, such as one
// wrapped to run inside a network namespace; it gets the same working
// directory and NODE_PATH as Command gives. cancel, if not nil, is called
// when the test ends (pass the cancel of the command's context). The peer
// is killed when the test ends.
func (e *Env) StartCmd(tb testing.TB, cmd *exec.Cmd, cancel context.CancelFunc) *Proc {
	tb.Helper()
	if cancel == nil {
		cancel = func() {}
	}
	cmd.Dir = e.Dir
	if cmd.Env == nil {
		cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(e.Dir, "node_modules"))
	}
	name := strings.Join(cmd.Args, " ")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		tb.Fatal(err)
	}
	p := &Proc{cmd: cmd, Stdin: stdin, lines: make(chan string, 64), stderr: &lockedBuffer{}, done: make(chan struct{})}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		tb.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	tb.Cleanup(func() {
		_ = stdin.Close()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
		cancel()
		if s := p.stderr.String(); s != "" {
			tb.Logf("%s stderr:\n%s", name, s)
		}
	})
	return p
}

// Line returns the next line the peer printed. It fails the test if the
// peer exits first.
func (p *Proc) Line(tb testing.TB) string {
	tb.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			<-p.done
			tb.Fatalf("JS peer exited before printing a line: %v\n%s", p.err, p.stderr.String())
		}
		return l
	case <-time.After(hangGuard):
		tb.Fatalf("JS peer printed nothing for %v\n%s", hangGuard, p.stderr.String())
		return ""
	}
}

// Expect reads lines until one starts with prefix and returns the rest of
// that line, trimmed.
func (p *Proc) Expect(tb testing.TB, prefix string) string {
	tb.Helper()
	for {
		l := p.Line(tb)
		if strings.HasPrefix(l, prefix) {
			return strings.TrimSpace(strings.TrimPrefix(l, prefix))
		}
	}
}

// Wait waits for the peer to exit and fails the test on a non-zero status.
func (p *Proc) Wait(tb testing.TB) {
	tb.Helper()
	_ = p.Stdin.Close()
	select {
	case <-p.done:
	case <-time.After(hangGuard):
		tb.Fatalf("JS peer did not exit\n%s", p.stderr.String())
	}
	if p.err != nil {
		tb.Fatalf("JS peer failed: %v\n%s", p.err, p.stderr.String())
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
