// Command dht-memory compares the resident memory per DHT node of Warren
// and of the JS dht-rpc, each running a testnet of n nodes in one process
// on 127.0.0.1, in one run.
//
// The Go side is this program started again as a child process (so the
// figure is the memory of the testnet alone, not of the go tool); the JS
// side is interop/js/dht_memory.js. Both start a bootstrapper and n-1
// persistent nodes, wait until every node is bootstrapped, then -quiet
// more (default 2 s, the same on both sides: the testnet as it runs, not
// in the middle of the last walks), collect garbage and print "memory nodes=<n> rss-per-node=<bytes> heap-per-node=<bytes>":
// the growth of the process's resident set (and of its heap) since before
// the first node, divided by n. Each side runs -runs times (default 3)
// and its median counts. The last line is
//
//	dht-memory: go=<KB> js=<KB> unit=KB-rss-per-node ratio=<js/go>
//
// (less memory is better, so a ratio above 1 means Go uses less).
package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/warrenp2p/warren/dht"
	"github.com/warrenp2p/warren/interop"
	"github.com/warrenp2p/warren/udx"
)

func main() {
	n := flag.Int("n", 1000, "nodes per testnet")
	runs := flag.Int("runs", 3, "testnets per side; the median counts (the machine may be shared)")
	child := flag.Bool("child", false, "run the Go testnet in this process and print its memory")
	profile := flag.String("heapprofile", "", "with -child: write a heap profile here once all nodes are bootstrapped")
	profileRate := flag.Int("profilerate", 64<<10, "with -heapprofile: runtime.MemProfileRate (1 records every allocation, slowly)")
	quiet := flag.Duration("quiet", 2*time.Second, "wait after the last node is bootstrapped before measuring (both sides)")
	flag.Parse()
	var err error
	if *child {
		err = runGo(*n, *profile, *profileRate, *quiet)
	} else {
		err = run(*n, max(1, *runs), *quiet)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "dht-memory:", err)
		os.Exit(1)
	}
}

var metric = regexp.MustCompile(`memory nodes=(\d+) rss-per-node=(-?\d+) heap-per-node=(-?\d+)`)

func run(n, runs int, quiet time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	env, err := interop.Lookup()
	if err != nil {
		return err
	}
	var goRSS, jsRSS []float64
	for i := 0; i < runs; i++ {
		out, err := exec.CommandContext(ctx, self, "-child", "-n", strconv.Itoa(n), "-quiet", quiet.String()).CombinedOutput()
		if err != nil {
			return fmt.Errorf("go testnet: %v\n%s", err, out)
		}
		rss, err := parse("go", out)
		if err != nil {
			return err
		}
		goRSS = append(goRSS, rss)

		cmd := env.Command(ctx, "dht_memory.js", strconv.Itoa(n), strconv.FormatInt(quiet.Milliseconds(), 10))
		cmd.Args = append([]string{cmd.Args[0], "--expose-gc"}, cmd.Args[1:]...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err = cmd.Output()
		if err != nil {
			return fmt.Errorf("js testnet: %v\n%s", err, stderr.Bytes())
		}
		if rss, err = parse("js", out); err != nil {
			return err
		}
		jsRSS = append(jsRSS, rss)
	}
	g, j := median(goRSS), median(jsRSS)
	if g <= 0 {
		return fmt.Errorf("go rss per node is %v", g)
	}
	fmt.Printf("dht-memory: go=%.1f js=%.1f unit=KB-rss-per-node ratio=%.2f\n", g/1000, j/1000, j/g)
	return nil
}

// parse prints a side's memory line and returns its RSS per node.
func parse(side string, out []byte) (float64, error) {
	m := metric.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no memory line in %s output:\n%s", side, out)
	}
	fmt.Printf("%s: %s\n", side, m[0])
	return strconv.ParseFloat(string(m[2]), 64)
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// runGo starts the Go testnet in this process and prints its memory.
func runGo(n int, profile string, profileRate int, quiet time.Duration) error {
	if n < 2 {
		return fmt.Errorf("need at least 2 nodes")
	}
	if profile != "" {
		runtime.MemProfileRate = profileRate
	}
	rss0, heap0 := settle()
	u := udx.New(nil)
	boot, err := dht.NewBootstrapper("127.0.0.1", 0xfff0, &dht.Config{Host: "127.0.0.1", UDX: u})
	if err != nil {
		return err
	}
	nodes := []*dht.Node{boot}
	defer func() {
		for _, x := range nodes {
			x.Close()
		}
	}()
	bs := []string{boot.LocalAddr().String()}
	f := false
	for i := 1; i < n; i++ {
		x, err := dht.New(&dht.Config{Host: "127.0.0.1", Bootstrap: bs, Ephemeral: &f, Firewalled: &f, UDX: u})
		if err != nil {
			return err
		}
		nodes = append(nodes, x)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for _, x := range nodes {
		if err := x.Bootstrapped(ctx); err != nil {
			return err
		}
	}
	time.Sleep(quiet)
	rss1, heap1 := settle()
	if profile != "" {
		fh, err := os.Create(profile)
		if err != nil {
			return err
		}
		err = pprof.Lookup("heap").WriteTo(fh, 0)
		fh.Close()
		if err != nil {
			return err
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("goroutines=%d stack-inuse=%d heap-inuse=%d heap-alloc=%d\n", runtime.NumGoroutine(), ms.StackInuse, ms.HeapInuse, ms.HeapAlloc)
	fmt.Printf("memory nodes=%d rss-per-node=%d heap-per-node=%d\n", n, (rss1-rss0)/int64(n), (heap1-heap0)/int64(n))
	return nil
}

// settle collects garbage, returns freed memory to the OS and reports the
// resident set and the heap in use, in bytes.
func settle() (rss, heap int64) {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return residentBytes(), int64(ms.HeapInuse)
}

// residentBytes reads VmRSS from /proc/self/status (Linux); elsewhere it
// falls back to the memory the Go runtime holds from the OS.
func residentBytes() int64 {
	fh, err := os.Open("/proc/self/status")
	if err == nil {
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				if err == nil {
					return kb * 1024
				}
			}
		}
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.Sys - ms.HeapReleased)
}
