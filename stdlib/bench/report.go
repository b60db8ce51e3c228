package bench

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Stats summarises one figure over repeated runs.
type Stats struct {
	N                int
	Median, Min, Max float64
}

// Summarize returns the median, minimum and maximum of xs, ignoring NaNs;
// N counts the values used.
func Summarize(xs []float64) Stats {
	var vs []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			vs = append(vs, x)
		}
	}
	if len(vs) == 0 {
		return Stats{Median: math.NaN(), Min: math.NaN(), Max: math.NaN()}
	}
	return Stats{N: len(vs), Median: Median(vs), Min: slices.Min(vs), Max: slices.Max(vs)}
}

// Ratio returns a.Median / b.Median, or NaN if either is missing or b is
// zero.
func Ratio(a, b Stats) float64 {
	if a.N == 0 || b.N == 0 || b.Median == 0 {
		return math.NaN()
	}
	return a.Median / b.Median
}

// Sample is one child process's measurement.
type Sample struct {
	Result Result
	// MaxRSS is the child's peak resident set size in bytes (ru_maxrss).
	MaxRSS int64
	// Wall is the child's wall time from start to exit, as the parent saw
	// it; it is also in Result.Extra["process_seconds"].
	Wall time.Duration
}

// Series is the repeated runs of one side under one thread setting.
type Series struct {
	// Label names the side and setting: "mlpipe", "PyTorch",
	// "PyTorch default", "PyTorch OMP 1 + BLAS 2".
	Label string
	// Settings are the thread variables given to the children
	// ("GOMAXPROCS=2"); a variable listed as "NAME unset" was removed.
	Settings []string
	Samples  []Sample
	// Err is the failure that stopped the series, if one did.
	Err string
	// Unavailable says why the series could not be measured at all, if
	// so (see ErrUnavailable).
	Unavailable string
}

// Time summarises the compared figure of the samples.
func (s *Series) Time(k Kind) Stats {
	var xs []float64
	for _, m := range s.Samples {
		xs = append(xs, m.Result.Value(k))
	}
	return Summarize(xs)
}

// Extra summarises the Extra figure key of the samples.
func (s *Series) Extra(key string) Stats {
	var xs []float64
	for _, m := range s.Samples {
		if v, ok := m.Result.Extra[key]; ok {
			xs = append(xs, v)
		}
	}
	return Summarize(xs)
}

// RSS summarises the peak resident set sizes of the samples, in bytes.
func (s *Series) RSS() Stats {
	var xs []float64
	for _, m := range s.Samples {
		xs = append(xs, float64(m.MaxRSS))
	}
	return Summarize(xs)
}

// Cell is one workload measured at one thread count.
type Cell struct {
	Workload Workload
	Threads  int
	AllCores bool
	Mlpipe   Series
	// Torch holds one series per PyTorch setting: one at one thread, two
	// (default threading, and OMP 1 + BLAS N) at several.
	Torch []Series
}

// Report is the outcome of a benchmark run.
type Report struct {
	Date    time.Time
	Repeats int
	Machine Machine
	// Mlpipe describes mlpipe: version, Go version, backend and BLAS.
	Mlpipe string
	// Torch describes the peer ("PyTorch 1.13.0a0, Python 3.11.2,
	// /usr/bin/python3"), or is empty when it is not available.
	Torch string
	// Notes are messages for the reader: a missing peer, skipped
	// workloads, failures.
	Notes []string
	Cells []Cell
}

// note adds a note unless the report has it already.
func (r *Report) note(s string) {
	if !slices.Contains(r.Notes, s) {
		r.Notes = append(r.Notes, s)
	}
}

// Failed reports whether any mlpipe series failed.
func (r *Report) Failed() bool {
	for _, c := range r.Cells {
		if c.Mlpipe.Err != "" {
			return true
		}
	}
	return false
}

// row is one rendered line of the table.
type row struct {
	workload, threads, mlpipe, torch, setting, ratio, rssMlpipe, rssTorch, figures string
}

var header = row{"workload", "threads", "mlpipe", "PyTorch", "PyTorch setting", "mlpipe/PyTorch", "RSS mlpipe", "RSS PyTorch", "figures (mlpipe / PyTorch)"}

// rows renders the cells of r, one row per PyTorch setting (or one row
// when there is none).
func (r *Report) rows() []row {
	var rows []row
	for _, c := range r.Cells {
		k := c.Workload.Kind
		threads := fmt.Sprint(c.Threads)
		if c.AllCores && c.Threads > 1 {
			threads += " (all)"
		}
		base := row{
			workload:  c.Workload.Name,
			threads:   threads,
			mlpipe:    seriesTime(&c.Mlpipe, k),
			rssMlpipe: seriesRSS(&c.Mlpipe),
			torch:     "—",
			setting:   "—",
			ratio:     "—",
			rssTorch:  "—",
		}
		if len(c.Torch) == 0 {
			base.figures = r.figures(c, -1)
			rows = append(rows, base)
			continue
		}
		for i := range c.Torch {
			t := &c.Torch[i]
			x := base
			x.torch = seriesTime(t, k)
			x.setting = strings.TrimPrefix(t.Label, "PyTorch ")
			if th := t.Extra("torch_threads"); x.setting == "default" && th.N > 0 {
				// What PyTorch chose by itself (torch.get_num_threads()).
				x.setting += fmt.Sprintf(" (%g intra-op)", th.Median)
			}
			x.ratio = formatRatio(Ratio(c.Mlpipe.Time(k), t.Time(k)))
			x.rssTorch = seriesRSS(t)
			x.figures = r.figures(c, i)
			rows = append(rows, x)
		}
	}
	return rows
}

