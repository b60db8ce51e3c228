package results

import (
	"bytes"
	"flag"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mlpipe/mlpipe/interp/store"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// sweepRuns is a 2x3 grid (lr, hidden) with 2 seeds; accuracy is a known
// function of the point and seed.
func sweepRuns() []store.Run {
	var runs []store.Run
	for _, lr := range []string{"0.001", "0.01"} {
		for _, hidden := range []string{"8", "16", "128"} {
			for seed := int64(1); seed <= 2; seed++ {
				l, _ := strconv.ParseFloat(lr, 64)
				h, _ := strconv.ParseFloat(hidden, 64)
				acc := 0.5 + 10*l + h/1000 + 0.01*float64(seed)
				runs = append(runs, store.Run{
					ID: "r" + lr + "-" + hidden + "-" + strconv.FormatInt(seed, 10), Seed: seed,
					Params: map[string]string{"lr": lr, "hidden": hidden, "epochs": "3"},
					Metrics: []store.Metric{
						{Stage: "score", Name: "accuracy", Step: store.FinalStep, Value: acc},
						{Stage: "fit", Name: "loss", Step: 1, Value: 9}, // not final: left out
					},
				})
			}
		}
	}
	return runs
}

func TestAggregate(t *testing.T) {
	tab, err := Aggregate(sweepRuns(), []string{"lr", "hidden"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(tab.Groups) != 6 || len(tab.Metrics) != 1 || tab.Metrics[0] != "score.accuracy" {
		t.Fatalf("groups %d, metrics %v; want 6 groups of score.accuracy", len(tab.Groups), tab.Metrics)
	}
	// Groups sort numerically: hidden 8, 16, 128 (not "128" < "16").
	if g := tab.Groups[1]; g.Values[0] != "0.001" || g.Values[1] != "16" {
		t.Errorf("second group %v, want [0.001 16]", g.Values)
	}
	s := tab.Groups[0].Metrics["score.accuracy"]
	wantMean := 0.5 + 0.01 + 0.008 + 0.015
	if s.N != 2 || math.Abs(s.Mean-wantMean) > 1e-12 || math.Abs(s.Std-0.01/math.Sqrt2) > 1e-12 {
		t.Errorf("first group: %+v, want n 2, mean %v, std %v", s, wantMean, 0.01/math.Sqrt2)
	}
	var md, csv bytes.Buffer
	if err := tab.Markdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := tab.CSV(&csv); err != nil {
		t.Fatal(err)
	}
	golden(t, "grid.md", md.Bytes())
	golden(t, "grid.csv", csv.Bytes())

	if _, err := Aggregate(sweepRuns(), []string{"width"}, nil); err == nil {
		t.Error("grouping by a param the runs lack was accepted")
	}
	if _, err := Aggregate(sweepRuns(), []string{"lr"}, []string{"score.acc"}); err == nil {
		t.Error("an unknown metric was accepted")
	}
}

func TestPlot(t *testing.T) {
	tab, err := Aggregate(sweepRuns(), []string{"lr", "hidden"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "acc.png")
	if err := tab.Plot(path, "hidden", "score.accuracy", "accuracy against width"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the plot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 300 || b.Dy() < 200 {
		t.Errorf("plot is %v", b)
	}
	for _, bad := range [][2]string{{"epochs", "score.accuracy"}, {"hidden", "fit.loss"}} {
		if err := tab.Plot(path, bad[0], bad[1], ""); err == nil {
			t.Errorf("Plot(%s, %s) was accepted", bad[0], bad[1])
		}
	}
}

func TestPlotMetrics(t *testing.T) {
	tab, err := Aggregate(sweepRuns(), []string{"lr"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "metrics.png")
	if err := tab.PlotMetrics(path, tab.Metrics, "all metrics"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("the plot is not a PNG: %v", err)
	}
	if err := tab.PlotMetrics(path, []string{"fit.loss"}, ""); err == nil {
		t.Error("an unknown metric was accepted")
	}
	if err := tab.PlotMetrics(path, nil, ""); err == nil {
		t.Error("no metric was accepted")
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./interp/results -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed:\n--- got\n%s--- want\n%s", name, got, want)
	}
}
