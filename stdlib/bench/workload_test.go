package bench

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

func TestWorkloadRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, w := range Workloads() {
		if w.Name == "" || seen[w.Name] {
			t.Errorf("workload name %q empty or repeated", w.Name)
		}
		seen[w.Name] = true
		if strings.TrimSpace(w.Doc) == "" || w.Run == nil || (w.Kind != PerStep && w.Kind != EndToEnd) {
			t.Errorf("%s: incomplete (doc, Run or Kind)", w.Name)
		}
		if w.Kind == PerStep && (w.Steps < 1 || w.Warmup < 0) {
			t.Errorf("%s: step counts %d/%d", w.Name, w.Steps, w.Warmup)
		}
		if _, err := Twin(w.Twin); err != nil {
			t.Errorf("%s: twin %q not embedded: %v", w.Name, w.Twin, err)
		}
		if got, ok := Lookup(w.Name); !ok || got.Name != w.Name {
			t.Errorf("Lookup(%q) = %v, %v", w.Name, got.Name, ok)
		}
		for _, f := range w.Show {
			if f.PercentOf != "" {
				if _, ok := Lookup(f.PercentOf); !ok {
					t.Errorf("%s: figure %s is a percentage of unknown workload %q", w.Name, f.Key, f.PercentOf)
				}
			}
		}
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("Lookup found an unknown workload")
	}
	if _, err := Twin("common.py"); err != nil {
		t.Errorf("common.py not embedded: %v", err)
	}
	if !slices.Equal(Names(), []string{"sgemm_peak", "mlp_step", "fashion_mlp_5ep", "cnn_step", "bt_step", "cnn_bt_step", "pgd10_fashion", "plb_fashion"}) {
		t.Errorf("Names() = %v", Names())
	}
}

func TestTrainFLOPs(t *testing.T) {
	arch := backend.Arch{
		{Kind: backend.Linear, In: 784, Out: 512},
		{Kind: backend.Activation, Activation: backend.ReLU},
		{Kind: backend.Linear, In: 512, Out: 512},
		{Kind: backend.Activation, Activation: backend.ReLU},
		{Kind: backend.Linear, In: 512, Out: 10},
	}
	got, err := TrainFLOPs(arch, 256)
	if err != nil {
		t.Fatal(err)
	}
	// First layer: forward + weight gradient; the others: + input gradient.
	want := 2.0 * 256 * (2*784*512 + 3*512*512 + 3*512*10)
	if got != want || got != 821559296 {
		t.Errorf("TrainFLOPs = %v, want %v", got, want)
	}
	if _, err := TrainFLOPs(backend.Arch{{Kind: backend.Activation, Activation: backend.ReLU}}, 1); err == nil {
		t.Error("no error for an architecture without linear layers")
	}
	if _, err := TrainFLOPs(backend.Arch{{Kind: backend.LayerKind(99)}}, 1); err == nil {
		t.Error("no error for an unknown layer kind")
	}
}

func TestTimeSteps(t *testing.T) {
	calls := 0
	times, err := TimeSteps(context.Background(), 2, 5, func() error { calls++; return nil })
	if err != nil || len(times) != 5 || calls != 7 {
		t.Fatalf("TimeSteps: %d times, %d calls, %v; want 5 and 7", len(times), calls, err)
	}
	boom := errors.New("boom")
	if _, err := TimeSteps(context.Background(), 0, 3, func() error { return boom }); !errors.Is(err, boom) {
		t.Errorf("error %v, want boom", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := TimeSteps(ctx, 1, 1, func() error { return nil }); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	r := StepResult([]float64{2, 4, 3})
	if r.MsPerStep != 3 || r.Steps != 3 || r.Seconds != 0.009 {
		t.Errorf("StepResult = %+v", r)
	}
}

// TestTinyMLPStep runs the mlp_step workload's tiny instance in process
// and checks its result's shape (no timing assertions).
func TestTinyMLPStep(t *testing.T) {
	res, err := runMLPStep(context.Background(), Options{Tiny: true, Steps: 3, Warmup: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 3 || res.MsPerStep <= 0 || res.Seconds <= 0 {
		t.Errorf("result %+v", res)
	}
	for _, k := range []string{"gflops", "flops_per_step", "loss_first", "loss_last"} {
		if _, ok := res.Extra[k]; !ok {
			t.Errorf("no extra %q in %v", k, res.Extra)
		}
	}
	if _, err := json.Marshal(res); err != nil {
		t.Error(err)
	}
}

// TestSgemmPeakTiny checks the sgemm workload on the backend's BLAS.
func TestSgemmPeakTiny(t *testing.T) {
	res, err := runSgemmPeak(context.Background(), Options{Tiny: true, Steps: 2, Warmup: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 2 || res.Extra["gflops"] <= 0 {
		t.Errorf("result %+v", res)
	}
}

func TestFashionNeedsAndTiny(t *testing.T) {
	w := fashionMLP5ep()
	if err := pipelineNeed(fashionPipeline).Check(Options{Root: t.TempDir()}); err == nil || !strings.Contains(err.Error(), "--repo") {
		t.Errorf("missing pipeline: %v", err)
	}
	t.Setenv("MLPIPE_DATA", t.TempDir())
	err := FashionMNIST.Check(Options{})
	if err == nil || !strings.Contains(err.Error(), "apt-get install -y dataset-fashion-mnist") {
		t.Errorf("missing data: %v", err)
	}
	if _, err := w.Run(context.Background(), Options{}); err == nil {
		t.Error("no error without a pipeline runner")
	}
	// With a runner that writes a report.json, the result comes from it.
	res, err := w.Run(context.Background(), Options{Tiny: true, RunPipeline: func(ctx context.Context, file string, sets []string, out string) error {
		if !strings.HasSuffix(file, fashionPipeline) || !slices.Equal(sets, []string{"limit=500", "epochs=1"}) {
			t.Errorf("RunPipeline(%q, %q)", file, sets)
		}
		return os.WriteFile(out+"/report.json", []byte(`{"metrics": {"accuracy": 0.5}, "training": {"seconds": 2, "steps": 4}}`), 0o644)
	}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Seconds != 2 || res.Steps != 4 || res.MsPerStep != 500 || res.Extra["test_acc"] != 0.5 {
		t.Errorf("result %+v", res)
	}
}

// TestCNNStepTiny runs the CNN workload on a tiny shape: it trains (the loss
// is finite) and reports per-step times.
func TestCNNStepTiny(t *testing.T) {
	res, err := runCNNStep(context.Background(), Options{Tiny: true, Steps: 3, Warmup: 1})
	if err != nil {
		t.Fatal(err)
	}
	if res.MsPerStep <= 0 || res.Extra["loss_first"] <= 0 {
		t.Errorf("result %+v", res)
	}
}

// TestBTStepsTiny runs the Barlow Twins workloads on tiny shapes: they
// train (the loss is finite and positive) and report per-step times.
func TestBTStepsTiny(t *testing.T) {
	for _, w := range []Workload{btStep(), cnnBTStep()} {
		res, err := w.Run(context.Background(), Options{Tiny: true, Steps: 3, Warmup: 1})
		if err != nil {
			t.Fatalf("%s: %v", w.Name, err)
		}
		if res.MsPerStep <= 0 || !(res.Extra["loss_first"] > 0) || !(res.Extra["loss_last"] > 0) {
			t.Errorf("%s: result %+v", w.Name, res)
		}
	}
}
