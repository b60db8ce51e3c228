package robustness

import (
	"context"
	"math"
	"slices"
	"testing"

	"github.com/mlpipe/mlpipe/stdlib/attack"
)

// TestNaturalStarts checks that a barrier attack's failures are attacked
// again from the nearest sample of another predicted class, and that its
// successes and the samples without such a start are left alone.
func TestNaturalStarts(t *testing.T) {
	// Identity logits: sample i is predicted as the larger coordinate.
	x := []float32{
		0.9, 0.1, // 0: label 0, correct; the Gaussian start "fails"
		0.2, 0.8, // 1: label 1, correct
		0.4, 0.6, // 2: label 0, misclassified already
		0.7, 0.3, // 3: label 0, correct; the Gaussian start succeeds
	}
	y := []int32{0, 1, 0, 0}
	var starts [][]float32
	run := func(ctx context.Context, c attack.Classifier, x []float32, y []int32, start []float32) (*attack.Result, error) {
		n := len(y)
		r := &attack.Result{Norm: attack.L2, Adv: make([]float32, len(x)), Success: make([]bool, n), Clean: make([]bool, n),
			Dist: make([]float64, n), All: make([]attack.Distances, n)}
		for i := range r.Dist {
			r.Dist[i] = math.Inf(1)
		}
		if len(starts) == 0 && start == nil {
			r.Clean[2] = true
			r.Success[2] = true
			r.Success[3] = true
			copy(r.Adv[6:8], []float32{0.45, 0.55})
			r.Dist[3] = 0.35
			return r, nil
		}
		starts = append(starts, slices.Clone(start))
		for i := range y {
			copy(r.Adv[2*i:], start[2*i:2*i+2])
			r.Success[i] = true
			r.All[i] = attack.Measure(x[2*i:2*i+2], start[2*i:2*i+2])
			r.Dist[i] = r.All[i].In(attack.L2)
		}
		return r, nil
	}
	r, err := withNaturalStarts(context.Background(), identity{rows: 3}, x, y, nil, run)
	if err != nil {
		t.Fatal(err)
	}
	// Sample 0 (label 0): the samples predicted as class 1 are 1 and 2;
	// 2 is nearer. Sample 1 failed too (its success flag is unset), and
	// its nearest sample predicted as class 0 is 3.
	if len(starts) != 1 {
		t.Fatalf("%d reruns, want 1", len(starts))
	}
	if got := starts[0]; !slices.Equal(got, []float32{0.4, 0.6, 0.7, 0.3}) {
		t.Errorf("starts %v, want sample 2's point for sample 0 and sample 3's for sample 1", got)
	}
	if !slices.Equal(r.Success, []bool{true, true, true, true}) {
		t.Errorf("success %v, want all", r.Success)
	}
	if !slices.Equal(r.Adv, []float32{0.4, 0.6, 0.7, 0.3, 0, 0, 0.45, 0.55}) {
		t.Errorf("adversarial points %v", r.Adv)
	}
	if d := math.Hypot(0.5, 0.5); math.Abs(r.Dist[0]-d) > 1e-6 || r.Dist[3] != 0.35 {
		t.Errorf("distances %v, want %v for sample 0 and 0.35 for sample 3", r.Dist, d)
	}
}

// identity3 is identity with three inputs and classes.
type identity3 struct{ identity }

func (identity3) Inputs() int  { return 3 }
func (identity3) Classes() int { return 3 }

// TestPerClass checks that a barrier attack runs once per input and other
// class from the nearest input the model assigns to that class, and that
// each input keeps its closest verified result.
func TestPerClass(t *testing.T) {
	x := []float32{
		0.8, 0.1, 0.1, // 0: label 0, correct
		0.1, 0.7, 0.2, // 1: label 1, correct
		0.2, 0.2, 0.6, // 2: label 2, correct
		0.1, 0.6, 0.3, // 3: label 0, misclassified (as 1)
	}
	y := []int32{0, 1, 2, 0}
	var gotY []int32
	var gotStart []float32
	run := func(ctx context.Context, c attack.Classifier, x []float32, y []int32, start []float32) (*attack.Result, error) {
		gotY, gotStart = slices.Clone(y), slices.Clone(start)
		n := len(y)
		r := &attack.Result{Norm: attack.L2, Adv: slices.Clone(start), Success: make([]bool, n), Clean: make([]bool, n),
			Dist: make([]float64, n), All: make([]attack.Distances, n)}
		for i := range y {
			r.Success[i] = true
			r.All[i] = attack.Measure(x[3*i:3*i+3], start[3*i:3*i+3])
			r.Dist[i] = r.All[i].In(attack.L2)
		}
		return r, nil
	}
	r, err := perClass(context.Background(), identity3{identity{rows: 3}}, x, y, run)
	if err != nil {
		t.Fatal(err)
	}
	// Input 0 runs toward class 1 (nearest of inputs 1 and 3: 3) and
	// class 2 (input 2); input 1 toward 0 (input 0) and 2 (input 2);
	// input 2 toward 0 (input 0) and 1 (nearest of 1 and 3: 3).
	if want := []int32{0, 0, 1, 1, 2, 2}; !slices.Equal(gotY, want) {
		t.Fatalf("runs for labels %v, want %v", gotY, want)
	}
	want := []float32{0.1, 0.6, 0.3, 0.2, 0.2, 0.6, 0.8, 0.1, 0.1, 0.2, 0.2, 0.6, 0.8, 0.1, 0.1, 0.1, 0.6, 0.3}
	if !slices.Equal(gotStart, want) {
		t.Errorf("starts %v, want %v", gotStart, want)
	}
	// Each input keeps the nearer of its two runs' points.
	for i, cands := range [][]int{{3, 2}, {0, 2}, {0, 3}} {
		bestD := math.Inf(1)
		for _, j := range cands {
			bestD = math.Min(bestD, attack.Measure(x[3*i:3*i+3], x[3*j:3*j+3]).In(attack.L2))
		}
		if !r.Success[i] || math.Abs(r.Dist[i]-bestD) > 1e-12 {
			t.Errorf("input %d: success %v at %v, want the closest run at %v", i, r.Success[i], r.Dist[i], bestD)
		}
	}
	if !r.Success[3] || !r.Clean[3] || r.Dist[3] != 0 || !slices.Equal(r.Adv[9:12], x[9:12]) {
		t.Errorf("misclassified input 3: success %v, clean %v, distance %v, point %v", r.Success[3], r.Clean[3], r.Dist[3], r.Adv[9:12])
	}
}
