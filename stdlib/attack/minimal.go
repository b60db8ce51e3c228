package attack

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// The norms that only minimal-perturbation attacks measure with.
const (
	// L0 counts the input values a perturbation changes.
	L0 Norm = "l0"
	// L1 is the sum of the absolute changes.
	L1 Norm = "l1"
)

// Distance returns the size of the perturbation b − a in norm: the number
// of values with a[j] ≠ b[j] for L0, Σ|b[j]−a[j]| for L1, the Euclidean
// length for L2 and max |b[j]−a[j]| for Linf, computed in float64. It
// panics if the lengths differ or norm is not one of the four.
func Distance(norm Norm, a, b []float32) float64 {
	if len(a) != len(b) {
		panic(fmt.Sprintf("attack: distance between %d and %d values", len(a), len(b)))
	}
	var s float64
	switch norm {
	case L0:
		for j, v := range a {
			if v != b[j] {
				s++
			}
		}
	case L1:
		for j, v := range a {
			s += math.Abs(float64(b[j]) - float64(v))
		}
	case L2:
		for j, v := range a {
			d := float64(b[j]) - float64(v)
			s += d * d
		}
		s = math.Sqrt(s)
	case Linf:
		for j, v := range a {
			s = math.Max(s, math.Abs(float64(b[j])-float64(v)))
		}
	default:
		panic(fmt.Sprintf("attack: unknown norm %q", norm))
	}
	return s
}

// Norms lists the four norms perturbations are measured in, in the order
// of Distances.
var Norms = [4]Norm{L0, L1, L2, Linf}

// Index returns the position of n in Norms, or -1 for another norm.
func (n Norm) Index() int {
	for i, m := range Norms {
		if m == n {
			return i
		}
	}
	return -1
}

// Distances holds the size of one perturbation in each of Norms: the
// number of changed values, and its l1, l2 and l∞ norms.
type Distances [4]float64

// Measure returns the size of the perturbation b − a in all four norms,
// as Distance computes each.
func Measure(a, b []float32) Distances {
	if len(a) != len(b) {
		panic(fmt.Sprintf("attack: distance between %d and %d values", len(a), len(b)))
	}
	var d Distances
	var l2 float64
	for j, v := range a {
		x := math.Abs(float64(b[j]) - float64(v))
		if a[j] != b[j] {
			d[0]++
		}
		d[1] += x
		l2 += x * x
		d[3] = math.Max(d[3], x)
	}
	d[2] = math.Sqrt(l2)
	return d
}

// In returns the distance in norm; it panics for an unknown norm.
func (d Distances) In(norm Norm) float64 {
	k := norm.Index()
	if k < 0 {
		panic(fmt.Sprintf("attack: unknown norm %q", norm))
	}
	return d[k]
}

// infDistances is the distance recorded for a failed attack.
var infDistances = Distances{math.Inf(1), math.Inf(1), math.Inf(1), math.Inf(1)}

// wrong reports whether logits misclassify label k: some class scores
// strictly more than k, so that the margin max_i z_i − z_k of the log
// barrier is positive. A tie with k, or a NaN, does not misclassify.
func wrong(logits []float32, k int) bool {
	for i, v := range logits {
		if i != k && v > logits[k] {
			return true
		}
	}
	return false
}

// Misclassified reports, for each of the n = len(y) samples x (n ×
// c.Inputs() values), whether the classifier misclassifies it: whether
// some class has a logit strictly larger than that of its label y[i]
// (ties and NaN logits count as correct). It runs c.Logits on batches of
// up to c.Rows() samples.
func Misclassified(ctx context.Context, c Classifier, x []float32, y []int32) ([]bool, error) {
	if err := checkSamples(c, x, y); err != nil {
		return nil, fmt.Errorf("attack: %w", err)
	}
	in, k, rows := c.Inputs(), c.Classes(), c.Rows()
	out := make([]bool, len(y))
	logits := make([]float32, min(rows, len(y))*k)
	for lo := 0; lo < len(y); lo += rows {
		hi := min(lo+rows, len(y))
		if err := classify(ctx, c, x[lo*in:hi*in], y[lo:hi], logits[:(hi-lo)*k], out[lo:hi]); err != nil {
			return nil, fmt.Errorf("attack: %w", err)
		}
	}
	return out, nil
}

// classify sets out[i] to whether sample i of the batch x is
// misclassified, using logits (len(y) × classes) as its buffer.
func classify(ctx context.Context, c Classifier, x []float32, y []int32, logits []float32, out []bool) error {
	if err := c.Logits(ctx, x, logits); err != nil {
		return err
	}
	k := c.Classes()
	for i, label := range y {
		out[i] = wrong(logits[i*k:(i+1)*k], int(label))
	}
	return nil
}

