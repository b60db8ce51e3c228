package attack

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// tinyNet is a Classifier computed by hand in float64: logits =
// W2·tanh(W1·x + b1) + b2, or logits = W2·x + b2 when w1 is nil. Rows do
// not interact, so results must not depend on the batch size.
type tinyNet struct {
	in, hidden, classes, rows int
	w1, b1, w2, b2            []float64
	// watch, if set, sees the inputs of every gradient evaluation.
	watch func(x []float32, y []int32)
	// gradients and forwards count the calls.
	gradients, forwards int
}

// newTinyNet returns a random tanh network (hidden > 0) or linear model
// (hidden == 0).
func newTinyNet(seed uint64, in, hidden, classes, rows int) *tinyNet {
	rng := rand.New(rand.NewPCG(seed, 99))
	randn := func(n int, s float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = s * rng.NormFloat64()
		}
		return v
	}
	t := &tinyNet{in: in, hidden: hidden, classes: classes, rows: rows}
	width := in
	if hidden > 0 {
		t.w1, t.b1 = randn(hidden*in, 2/math.Sqrt(float64(in))), randn(hidden, 0.5)
		width = hidden
	}
	t.w2, t.b2 = randn(classes*width, 2/math.Sqrt(float64(width))), randn(classes, 0.5)
	return t
}

// linearNet returns the two-class linear model with logits (0, w·x + b):
// a sample of label 0 is misclassified where w·x + b > 0.
func linearNet(w []float64, b float64, rows int) *tinyNet {
	t := &tinyNet{in: len(w), classes: 2, rows: rows, w2: make([]float64, 2*len(w)), b2: []float64{0, b}}
	copy(t.w2[len(w):], w)
	return t
}

func (t *tinyNet) Rows() int    { return t.rows }
func (t *tinyNet) Inputs() int  { return t.in }
func (t *tinyNet) Classes() int { return t.classes }

// forward returns the hidden activations (nil for a linear model) and
// writes the logits of one sample.
func (t *tinyNet) forward(x []float32, logits []float32) []float64 {
	act := make([]float64, len(x))
	for j, v := range x {
		act[j] = float64(v)
	}
	var h []float64
	if t.w1 != nil {
		h = make([]float64, t.hidden)
		for r := range h {
			s := t.b1[r]
			for j, v := range act {
				s += t.w1[r*t.in+j] * v
			}
			h[r] = math.Tanh(s)
		}
		act = h
	}
	for c := range logits {
		s := t.b2[c]
		for j, v := range act {
			s += t.w2[c*len(act)+j] * v
		}
		logits[c] = float32(s)
	}
	return h
}

func (t *tinyNet) Logits(ctx context.Context, x []float32, logits []float32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n := len(x) / t.in
	if n > t.rows || len(x) != n*t.in || len(logits) != n*t.classes {
		return fmt.Errorf("tinyNet: %d inputs and %d logits for batches of %d", len(x), len(logits), t.rows)
	}
	t.forwards++
	for i := range n {
		t.forward(x[i*t.in:(i+1)*t.in], logits[i*t.classes:(i+1)*t.classes])
	}
	return nil
}

func (t *tinyNet) Compute(ctx context.Context, x []float32, y []int32, grad, logits, loss []float32) error {
	return t.ComputeObjective(ctx, nil, x, y, grad, logits, loss)
}

func (t *tinyNet) ComputeObjective(ctx context.Context, obj backend.Objective, x []float32, y []int32, grad, logits, loss []float32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	n := len(y)
	if n > t.rows || len(x) != n*t.in || len(grad) != n*t.in {
		return fmt.Errorf("tinyNet: %d inputs for %d samples, batches of %d", len(x), n, t.rows)
	}
	if t.watch != nil {
		t.watch(x, y)
	}
	t.gradients++
	z, dz := make([]float32, t.classes), make([]float32, t.classes)
	for i := range n {
		xi := x[i*t.in : (i+1)*t.in]
		h := t.forward(xi, z)
		var l float64
		if obj == nil {
			l = crossEntropy(z, int(y[i]), dz)
		} else {
			l = obj.Row(z, int(y[i]), dz)
		}
		if loss != nil {
			loss[i] = float32(l)
		}
		if logits != nil {
			copy(logits[i*t.classes:], z)
		}
		width := t.in
		if h != nil {
			width = t.hidden
		}
		d := make([]float64, width)
		for c, g := range dz {
			for j := range d {
				d[j] += float64(g) * t.w2[c*width+j]
			}
		}
		gi := grad[i*t.in : (i+1)*t.in]
		if h == nil {
			for j := range gi {
				gi[j] = float32(d[j])
			}
			continue
		}
		clear(gi)
		for r, hr := range h {
			dr := d[r] * (1 - hr*hr)
			for j := range gi {
				gi[j] += float32(dr * t.w1[r*t.in+j])
			}
		}
	}
	return nil
}

