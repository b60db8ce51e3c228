// Package attack implements gradient-based adversarial attacks on
// classifiers: FGSM and projected gradient descent (PGD) in the l∞ and l2
// norms, batched, seeded, and clamped to the valid input range. The
// gradients come from a Gradienter, such as backend.InputGradient, whose
// compiled graph is reused across every step of an attack.
package attack

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"unsafe"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// Gradienter computes per-sample losses and their gradients with respect
// to the inputs, for batches of up to Rows samples (see
// backend.InputGradient.Compute).
type Gradienter interface {
	Rows() int
	Compute(ctx context.Context, x []float32, y []int32, grad, logits, loss []float32) error
}

// Classifier is what minimal-perturbation attacks (the log barriers, the
// greedy l0 search, PGD with a bisection on its budget) need of a model:
// gradients of any per-sample objective of the logits, and the logits
// alone, for batches of up to Rows samples of Inputs values.
// backend.InputGradient is one.
type Classifier interface {
	Gradienter
	Inputs() int
	Classes() int
	// ComputeObjective is Compute with obj in place of the
	// cross-entropy (obj nil: the cross-entropy).
	ComputeObjective(ctx context.Context, obj backend.Objective, x []float32, y []int32, grad, logits, loss []float32) error
	// Logits writes the logits of the len(x)/Inputs() samples x.
	Logits(ctx context.Context, x []float32, logits []float32) error
}

// Norm is the norm that measures a perturbation.
type Norm string

// The norms of PGD.
const (
	Linf Norm = "linf"
	L2   Norm = "l2"
)

// Box is the valid range of every input value; attacks clamp into it.
type Box struct{ Lo, Hi float32 }

// Check reports a box whose bounds are not finite and ordered.
func (b Box) Check() error {
	if !(b.Lo < b.Hi) || math.IsInf(float64(b.Lo), 0) || math.IsInf(float64(b.Hi), 0) {
		return fmt.Errorf("input range [%v, %v] must be finite with lo < hi", b.Lo, b.Hi)
	}
	return nil
}

func (b Box) clamp(v float32) float32 { return min(max(v, b.Lo), b.Hi) }

// FGSM returns the fast gradient sign attack on the n = len(y) samples x
// (n × in values): x + eps·sign(∇ₓℓ(x, y)), clamped into box, as
// (x + eps * x.grad.sign()).clamp(lo, hi) in PyTorch. A zero gradient
// leaves the value unchanged.
func FGSM(ctx context.Context, g Gradienter, x []float32, y []int32, in int, eps float32, box Box) ([]float32, error) {
	return PGD{Norm: Linf, Eps: eps, Step: eps, Steps: 1, Box: box}.Run(ctx, g, x, y, in)
}

// PGD is projected gradient ascent on the loss within a ball of radius Eps
// around each sample: Steps steps of size Step (x + Step·sign(∇) for l∞,
// x + Step·∇/‖∇‖₂ for l2), each followed by projection onto the ball and
// clamping into Box, as in Madry et al. With RandomStart the attack starts
// from a uniform point of the ball (l∞: each value uniform in [−Eps, Eps];
// l2: a uniform direction at radius Eps·U^(1/d)), drawn from Seed and the
// sample's index, clamped into Box; else from the sample itself.
type PGD struct {
	Norm        Norm
	Eps, Step   float32
	Steps       int
	RandomStart bool
	Seed        uint64
	Box         Box
}

// Check reports settings out of range.
func (p PGD) Check() error {
	switch {
	case p.Norm != Linf && p.Norm != L2:
		return fmt.Errorf("norm %q: want linf or l2", p.Norm)
	case !(p.Eps >= 0) || math.IsInf(float64(p.Eps), 0):
		return fmt.Errorf("budget eps %v must be finite and at least 0", p.Eps)
	case !(p.Step > 0) || math.IsInf(float64(p.Step), 0):
		return fmt.Errorf("step %v must be finite and positive", p.Step)
	case p.Steps < 1:
		return fmt.Errorf("%d steps: want at least 1", p.Steps)
	}
	return p.Box.Check()
}

