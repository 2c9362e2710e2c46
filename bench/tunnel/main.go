// Command tunnel compares bulk TCP throughput through a warren tunnel and
// through a holesail-style JS tunnel (interop/js/tunnel_peer.js), in one
// run on one local DHT.
//
// Each side is two processes, a tunnel server and a tunnel client (`warren
// tunnel serve` / `warren tunnel connect`, or the JS peer's server and
// client). This process runs the DHT (a Go bootstrapper and three nodes on
// loopback), a TCP service that sends -size bytes to every connection, and
// the reader, which connects to the tunnel client's port and times the
// download. The median of -runs downloads is reported; the last line is
//
//	tunnel: go=<MiB/s> js=<MiB/s> unit=MiB/s ratio=<go/js>
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/interop"
	"github.com/warrenp2p/warren/udx"
)

func main() {
	size := flag.Int("size", 256, "MiB per download")
	runs := flag.Int("runs", 3, "downloads per side (the median is reported)")
	flag.Parse()
	if err := run(*size<<20, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "tunnel:", err)
		os.Exit(1)
	}
}

// source serves size bytes of one random block repeated to every
// connection, then closes.
func source(size int) (int, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, nil, err
	}
	block := make([]byte, 256*1024)
	rand.Read(block)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for left := size; left > 0; {
					n := min(left, len(block))
					if _, err := c.Write(block[:n]); err != nil {
						return
					}
					left -= n
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, func() { ln.Close() }, nil
}

// peer is a tunnel process whose stdout is read line by line.
type peer struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func startPeer(cmd *exec.Cmd) (*peer, error) {
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &peer{cmd: cmd, stdin: in, out: bufio.NewScanner(out)}, nil
}

// expect returns the rest of the next line starting with prefix.
func (p *peer) expect(prefix string) (string, error) {
	for p.out.Scan() {
		if l, ok := strings.CutPrefix(p.out.Text(), prefix); ok {
			return strings.TrimSpace(l), nil
		}
	}
	return "", fmt.Errorf("%s exited before printing %q", p.cmd.Path, prefix)
}

// stop ends the process: closing stdin ends the JS peer, SIGINT warren.
func (p *peer) stop() {
	p.stdin.Close()
	p.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// download reads one full transfer through the tunnel at addr; MiB/s.
func download(addr string, size int) (float64, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Minute))
	start := time.Now()
	n, err := io.Copy(io.Discard, c)
	el := time.Since(start)
	if err != nil {
		return 0, err
	}
	if n != int64(size) {
		return 0, fmt.Errorf("got %d bytes, want %d", n, size)
	}
	return float64(size) / (1 << 20) / el.Seconds(), nil
}

func median(v []float64) float64 {
	sort.Float64s(v)
	return v[len(v)/2]
}

// measure runs downloads through the tunnel whose client listens at addr.
func measure(name, addr string, size, runs int) (float64, error) {
	var r []float64
	for i := 0; i < runs; i++ {
		m, err := download(addr, size)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", name, err)
		}
		r = append(r, m)
	}
	med := median(r)
	fmt.Printf("%s: %.1f MiB/s median of %d (%s)\n", name, med, runs, fmtAll(r))
	return med, nil
}

func fmtAll(v []float64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(x, 'f', 1, 64)
	}
	return strings.Join(s, " ")
}

func run(size, runs int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	env, err := interop.Lookup()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "bench-tunnel")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "warren")
	build := exec.Command("go", "build", "-o", bin, "./cmd/warren")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("building warren: %w", err)
	}

	// The DHT: a bootstrapper and three persistent nodes on loopback.
	lc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return err
	}
	bport := uint16(lc.LocalAddr().(*net.UDPAddr).Port)
	lc.Close()
	u := udx.New(&udx.Config{NoBatch: true})
	boot, err := hyperdht.NewBootstrapper("127.0.0.1", bport, &hyperdht.Config{DHT: dht.Config{Host: "127.0.0.1", UDX: u}})
	if err != nil {
		return err
	}
	defer boot.Close()
	bs := fmt.Sprintf("127.0.0.1:%d", bport)
	f := false
	for i := 0; i < 3; i++ {
		n, err := hyperdht.New(&hyperdht.Config{DHT: dht.Config{Host: "127.0.0.1", Bootstrap: []string{bs}, Ephemeral: &f, Firewalled: &f, UDX: u}})
		if err != nil {
			return err
		}
		defer n.Close()
		if err := n.Bootstrapped(ctx); err != nil {
			return err
		}
	}
	port, closeSource, err := source(size)
	if err != nil {
		return err
	}
	defer closeSource()
	fmt.Printf("bulk download through a tunnel, %d MiB x %d runs per side, loopback\n", size>>20, runs)

	// Go: warren tunnel serve + warren tunnel connect.
	gsrv, err := startPeer(exec.CommandContext(ctx, bin, "--bootstrap", bs, "--log-level", "warn", "tunnel", "serve", "--public", "--port", strconv.Itoa(port)))
	if err != nil {
		return err
	}
	defer gsrv.stop()
	key, err := gsrv.expect("")
	if err != nil {
		return err
	}
	gcl, err := startPeer(exec.CommandContext(ctx, bin, "--bootstrap", bs, "--log-level", "warn", "tunnel", "connect", key, "--public", "--port", "0"))
	if err != nil {
		return err
	}
	defer gcl.stop()
	gaddr, err := gcl.expect("listening ")
	if err != nil {
		return err
	}
	goRate, err := measure("go", gaddr, size, runs)
	if err != nil {
		return err
	}
	gcl.stop()
	gsrv.stop()

	// JS: tunnel_peer.js server + client.
	seed := make([]byte, 32)
	rand.Read(seed)
	jsrv, err := startPeer(env.Command(ctx, "tunnel_peer.js", "server", bs, strconv.Itoa(port), hex.EncodeToString(seed), "public"))
	if err != nil {
		return err
	}
	defer jsrv.stop()
	jkey, err := jsrv.expect("key ")
	if err != nil {
		return err
	}
	jcl, err := startPeer(env.Command(ctx, "tunnel_peer.js", "client", bs, jkey, "public"))
	if err != nil {
		return err
	}
	defer jcl.stop()
	jport, err := jcl.expect("listening ")
	if err != nil {
		return err
	}
	jsRate, err := measure("js", "127.0.0.1:"+jport, size, runs)
	if err != nil {
		return err
	}
	fmt.Printf("tunnel: go=%.1f js=%.1f unit=MiB/s ratio=%.2f\n", goRate, jsRate, goRate/jsRate)
	return nil
}