// crossEntropy is the softmax cross-entropy of logits z against label k,
// with its gradient softmax(z) − e_k.
func crossEntropy(z []float32, k int, grad []float32) float64 {
	mx := float64(slices.Max(z))
	var s float64
	for _, v := range z {
		s += math.Exp(float64(v) - mx)
	}
	for i, v := range z {
		grad[i] = float32(math.Exp(float64(v)-mx) / s)
	}
	grad[k]--
	return math.Log(s) + mx - float64(z[k])
}

// margin is c(z) = max_i z_i − z_k (or of softmax(z)) in float64.
func margin(z []float64, k int, softmax bool) float64 {
	if softmax {
		mx := slices.Max(z)
		p := make([]float64, len(z))
		var s float64
		for i, v := range z {
			p[i] = math.Exp(v - mx)
			s += p[i]
		}
		for i := range p {
			p[i] /= s
		}
		z = p
	}
	return slices.Max(z) - z[k]
}

func TestBarrierRow(t *testing.T) {
	inf := math.Inf(1)
	nan := float32(math.NaN())
	for _, tc := range []struct {
		name     string
		z        []float32
		k        int
		softmax  bool
		want     float64
		wantGrad []float32
	}{
		{"misclassified", []float32{1, 3, 2.5}, 0, false, -math.Log(2), []float32{0.5, -0.5, 0}},
		{"close to the boundary", []float32{2, 2.25, 0}, 0, false, -math.Log(0.25), []float32{4, -4, 0}},
		{"correct", []float32{3, 1, 2.5}, 0, false, inf, []float32{0, 0, 0}},
		{"tie with the label", []float32{3, 3, 1}, 1, false, inf, []float32{0, 0, 0}},
		{"NaN logit", []float32{nan, 1, 0}, 2, false, inf, []float32{0, 0, 0}},
		// softmax([0, ln 3]) = (1/4, 3/4): c = 1/2, ∂B/∂z = p − (e_1 p_1 − e_0 p_0)/c.
		{"softmax", []float32{0, float32(math.Log(3))}, 0, true, math.Log(2), []float32{0.75, -0.75}},
		{"softmax, correct", []float32{2, 0}, 0, true, inf, []float32{0, 0}},
	} {
		grad := []float32{7, 7, 7}[:len(tc.z)]
		got := Barrier{Softmax: tc.softmax}.Row(tc.z, tc.k, grad)
		if math.Abs(got-tc.want) > 1e-6 && got != tc.want {
			t.Errorf("%s: B = %v, want %v", tc.name, got, tc.want)
		}
		approx(t, tc.name+": gradient", grad, tc.wantGrad)
	}
}

// TestBarrierGradient checks Barrier.Row against central differences of
// −log c in float64, on random misclassified logits.
func TestBarrierGradient(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for _, softmax := range []bool{false, true} {
		for trial := range 50 {
			const classes = 5
			z := make([]float32, classes)
			for i := range z {
				z[i] = float32(3 * rng.NormFloat64())
			}
			k := rng.IntN(classes)
			j := slices.Index(z, slices.Max(z))
			if j == k {
				k = (k + 1) % classes
			}
			grad := make([]float32, classes)
			b := Barrier{Softmax: softmax}.Row(z, k, grad)
			z64 := make([]float64, classes)
			for i, v := range z {
				z64[i] = float64(v)
			}
			if want := -math.Log(margin(z64, k, softmax)); math.Abs(b-want) > 1e-9*math.Max(1, math.Abs(want)) {
				t.Errorf("softmax %v, trial %d: B = %v, want %v", softmax, trial, b, want)
			}
			const h = 1e-6
			for m := range z64 {
				zp, zm := slices.Clone(z64), slices.Clone(z64)
				zp[m] += h
				zm[m] -= h
				fd := (math.Log(margin(zm, k, softmax)) - math.Log(margin(zp, k, softmax))) / (2 * h)
				if math.Abs(fd-float64(grad[m])) > 1e-4*math.Max(1, math.Abs(fd)) {
					t.Errorf("softmax %v, trial %d: ∂B/∂z_%d = %v, finite difference %v", softmax, trial, m, grad[m], fd)
				}
			}
		}
	}
}