// Run attacks the n = len(y) samples x (n × in values) with labels y and
// returns the adversarial samples. It checks ctx before every step.
//
// It attacks Rows() samples at a time. The work between two gradients
// (the step, projection and clamping of every sample) is split over rows
// across up to GOMAXPROCS goroutines (the thread count the command line
// and the benchmarks set) when a batch holds enough values; the samples
// are independent, so the result does not depend on the split.
func (p PGD) Run(ctx context.Context, g Gradienter, x []float32, y []int32, in int) ([]float32, error) {
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("attack: %w", err)
	}
	n := len(y)
	if in < 1 || len(x) != n*in {
		return nil, fmt.Errorf("attack: %d inputs for %d samples of %d values", len(x), n, in)
	}
	rows := g.Rows()
	if rows < 1 {
		return nil, errors.New("attack: the gradient graph takes no rows")
	}
	adv := make([]float32, len(x))
	batch := min(rows, n)
	grad := make([]float32, batch*in)
	pool := startRowPool(min(runtime.GOMAXPROCS(0), batch, batch*in/parallelMin) - 1)
	defer pool.stop()
	c := &pgdChunk{p: p, in: in}
	for lo := 0; lo < n; lo += rows {
		hi := min(lo+rows, n)
		c.first, c.x0, c.xa, c.grad = lo, x[lo*in:hi*in], adv[lo*in:hi*in], grad[:(hi-lo)*in]
		// A batch of finite samples stays finite (every step ends
		// clamped into the box), which the fast l∞ step needs.
		finite := copyFinite(c.xa, c.x0)
		c.fast = p.linfFast() && finite
		if p.RandomStart {
			c.random = true
			pool.run(c, hi-lo)
			c.random = false
		}
		for step := 0; step < p.Steps; step++ {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("attack: %w", err)
			}
			if err := g.Compute(ctx, c.xa, y[lo:hi], c.grad, nil, nil); err != nil {
				return nil, fmt.Errorf("attack: %w", err)
			}
			pool.run(c, hi-lo)
		}
	}
	return adv, nil
}

// parallelMin is the least number of values worth handing to another
// goroutine: below it, starting the work costs more than it saves.
const parallelMin = 1 << 15

// pgdChunk is one batch of an attack: its samples x0, their adversarial
// points xa and gradients grad (in values a sample), the index of its
// first sample, whether the fast l∞ step applies, and whether the next
// pass draws the random start instead of stepping.
type pgdChunk struct {
	p            PGD
	in, first    int
	x0, xa, grad []float32
	fast, random bool
}

// rows does the chunk's pass on its samples [a, b).
func (c *pgdChunk) rows(a, b int) {
	in := c.in
	xa, x0, gr := c.xa[a*in:b*in], c.x0[a*in:b*in], c.grad[a*in:b*in]
	switch {
	case c.random:
		for i := a; i < b; i++ {
			c.p.randomStart(xa[(i-a)*in:(i-a+1)*in], x0[(i-a)*in:(i-a+1)*in], c.first+i)
		}
	case c.p.Norm == Linf:
		// Element-wise: the rows need no separate passes.
		if c.fast {
			c.p.linfStep(xa, x0, gr)
		} else {
			c.p.linfStepRef(xa, x0, gr)
		}
	default:
		for i := 0; i < b-a; i++ {
			c.p.step(xa[i*in:(i+1)*in], x0[i*in:(i+1)*in], gr[i*in:(i+1)*in])
		}
	}
}

// rowJob is the samples [a, b) of a chunk, handed to a pool goroutine.
type rowJob struct {
	c    *pgdChunk
	a, b int
}

// rowPool is the goroutines that share an attack's passes over a batch
// with the calling goroutine; they live as long as the attack, so that a
// step starts none and allocates nothing. A nil pool does every pass on
// the caller.
type rowPool struct {
	workers int // besides the caller
	jobs    chan rowJob
	done    chan struct{}
}

// startRowPool starts workers goroutines (none, and a nil pool, for
// workers < 1).
func startRowPool(workers int) *rowPool {
	if workers < 1 {
		return nil
	}
	rp := &rowPool{workers: workers, jobs: make(chan rowJob, workers), done: make(chan struct{}, workers)}
	for range workers {
		go func() {
			for j := range rp.jobs {
				j.c.rows(j.a, j.b)
				rp.done <- struct{}{}
			}
		}()
	}
	return rp
}

