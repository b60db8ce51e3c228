package stages

import (
	"context"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// TestDirection checks the penalty's directions against the spec's test
// vector (robustness.md §2(e) T4: d = (1, −3, 2)) and a zero gradient.
func TestDirection(t *testing.T) {
	d := []float32{1, -3, 2}
	r14, r3 := float32(math.Sqrt(14)), float32(math.Sqrt(3))
	for _, tc := range []struct {
		norm string
		d    []float32
		want []float32
	}{
		{"l2", d, []float32{1 / r14, -3 / r14, 2 / r14}},
		{"l1", d, []float32{1 / r3, -1 / r3, 1 / r3}},
		{"linf", d, []float32{0, -1, 0}},
		{"l2", []float32{0, 0}, []float32{0, 0}},
		{"l1", []float32{0, 2}, []float32{0, 1 / float32(math.Sqrt2)}},
		{"linf", []float32{0, 0}, []float32{0, 0}},
	} {
		v := make([]float32, len(tc.d))
		for i := range v {
			v[i] = 9 // overwritten
		}
		direction(tc.norm, tc.d, v)
		for i := range v {
			if math.Abs(float64(v[i]-tc.want[i])) > 1e-7 {
				t.Errorf("%s direction of %v = %v, want %v", tc.norm, tc.d, v, tc.want)
				break
			}
		}
	}
}

// TestPlanLoss checks how train splits a loss into the weights of a
// paired trainer and a Lipschitz regulariser, and what it refuses.
func TestPlanLoss(t *testing.T) {
	adv := &value.RobustTerm{Eps: 0.1}
	adv2 := &value.RobustTerm{Eps: 0.2}
	gp := &value.RobustTerm{H: 0.01, Direction: "l2"}
	ce := func(w float64) value.LossTerm { return value.LossTerm{Name: "cross_entropy", Weight: w} }
	for _, tc := range []struct {
		name  string
		terms []value.LossTerm
		want  robustPlan
		err   string
	}{
		{"cross-entropy", []value.LossTerm{ce(1)}, robustPlan{clean: 1}, ""},
		{"mixed adversarial", []value.LossTerm{ce(0.5), {Name: "adversarial", Weight: 0.5, Robust: adv}},
			robustPlan{clean: 0.5, perturbed: 0.5, adversarial: adv}, ""},
		{"Madry", []value.LossTerm{{Name: "adversarial", Weight: 1, Robust: adv}}, robustPlan{perturbed: 1, adversarial: adv}, ""},
		{"gradient penalty", []value.LossTerm{ce(1), {Name: "gradient_penalty", Weight: 0.1, Robust: gp}},
			robustPlan{clean: 1, penalty: 0.1, gradient: gp}, ""},
		{"lipschitz", []value.LossTerm{ce(1), {Name: "lipschitz", Weight: 0.01}}, robustPlan{clean: 1, lipschitz: 0.01}, ""},
		{"the same term twice", []value.LossTerm{ce(1), {Name: "adversarial", Weight: 0.5, Robust: adv}, {Name: "adversarial", Weight: 0.5, Robust: adv}},
			robustPlan{clean: 1, perturbed: 1, adversarial: adv}, ""},
		{"two attacks", []value.LossTerm{{Name: "adversarial", Weight: 0.5, Robust: adv}, {Name: "adversarial", Weight: 0.5, Robust: adv2}}, robustPlan{}, "two adversarial terms"},
		{"adversarial and penalty", []value.LossTerm{{Name: "adversarial", Weight: 1, Robust: adv}, {Name: "gradient_penalty", Weight: 1, Robust: gp}}, robustPlan{}, "combines adversarial training with a gradient penalty"},
		{"penalty alone", []value.LossTerm{{Name: "gradient_penalty", Weight: 1, Robust: gp}}, robustPlan{}, "no cross-entropy term"},
		{"negative", []value.LossTerm{ce(1), {Name: "lipschitz", Weight: -1}}, robustPlan{}, "negative weight"},
		{"scaled cross-entropy", []value.LossTerm{ce(2)}, robustPlan{}, "weighs the cross-entropy by 2"},
		{"ssl loss", []value.LossTerm{{Name: "barlow_twins", Weight: 1}}, robustPlan{}, "has barlow_twins"},
	} {
		got, err := planLoss(&value.Loss{Terms: tc.terms})
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.err)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case got != tc.want:
			t.Errorf("%s: plan %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

// TestPerturbGradientPenalty checks that the perturbed half of a
// gradient-penalty step is x + h·v, v the l2-normalised input gradient of
// each sample's cross-entropy under the current weights.
func TestPerturbGradientPenalty(t *testing.T) {
	arch := backend.Arch{
		{Kind: backend.Linear, In: 3, Out: 4, Bias: true},
		{Kind: backend.Activation, Activation: backend.Tanh},
		{Kind: backend.Linear, In: 4, Out: 2, Bias: true},
	}
	m, err := backend.Init(arch, 3)
	if err != nil {
		t.Fatal(err)
	}
	plan := robustPlan{clean: 1, penalty: 1, gradient: &value.RobustTerm{H: 0.5, Direction: "l2"}}
	p, err := newPerturber(plan, m, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	x := []float32{0.1, -0.2, 0.3, 0.5, 0.4, -0.1}
	y := []int32{0, 1}
	ctx := context.Background()
	check := func(when string) {
		t.Helper()
		xp := make([]float32, len(x))
		if err := p.perturb(ctx, x, y, xp); err != nil {
			t.Fatal(err)
		}
		// The gradient by central differences of the per-sample loss.
		loss := func(xs []float32, i int) float64 {
			logits, err := backend.Predict(ctx, m, xs, 2, 2)
			if err != nil {
				t.Fatal(err)
			}
			z := logits[i*2 : i*2+2]
			mx := math.Max(float64(z[0]), float64(z[1]))
			lse := mx + math.Log(math.Exp(float64(z[0])-mx)+math.Exp(float64(z[1])-mx))
			return lse - float64(z[y[i]])
		}
		for i := range y {
			g := make([]float64, 3)
			var norm float64
			for j := range g {
				a, b := slices.Clone(x), slices.Clone(x)
				a[i*3+j] += 1e-3
				b[i*3+j] -= 1e-3
				g[j] = (loss(a, i) - loss(b, i)) / 2e-3
				norm += g[j] * g[j]
			}
			norm = math.Sqrt(norm)
			for j := range g {
				want := float64(x[i*3+j]) + 0.5*g[j]/norm
				if math.Abs(float64(xp[i*3+j])-want) > 2e-3 {
					t.Errorf("%s: sample %d value %d: %v, want %v", when, i, j, xp[i*3+j], want)
				}
			}
		}
	}
	check("initial weights")
	// The perturber reads the weights in place: it follows an update.
	for _, p := range m.Params {
		for i := range p.Data {
			p.Data[i] *= -1.5
		}
	}
	check("after changing the weights")
}
