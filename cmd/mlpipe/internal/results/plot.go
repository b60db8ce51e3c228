package results

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Plot draws metric against the grouping param x as a PNG (or SVG or PDF,
// by the extension of path): one line per combination of the other
// grouping params, each point the mean over its runs with an error bar of
// one standard deviation. The x axis is logarithmic when x's values are
// positive and span a factor of 20 or more. x's values must be numbers.
func (t *Table) Plot(path, x, metric, title string) error {
	xi := slices.Index(t.GroupBy, x)
	if xi < 0 {
		return fmt.Errorf("the table is not grouped by %q (it is by %s)", x, strings.Join(t.GroupBy, ", "))
	}
	if !slices.Contains(t.Metrics, metric) {
		return fmt.Errorf("the table has no metric %q (it has %s)", metric, strings.Join(t.Metrics, ", "))
	}
	type series struct {
		label string
		xs    plotter.XYs
		errs  plotter.YErrors
	}
	var order []string
	lines := map[string]*series{}
	minX, maxX := math.Inf(1), math.Inf(-1)
	for _, g := range t.Groups {
		xv, err := strconv.ParseFloat(g.Values[xi], 64)
		if err != nil {
			return fmt.Errorf("param %s has the value %s, which is not a number to plot", x, g.Values[xi])
		}
		s, ok := g.Metrics[metric]
		if !ok {
			continue
		}
		var parts []string
		for i, p := range t.GroupBy {
			if i != xi {
				parts = append(parts, p+"="+g.Values[i])
			}
		}
		label := strings.Join(parts, " ")
		l, ok := lines[label]
		if !ok {
			l = &series{label: label}
			lines[label] = l
			order = append(order, label)
		}
		l.xs = append(l.xs, plotter.XY{X: xv, Y: s.Mean})
		l.errs = append(l.errs, struct{ Low, High float64 }{s.Std, s.Std})
		minX, maxX = math.Min(minX, xv), math.Max(maxX, xv)
	}
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = metric + " (mean ± std)"
	if minX > 0 && maxX/minX >= 20 {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = plot.LogTicks{Prec: -1}
	}
	p.Add(plotter.NewGrid())
	for i, label := range order {
		l := lines[label]
		pts := &errPoints{XYs: l.xs, YErrors: l.errs}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return err
		}
		c := plotutil.Color(i)
		line.Color, points.Color = c, c
		points.Shape = plotutil.Shape(i)
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return err
		}
		bars.Color = c
		bars.LineStyle.Color = c
		p.Add(line, points, bars)
		if label != "" {
			p.Legend.Add(label, line, points)
		}
	}
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.TextStyle.Color = color.Black
	if err := p.Save(6*vg.Inch, 4*vg.Inch, path); err != nil {
		return fmt.Errorf("writing the plot: %w", err)
	}
	return nil
}

// errPoints are points with error bars.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// PlotMetrics draws several metrics side by side as a PNG (or SVG or PDF,
// by the extension of path): one position on the x axis per metric, one
// series of points per group of the table, each point the mean over the
// group's runs with an error bar of one standard deviation. It suits
// metrics of one run that are compared with each other, such as the
// accuracies of several probes.
func (t *Table) PlotMetrics(path string, metrics []string, title string) error {
	if len(metrics) == 0 {
		return fmt.Errorf("no metric to plot")
	}
	for _, m := range metrics {
		if !slices.Contains(t.Metrics, m) {
			return fmt.Errorf("the table has no metric %q (it has %s)", m, strings.Join(t.Metrics, ", "))
		}
	}
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = "mean ± std over runs"
	p.Add(plotter.NewGrid())
	n := len(t.Groups)
	for gi, g := range t.Groups {
		var pts errPoints
		for mi, m := range metrics {
			s, ok := g.Metrics[m]
			if !ok {
				continue
			}
			// Groups sit side by side around each metric's position.
			x := float64(mi) + 0.3*(float64(gi)-float64(n-1)/2)/float64(max(n, 1))
			pts.XYs = append(pts.XYs, plotter.XY{X: x, Y: s.Mean})
			pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{s.Std, s.Std})
		}
		if len(pts.XYs) == 0 {
			continue
		}
		points, err := plotter.NewScatter(&pts)
		if err != nil {
			return err
		}
		c := plotutil.Color(gi)
		points.Color = c
		points.Shape = plotutil.Shape(gi)
		points.Radius = vg.Points(3)
		bars, err := plotter.NewYErrorBars(&pts)
		if err != nil {
			return err
		}
		bars.LineStyle.Color = c
		p.Add(points, bars)
		var parts []string
		for i, name := range t.GroupBy {
			parts = append(parts, name+"="+g.Values[i])
		}
		if len(parts) > 0 {
			p.Legend.Add(strings.Join(parts, " "), points)
		}
	}
	p.NominalX(metrics...)
	p.X.Min, p.X.Max = -0.5, float64(len(metrics))-0.5
	p.Legend.Top = true
	p.Legend.TextStyle.Color = color.Black
	// Room for every metric's name under its position.
	longest := 0
	for _, m := range metrics {
		longest = max(longest, len(m))
	}
	width := max(6, float64(len(metrics))*(0.09*float64(longest)+0.4))
	if err := p.Save(vg.Length(width)*vg.Inch, 4*vg.Inch, path); err != nil {
		return fmt.Errorf("writing the plot: %w", err)
	}
	return nil
}