// TestBarrierThroughBackend differentiates the barrier through a model
// with backend.InputGradient and compares with central differences of
// −log c computed from the model's logits.
func TestBarrierThroughBackend(t *testing.T) {
	ctx := context.Background()
	ig := smallMLP(t, 6, 8, 4, backend.Tanh, 7, 3)
	rng := rand.New(rand.NewPCG(5, 5))
	const n = 3
	x := make([]float32, n*6)
	for i := range x {
		x[i] = 0.2 + 0.6*rng.Float32()
	}
	logits := make([]float32, n*4)
	if err := ig.Logits(ctx, x, logits); err != nil {
		t.Fatal(err)
	}
	// Label each sample with its least likely class: misclassified.
	y := make([]int32, n)
	for i := range y {
		row := logits[i*4 : (i+1)*4]
		y[i] = int32(slices.Index(row, slices.Min(row)))
	}
	for _, softmax := range []bool{false, true} {
		obj := Barrier{Softmax: softmax}
		grad, loss := make([]float32, n*6), make([]float32, n)
		if err := ig.ComputeObjective(ctx, obj, x, y, grad, nil, loss); err != nil {
			t.Fatal(err)
		}
		barrierAt := func(v []float32, i int) float64 {
			z := make([]float32, 4)
			if err := ig.Logits(ctx, v[i*6:(i+1)*6], z); err != nil {
				t.Fatal(err)
			}
			z64 := make([]float64, 4)
			for q, v := range z {
				z64[q] = float64(v)
			}
			return -math.Log(margin(z64, int(y[i]), softmax))
		}
		for i := range n {
			if want := barrierAt(x, i); math.Abs(float64(loss[i])-want) > 1e-4*math.Max(1, math.Abs(want)) {
				t.Errorf("softmax %v, sample %d: loss %v, want %v", softmax, i, loss[i], want)
			}
			const h = 1e-2
			for j := range 6 {
				xp, xm := slices.Clone(x), slices.Clone(x)
				xp[i*6+j] += h
				xm[i*6+j] -= h
				fd := (barrierAt(xp, i) - barrierAt(xm, i)) / (2 * h)
				if g := float64(grad[i*6+j]); math.Abs(g-fd) > 2e-2*math.Max(1, math.Abs(fd)) {
					t.Errorf("softmax %v, sample %d, input %d: gradient %v, finite difference %v", softmax, i, j, g, fd)
				}
			}
		}
	}
}

// TestProxLogBarrierT6 is test vector T6 of the spec: one inner iteration
// of the l2 attack on identity logits (K = 2) from x = (0.4, 0.6), x0 =
// (1, 0), y = 0: the gradient step gives u = (0.35, 0.65), whose prox is
// x0 itself (‖u − x0‖ = 0.919 < T = 1), correctly classified, so one
// back-tracking step gives 0.05·x0 + 0.95·x = (0.43, 0.57).
func TestProxLogBarrierT6(t *testing.T) {
	ctx := context.Background()
	id := &tinyNet{in: 2, classes: 2, rows: 1, w2: []float64{1, 0, 0, 1}, b2: []float64{0, 0}}
	a := NewProxLogBarrier(L2)
	a.MaxOuter, a.MaxInner = 1, 1
	for _, tc := range []struct {
		norm    Norm
		want    []float32
		wantL2  float64
		explain string
	}{
		{L2, []float32{0.43, 0.57}, 0.57 * math.Sqrt2, "prox to x0, one back-tracking step"},
		// l∞ prox with T = 1: ‖s‖₁ = 1.3 > 1, magnitudes clipped at 0.15:
		// x = (0.85, 0.15), correct; one back-tracking step keeps 0.05 of
		// the move from (0.4, 0.6): (0.4225, 0.5775).
		{Linf, []float32{0.4225, 0.5775}, 0.5775 * math.Sqrt2, "prox (0.85, 0.15) correct, one back-tracking step"},
	} {
		a.Norm = tc.norm
		r, err := a.RunFrom(ctx, id, []float32{1, 0}, []int32{0}, []float32{0.4, 0.6})
		if err != nil {
			t.Fatal(err)
		}
		if !r.Success[0] || r.Clean[0] {
			t.Fatalf("%s: success %v, clean %v", tc.norm, r.Success[0], r.Clean[0])
		}
		approx(t, string(tc.norm)+": "+tc.explain, r.Adv, tc.want)
		if math.Abs(r.All[0][2]-tc.wantL2) > 1e-6 {
			t.Errorf("%s: l2 distance %v, want %v", tc.norm, r.All[0][2], tc.wantL2)
		}
		if d := Distance(tc.norm, []float32{1, 0}, r.Adv); r.Dist[0] != d {
			t.Errorf("%s: distance %v, want %v", tc.norm, r.Dist[0], d)
		}
	}
}

