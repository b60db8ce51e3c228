// Package robustness evaluates a classifier against a battery of
// adversarial attacks and reports, per attack and in the worst case over
// the battery for each input, the robust accuracy at given budgets, the
// minimal perturbations found, and certified accuracies where a
// certificate exists.
//
// The battery trusts no attack: every adversarial point an attack returns
// is checked to lie in the valid input range and to be misclassified by
// the model, and its distance to the input is measured here, in every
// norm. A point that fails the check counts for nothing (and is counted as
// rejected), so a faulty attack can only make a model look more robust
// than the other attacks show, never less.
//
// The worst case per input is the headline: an input is robust at budget
// ε in norm p only if no verified adversarial point of any attack lies
// within ε of it in that norm. Points count in every norm, not only in the
// norm their attack minimises: an l2 attack's point is also an l∞
// perturbation of its measured size.
package robustness

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/mlpipe/mlpipe/stdlib/attack"
)

// An Attack is one entry of a battery: either a Budgeted attack, run once
// for each budget of its norm, or a Minimal one, run once, which looks for
// the smallest perturbation that changes each input's class.
type Attack interface {
	// Name labels the attack in tables, such as "pgd(linf, 10 steps)".
	Name() string
	// Norm is the norm the attack's budget or minimisation is in.
	Norm() attack.Norm
}

// Budgeted is an attack within a budget: Perturb returns adversarial
// versions of the len(y) inputs x, each within eps of its input in the
// attack's norm and inside box.
type Budgeted interface {
	Attack
	Perturb(ctx context.Context, c attack.Classifier, x []float32, y []int32, eps float64, box attack.Box) ([]float32, error)
}

// Minimal is a minimal-perturbation attack: Minimize returns, for each of
// the len(y) inputs x, an adversarial point inside box as close to the
// input as the attack can find, and whether it found one.
type Minimal interface {
	Attack
	Minimize(ctx context.Context, c attack.Classifier, x []float32, y []int32, box attack.Box) (adv []float32, found []bool, err error)
}

// Certifier gives each input a radius in norm Norm within which the model
// provably keeps its prediction (0 for a misclassified input).
type Certifier interface {
	Norm() attack.Norm
	Radii(logits []float32, y []int32) ([]float64, error)
}

// Progress receives a count of finished attack runs (interp.Progress is
// one).
type Progress interface {
	Add(n int64, status string)
}

// Config is a battery run.
type Config struct {
	Attacks []Attack
	// Budgets lists, per norm, the budgets at which robust accuracy is
	// reported; budgeted attacks run at each budget of their norm.
	Budgets map[attack.Norm][]float64
	// Box is the valid input range; inputs must lie in it.
	Box attack.Box
	// Certifiers give certified accuracies at the budgets of their norms
	// (optional).
	Certifiers []Certifier
	// Progress, if set, is advanced by one per attack run.
	Progress Progress
}

// Runs returns how many attack runs Evaluate makes: one per budget of a
// budgeted attack's norm, one per minimal attack.
func (c *Config) Runs() int {
	n := 0
	for _, a := range c.Attacks {
		if _, ok := a.(Budgeted); ok {
			n += len(c.Budgets[a.Norm()])
		} else {
			n++
		}
	}
	return n
}

// check reports a configuration that cannot run.
func (c *Config) check() error {
	if len(c.Attacks) == 0 {
		return errors.New("no attacks")
	}
	if err := c.Box.Check(); err != nil {
		return err
	}
	for p, bs := range c.Budgets {
		if p.Index() < 0 {
			return fmt.Errorf("budgets for unknown norm %q", p)
		}
		for _, b := range bs {
			if !(b > 0) || math.IsInf(b, 0) {
				return fmt.Errorf("%s budget %v must be finite and positive", p, b)
			}
		}
	}
	for _, a := range c.Attacks {
		if a.Norm().Index() < 0 {
			return fmt.Errorf("attack %s: unknown norm %q", a.Name(), a.Norm())
		}
		switch a.(type) {
		case Budgeted:
			if len(c.Budgets[a.Norm()]) == 0 {
				return fmt.Errorf("attack %s runs within a budget, but no %s budgets are given", a.Name(), a.Norm())
			}
		case Minimal:
		default:
			return fmt.Errorf("attack %s is neither budgeted nor minimal", a.Name())
		}
	}
	return nil
}

