package losses

import (
	"context"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/attack"
	"github.com/mlpipe/mlpipe/stdlib/robustness"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// AdversarialArgs are the parameters of adversarial.
type AdversarialArgs struct {
	Attack interp.Value `mlp:"attack,positional" doc:"The attack that makes the training examples, such as fgsm() or pgd(steps: 7); it must run within a budget." kind:"attack" required:"true"`
	Eps    float64      `mlp:"eps" doc:"The attack's budget, in its norm." range:"(0,inf)" required:"true"`
	Range  []float64    `mlp:"range" doc:"The valid range [low, high] of every input value."`
}

var adversarialDef = interp.Def[AdversarialArgs]{
	Name:     "adversarial",
	Category: lang.KindLoss,
	Doc: "Adversarial training (Goodfellow et al.; Madry et al.): the cross-entropy on adversarial versions of each batch, made by the attack at budget eps against the current weights (the model in eval mode). " +
		"0.5 * cross_entropy() + 0.5 * adversarial(fgsm(), eps: 0.1) is Goodfellow's mixed objective; adversarial(pgd(steps: 7), eps: 0.1) alone is Madry's. To first order it is a gradient-norm penalty: FGSM adds ε‖∇ₓℓ‖₁ (Finlay & Oberman).",
	Example:  "loss = 0.5 * cross_entropy() + 0.5 * adversarial(fgsm(), eps: 0.1)",
	Result:   lang.ObjectOf(lang.KindLoss),
	Defaults: AdversarialArgs{Range: []float64{0, 1}},
	Infer: func(a *AdversarialArgs) (lang.Type, error) {
		if o := interp.ObjectOf(a.Attack); o != nil && o.Attrs != nil && o.Attrs["budgeted"] != "true" {
			return nil, interp.ArgErrorf("attack", "adversarial training needs an attack within a budget (fgsm, pgd), not a minimal-perturbation attack")
		}
		if _, err := box(a.Range); err != nil {
			return nil, err
		}
		return lang.ObjectOf(lang.KindLoss), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *AdversarialArgs) (interp.Value, error) {
		v, ok := a.Attack.(*value.Attack)
		if !ok {
			return nil, interp.ArgErrorf("attack", "adversarial training needs an attack, such as fgsm()")
		}
		at, ok := v.Attack.(robustness.Budgeted)
		if !ok {
			return nil, interp.ArgErrorf("attack", "adversarial training needs an attack within a budget (fgsm, pgd)")
		}
		b, err := box(a.Range)
		if err != nil {
			return nil, err
		}
		return &value.Loss{Terms: []value.LossTerm{{Name: "adversarial", Weight: 1, Robust: &value.RobustTerm{Attack: at, Eps: a.Eps, Box: b}}}}, nil
	},
}

func box(r []float64) (attack.Box, error) {
	if len(r) != 2 {
		return attack.Box{}, interp.ArgErrorf("range", "want [low, high], got %d values", len(r))
	}
	b := attack.Box{Lo: float32(r[0]), Hi: float32(r[1])}
	if err := b.Check(); err != nil {
		return attack.Box{}, interp.ArgErrorf("range", "%v", err)
	}
	return b, nil
}

// GradientPenaltyArgs are the parameters of gradient_penalty.
type GradientPenaltyArgs struct {
	H         float64 `mlp:"h" doc:"Finite-difference step along the normalised input gradient." range:"(0,1]"`
	Direction string  `mlp:"direction" doc:"How the direction v is normalised from the input gradient d: l2 (d/‖d‖₂, penalising ‖∇ₓℓ‖₂, the default), l1 (sign(d)/√n) or linf (the sign of d's largest entry on its axis)." enum:"l2,l1,linf"`
}

var gradientPenaltyDef = interp.Def[GradientPenaltyArgs]{
	Name:     "gradient_penalty",
	Category: lang.KindLoss,
	Doc: "Input-gradient regularisation without double back-propagation (Finlay & Oberman, tulip): with v the per-sample input gradient of the cross-entropy, normalised and held constant, the penalty is ½·mean_i((ℓᵢ(xᵢ + h·vᵢ) − ℓᵢ(xᵢ))/h)², about ½·mean‖∇ₓℓᵢ‖₂² for the l2 direction. " +
		"Weight it in the loss: cross_entropy() + 0.1 * gradient_penalty(). The exact form (double back-propagation) is not available: the backend's ops have no second derivatives.",
	Example:  "loss = cross_entropy() + 0.1 * gradient_penalty(h: 0.01)",
	Result:   lang.ObjectOf(lang.KindLoss),
	Defaults: GradientPenaltyArgs{H: 0.01, Direction: "l2"},
	Build: func(ctx context.Context, env *interp.Env, a *GradientPenaltyArgs) (interp.Value, error) {
		return &value.Loss{Terms: []value.LossTerm{{Name: "gradient_penalty", Weight: 1, Robust: &value.RobustTerm{H: a.H, Direction: a.Direction}}}}, nil
	},
}

// LipschitzArgs are the (no) parameters of lipschitz.
type LipschitzArgs struct{}

var lipschitzDef = interp.Def[LipschitzArgs]{
	Name:     "lipschitz",
	Category: lang.KindLoss,
	Doc: "Lipschitz regularisation of the weights: the product of the spectral norms of the model's weighted layers, an upper bound on the l2 Lipschitz constant L of its logits (activations of slope at most 1 add nothing). " +
		"Weight it in the loss, cross_entropy() + 0.01 * lipschitz(); train follows each weight's largest singular vectors by warm-started power iteration. A smaller L certifies larger radii: no perturbation of l2 norm below margin/(√2·L) changes an input's class (the robustness stage reports these certificates).",
	Example: "loss = cross_entropy() + 0.01 * lipschitz()",
	Result:  lang.ObjectOf(lang.KindLoss),
	Build: func(ctx context.Context, env *interp.Env, a *LipschitzArgs) (interp.Value, error) {
		return &value.Loss{Terms: []value.LossTerm{{Name: "lipschitz", Weight: 1}}}, nil
	},
}
