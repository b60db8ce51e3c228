// Package losses declares the loss components of the standard library (the
// classifiers' cross-entropy and the self-supervised Barlow Twins and
// VICReg) and the weighted sums of losses written a + 0.1 * b.
package losses

import (
	"context"
	"fmt"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// Register adds the losses and loss arithmetic to r.
func Register(r *interp.Registry) {
	interp.Register(r, crossEntropyDef)
	interp.Register(r, barlowTwinsDef)
	interp.Register(r, vicregDef)
	interp.Register(r, orthogonalityDef)
	interp.Register(r, adversarialDef)
	interp.Register(r, gradientPenaltyDef)
	interp.Register(r, lipschitzDef)
	r.RegisterSum(lang.KindLoss, func(terms []interp.Term) (interp.Value, error) {
		out := &value.Loss{}
		for _, t := range terms {
			l, ok := t.Value.(*value.Loss)
			if !ok {
				return nil, fmt.Errorf("internal error: %T is not a loss", t.Value)
			}
			for _, lt := range l.Terms {
				lt.Weight *= t.Weight
				out.Terms = append(out.Terms, lt)
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

// BarlowTwinsArgs are the parameters of barlow_twins.
type BarlowTwinsArgs struct {
	Lambda      float64  `mlp:"lambda" doc:"Weight of the off-diagonal (redundancy reduction, orthogonality) term; 0 leaves only the invariance term." range:"[0,inf)"`
	Beta        *float64 `mlp:"beta" doc:"If given, the off-diagonal weight is beta/d for a d-dimensional projector output instead of lambda (the small-projector recipe: lambda about 1.5-6.6 over d in the multi-view paper's tuned runs)." range:"(0,inf)"`
	Standardize string   `mlp:"standardize" doc:"How each feature is standardised over the batch before the cross-correlation: per view with the unbiased std plus eps (std, as ../shared/bench/torch_ssl_peer.py), per view with the biased variance plus eps under the square root (batchnorm, the official Barlow Twins), or over all views together with the unbiased std plus eps (joint, fastssl)." enum:"std,batchnorm,joint"`
	Eps         *float64 `mlp:"eps" doc:"The standardisation's epsilon; default 1e-6 for std, 1e-5 for batchnorm, 0 for joint (as their reference code)." range:"[0,1]"`
	Multiview   string   `mlp:"multiview" doc:"Loss of more than two views: the mean of the two-view loss over all pairs of views (pairs), or fastssl's loss against the mean view (mean; with two views it is the two-view loss)." enum:"pairs,mean"`
}

var barlowTwinsDef = interp.Def[BarlowTwinsArgs]{
	Name:     "barlow_twins",
	Category: lang.KindLoss,
	Doc:      "Barlow Twins (Zbontar et al. 2021): with C = ẑ₁ᵀẑ₂/N the cross-correlation of the standardised embeddings of two views of N samples, Σ_i (1 − C_ii)² + λ Σ_{i≠j} C_ij². A self-supervised loss: pretrain sets its number of views.",
	Example:  "loss = barlow_twins(lambda: 0.005)",
	Result:   lang.ObjectOf(lang.KindLoss),
	Defaults: BarlowTwinsArgs{Lambda: 0.005, Standardize: "std", Multiview: "pairs"},
	Build: func(ctx context.Context, env *interp.Env, a *BarlowTwinsArgs) (interp.Value, error) {
		cfg := backend.SSLLoss{Kind: backend.SSLBarlowTwins, Views: 2, MultiView: a.Multiview, Lambda: a.Lambda, Standardize: a.Standardize}
		switch a.Standardize {
		case "std":
			cfg.Eps = 1e-6
		case "batchnorm":
			cfg.Eps = 1e-5
		}
		if a.Eps != nil {
			cfg.Eps = *a.Eps
		}
		term := value.LossTerm{Name: "barlow_twins", Weight: 1, SSL: &cfg}
		if a.Beta != nil {
			term.Beta = *a.Beta
		}
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		return &value.Loss{Terms: []value.LossTerm{term}}, nil
	},
}

// VICRegArgs are the parameters of vicreg.
type VICRegArgs struct {
	Sim       float64 `mlp:"sim" doc:"Weight of the invariance term (mean squared distance between views)." range:"[0,inf)"`
	Std       float64 `mlp:"std" doc:"Weight of the variance term (hinge on each feature's standard deviation)." range:"[0,inf)"`
	Cov       float64 `mlp:"cov" doc:"Weight of the covariance term (squared off-diagonal covariances over d). Per view it is averaged over the views; the official two-view VICReg sums the two views' terms, which cov: 2 reproduces." range:"[0,inf)"`
	Gamma     float64 `mlp:"gamma" doc:"Target standard deviation of the variance hinge." range:"(0,inf)"`
	Eps       float64 `mlp:"eps" doc:"Added to the variance under the square root." range:"[0,1]"`
	Multiview string  `mlp:"multiview" doc:"Loss of more than two views: invariance averaged over all pairs and variance and covariance over all views (pairs, as ../shared/bench/torch_ssl_peer.py), or fastssl's loss of each view against the mean of the others (mean)." enum:"pairs,mean"`
}

var vicregDef = interp.Def[VICRegArgs]{
	Name:     "vicreg",
	Category: lang.KindLoss,
	Doc:      "VICReg (Bardes et al. 2022): sim·invariance + std·variance + cov·covariance over the embeddings of the views; the variance term is the mean over features of relu(γ − sqrt(var + eps)) (unbiased variance), the covariance term the sum of squared off-diagonal covariances over d. A self-supervised loss: pretrain sets its number of views.",
	Example:  "loss = vicreg()",
	Result:   lang.ObjectOf(lang.KindLoss),
	Defaults: VICRegArgs{Sim: 25, Std: 25, Cov: 1, Gamma: 1, Eps: 1e-4, Multiview: "pairs"},
	Build: func(ctx context.Context, env *interp.Env, a *VICRegArgs) (interp.Value, error) {
		cfg := backend.SSLLoss{Kind: backend.SSLVICReg, Views: 2, MultiView: a.Multiview, Sim: a.Sim, Var: a.Std, Cov: a.Cov, Gamma: a.Gamma, VarEps: a.Eps}
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		return &value.Loss{Terms: []value.LossTerm{{Name: "vicreg", Weight: 1, SSL: &cfg}}}, nil
	},
}

// OrthogonalityArgs are the (no) parameters of orthogonality.
type OrthogonalityArgs struct{}

var orthogonalityDef = interp.Def[OrthogonalityArgs]{
	Name:     "orthogonality",
	Category: lang.KindLoss,
	Doc:      "Orthogonality regulariser of the embeddings, for low-dimensional projectors: the mean over the views of (1/d) Σ_{i≠j} R_ij², R the correlation matrix of the d features of one view over the batch (each feature standardised with its unbiased standard deviation plus 1e-6). Added to a self-supervised loss with a weight: barlow_twins() + 0.5 * orthogonality().",
	Example:  "loss = barlow_twins() + 0.5 * orthogonality()",
	Result:   lang.ObjectOf(lang.KindLoss),
	Build: func(ctx context.Context, env *interp.Env, a *OrthogonalityArgs) (interp.Value, error) {
		return &value.Loss{Terms: []value.LossTerm{{Name: "orthogonality", Weight: 1}}}, nil
	},
}
