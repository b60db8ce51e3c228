// Package results aggregates recorded runs into tables and plots: the runs
// of a sweep grouped by the params they vary, each final metric as a mean
// and standard deviation over the seeds, as Markdown, CSV or a PNG plot of
// a metric against a param.
package results

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/mlpipe/mlpipe/interp/store"
)

// Stat summarises one metric over the runs of a group.
type Stat struct {
	N    int     // runs that have the metric
	Mean float64 // their mean
	Std  float64 // their sample standard deviation (0 for one run)
	Min  float64
	Max  float64
}

// Group is the runs that share one value of every grouping param.
type Group struct {
	Values  []string // the grouping params' values, in Table.GroupBy order
	Runs    int
	Seeds   []int64 // the runs' seeds, in run order
	Metrics map[string]Stat
}

// Table is runs aggregated by params.
type Table struct {
	GroupBy []string // the grouping params
	Metrics []string // the metrics ("STAGE.NAME"), sorted
	Groups  []Group  // sorted by their values (numerically where they are numbers)
}

// Aggregate groups runs by the values of the params groupBy and summarises
// each metric in metrics over each group (every final metric of the runs
// when metrics is empty). A run that lacks a grouping param is an error.
func Aggregate(runs []store.Run, groupBy, metrics []string) (*Table, error) {
	t := &Table{GroupBy: groupBy}
	want := map[string]bool{}
	for _, m := range metrics {
		want[m] = true
	}
	type acc struct {
		g      *Group
		values map[string][]float64
	}
	groups := map[string]*acc{}
	var order []string
	seen := map[string]bool{}
	for i := range runs {
		r := &runs[i]
		vals := make([]string, len(groupBy))
		for j, p := range groupBy {
			v, ok := r.Params[p]
			if !ok {
				return nil, fmt.Errorf("run %s has no param %q (it has %s)", r.ID, p, strings.Join(paramNames(r), ", "))
			}
			vals[j] = v
		}
		key := strings.Join(vals, "\x00")
		a, ok := groups[key]
		if !ok {
			a = &acc{g: &Group{Values: vals}, values: map[string][]float64{}}
			groups[key] = a
			order = append(order, key)
		}
		a.g.Runs++
		a.g.Seeds = append(a.g.Seeds, r.Seed)
		for name, v := range r.FinalMetrics() {
			if len(want) > 0 && !want[name] {
				continue
			}
			a.values[name] = append(a.values[name], v)
			if !seen[name] {
				seen[name] = true
				t.Metrics = append(t.Metrics, name)
			}
		}
	}
	for _, m := range metrics {
		if !seen[m] {
			return nil, fmt.Errorf("no run has the metric %q (metrics are named STAGE.NAME, such as score.accuracy)", m)
		}
	}
	sort.Strings(t.Metrics)
	for _, key := range order {
		a := groups[key]
		a.g.Metrics = map[string]Stat{}
		for name, xs := range a.values {
			a.g.Metrics[name] = summarise(xs)
		}
		t.Groups = append(t.Groups, *a.g)
	}
	sort.SliceStable(t.Groups, func(i, j int) bool { return lessValues(t.Groups[i].Values, t.Groups[j].Values) })
	return t, nil
}

func paramNames(r *store.Run) []string {
	names := make([]string, 0, len(r.Params))
	for n := range r.Params {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// summarise returns the mean, sample standard deviation and range of xs.
func summarise(xs []float64) Stat {
	s := Stat{N: len(xs), Min: math.Inf(1), Max: math.Inf(-1)}
	for _, x := range xs {
		s.Mean += x
		s.Min = math.Min(s.Min, x)
		s.Max = math.Max(s.Max, x)
	}
	s.Mean /= float64(len(xs))
	if len(xs) > 1 {
		var ss float64
		for _, x := range xs {
			ss += (x - s.Mean) * (x - s.Mean)
		}
		s.Std = math.Sqrt(ss / float64(len(xs)-1))
	}
	return s
}

// lessValues orders value lists element by element, numerically where
// both are numbers.
func lessValues(a, b []string) bool {
	for i := range a {
		if a[i] == b[i] {
			continue
		}
		x, errX := strconv.ParseFloat(a[i], 64)
		y, errY := strconv.ParseFloat(b[i], 64)
		if errX == nil && errY == nil {
			return x < y
		}
		return a[i] < b[i]
	}
	return false
}

// Markdown writes the table with one row per group: its param values, the
// number of runs, and each metric as "mean ± std".
func (t *Table) Markdown(w io.Writer) error {
	head := append(append([]string{}, t.GroupBy...), "runs")
	for _, m := range t.Metrics {
		head = append(head, m+" (mean ± std)")
	}
	var b strings.Builder
	b.WriteString("| " + strings.Join(head, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat(" --- |", len(head)) + "\n")
	for _, g := range t.Groups {
		row := append(append([]string{}, g.Values...), strconv.Itoa(g.Runs))
		for _, m := range t.Metrics {
			s, ok := g.Metrics[m]
			switch {
			case !ok:
				row = append(row, "-")
			case s.N == 1:
				row = append(row, format(s.Mean))
			default:
				row = append(row, format(s.Mean)+" ± "+format(s.Std))
			}
		}
		b.WriteString("| " + strings.Join(row, " | ") + " |\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// CSV writes the table with, per metric, columns NAME.mean, NAME.std,
// NAME.n, NAME.min and NAME.max; numbers in full precision.
func (t *Table) CSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	head := append(append([]string{}, t.GroupBy...), "runs")
	for _, m := range t.Metrics {
		head = append(head, m+".mean", m+".std", m+".n", m+".min", m+".max")
	}
	if err := cw.Write(head); err != nil {
		return err
	}
	full := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	for _, g := range t.Groups {
		row := append(append([]string{}, g.Values...), strconv.Itoa(g.Runs))
		for _, m := range t.Metrics {
			s, ok := g.Metrics[m]
			if !ok {
				row = append(row, "", "", "0", "", "")
				continue
			}
			row = append(row, full(s.Mean), full(s.Std), strconv.Itoa(s.N), full(s.Min), full(s.Max))
		}
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// format prints a metric with four significant digits.
func format(x float64) string { return strconv.FormatFloat(x, 'g', 4, 64) }