// TestBacktrackingInvariant is T7: every iterate of the barrier attacks,
// seen by each gradient evaluation, is misclassified, on a random tanh
// network, in every norm.
func TestBacktrackingInvariant(t *testing.T) {
	ctx := context.Background()
	const n, in = 6, 5
	x, y := randomSamples(11, n, in)
	attacks := map[string]func(*tinyNet) (*Result, error){}
	for _, norm := range []Norm{L0, L1, L2, Linf} {
		a := NewProxLogBarrier(norm)
		a.MaxOuter, a.MaxInner = 6, 6
		attacks["proxlogbarrier "+string(norm)] = func(c *tinyNet) (*Result, error) { return a.Run(ctx, c, x, y) }
	}
	for _, norm := range []Norm{L2, Linf} {
		a := NewLogBarrier(norm)
		a.MaxOuter, a.MaxInner = 4, 25
		attacks["logbarrier "+string(norm)] = func(c *tinyNet) (*Result, error) { return a.Run(ctx, c, x, y) }
	}
	for name, run := range attacks {
		c := newTinyNet(2, in, 7, 3, 4)
		checked, bad := 0, 0
		c.watch = func(v []float32, lab []int32) {
			z := make([]float32, c.classes)
			for i := range lab {
				c.forward(v[i*in:(i+1)*in], z)
				checked++
				if !wrong(z, int(lab[i])) {
					bad++
				}
			}
		}
		r, err := run(c)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(r.Success, false) {
			t.Fatalf("%s: successes %v; the invariant needs every start to succeed", name, r.Success)
		}
		if checked == 0 || bad > 0 {
			t.Errorf("%s: %d of %d iterates correctly classified", name, bad, checked)
		}
		mis, err := Misclassified(ctx, c, r.Adv, y)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(mis, false) {
			t.Errorf("%s: reported adversarial points %v are not all misclassified", name, mis)
		}
	}
}

// randomSamples returns n samples of in values uniform in [0.1, 0.9] and
// labels 0, 1, 2, 0, ….
func randomSamples(seed uint64, n, in int) ([]float32, []int32) {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n*in)
	for i := range x {
		x[i] = 0.1 + 0.8*rng.Float32()
	}
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(i % 3)
	}
	return x, y
}

