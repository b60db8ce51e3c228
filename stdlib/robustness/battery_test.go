package robustness

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/stdlib/attack"
	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// identity is a classifier of two-value inputs whose logits are the
// inputs: a sample is of class 0 when x₀ ≥ x₁. Its boundary is at l∞
// distance (x₀ − x₁)/2 and l2 distance (x₀ − x₁)/√2 from a sample of class
// 0, which makes every figure of a battery computable by hand.
type identity struct{ rows int }

func (c identity) Rows() int    { return c.rows }
func (c identity) Inputs() int  { return 2 }
func (c identity) Classes() int { return 2 }

func (c identity) Logits(ctx context.Context, x []float32, logits []float32) error {
	copy(logits, x)
	return nil
}

func (c identity) Compute(ctx context.Context, x []float32, y []int32, grad, logits, loss []float32) error {
	return c.ComputeObjective(ctx, nil, x, y, grad, logits, loss)
}

func (c identity) ComputeObjective(ctx context.Context, obj backend.Objective, x []float32, y []int32, grad, logits, loss []float32) error {
	for i := range y {
		row, g := x[2*i:2*i+2], grad[2*i:2*i+2]
		var l float64
		if obj != nil {
			l = obj.Row(row, int(y[i]), g)
		} else {
			// Cross-entropy: softmax minus the one-hot label.
			m := max(row[0], row[1])
			e0, e1 := math.Exp(float64(row[0]-m)), math.Exp(float64(row[1]-m))
			p := [2]float64{e0 / (e0 + e1), e1 / (e0 + e1)}
			l = -math.Log(p[y[i]])
			for j := range g {
				g[j] = float32(p[j])
			}
			g[y[i]]--
		}
		if loss != nil {
			loss[i] = float32(l)
		}
	}
	if logits != nil {
		copy(logits, x)
	}
	return nil
}

// fixed is an attack that returns fixed points, for checking verification.
type fixed struct {
	name   string
	norm   attack.Norm
	points []float32
	found  []bool // nil: a budgeted attack
}

func (f fixed) Name() string      { return f.name }
func (f fixed) Norm() attack.Norm { return f.norm }

type fixedBudgeted struct{ fixed }

func (f fixedBudgeted) Perturb(ctx context.Context, c attack.Classifier, x []float32, y []int32, eps float64, box attack.Box) ([]float32, error) {
	return f.points, nil
}

type fixedMinimal struct{ fixed }

func (f fixedMinimal) Minimize(ctx context.Context, c attack.Classifier, x []float32, y []int32, box attack.Box) ([]float32, []bool, error) {
	return f.points, f.found, nil
}

// marginCertifier certifies the identity classifier exactly: its logit
// margin x₀ − x₁ has Lipschitz constant √2 in l2, so the l2 radius is
// margin/√2 (and the certificate is tight).
type marginCertifier struct{ scale float64 }

func (marginCertifier) Norm() attack.Norm { return attack.L2 }

func (m marginCertifier) Radii(logits []float32, y []int32) ([]float64, error) {
	r := make([]float64, len(y))
	for i := range y {
		d := float64(logits[2*i]-logits[2*i+1]) * float64(1-2*y[i])
		r[i] = m.scale * max(d, 0) / math.Sqrt2
	}
	return r, nil
}

var unit = attack.Box{Lo: 0, Hi: 1}

func near(t *testing.T, what string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-6 && !(math.IsInf(got[i], 1) && math.IsInf(want[i], 1)) {
			t.Fatalf("%s = %v, want %v", what, got, want)
		}
	}
}

