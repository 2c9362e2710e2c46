package interop

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/warrenp2p/warren/hyperdht"
	"github.com/warrenp2p/warren/keyid"
)

// The drive CLI tests run the warren binary (built once per test run) and
// JS hyperdrive peers on hyperswarm (js/drive_cli_peer.js) on one local
// network bootstrapped by an in-process Go node.

var (
	warrenOnce sync.Once
	warrenPath string
	warrenErr  error
)

// warrenBinary builds cmd/warren once and returns its path.
func warrenBinary(t *testing.T) string {
	t.Helper()
	warrenOnce.Do(func() {
		dir, err := os.MkdirTemp("", "warren-interop-bin")
		if err != nil {
			warrenErr = err
			return
		}
		warrenPath = filepath.Join(dir, "warren")
		cmd := exec.Command("go", "build", "-o", warrenPath, "./cmd/warren")
		cmd.Dir = filepath.Dir(Dir())
		if out, err := cmd.CombinedOutput(); err != nil {
			warrenErr = fmt.Errorf("building warren: %v\n%s", err, out)
		}
	})
	if warrenErr != nil {
		t.Fatal(warrenErr)
	}
	return warrenPath
}

// driveBootstrap starts a Go HyperDHT bootstrap node on loopback.
func driveBootstrap(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := c.LocalAddr().(*net.UDPAddr).Port
	c.Close()
	d, err := hyperdht.NewBootstrapper("127.0.0.1", uint16(port), &hyperdht.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return fmt.Sprintf("127.0.0.1:%d", port)
}

// startWarren runs the warren binary as a peer whose stdout lines the test
// reads (see Proc). Stop it with stopWarren.
func startWarren(t *testing.T, env *Env, args ...string) (*Proc, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(warrenBinary(t), args...)
	cmd.Env = append(os.Environ(), "WARREN_BOOTSTRAP=")
	return env.StartCmd(t, cmd, nil), cmd
}

// stopWarren ends a warren peer with SIGTERM and expects exit status 0.
func stopWarren(t *testing.T, p *Proc, cmd *exec.Cmd) {
	t.Helper()
	cmd.Process.Signal(syscall.SIGTERM)
	p.Wait(t)
}

// driveTree writes a folder of one large file of big bytes, n small files
// spread over 10 folders, an empty file and an executable script.
func driveTree(t *testing.T, big, n int) string {
	t.Helper()
	dir := t.TempDir()
	write := func(rel string, b []byte, mode os.FileMode) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, mode); err != nil {
			t.Fatal(err)
		}
	}
	rng := rand.NewChaCha8([32]byte{1})
	f, err := os.Create(filepath.Join(dir, "large.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.CopyN(f, rng, int64(big)); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		b := make([]byte, 1+i%3000)
		rng.Read(b)
		write(fmt.Sprintf("small/d%d/f%05d.bin", i%10, i), b, 0o644)
	}
	write("empty.txt", nil, 0o644)
	write("bin/run.sh", []byte("#!/bin/sh\necho warren\n"), 0o755)
	write("deep/a/b/c/d/readme.md", []byte("# nested\n"), 0o644)
	return dir
}

// driveSizes are the folder sizes: 200 MiB and 2,000 small files, or with
// WARREN_BIG=1 the 1 GiB and 10,000.
func driveSizes() (int, int) {
	if os.Getenv("WARREN_BIG") == "1" {
		return 1 << 30, 10000
	}
	return 200 << 20, 2000
}

// digestTree maps each regular file below dir to its size, executable bit
// and SHA-256.
func digestTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
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
		out[filepath.ToSlash(rel)] = fmt.Sprintf("%d x=%v %x", fi.Size(), fi.Mode()&0o100 != 0, h.Sum(nil))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameDriveTree fails unless both folders hold the same files.
func sameDriveTree(t *testing.T, want, got string) {
	t.Helper()
	a, b := digestTree(t, want), digestTree(t, got)
	bad := 0
	for k, v := range a {
		if b[k] != v && bad < 10 {
			bad++
			t.Errorf("%s: want %s, got %q", k, v, b[k])
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok && bad < 10 {
			bad++
			t.Errorf("%s: extra file in the copy", k)
		}
	}
	if len(a) != len(b) {
		t.Errorf("%d files, copy has %d", len(a), len(b))
	}
}

// waitFile waits until the file at p holds want.
func waitFile(t *testing.T, p string, want []byte) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if b, err := os.ReadFile(p); err == nil && bytes.Equal(b, want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never held %q", p, want)
}

// A JS hyperdrive on a JS hyperswarm clones what `warren share` publishes,
// byte for byte, and follows a change made to the shared folder.
func TestInteropDriveCLIGoShareJSClone(t *testing.T) {
	env := Require(t)
	boot := driveBootstrap(t)
	big, n := driveSizes()
	src := driveTree(t, big, n)

	sh, shCmd := startWarren(t, env, "--bootstrap", boot, "--storage", t.TempDir(), "share", "--interval", "200ms", src)
	key := sh.Line(t)
	if _, err := keyid.Decode(key); err != nil {
		t.Fatalf("share printed %q first: %v", key, err)
	}
	sh.Expect(t, "ready ")

	dst := filepath.Join(t.TempDir(), "js-copy")
	js := env.Start(t, "drive_cli_peer.js", "clone", boot, key, dst, "live")
	got := js.Expect(t, "cloned ")
	t.Logf("JS cloned %s (files bytes ms)", got)
	sameDriveTree(t, src, dst)

	// A change on the sharing side reaches the JS clone.
	live := []byte("changed while the JS peer follows\n")
	if err := os.WriteFile(filepath.Join(src, "deep", "a", "b", "c", "d", "readme.md"), live, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "added.txt"), []byte("added"), 0o644); err != nil {
		t.Fatal(err)
	}
	sh.Expect(t, "version ")
	waitFile(t, filepath.Join(dst, "added.txt"), []byte("added"))
	waitFile(t, filepath.Join(dst, "deep", "a", "b", "c", "d", "readme.md"), live)
	sameDriveTree(t, src, dst)

	fmt.Fprintln(js.Stdin, "exit")
	js.Wait(t)
	stopWarren(t, sh, shCmd)
}

// `warren clone` fetches a drive that a JS hyperdrive created and shares on
// a JS hyperswarm, byte for byte, and with --live follows a file the JS side
// writes afterwards.
func TestInteropDriveCLIJSShareGoClone(t *testing.T) {
	env := Require(t)
	boot := driveBootstrap(t)
	big, n := driveSizes()
	src := driveTree(t, big, n)

	js := env.Start(t, "drive_cli_peer.js", "share", boot, src)
	hexKey := js.Expect(t, "key ")
	js.Expect(t, "shared ")

	dst := filepath.Join(t.TempDir(), "go-copy")
	cl, clCmd := startWarren(t, env, "--bootstrap", boot, "--storage", t.TempDir(), "clone", "--live", hexKey, dst)
	sum := cl.Expect(t, "cloned ")
	t.Logf("warren cloned %s", sum)
	if !strings.Contains(sum, fmt.Sprintf("files=%d ", n+4)) {
		t.Errorf("summary %q: want %d files", sum, n+4)
	}
	sameDriveTree(t, src, dst)

	fmt.Fprintln(js.Stdin, "put /live/from-js.txt written by the JS peer")
	js.Expect(t, "version ")
	cl.Expect(t, "updated ")
	waitFile(t, filepath.Join(dst, "live", "from-js.txt"), []byte("written by the JS peer"))

	stopWarren(t, cl, clCmd)
	fmt.Fprintln(js.Stdin, "exit")
	js.Wait(t)
}
