package bench

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
)

func TestMedianAndSummarize(t *testing.T) {
	for _, c := range []struct {
		xs               []float64
		median, min, max float64
		n                int
	}{
		{[]float64{3, 1, 2}, 2, 1, 3, 3},
		{[]float64{4, 1, 3, 2}, 2.5, 1, 4, 4},
		{[]float64{5}, 5, 5, 5, 1},
		{[]float64{7, math.NaN(), 1}, 4, 1, 7, 2},
	} {
		s := Summarize(c.xs)
		if s.N != c.n || s.Median != c.median || s.Min != c.min || s.Max != c.max {
			t.Errorf("Summarize(%v) = %+v, want median %v min %v max %v n %d", c.xs, s, c.median, c.min, c.max, c.n)
		}
	}
	if s := Summarize(nil); s.N != 0 || !math.IsNaN(s.Median) {
		t.Errorf("Summarize(nil) = %+v, want N 0 and NaN", s)
	}
	xs := []float64{3, 1, 2}
	Median(xs)
	if xs[0] != 3 || xs[1] != 1 {
		t.Errorf("Median sorted its argument: %v", xs)
	}
	if r := Ratio(Stats{N: 1, Median: 6}, Stats{N: 1, Median: 4}); r != 1.5 {
		t.Errorf("Ratio 6/4 = %v", r)
	}
	if r := Ratio(Stats{N: 1, Median: 6}, Stats{}); !math.IsNaN(r) {
		t.Errorf("Ratio against nothing = %v, want NaN", r)
	}
}

// samples makes one Sample per value of the compared figure, with extras.
func samples(kind Kind, rss int64, values []float64, extra map[string][]float64) []Sample {
	var out []Sample
	for i, v := range values {
		r := Result{Steps: 10, Extra: map[string]float64{}}
		if kind == EndToEnd {
			r.Seconds = v
		} else {
			r.MsPerStep = v
		}
		for k, vs := range extra {
			r.Extra[k] = vs[i]
		}
		out = append(out, Sample{Result: r, MaxRSS: rss, Wall: time.Second})
	}
	return out
}

// fakeReport is a report as Run would build it for sgemm_peak, mlp_step
// and fashion_mlp_5ep at 1 and 2 (all) threads, with made-up figures.
func fakeReport() *Report {
	sg, mlp, fash := sgemmPeak(), mlpStep(), fashionMLP5ep()
	const mib = 1 << 20
	r := &Report{
		Date:    time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		Repeats: 3,
		Machine: Machine{CPU: "AMD EPYC", Detail: "family 25", Cores: 2, OS: "Debian"},
		Mlpipe:  "mlpipe 0.1.0; backend test | BLAS",
		Torch:   "PyTorch 1.13",
	}
	r.Cells = []Cell{
		{Workload: sg, Threads: 1,
			Mlpipe: Series{Label: "mlpipe", Settings: []string{"GOMAXPROCS=1", "OPENBLAS_NUM_THREADS=1"},
				Samples: samples(PerStep, 30*mib, []float64{100, 110, 120}, map[string][]float64{"gflops": {170, 160, 150}})},
			Torch: []Series{{Label: "PyTorch OMP 1 + BLAS 1", Settings: []string{"OMP_NUM_THREADS=1"},
				Samples: samples(PerStep, 240*mib, []float64{90, 100, 95}, map[string][]float64{"gflops": {200, 180, 190}})}}},
		{Workload: mlp, Threads: 1,
			Mlpipe: Series{Label: "mlpipe", Samples: samples(PerStep, 40*mib, []float64{6, 5, 7}, map[string][]float64{"gflops": {120, 140, 110}})},
			Torch: []Series{{Label: "PyTorch OMP 1 + BLAS 1",
				Samples: samples(PerStep, 250*mib, []float64{4, 4.5, 3.5}, map[string][]float64{"gflops": {190, 170, 200}})}}},
		{Workload: mlp, Threads: 2, AllCores: true,
			Mlpipe: Series{Label: "mlpipe", Samples: samples(PerStep, 40*mib, []float64{4, 4, 4}, nil)},
			Torch: []Series{
				{Label: "PyTorch default", Samples: samples(PerStep, 250*mib, []float64{8, 8, 8}, map[string][]float64{"torch_threads": {1, 1, 1}})},
				{Label: "PyTorch OMP 1 + BLAS 2", Samples: samples(PerStep, 250*mib, []float64{2, 2, 2}, nil)},
			}},
		{Workload: fash, Threads: 1,
			Mlpipe: Series{Label: "mlpipe", Err: "boom"}},
	}
	return r
}

