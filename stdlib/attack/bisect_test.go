package attack

import (
	"context"
	"math"
	"slices"
	"testing"
)

// TestBisectOnLinearModel checks the budget found on a two-class linear
// model, whose smallest breaking budget is the margin over the dual norm
// of w: PGD at eps reaches the corner (l∞) or the point along w (l2) of
// its ball, so the bisection must end within one resolution step above
// the minimum, with an adversarial point no closer than the minimum.
func TestBisectOnLinearModel(t *testing.T) {
	ctx := context.Background()
	w := []float64{0.8, -0.5, 0.3, 1.2, -0.9, 0.1, 0.6, -0.2}
	x0 := make([]float32, len(w))
	var wx, l1, l2 float64
	for j, v := range w {
		x0[j] = 0.5
		wx += v * 0.5
		l1 += math.Abs(v)
		l2 += v * v
	}
	l2 = math.Sqrt(l2)
	const m = 0.15
	c := linearNet(w, -m-wx, 2)
	for _, tc := range []struct {
		norm  Norm
		iters int
		hi    float32
		want  float64
		res   float64 // the resolution Hi/2^iters
	}{
		{Linf, 12, 0, m / l1, 1.0 / 4096},
		{L2, 12, 0, m / l2, math.Sqrt(8) / 4096},
		{L2, 8, 0.5, m / l2, 0.5 / 256},
	} {
		b := NewBisect(tc.norm)
		b.Iters, b.Hi = tc.iters, tc.hi
		r, err := b.Run(ctx, c, x0, []int32{0})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Success[0] {
			t.Fatalf("%s: failed", tc.norm)
		}
		if eps := r.Eps[0]; eps < tc.want*(1-1e-5) || eps > tc.want+tc.res*(1+1e-3) {
			t.Errorf("%s: budget %v, minimum %v, resolution %v", tc.norm, eps, tc.want, tc.res)
		}
		if d := r.Dist[0]; d < tc.want*(1-1e-5) || d > r.Eps[0]*(1+1e-5) {
			t.Errorf("%s: distance %v, minimum %v, budget %v", tc.norm, d, tc.want, r.Eps[0])
		}
	}
}

// TestBisectCleanAndFailed checks a sample misclassified already (budget
// and distance 0) and one PGD cannot break within Hi (a failure with an
// infinite budget and a NaN row).
func TestBisectCleanAndFailed(t *testing.T) {
	ctx := context.Background()
	c := linearNet([]float64{1, -1}, 0, 4) // label 0 wrong where x_0 > x_1
	x := []float32{0.7, 0.3, 0.2, 0.8, 0.45, 0.55}
	y := []int32{0, 0, 0}
	b := NewBisect(Linf)
	b.Hi = 0.1 // breaks sample 2 (needs 0.05), not sample 1 (needs 0.3)
	r, err := b.Run(ctx, c, x, y)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Success, []bool{true, false, true}) || !slices.Equal(r.Clean, []bool{true, false, false}) {
		t.Fatalf("success %v, clean %v", r.Success, r.Clean)
	}
	if r.Eps[0] != 0 || r.Dist[0] != 0 || !math.IsInf(r.Eps[1], 1) || !math.IsNaN(float64(r.Adv[2])) {
		t.Errorf("budgets %v, distances %v, adversarial points %v", r.Eps, r.Dist, r.Adv)
	}
	if r.Eps[2] < 0.05 || r.Eps[2] > 0.05+0.1/4096*1.001 {
		t.Errorf("sample 2: budget %v, want just above 0.05", r.Eps[2])
	}
}

// TestBisectBatching checks that the bisection gives the same result in
// batches of 1 as in one batch of a tanh network, that every success is
// misclassified and lies within its budget.
func TestBisectBatching(t *testing.T) {
	ctx := context.Background()
	const n, in = 6, 5
	x, y := randomSamples(14, n, in)
	for _, norm := range []Norm{Linf, L2} {
		b := NewBisect(norm)
		one, all := newTinyNet(6, in, 7, 3, 1), newTinyNet(6, in, 7, 3, 8)
		r1, err := b.Run(ctx, one, x, y)
		if err != nil {
			t.Fatal(err)
		}
		r2, err := b.Run(ctx, all, x, y)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(r1.Eps, r2.Eps) || !equalNaN(r1.Adv, r2.Adv) {
			t.Errorf("%s: budgets %v in batches of 1, %v in one batch", norm, r1.Eps, r2.Eps)
		}
		mis, err := Misclassified(ctx, all, r2.Adv, y)
		if err != nil {
			t.Fatal(err)
		}
		won := 0
		for i, ok := range r2.Success {
			if !ok {
				continue
			}
			won++
			if !mis[i] || r2.Dist[i] > r2.Eps[i]*(1+1e-5) {
				t.Errorf("%s: sample %d misclassified %v at distance %v, budget %v", norm, i, mis[i], r2.Dist[i], r2.Eps[i])
			}
		}
		if won == 0 {
			t.Errorf("%s: no sample broken", norm)
		}
	}
}
