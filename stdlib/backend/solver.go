package backend

import (
	"fmt"
	"math"
	"runtime"

	G "gorgonia.org/gorgonia"
)

// Optimizer names accepted in Optimizer.Name.
const (
	// SGD is stochastic gradient descent, as torch.optim.SGD.
	SGD = "sgd"
	// Adam is Adam with L2 weight decay, as torch.optim.Adam.
	Adam = "adam"
)

// Optimizer configures the weight updates of a Trainer. The updates follow
// PyTorch's torch.optim.SGD and torch.optim.Adam exactly, element by element
// in float32 (scalar coefficients in float64):
//
// "sgd": d = g + WeightDecay·w; with Momentum μ > 0 the momentum buffer is
// b = d on the first step and b = μ·b + d afterwards (dampening 0), and d is
// replaced by d + μ·b if Nesterov is set, by b otherwise; then w -= LR·d.
//
// "adam" (not AdamW): g += WeightDecay·w; m = β1·m + (1-β1)·g;
// v = β2·v + (1-β2)·g²; with t the number of steps taken so far,
// w -= (LR/(1-β1^t)) · m / (sqrt(v)/sqrt(1-β2^t) + Eps).
// Beta1, Beta2 and Eps left zero select PyTorch's defaults 0.9, 0.999 and
// 1e-8 (so β1 = 0 cannot be asked for). Momentum and Nesterov must be zero
// for Adam.
//
// Weight decay applies to every tensor, biases included, as with PyTorch's
// default parameter groups.
type Optimizer struct {
	Name        string
	LR          float64
	Momentum    float64
	WeightDecay float64
	Beta1       float64
	Beta2       float64
	Eps         float64
	Nesterov    bool
}

// withDefaults returns o with Adam's zero fields replaced by their defaults.
func (o Optimizer) withDefaults() Optimizer {
	if o.Name == Adam {
		if o.Beta1 == 0 {
			o.Beta1 = 0.9
		}
		if o.Beta2 == 0 {
			o.Beta2 = 0.999
		}
		if o.Eps == 0 {
			o.Eps = 1e-8
		}
	}
	return o
}

// Validate reports whether o (after defaults) names a known optimizer with
// finite hyperparameters in range: LR > 0, Momentum and WeightDecay >= 0,
// Nesterov only with Momentum > 0, 0 <= Beta1, Beta2 < 1 and Eps > 0.
func (o Optimizer) Validate() error {
	o = o.withDefaults()
	for _, f := range []struct {
		name string
		v    float64
	}{{"learning rate", o.LR}, {"momentum", o.Momentum}, {"weight decay", o.WeightDecay}, {"beta1", o.Beta1}, {"beta2", o.Beta2}, {"eps", o.Eps}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return fmt.Errorf("backend: optimizer %s: %s %v is not a finite non-negative number", o.Name, f.name, f.v)
		}
	}
	if o.LR == 0 {
		return fmt.Errorf("backend: optimizer %s: learning rate must be positive", o.Name)
	}
	switch o.Name {
	case SGD:
		if o.Nesterov && o.Momentum == 0 {
			return fmt.Errorf("backend: optimizer sgd: nesterov needs a positive momentum")
		}
		if o.Beta1 != 0 || o.Beta2 != 0 || o.Eps != 0 {
			return fmt.Errorf("backend: optimizer sgd: beta1, beta2 and eps are Adam settings")
		}
	case Adam:
		if o.Momentum != 0 || o.Nesterov {
			return fmt.Errorf("backend: optimizer adam: momentum and nesterov are SGD settings")
		}
		if o.Beta1 >= 1 || o.Beta2 >= 1 {
			return fmt.Errorf("backend: optimizer adam: betas %v, %v must be below 1", o.Beta1, o.Beta2)
		}
		if o.Eps == 0 {
			return fmt.Errorf("backend: optimizer adam: eps must be positive")
		}
	default:
		return fmt.Errorf("backend: unknown optimizer %q (want sgd or adam)", o.Name)
	}
	return nil
}