// checkSamples reports a classifier that takes no rows, or samples and
// labels that do not fit it.
func checkSamples(c Classifier, x []float32, y []int32) error {
	in, k := c.Inputs(), c.Classes()
	switch {
	case c.Rows() < 1:
		return errors.New("the classifier takes no rows")
	case in < 1 || k < 2:
		return fmt.Errorf("a classifier of %d inputs and %d classes: want at least 1 and 2", in, k)
	case len(x) != len(y)*in:
		return fmt.Errorf("%d inputs for %d samples of %d values", len(x), len(y), in)
	}
	for i, label := range y {
		if label < 0 || int(label) >= k {
			return fmt.Errorf("label %d of sample %d out of range [0, %d)", label, i, k)
		}
	}
	return nil
}

// checkInBox reports an input value outside box (or NaN).
func checkInBox(box Box, x []float32, in int) error {
	for j, v := range x {
		if !(v >= box.Lo && v <= box.Hi) {
			return fmt.Errorf("value %d of sample %d is %v, outside the input range [%v, %v]", j%in, j/in, v, box.Lo, box.Hi)
		}
	}
	return nil
}

// Result is the outcome of a minimal-perturbation attack on n samples of
// in values each.
//
// A success is a point that c.Logits misclassifies and that lies in the
// attack's box, checked once more after the attack has finished; a point
// that fails the check is reported as a failure. Samples the classifier
// misclassifies already are successes at distance 0 (the clean sample
// itself), as in the reference implementations. Failures have NaN rows in
// Adv and +Inf distances.
type Result struct {
	// Norm is the norm the attack minimises.
	Norm Norm
	// Adv holds the n adversarial samples, n × in values.
	Adv []float32
	// Success reports, per sample, whether Adv holds a verified
	// adversarial point.
	Success []bool
	// Clean reports the samples that were misclassified without any
	// perturbation.
	Clean []bool
	// Dist is each sample's distance to its adversarial point in Norm.
	Dist []float64
	// All is each sample's distance in the four norms.
	All []Distances
}

// newResult returns a Result for n samples of in values, all failures.
func newResult(norm Norm, n, in int) *Result {
	r := &Result{
		Norm:    norm,
		Adv:     make([]float32, n*in),
		Success: make([]bool, n),
		Clean:   make([]bool, n),
		Dist:    make([]float64, n),
		All:     make([]Distances, n),
	}
	for i := range r.Adv {
		r.Adv[i] = float32(math.NaN())
	}
	for i := range r.Dist {
		r.Dist[i] = math.Inf(1)
		r.All[i] = infDistances
	}
	return r
}

// record verifies the candidate points adv of the batch of samples x0
// (labels y, first sample lo of the result) whose ok flag is set and
// stores those that c misclassifies and that lie in box; clean flags the
// samples misclassified without perturbation.
func (r *Result) record(ctx context.Context, c Classifier, box Box, lo int, x0, adv []float32, y []int32, ok, clean []bool) error {
	in := c.Inputs()
	mis := make([]bool, len(y))
	if err := classify(ctx, c, adv, y, make([]float32, len(y)*c.Classes()), mis); err != nil {
		return err
	}
	for i := range y {
		r.Clean[lo+i] = clean[i]
		a := adv[i*in : (i+1)*in]
		if !ok[i] || !mis[i] || checkInBox(box, a, in) != nil {
			continue
		}
		copy(r.Adv[(lo+i)*in:], a)
		r.Success[lo+i] = true
		r.All[lo+i] = Measure(x0[i*in:(i+1)*in], a)
		r.Dist[lo+i] = r.All[lo+i].In(r.Norm)
	}
	return nil
}

// Summary condenses a Result.
type Summary struct {
	// N is the number of samples and Successes the number of verified
	// adversarial points (counting samples misclassified already, at
	// distance 0).
	N, Successes int
	// Rate is Successes / N.
	Rate float64
	// Median is the median distance per norm over all N samples, each
	// failure counting as +Inf: the usual statistic of
	// minimal-perturbation attacks, which favours neither an attack that
	// gives up on hard samples nor one that breaks them at a large
	// distance. It is +Inf when at least half of the samples fail. With
	// an even N it is the mean of the two middle values, as numpy's.
	Median Distances
	// SuccessMedian and SuccessMean are the median and the mean over the
	// successes only (NaN without successes).
	SuccessMedian, SuccessMean Distances
}

