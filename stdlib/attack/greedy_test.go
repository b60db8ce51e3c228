package attack

import (
	"context"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// TestGreedyHandValues works the greedy search out by hand on the linear
// model with logits (0, w·x + b), label 0: the cross-entropy gradient is
// p₁·w, so the gains are |w_j| times the room to the bound w_j points to.
func TestGreedyHandValues(t *testing.T) {
	ctx := context.Background()
	w := []float64{1, -2, 0.5, 3}
	mid := []float32{0.5, 0.5, 0.5, 0.5}
	for _, tc := range []struct {
		name    string
		x       []float32
		b       float64
		max     int
		success bool
		want    []float32
	}{
		// w·x = 1.25; margin 1 below the boundary: moving x_3 to 1
		// gains 1.5 and suffices.
		{"one change", mid, -2.25, 0, true, []float32{0.5, 0.5, 0.5, 1}},
		// Margin 2: x_3 → 1 (gain 1.5), then x_1 → 0 (gain 1).
		{"two changes", mid, -3.25, 0, true, []float32{0.5, 0, 0.5, 1}},
		{"capped at one", mid, -3.25, 1, false, nil},
		// x_3 at its bound already has no room: x_1 → 0 (gain 1),
		// then x_0 → 1 (gain 0.5).
		{"no room", []float32{0.5, 0.5, 0.5, 1}, -4, 0, true, []float32{1, 0, 0.5, 1}},
		// Every value at the bound its weight points to: no gain left.
		{"nothing to gain", []float32{1, 0, 1, 1}, -10, 0, false, nil},
		{"misclassified already", mid, 0, 0, true, mid},
	} {
		c := linearNet(w, tc.b, 2)
		r, err := GreedyL0{MaxChanges: tc.max, Box: unit}.Run(ctx, c, tc.x, []int32{0})
		if err != nil {
			t.Fatal(err)
		}
		if r.Success[0] != tc.success {
			t.Errorf("%s: success %v", tc.name, r.Success[0])
			continue
		}
		if !tc.success {
			continue
		}
		approx(t, tc.name, r.Adv, tc.want)
		if want := Distance(L0, tc.x, tc.want); r.Dist[0] != want || r.Norm != L0 {
			t.Errorf("%s: %v changes in %s, want %v", tc.name, r.Dist[0], r.Norm, want)
		}
	}
}

// TestGreedyOptimalOnLinear checks that on two-class linear models the
// greedy search finds the fewest changes that misclassify, found by trying
// every subset of values moved to their bounds.
func TestGreedyOptimalOnLinear(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(12, 12))
	const in = 8
	for trial := range 40 {
		w := make([]float64, in)
		x := make([]float32, in)
		for j := range w {
			w[j] = rng.NormFloat64()
			x[j] = rng.Float32()
		}
		var wx float64
		for j, v := range w {
			wx += v * float64(x[j])
		}
		b := -wx - 0.3 - 2*rng.Float64()
		c := linearNet(w, b, 1)
		r, err := NewGreedyL0().Run(ctx, c, x, []int32{0})
		if err != nil {
			t.Fatal(err)
		}
		fewest := math.Inf(1)
		for mask := uint(0); mask < 1<<in; mask++ {
			s := b
			for j, v := range w {
				xj := float64(x[j])
				if mask&(1<<j) != 0 {
					xj = 0
					if v > 0 {
						xj = 1
					}
				}
				s += v * xj
			}
			if s > 1e-6 {
				fewest = math.Min(fewest, float64(bits.OnesCount(mask)))
			}
		}
		if r.Success[0] != !math.IsInf(fewest, 1) || (r.Success[0] && r.Dist[0] != fewest) {
			t.Errorf("trial %d: success %v with %v changes; the fewest is %v", trial, r.Success[0], r.Dist[0], fewest)
		}
	}
}

// TestGreedyOnAModel runs the search on a random MLP through
// backend.InputGradient in batches: every success is misclassified and
// changes at most MaxChanges values, each to a bound.
func TestGreedyOnAModel(t *testing.T) {
	ctx := context.Background()
	ig := smallMLP(t, 10, 12, 3, backend.ReLU, 3, 4)
	const n = 9
	x, y := randomSamples(13, n, 10)
	g := GreedyL0{MaxChanges: 6, Box: unit}
	r, err := g.Run(ctx, ig, x, y)
	if err != nil {
		t.Fatal(err)
	}
	mis, err := Misclassified(ctx, ig, x, y)
	if err != nil {
		t.Fatal(err)
	}
	won := 0
	for i := range n {
		if mis[i] != r.Clean[i] {
			t.Errorf("sample %d: clean %v, misclassified %v", i, r.Clean[i], mis[i])
		}
		if !r.Success[i] {
			continue
		}
		won++
		if r.Dist[i] > 6 {
			t.Errorf("sample %d: %v changes, cap 6", i, r.Dist[i])
		}
		for j := range 10 {
			v, v0 := r.Adv[i*10+j], x[i*10+j]
			if v != v0 && v != 0 && v != 1 {
				t.Errorf("sample %d: value %d changed to %v, not a bound", i, j, v)
			}
		}
	}
	adv, err := Misclassified(ctx, ig, r.Adv, y)
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range r.Success {
		if ok && !adv[i] {
			t.Errorf("sample %d: reported success is classified correctly", i)
		}
	}
	if won == 0 || slices.Equal(r.Success, r.Clean) {
		t.Errorf("successes %v, clean %v: the search broke nothing", r.Success, r.Clean)
	}
}