// solver updates weights from gradients. It implements gorgonia's Solver,
// and update is the same step on plain slices.
type solver interface {
	G.Solver
	// begin starts a step; update then applies it to tensor i.
	begin()
	update(i int, w, g []float32)
}

// newSolver returns the solver o describes.
func newSolver(o Optimizer) (solver, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	if o.Name == Adam {
		return &adamSolver{lr: o.LR, beta1: o.Beta1, beta2: o.Beta2, eps: o.Eps, wd: float32(o.WeightDecay)}, nil
	}
	return &sgdSolver{lr: float32(o.LR), mu: float32(o.Momentum), wd: float32(o.WeightDecay), nesterov: o.Nesterov}, nil
}

// stepValueGrads runs one solver step over gorgonia ValueGrads, whose values
// and gradients must be float32 *tensor.Dense of equal size. Tensor i keeps
// its optimizer state at index i from step to step.
func stepValueGrads(s solver, vgs []G.ValueGrad) error {
	s.begin()
	for i, vg := range vgs {
		w, err := dense(vg.Value(), -1)
		if err != nil {
			return fmt.Errorf("backend: solver: tensor %d: %w", i, err)
		}
		gv, err := vg.Grad()
		if err != nil {
			return fmt.Errorf("backend: solver: tensor %d: %w", i, err)
		}
		g, err := dense(gv, -1)
		if err != nil {
			return fmt.Errorf("backend: solver: gradient %d: %w", i, err)
		}
		if !w.Shape().Eq(g.Shape()) {
			return fmt.Errorf("backend: solver: tensor %d has shape %v, its gradient %v", i, w.Shape(), g.Shape())
		}
		s.update(i, w.Float32s(), g.Float32s())
	}
	return nil
}

// sgdSolver is PyTorch's SGD with optional momentum, weight decay and
// Nesterov momentum (dampening 0).
type sgdSolver struct {
	lr, mu, wd float32
	nesterov   bool
	buf        [][]float32 // momentum buffers; nil until a tensor's first step
}

// Step implements gorgonia's Solver.
func (s *sgdSolver) Step(vgs []G.ValueGrad) error { return stepValueGrads(s, vgs) }

func (s *sgdSolver) begin() {}

func (s *sgdSolver) update(i int, w, g []float32) {
	g = g[:len(w)]
	k := sgdKernel{lr: s.lr, mu: s.mu, wd: s.wd, nesterov: s.nesterov}
	if k.mu == 0 {
		parallelChunks(len(w), func(lo, hi int) { k.plain(w[lo:hi], g[lo:hi]) })
		return
	}
	for len(s.buf) <= i {
		s.buf = append(s.buf, nil)
	}
	first := s.buf[i] == nil
	if first {
		s.buf[i] = make([]float32, len(w))
	}
	b := s.buf[i][:len(w)]
	parallelChunks(len(w), func(lo, hi int) { k.momentum(w[lo:hi], g[lo:hi], b[lo:hi], first) })
}

// sgdKernel holds the coefficients of the SGD update.
type sgdKernel struct {
	lr, mu, wd float32
	nesterov   bool
}

// plainGo is w -= lr (g + wd w), the reference for the vectorised kernel.
func (k sgdKernel) plainGo(w, g []float32) {
	g = g[:len(w)]
	lr, wd := k.lr, k.wd
	for j, d := range g {
		w[j] -= lr * (d + wd*w[j])
	}
}

// momentumGo, the reference for the vectorised kernel, is PyTorch's SGD with momentum (dampening 0): b = mu b + d (b = d
// on the first step), then w -= lr (d + mu b) with Nesterov, else lr b,
// where d = g + wd w.
func (k sgdKernel) momentumGo(w, g, b []float32, first bool) {
	g, b = g[:len(w)], b[:len(w)]
	lr, mu, wd := k.lr, k.mu, k.wd
	for j, d := range g {
		d += wd * w[j]
		if first {
			b[j] = d
		} else {
			b[j] = mu*b[j] + d
		}
		if k.nesterov {
			d += mu * b[j]
		} else {
			d = b[j]
		}
		w[j] -= lr * d
	}
}

