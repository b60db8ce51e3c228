// Package attack implements gradient-based adversarial attacks on
// classifiers: FGSM and projected gradient descent (PGD) in the l∞ and l2
// norms, batched, seeded, and clamped to the valid input range. The
// gradients come from a Gradienter, such as backend.InputGradient, whose
// compiled graph is reused across every step of an attack.
package attack

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// Gradienter computes per-sample losses and their gradients with respect
// to the inputs, for batches of up to Rows samples (see
// backend.InputGradient.Compute).
type Gradienter interface {
	Rows() int
	Compute(ctx context.Context, x []float32, y []int32, grad, logits, loss []float32) error
}

// Classifier is what minimal-perturbation attacks (the log barriers, the
// greedy l0 search, PGD with a bisection on its budget) need of a model:
// gradients of any per-sample objective of the logits, and the logits
// alone, for batches of up to Rows samples of Inputs values.
// backend.InputGradient is one.
type Classifier interface {
	Gradienter
	Inputs() int
	Classes() int
	// ComputeObjective is Compute with obj in place of the
	// cross-entropy (obj nil: the cross-entropy).
	ComputeObjective(ctx context.Context, obj backend.Objective, x []float32, y []int32, grad, logits, loss []float32) error
	// Logits writes the logits of the len(x)/Inputs() samples x.
	Logits(ctx context.Context, x []float32, logits []float32) error
}

// Norm is the norm that measures a perturbation.
type Norm string

// The norms of PGD.
const (
	Linf Norm = "linf"
	L2   Norm = "l2"
)

// Box is the valid range of every input value; attacks clamp into it.
type Box struct{ Lo, Hi float32 }

// Check reports a box whose bounds are not finite and ordered.
func (b Box) Check() error {
	if !(b.Lo < b.Hi) || math.IsInf(float64(b.Lo), 0) || math.IsInf(float64(b.Hi), 0) {
		return fmt.Errorf("input range [%v, %v] must be finite with lo < hi", b.Lo, b.Hi)
	}
	return nil
}

func (b Box) clamp(v float32) float32 { return min(max(v, b.Lo), b.Hi) }

// FGSM returns the fast gradient sign attack on the n = len(y) samples x
// (n × in values): x + eps·sign(∇ₓℓ(x, y)), clamped into box, as
// (x + eps * x.grad.sign()).clamp(lo, hi) in PyTorch. A zero gradient
// leaves the value unchanged.
func FGSM(ctx context.Context, g Gradienter, x []float32, y []int32, in int, eps float32, box Box) ([]float32, error) {
	return PGD{Norm: Linf, Eps: eps, Step: eps, Steps: 1, Box: box}.Run(ctx, g, x, y, in)
}

// PGD is projected gradient ascent on the loss within a ball of radius Eps
// around each sample: Steps steps of size Step (x + Step·sign(∇) for l∞,
// x + Step·∇/‖∇‖₂ for l2), each followed by projection onto the ball and
// clamping into Box, as in Madry et al. With RandomStart the attack starts
// from a uniform point of the ball (l∞: each value uniform in [−Eps, Eps];
// l2: a uniform direction at radius Eps·U^(1/d)), drawn from Seed and the
// sample's index, clamped into Box; else from the sample itself.
type PGD struct {
	Norm        Norm
	Eps, Step   float32
	Steps       int
	RandomStart bool
	Seed        uint64
	Box         Box
}

// Check reports settings out of range.
func (p PGD) Check() error {
	switch {
	case p.Norm != Linf && p.Norm != L2:
		return fmt.Errorf("norm %q: want linf or l2", p.Norm)
	case !(p.Eps >= 0) || math.IsInf(float64(p.Eps), 0):
		return fmt.Errorf("budget eps %v must be finite and at least 0", p.Eps)
	case !(p.Step > 0) || math.IsInf(float64(p.Step), 0):
		return fmt.Errorf("step %v must be finite and positive", p.Step)
	case p.Steps < 1:
		return fmt.Errorf("%d steps: want at least 1", p.Steps)
	}
	return p.Box.Check()
}

