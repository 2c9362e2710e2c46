// Command drive-clone compares cloning a shared folder with warren and with
// the JS stack (hyperdrive + mirror-drive + localdrive on hyperswarm), in
// one run, on a local network bootstrapped by an in-process Go node.
//
// The folder is one large file (-size bytes, default 1 GiB) and -files
// small files (default 10,000, 1 to 3,000 bytes each). The Go side is
// `warren share DIR` and `warren clone KEY DIR` (the built binary); the JS
// side is interop/js/drive_cli_peer.js share and clone. Each clone runs
// in a fresh storage directory and is timed from process start to exit,
// then its copy is checked against the folder. The last line is
//
//	drive-clone: go=<MiB/s> js=<MiB/s> unit=MiB/s ratio=<go/js>
package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/interop"
)

func main() {
	size := flag.Int64("size", 1<<30, "bytes in the large file")
	files := flag.Int("files", 10000, "number of small files")
	verify := flag.Bool("verify", true, "check both copies against the folder")
	flag.Parse()
	if err := run(*size, *files, *verify); err != nil {
		fmt.Fprintln(os.Stderr, "drive-clone:", err)
		os.Exit(1)
	}
}

func run(size int64, files int, verify bool) error {
	env, err := interop.Lookup()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "bench-drive-clone")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)

	bin := filepath.Join(work, "warren")
	build := exec.Command("go", "build", "-o", bin, "./cmd/warren")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building warren: %v\n%s", err, out)
	}
	src := filepath.Join(work, "src")
	total, err := makeFolder(src, size, files)
	if err != nil {
		return err
	}
	fmt.Printf("folder: %d bytes in %d files\n", total, files+1)

	boot, closeBoot, err := bootstrap()
	if err != nil {
		return err
	}
	defer closeBoot()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()

	// Go: warren share, then a timed warren clone.
	share := exec.CommandContext(ctx, bin, "--bootstrap", boot, "--storage", filepath.Join(work, "go-share"), "share", src)
	shareOut, err := startLines(share)
	if err != nil {
		return err
	}
	key, err := expect(shareOut, "", 30*time.Minute)
	if err != nil {
		return fmt.Errorf("warren share: %v", err)
	}
	if _, err := expect(shareOut, "ready ", 30*time.Minute); err != nil {
		return fmt.Errorf("warren share: %v", err)
	}
	goDst := filepath.Join(work, "go-copy")
	t0 := time.Now()
	out, err := exec.CommandContext(ctx, bin, "--bootstrap", boot, "--storage", filepath.Join(work, "go-clone"),
		"clone", key, goDst).CombinedOutput()
	goTime := time.Since(t0)
	stop(share)
	if err != nil {
		return fmt.Errorf("warren clone: %v\n%s", err, out)
	}
	fmt.Printf("go: %.2f s, %.1f MiB/s\n", goTime.Seconds(), mib(total, goTime))
	if verify {
		if err := sameFolder(src, goDst); err != nil {
			return fmt.Errorf("go copy: %v", err)
		}
	}
	os.RemoveAll(goDst)
	os.RemoveAll(filepath.Join(work, "go-clone"))
	os.RemoveAll(filepath.Join(work, "go-share"))

	// JS: hyperdrive share, then a timed hyperdrive clone.
	jsShare := env.Command(ctx, "drive_cli_peer.js", "share", boot, src)
	stdin, err := jsShare.StdinPipe()
	if err != nil {
		return err
	}
	jsOut, err := startLines(jsShare)
	if err != nil {
		return err
	}
	defer stdin.Close()
	jsKey, err := expect(jsOut, "key ", 30*time.Minute)
	if err != nil {
		return fmt.Errorf("js share: %v", err)
	}
	if _, err := expect(jsOut, "shared ", 30*time.Minute); err != nil {
		return fmt.Errorf("js share: %v", err)
	}
	jsDst := filepath.Join(work, "js-copy")
	t0 = time.Now()
	out, err = env.Command(ctx, "drive_cli_peer.js", "clone", boot, jsKey, jsDst).CombinedOutput()
	jsTime := time.Since(t0)
	fmt.Fprintln(stdin, "exit")
	stop(jsShare)
	if err != nil {
		return fmt.Errorf("js clone: %v\n%s", err, out)
	}
	fmt.Printf("js: %.2f s, %.1f MiB/s\n", jsTime.Seconds(), mib(total, jsTime))
	if verify {
		if err := sameFolder(src, jsDst); err != nil {
			return fmt.Errorf("js copy: %v", err)
		}
	}
	g, j := mib(total, goTime), mib(total, jsTime)
	fmt.Printf("drive-clone: go=%.1f js=%.1f unit=MiB/s ratio=%.2f\n", g, j, g/j)
	return nil
}

func mib(n int64, d time.Duration) float64 { return float64(n) / (1 << 20) / d.Seconds() }

// makeFolder writes the large file and the small files and returns the
// total size.
func makeFolder(dir string, size int64, files int) (int64, error) {
	rng := rand.NewChaCha8([32]byte{42})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	f, err := os.Create(filepath.Join(dir, "large.bin"))
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if _, err := io.CopyN(w, rng, size); err != nil {
		f.Close()
		return 0, err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	total := size
	for i := range files {
		b := make([]byte, 1+i%3000)
		rng.Read(b)
		p := filepath.Join(dir, "small", fmt.Sprintf("d%02d", i%100), fmt.Sprintf("f%05d.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return 0, err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return 0, err
		}
		total += int64(len(b))
	}
	return total, nil
}

// bootstrap starts a Go HyperDHT bootstrap node on loopback.
func bootstrap() (string, func(), error) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	d, err := hyperdht.NewBootstrapper("127.0.0.1", uint16(port), &hyperdht.Config{})
	if err != nil {
		return "", nil, err
	}
	return fmt.Sprintf("127.0.0.1:%d", port), func() { d.Close() }, nil
}

// startLines starts cmd and returns its stdout lines.
func startLines(cmd *exec.Cmd) (<-chan string, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := make(chan string, 16)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	return lines, nil
}

// expect returns the rest of the first line starting with prefix.
func expect(lines <-chan string, prefix string, timeout time.Duration) (string, error) {
	t := time.After(timeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return "", fmt.Errorf("exited before printing %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return strings.TrimSpace(strings.TrimPrefix(l, prefix)), nil
			}
		case <-t:
			return "", fmt.Errorf("no %q line within %v", prefix, timeout)
		}
	}
}

// stop ends a peer with SIGTERM (killing it after 10 s).
func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// sameFolder checks that got holds exactly the files of want.
func sameFolder(want, got string) error {
	a, err := digests(want)
	if err != nil {
		return err
	}
	b, err := digests(got)
	if err != nil {
		return err
	}
	if len(a) != len(b) {
		return fmt.Errorf("%d files, copy has %d", len(a), len(b))
	}
	for k, v := range a {
		if b[k] != v {
			return fmt.Errorf("%s differs", k)
		}
	}
	return nil
}

func digests(dir string) (map[string][32]byte, error) {
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		var s [32]byte
		copy(s[:], h.Sum(nil))
		out[rel] = s
		return nil
	})
	return out, err
}