// AttackResult is what one attack of the battery achieved.
type AttackResult struct {
	Name    string
	Norm    attack.Norm
	Minimal bool
	// Robust[p][k] is the accuracy left by this attack at the k-th
	// budget of norm p (Config.Budgets order), counting its verified
	// points in every norm.
	Robust map[attack.Norm][]float64
	// Nearest[i][k] is the smallest size in norm attack.Norms[k] of the
	// verified adversarial points the attack found for input i (the
	// nearest point may differ from norm to norm): 0 for an input the
	// model misclassifies, +Inf when none was found.
	Nearest []attack.Distances
	// Found is the fraction of correctly classified inputs for which the
	// attack found a verified adversarial point (at any budget).
	Found float64
	// Rejected counts returned points that failed verification: outside
	// the input range or the budget, or not misclassified.
	Rejected int
	// Seconds is the attack's wall time over all its runs.
	Seconds float64
}

// Result is the outcome of a battery.
type Result struct {
	Samples       int
	CleanAccuracy float64
	// Correct[i] reports whether the model classifies input i correctly.
	Correct []bool
	Budgets map[attack.Norm][]float64
	Attacks []AttackResult
	// Worst[p][k] is the worst-case robust accuracy at the k-th budget
	// of norm p: inputs classified correctly with no verified
	// adversarial point of any attack within the budget.
	Worst map[attack.Norm][]float64
	// WorstNearest[p][i] is the size in norm p of the smallest verified
	// perturbation of input i over the whole battery (0 if misclassified,
	// +Inf if none was found).
	WorstNearest map[attack.Norm][]float64
	// Decisive[p][k][a] counts the inputs that attack a is the first of
	// the battery to break at the k-th budget of norm p and that no
	// attack before it breaks: which attacks the worst case rests on.
	Decisive map[attack.Norm][][]int
	// Certified[p][k] is the certified accuracy at the k-th budget of
	// norm p, for the norms a Certifier covers.
	Certified map[attack.Norm][]float64
	// Radii[p][i] is input i's certified radius in norm p (0 if it is
	// misclassified), for the norms a Certifier covers.
	Radii map[attack.Norm][]float64
}

// Median returns the median of the worst-case minimal perturbation in
// norm p over all inputs, counting misclassified inputs as 0 and inputs no
// attack broke as +Inf.
func (r *Result) Median(p attack.Norm) float64 { return attack.Median(r.WorstNearest[p]) }

// MedianOf is Median for one attack's own norm (its Nearest in that norm).
func (a *AttackResult) MedianOf() float64 { return attack.Median(a.column(a.Norm.Index())) }