// Run attacks the n = len(y) samples x (n × in values) with labels y and
// returns the adversarial samples. It checks ctx before every step.
func (p PGD) Run(ctx context.Context, g Gradienter, x []float32, y []int32, in int) ([]float32, error) {
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("attack: %w", err)
	}
	n := len(y)
	if in < 1 || len(x) != n*in {
		return nil, fmt.Errorf("attack: %d inputs for %d samples of %d values", len(x), n, in)
	}
	rows := g.Rows()
	if rows < 1 {
		return nil, errors.New("attack: the gradient graph takes no rows")
	}
	adv := make([]float32, len(x))
	copy(adv, x)
	grad := make([]float32, min(rows, n)*in)
	for lo := 0; lo < n; lo += rows {
		hi := min(lo+rows, n)
		x0, xa := x[lo*in:hi*in], adv[lo*in:hi*in]
		if p.RandomStart {
			for i := lo; i < hi; i++ {
				p.randomStart(xa[(i-lo)*in:(i-lo+1)*in], x0[(i-lo)*in:(i-lo+1)*in], i)
			}
		}
		for step := 0; step < p.Steps; step++ {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("attack: %w", err)
			}
			gb := grad[:(hi-lo)*in]
			if err := g.Compute(ctx, xa, y[lo:hi], gb, nil, nil); err != nil {
				return nil, fmt.Errorf("attack: %w", err)
			}
			for i := 0; i < hi-lo; i++ {
				p.step(xa[i*in:(i+1)*in], x0[i*in:(i+1)*in], gb[i*in:(i+1)*in])
			}
		}
	}
	return adv, nil
}

// step moves one sample xa along its gradient gr, projects it onto the
// ball around x0 and clamps it.
func (p PGD) step(xa, x0, gr []float32) {
	switch p.Norm {
	case Linf:
		// Branch-free: the gradient's signs are as good as random, and
		// a branch on them mispredicted so often that this loop took
		// 40% of an MLP attack's time. ±Step takes the gradient's sign
		// bit; a zero (or NaN) gradient, which is rare, moves nothing.
		stepBits := math.Float32bits(p.Step)
		eps, lo, hi := p.Eps, p.Box.Lo, p.Box.Hi
		x0, gr = x0[:len(xa)], gr[:len(xa)]
		for j, v := range xa {
			g, o := gr[j], x0[j]
			delta := math.Float32frombits(stepBits | math.Float32bits(g)&(1<<31))
			if !(g != 0) || g != g {
				delta = 0
			}
			d := min(max(v+delta-o, -eps), eps)
			xa[j] = min(max(o+d, lo), hi)
		}
	case L2:
		gn := norm2(gr)
		if gn > 0 {
			s := p.Step / gn
			for j := range xa {
				xa[j] += s * gr[j]
			}
		}
		p.projectL2(xa, x0)
	}
}

// projectL2 scales the perturbation xa − x0 into the l2 ball of radius Eps,
// then clamps xa into the box (which can only shorten it).
func (p PGD) projectL2(xa, x0 []float32) {
	var s float64
	for j, v := range xa {
		d := float64(v - x0[j])
		s += d * d
	}
	scale := float32(1)
	if r := math.Sqrt(s); r > float64(p.Eps) {
		scale = float32(float64(p.Eps) / r)
	}
	for j, v := range xa {
		xa[j] = p.Box.clamp(x0[j] + (v-x0[j])*scale)
	}
}

// randomStart sets xa to a uniform point of the ball around x0, drawn from
// the seed and the sample's index i, clamped into the box.
func (p PGD) randomStart(xa, x0 []float32, i int) {
	rng := rand.New(rand.NewPCG(p.Seed, uint64(i)))
	switch p.Norm {
	case Linf:
		for j := range xa {
			xa[j] = p.Box.clamp(x0[j] + p.Eps*float32(2*rng.Float64()-1))
		}
	case L2:
		var s float64
		for j := range xa {
			v := rng.NormFloat64()
			xa[j] = float32(v)
			s += v * v
		}
		r := float64(p.Eps) * math.Pow(rng.Float64(), 1/float64(len(xa)))
		k := float32(r / math.Sqrt(s))
		for j := range xa {
			xa[j] = p.Box.clamp(x0[j] + k*xa[j])
		}
	}
}

func norm2(v []float32) float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return float32(math.Sqrt(s))
}