// TestBarrierOnLinearModel compares the barrier attacks with the exact
// minimal perturbation of a two-class linear model, m/‖w‖_q for the
// margin m = −(w·x0 + b) and q the dual norm, far from the box bounds:
// every reported distance is at least the minimum and close to it. The
// barrier keeps the iterates off the boundary: LogBarrier's fixed point
// x − x0 = α∇c/c lies about α_final/d beyond it (α_final = 0.1·0.75¹⁴),
// so its cases use margins with distances of about 0.3.
func TestBarrierOnLinearModel(t *testing.T) {
	ctx := context.Background()
	w := []float64{0.8, -0.5, 0.3, 1.2, -0.9, 0.1, 0.6, -0.2}
	x0 := make([]float32, len(w))
	for j := range x0 {
		x0[j] = 0.5
	}
	var wx, l1, l2, linf float64
	for j, v := range w {
		wx += v * float64(x0[j])
		l1 += math.Abs(v)
		l2 += v * v
		linf = math.Max(linf, math.Abs(v))
	}
	l2 = math.Sqrt(l2)
	dual := map[Norm]float64{L1: linf, L2: l2, Linf: l1}
	for _, tc := range []struct {
		attack string
		norm   Norm
		margin float64
		tol    float64
	}{
		{"proxlogbarrier", L2, 0.15, 1e-3},
		{"proxlogbarrier", L2, 0.6, 1e-3},
		{"proxlogbarrier", Linf, 0.15, 1e-3},
		{"proxlogbarrier", Linf, 1.5, 1e-3},
		{"proxlogbarrier", L1, 0.15, 1e-3},
		{"logbarrier", L2, 0.6, 0.03},
		{"logbarrier", Linf, 1.5, 0.015},
	} {
		c := linearNet(w, -tc.margin-wx, 4)
		var r *Result
		var err error
		if tc.attack == "proxlogbarrier" {
			r, err = NewProxLogBarrier(tc.norm).Run(ctx, c, x0, []int32{0})
		} else {
			r, err = NewLogBarrier(tc.norm).Run(ctx, c, x0, []int32{0})
		}
		if err != nil {
			t.Fatal(err)
		}
		want := tc.margin / dual[tc.norm]
		if !r.Success[0] {
			t.Errorf("%s %s, margin %v: failed", tc.attack, tc.norm, tc.margin)
			continue
		}
		if d := r.Dist[0]; d < want*(1-1e-5) || d > want*(1+tc.tol) {
			t.Errorf("%s %s, margin %v: distance %v, minimum %v (tolerance %v)", tc.attack, tc.norm, tc.margin, d, want, tc.tol)
		}
	}
}

// TestBarrierBatching checks that the barrier attacks give the same
// result in batches of 2 as in one batch, and that the seed matters.
func TestBarrierBatching(t *testing.T) {
	ctx := context.Background()
	const n, in = 7, 5
	x, y := randomSamples(12, n, in)
	type runner func(c Classifier, seed uint64) (*Result, error)
	p := NewProxLogBarrier(L2)
	p.MaxOuter, p.MaxInner = 5, 5
	l := NewLogBarrier(Linf)
	l.MaxOuter, l.MaxInner = 3, 20
	for name, run := range map[string]runner{
		"proxlogbarrier": func(c Classifier, seed uint64) (*Result, error) { p.Seed = seed; return p.Run(ctx, c, x, y) },
		"logbarrier":     func(c Classifier, seed uint64) (*Result, error) { l.Seed = seed; return l.Run(ctx, c, x, y) },
	} {
		small, big := newTinyNet(3, in, 6, 3, 2), newTinyNet(3, in, 6, 3, 16)
		a, err := run(small, 1)
		if err != nil {
			t.Fatal(err)
		}
		b, err := run(big, 1)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(a.Dist, b.Dist) || !slices.Equal(a.Success, b.Success) || !equalNaN(a.Adv, b.Adv) {
			t.Errorf("%s: batches of 2 gave %v, one batch %v", name, a.Dist, b.Dist)
		}
		c, err := run(big, 2)
		if err != nil {
			t.Fatal(err)
		}
		if equalNaN(c.Adv, b.Adv) {
			t.Errorf("%s: seeds 1 and 2 gave the same attack", name)
		}
	}
}

func equalNaN(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(u, v float32) bool { return u == v || (u != u && v != v) })
}

