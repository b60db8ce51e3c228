// Package attacks declares the adversarial attacks of the standard library
// as attack components (packages attack and robustness implement them),
// the entries of a robustness battery:
//
//	rob = robustness(fit.model, data.test, attacks: [fgsm(), pgd(steps: 10)], linf: [0.05, 0.1])
//
// A budgeted attack (fgsm, pgd) runs once at every budget the stage lists
// for its norm; a minimal-perturbation attack runs once and looks for the
// smallest change of each input that changes its class.
package attacks

import (
	"context"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/attack"
	"github.com/mlpipe/mlpipe/stdlib/robustness"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// Register adds the attacks to r.
func Register(r *interp.Registry) {
	interp.Register(r, fgsmDef)
	interp.Register(r, pgdDef)
	interp.Register(r, proxLogBarrierDef)
	interp.Register(r, logBarrierDef)
	interp.Register(r, greedyL0Def)
	interp.Register(r, pgdBisectionDef)
}

// attackType is the static type of every attack.
var attackType = lang.ObjectOf(lang.KindAttack)

// budgetedType is the static type of an attack within a budget of norm p:
// the robustness stage checks that it has budgets of that norm.
func budgetedType(p attack.Norm) *lang.Object {
	return &lang.Object{Kind: lang.KindAttack, Attrs: map[string]string{"norm": string(p), "budgeted": "true"}}
}

// minimalType is the static type of a minimal-perturbation attack in
// norm p.
func minimalType(p attack.Norm) *lang.Object {
	return &lang.Object{Kind: lang.KindAttack, Attrs: map[string]string{"norm": string(p)}}
}

// seedOf returns the seed of an attack: its own, or one derived from the
// experiment seed and the call's place in the pipeline.
func seedOf(env *interp.Env, own *int64) uint64 {
	if own != nil {
		return uint64(*own)
	}
	return uint64(env.Seed())
}

// NoArgs are the (no) parameters of an attack without settings.
type NoArgs struct{}

var fgsmDef = interp.Def[NoArgs]{
	Name:     "fgsm",
	Category: lang.KindAttack,
	Doc:      "Fast gradient sign method (Goodfellow et al.): one step of the budget ε along the sign of the input gradient of the cross-entropy, clamped to the input range, as x + ε·sign(∇ₓℓ). An l∞ attack, run at each of the stage's linf budgets.",
	Example:  "rob = robustness(fit.model, data.test, attacks: [fgsm()], linf: [0.05, 0.1])",
	Result:   budgetedType(attack.Linf),
	Build: func(ctx context.Context, env *interp.Env, a *NoArgs) (interp.Value, error) {
		return &value.Attack{Attack: robustness.FGSM{}}, nil
	},
}

// PGDArgs are the parameters of pgd.
type PGDArgs struct {
	Norm        string  `mlp:"norm" doc:"The norm of the budget's ball: linf (steps along the gradient's sign) or l2 (along the normalised gradient)." enum:"linf,l2"`
	Steps       int     `mlp:"steps" doc:"Gradient steps." range:"[1,10000]"`
	Step        float64 `mlp:"step" doc:"Step size as a fraction of the budget ε: 0.25 with 10 steps is Madry et al.'s 2.5·ε/10." range:"(0,inf)"`
	RandomStart bool    `mlp:"random_start" doc:"Start from a uniform point of the ball around each input (seeded) instead of the input itself."`
	Seed        *int64  `mlp:"seed" doc:"Seed of the random starts; default: derived from the experiment seed and the call's place in the pipeline." range:"[0,inf)"`
}

var pgdDef = interp.Def[PGDArgs]{
	Name:     "pgd",
	Category: lang.KindAttack,
	Doc:      "Projected gradient descent (Madry et al.): steps of gradient ascent on the cross-entropy, each projected onto the ball of the budget ε around the input and clamped to the input range. Runs at each budget the stage lists for its norm.",
	Example:  `rob = robustness(fit.model, data.test, attacks: [pgd(steps: 10), pgd(norm: "l2")], linf: [0.1], l2: [1.0])`,
	Result:   attackType,
	Defaults: PGDArgs{Norm: "linf", Steps: 10, Step: 0.25},
	Infer: func(a *PGDArgs) (lang.Type, error) {
		return budgetedType(attack.Norm(a.Norm)), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *PGDArgs) (interp.Value, error) {
		return &value.Attack{Attack: robustness.PGD{Ball: attack.Norm(a.Norm), Steps: a.Steps, StepFraction: a.Step,
			RandomStart: a.RandomStart, Seed: seedOf(env, a.Seed)}}, nil
	},
}
