package hypercore

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warrenp2p/warren/crypto"
)

const crashEnv = "HYPERCORE_CRASH_DIR"

func crashKeyPair() crypto.KeyPair {
	kp, _ := crypto.KeyPairFromSeed(bytes.Repeat([]byte{0x5c}, 32))
	return kp
}

// TestCrashHelper is the writer process of TestCrashKill: it appends and
// truncates in a loop and prints "ack LENGTH FORK" after every operation
// that returned. It only runs when re-executed by TestCrashKill.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashEnv)
	if dir == "" {
		t.Skip("helper process of TestCrashKill")
	}
	kp := crashKeyPair()
	c, err := openCrashCore(dir, Options{KeyPair: &kp, EncryptionKey: bytes.Repeat([]byte{1}, 32), Sync: os.Getenv(crashEnv+"_SYNC") != ""}, os.Getenv(crashEnv+"_SHARED") != "")
	if err != nil {
		fmt.Println("error", err)
		os.Exit(2)
	}
	out := bufio.NewWriter(os.Stdout)
	ack := func() {
		fmt.Fprintf(out, "ack %d %d\n", c.Length(), c.Fork())
		out.Flush()
	}
	ack()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for {
		if c.Length() > 20 && rng.IntN(10) == 0 {
			cut := c.Length() - uint64(rng.IntN(20)) - 1
			if c.Length() > 3000 {
				cut = c.Length() / 2 // keep the audits quick
			}
			if err := c.Truncate(cut); err != nil {
				fmt.Println("error", err)
				os.Exit(2)
			}
		} else {
			n := 1 + rng.IntN(64)
			blocks := make([][]byte, n)
			for i := range blocks {
				blocks[i] = bytes.Repeat([]byte(fmt.Sprintf("%d/%d;", c.Length()+uint64(i), c.Fork())), 1+rng.IntN(40))
			}
			if _, err := c.Append(blocks...); err != nil {
				fmt.Println("error", err)
				os.Exit(2)
			}
		}
		ack()
	}
}

// openCrashCore opens the core of the crash test in dir: on its own, or
// (shared) in a Storage in dir/storage with blocks in dir/core. Closing the
// core also closes the Storage.
func openCrashCore(dir string, opts Options, shared bool) (*Core, error) {
	if !shared {
		return Open(dir, opts)
	}
	s, err := OpenStorage(filepath.Join(dir, "storage"), StorageOptions{Sync: opts.Sync})
	if err != nil {
		return nil, err
	}
	defer s.Close() // takes effect when the core is closed
	return s.Open([]byte("crash"), filepath.Join(dir, "core"), opts)
}

// TestCrashKill kills the writer with SIGKILL at random moments (in turn
// with the default that leaves writes in the kernel unsynced, with
// Options.Sync, and in a shared Storage, each in a directory of its own),
// reopens
// the core after each kill and audits it from scratch: every block against
// the tree, the signature of the head, and the head at least as new as the
// last acknowledged one.
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test is slow")
	}
	dirs := [3]string{t.TempDir(), t.TempDir(), t.TempDir()}
	kills := 30
	rng := rand.New(rand.NewPCG(42, 7))
	var lasts [3][2]uint64
	for k := range kills {
		mode := k % 3
		dir := dirs[mode]
		lastLen, lastFork := lasts[mode][0], lasts[mode][1]
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.v=false")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		switch mode {
		case 1:
			// With fsync: a killed process must not lose acknowledged
			// writes either way.
			cmd.Env = append(cmd.Env, crashEnv+"_SYNC=1")
		case 2:
			cmd.Env = append(cmd.Env, crashEnv+"_SHARED=1")
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		acks := make(chan [2]uint64, 1024)
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				line := sc.Text()
				var l, f uint64
				if _, err := fmt.Sscanf(line, "ack %d %d", &l, &f); err == nil {
					acks <- [2]uint64{l, f}
				} else if strings.HasPrefix(line, "error") {
					t.Errorf("helper: %s", line)
				}
			}
		}()
		// Wait for the first ack (the core opened), then kill at a random
		// moment of the write loop.
		select {
		case a := <-acks:
			lastLen, lastFork = a[0], a[1]
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Fatal("helper did not start")
		}
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		cmd.Wait()
		close(acks)
		for a := range acks {
			lastLen, lastFork = a[0], a[1]
		}

		lasts[mode] = [2]uint64{lastLen, lastFork}
		kp := crashKeyPair()
		c, err := openCrashCore(dir, Options{KeyPair: &kp, EncryptionKey: bytes.Repeat([]byte{1}, 32)}, mode == 2)
		if err != nil {
			t.Fatalf("kill %d: reopen: %v", k, err)
		}
		l, f := c.Length(), c.Fork()
		switch {
		case f == lastFork && l >= lastLen:
		case f == lastFork+1: // a truncation was in flight
		default:
			c.Close()
			t.Fatalf("kill %d: head length %d fork %d, last acknowledged %d fork %d", k, l, f, lastLen, lastFork)
		}
		verifyAll(t, c)
		if c.ContiguousLength() != l {
			t.Fatalf("kill %d: contiguous %d of %d", k, c.ContiguousLength(), l)
		}
		for i := range l {
			v, err := c.Get(t.Context(), i, GetOptions{})
			if err != nil || !bytes.HasPrefix(v, []byte(fmt.Sprintf("%d/", i))) {
				t.Fatalf("kill %d: block %d = %q %v", k, i, v, err)
			}
		}
		c.Close()
		t.Logf("kill %d (mode %d): length %d fork %d (acknowledged %d/%d)", k, mode, l, f, lastLen, lastFork)
	}
	for mode, last := range lasts {
		if last[0] == 0 {
			t.Fatalf("mode %d: the writer never got anything done", mode)
		}
	}
}
