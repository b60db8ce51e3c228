// Package models declares the model components of the standard library:
// mlp, linear and the activations, and composition of models with |.
// Models are architectures until a train stage gives them weights; an
// input width left out is inferred from the data the model is trained on.
package models

import (
	"context"
	"fmt"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// Register adds the model components and model composition to r.
func Register(r *interp.Registry) {
	interp.Register(r, mlpDef)
	interp.Register(r, linearDef)
	for _, act := range activations {
		interp.Register(r, activationDef(act.name, act.doc))
	}
	r.RegisterPipe(lang.KindModel, func(parts []interp.Value) (interp.Value, error) {
		models := make([]*value.Model, len(parts))
		for i, p := range parts {
			m, ok := p.(*value.Model)
			if !ok {
				return nil, fmt.Errorf("internal error: %T is not a model", p)
			}
			models[i] = m
		}
		return value.Compose(models)
	})
}

var activations = []struct{ name, doc string }{
	{"relu", "Rectified linear unit, max(0, x), element-wise."},
	{"tanh", "Hyperbolic tangent, element-wise."},
	{"sigmoid", "Logistic function 1/(1+exp(-x)), element-wise."},
}

// MLPArgs are the parameters of mlp.
type MLPArgs struct {
	Hidden     []int  `mlp:"hidden" doc:"Widths of the hidden layers, in order." range:"[1,inf)"`
	Out        int    `mlp:"out" doc:"Output width (the number of classes for a classifier)." range:"[1,inf)" required:"true"`
	In         int    `mlp:"in" doc:"Input width; 0 infers it from the data the model is trained on." range:"[0,inf)"`
	Activation string `mlp:"activation" doc:"Nonlinearity after each hidden layer." enum:"relu,tanh,sigmoid"`
	Bias       bool   `mlp:"bias" doc:"Give every dense layer a bias."`
}

var mlpDef = interp.Def[MLPArgs]{
	Name:     "mlp",
	Category: lang.KindModel,
	Doc:      "Fully connected network: dense layers of the hidden widths, each followed by the activation, then a dense output layer. Inputs are flattened. Weights are named like PyTorch's nn.Sequential (0.weight, 0.bias, 2.weight, ...).",
	Example:  "net = mlp(hidden: [256], out: 10)",
	Result:   value.ModelType(0, 0),
	Defaults: MLPArgs{Hidden: []int{128}, Activation: "relu", Bias: true},
	Infer: func(a *MLPArgs) (lang.Type, error) {
		return value.ModelType(a.In, a.Out), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *MLPArgs) (interp.Value, error) {
		m := &value.Model{In: a.In}
		in := a.In
		for _, h := range a.Hidden {
			m.Layers = append(m.Layers,
				value.Layer{Kind: backend.Linear, In: in, Out: h, Bias: a.Bias},
				value.Layer{Kind: backend.Activation, Activation: a.Activation})
			in = h
		}
		m.Layers = append(m.Layers, value.Layer{Kind: backend.Linear, In: in, Out: a.Out, Bias: a.Bias})
		return m, nil
	},
}

// LinearArgs are the parameters of linear.
type LinearArgs struct {
	Out  int  `mlp:"out" doc:"Output width." range:"[1,inf)" required:"true"`
	In   int  `mlp:"in" doc:"Input width; 0 infers it from what comes before." range:"[0,inf)"`
	Bias bool `mlp:"bias" doc:"Add a bias."`
}

var linearDef = interp.Def[LinearArgs]{
	Name:     "linear",
	Category: lang.KindModel,
	Doc:      "One dense layer, y = x Wᵀ + b (a logistic-regression classifier on its own; a layer when composed with |).",
	Example:  "net = linear(out: 10)",
	Result:   value.ModelType(0, 0),
	Defaults: LinearArgs{Bias: true},
	Infer: func(a *LinearArgs) (lang.Type, error) {
		return value.ModelType(a.In, a.Out), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *LinearArgs) (interp.Value, error) {
		return &value.Model{In: a.In, Layers: []value.Layer{{Kind: backend.Linear, In: a.In, Out: a.Out, Bias: a.Bias}}}, nil
	},
}

// ActivationArgs are the (no) parameters of an activation.
type ActivationArgs struct{}

func activationDef(name, doc string) interp.Def[ActivationArgs] {
	return interp.Def[ActivationArgs]{
		Name:     name,
		Category: lang.KindModel,
		Doc:      doc + " A width-preserving model, composed with |.",
		Example:  fmt.Sprintf("net = linear(out: 64) | %s() | linear(out: 10)", name),
		Result:   value.ModelType(0, 0),
		Build: func(ctx context.Context, env *interp.Env, a *ActivationArgs) (interp.Value, error) {
			return &value.Model{Layers: []value.Layer{{Kind: backend.Activation, Activation: name}}}, nil
		},
	}
}
