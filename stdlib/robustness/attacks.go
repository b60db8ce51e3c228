package robustness

import (
	"context"
	"fmt"

	"github.com/mlpipe/mlpipe/stdlib/attack"
)

// FGSM is the fast gradient sign attack as a budgeted l∞ attack.
type FGSM struct{}

// Name implements Attack.
func (FGSM) Name() string { return "fgsm" }

// Norm implements Attack.
func (FGSM) Norm() attack.Norm { return attack.Linf }

// Perturb implements Budgeted.
func (FGSM) Perturb(ctx context.Context, c attack.Classifier, x []float32, y []int32, eps float64, box attack.Box) ([]float32, error) {
	return attack.FGSM(ctx, c, x, y, c.Inputs(), float32(eps), box)
}

// PGD is projected gradient descent as a budgeted attack: Steps steps of
// StepFraction times the budget (0.25 with 10 steps is Madry et al.'s
// 2.5·ε/10), in the norm Ball, from the input or, with RandomStart, from a
// point of the ball drawn from Seed.
type PGD struct {
	Ball         attack.Norm // the norm of the budget: attack.Linf or attack.L2
	Steps        int
	StepFraction float64
	RandomStart  bool
	Seed         uint64
}

// Name implements Attack.
func (p PGD) Name() string {
	s := fmt.Sprintf("pgd-%d %s", p.Steps, p.Ball)
	if p.RandomStart {
		s += " random start"
	}
	return s
}

// Norm implements Attack.
func (p PGD) Norm() attack.Norm { return p.Ball }

// Perturb implements Budgeted.
func (p PGD) Perturb(ctx context.Context, c attack.Classifier, x []float32, y []int32, eps float64, box attack.Box) ([]float32, error) {
	a := attack.PGD{Norm: p.Ball, Eps: float32(eps), Step: float32(p.StepFraction * eps), Steps: p.Steps,
		RandomStart: p.RandomStart, Seed: p.Seed, Box: box}
	return a.Run(ctx, c, x, y, c.Inputs())
}