// run does c's pass on its first rows samples, split into contiguous
// ranges of rows over the pool and the caller, and waits for it.
func (rp *rowPool) run(c *pgdChunk, rows int) {
	parts := 1
	if rp != nil {
		parts = min(rp.workers+1, rows, rows*c.in/parallelMin)
	}
	if parts <= 1 {
		c.rows(0, rows)
		return
	}
	per := (rows + parts - 1) / parts
	sent := 0
	for a := per; a < rows; a += per {
		rp.jobs <- rowJob{c: c, a: a, b: min(a+per, rows)}
		sent++
	}
	c.rows(0, per)
	for ; sent > 0; sent-- {
		<-rp.done
	}
}

// stop ends the pool's goroutines.
func (rp *rowPool) stop() {
	if rp != nil {
		close(rp.jobs)
	}
}

// step moves one sample xa along its gradient gr, projects it onto the
// ball around x0 and clamps it.
func (p PGD) step(xa, x0, gr []float32) {
	switch p.Norm {
	case Linf:
		if p.linfFast() && allFinite(x0) && allFinite(xa) {
			p.linfStep(xa, x0, gr)
		} else {
			p.linfStepRef(xa, x0, gr)
		}
	case L2:
		gn := norm2(gr)
		if gn > 0 {
			s := p.Step / gn
			for j := range xa {
				xa[j] += s * gr[j]
			}
		}
		p.projectL2(xa, x0)
	}
}

// linfStepRef is the l∞ step on every value of xa: xa + Step·sign(gr)
// (a zero or NaN gradient moves nothing), projected onto [x0 − Eps,
// x0 + Eps] and clamped into the box, with Go's min and max (a NaN stays
// a NaN). It is the definition linfStep computes faster.
func (p PGD) linfStepRef(xa, x0, gr []float32) {
	// Branch-free: the gradient's signs are as good as random, and
	// a branch on them mispredicted so often that this loop took
	// 40% of an MLP attack's time. ±Step takes the gradient's sign
	// bit; a zero (or NaN) gradient, which is rare, moves nothing.
	stepBits := math.Float32bits(p.Step)
	eps, lo, hi := p.Eps, p.Box.Lo, p.Box.Hi
	x0, gr = x0[:len(xa)], gr[:len(xa)]
	for j, v := range xa {
		g, o := gr[j], x0[j]
		delta := math.Float32frombits(stepBits | math.Float32bits(g)&(1<<31))
		if !(g != 0) || g != g {
			delta = 0
		}
		d := min(max(v+delta-o, -eps), eps)
		xa[j] = min(max(o+d, lo), hi)
	}
}

// linfFast reports whether linfStep may replace linfStepRef (given finite
// values): Eps must not be −0, which linfStep would take for +0.
func (p PGD) linfFast() bool { return math.Float32bits(p.Eps)>>31 == 0 }

// The bits of a float32.
const (
	signBit = 1 << 31
	absBits = 1<<31 - 1
	infBits = 0x7f800000
)

// linfStep is linfStepRef, bit for bit, for finite xa and x0 and an Eps
// whose sign bit is clear, in about half the time: Go's float min and max
// (two MINSS each, and fixes for NaNs and signed zeros) become integer
// comparisons of the values' bits, which compile to conditional moves.
// For |x| the bits order as the values do, so clamping x into [−Eps, Eps]
// clamps its magnitude's bits to Eps's and keeps its sign; for a box with
// Lo ≥ +0 the bits of a value, read as an int32, order as the values do
// (−0 and negative values below every non-negative one, +0 below every
// positive one, as max(−0, +0) = +0), else their sortable keys do (see
// floatKey). The values stay finite (every step ends in the box), and
// x = xa + delta − x0 can only overflow to ±Inf, which clamps as in
// linfStepRef; no NaN arises.
//
// It runs backwards: the gradient it reads was just copied forwards (by
// backend.InputGradient.Compute), so its end is still in the processor's
// cache, and the next gradient starts by copying xa forwards, from the
// values written last. On 1000 Fashion-MNIST rows (three arrays of 3 MB
// against a 2 MB L2 cache) this alone took a step from 2.3 to 1.6 ms, and
// the whole step took 2.7 ms before (linfStepRef).
func (p PGD) linfStep(xa, x0, gr []float32) {
	stepBits, epsBits := math.Float32bits(p.Step), math.Float32bits(p.Eps)
	lo, hi := math.Float32bits(p.Box.Lo), math.Float32bits(p.Box.Hi)
	gb := unsafe.Slice((*uint32)(unsafe.Pointer(unsafe.SliceData(gr))), len(gr))
	x0, gb = x0[:len(xa)], gb[:len(xa)]
	if lo>>31 == 0 {
		loK, hiK := int32(lo), int32(hi)
		for j := len(xa) - 1; j >= 0; j-- {
			v, g := xa[j], gb[j]
			db := stepBits | g&signBit
			if (g&absBits)-1 >= infBits { // ±0 or NaN
				db = 0
			}
			o := x0[j]
			xb := math.Float32bits(v + math.Float32frombits(db) - o)
			s := xb & signBit
			d := math.Float32frombits(s | min(xb^s, epsBits))
			xa[j] = math.Float32frombits(uint32(min(max(int32(math.Float32bits(o+d)), loK), hiK)))
		}
		return
	}
	loK, hiK := floatKey(lo), floatKey(hi)
	for j := len(xa) - 1; j >= 0; j-- {
		v, g := xa[j], gb[j]
		db := stepBits | g&signBit
		if (g&absBits)-1 >= infBits {
			db = 0
		}
		o := x0[j]
		xb := math.Float32bits(v + math.Float32frombits(db) - o)
		s := xb & signBit
		d := math.Float32frombits(s | min(xb^s, epsBits))
		xa[j] = math.Float32frombits(keyFloat(min(max(floatKey(math.Float32bits(o+d)), loK), hiK)))
	}
}