// Summarize returns the success rate of r and the median and mean
// distances of its adversarial points.
func Summarize(r *Result) Summary {
	s := Summary{N: len(r.Success)}
	var all, won [4][]float64
	for i, ok := range r.Success {
		d := [4]float64(r.All[i])
		if !ok {
			d = [4]float64{math.Inf(1), math.Inf(1), math.Inf(1), math.Inf(1)}
		}
		for q := range d {
			all[q] = append(all[q], d[q])
			if ok {
				won[q] = append(won[q], d[q])
			}
		}
		if ok {
			s.Successes++
		}
	}
	if s.N > 0 {
		s.Rate = float64(s.Successes) / float64(s.N)
	}
	var med, wmed, wmean [4]float64
	for q := range 4 {
		med[q], wmed[q], wmean[q] = Median(all[q]), Median(won[q]), mean(won[q])
	}
	s.Median, s.SuccessMedian, s.SuccessMean = med, wmed, wmean
	return s
}

// Median returns the median of v, the mean of the two middle values for
// an even count (+Inf if either is +Inf), or NaN if v is empty. v is not
// changed.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return math.NaN()
	}
	s := slices.Clone(v)
	slices.Sort(s)
	h := len(s) / 2
	if len(s)%2 == 1 {
		return s[h]
	}
	return (s[h-1] + s[h]) / 2
}

// mean returns the mean of v (NaN if v is empty).
func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// initialise finds misclassified starting points for the barrier attacks: for
// every sample of the batch x0 (first sample lo of the whole input) that
// is still correctly classified it sets xs to x0 + 1.01^k·0.01·N(0, I),
// clamped into box, k = 0, 1, …, at most iters times, drawing the noise
// from a stream seeded by seed and the sample's index, so that a sample's
// start does not depend on the batch it is in. A sample whose xs is
// misclassified on entry keeps it. It returns which samples have a
// misclassified start.
func initialise(ctx context.Context, c Classifier, x0, xs []float32, y []int32, lo int, box Box, seed uint64, iters int) ([]bool, error) {
	in, n := c.Inputs(), len(y)
	logits := make([]float32, n*c.Classes())
	ok := make([]bool, n)
	if err := classify(ctx, c, xs, y, logits, ok); err != nil {
		return nil, err
	}
	rngs := make([]*rand.Rand, n)
	for k := 0; k < iters; k++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		todo := false
		scale := math.Pow(1.01, float64(k)) * 0.01
		for i := range n {
			if ok[i] {
				continue
			}
			todo = true
			if rngs[i] == nil {
				rngs[i] = rand.New(rand.NewPCG(seed, uint64(lo+i)))
			}
			for j := i * in; j < (i+1)*in; j++ {
				xs[j] = box.clamp(x0[j] + float32(scale*rngs[i].NormFloat64()))
			}
		}
		if !todo {
			break
		}
		if err := classify(ctx, c, xs, y, logits, ok); err != nil {
			return nil, err
		}
	}
	return ok, nil
}

// backtrack pulls every attacked sample of x that c classifies correctly
// back toward its previous iterate xold, x ← xold + keep·(x − xold), until
// all are misclassified or after limit tries, when the samples still
// correct are reset to xold (misclassified by construction). It works on
// the perturbations from x0 so that a value equal to x0 in both iterates
// stays exactly equal (which the l0 distance needs).
func backtrack(ctx context.Context, c Classifier, x, xold, x0 []float32, y []int32, attacked []bool, keep float32, limit int, logits []float32, mis []bool) error {
	in := c.Inputs()
	for try := 0; ; try++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := classify(ctx, c, x, y, logits, mis); err != nil {
			return err
		}
		todo := false
		for i, a := range attacked {
			if !a || mis[i] {
				continue
			}
			todo = true
			for j := i * in; j < (i+1)*in; j++ {
				if try == limit {
					x[j] = xold[j]
					continue
				}
				d, dold := x[j]-x0[j], xold[j]-x0[j]
				x[j] = x0[j] + (dold + keep*(d-dold))
			}
		}
		if !todo || try == limit {
			return nil
		}
	}
}

// batches calls f for each batch [lo, hi) of at most rows of the n
// samples, checking ctx before each.
func batches(ctx context.Context, n, rows int, f func(lo, hi int) error) error {
	for lo := 0; lo < n; lo += rows {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := f(lo, min(lo+rows, n)); err != nil {
			return err
		}
	}
	return nil
}

// sign is −1, 0 or 1 as v is negative, zero (or NaN) or positive.
func sign(v float32) float32 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}
