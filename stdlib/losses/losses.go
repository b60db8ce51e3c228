// Package losses declares the loss components of the standard library and
// the weighted sums of losses written a + 0.1 * b.
package losses

import (
	"context"
	"fmt"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// Register adds the losses and loss arithmetic to r.
func Register(r *interp.Registry) {
	interp.Register(r, crossEntropyDef)
	r.RegisterSum(lang.KindLoss, func(terms []interp.Term) (interp.Value, error) {
		out := &value.Loss{}
		for _, t := range terms {
			l, ok := t.Value.(*value.Loss)
			if !ok {
				return nil, fmt.Errorf("internal error: %T is not a loss", t.Value)
			}
			for _, lt := range l.Terms {
				out.Terms = append(out.Terms, value.LossTerm{Name: lt.Name, Weight: t.Weight * lt.Weight})
			}
		}
		return out, nil
	})
}

// CrossEntropyArgs are the (no) parameters of cross_entropy.
type CrossEntropyArgs struct{}

var crossEntropyDef = interp.Def[CrossEntropyArgs]{
	Name:     "cross_entropy",
	Category: lang.KindLoss,
	Doc:      "Softmax cross-entropy of the logits against the class labels, averaged over the batch; computed stably for any logits (log-sum-exp shifted by each row's maximum).",
	Example:  "loss = cross_entropy()",
	Result:   lang.ObjectOf(lang.KindLoss),
	Build: func(ctx context.Context, env *interp.Env, a *CrossEntropyArgs) (interp.Value, error) {
		return &value.Loss{Terms: []value.LossTerm{{Name: "cross_entropy", Weight: 1}}}, nil
	},
}
