package attack

import (
	"context"
	"fmt"
	"math"
	"slices"
)

// Barrier is the log barrier of the barrier attacks, a per-sample
// objective of the logits z with label k (it implements
// backend.Objective):
//
//	B(z) = −log c(z),   c(z) = max_i z_i − z_k,
//
// the maximum running over all classes, k included, so that c > 0 exactly
// when the sample is misclassified. Its gradient is −(e_j − e_k)/c with j
// the first maximising class. Where c ≤ 0 (or NaN) B is +Inf and the
// gradient zero. This is the barrier of proxlogbarrier_Top1.py, which
// takes the margin of the logits; with Softmax the margin is taken between
// the softmax probabilities p = softmax(z) instead, as in logbarrier.py
// and proxlogbarrier_Top5.py, c = max_i p_i − p_k.
type Barrier struct {
	// Softmax takes the margin of the probabilities, not of the logits.
	Softmax bool
}

// Row returns B(logits) for label k and writes its gradient with respect
// to the logits into grad.
func (b Barrier) Row(logits []float32, k int, grad []float32) float64 {
	clear(grad)
	j := 0
	for i, v := range logits {
		if v > logits[j] {
			j = i
		}
	}
	if !b.Softmax {
		c := float64(logits[j]) - float64(logits[k])
		if !(c > 0) {
			return math.Inf(1)
		}
		grad[j] = float32(-1 / c)
		grad[k] = float32(1 / c)
		return -math.Log(c)
	}
	// p_i = e_i/S with e_i = exp(z_i − z_j), e_j = 1; then
	// c = (1 − e_k)/S and ∂B/∂z_m = p_m − (δ_jm·p_j − δ_km·p_k)/c.
	mx := float64(logits[j])
	var s float64
	for _, v := range logits {
		s += math.Exp(float64(v) - mx)
	}
	c := -math.Expm1(float64(logits[k])-mx) / s
	if !(c > 0) || math.IsNaN(s) {
		return math.Inf(1)
	}
	for i, v := range logits {
		grad[i] = float32(math.Exp(float64(v)-mx) / s)
	}
	pj, pk := 1/s, math.Exp(float64(logits[k])-mx)/s
	grad[j] = float32(pj - pj/c)
	grad[k] = float32(pk + pk/c)
	return -math.Log(c)
}

// ProxLogBarrier is the ProxLogBarrier attack of Pooladian, Finlay,
// Hoheisel and Oberman (AISTATS 2020): it looks for the closest
// misclassified point x to each sample x0 in the norm d ∈ {l0, l1, l2,
// l∞} by proximal gradient steps on d(x − x0) + α·B(x), B the log barrier
// of the margin (see Barrier), with α shrinking geometrically and every
// iterate kept misclassified, as proxlogbarrier_Top1.py:
//
//  1. Samples the classifier misclassifies already are left at distance 0.
//     Every other sample starts from x0 + 1.01^k·0.01·N(0, I), clamped
//     into Box, k = 0, 1, … until misclassified or InitIters draws (a
//     sample never misclassified is a failure); the noise is drawn from
//     a stream seeded by Seed and the sample's index.
//  2. For outer loops k = 0 … MaxOuter−1, α_k = Alpha0·Beta^k, and
//     MaxInner inner iterations each:
//     u = x − Dt·α_k·∇B(x); x ← x0 + prox_{T·d}(u − x0), clamped into
//     Box; while x is correctly classified, x ← Gamma·x + (1−Gamma)·xold
//     (xold the previous iterate), at most MaxBacktrack times before x is
//     reset to xold; the iterate closest to x0 so far is kept.
//
// The prox weight is T, not Dt·T, as in the reference. The operators are
// the exact ones (ProxL0, ProxL1, ProxL2, ProxLinf) unless RepoProx
// selects the reference's (RepoProxL0, RepoProxL1, RepoProxLinf; l2 is
// the same). Samples do not interact: a sample's result does not depend on
// the batch it is attacked in.
type ProxLogBarrier struct {
	// Norm is the distance minimised: L0, L1, L2 or Linf.
	Norm Norm
	// Dt is the step of the gradient step, Alpha0 the initial barrier
	// weight, Beta its factor per outer loop, Gamma the fraction of the
	// rejected step kept when back-tracking, and T the prox weight.
	Dt, Alpha0, Beta, Gamma, T float64
	// MaxOuter and MaxInner are the numbers of outer and inner loops.
	MaxOuter, MaxInner int
	// InitIters caps the Gaussian draws of the initialisation and
	// MaxBacktrack the back-tracking steps of one iteration.
	InitIters, MaxBacktrack int
	// Softmax takes the barrier on the softmax probabilities instead of
	// the logits.
	Softmax bool
	// RepoProx selects the reference implementation's l0, l1 and l∞
	// operators.
	RepoProx bool
	// Seed seeds the initialisation.
	Seed uint64
	// Box is the valid input range.
	Box Box
}

