package attack

import (
	"context"
	"fmt"
	"math"
	"slices"
)

// Bisect turns PGD into a minimal-perturbation attack: for each sample it
// finds by bisection the smallest budget eps in [0, Hi] at which PGD in
// Norm (Steps steps of size StepFactor·eps/Steps, no random start, the
// cross-entropy gradient, as PGD.Run) misclassifies it. PGD succeeds at
// eps when one of its iterates is misclassified; the attack stops at the
// first such iterate, which becomes the sample's adversarial point if eps
// is the smallest budget that succeeded. After the test at Hi, Iters
// bisection steps follow, so the budget is found to within Hi/2^Iters; a
// sample PGD does not break at Hi is a failure. Every sample has its own
// budget, and samples do not interact.
type Bisect struct {
	// Norm is the norm of the budget: Linf or L2.
	Norm Norm
	// Hi is the largest budget tried; 0 stands for the diameter of Box in
	// Norm (Box.Hi−Box.Lo for l∞, √n times that for l2 with n inputs).
	Hi float32
	// Iters is the number of bisection steps after the test at Hi.
	Iters int
	// Steps is the number of PGD steps per test and StepFactor the step
	// size in units of eps/Steps.
	Steps      int
	StepFactor float32
	// Box is the valid input range.
	Box Box
}

// NewBisect returns the attack in norm with 12 bisection steps over
// [0, diameter of the box], 10 PGD steps of 2.5·eps/10 and Box [0, 1].
func NewBisect(norm Norm) Bisect {
	return Bisect{Norm: norm, Iters: 12, Steps: 10, StepFactor: 2.5, Box: Box{0, 1}}
}

// Check reports settings out of range.
func (a Bisect) Check() error {
	switch {
	case a.Norm != Linf && a.Norm != L2:
		return fmt.Errorf("norm %q: want linf or l2", a.Norm)
	case !(a.Hi >= 0) || math.IsInf(float64(a.Hi), 0):
		return fmt.Errorf("largest budget %v must be finite and at least 0", a.Hi)
	case a.Iters < 0:
		return fmt.Errorf("%d bisection steps: want at least 0", a.Iters)
	case a.Steps < 1:
		return fmt.Errorf("%d steps: want at least 1", a.Steps)
	case !(a.StepFactor > 0) || math.IsInf(float64(a.StepFactor), 0):
		return fmt.Errorf("step factor %v must be finite and positive", a.StepFactor)
	}
	return a.Box.Check()
}

// BisectResult is the Result of Bisect with the budget found per sample:
// the smallest budget PGD succeeded at (0 for samples misclassified
// already, +Inf for failures). Dist holds the distance of the adversarial
// point itself, at most the budget.
type BisectResult struct {
	Result
	Eps []float64
}

// Run attacks the n = len(y) samples x (n × c.Inputs() values, inside
// Box) with labels y, in batches of up to c.Rows() samples. It checks ctx
// before every PGD step.
func (a Bisect) Run(ctx context.Context, c Classifier, x []float32, y []int32) (*BisectResult, error) {
	r, err := a.run(ctx, c, x, y)
	if err != nil {
		return nil, fmt.Errorf("attack: pgd bisection: %w", err)
	}
	return r, nil
}

func (a Bisect) run(ctx context.Context, c Classifier, x []float32, y []int32) (*BisectResult, error) {
	if err := a.Check(); err != nil {
		return nil, err
	}
	if err := checkSamples(c, x, y); err != nil {
		return nil, err
	}
	in, n := c.Inputs(), len(y)
	if err := checkInBox(a.Box, x, in); err != nil {
		return nil, err
	}
	top := float64(a.Hi)
	if top == 0 {
		top = float64(a.Box.Hi) - float64(a.Box.Lo)
		if a.Norm == L2 {
			top *= math.Sqrt(float64(in))
		}
	}
	r := &BisectResult{Result: *newResult(a.Norm, n, in), Eps: make([]float64, n)}
	err := batches(ctx, n, c.Rows(), func(lo, hi int) error {
		b := hi - lo
		x0, yb := x[lo*in:hi*in], y[lo:hi]
		t := &pgdTest{a: a, c: c, x0: x0, y: yb, xa: make([]float32, len(x0)),
			grad: make([]float32, len(x0)), logits: make([]float32, b*c.Classes()),
			done: make([]bool, b), broke: make([]bool, b)}
		clean := make([]bool, b)
		if err := classify(ctx, c, x0, yb, t.logits, clean); err != nil {
			return err
		}
		low, high := make([]float64, b), make([]float64, b)
		adv := slices.Clone(x0)
		active := make([]bool, b)
		for i := range b {
			high[i] = top
			active[i] = !clean[i]
		}
		// The test at the top decides which samples PGD can break.
		if err := t.run(ctx, high, active); err != nil {
			return err
		}
		for i := range b {
			active[i] = active[i] && t.broke[i]
			if active[i] {
				copy(adv[i*in:(i+1)*in], t.xa[i*in:])
			}
		}
		mid := make([]float64, b)
		for range a.Iters {
			for i := range b {
				mid[i] = (low[i] + high[i]) / 2
			}
			if err := t.run(ctx, mid, active); err != nil {
				return err
			}
			for i, at := range active {
				switch {
				case !at:
				case t.broke[i]:
					high[i] = mid[i]
					copy(adv[i*in:(i+1)*in], t.xa[i*in:])
				default:
					low[i] = mid[i]
				}
			}
		}
		ok := make([]bool, b)
		for i := range b {
			ok[i] = active[i] || clean[i]
		}
		if err := r.record(ctx, c, a.Box, lo, x0, adv, yb, ok, clean); err != nil {
			return err
		}
		for i := range b {
			switch {
			case !r.Success[lo+i]:
				r.Eps[lo+i] = math.Inf(1)
			case !clean[i]:
				r.Eps[lo+i] = high[i]
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// pgdTest runs PGD on one batch with a budget per sample.
type pgdTest struct {
	a           Bisect
	c           Classifier
	x0, xa      []float32
	y           []int32
	grad        []float32
	logits      []float32
	done, broke []bool
}

// run attacks the samples flagged in active with the budgets eps, leaving
// each one's final or first misclassified iterate in t.xa and setting
// t.broke to whether c.Logits misclassifies it.
func (t *pgdTest) run(ctx context.Context, eps []float64, active []bool) error {
	in, k, a := t.c.Inputs(), t.c.Classes(), t.a
	copy(t.xa, t.x0)
	for i, at := range active {
		t.done[i] = !at
	}
	for range a.Steps {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !slices.Contains(t.done, false) {
			break
		}
		if err := t.c.Compute(ctx, t.xa, t.y, t.grad, t.logits, nil); err != nil {
			return err
		}
		for i, d := range t.done {
			if d {
				continue
			}
			if wrong(t.logits[i*k:(i+1)*k], int(t.y[i])) {
				t.done[i] = true
				continue
			}
			e := float32(eps[i])
			p := PGD{Norm: a.Norm, Eps: e, Step: a.StepFactor * e / float32(a.Steps), Steps: a.Steps, Box: a.Box}
			p.step(t.xa[i*in:(i+1)*in], t.x0[i*in:(i+1)*in], t.grad[i*in:(i+1)*in])
		}
	}
	if err := classify(ctx, t.c, t.xa, t.y, t.logits, t.broke); err != nil {
		return err
	}
	for i, at := range active {
		t.broke[i] = t.broke[i] && at
	}
	return nil
}
