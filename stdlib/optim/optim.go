// Package optim declares the optimiser components of the standard library,
// sgd and adam, with PyTorch's update rules (see stdlib/backend).
package optim

import (
	"context"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// Register adds sgd and adam to r.
func Register(r *interp.Registry) {
	interp.Register(r, sgdDef)
	interp.Register(r, adamDef)
}

// SGDArgs are the parameters of sgd.
type SGDArgs struct {
	LR          float64 `mlp:"lr" doc:"Learning rate." range:"(0,inf)"`
	Momentum    float64 `mlp:"momentum" doc:"Momentum factor (0: plain SGD)." range:"[0,1)"`
	WeightDecay float64 `mlp:"weight_decay" doc:"L2 penalty added to the gradient, wd*w." range:"[0,inf)"`
	Nesterov    bool    `mlp:"nesterov" doc:"Use Nesterov momentum (needs momentum > 0)."`
}

var sgdDef = interp.Def[SGDArgs]{
	Name:     "sgd",
	Category: lang.KindOptimizer,
	Doc:      "Stochastic gradient descent with optional momentum, Nesterov momentum and weight decay, as torch.optim.SGD (dampening 0).",
	Example:  "opt = sgd(lr: 0.1, momentum: 0.9)",
	Result:   lang.ObjectOf(lang.KindOptimizer),
	Defaults: SGDArgs{LR: 0.01},
	Infer: func(a *SGDArgs) (lang.Type, error) {
		if a.Nesterov && a.Momentum == 0 {
			return nil, interp.ArgErrorf("nesterov", "nesterov momentum needs momentum > 0")
		}
		return lang.ObjectOf(lang.KindOptimizer), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *SGDArgs) (interp.Value, error) {
		cfg := backend.Optimizer{Name: "sgd", LR: a.LR, Momentum: a.Momentum, WeightDecay: a.WeightDecay, Nesterov: a.Nesterov}
		return &value.Optimizer{Config: cfg}, cfg.Validate()
	},
}

// AdamArgs are the parameters of adam.
type AdamArgs struct {
	LR          float64 `mlp:"lr" doc:"Learning rate." range:"(0,inf)"`
	Beta1       float64 `mlp:"beta1" doc:"Decay rate of the first-moment estimate." range:"[0,1)"`
	Beta2       float64 `mlp:"beta2" doc:"Decay rate of the second-moment estimate." range:"[0,1)"`
	Eps         float64 `mlp:"eps" doc:"Term added to the denominator for numerical stability." range:"(0,inf)"`
	WeightDecay float64 `mlp:"weight_decay" doc:"L2 penalty added to the gradient (Adam, not AdamW)." range:"[0,inf)"`
}

var adamDef = interp.Def[AdamArgs]{
	Name:     "adam",
	Category: lang.KindOptimizer,
	Doc:      "Adam with bias correction, as torch.optim.Adam.",
	Example:  "opt = adam(lr: 1e-3)",
	Result:   lang.ObjectOf(lang.KindOptimizer),
	Defaults: AdamArgs{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
	Build: func(ctx context.Context, env *interp.Env, a *AdamArgs) (interp.Value, error) {
		cfg := backend.Optimizer{Name: "adam", LR: a.LR, Beta1: a.Beta1, Beta2: a.Beta2, Eps: a.Eps, WeightDecay: a.WeightDecay}
		return &value.Optimizer{Config: cfg}, cfg.Validate()
	},
}