// NewProxLogBarrier returns the attack in norm with the defaults of the
// reference implementation for MNIST, Fashion-MNIST and CIFAR-10: Dt 0.1,
// Alpha0 0.1, Beta 0.75, Gamma 0.05, T 1, 30 outer × 30 inner loops, the
// barrier on the logits, the exact prox operators, Box [0, 1]; plus the
// caps InitIters 1000 (where the reference stops at 10⁴: the noise scale
// is then already 209 times the width of the unit box, so that further
// draws come from the same near-binary distribution) and MaxBacktrack 50
// (the reference has none; 0.05⁵⁰ of a step is far below float32
// resolution).
func NewProxLogBarrier(norm Norm) ProxLogBarrier {
	return ProxLogBarrier{
		Norm: norm, Dt: 0.1, Alpha0: 0.1, Beta: 0.75, Gamma: 0.05, T: 1,
		MaxOuter: 30, MaxInner: 30, InitIters: 1000, MaxBacktrack: 50,
		Box: Box{0, 1},
	}
}

// Check reports settings out of range.
func (a ProxLogBarrier) Check() error {
	switch a.Norm {
	case L0, L1, L2, Linf:
	default:
		return fmt.Errorf("norm %q: want l0, l1, l2 or linf", a.Norm)
	}
	if err := checkBarrier(a.Dt, a.Alpha0, a.Beta, a.Gamma, a.MaxOuter, a.MaxInner, a.InitIters, a.MaxBacktrack); err != nil {
		return err
	}
	if !(a.T >= 0) || math.IsInf(a.T, 0) {
		return fmt.Errorf("prox weight T %v must be finite and at least 0", a.T)
	}
	return a.Box.Check()
}

// checkBarrier reports barrier settings out of range.
func checkBarrier(dt, alpha0, beta, gamma float64, outer, inner, init, back int) error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case !(dt > 0) || !finite(dt):
		return fmt.Errorf("step dt %v must be finite and positive", dt)
	case !(alpha0 > 0) || !finite(alpha0):
		return fmt.Errorf("barrier weight alpha0 %v must be finite and positive", alpha0)
	case !(beta > 0 && beta <= 1):
		return fmt.Errorf("barrier factor beta %v must be in (0, 1]", beta)
	case !(gamma >= 0 && gamma < 1):
		return fmt.Errorf("back-tracking gamma %v must be in [0, 1)", gamma)
	case outer < 1 || inner < 1:
		return fmt.Errorf("%d outer and %d inner loops: want at least 1 each", outer, inner)
	case init < 1:
		return fmt.Errorf("%d initialisation draws: want at least 1", init)
	case back < 0:
		return fmt.Errorf("%d back-tracking steps: want at least 0", back)
	}
	return nil
}

// Run attacks the n = len(y) samples x (n × c.Inputs() values, inside
// Box) with labels y, in batches of up to c.Rows() samples, and returns
// the closest verified adversarial points found. It checks ctx before
// every iteration.
func (a ProxLogBarrier) Run(ctx context.Context, c Classifier, x []float32, y []int32) (*Result, error) {
	return a.RunFrom(ctx, c, x, y, nil)
}

