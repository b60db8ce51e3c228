package bench

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mlpipe/mlpipe/stdlib/internal/torchtest"
)

// plbWeightSum is the sum of the weights of backend.Init(arch, 0) for the
// MLP 784-256-10, which torch/plb_fashion.py rebuilds.
const plbWeightSum = 1.789188088239186

// TestPLBFashionTiny runs plb_fashion's tiny instance (50 test images,
// 10×10 iterations) in process: it attacks the images the model classifies
// correctly, breaks them all at a small l2 distance, and counts its
// passes.
func TestPLBFashionTiny(t *testing.T) {
	if err := FashionMNIST.Check(Options{}); err != nil {
		t.Skip(err)
	}
	res, err := runPLBFashion(context.Background(), Options{Tiny: true, Steps: 1, Warmup: 1})
	if err != nil {
		t.Fatal(err)
	}
	e := res.Extra
	if res.Steps != 1 || res.MsPerStep <= 0 || e["images"] != plbTinyImages || e["images_per_s"] <= 0 {
		t.Errorf("result %+v", res)
	}
	if !(e["attacked"] > 0) || e["successes"] != e["attacked"] {
		t.Errorf("%v of %v attacked images broken, want all and some", e["successes"], e["attacked"])
	}
	if d := e["median_l2"]; !(d > 0 && d < 1) {
		t.Errorf("median l2 distance %v, want in (0, 1)", d)
	}
	// One gradient per inner iteration; per iteration at least one
	// forward pass (the back-tracking test), before them the clean
	// classification and the initialisation, after them the check.
	if g := e["grad_passes"]; g != plbTinyLoops*plbTinyLoops {
		t.Errorf("%v gradient passes, want %d", g, plbTinyLoops*plbTinyLoops)
	}
	if f, init := e["fwd_passes"], e["init_fwd_passes"]; !(init >= 2 && f >= init+e["grad_passes"]+1) {
		t.Errorf("%v forward passes, %v of them before the iterations", f, init)
	}
	if w := e["weight_sum"]; math.Abs(w-plbWeightSum) > 1e-12 {
		t.Errorf("weight sum %v, want %v", w, plbWeightSum)
	}
}

// TestPLBTwinTiny runs the twin's tiny instance when PyTorch is installed:
// it rebuilds mlpipe's weights and does the same work (same images
// attacked, all broken, at about the same distance).
func TestPLBTwinTiny(t *testing.T) {
	if testing.Short() {
		t.Skip("runs PyTorch")
	}
	if err := FashionMNIST.Check(Options{}); err != nil {
		t.Skip(err)
	}
	torchtest.Require(t) // fails instead of skipping where CI requires PyTorch
	python := DefaultPython
	if _, err := probeTorch(context.Background(), python); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := writeTwins(dir); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(python, filepath.Join(dir, "plb_fashion.py"), "--steps", "1", "--warmup", "0", "--tiny")
	cmd.Env = append(os.Environ(), "OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	res, err := ParseResult(out)
	if err != nil {
		t.Fatal(err)
	}
	e := res.Extra
	if w := e["weight_sum"]; math.Abs(w-plbWeightSum) > 1e-12 {
		t.Errorf("twin's weight sum %v, want mlpipe's %v", w, plbWeightSum)
	}
	mine, err := runPLBFashion(context.Background(), Options{Tiny: true, Steps: 1, Warmup: 1})
	if err != nil {
		t.Fatal(err)
	}
	m := mine.Extra
	if e["attacked"] != m["attacked"] || e["successes"] != m["successes"] || e["grad_passes"] != m["grad_passes"] {
		t.Errorf("twin %s, mlpipe %v", out, m)
	}
	if d, want := e["median_l2"], m["median_l2"]; math.Abs(d-want) > 0.05*want {
		t.Errorf("twin's median l2 %v, mlpipe's %v", d, want)
	}
	if f, want := e["fwd_passes"], m["fwd_passes"]; math.Abs(f-want) > 0.2*want {
		t.Errorf("twin's forward passes %v, mlpipe's %v", f, want)
	}
	if _, err := json.Marshal(res); err != nil {
		t.Error(err)
	}
}