func TestTableRows(t *testing.T) {
	r := fakeReport()
	rows := r.rows()
	if len(rows) != 5 {
		t.Fatalf("%d rows, want 5 (1 + 1 + 2 + 1)", len(rows))
	}
	sg, m1, mDefault, mBest, fash := rows[0], rows[1], rows[2], rows[3], rows[4]
	if sg.mlpipe != "110 ms (100–120)" || sg.torch != "95.0 ms (90.0–100)" || sg.ratio != "1.16" {
		t.Errorf("sgemm row %+v", sg)
	}
	if sg.figures != "GFLOP/s 160 / 190" {
		t.Errorf("sgemm figures %q", sg.figures)
	}
	if m1.mlpipe != "6.00 ms (5.00–7.00)" || m1.torch != "4.00 ms (3.50–4.50)" || m1.ratio != "1.50" {
		t.Errorf("mlp_step 1-thread row %+v", m1)
	}
	if m1.rssMlpipe != "40 MiB" || m1.rssTorch != "250 MiB" || m1.setting != "OMP 1 + BLAS 1" {
		t.Errorf("mlp_step 1-thread row %+v", m1)
	}
	// 120/160 = 75% of mlpipe's peak, 190/190 = 100% of PyTorch's.
	if want := "GFLOP/s 120.0 (75% of sgemm_peak) / 190.0 (100% of sgemm_peak)"; m1.figures != want {
		t.Errorf("mlp_step figures %q, want %q", m1.figures, want)
	}
	if mDefault.threads != "2 (all)" || mDefault.ratio != "0.50" || mDefault.setting != "default (1 intra-op)" {
		t.Errorf("all-cores default row %+v", mDefault)
	}
	if mBest.ratio != "2.00" || mBest.setting != "OMP 1 + BLAS 2" || mBest.mlpipe != mDefault.mlpipe {
		t.Errorf("all-cores best row %+v", mBest)
	}
	if fash.mlpipe != "failed" || fash.torch != "—" || fash.ratio != "—" {
		t.Errorf("failed row %+v", fash)
	}
	if !r.Failed() {
		t.Error("Failed() is false with a failed mlpipe series")
	}
}

func TestEndToEndUsesSeconds(t *testing.T) {
	w := fashionMLP5ep()
	c := Cell{Workload: w, Threads: 1,
		Mlpipe: Series{Label: "mlpipe", Samples: samples(EndToEnd, 1, []float64{3.5, 3.4, 3.6}, map[string][]float64{"test_acc": {0.87, 0.87, 0.87}, "process_seconds": {4, 4, 4}})},
		Torch:  []Series{{Label: "PyTorch OMP 1 + BLAS 1", Samples: samples(EndToEnd, 1, []float64{4, 4, 4}, map[string][]float64{"test_acc": {0.875, 0.875, 0.875}, "process_seconds": {6, 6, 6}})}},
	}
	r := &Report{Cells: []Cell{c}}
	row := r.rows()[0]
	if row.mlpipe != "3.50 s (3.40–3.60)" || row.ratio != "0.88" {
		t.Errorf("row %+v", row)
	}
	if row.figures != "test acc 0.8700 / 0.8750; whole run s 4.0 / 6.0" {
		t.Errorf("figures %q", row.figures)
	}
}

func TestWriteMarkdown(t *testing.T) {
	r := fakeReport()
	r.Notes = []string{"fashion_mlp_5ep at 1 thread(s): mlpipe failed: boom"}
	var b bytes.Buffer
	if err := r.WriteMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	md := b.String()
	for _, want := range []string{
		"### 2026-11-25, AMD EPYC\n",
		"- date: 2026-11-25 10:00 UTC; each figure is the median of 3 runs (min–max)",
		"- machine: AMD EPYC (family 25), 2 cores, Debian; OPENBLAS_CORETYPE unset\n",
		`- mlpipe: mlpipe 0.1.0; backend test \| BLAS`,
		"| workload | threads | mlpipe | PyTorch | PyTorch setting | mlpipe/PyTorch | RSS mlpipe | RSS PyTorch | figures (mlpipe / PyTorch) |\n",
		"| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
		"| mlp_step | 1 | 6.00 ms (5.00–7.00) | 4.00 ms (3.50–4.50) | OMP 1 + BLAS 1 | 1.50 | 40 MiB | 250 MiB |",
		"| mlp_step | 2 (all) | 4.00 ms (4.00–4.00) | 2.00 ms (2.00–2.00) | OMP 1 + BLAS 2 | 2.00 |",
		"- mlpipe, 1 thread(s): GOMAXPROCS=1, OPENBLAS_NUM_THREADS=1\n",
		"- fashion_mlp_5ep at 1 thread(s): mlpipe failed: boom\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}
	// Every table line has the same number of unescaped cell separators.
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| ") {
			if n := strings.Count(strings.ReplaceAll(line, `\|`, ""), "|"); n != 10 {
				t.Errorf("table line with %d separators, want 10: %s", n, line)
			}
		}
	}
}

func TestWriteText(t *testing.T) {
	r := fakeReport()
	r.Notes = []string{"a note"}
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"machine: AMD EPYC", "PyTorch: PyTorch 1.13", "mlpipe/PyTorch", "6.00 ms (5.00–7.00)", "note: a note\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("text lacks %q:\n%s", want, out)
		}
	}
}