// RunFrom is Run starting from the points start (n × c.Inputs() values
// inside Box, or nil) in place of the Gaussian initialisation: a sample
// whose start point the classifier misclassifies starts there, the others
// get the Gaussian initialisation. (The reference implementation's
// "safety" initialisation, for one, starts from a natural image of
// another class.)
func (a ProxLogBarrier) RunFrom(ctx context.Context, c Classifier, x []float32, y []int32, start []float32) (*Result, error) {
	if err := a.Check(); err != nil {
		return nil, fmt.Errorf("attack: proxlogbarrier: %w", err)
	}
	prox := proxFunc(a.Norm, a.RepoProx)
	keep := float32(a.Gamma)
	r, err := runBarrier(ctx, c, x, y, start, a.Norm, a.Box, a.Seed, a.InitIters, func(s *barrierState) error {
		in := c.Inputs()
		u := make([]float32, in)
		var scratch []float64
		for k := range a.MaxOuter {
			step := float32(a.Dt * a.Alpha0 * math.Pow(a.Beta, float64(k)))
			for range a.MaxInner {
				if err := s.gradient(ctx, Barrier{Softmax: a.Softmax}); err != nil {
					return err
				}
				for i, at := range s.attacked {
					if !at {
						continue
					}
					xi, x0, g := s.x[i*in:(i+1)*in], s.x0[i*in:(i+1)*in], s.grad[i*in:(i+1)*in]
					for t := range u {
						u[t] = (xi[t] - step*g[t]) - x0[t]
					}
					scratch = prox(u, u, a.T, scratch)
					for t := range u {
						xi[t] = a.Box.clamp(x0[t] + u[t])
					}
				}
				if err := s.backtrack(ctx, s.attacked, keep, a.MaxBacktrack); err != nil {
					return err
				}
				s.keepBest(s.attacked)
				copy(s.xold, s.x)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("attack: proxlogbarrier: %w", err)
	}
	return r, nil
}

// LogBarrier is the LogBarrier attack of Finlay, Pooladian and Oberman
// (ICCV 2019) in the l2 or l∞ norm, as logbarrier.py: gradient descent on
// ½‖x − x0‖₂² + α·B(x) (l2) or on m(x − x0) + α·B(x) (l∞), with
// m(z) = Σ_i softmax(T·|z|)_i·|z_i| a smooth maximum, B the log barrier
// (see Barrier) and α shrinking geometrically, every iterate kept
// misclassified:
//
//  1. The initialisation is ProxLogBarrier's (Gaussian noise of growing
//     scale, clamped into Box — the reference forgets the clamp).
//  2. For outer loops k = 0 … MaxOuter−1, α_k = Alpha0·Beta^k, and at most
//     MaxInner inner iterations each:
//     l2: x ← x − Dt·((x − x0) + α_k·∇B(x)); l∞: x ← x − Dt·(∇m(x − x0) +
//     α_k·∇B(x)); clamped into Box; while x is correctly classified,
//     x ← (1−Gamma)·x + Gamma·xold, at most MaxBacktrack times before x is
//     reset to xold; the iterate closest to x0 so far is kept. A sample
//     whose iterate moved by at most Tol (in Norm) ends its inner loop.
//
// The reference ends the inner loop of the whole batch when every sample
// has moved by at most Tol; ending it per sample keeps a sample's result
// independent of its batch. The barrier takes the softmax probabilities,
// as the reference's, unless Softmax is false (then the logits, as
// ProxLogBarrier's).
type LogBarrier struct {
	// Norm is the distance minimised: L2 or Linf.
	Norm Norm
	// Dt is the step, Alpha0 the initial barrier weight, Beta its
	// factor per outer loop, Gamma the fraction of the way back to the
	// previous iterate of a back-tracking step, Tol the movement below
	// which a sample's inner loop ends and T the temperature of the
	// smooth maximum of l∞.
	Dt, Alpha0, Beta, Gamma, Tol, T float64
	// MaxOuter and MaxInner are the numbers of outer and (at most)
	// inner loops.
	MaxOuter, MaxInner int
	// InitIters caps the Gaussian draws of the initialisation and
	// MaxBacktrack the back-tracking steps of one iteration.
	InitIters, MaxBacktrack int
	// Softmax takes the barrier on the softmax probabilities.
	Softmax bool
	// Seed seeds the initialisation.
	Seed uint64
	// Box is the valid input range.
	Box Box
}

// NewLogBarrier returns the attack in norm with the reference defaults:
// Dt 0.01, Alpha0 0.1, Beta 0.75, Gamma 0.5, 15 outer loops of at most
// 500 inner iterations, Tol 10⁻⁶, T 500, the barrier on the softmax
// probabilities, InitIters 1000 (the reference's cap), MaxBacktrack 60
// and Box [0, 1].
func NewLogBarrier(norm Norm) LogBarrier {
	return LogBarrier{
		Norm: norm, Dt: 0.01, Alpha0: 0.1, Beta: 0.75, Gamma: 0.5, Tol: 1e-6, T: 500,
		MaxOuter: 15, MaxInner: 500, InitIters: 1000, MaxBacktrack: 60,
		Softmax: true, Box: Box{0, 1},
	}
}

// Check reports settings out of range.
func (a LogBarrier) Check() error {
	if a.Norm != L2 && a.Norm != Linf {
		return fmt.Errorf("norm %q: want l2 or linf", a.Norm)
	}
	if err := checkBarrier(a.Dt, a.Alpha0, a.Beta, a.Gamma, a.MaxOuter, a.MaxInner, a.InitIters, a.MaxBacktrack); err != nil {
		return err
	}
	switch {
	case !(a.Tol >= 0) || math.IsInf(a.Tol, 0):
		return fmt.Errorf("tolerance %v must be finite and at least 0", a.Tol)
	case a.Norm == Linf && (!(a.T > 0) || math.IsInf(a.T, 0)):
		return fmt.Errorf("temperature T %v must be finite and positive", a.T)
	}
	return a.Box.Check()
}

// Run attacks the n = len(y) samples x (n × c.Inputs() values, inside
// Box) with labels y, in batches of up to c.Rows() samples, and returns
// the closest verified adversarial points found. It checks ctx before
// every iteration.
func (a LogBarrier) Run(ctx context.Context, c Classifier, x []float32, y []int32) (*Result, error) {
	return a.RunFrom(ctx, c, x, y, nil)
}

// RunFrom is Run starting from the points start (n × c.Inputs() values
// inside Box, or nil) where the classifier misclassifies them, as
// ProxLogBarrier.RunFrom.
func (a LogBarrier) RunFrom(ctx context.Context, c Classifier, x []float32, y []int32, start []float32) (*Result, error) {
	if err := a.Check(); err != nil {
		return nil, fmt.Errorf("attack: logbarrier: %w", err)
	}
	keep := float32(1 - a.Gamma)
	r, err := runBarrier(ctx, c, x, y, start, a.Norm, a.Box, a.Seed, a.InitIters, func(s *barrierState) error {
		in := c.Inputs()
		dm := make([]float64, in)
		dt := float32(a.Dt)
		for k := range a.MaxOuter {
			alpha := float32(a.Alpha0 * math.Pow(a.Beta, float64(k)))
			active := slices.Clone(s.attacked)
			for j := 0; j < a.MaxInner && slices.Contains(active, true); j++ {
				if err := s.gradient(ctx, Barrier{Softmax: a.Softmax}); err != nil {
					return err
				}
				for i, at := range active {
					if !at {
						continue
					}
					xi, x0, g := s.x[i*in:(i+1)*in], s.x0[i*in:(i+1)*in], s.grad[i*in:(i+1)*in]
					switch a.Norm {
					case L2:
						for t, v := range xi {
							xi[t] = a.Box.clamp(v - dt*((v-x0[t])+alpha*g[t]))
						}
					case Linf:
						smoothMaxGrad(dm, xi, x0, a.T)
						for t, v := range xi {
							xi[t] = a.Box.clamp(v - dt*(float32(dm[t])+alpha*g[t]))
						}
					}
				}
				if err := s.backtrack(ctx, active, keep, a.MaxBacktrack); err != nil {
					return err
				}
				s.keepBest(active)
				for i, at := range active {
					if at {
						xi, xo := s.x[i*in:(i+1)*in], s.xold[i*in:(i+1)*in]
						active[i] = Distance(a.Norm, xo, xi) > a.Tol
						copy(xo, xi)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("attack: logbarrier: %w", err)
	}
	return r, nil
}

// smoothMaxGrad writes into dm the gradient with respect to x of
// m(z) = Σ_i w_i·|z_i|, w = softmax(T·|z|), z = x − x0:
// ∂m/∂x_j = sign(z_j)·w_j·(1 + T·(|z_j| − m)).
func smoothMaxGrad(dm []float64, x, x0 []float32, temp float64) {
	mx := 0.0
	for j, v := range x {
		mx = math.Max(mx, math.Abs(float64(v)-float64(x0[j])))
	}
	var s, m float64
	for j, v := range x {
		a := math.Abs(float64(v) - float64(x0[j]))
		w := math.Exp(temp * (a - mx))
		dm[j] = w
		s += w
		m += w * a
	}
	m /= s
	for j, v := range x {
		z := float64(v) - float64(x0[j])
		w := dm[j] / s
		dm[j] = 0
		if z != 0 {
			dm[j] = math.Copysign(w*(1+temp*(math.Abs(z)-m)), z)
		}
	}
}

// barrierState is one batch of a barrier attack: the clean samples x0
// with labels y, the current iterate x, the previous one xold, the best
// iterates and their distances, and which samples are attacked.
type barrierState struct {
	c           Classifier
	norm        Norm
	in          int
	x0, x, xold []float32
	xbest, grad []float32
	logits      []float32
	mis         []bool
	y           []int32
	attacked    []bool
	best        []float64
}

// runBarrier checks the inputs of a barrier attack, initialises each
// batch (clean samples stay, the others start from start where it is
// misclassified, else from Gaussian noise), runs iterate on it and
// records the verified best iterates.
func runBarrier(ctx context.Context, c Classifier, x []float32, y []int32, start []float32, norm Norm, box Box, seed uint64, initIters int, iterate func(*barrierState) error) (*Result, error) {
	if err := checkSamples(c, x, y); err != nil {
		return nil, err
	}
	in, n := c.Inputs(), len(y)
	if err := checkInBox(box, x, in); err != nil {
		return nil, err
	}
	if start != nil {
		if len(start) != len(x) {
			return nil, fmt.Errorf("%d start values for %d inputs", len(start), len(x))
		}
		if err := checkInBox(box, start, in); err != nil {
			return nil, fmt.Errorf("start: %w", err)
		}
	}
	r := newResult(norm, n, in)
	err := batches(ctx, n, c.Rows(), func(lo, hi int) error {
		b := hi - lo
		s := &barrierState{
			c: c, norm: norm, in: in,
			x0:     x[lo*in : hi*in],
			y:      y[lo:hi],
			logits: make([]float32, b*c.Classes()),
			mis:    make([]bool, b),
			grad:   make([]float32, b*in),
			best:   make([]float64, b),
		}
		clean := make([]bool, b)
		if err := classify(ctx, c, s.x0, s.y, s.logits, clean); err != nil {
			return err
		}
		s.x = slices.Clone(s.x0)
		if start != nil {
			for i := range b {
				if !clean[i] {
					copy(s.x[i*in:(i+1)*in], start[(lo+i)*in:])
				}
			}
		}
		ok, err := initialise(ctx, c, s.x0, s.x, s.y, lo, box, seed, initIters)
		if err != nil {
			return err
		}
		s.attacked = make([]bool, b)
		for i := range b {
			s.attacked[i] = ok[i] && !clean[i]
			s.best[i] = Distance(norm, s.x0[i*in:(i+1)*in], s.x[i*in:(i+1)*in])
			ok[i] = ok[i] || clean[i]
		}
		s.xold, s.xbest = slices.Clone(s.x), slices.Clone(s.x)
		if slices.Contains(s.attacked, true) {
			if err := iterate(s); err != nil {
				return err
			}
		}
		return r.record(ctx, c, box, lo, s.x0, s.xbest, s.y, ok, clean)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// gradient sets s.grad to the gradient of obj at s.x.
func (s *barrierState) gradient(ctx context.Context, obj Barrier) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.c.ComputeObjective(ctx, obj, s.x, s.y, s.grad, nil, nil)
}

// backtrack pulls the samples of which that are correctly classified back
// toward s.xold (see backtrack).
func (s *barrierState) backtrack(ctx context.Context, which []bool, keep float32, limit int) error {
	return backtrack(ctx, s.c, s.x, s.xold, s.x0, s.y, which, keep, limit, s.logits, s.mis)
}

// keepBest stores the iterates of the samples of which that are at most
// as far from x0 as the best so far.
func (s *barrierState) keepBest(which []bool) {
	in := s.in
	for i, w := range which {
		if !w {
			continue
		}
		xi := s.x[i*in : (i+1)*in]
		if d := Distance(s.norm, s.x0[i*in:(i+1)*in], xi); d <= s.best[i] {
			s.best[i] = d
			copy(s.xbest[i*in:], xi)
		}
	}
}