// TestBarrierCleanAndFailed checks the samples that are not attacked: a
// misclassified sample is a success at distance 0, and a sample no input
// can misclassify is a failure with a NaN row and infinite distances.
func TestBarrierCleanAndFailed(t *testing.T) {
	ctx := context.Background()
	// Logits (0, x_0 − x_1 + 0.25·x_2 − 1) on inputs in [0, 1]: the
	// maximum of the second logit is 0.25, so label 1 is always right
	// where it wins, and label 0 is wrong only where x_0 − x_1 + … > 1.
	c := linearNet([]float64{1, -1, 0.25}, -1, 3)
	// Sample 0: label 1, logit 1 is −0.5 < 0: misclassified already.
	// Sample 1: label 0 at (0.2, 0.8, 0.5): correct, but the second
	// logit can reach 0.25 > 0, so it can be broken.
	// Sample 2: label 1 at (1, 0, 1): logit 1 = 0.25 > 0, correct; it
	// is broken where x_0 − x_1 + 0.25·x_2 < 1, e.g. near x.
	// The model "never" never misclassifies label 0 (its second
	// logit is at most −7) and always misclassifies label 1.
	x := []float32{0.5, 0.5, 0.5, 0.2, 0.8, 0.5, 1, 0, 1}
	y := []int32{1, 0, 1}
	never := linearNet([]float64{1, 1, 1}, -10, 3)
	for _, tc := range []struct {
		name   string
		c      Classifier
		clean  []bool
		broken []bool
	}{
		{"breakable", c, []bool{true, false, false}, []bool{true, true, true}},
		{"unbreakable", never, []bool{false, true, false}, []bool{false, true, false}},
	} {
		yy := y
		if tc.c == never {
			yy = []int32{0, 1, 0} // label 1 is always wrong: clean
		}
		for name, run := range map[string]func() (*Result, error){
			"proxlogbarrier": func() (*Result, error) {
				a := NewProxLogBarrier(L2)
				a.MaxOuter, a.MaxInner = 3, 3
				return a.Run(ctx, tc.c, x, yy)
			},
			"logbarrier": func() (*Result, error) {
				a := NewLogBarrier(L2)
				a.MaxOuter, a.MaxInner = 2, 10
				return a.Run(ctx, tc.c, x, yy)
			},
		} {
			r, err := run()
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.Clean, tc.clean) || !slices.Equal(r.Success, tc.broken) {
				t.Errorf("%s, %s: clean %v success %v, want %v and %v", tc.name, name, r.Clean, r.Success, tc.clean, tc.broken)
			}
			for i := range yy {
				row := r.Adv[i*3 : (i+1)*3]
				switch {
				case tc.clean[i]:
					if r.Dist[i] != 0 || !slices.Equal(row, x[i*3:(i+1)*3]) {
						t.Errorf("%s, %s: clean sample %d at distance %v, %v", tc.name, name, i, r.Dist[i], row)
					}
				case !tc.broken[i]:
					if !math.IsInf(r.Dist[i], 1) || !math.IsNaN(float64(row[0])) || r.All[i] != infDistances {
						t.Errorf("%s, %s: failed sample %d at distance %v, %v", tc.name, name, i, r.All[i], row)
					}
				default:
					if !(r.Dist[i] > 0) || math.IsInf(r.Dist[i], 0) {
						t.Errorf("%s, %s: sample %d at distance %v", tc.name, name, i, r.Dist[i])
					}
				}
			}
		}
	}
}

// TestRecordVerifies checks that a candidate point is a success only if
// the classifier misclassifies it and it lies in the box.
func TestRecordVerifies(t *testing.T) {
	ctx := context.Background()
	c := linearNet([]float64{1, 1}, -1, 8) // label 0 wrong where x_0 + x_1 > 1
	x0 := []float32{0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2}
	adv := []float32{
		0.6, 0.6, // misclassified, in the box: success
		0.3, 0.3, // correctly classified: failure
		1.5, 0.2, // misclassified but outside the box: failure
		0.9, 0.9, // misclassified, but not flagged by the attack: failure
	}
	ok := []bool{true, true, true, false}
	r := newResult(L2, 4, 2)
	if err := r.record(ctx, c, unit, 0, x0, adv, []int32{0, 0, 0, 0}, ok, make([]bool, 4)); err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false, false, false}; !slices.Equal(r.Success, want) {
		t.Errorf("successes %v, want %v", r.Success, want)
	}
	if want := 0.4 * math.Sqrt2; math.Abs(r.Dist[0]-want) > 1e-6 || !math.IsInf(r.Dist[1], 1) {
		t.Errorf("distances %v, want %v first and +Inf after", r.Dist, want)
	}
}

