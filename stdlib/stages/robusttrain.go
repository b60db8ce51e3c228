package stages

import (
	"context"
	"fmt"
	"math"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/certify"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// robustPlan is how train optimises a loss with robust-training terms: the
// weights of the cross-entropy on the clean batch and on its perturbed
// copy, and of the finite-difference gradient penalty, with the term that
// makes the perturbed copy.
type robustPlan struct {
	clean, perturbed, penalty float64
	lipschitz                 float64           // weight of the Lipschitz bound's regulariser
	adversarial               *value.RobustTerm // makes adversarial examples
	gradient                  *value.RobustTerm // makes x + h·v
}

// trainer returns the trainer that optimises the plan's loss on m's
// weights: a plain one for the cross-entropy alone, else a paired one.
// A Lipschitz term adds its regulariser to either.
func (p robustPlan) trainer(m *backend.Model, opt backend.Optimizer, batch int) (*backend.Trainer, error) {
	var tr *backend.Trainer
	var err error
	if p.paired() {
		loss := backend.PairedLoss{Clean: p.clean, Perturbed: p.perturbed, Penalty: p.penalty}
		if p.gradient != nil {
			loss.H = p.gradient.H
		}
		tr, err = backend.NewPairedTrainer(m, opt, batch, loss)
	} else {
		tr, err = backend.NewTrainer(m, opt, batch)
	}
	if err != nil {
		return nil, err
	}
	if p.lipschitz > 0 {
		reg, err := certify.NewLipschitzRegularizer(m, p.lipschitz)
		if err != nil {
			tr.Close()
			return nil, interp.ArgErrorf("loss", "lipschitz: %v", err)
		}
		tr.SetRegularizer(reg)
	}
	return tr, nil
}

// paired reports whether the plan needs a perturbed copy of each batch.
func (p robustPlan) paired() bool { return p.adversarial != nil || p.gradient != nil }

// planLoss splits a train stage's loss into a robustPlan, or explains why
// train cannot optimise it.
func planLoss(l *value.Loss) (robustPlan, error) {
	var p robustPlan
	for _, t := range l.Terms {
		switch t.Name {
		case "cross_entropy":
			p.clean += t.Weight
		case "adversarial":
			if p.adversarial != nil && p.adversarial != t.Robust {
				return p, interp.ArgErrorf("loss", "the loss %s has two adversarial terms; train takes one", l)
			}
			p.adversarial = t.Robust
			p.perturbed += t.Weight
		case "gradient_penalty":
			if p.gradient != nil && p.gradient != t.Robust {
				return p, interp.ArgErrorf("loss", "the loss %s has two gradient penalties; train takes one", l)
			}
			p.gradient = t.Robust
			p.penalty += t.Weight
		case "lipschitz":
			p.lipschitz += t.Weight
		default:
			return p, interp.ArgErrorf("loss", "train optimises cross_entropy() with robust-training terms (adversarial, gradient_penalty, lipschitz); the loss %s has %s", l, t.Name)
		}
	}
	switch {
	case p.adversarial != nil && p.gradient != nil:
		return p, interp.ArgErrorf("loss", "the loss %s combines adversarial training with a gradient penalty; train takes one of them", l)
	case p.clean < 0 || p.perturbed < 0 || p.penalty < 0 || p.lipschitz < 0:
		return p, interp.ArgErrorf("loss", "the loss %s has a negative weight", l)
	case p.clean+p.perturbed == 0:
		return p, interp.ArgErrorf("loss", "the loss %s has no cross-entropy term (clean or adversarial)", l)
	case !p.paired() && p.clean != 1:
		return p, interp.ArgErrorf("loss", "the loss %s weighs the cross-entropy by %v; without a robust-training term train optimises cross_entropy() with weight 1", l, p.clean)
	}
	return p, nil
}

// perturber makes the perturbed half of a paired training step from the
// current weights (read in place by its input-gradient graph).
type perturber struct {
	plan robustPlan
	ig   *backend.InputGradient
	in   int
	grad []float32
}

func newPerturber(plan robustPlan, m *backend.Model, batch int) (*perturber, error) {
	ig, err := backend.NewInputGradient(m, batch)
	if err != nil {
		return nil, err
	}
	return &perturber{plan: plan, ig: ig, in: m.Arch.InputWidth(), grad: make([]float32, batch*m.Arch.InputWidth())}, nil
}

func (p *perturber) close() { p.ig.Close() }

// perturb writes the perturbed copy of the n = len(y) samples x into xp.
func (p *perturber) perturb(ctx context.Context, x []float32, y []int32, xp []float32) error {
	if a := p.plan.adversarial; a != nil {
		adv, err := a.Attack.Perturb(ctx, p.ig, x, y, a.Eps, a.Box)
		if err != nil {
			return fmt.Errorf("adversarial examples: %w", err)
		}
		copy(xp, adv)
		return nil
	}
	g := p.plan.gradient
	grad := p.grad[:len(x)]
	if err := p.ig.Compute(ctx, x, y, grad, nil, nil); err != nil {
		return fmt.Errorf("gradient penalty: %w", err)
	}
	for i := range y {
		xi, gi, out := x[i*p.in:(i+1)*p.in], grad[i*p.in:(i+1)*p.in], xp[i*p.in:(i+1)*p.in]
		direction(g.Direction, gi, out)
		for j, v := range out {
			out[j] = xi[j] + float32(g.H)*v
		}
	}
	return nil
}

// direction writes into v the direction of the finite-difference gradient
// penalty for the input gradient d (tulip's three options): d/‖d‖₂ for l2,
// sign(d)/√n for l1, and for linf the sign of d's largest entry in absolute
// value on its axis (the first such entry). A zero gradient gives v = 0.
func direction(norm string, d, v []float32) {
	clear(v)
	switch norm {
	case "l2":
		var s float64
		for _, x := range d {
			s += float64(x) * float64(x)
		}
		if s == 0 {
			return
		}
		inv := 1 / math.Sqrt(s)
		for j, x := range d {
			v[j] = float32(float64(x) * inv)
		}
	case "l1":
		k := float32(1 / math.Sqrt(float64(len(d))))
		for j, x := range d {
			switch {
			case x > 0:
				v[j] = k
			case x < 0:
				v[j] = -k
			}
		}
	case "linf":
		at := -1
		var best float32
		for j, x := range d {
			if a := float32(math.Abs(float64(x))); a > best {
				best, at = a, j
			}
		}
		if at >= 0 {
			v[at] = float32(math.Copysign(1, float64(d[at])))
		}
	}
}