// MeanFound returns the mean of one attack's minimal perturbation in its
// norm over the inputs it broke, and NaN if it broke none.
func (a *AttackResult) MeanFound() float64 {
	var s float64
	n := 0
	for _, d := range a.column(a.Norm.Index()) {
		if d > 0 && !math.IsInf(d, 1) {
			s += d
			n++
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return s / float64(n)
}

func (a *AttackResult) column(k int) []float64 {
	v := make([]float64, len(a.Nearest))
	for i, d := range a.Nearest {
		v[i] = d[k]
	}
	return v
}

// tolerance is the slack allowed between a budget and a measured distance:
// float32 rounding of x + δ.
func tolerance(b float64) float64 { return b*1e-5 + 1e-6 }

// Evaluate runs the battery on the len(y) inputs x of c.Inputs() values
// each.
func Evaluate(ctx context.Context, c attack.Classifier, x []float32, y []int32, cfg Config) (*Result, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("robustness: %w", err)
	}
	n, in := len(y), c.Inputs()
	if c.Rows() < 1 {
		return nil, fmt.Errorf("robustness: the classifier takes %d rows at a time", c.Rows())
	}
	if n == 0 || len(x) != n*in {
		return nil, fmt.Errorf("robustness: %d inputs for %d samples of %d values", len(x), n, in)
	}
	for i, v := range x {
		if !(v >= cfg.Box.Lo && v <= cfg.Box.Hi) {
			return nil, fmt.Errorf("robustness: sample %d has value %v outside the input range [%v, %v]", i/in, v, cfg.Box.Lo, cfg.Box.Hi)
		}
	}
	correct, logits, err := classify(ctx, c, x, y)
	if err != nil {
		return nil, err
	}
	res := &Result{Samples: n, Correct: correct, Budgets: cfg.Budgets, Worst: map[attack.Norm][]float64{},
		WorstNearest: map[attack.Norm][]float64{}, Decisive: map[attack.Norm][][]int{}, Certified: map[attack.Norm][]float64{}, Radii: map[attack.Norm][]float64{}}
	nCorrect := 0
	for _, ok := range correct {
		if ok {
			nCorrect++
		}
	}
	res.CleanAccuracy = float64(nCorrect) / float64(n)

	for _, a := range cfg.Attacks {
		ar, err := runAttack(ctx, c, x, y, correct, a, cfg)
		if err != nil {
			return nil, fmt.Errorf("robustness: attack %s: %w", a.Name(), err)
		}
		res.Attacks = append(res.Attacks, *ar)
	}
	// The worst case over the battery, per norm, and which attack it
	// rests on.
	for p, budgets := range cfg.Budgets {
		k := p.Index()
		wn := make([]float64, n)
		for i := range wn {
			wn[i] = math.Inf(1)
			if !correct[i] {
				wn[i] = 0
			}
			for _, ar := range res.Attacks {
				wn[i] = min(wn[i], ar.Nearest[i][k])
			}
		}
		res.WorstNearest[p] = wn
		worst := make([]float64, len(budgets))
		decisive := make([][]int, len(budgets))
		for bi, b := range budgets {
			decisive[bi] = make([]int, len(res.Attacks))
			robust := 0
			for i := range wn {
				if !correct[i] {
					continue
				}
				if wn[i] > b+tolerance(b) {
					robust++
					continue
				}
				for ai, ar := range res.Attacks {
					if ar.Nearest[i][k] <= b+tolerance(b) {
						decisive[bi][ai]++
						break
					}
				}
			}
			worst[bi] = float64(robust) / float64(n)
		}
		res.Worst[p], res.Decisive[p] = worst, decisive
	}
	for _, cert := range cfg.Certifiers {
		p := cert.Norm()
		radii, err := cert.Radii(logits, y)
		if err != nil {
			return nil, fmt.Errorf("robustness: certificate: %w", err)
		}
		if len(radii) != n {
			return nil, fmt.Errorf("robustness: certificate: %d radii for %d samples", len(radii), n)
		}
		wn := res.WorstNearest[p]
		for i, r := range radii {
			// A verified adversarial point inside a certified radius
			// means the certificate or the verification is wrong.
			if wn != nil && correct[i] && wn[i] < r*(1-1e-5) {
				return nil, fmt.Errorf("robustness: sample %d: certified %s radius %g, but an attack found a verified adversarial point at %g", i, p, r, wn[i])
			}
		}
		cs := make([]float64, len(cfg.Budgets[p]))
		for bi, b := range cfg.Budgets[p] {
			m := 0
			for i, r := range radii {
				if correct[i] && r > b {
					m++
				}
			}
			cs[bi] = float64(m) / float64(n)
		}
		res.Certified[p] = cs
		res.Radii[p] = make([]float64, n)
		for i, r := range radii {
			if correct[i] {
				res.Radii[p][i] = r
			}
		}
	}
	return res, nil
}

// classify returns which inputs the model classifies correctly (the first
// largest logit is the label, as an arg-max does) and the logits.
func classify(ctx context.Context, c attack.Classifier, x []float32, y []int32) ([]bool, []float32, error) {
	n, in, classes := len(y), c.Inputs(), c.Classes()
	logits := make([]float32, n*classes)
	rows := c.Rows()
	for lo := 0; lo < n; lo += rows {
		hi := min(lo+rows, n)
		if err := c.Logits(ctx, x[lo*in:hi*in], logits[lo*classes:hi*classes]); err != nil {
			return nil, nil, fmt.Errorf("robustness: %w", err)
		}
	}
	correct := make([]bool, n)
	for i := range correct {
		row := logits[i*classes : (i+1)*classes]
		correct[i] = argmax(row) == int(y[i])
	}
	return correct, logits, nil
}

func argmax(row []float32) int {
	best := 0
	for j, v := range row {
		if v > row[best] {
			best = j
		}
	}
	return best
}

// runAttack runs one attack (once per budget of its norm if budgeted) and
// keeps, for each input and norm, the size of its nearest verified
// adversarial point.
func runAttack(ctx context.Context, c attack.Classifier, x []float32, y []int32, correct []bool, a Attack, cfg Config) (*AttackResult, error) {
	n, in := len(y), c.Inputs()
	own := a.Norm().Index()
	ar := &AttackResult{Name: a.Name(), Norm: a.Norm(), Nearest: make([]attack.Distances, n), Robust: map[attack.Norm][]float64{}}
	for i := range ar.Nearest {
		if correct[i] {
			ar.Nearest[i] = attack.Distances{math.Inf(1), math.Inf(1), math.Inf(1), math.Inf(1)}
		}
	}
	start := time.Now()
	// keep verifies the points adv (each within limit in the attack's
	// norm) and keeps their sizes where they are nearer than what the
	// attack found before.
	keep := func(adv []float32, found []bool, limit float64) error {
		if len(adv) != len(x) {
			return fmt.Errorf("returned %d values for %d", len(adv), len(x))
		}
		mis, _, err := classify(ctx, c, adv, y)
		if err != nil {
			return err
		}
		for i := range mis {
			mis[i] = !mis[i]
		}
		for i := 0; i < n; i++ {
			if !correct[i] || (found != nil && !found[i]) {
				continue
			}
			xi, ai := x[i*in:(i+1)*in], adv[i*in:(i+1)*in]
			d := attack.Measure(ai, xi)
			if d[0] == 0 { // the input itself: nothing found
				continue
			}
			if !mis[i] || !inBox(ai, cfg.Box) || d[own] > limit+tolerance(limit) {
				if found != nil || mis[i] {
					ar.Rejected++ // claimed, or misclassified outside the budget or box
				}
				continue
			}
			for k, v := range d {
				ar.Nearest[i][k] = min(ar.Nearest[i][k], v)
			}
		}
		return nil
	}
	switch at := a.(type) {
	case Budgeted:
		for _, b := range cfg.Budgets[a.Norm()] {
			adv, err := at.Perturb(ctx, c, x, y, b, cfg.Box)
			if err != nil {
				return nil, err
			}
			if err := keep(adv, nil, b); err != nil {
				return nil, err
			}
			if cfg.Progress != nil {
				cfg.Progress.Add(1, fmt.Sprintf("%s %s %g", a.Name(), a.Norm(), b))
			}
		}
	case Minimal:
		adv, found, err := at.Minimize(ctx, c, x, y, cfg.Box)
		if err != nil {
			return nil, err
		}
		if len(found) != n {
			return nil, fmt.Errorf("returned %d success flags for %d samples", len(found), n)
		}
		if err := keep(adv, found, math.Inf(1)); err != nil {
			return nil, err
		}
		ar.Minimal = true
		if cfg.Progress != nil {
			cfg.Progress.Add(1, a.Name())
		}
	}
	ar.Seconds = time.Since(start).Seconds()
	nCorrect, broken := 0, 0
	for i, d := range ar.Nearest {
		if correct[i] {
			nCorrect++
			if !math.IsInf(d[own], 1) {
				broken++
			}
		}
	}
	if nCorrect > 0 {
		ar.Found = float64(broken) / float64(nCorrect)
	}
	for p, budgets := range cfg.Budgets {
		k := p.Index()
		acc := make([]float64, len(budgets))
		for bi, b := range budgets {
			m := 0
			for i, d := range ar.Nearest {
				if correct[i] && d[k] > b+tolerance(b) {
					m++
				}
			}
			acc[bi] = float64(m) / float64(n)
		}
		ar.Robust[p] = acc
	}
	return ar, nil
}

func inBox(v []float32, b attack.Box) bool {
	for _, x := range v {
		if !(x >= b.Lo && x <= b.Hi) {
			return false
		}
	}
	return true
}