func TestDistanceAndSummary(t *testing.T) {
	a := []float32{0, 0.5, 1, 0.25}
	b := []float32{0.5, 0.5, 0.25, 0}
	for _, tc := range []struct {
		norm Norm
		want float64
	}{
		{L0, 3},
		{L1, 1.5},
		{L2, math.Sqrt(0.25 + 0.5625 + 0.0625)},
		{Linf, 0.75},
	} {
		if got := Distance(tc.norm, a, b); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: %v, want %v", tc.norm, got, tc.want)
		}
		if got := Measure(a, b).In(tc.norm); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("Measure, %s: %v, want %v", tc.norm, got, tc.want)
		}
	}

	r := newResult(L2, 4, 1)
	for i, d := range []float64{0.5, 0, 2} { // sample 3 fails
		r.Success[i] = true
		r.All[i] = Distances{d * 2, d, d, d}
	}
	s := Summarize(r)
	// Over all four (+Inf last): median of {0, 0.5, 2, +Inf} = 1.25.
	if s.N != 4 || s.Successes != 3 || s.Rate != 0.75 || s.Median[2] != 1.25 || s.Median[0] != 2.5 {
		t.Errorf("summary %+v: want 3 of 4, median l2 1.25, l0 2.5", s)
	}
	if s.SuccessMedian[2] != 0.5 || math.Abs(s.SuccessMean[1]-2.5/3) > 1e-12 {
		t.Errorf("over successes: median %v, mean %v, want 0.5 and %v", s.SuccessMedian[2], s.SuccessMean[1], 2.5/3)
	}
	r.Success[0], r.Success[1] = false, false
	if s := Summarize(r); !math.IsInf(s.Median[3], 1) {
		t.Errorf("half the samples failed: median %v, want +Inf", s.Median[3])
	}
	if s := Summarize(newResult(L2, 2, 1)); !math.IsNaN(s.SuccessMean[2]) || s.Rate != 0 {
		t.Errorf("no success: %+v", s)
	}
}

func TestMisclassified(t *testing.T) {
	ctx := context.Background()
	c := linearNet([]float64{1, -1}, 0, 2) // label 0 wrong where x_0 > x_1
	x := []float32{0.6, 0.4, 0.4, 0.6, 0.5, 0.5, 0.9, 0.1, 0.1, 0.9}
	got, err := Misclassified(ctx, c, x, []int32{0, 0, 0, 1, 1})
	if err != nil {
		t.Fatal(err)
	}
	// A tie (sample 2) is not misclassified.
	if want := []bool{true, false, false, false, true}; !slices.Equal(got, want) {
		t.Errorf("misclassified %v, want %v", got, want)
	}
	if c.forwards != 3 {
		t.Errorf("%d forward calls for 5 samples in batches of 2, want 3", c.forwards)
	}
}

