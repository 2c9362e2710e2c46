package hypercore

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
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
	c, err := Open(dir, Options{KeyPair: &kp, EncryptionKey: bytes.Repeat([]byte{1}, 32), Sync: os.Getenv(crashEnv+"_SYNC") != ""})
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

// TestCrashKill kills the writer with SIGKILL at random moments (every
// other run with Options.Sync, the others with the default that leaves
// writes in the kernel unsynced), reopens
// the core after each kill and audits it from scratch: every block against
// the tree, the signature of the head, and the head at least as new as the
// last acknowledged one.
func TestCrashKill(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test is slow")
	}
	dir := t.TempDir()
	kills := 30
	rng := rand.New(rand.NewPCG(42, 7))
	var lastLen, lastFork uint64
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.v=false")
		cmd.Env = append(os.Environ(), crashEnv+"="+dir)
		if k%2 == 1 {
			// Half the runs with fsync: a killed process must not lose
			// acknowledged writes either way.
			cmd.Env = append(cmd.Env, crashEnv+"_SYNC=1")
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

		kp := crashKeyPair()
		c, err := Open(dir, Options{KeyPair: &kp, EncryptionKey: bytes.Repeat([]byte{1}, 32)})
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
		t.Logf("kill %d: length %d fork %d (acknowledged %d/%d)", k, l, f, lastLen, lastFork)
	}
	if lastLen == 0 {
		t.Fatal("the writer never got anything done")
	}
}
