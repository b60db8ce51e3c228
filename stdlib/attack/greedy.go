package attack

import (
	"context"
	"fmt"
	"slices"
)

// GreedyL0 is a greedy baseline for l0 attacks: for each sample it
// repeatedly moves one input value that it has not changed yet to a bound
// of Box, the one whose move in the direction that raises the
// cross-entropy has the largest first-order gain |g_j|·room_j (g the
// gradient of the cross-entropy with respect to the input at the current
// point, room_j the distance from x_j to Box.Hi if g_j > 0, to Box.Lo if
// g_j < 0), until the sample is misclassified or MaxChanges values are
// changed. A sample none of whose remaining values has a positive gain is
// a failure. For a two-class linear model this is the exact l0 minimum.
type GreedyL0 struct {
	// MaxChanges caps the values changed per sample; 0 allows all.
	MaxChanges int
	// Box is the valid input range.
	Box Box
}

// NewGreedyL0 returns the attack with no cap and Box [0, 1].
func NewGreedyL0() GreedyL0 { return GreedyL0{Box: Box{0, 1}} }

// Check reports settings out of range.
func (a GreedyL0) Check() error {
	if a.MaxChanges < 0 {
		return fmt.Errorf("%d changes: want at least 0", a.MaxChanges)
	}
	return a.Box.Check()
}

// Run attacks the n = len(y) samples x (n × c.Inputs() values, inside
// Box) with labels y, in batches of up to c.Rows() samples, one gradient
// evaluation per changed value. The result's Norm is L0; its Dist counts
// the changed values. It checks ctx before every step.
func (a GreedyL0) Run(ctx context.Context, c Classifier, x []float32, y []int32) (*Result, error) {
	r, err := a.run(ctx, c, x, y)
	if err != nil {
		return nil, fmt.Errorf("attack: greedy l0: %w", err)
	}
	return r, nil
}

func (a GreedyL0) run(ctx context.Context, c Classifier, x []float32, y []int32) (*Result, error) {
	if err := a.Check(); err != nil {
		return nil, err
	}
	if err := checkSamples(c, x, y); err != nil {
		return nil, err
	}
	in, k, n := c.Inputs(), c.Classes(), len(y)
	if err := checkInBox(a.Box, x, in); err != nil {
		return nil, err
	}
	limit := a.MaxChanges
	if limit == 0 || limit > in {
		limit = in
	}
	r := newResult(L0, n, in)
	err := batches(ctx, n, c.Rows(), func(lo, hi int) error {
		b := hi - lo
		x0, yb := x[lo*in:hi*in], y[lo:hi]
		xa := slices.Clone(x0)
		grad := make([]float32, b*in)
		logits := make([]float32, b*k)
		changed := make([]bool, b*in)
		count := make([]int, b)
		// state: 0 running, 1 misclassified, 2 given up.
		state := make([]int8, b)
		clean := make([]bool, b)
		for step := 0; ; step++ {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := c.Compute(ctx, xa, yb, grad, logits, nil); err != nil {
				return err
			}
			running := false
			for i := range b {
				if state[i] != 0 {
					continue
				}
				if wrong(logits[i*k:(i+1)*k], int(yb[i])) {
					state[i] = 1
					clean[i] = step == 0
					continue
				}
				if count[i] == limit || !a.change(xa[i*in:(i+1)*in], grad[i*in:(i+1)*in], changed[i*in:(i+1)*in]) {
					state[i] = 2
					continue
				}
				count[i]++
				running = true
			}
			if !running {
				break
			}
		}
		ok := make([]bool, b)
		for i, s := range state {
			ok[i] = s == 1
		}
		return r.record(ctx, c, a.Box, lo, x0, xa, yb, ok, clean)
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// change moves the unchanged value of xa with the largest gain |g_j|·room_j
// to its bound and marks it; it reports false, changing nothing, when no
// value has a positive gain.
func (a GreedyL0) change(xa, g []float32, changed []bool) bool {
	best, at := float32(0), -1
	for j, v := range xa {
		if changed[j] {
			continue
		}
		var gain float32
		switch {
		case g[j] > 0:
			gain = g[j] * (a.Box.Hi - v)
		case g[j] < 0:
			gain = -g[j] * (v - a.Box.Lo)
		}
		if gain > best {
			best, at = gain, j
		}
	}
	if at < 0 {
		return false
	}
	changed[at] = true
	if g[at] > 0 {
		xa[at] = a.Box.Hi
	} else {
		xa[at] = a.Box.Lo
	}
	return true
}