// TestMinimalErrors checks the settings and inputs the attacks reject.
func TestMinimalErrors(t *testing.T) {
	ctx := context.Background()
	c := linearNet([]float64{1, -1}, 0, 2)
	x, y := []float32{0.3, 0.6}, []int32{0}
	run := map[string]func(context.Context, []float32, []int32, func(*ProxLogBarrier, *LogBarrier, *Bisect, *GreedyL0)) error{}
	for _, name := range []string{"proxlogbarrier", "logbarrier", "bisect", "greedy"} {
		run[name] = func(ctx context.Context, x []float32, y []int32, edit func(*ProxLogBarrier, *LogBarrier, *Bisect, *GreedyL0)) error {
			p, l, b, g := NewProxLogBarrier(L2), NewLogBarrier(L2), NewBisect(L2), NewGreedyL0()
			p.MaxOuter, p.MaxInner, l.MaxOuter, l.MaxInner = 1, 1, 1, 1
			if edit != nil {
				edit(&p, &l, &b, &g)
			}
			var err error
			switch name {
			case "proxlogbarrier":
				_, err = p.Run(ctx, c, x, y)
			case "logbarrier":
				_, err = l.Run(ctx, c, x, y)
			case "bisect":
				_, err = b.Run(ctx, c, x, y)
			case "greedy":
				_, err = g.Run(ctx, c, x, y)
			}
			return err
		}
	}
	for _, tc := range []struct {
		attack string
		edit   func(*ProxLogBarrier, *LogBarrier, *Bisect, *GreedyL0)
		want   string
	}{
		{"proxlogbarrier", func(p *ProxLogBarrier, _ *LogBarrier, _ *Bisect, _ *GreedyL0) { p.Norm = "l3" }, `norm "l3"`},
		{"proxlogbarrier", func(p *ProxLogBarrier, _ *LogBarrier, _ *Bisect, _ *GreedyL0) { p.Dt = 0 }, "step dt 0"},
		{"proxlogbarrier", func(p *ProxLogBarrier, _ *LogBarrier, _ *Bisect, _ *GreedyL0) { p.Beta = 1.5 }, "beta 1.5"},
		{"proxlogbarrier", func(p *ProxLogBarrier, _ *LogBarrier, _ *Bisect, _ *GreedyL0) { p.Gamma = 1 }, "gamma 1"},
		{"proxlogbarrier", func(p *ProxLogBarrier, _ *LogBarrier, _ *Bisect, _ *GreedyL0) { p.T = math.NaN() }, "prox weight T NaN"},
		{"proxlogbarrier", func(p *ProxLogBarrier, _ *LogBarrier, _ *Bisect, _ *GreedyL0) { p.MaxInner = 0 }, "0 inner loops"},
		{"proxlogbarrier", func(p *ProxLogBarrier, _ *LogBarrier, _ *Bisect, _ *GreedyL0) { p.InitIters = 0 }, "0 initialisation draws"},
		{"proxlogbarrier", func(p *ProxLogBarrier, _ *LogBarrier, _ *Bisect, _ *GreedyL0) { p.Box = Box{1, 0} }, "input range [1, 0]"},
		{"logbarrier", func(_ *ProxLogBarrier, l *LogBarrier, _ *Bisect, _ *GreedyL0) { l.Norm = L0 }, `norm "l0"`},
		{"logbarrier", func(_ *ProxLogBarrier, l *LogBarrier, _ *Bisect, _ *GreedyL0) { l.Alpha0 = -1 }, "alpha0 -1"},
		{"logbarrier", func(_ *ProxLogBarrier, l *LogBarrier, _ *Bisect, _ *GreedyL0) { l.Tol = -1 }, "tolerance -1"},
		{"logbarrier", func(_ *ProxLogBarrier, l *LogBarrier, _ *Bisect, _ *GreedyL0) { l.Norm, l.T = Linf, 0 }, "temperature T 0"},
		{"logbarrier", func(_ *ProxLogBarrier, l *LogBarrier, _ *Bisect, _ *GreedyL0) { l.MaxBacktrack = -1 }, "-1 back-tracking"},
		{"bisect", func(_ *ProxLogBarrier, _ *LogBarrier, b *Bisect, _ *GreedyL0) { b.Norm = L1 }, `norm "l1"`},
		{"bisect", func(_ *ProxLogBarrier, _ *LogBarrier, b *Bisect, _ *GreedyL0) { b.Hi = -1 }, "largest budget -1"},
		{"bisect", func(_ *ProxLogBarrier, _ *LogBarrier, b *Bisect, _ *GreedyL0) { b.Steps = 0 }, "0 steps"},
		{"bisect", func(_ *ProxLogBarrier, _ *LogBarrier, b *Bisect, _ *GreedyL0) { b.StepFactor = 0 }, "step factor 0"},
		{"greedy", func(_ *ProxLogBarrier, _ *LogBarrier, _ *Bisect, g *GreedyL0) { g.MaxChanges = -2 }, "-2 changes"},
	} {
		if err := run[tc.attack](ctx, x, y, tc.edit); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.attack, err, tc.want)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for name, f := range run {
		for _, in := range []struct {
			x    []float32
			y    []int32
			want string
		}{
			{x[:1], y, "1 inputs for 1 samples"},
			{x, []int32{2}, "label 2 of sample 0"},
			{[]float32{0.3, 1.2}, y, "value 1 of sample 0 is 1.2"},
		} {
			if err := f(ctx, in.x, in.y, nil); err == nil || !strings.Contains(err.Error(), in.want) {
				t.Errorf("%s: error %v, want %q", name, err, in.want)
			}
		}
		if err := f(cancelled, x, y, nil); !errors.Is(err, context.Canceled) {
			t.Errorf("%s: cancelled context gave %v", name, err)
		}
	}
	p := NewProxLogBarrier(L2)
	if _, err := p.RunFrom(ctx, c, x, y, []float32{0.5}); err == nil || !strings.Contains(err.Error(), "1 start values") {
		t.Errorf("start of the wrong length: %v", err)
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		v    []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{1, math.Inf(1), math.Inf(1), 0}, math.Inf(1)},
		{[]float64{1, 2, math.Inf(1), 0}, 1.5},
		{[]float64{0, math.Inf(1)}, math.Inf(1)},
	} {
		in := slices.Clone(tc.v)
		if got := Median(tc.v); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.v, got, tc.want)
		}
		if !slices.Equal(in, tc.v) {
			t.Errorf("Median changed its input %v to %v", in, tc.v)
		}
	}
	if got := Median(nil); !math.IsNaN(got) {
		t.Errorf("Median(nil) = %v, want NaN", got)
	}
}