// floatKey maps the bits b of a float32 that is not a NaN to an int32
// that orders as the values do, with −0 below +0: negative values have
// their magnitude bits flipped. keyFloat is its inverse.
func floatKey(b uint32) int32 { return int32(b ^ uint32(int32(b)>>31)>>1) }

func keyFloat(k int32) uint32 { return uint32(k) ^ uint32(k>>31)>>1 }

// allFinite reports whether no value of v is an Inf or a NaN.
func allFinite(v []float32) bool {
	var acc uint32
	for _, x := range v {
		// The sum has its sign bit set exactly when the exponent is
		// all ones.
		acc |= math.Float32bits(x)&absBits + 1<<23
	}
	return acc>>31 == 0
}

// copyFinite copies src into dst (of the same length) and reports whether
// no value is an Inf or a NaN, in one pass. It runs backwards, so that the
// start of dst, which Compute copies first, is still in the cache.
func copyFinite(dst, src []float32) bool {
	var acc uint32
	src = src[:len(dst)]
	for j := len(dst) - 1; j >= 0; j-- {
		v := src[j]
		dst[j] = v
		acc |= math.Float32bits(v)&absBits + 1<<23
	}
	return acc>>31 == 0
}

// projectL2 scales the perturbation xa − x0 into the l2 ball of radius Eps,
// then clamps xa into the box (which can only shorten it).
func (p PGD) projectL2(xa, x0 []float32) {
	var s float64
	for j, v := range xa {
		d := float64(v - x0[j])
		s += d * d
	}
	scale := float32(1)
	if r := math.Sqrt(s); r > float64(p.Eps) {
		scale = float32(float64(p.Eps) / r)
	}
	for j, v := range xa {
		xa[j] = p.Box.clamp(x0[j] + (v-x0[j])*scale)
	}
}

// randomStart sets xa to a uniform point of the ball around x0, drawn from
// the seed and the sample's index i, clamped into the box.
func (p PGD) randomStart(xa, x0 []float32, i int) {
	rng := rand.New(rand.NewPCG(p.Seed, uint64(i)))
	switch p.Norm {
	case Linf:
		for j := range xa {
			xa[j] = p.Box.clamp(x0[j] + p.Eps*float32(2*rng.Float64()-1))
		}
	case L2:
		var s float64
		for j := range xa {
			v := rng.NormFloat64()
			xa[j] = float32(v)
			s += v * v
		}
		r := float64(p.Eps) * math.Pow(rng.Float64(), 1/float64(len(xa)))
		k := float32(r / math.Sqrt(s))
		for j := range xa {
			xa[j] = p.Box.clamp(x0[j] + k*xa[j])
		}
	}
}

func norm2(v []float32) float32 {
	var s float64
	for _, x := range v {
		s += float64(x) * float64(x)
	}
	return float32(math.Sqrt(s))
}
