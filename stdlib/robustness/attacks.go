package robustness

import (
	"context"
	"fmt"
	"math"

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

// MinimalAttack is a minimal-perturbation attack of package attack as an
// entry of a battery: Run attacks the samples inside box and returns its
// verified points (attack.Result), which the battery verifies again and
// measures in every norm.
type MinimalAttack struct {
	// Label names the attack in tables.
	Label string
	// Of is the norm the attack minimises.
	Of attack.Norm
	// Run attacks the samples x with labels y inside box.
	Run func(ctx context.Context, c attack.Classifier, x []float32, y []int32, box attack.Box) (*attack.Result, error)
}

// Name implements Attack.
func (m MinimalAttack) Name() string { return m.Label }

// Norm implements Attack.
func (m MinimalAttack) Norm() attack.Norm { return m.Of }

// Minimize implements Minimal.
func (m MinimalAttack) Minimize(ctx context.Context, c attack.Classifier, x []float32, y []int32, box attack.Box) ([]float32, []bool, error) {
	r, err := m.Run(ctx, c, x, y, box)
	if err != nil {
		return nil, nil, err
	}
	return r.Adv, r.Success, nil
}

// Starts chooses where a barrier attack starts.
type Starts string

// The starts of barrier attacks.
const (
	// GaussianStarts are the reference's: Gaussian noise of growing
	// scale around each input until it is misclassified.
	GaussianStarts Starts = "gaussian"
	// PGDStarts are the points of a baseline attack in the barrier's
	// norm, which the barrier attack then shrinks: PGD with a bisection
	// on its budget for l2 and l∞ (l2 for l1), the greedy search for l0.
	PGDStarts Starts = "pgd"
	// ClassStarts run the attack once for every class other than the
	// input's label, from the nearest natural image (in l2) that the
	// model assigns to that class, and keep the closest result: the
	// barrier keeps each run in its start's class, so this looks for the
	// nearest point of every class.
	ClassStarts Starts = "classes"
)

// ProxLogBarrier returns the ProxLogBarrier attack a, started from
// starts, as a battery entry; the battery's box replaces a.Box. Samples
// whose start fails are attacked again from a natural image of another
// class (see withNaturalStarts).
func ProxLogBarrier(a attack.ProxLogBarrier, starts Starts) MinimalAttack {
	return barrierEntry("proxlogbarrier", a.Norm, starts, func(box attack.Box) barrierRun {
		a.Box = box
		return a.RunFrom
	})
}

// LogBarrier returns the LogBarrier attack a, started from starts, as a
// battery entry; the battery's box replaces a.Box. Samples whose start
// fails are attacked again from a natural image of another class (see
// withNaturalStarts).
func LogBarrier(a attack.LogBarrier, starts Starts) MinimalAttack {
	return barrierEntry("logbarrier", a.Norm, starts, func(box attack.Box) barrierRun {
		a.Box = box
		return a.RunFrom
	})
}

// barrierEntry is the battery entry of a barrier attack in norm whose
// RunFrom, for a box, run returns.
func barrierEntry(name string, norm attack.Norm, starts Starts, run func(attack.Box) barrierRun) MinimalAttack {
	label := name + " " + string(norm)
	switch starts {
	case PGDStarts:
		label += " from pgd"
	case ClassStarts:
		label += " per class"
	}
	return MinimalAttack{Label: label, Of: norm,
		Run: func(ctx context.Context, c attack.Classifier, x []float32, y []int32, box attack.Box) (*attack.Result, error) {
			if starts == ClassStarts {
				return perClass(ctx, c, x, y, run(box))
			}
			var start []float32
			if starts == PGDStarts {
				base, err := baseline(ctx, c, x, y, norm, box)
				if err != nil {
					return nil, err
				}
				start = base.Adv // NaN rows for failures: not misclassified, so Gaussian starts
			}
			return withNaturalStarts(ctx, c, x, y, start, run(box))
		}}
}

// baseline runs the baseline attack of norm whose points PGDStarts
// start from.
func baseline(ctx context.Context, c attack.Classifier, x []float32, y []int32, norm attack.Norm, box attack.Box) (*attack.Result, error) {
	if norm == attack.L0 {
		g := attack.NewGreedyL0()
		g.Box = box
		return g.Run(ctx, c, x, y)
	}
	if norm == attack.L1 {
		norm = attack.L2
	}
	b := attack.NewBisect(norm)
	b.Box = box
	r, err := b.Run(ctx, c, x, y)
	if err != nil {
		return nil, err
	}
	return &r.Result, nil
}

// GreedyL0 returns the greedy l0 baseline a as a battery entry; the
// battery's box replaces a.Box.
func GreedyL0(a attack.GreedyL0) MinimalAttack {
	return MinimalAttack{Label: "greedy l0", Of: attack.L0,
		Run: func(ctx context.Context, c attack.Classifier, x []float32, y []int32, box attack.Box) (*attack.Result, error) {
			a.Box = box
			return a.Run(ctx, c, x, y)
		}}
}

// Bisect returns PGD with a per-input bisection on its budget, a, as a
// battery entry; the battery's box replaces a.Box.
func Bisect(a attack.Bisect) MinimalAttack {
	return MinimalAttack{Label: fmt.Sprintf("pgd-%d bisection %s", a.Steps, a.Norm), Of: a.Norm,
		Run: func(ctx context.Context, c attack.Classifier, x []float32, y []int32, box attack.Box) (*attack.Result, error) {
			a.Box = box
			r, err := a.Run(ctx, c, x, y)
			if err != nil {
				return nil, err
			}
			return &r.Result, nil
		}}
}

// barrierRun is the RunFrom method of a barrier attack.
type barrierRun func(ctx context.Context, c attack.Classifier, x []float32, y []int32, start []float32) (*attack.Result, error)

// withNaturalStarts runs a barrier attack from start (nil: its Gaussian
// initialisation; a sample whose start is not misclassified gets it too)
// and then, for the samples it failed on (those whose initialisation found
// no misclassified point), once more from the nearest other sample in l2
// that the classifier assigns to another class than the sample's label: a
// natural image of another class, the "safety" initialisation of the
// reference driver of ProxLogBarrier. A sample with no such other sample
// stays a failure.
func withNaturalStarts(ctx context.Context, c attack.Classifier, x []float32, y []int32, start []float32, run barrierRun) (*attack.Result, error) {
	r, err := run(ctx, c, x, y, start)
	if err != nil {
		return nil, err
	}
	var failed []int
	for i, ok := range r.Success {
		if !ok && !r.Clean[i] {
			failed = append(failed, i)
		}
	}
	if len(failed) == 0 {
		return r, nil
	}
	_, logits, err := classify(ctx, c, x, y)
	if err != nil {
		return nil, err
	}
	in, k := c.Inputs(), c.Classes()
	pred := predictions(logits, len(y), k)
	var fx []float32
	var fy []int32
	var natural []float32
	var rows []int
	best, bestD := make([]int, k), make([]float64, k)
	for _, i := range failed {
		xi := x[i*in : (i+1)*in]
		nearestPerClass(x, pred, i, in, best, bestD)
		// The nearest over the other classes; the first sample among
		// equally near ones.
		nearest := -1
		for cl, j := range best {
			if j < 0 || cl == int(y[i]) {
				continue
			}
			if nearest < 0 || bestD[cl] < bestD[pred[nearest]] || (bestD[cl] == bestD[pred[nearest]] && j < nearest) {
				nearest = j
			}
		}
		if nearest < 0 {
			continue
		}
		rows = append(rows, i)
		fx = append(fx, xi...)
		fy = append(fy, y[i])
		natural = append(natural, x[nearest*in:(nearest+1)*in]...)
	}
	if len(rows) == 0 {
		return r, nil
	}
	again, err := run(ctx, c, fx, fy, natural)
	if err != nil {
		return nil, err
	}
	for q, i := range rows {
		if !again.Success[q] {
			continue
		}
		copy(r.Adv[i*in:(i+1)*in], again.Adv[q*in:(q+1)*in])
		r.Success[i], r.Dist[i], r.All[i] = true, again.Dist[q], again.All[q]
	}
	return r, nil
}

// perClass runs a barrier attack once for each input and each class other
// than its label that the model assigns to some input of x, from the
// nearest such input in l2, and keeps for each input its closest verified
// point over the runs. Inputs the model misclassifies already are
// successes at distance 0, as the attacks make them.
func perClass(ctx context.Context, c attack.Classifier, x []float32, y []int32, run barrierRun) (*attack.Result, error) {
	correct, logits, err := classify(ctx, c, x, y)
	if err != nil {
		return nil, err
	}
	n, in, k := len(y), c.Inputs(), c.Classes()
	pred := predictions(logits, n, k)
	var fx, start []float32
	var fy []int32
	var owner []int
	best := make([]int, k)
	bestD := make([]float64, k)
	for i := range y {
		if !correct[i] {
			continue
		}
		xi := x[i*in : (i+1)*in]
		nearestPerClass(x, pred, i, in, best, bestD)
		for cl, j := range best {
			if j < 0 || cl == int(y[i]) {
				continue
			}
			owner = append(owner, i)
			fx = append(fx, xi...)
			fy = append(fy, y[i])
			start = append(start, x[j*in:(j+1)*in]...)
		}
	}
	inf := math.Inf(1)
	r := &attack.Result{Adv: make([]float32, n*in), Success: make([]bool, n), Clean: make([]bool, n),
		Dist: make([]float64, n), All: make([]attack.Distances, n)}
	for i := range y {
		if !correct[i] {
			copy(r.Adv[i*in:(i+1)*in], x[i*in:(i+1)*in])
			r.Success[i], r.Clean[i] = true, true
			continue
		}
		for t := i * in; t < (i+1)*in; t++ {
			r.Adv[t] = float32(math.NaN())
		}
		r.Dist[i], r.All[i] = inf, attack.Distances{inf, inf, inf, inf}
	}
	if len(owner) == 0 {
		return r, nil
	}
	runs, err := run(ctx, c, fx, fy, start)
	if err != nil {
		return nil, err
	}
	r.Norm = runs.Norm
	for q, i := range owner {
		if runs.Success[q] && runs.Dist[q] < r.Dist[i] {
			copy(r.Adv[i*in:(i+1)*in], runs.Adv[q*in:(q+1)*in])
			r.Success[i], r.Dist[i], r.All[i] = true, runs.Dist[q], runs.All[q]
		}
	}
	return r, nil
}

// predictions returns the predicted class (the first largest logit) of
// each of the n rows of logits of k classes.
func predictions(logits []float32, n, k int) []int {
	pred := make([]int, n)
	for i := range pred {
		pred[i] = argmax(logits[i*k : (i+1)*k])
	}
	return pred
}

// nearestPerClass sets best[cl] to the sample of x (rows of in values)
// nearest in l2 to sample i among those predicted as class cl (the first
// of equally near ones; -1 if there is none) and bestD[cl] to its squared
// distance. Sample i itself counts only for its own predicted class.
func nearestPerClass(x []float32, pred []int, i, in int, best []int, bestD []float64) {
	for cl := range best {
		best[cl], bestD[cl] = -1, math.Inf(1)
	}
	xi := x[i*in : (i+1)*in]
	for j, cl := range pred {
		var d float64
		for t, v := range x[j*in : (j+1)*in] {
			e := float64(v) - float64(xi[t])
			d += e * e
		}
		if d < bestD[cl] {
			best[cl], bestD[cl] = j, d
		}
	}
}
