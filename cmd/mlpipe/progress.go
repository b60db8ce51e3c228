package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/mlpipe/mlpipe/interp"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// logWriter returns where log lines go: w itself, or on a terminal a writer
// that first clears the line, so a log line does not run into a progress
// bar (the bar redraws itself below it).
func logWriter(w io.Writer) io.Writer {
	if isTerminal(w) {
		return clearLineWriter{w}
	}
	return w
}

type clearLineWriter struct{ w io.Writer }

func (c clearLineWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(c.w, "\r\x1b[K"); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// newProgressFunc returns the progress display for w: a bar on a terminal,
// plain lines otherwise: at most one every 10 seconds, and only after the
// first 10 seconds, since stages log their own milestones.
func newProgressFunc(w io.Writer) interp.ProgressFunc {
	if isTerminal(w) {
		return func(stage string, total int64, unit string) interp.Progress {
			bar := progressbar.NewOptions64(total,
				progressbar.OptionSetWriter(w),
				progressbar.OptionSetDescription(stage),
				progressbar.OptionShowCount(),
				progressbar.OptionShowIts(),
				progressbar.OptionSetItsString(unit),
				progressbar.OptionThrottle(100*time.Millisecond),
				progressbar.OptionClearOnFinish(),
				progressbar.OptionSetPredictTime(true),
			)
			return &barProgress{bar: bar, stage: stage}
		}
	}
	return func(stage string, total int64, unit string) interp.Progress {
		now := time.Now()
		return &lineProgress{w: w, stage: stage, total: total, unit: unit, start: now, last: now}
	}
}

type barProgress struct {
	bar   *progressbar.ProgressBar
	stage string
}

func (p *barProgress) Add(n int64, status string) {
	p.bar.Describe(p.stage + " " + status)
	_ = p.bar.Add64(n)
}

func (p *barProgress) Finish() { _ = p.bar.Finish() }

// lineProgress prints a line each time another tenth of the work is done.
type lineProgress struct {
	mu     sync.Mutex
	w      io.Writer
	stage  string
	total  int64
	done   int64
	last   time.Time
	unit   string
	start  time.Time
	status string
}

func (p *lineProgress) Add(n int64, status string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.status = status
	if p.total <= 0 || time.Since(p.last) < 10*time.Second {
		return
	}
	p.print()
	p.last = time.Now()
}

func (p *lineProgress) print() {
	secs := time.Since(p.start).Seconds()
	rate := 0.0
	if secs > 0 {
		rate = float64(p.done) / secs
	}
	fmt.Fprintf(p.w, "%s: %d/%d %ss (%d%%) %s  %.0f %ss/s\n", p.stage, p.done, p.total, p.unit, 100*p.done/max(p.total, 1), p.status, rate, p.unit)
}

func (p *lineProgress) Finish() {}
