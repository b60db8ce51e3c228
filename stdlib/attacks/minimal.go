package attacks

import (
	"context"
	"math"
	"strconv"
	"strings"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/attack"
	"github.com/mlpipe/mlpipe/stdlib/robustness"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// ProxLogBarrierArgs are the parameters of prox_log_barrier.
type ProxLogBarrierArgs struct {
	Norm     string  `mlp:"norm" doc:"The distance minimised, through its proximal operator: l0 (hard thresholding), l1 (soft thresholding), l2 (block shrinkage) or linf (the Moreau decomposition through the l1 ball)." enum:"l0,l1,l2,linf"`
	Outer    int     `mlp:"outer" doc:"Outer loops; the barrier weight shrinks by beta after each." range:"[1,10000]"`
	Inner    int     `mlp:"inner" doc:"Proximal gradient steps per outer loop." range:"[1,10000]"`
	Dt       float64 `mlp:"dt" doc:"Step of the gradient step on the barrier." range:"(0,inf)"`
	Alpha0   float64 `mlp:"alpha0" doc:"Initial weight of the log barrier." range:"(0,inf)"`
	Beta     float64 `mlp:"beta" doc:"Factor of the barrier weight per outer loop." range:"(0,1]"`
	Gamma    float64 `mlp:"gamma" doc:"Fraction of a rejected step kept when back-tracking to a misclassified point." range:"[0,1)"`
	T        float64 `mlp:"t" doc:"Weight of the distance in the proximal step." range:"[0,inf)"`
	Softmax  bool    `mlp:"softmax" doc:"Take the barrier on the margin of the softmax probabilities instead of the logits."`
	Init     string  `mlp:"init" doc:"Where each input's attack starts: gaussian (the reference's: Gaussian noise of growing scale until misclassified) or pgd (the point of PGD with a bisection on its budget in the same norm, l2 for l1, or of the greedy search for l0, which the attack then shrinks), or classes (one run per other class, from the nearest natural image the model assigns to it; the closest result; as many runs as classes minus one). Inputs whose gaussian or pgd start fails start again from the nearest natural image of another class." enum:"gaussian,pgd,classes"`
	RepoProx bool    `mlp:"repo_prox" doc:"Use the reference code's l0, l1 and linf operators, which are not the exact proximal operators (see docs/robustness.md)."`
	Seed     *int64  `mlp:"seed" doc:"Seed of the Gaussian initialisation; default: derived from the experiment seed and the call's place in the pipeline." range:"[0,inf)"`
}

var plbDefaults = attack.NewProxLogBarrier(attack.L2)

var proxLogBarrierDef = interp.Def[ProxLogBarrierArgs]{
	Name:     "prox_log_barrier",
	Category: lang.KindAttack,
	Doc:      "ProxLogBarrier (Pooladian, Finlay, Hoheisel and Oberman, AISTATS 2020): a minimal-perturbation attack that starts from a misclassified point near each input and shrinks the perturbation by proximal gradient steps on the distance plus a log barrier of the margin, staying misclassified. Reports each input's smallest perturbation found, in every norm; runs once, not per budget.",
	Example:  `rob = robustness(fit.model, data.test, attacks: [prox_log_barrier(norm: "l2"), prox_log_barrier(norm: "l0")])`,
	Result:   attackType,
	Defaults: ProxLogBarrierArgs{Norm: "l2", Outer: plbDefaults.MaxOuter, Inner: plbDefaults.MaxInner, Dt: plbDefaults.Dt,
		Alpha0: plbDefaults.Alpha0, Beta: plbDefaults.Beta, Gamma: plbDefaults.Gamma, T: plbDefaults.T, Init: "gaussian"},
	Infer: func(a *ProxLogBarrierArgs) (lang.Type, error) {
		return minimalType(attack.Norm(a.Norm)), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *ProxLogBarrierArgs) (interp.Value, error) {
		p := attack.NewProxLogBarrier(attack.Norm(a.Norm))
		p.MaxOuter, p.MaxInner, p.Dt, p.Alpha0, p.Beta, p.Gamma, p.T = a.Outer, a.Inner, a.Dt, a.Alpha0, a.Beta, a.Gamma, a.T
		p.Softmax, p.RepoProx, p.Seed = a.Softmax, a.RepoProx, seedOf(env, a.Seed)
		m := robustness.ProxLogBarrier(p, robustness.Starts(a.Init))
		d := plbDefaults
		m.Label += settingsLabel(
			setting{"outer", float64(a.Outer), float64(d.MaxOuter)}, setting{"inner", float64(a.Inner), float64(d.MaxInner)},
			setting{"dt", a.Dt, d.Dt}, setting{"alpha0", a.Alpha0, d.Alpha0}, setting{"beta", a.Beta, d.Beta},
			setting{"gamma", a.Gamma, d.Gamma}, setting{"t", a.T, d.T},
			flag("softmax", a.Softmax != d.Softmax), flag("repo prox", a.RepoProx))
		return &value.Attack{Attack: m}, nil
	},
}

// LogBarrierArgs are the parameters of log_barrier.
type LogBarrierArgs struct {
	Norm    string  `mlp:"norm" doc:"The distance minimised: l2, or linf through a smooth maximum." enum:"l2,linf"`
	Outer   int     `mlp:"outer" doc:"Outer loops; the barrier weight shrinks by beta after each." range:"[1,10000]"`
	Inner   int     `mlp:"inner" doc:"At most this many gradient steps per outer loop; an input that stops moving ends its loop early." range:"[1,100000]"`
	Dt      float64 `mlp:"dt" doc:"Gradient step." range:"(0,inf)"`
	Alpha0  float64 `mlp:"alpha0" doc:"Initial weight of the log barrier." range:"(0,inf)"`
	Beta    float64 `mlp:"beta" doc:"Factor of the barrier weight per outer loop." range:"(0,1]"`
	Gamma   float64 `mlp:"gamma" doc:"Fraction of the way back to the previous iterate per back-tracking step." range:"[0,1)"`
	T       float64 `mlp:"t" doc:"Temperature of the smooth maximum Σ softmax(t·|z|)·|z| that stands for the linf norm of z (linf only). It falls short of the maximum by at most log(n)/t for n input values, 0.013 at the reference's 500 on 784 pixels: raise it when the perturbations sought are of that size." range:"(0,inf)"`
	Softmax bool    `mlp:"softmax" doc:"Take the barrier on the margin of the softmax probabilities (the reference's choice) instead of the logits."`
	Init    string  `mlp:"init" doc:"Where each input's attack starts: gaussian (the reference's: Gaussian noise of growing scale until misclassified) or pgd (the point of PGD with a bisection on its budget in the same norm, which the attack then shrinks), or classes (one run per other class, from the nearest natural image the model assigns to it; the closest result; as many runs as classes minus one). Inputs whose gaussian or pgd start fails start again from the nearest natural image of another class." enum:"gaussian,pgd,classes"`
	Seed    *int64  `mlp:"seed" doc:"Seed of the Gaussian initialisation; default: derived from the experiment seed and the call's place in the pipeline." range:"[0,inf)"`
}

var lbDefaults = attack.NewLogBarrier(attack.L2)

var logBarrierDef = interp.Def[LogBarrierArgs]{
	Name:     "log_barrier",
	Category: lang.KindAttack,
	Doc:      "LogBarrier (Finlay, Pooladian and Oberman, ICCV 2019): a minimal-perturbation attack by gradient descent on the distance plus a shrinking log barrier of the margin, from a misclassified start, staying misclassified. Runs once, not per budget.",
	Example:  `rob = robustness(fit.model, data.test, attacks: [log_barrier(norm: "linf")])`,
	Result:   attackType,
	Defaults: LogBarrierArgs{Norm: "l2", Outer: lbDefaults.MaxOuter, Inner: lbDefaults.MaxInner, Dt: lbDefaults.Dt,
		Alpha0: lbDefaults.Alpha0, Beta: lbDefaults.Beta, Gamma: lbDefaults.Gamma, T: lbDefaults.T, Softmax: lbDefaults.Softmax, Init: "gaussian"},
	Infer: func(a *LogBarrierArgs) (lang.Type, error) {
		return minimalType(attack.Norm(a.Norm)), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *LogBarrierArgs) (interp.Value, error) {
		l := attack.NewLogBarrier(attack.Norm(a.Norm))
		l.MaxOuter, l.MaxInner, l.Dt, l.Alpha0, l.Beta, l.Gamma, l.T = a.Outer, a.Inner, a.Dt, a.Alpha0, a.Beta, a.Gamma, a.T
		l.Softmax, l.Seed = a.Softmax, seedOf(env, a.Seed)
		m := robustness.LogBarrier(l, robustness.Starts(a.Init))
		d := lbDefaults
		t := setting{"t", a.T, d.T}
		if l.Norm != attack.Linf {
			t.value = d.T // not used in l2
		}
		m.Label += settingsLabel(
			setting{"outer", float64(a.Outer), float64(d.MaxOuter)}, setting{"inner", float64(a.Inner), float64(d.MaxInner)},
			setting{"dt", a.Dt, d.Dt}, setting{"alpha0", a.Alpha0, d.Alpha0}, setting{"beta", a.Beta, d.Beta},
			setting{"gamma", a.Gamma, d.Gamma}, t, flag("logits", a.Softmax != d.Softmax))
		return &value.Attack{Attack: m}, nil
	},
}

// A setting is a parameter of an attack, its value and its default, for
// the attack's label.
type setting struct {
	name         string
	value, deflt float64
}

// flag is a setting shown by its name alone when on.
func flag(name string, on bool) setting {
	if on {
		return setting{name: name, value: math.NaN()}
	}
	return setting{name: name}
}

// settingsLabel returns the settings that differ from their defaults, in
// order, as " (outer 30, dt 0.1)" for an attack's label, so that a battery
// of one attack at several settings tells its rows apart; "" if all are the
// defaults.
func settingsLabel(settings ...setting) string {
	var parts []string
	for _, s := range settings {
		switch {
		case math.IsNaN(s.value):
			parts = append(parts, s.name)
		case s.value != s.deflt:
			parts = append(parts, s.name+" "+strconv.FormatFloat(s.value, 'g', -1, 64))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// GreedyL0Args are the parameters of greedy_l0.
type GreedyL0Args struct {
	MaxChanges int `mlp:"max_changes" doc:"At most this many changed input values per input (0: no cap)." range:"[0,inf)"`
}

var greedyL0Def = interp.Def[GreedyL0Args]{
	Name:     "greedy_l0",
	Category: lang.KindAttack,
	Doc:      "A greedy l0 baseline: moves one input value at a time to a bound of the input range, the one with the largest first-order gain of the cross-entropy, until the input is misclassified. Reports the number of changed values beside ProxLogBarrier's l0 attack.",
	Example:  `rob = robustness(fit.model, data.test, attacks: [greedy_l0(), prox_log_barrier(norm: "l0")])`,
	Result:   minimalType(attack.L0),
	Build: func(ctx context.Context, env *interp.Env, a *GreedyL0Args) (interp.Value, error) {
		g := attack.NewGreedyL0()
		g.MaxChanges = a.MaxChanges
		return &value.Attack{Attack: robustness.GreedyL0(g)}, nil
	},
}

// PGDBisectionArgs are the parameters of pgd_bisection.
type PGDBisectionArgs struct {
	Norm  string  `mlp:"norm" doc:"The norm of the budget: linf or l2." enum:"linf,l2"`
	Steps int     `mlp:"steps" doc:"PGD steps per test of a budget." range:"[1,10000]"`
	Step  float64 `mlp:"step" doc:"PGD step size as a fraction of the budget tested." range:"(0,inf)"`
	Iters int     `mlp:"iters" doc:"Bisection steps on each input's budget, after a test at the diameter of the input range." range:"[0,60]"`
}

var bisectDefaults = attack.NewBisect(attack.Linf)

var pgdBisectionDef = interp.Def[PGDBisectionArgs]{
	Name:     "pgd_bisection",
	Category: lang.KindAttack,
	Doc:      "PGD as a minimal-perturbation attack: for each input, a bisection on the budget finds the smallest one at which PGD (no random start) misclassifies it. The baseline that LogBarrier and ProxLogBarrier must beat.",
	Example:  `rob = robustness(fit.model, data.test, attacks: [pgd_bisection(norm: "l2"), prox_log_barrier(norm: "l2")])`,
	Result:   attackType,
	Defaults: PGDBisectionArgs{Norm: "linf", Steps: bisectDefaults.Steps, Step: float64(bisectDefaults.StepFactor) / float64(bisectDefaults.Steps), Iters: bisectDefaults.Iters},
	Infer: func(a *PGDBisectionArgs) (lang.Type, error) {
		return minimalType(attack.Norm(a.Norm)), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *PGDBisectionArgs) (interp.Value, error) {
		b := attack.NewBisect(attack.Norm(a.Norm))
		b.Steps, b.StepFactor, b.Iters = a.Steps, float32(a.Step*float64(a.Steps)), a.Iters
		return &value.Attack{Attack: robustness.Bisect(b)}, nil
	},
}