// figures renders the Show figures of cell c for mlpipe and the PyTorch
// series ti (none if ti < 0).
func (r *Report) figures(c Cell, ti int) string {
	var parts []string
	for _, f := range c.Workload.Show {
		one := func(s *Series, peak *Series) string {
			if s == nil {
				return "—"
			}
			st := s.Extra(f.Key)
			if st.N == 0 {
				return "—"
			}
			v := fmt.Sprintf(f.Format, st.Median)
			if peak != nil {
				if p := peak.Extra(f.Key); p.N > 0 && p.Median > 0 {
					v += fmt.Sprintf(" (%.0f%% of %s)", 100*st.Median/p.Median, f.PercentOf)
				}
			}
			return v
		}
		var mPeak, tPeak *Series
		if f.PercentOf != "" {
			if pc := r.cell(f.PercentOf, c.Threads); pc != nil {
				mPeak = &pc.Mlpipe
				if ti >= 0 && ti < len(pc.Torch) {
					tPeak = &pc.Torch[ti]
				}
			}
		}
		v := f.Label + " " + one(&c.Mlpipe, mPeak)
		if ti >= 0 {
			v += " / " + one(&c.Torch[ti], tPeak)
		}
		parts = append(parts, v)
	}
	return strings.Join(parts, "; ")
}

// cell returns the cell of workload name at threads, or nil.
func (r *Report) cell(name string, threads int) *Cell {
	for i := range r.Cells {
		if r.Cells[i].Workload.Name == name && r.Cells[i].Threads == threads {
			return &r.Cells[i]
		}
	}
	return nil
}

// seriesTime renders "median unit (min–max)", or why there is none.
func seriesTime(s *Series, k Kind) string {
	st := s.Time(k)
	if st.N == 0 {
		switch {
		case s.Err != "":
			return "failed"
		case s.Unavailable != "":
			return "n/a"
		}
		return "—"
	}
	unit := "ms"
	if k == EndToEnd {
		unit = "s"
	}
	v := fmt.Sprintf("%s %s (%s–%s)", num(st.Median), unit, num(st.Min), num(st.Max))
	if s.Err != "" {
		v += " (a run failed)"
	}
	return v
}

// seriesRSS renders the median peak RSS in MiB.
func seriesRSS(s *Series) string {
	st := s.RSS()
	if st.N == 0 {
		return "—"
	}
	return fmt.Sprintf("%.0f MiB", st.Median/(1<<20))
}

// num renders a time with three significant digits (at least one
// decimal below 100).
func num(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

func formatRatio(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	return fmt.Sprintf("%.2f", v)
}

// headerLines are the lines that precede the table in both renderings.
func (r *Report) headerLines() []string {
	lines := []string{
		fmt.Sprintf("date: %s; each figure is the median of %d runs (min–max), each run a fresh process", r.Date.UTC().Format("2006-01-02 15:04 MST"), r.Repeats),
		"machine: " + r.Machine.String(),
		"mlpipe: " + r.Mlpipe,
	}
	if r.Torch != "" {
		lines = append(lines, "PyTorch: "+r.Torch)
	}
	return lines
}

// WriteText writes r as a plain-text table, with the machine and versions
// above it and the notes below.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	for _, l := range r.headerLines() {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, x := range append([]row{header}, r.rows()...) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", x.workload, x.threads, x.mlpipe, x.torch, x.setting, x.ratio, x.rssMlpipe, x.rssTorch, x.figures)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Notes) > 0 {
		b.WriteString("\n")
		for _, n := range r.Notes {
			b.WriteString("note: " + n + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes r as a Markdown section for docs/benchmarks.md:
// the machine and versions, the table, the thread settings and the notes.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s, %s\n\n", r.Date.UTC().Format("2006-01-02"), r.Machine.CPU)
	for _, l := range r.headerLines() {
		b.WriteString("- " + mdEscape(l) + "\n")
	}
	b.WriteString("\n")
	cells := func(x row) []string {
		return []string{x.workload, x.threads, x.mlpipe, x.torch, x.setting, x.ratio, x.rssMlpipe, x.rssTorch, x.figures}
	}
	b.WriteString("| " + strings.Join(cells(header), " | ") + " |\n")
	b.WriteString(strings.Repeat("| --- ", len(cells(header))) + "|\n")
	for _, x := range r.rows() {
		cs := cells(x)
		for i := range cs {
			cs[i] = mdEscape(cs[i])
		}
		b.WriteString("| " + strings.Join(cs, " | ") + " |\n")
	}
	var settings []string
	seen := map[string]bool{}
	for _, c := range r.Cells {
		for _, s := range append([]Series{c.Mlpipe}, c.Torch...) {
			key := fmt.Sprintf("%s at %d", s.Label, c.Threads)
			if !seen[key] && len(s.Settings) > 0 {
				seen[key] = true
				settings = append(settings, fmt.Sprintf("%s, %d thread(s): %s", s.Label, c.Threads, strings.Join(s.Settings, ", ")))
			}
		}
	}
	if len(settings) > 0 {
		b.WriteString("\nThread settings of the child processes:\n\n")
		for _, s := range settings {
			b.WriteString("- " + mdEscape(s) + "\n")
		}
	}
	if len(r.Notes) > 0 {
		b.WriteString("\nNotes:\n\n")
		for _, n := range r.Notes {
			b.WriteString("- " + mdEscape(n) + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// mdEscape keeps s from breaking a Markdown table or list.
func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}
