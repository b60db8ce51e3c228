package backend

import (
	"math"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// gradSteps are the gradients of the solver tests, one slice per step, for
// two weights.
var gradSteps = [][]float64{{0.5, -0.25}, {0.1, 0.3}, {-0.4, 0.2}, {0.05, -0.6}}

var initialWeights = []float64{1, -2}

// sgdRef applies PyTorch's SGD update rule in float64.
func sgdRef(lr, mu, wd float64, nesterov bool) [][]float64 {
	w := append([]float64(nil), initialWeights...)
	buf := make([]float64, len(w))
	var out [][]float64
	for step, g := range gradSteps {
		for j := range w {
			d := g[j] + wd*w[j]
			if mu != 0 {
				if step == 0 {
					buf[j] = d
				} else {
					buf[j] = mu*buf[j] + d
				}
				if nesterov {
					d += mu * buf[j]
				} else {
					d = buf[j]
				}
			}
			w[j] -= lr * d
		}
		out = append(out, append([]float64(nil), w...))
	}
	return out
}

// adamRef applies the Adam update in its textbook form, in float64:
// w -= lr · mhat / (sqrt(vhat) + eps).
func adamRef(lr, b1, b2, eps, wd float64) [][]float64 {
	w := append([]float64(nil), initialWeights...)
	m := make([]float64, len(w))
	v := make([]float64, len(w))
	var out [][]float64
	for step, g := range gradSteps {
		t := float64(step + 1)
		for j := range w {
			d := g[j] + wd*w[j]
			m[j] = b1*m[j] + (1-b1)*d
			v[j] = b2*v[j] + (1-b2)*d*d
			mhat := m[j] / (1 - math.Pow(b1, t))
			vhat := v[j] / (1 - math.Pow(b2, t))
			w[j] -= lr * mhat / (math.Sqrt(vhat) + eps)
		}
		out = append(out, append([]float64(nil), w...))
	}
	return out
}

func TestSolvers(t *testing.T) {
	tests := []struct {
		name string
		opt  Optimizer
		want [][]float64
	}{
		{"sgd", Optimizer{Name: SGD, LR: 0.1}, sgdRef(0.1, 0, 0, false)},
		{"sgd weight decay", Optimizer{Name: SGD, LR: 0.1, WeightDecay: 0.01}, sgdRef(0.1, 0, 0.01, false)},
		{"sgd momentum", Optimizer{Name: SGD, LR: 0.1, Momentum: 0.9}, sgdRef(0.1, 0.9, 0, false)},
		{"sgd momentum weight decay", Optimizer{Name: SGD, LR: 0.05, Momentum: 0.8, WeightDecay: 0.1}, sgdRef(0.05, 0.8, 0.1, false)},
		{"sgd nesterov", Optimizer{Name: SGD, LR: 0.1, Momentum: 0.9, Nesterov: true}, sgdRef(0.1, 0.9, 0, true)},
		{"sgd nesterov weight decay", Optimizer{Name: SGD, LR: 0.1, Momentum: 0.5, WeightDecay: 0.2, Nesterov: true}, sgdRef(0.1, 0.5, 0.2, true)},
		{"adam defaults", Optimizer{Name: Adam, LR: 0.1}, adamRef(0.1, 0.9, 0.999, 1e-8, 0)},
		{"adam custom", Optimizer{Name: Adam, LR: 0.01, Beta1: 0.8, Beta2: 0.99, Eps: 1e-3, WeightDecay: 0.1}, adamRef(0.01, 0.8, 0.99, 1e-3, 0.1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := newSolver(tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			// The weights are split in two tensors of one value, so that
			// the per-tensor state is exercised; the steps go through
			// gorgonia's Solver interface.
			w := []*tensor.Dense{
				tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{float32(initialWeights[0])})),
				tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{float32(initialWeights[1])})),
			}
			g := []*tensor.Dense{
				tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{0})),
				tensor.New(tensor.WithShape(1), tensor.WithBacking([]float32{0})),
			}
			vgs := []G.ValueGrad{valueGrad{w[0], g[0]}, valueGrad{w[1], g[1]}}
			for step, grads := range gradSteps {
				for j, v := range grads {
					g[j].Float32s()[0] = float32(v)
				}
				if err := s.Step(vgs); err != nil {
					t.Fatal(err)
				}
				for j := range w {
					got, want := float64(w[j].Float32s()[0]), tc.want[step][j]
					if !closeTo(got, want, 1e-7, 1e-6) {
						t.Errorf("step %d, weight %d: %v, want %v", step+1, j, got, want)
					}
				}
			}
		})
	}
}

// TestAdamFirstStep checks a value derived by hand: on the first step the
// bias-corrected moments are g and g², so w -= lr · g / (|g| + eps), which
// is lr·sign(g) for |g| ≫ eps and 0 for g = 0.
func TestAdamFirstStep(t *testing.T) {
	s, err := newSolver(Optimizer{Name: Adam, LR: 0.1})
	if err != nil {
		t.Fatal(err)
	}
	w := []float32{1, 1, 1}
	s.begin()
	s.update(0, w, []float32{0.5, -3, 0})
	want := []float64{0.9, 1.1, 1} // up to float32 rounding of the coefficients
	for i := range w {
		if !closeTo(float64(w[i]), want[i], 2e-7, 0) {
			t.Errorf("w[%d] = %v, want %v", i, w[i], want[i])
		}
	}
}

type valueGrad struct{ v, g *tensor.Dense }

func (vg valueGrad) Value() G.Value         { return vg.v }
func (vg valueGrad) Grad() (G.Value, error) { return vg.g, nil }

func TestOptimizerValidate(t *testing.T) {
	tests := []struct {
		opt  Optimizer
		want string
	}{
		{Optimizer{Name: SGD, LR: 0.1}, ""},
		{Optimizer{Name: SGD, LR: 0.1, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-4}, ""},
		{Optimizer{Name: Adam, LR: 1e-3}, ""},
		{Optimizer{Name: Adam, LR: 1e-3, Beta1: 0.5, Beta2: 0.9, Eps: 1e-6, WeightDecay: 0.01}, ""},
		{Optimizer{Name: "rmsprop", LR: 0.1}, "unknown optimizer"},
		{Optimizer{Name: SGD}, "learning rate must be positive"},
		{Optimizer{Name: SGD, LR: -1}, "learning rate -1"},
		{Optimizer{Name: SGD, LR: math.NaN()}, "learning rate NaN"},
		{Optimizer{Name: SGD, LR: math.Inf(1)}, "learning rate +Inf"},
		{Optimizer{Name: SGD, LR: 0.1, Momentum: -0.5}, "momentum -0.5"},
		{Optimizer{Name: SGD, LR: 0.1, WeightDecay: -1}, "weight decay -1"},
		{Optimizer{Name: SGD, LR: 0.1, Nesterov: true}, "nesterov needs a positive momentum"},
		{Optimizer{Name: SGD, LR: 0.1, Beta1: 0.9}, "Adam settings"},
		{Optimizer{Name: Adam, LR: 0.1, Momentum: 0.9}, "SGD settings"},
		{Optimizer{Name: Adam, LR: 0.1, Beta2: 1}, "must be below 1"},
		{Optimizer{Name: Adam, LR: 0.1, Eps: -1}, "eps -1"},
	}
	for _, tc := range tests {
		err := tc.opt.Validate()
		if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: Validate() = %v, want error containing %q", tc.opt, err, tc.want)
		}
		if _, err2 := newSolver(tc.opt); (err2 == nil) != (err == nil) {
			t.Errorf("%+v: newSolver error %v, Validate %v", tc.opt, err2, err)
		}
	}
}