// adamSolver is PyTorch's Adam (L2 weight decay added to the gradient, not
// AdamW), with bias correction by the step count.
type adamSolver struct {
	lr, beta1, beta2, eps float64
	wd                    float32
	t                     int         // steps begun
	m, v                  [][]float32 // moment estimates; nil until a tensor's first step
	// coefficients of the current step
	stepSize, bc2Sqrt, b1, b2, c1, c2, eps32 float32
}

// Step implements gorgonia's Solver.
func (s *adamSolver) Step(vgs []G.ValueGrad) error { return stepValueGrads(s, vgs) }

func (s *adamSolver) begin() {
	s.t++
	bc1 := 1 - math.Pow(s.beta1, float64(s.t))
	bc2 := 1 - math.Pow(s.beta2, float64(s.t))
	s.stepSize = float32(s.lr / bc1)
	s.bc2Sqrt = float32(math.Sqrt(bc2))
	s.b1, s.c1 = float32(s.beta1), float32(1-s.beta1)
	s.b2, s.c2 = float32(s.beta2), float32(1-s.beta2)
	s.eps32 = float32(s.eps)
}

func (s *adamSolver) update(i int, w, g []float32) {
	for len(s.m) <= i {
		s.m = append(s.m, nil)
		s.v = append(s.v, nil)
	}
	if s.m[i] == nil {
		s.m[i], s.v[i] = make([]float32, len(w)), make([]float32, len(w))
	}
	m, v, g := s.m[i][:len(w)], s.v[i][:len(w)], g[:len(w)]
	k := adamKernel{b1: s.b1, c1: s.c1, b2: s.b2, c2: s.c2, stepSize: s.stepSize, invBC2Sqrt: 1 / s.bc2Sqrt, eps: s.eps32, wd: s.wd}
	parallelChunks(len(w), func(lo, hi int) { k.apply(w[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi]) })
}

// adamKernel holds one step's coefficients of the Adam update.
type adamKernel struct {
	b1, c1, b2, c2, stepSize, invBC2Sqrt, eps, wd float32
}

// applyGo updates w with gradient g and moments m and v (all of one
// length): m = b1 m + (1-b1) d; v = b2 v + (1-b2) d²; w -= lr/bc1 · m /
// (√v/√bc2 + eps), where d = g + wd w. It is the reference for the
// vectorised kernel (kernels_cgo.go), which must agree with it bit for bit.
func (k adamKernel) applyGo(w, g, m, v []float32) {
	g, m, v = g[:len(w)], m[:len(w)], v[:len(w)]
	b1, c1, b2, c2, step, inv, eps := k.b1, k.c1, k.b2, k.c2, k.stepSize, k.invBC2Sqrt, k.eps
	if k.wd != 0 {
		wd := k.wd
		for j := range w {
			d := g[j] + wd*w[j]
			mj := b1*m[j] + c1*d
			vj := b2*v[j] + c2*d*d
			m[j], v[j] = mj, vj
			w[j] -= step * mj / (float32(math.Sqrt(float64(vj)))*inv + eps)
		}
		return
	}
	for j := range w {
		d := g[j]
		mj := b1*m[j] + c1*d
		vj := b2*v[j] + c2*d*d
		m[j], v[j] = mj, vj
		w[j] -= step * mj / (float32(math.Sqrt(float64(vj)))*inv + eps)
	}
}

// parallelMin is the least number of elements worth splitting an
// element-wise update across goroutines.
const parallelMin = 1 << 15

// parallelChunks calls f on contiguous chunks covering [0, n): one chunk
// per available processor (GOMAXPROCS) for large n, else one.
func parallelChunks(n int, f func(lo, hi int)) {
	splitRanges(min(runtime.GOMAXPROCS(0), n/parallelMin), n, rangeFunc(f))
}

// ensure the solvers satisfy gorgonia's interface.
var (
	_ G.Solver = (*sgdSolver)(nil)
	_ G.Solver = (*adamSolver)(nil)
)
