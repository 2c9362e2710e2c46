package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// progress reports a transfer in files, bytes, rate and peers. On a
// terminal it redraws one status line in place (carriage return and
// erase-line) a few times a second; otherwise it writes a plain line every
// plainEvery, so logs and pipes get a readable history instead of control
// characters. The counters are atomics: the goroutines doing the transfer
// update them without locking.
//
// A progress is started with start and ended with stop, which writes the
// last state; it owns one goroutine between the two.
type progress struct {
	w     io.Writer
	tty   bool
	label string
	peers func() int

	files, totalFiles atomic.Int64
	bytes, totalBytes atomic.Int64

	mu      sync.Mutex
	start0  time.Time
	lastT   time.Time
	lastB   int64
	rate    float64 // bytes per second, smoothed
	drawn   int     // width of the status line on screen (tty)
	stopped chan struct{}
	done    chan struct{}
}

// Refresh periods of the two display modes.
const (
	ttyEvery   = 250 * time.Millisecond
	plainEvery = 5 * time.Second
)

// newProgress returns a display writing to w (a terminal when w is an
// *os.File on a character device and $TERM is not "dumb"). peers, if not
// nil, reports the current peer count.
func newProgress(w io.Writer, label string, peers func() int) *progress {
	return &progress{w: w, tty: isTerminal(w), label: label, peers: peers}
}

// isTerminal reports whether w is an interactive terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// addFile counts one finished file.
func (p *progress) addFile() { p.files.Add(1) }

// addBytes counts n transferred bytes.
func (p *progress) addBytes(n int64) { p.bytes.Add(n) }

// setTotals sets the expected totals (0 = unknown).
func (p *progress) setTotals(files, bytes int64) {
	p.totalFiles.Store(files)
	p.totalBytes.Store(bytes)
}

// reset zeroes the counters for a new round (a live update).
func (p *progress) reset(files, bytes int64) {
	p.files.Store(0)
	p.bytes.Store(0)
	p.setTotals(files, bytes)
	p.mu.Lock()
	p.lastB = 0
	p.mu.Unlock()
}

// begin starts the display's goroutine.
func (p *progress) begin() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done != nil {
		return
	}
	now := time.Now()
	p.start0, p.lastT = now, now
	p.stopped = make(chan struct{})
	p.done = make(chan struct{})
	every := plainEvery
	if p.tty {
		every = ttyEvery
	}
	go func() {
		defer close(p.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stopped:
				return
			case <-t.C:
				p.draw(false)
			}
		}
	}()
}

// end stops the goroutine and writes the final state on its own line.
func (p *progress) end() {
	p.mu.Lock()
	started := p.done != nil
	stopped, done := p.stopped, p.done
	p.mu.Unlock()
	if !started {
		return
	}
	select {
	case <-stopped:
		return
	default:
	}
	close(stopped)
	<-done
	p.draw(true)
}

// draw writes the current state.
func (p *progress) draw(final bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	b := p.bytes.Load()
	if dt := now.Sub(p.lastT).Seconds(); dt > 0 {
		inst := float64(b-p.lastB) / dt
		if p.rate == 0 {
			p.rate = inst
		} else {
			p.rate = 0.7*p.rate + 0.3*inst
		}
		p.lastT, p.lastB = now, b
	}
	rate := p.rate
	if final {
		if el := now.Sub(p.start0).Seconds(); el > 0 {
			rate = float64(b) / el
		}
	}
	line := p.status(b, rate)
	if !p.tty {
		fmt.Fprintln(p.w, line)
		return
	}
	pad := ""
	if n := len(line); n < p.drawn {
		pad = strings.Repeat(" ", p.drawn-n)
	}
	p.drawn = len(line)
	if final {
		fmt.Fprintf(p.w, "\r%s%s\n", line, pad)
		p.drawn = 0
		return
	}
	fmt.Fprintf(p.w, "\r%s%s", line, pad)
}

// status formats one status line.
func (p *progress) status(b int64, rate float64) string {
	var sb strings.Builder
	sb.WriteString(p.label)
	fmt.Fprintf(&sb, " files %d", p.files.Load())
	if t := p.totalFiles.Load(); t > 0 {
		fmt.Fprintf(&sb, "/%d", t)
	}
	fmt.Fprintf(&sb, "  %s", formatBytes(b))
	if t := p.totalBytes.Load(); t > 0 {
		fmt.Fprintf(&sb, "/%s (%d%%)", formatBytes(t), min(100, b*100/t))
	}
	fmt.Fprintf(&sb, "  %s/s", formatBytes(int64(rate)))
	if p.peers != nil {
		fmt.Fprintf(&sb, "  peers %d", p.peers())
	}
	return sb.String()
}

// formatBytes writes n in binary units with three significant digits.
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f := float64(n)
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	i := -1
	for f >= unit && i < len(units)-1 {
		f /= unit
		i++
	}
	switch {
	case f >= 100:
		return fmt.Sprintf("%.0f %s", f, units[i])
	case f >= 10:
		return fmt.Sprintf("%.1f %s", f, units[i])
	}
	return fmt.Sprintf("%.2f %s", f, units[i])
}

// countingReader counts what passes through it into a progress, and
// the file as done when the read reaches its end.
type countingReader struct {
	r   io.ReadCloser
	p   *progress
	eof bool
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.p.addBytes(int64(n))
	if err == io.EOF && !c.eof {
		c.eof = true
		c.p.addFile()
	}
	return n, err
}

func (c *countingReader) Close() error { return c.r.Close() }