func TestBatteryHandValues(t *testing.T) {
	ctx := context.Background()
	// Four samples of class 0 with margins 0.4, 0.1, 0.6 and -0.2 (the
	// last is misclassified): l∞ boundary distances 0.2, 0.05, 0.3, 0.
	x := []float32{0.7, 0.3, 0.5, 0.4, 0.8, 0.2, 0.4, 0.6}
	y := []int32{0, 0, 0, 0}
	// A minimal l2 attack that finds the exact boundary points of the
	// first two samples (moved a hair past it) and nothing for the third.
	const hair = 1e-3
	exact := fixedMinimal{fixed{name: "exact", norm: attack.L2,
		points: []float32{0.5 - hair, 0.5 + hair, 0.45 - hair, 0.45 + hair, 0.8, 0.2, 0.4, 0.6},
		found:  []bool{true, true, false, false}}}
	cfg := Config{
		Attacks:    []Attack{FGSM{}, PGD{Ball: attack.Linf, Steps: 10, StepFraction: 0.25}, exact},
		Budgets:    map[attack.Norm][]float64{attack.Linf: {0.1, 0.25, 0.35}, attack.L2: {0.1, 0.5}},
		Box:        unit,
		Certifiers: []Certifier{marginCertifier{scale: 0.999}},
	}
	if got := cfg.Runs(); got != 7 {
		t.Errorf("Runs = %d, want 3 + 3 + 1", got)
	}
	res, err := Evaluate(ctx, identity{rows: 3}, x, y, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.CleanAccuracy != 0.75 {
		t.Errorf("clean accuracy %v, want 0.75", res.CleanAccuracy)
	}
	// FGSM at ε moves each sample to (x₀−ε, x₁+ε): it breaks a sample
	// once ε exceeds half its margin. At 0.1: sample 2 (0.05) only.
	fg := res.Attacks[0]
	near(t, "fgsm linf", fg.Robust[attack.Linf], []float64{0.5, 0.25, 0})
	if fg.Rejected != 0 || fg.Found != 1 {
		t.Errorf("fgsm: rejected %d, found %v", fg.Rejected, fg.Found)
	}
	// Its nearest point for sample 1 is the 0.25 run's: l∞ 0.25, l2
	// 0.25·√2, l0 2, l1 0.5.
	if d := fg.Nearest[0]; math.Abs(d[3]-0.25) > 1e-6 || math.Abs(d[2]-0.25*math.Sqrt2) > 1e-6 || d[0] != 2 || math.Abs(d[1]-0.5) > 1e-6 {
		t.Errorf("fgsm nearest of sample 0 = %v", d)
	}
	// The exact attack's points are at l2 ≈ 0.2828 and 0.0707 and
	// count in l∞ (0.2, 0.05) too.
	ex := res.Attacks[2]
	if !ex.Minimal || ex.Rejected != 0 {
		t.Errorf("exact: minimal %v rejected %d", ex.Minimal, ex.Rejected)
	}
	wantL2 := []float64{(0.4 + 2*hair) / math.Sqrt2, (0.1 + 2*hair) / math.Sqrt2, math.Inf(1), 0}
	near(t, "exact l2", ex.column(2), wantL2)
	// Sorted: 0 (misclassified), 0.0721, 0.2842, +Inf (not found).
	if m := ex.MedianOf(); math.Abs(m-(wantL2[0]+wantL2[1])/2) > 1e-6 {
		t.Errorf("median %v, want %v", m, (wantL2[0]+wantL2[1])/2)
	}
	if m := ex.MeanFound(); math.Abs(m-(wantL2[0]+wantL2[1])/2) > 1e-6 {
		t.Errorf("mean %v", m)
	}
	// Worst case: l∞ at 0.1 breaks sample 2 (FGSM, first) → 2 of 4
	// robust; at 0.25 sample 1 falls too (FGSM first, the exact
	// attack's 0.201 as well); at 0.35 everything.
	near(t, "worst linf", res.Worst[attack.Linf], []float64{0.5, 0.25, 0})
	if got := res.Decisive[attack.Linf][1]; got[0] != 2 || got[2] != 0 {
		t.Errorf("decisive at 0.25 = %v, want fgsm 2", got)
	}
	// l2 at 0.1: the exact attack breaks sample 2 (0.0721); FGSM's l2
	// sizes are √2·ε: 0.1414 for sample 2 at ε=0.1 — above 0.1. At 0.5
	// FGSM's point for sample 3 (ε=0.35, l2 0.495) breaks it too.
	near(t, "worst l2", res.Worst[attack.L2], []float64{0.5, 0})
	near(t, "worst nearest l2", res.WorstNearest[attack.L2][:2], wantL2[:2])
	if got := res.Decisive[attack.L2][0]; got[2] != 1 || got[0] != 0 {
		t.Errorf("decisive l2 at 0.1 = %v, want exact 1", got)
	}
	// The certificate (0.999 of the exact radius) certifies samples
	// 1 and 3 at 0.1 and none at 0.5.
	near(t, "certified l2", res.Certified[attack.L2], []float64{0.5, 0})
	// Radii: 0.999·margin/√2, 0 for the misclassified sample.
	near(t, "radii l2", res.Radii[attack.L2], []float64{0.999 * 0.4 / math.Sqrt2, 0.999 * 0.1 / math.Sqrt2, 0.999 * 0.6 / math.Sqrt2, 0})
	if want := []bool{true, true, true, false}; !slices.Equal(res.Correct, want) {
		t.Errorf("correct %v, want %v", res.Correct, want)
	}
	// Sorted worst l∞ sizes: 0 (misclassified), 0.051 and 0.201 (the
	// exact attack), 0.35 (FGSM at 0.35).
	if m := res.Median(attack.Linf); math.Abs(m-(0.05+hair+0.2+hair)/2) > 1e-6 {
		t.Errorf("median l∞ = %v", m)
	}
	near(t, "worst nearest l∞", res.WorstNearest[attack.Linf], []float64{0.2 + hair, 0.05 + hair, 0.35, 0})
}

func TestBatteryRejectsBadPoints(t *testing.T) {
	ctx := context.Background()
	x := []float32{0.7, 0.3, 0.8, 0.2}
	y := []int32{0, 0}
	for _, tc := range []struct {
		name   string
		attack Attack
	}{
		// Misclassified, but outside the l∞ budget of 0.1.
		{"over budget", fixedBudgeted{fixed{name: "liar", norm: attack.Linf, points: []float32{0.3, 0.7, 0.2, 0.8}}}},
		// Outside the input range.
		{"out of box", fixedMinimal{fixed{name: "box", norm: attack.L2, points: []float32{-0.1, 0.7, 0.8, 1.2}, found: []bool{true, true}}}},
		// Claimed, but still correctly classified.
		{"not adversarial", fixedMinimal{fixed{name: "claim", norm: attack.L2, points: []float32{0.6, 0.4, 0.7, 0.3}, found: []bool{true, true}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Evaluate(ctx, identity{rows: 2}, x, y, Config{
				Attacks: []Attack{tc.attack},
				Budgets: map[attack.Norm][]float64{attack.Linf: {0.1}, attack.L2: {0.1}},
				Box:     unit,
			})
			if err != nil {
				t.Fatal(err)
			}
			ar := res.Attacks[0]
			if ar.Rejected != 2 || ar.Found != 0 {
				t.Errorf("rejected %d found %v, want 2 and 0", ar.Rejected, ar.Found)
			}
			near(t, "worst l∞", res.Worst[attack.Linf], []float64{1})
		})
	}
}

func TestBatteryErrors(t *testing.T) {
	ctx := context.Background()
	x := []float32{0.7, 0.3}
	y := []int32{0}
	linf := map[attack.Norm][]float64{attack.Linf: {0.1}}
	for _, tc := range []struct {
		name string
		x    []float32
		cfg  Config
		want string
	}{
		{"no attacks", x, Config{Budgets: linf, Box: unit}, "no attacks"},
		{"no budgets", x, Config{Attacks: []Attack{FGSM{}}, Box: unit}, "no linf budgets"},
		{"bad budget", x, Config{Attacks: []Attack{FGSM{}}, Budgets: map[attack.Norm][]float64{attack.Linf: {0}}, Box: unit}, "must be finite and positive"},
		{"outside range", []float32{1.5, 0}, Config{Attacks: []Attack{FGSM{}}, Budgets: linf, Box: unit}, "outside the input range"},
		// A certificate larger than a verified perturbation is a bug
		// somewhere, and reported.
		{"contradiction", x, Config{Attacks: []Attack{FGSM{}}, Budgets: map[attack.Norm][]float64{attack.Linf: {0.25}, attack.L2: {0.1}},
			Box: unit, Certifiers: []Certifier{marginCertifier{scale: 2}}}, "an attack found a verified adversarial point"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Evaluate(ctx, identity{rows: 1}, tc.x, y, tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestMeasure(t *testing.T) {
	d := attack.Measure([]float32{1, 0.5, 0.25}, []float32{1, 0, 1})
	near(t, "distances", d[:], []float64{2, 1.25, math.Sqrt(0.25 + 0.5625), 0.75})
}
