package backend

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// refPaired is the PairedLoss of the n clean logit rows lc and the n
// perturbed rows lp (c classes each) against the labels y, in float64
// with the reference cross-entropy, and its parts.
func refPaired(lc, lp []float64, y []int32, c int, loss PairedLoss) (float64, PairedParts) {
	var sc, sp, sd float64
	for i := range y {
		ce := refCE(lc[i*c:(i+1)*c], y[i:i+1], c)
		cp := refCE(lp[i*c:(i+1)*c], y[i:i+1], c)
		sc += ce
		sp += cp
		sd += (cp - ce) * (cp - ce)
	}
	n := float64(len(y))
	parts := PairedParts{CleanCE: sc / n, PerturbedCE: sp / n}
	if loss.H > 0 {
		parts.Penalty = sd / n / (2 * loss.H * loss.H)
	}
	return loss.Clean*parts.CleanCE + loss.Perturbed*parts.PerturbedCE + loss.Penalty*parts.Penalty, parts
}

// runPairedOp runs a pairedLossOp on logits (2n rows of c) and n labels in
// a graph, as runGraph does, and returns the loss, the logits' gradient
// and the op's parts.
func runPairedOp(t *testing.T, loss PairedLoss, logits []float32, y []int32, c int) (float64, []float32, PairedParts) {
	t.Helper()
	n := len(y)
	var op *pairedLossOp
	cost, grads := runGraph(t, []input{
		{"logits", []int{2 * n, c}, slices.Clone(logits), true},
		{"y", []int{n}, labelsF32(y), false},
	}, func(ids *idSource, in G.Nodes) (*G.Node, error) {
		op = newPairedLossOp(ids, loss)
		return G.ApplyOp(op, in[0], in[1])
	})
	if !closeTo(op.cost, cost, 0, 1e-7) {
		t.Errorf("float64 loss %v, graph value %v", op.cost, cost)
	}
	return op.cost, grads[0], op.parts
}

// TestPairedLossOpHandValues checks the paired loss and its gradient on
// logits whose cross-entropies and gradients are known in closed form:
// clean rows [0, 0] (cross-entropy ln 2, gradient ±(−½, ½)) and perturbed
// rows [0, ln 3] and [ln 3, 0] (softmax (¼, ¾), cross-entropy 2·ln 2 for
// the labels 0 and 1, gradient ±(−¾, ¾)). Sample 0 has label 0, sample 1
// label 1, which covers a label at and off the row's maximum.
func TestPairedLossOpHandValues(t *testing.T) {
	ln3 := float32(math.Log(3))
	logits := []float32{0, 0, 0, 0, 0, ln3, ln3, 0}
	y := []int32{0, 1}
	g := [][]float64{{-0.5, 0.5}, {0.5, -0.5}, {-0.75, 0.75}, {0.75, -0.75}} // per row
	const ce, cep = math.Ln2, 2 * math.Ln2
	tests := []struct {
		name string
		loss PairedLoss
	}{
		{"clean only", PairedLoss{Clean: 1}},
		{"adversarial half and half", PairedLoss{Clean: 0.5, Perturbed: 0.5}},
		{"adversarial perturbed only", PairedLoss{Perturbed: 1, H: 0.3}},
		{"tulip", PairedLoss{Clean: 1, Penalty: 0.2, H: 0.5}},
		{"all terms", PairedLoss{Clean: 0.3, Perturbed: 0.7, Penalty: 0.1, H: 0.25}},
		{"penalty only", PairedLoss{Penalty: 1, H: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.loss
			d := cep - ce // CE'ᵢ − CEᵢ, the same for both samples
			var pen, q float64
			if l.H > 0 {
				pen = (d / l.H) * (d / l.H) / 2
				q = l.Penalty / (l.H * l.H)
			}
			wantCost := l.Clean*ce + l.Perturbed*cep + l.Penalty*pen
			a, b := (l.Clean-q*d)/2, (l.Perturbed+q*d)/2 // coefficients of the clean and perturbed rows, over n = 2
			want := slices.Concat(scaled(g[0], a), scaled(g[1], a), scaled(g[2], b), scaled(g[3], b))

			cost, grad, parts := runPairedOp(t, l, logits, y, 2)
			if !closeTo(cost, wantCost, 0, 1e-7) {
				t.Errorf("loss %v, want %v", cost, wantCost)
			}
			wantParts := PairedParts{CleanCE: ce, PerturbedCE: cep, Penalty: pen}
			if !closeTo(parts.CleanCE, wantParts.CleanCE, 0, 1e-12) || !closeTo(parts.PerturbedCE, wantParts.PerturbedCE, 0, 1e-7) ||
				!closeTo(parts.Penalty, wantParts.Penalty, 0, 1e-6) || parts.Regularizer != 0 {
				t.Errorf("parts %+v, want %+v", parts, wantParts)
			}
			checkClose(t, "gradient", grad, want, 1e-7, 1e-6)
		})
	}
}

func scaled(v []float64, s float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = s * x
	}
	return out
}

// TestPairedLossOpFiniteDifferences checks the paired loss and its
// gradient against the float64 reference and its central finite
// differences, on random logits: perturbed rows near the clean ones (as
// the gradient penalty makes them) and unrelated ones.
func TestPairedLossOpFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const n, c = 5, 4
	clean, _ := randRows(rng, n, c)
	for i := range clean {
		clean[i] *= 3
	}
	near := slices.Clone(clean)
	for i := range near {
		near[i] += float32(0.05 * rng.NormFloat64())
	}
	far, _ := randRows(rng, n, c)
	y := randLabels(rng, n, c)
	tests := []struct {
		name      string
		perturbed []float32
		loss      PairedLoss
	}{
		{"near clean only", near, PairedLoss{Clean: 1, H: 0.05}},
		{"near tulip", near, PairedLoss{Clean: 1, Penalty: 0.1, H: 0.05}},
		{"near all terms", near, PairedLoss{Clean: 0.4, Perturbed: 0.6, Penalty: 0.5, H: 0.05}},
		{"far adversarial", far, PairedLoss{Clean: 0.5, Perturbed: 0.5}},
		{"far perturbed only", far, PairedLoss{Perturbed: 1}},
		{"far penalty", far, PairedLoss{Clean: 1, Penalty: 2, H: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logits := slices.Concat(clean, tc.perturbed)
			ref := func(z []float64) float64 {
				cost, _ := refPaired(z[:n*c], z[n*c:], y, c, tc.loss)
				return cost
			}
			wantCost, wantParts := refPaired(to64(clean), to64(tc.perturbed), y, c, tc.loss)
			cost, grad, parts := runPairedOp(t, tc.loss, logits, y, c)
			if !closeTo(cost, wantCost, 1e-12, 1e-12) {
				t.Errorf("loss %v, reference %v", cost, wantCost)
			}
			if !closeTo(parts.CleanCE, wantParts.CleanCE, 1e-12, 1e-12) || !closeTo(parts.PerturbedCE, wantParts.PerturbedCE, 1e-12, 1e-12) ||
				!closeTo(parts.Penalty, wantParts.Penalty, 1e-12, 1e-10) {
				t.Errorf("parts %+v, reference %+v", parts, wantParts)
			}
			fd := centralDiff(to64(logits), ref)
			checkClose(t, "gradient vs finite differences", grad, fd, 1e-7, 1e-5)
		})
	}
}

// TestPairedLossT1 checks spec 2(e) T1, the finite-difference penalty of
// ℓ(x) = ½‖x‖² at x = (3, 4) with h = 0.01 and v = (0.6, 0.8): the
// first-order form gives dl = 5.005 and penalty 12.5250125, the central
// form dl = 5 and penalty 12.5. The op sees the losses ℓ as
// cross-entropies: two-class logits (0, log(e^ℓ − 1)) with label 0 have
// cross-entropy ℓ. Float32 logits near 12.5 carry cross-entropies to
// within 5e-7, so dl to within 1e-4 and the penalty to within 5e-4.
func TestPairedLossT1(t *testing.T) {
	const h = 0.01
	half := func(x, y float64) float64 { return (x*x + y*y) / 2 }
	at := func(s float64) float64 { return half(3+s*0.6, 4+s*0.8) } // ℓ(x + s·v)
	row := func(l float64) []float32 { return []float32{0, float32(math.Log(math.Expm1(l)))} }
	y := []int32{0}
	tests := []struct {
		name        string
		lo, hi      float64 // ℓ of the clean and of the perturbed input
		loss        PairedLoss
		wantDL      float64
		wantPenalty float64
		wantCost    float64
		wantCE      float64 // clean cross-entropy
		wantCEp     float64 // perturbed cross-entropy
	}{
		{"O1", at(0), at(h), PairedLoss{Clean: 1, Penalty: 0.1, H: h}, 5.005, 12.5250125, 12.5 + 0.1*12.5250125, 12.5, 12.55005},
		{"O2", at(-h), at(h), PairedLoss{Penalty: 1, H: 2 * h}, 5, 12.5, 12.5, 12.45005, 12.55005},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cost, _, parts := runPairedOp(t, tc.loss, slices.Concat(row(tc.lo), row(tc.hi)), y, 2)
			if !closeTo(parts.CleanCE, tc.wantCE, 5e-7, 0) || !closeTo(parts.PerturbedCE, tc.wantCEp, 5e-7, 0) {
				t.Errorf("cross-entropies %v, %v, want %v, %v", parts.CleanCE, parts.PerturbedCE, tc.wantCE, tc.wantCEp)
			}
			if dl := math.Sqrt(2 * parts.Penalty); !closeTo(dl, tc.wantDL, 1e-4, 0) {
				t.Errorf("dl = %v, want %v", dl, tc.wantDL)
			}
			if !closeTo(parts.Penalty, tc.wantPenalty, 5e-4, 0) {
				t.Errorf("penalty %v, want %v", parts.Penalty, tc.wantPenalty)
			}
			if !closeTo(cost, tc.wantCost, 5e-4, 0) {
				t.Errorf("loss %v, want %v", cost, tc.wantCost)
			}
		})
	}
}

// TestPairedLossOpDirect checks the op's errors, an incoming gradient other
// than 1, and that a diverged half makes the loss non-finite even when it
// has weight 0, while the gradient of the half that counts stays finite.
func TestPairedLossOpDirect(t *testing.T) {
	inf := float32(math.Inf(1))
	op := newPairedLossOp(new(idSource), PairedLoss{Clean: 1})
	logits := tensor.New(tensor.WithShape(4, 2), tensor.WithBacking([]float32{1, 0, 0, 2, inf, 0, 0, 0}))
	labels := tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{0, 1}))
	if _, err := op.Do(logits, labels); err != nil {
		t.Fatal(err)
	}
	if !math.IsNaN(op.cost) && !math.IsInf(op.cost, 0) {
		t.Errorf("loss %v with an infinite perturbed logit, want a non-finite one", op.cost)
	}
	g := op.grad.t.Float32s()
	for i, v := range g {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) || (i >= 4 && v != 0) {
			t.Errorf("gradient %v: want finite values, zero on the perturbed rows of weight 0", g)
			break
		}
	}
	clean := slices.Clone(g[:4])
	gop := &lossGradOp{opID: opID{name: "test"}, grad: &op.grad, shape: tensor.Shape{4, 2}}
	three := G.F32(3)
	d, err := gop.Do(&op.out, &three)
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "3·gradient", d.(*tensor.Dense).Float32s()[:4], scaled(to64(clean), 3), 0, 1e-7)

	for _, tc := range []struct {
		name   string
		inputs []G.Value
	}{
		{"label too big", []G.Value{logits, tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{0, 2}))}},
		{"fractional label", []G.Value{logits, tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{0.5, 1}))}},
		{"one label per row", []G.Value{logits, tensor.New(tensor.WithShape(4), tensor.WithBacking([]float32{0, 1, 0, 1}))}},
		{"one input", []G.Value{logits}},
		{"float64 logits", []G.Value{tensor.New(tensor.WithShape(4, 2), tensor.WithBacking(make([]float64, 8))), labels}},
	} {
		if _, err := op.Do(tc.inputs...); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
	if _, err := op.InferShape(tensor.Shape{3, 2}, tensor.Shape{2}); err == nil {
		t.Errorf("3 rows for 2 labels accepted")
	}
}

func TestPairedLossValidate(t *testing.T) {
	tests := []struct {
		loss PairedLoss
		want string // "" for valid
	}{
		{PairedLoss{Clean: 1}, ""},
		{PairedLoss{Perturbed: 1}, ""},
		{PairedLoss{Clean: 1, Penalty: 0.1, H: 0.01}, ""},
		{PairedLoss{Penalty: 1, H: 0.02}, ""},
		{PairedLoss{}, "all weights are 0"},
		{PairedLoss{Clean: 1, Penalty: 0.1}, "positive step"},
		{PairedLoss{Clean: -1, Perturbed: 2}, "clean weight -1"},
		{PairedLoss{Clean: math.NaN()}, "clean weight NaN"},
		{PairedLoss{Perturbed: math.Inf(1)}, "perturbed weight"},
		{PairedLoss{Clean: 1, Penalty: 1, H: math.Inf(1)}, "step H"},
		{PairedLoss{Clean: 1, H: -0.1}, "step H"},
	}
	for _, tc := range tests {
		err := tc.loss.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.loss, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want one containing %q", tc.loss, err, tc.want)
		}
	}
}

// pairedArchs are the tiny networks of the trainer tests: 6-5-3 with tanh,
// without and with a batch norm.
var pairedArchs = []struct {
	name string
	arch Arch
}{
	{"mlp", Arch{lin(6, 5, true), act(Tanh), lin(5, 3, true)}},
	{"mlp-bn", sslArch},
}

// trainedIndices returns the indices in Model.Params of a's trained
// tensors.
func trainedIndices(a Arch) []int {
	var idx []int
	for i, s := range a.params() {
		if !s.buffer {
			idx = append(idx, i)
		}
	}
	return idx
}

// pairedBatch returns n clean rows of 6 inputs, perturbed rows x + h·v
// with v a random unit direction per row (for h 0, unrelated random rows
// instead), and labels in [0, 3).
func pairedBatch(seed uint64, n int, h float64) (x, xp []float32, y []int32) {
	rng := rand.New(rand.NewPCG(seed, 17))
	x, _ = randRows(rng, n, 6)
	xp, _ = randRows(rng, n, 6)
	if h > 0 {
		for i := range n {
			v := make([]float64, 6)
			var norm float64
			for j := range v {
				v[j] = rng.NormFloat64()
				norm += v[j] * v[j]
			}
			for j := range v {
				xp[i*6+j] = x[i*6+j] + float32(h*v[j]/math.Sqrt(norm))
			}
		}
	}
	return x, xp, randLabels(rng, n, 3)
}

// TestPairedTrainerGradients checks whole StepPair updates (spec 2(e) T5):
// with plain SGD the update is −lr times the gradient, which must match
// central finite differences in weight space of the float64 reference loss
// (the two halves through the network separately, each with its own batch
// statistics). It covers the full and the partial-batch graph, with and
// without a batch norm, and checks the reported loss and parts, and that
// each step folds both halves' statistics into the running statistics.
func TestPairedTrainerGradients(t *testing.T) {
	const lr = 1e-2
	losses := []struct {
		name string
		loss PairedLoss
		h    float64 // perturbation size (0: unrelated rows)
	}{
		{"adversarial half and half", PairedLoss{Clean: 0.5, Perturbed: 0.5}, 0.3},
		{"adversarial perturbed only", PairedLoss{Perturbed: 1}, 0},
		{"tulip", PairedLoss{Clean: 1, Penalty: 0.5, H: 0.1}, 0.1},
		{"tulip small h", PairedLoss{Clean: 1, Penalty: 0.1, H: 0.01}, 0.01},
		{"all terms", PairedLoss{Clean: 0.3, Perturbed: 0.7, Penalty: 1, H: 0.2}, 0.2},
	}
	for _, a := range pairedArchs {
		for _, lc := range losses {
			for _, n := range []int{8, 5} { // the full graph, then the partial one
				t.Run(fmt.Sprintf("%s/%s/%d", a.name, lc.name, n), func(t *testing.T) {
					testPairedTrainerGradient(t, a.arch, lc.loss, lc.h, n, lr)
				})
			}
		}
	}
}

func testPairedTrainerGradient(t *testing.T, arch Arch, loss PairedLoss, h float64, n int, lr float64) {
	m := mustInit(t, arch, 4)
	before := m.Clone()
	tr, err := NewPairedTrainer(m, Optimizer{Name: SGD, LR: lr}, 8, loss)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	x, xp, y := pairedBatch(uint64(n), n, h)
	got, err := tr.StepPair(context.Background(), x, xp, y)
	if err != nil {
		t.Fatal(err)
	}
	ref := toRef(before)
	x64, xp64 := to64(x), to64(xp)
	cost := func() (float64, PairedParts) {
		lc, _ := ref.run(t, x64, n, true)
		lp, _ := ref.run(t, xp64, n, true)
		return refPaired(lc, lp, y, 3, loss)
	}
	want, wantParts := cost()
	if !closeTo(got, want, 1e-6, 1e-5) {
		t.Errorf("loss %v, reference %v", got, want)
	}
	parts := tr.PairedParts()
	if !closeTo(parts.CleanCE, wantParts.CleanCE, 1e-6, 1e-5) || !closeTo(parts.PerturbedCE, wantParts.PerturbedCE, 1e-6, 1e-5) ||
		!closeTo(parts.Penalty, wantParts.Penalty, 1e-5, 1e-3) || parts.Regularizer != 0 {
		t.Errorf("parts %+v, reference %+v", parts, wantParts)
	}

	const eps = 1e-6
	worst := 0.0 // largest error as a fraction of the tolerance
	for _, k := range trainedIndices(arch) {
		p := ref.params[k]
		for j := range p {
			w := p[j]
			p[j] = w + eps
			up, _ := cost()
			p[j] = w - eps
			down, _ := cost()
			p[j] = w
			fd := (up - down) / (2 * eps)
			// The update is rounded to float32 at |w| < 1: within
			// 6e-8, 6e-6 of the gradient after dividing by lr.
			g := (float64(before.Params[k].Data[j]) - float64(m.Params[k].Data[j])) / lr
			worst = max(worst, math.Abs(g-fd)/(2e-5+1e-3*math.Abs(fd)))
			if !closeTo(g, fd, 2e-5, 1e-3) {
				t.Errorf("%s[%d]: update/−lr %.7g, finite difference %.7g", m.Params[k].Name, j, g, fd)
			}
		}
	}
	t.Logf("largest gradient error: %.2g of the tolerance", worst)

	// Both halves' batch statistics reach the running statistics, the
	// clean ones first: z = x·Wᵀ + b before the batch norm.
	if arch[1].Kind != BatchNorm1d {
		return
	}
	z := func(x []float64) []float64 {
		out, _ := (&refModel{arch: arch[:1], params: ref.params[:2]}).run(t, x, n, true)
		return out
	}
	_, mc, vc := refBatchNorm(z(x64), ref.params[2], ref.params[3], nil, nil, n, 5, 1)
	_, mp, vp := refBatchNorm(z(xp64), ref.params[2], ref.params[3], nil, nil, n, 5, 1)
	unbias := float64(n) / float64(n-1)
	for ch := range 5 {
		wantMean := 0.9*(0.9*0+0.1*mc[ch]) + 0.1*mp[ch]
		wantVar := 0.9*(0.9*1+0.1*vc[ch]*unbias) + 0.1*vp[ch]*unbias
		if gm, gv := float64(m.Params[4].Data[ch]), float64(m.Params[5].Data[ch]); !closeTo(gm, wantMean, 1e-6, 1e-5) || !closeTo(gv, wantVar, 1e-6, 1e-5) {
			t.Errorf("channel %d: running mean, variance %v, %v, want %v, %v", ch, gm, gv, wantMean, wantVar)
		}
	}
	if nb := m.Params[6].Data[0]; nb != 2 {
		t.Errorf("num_batches_tracked = %v after one paired step, want 2", nb)
	}
}

// TestPairedCleanOnlyMatchesStep checks that a paired trainer with weight
// on the clean cross-entropy only gives the bits of a plain Trainer.Step on
// the clean rows: the same losses and weights over several steps, full and
// partial batches, whatever the perturbed rows hold. (The running
// statistics differ: the paired trainer also folds in the perturbed rows'.)
func TestPairedCleanOnlyMatchesStep(t *testing.T) {
	ctx := context.Background()
	for _, a := range pairedArchs {
		for _, opt := range []Optimizer{{Name: SGD, LR: 0.1, Momentum: 0.9}, {Name: Adam, LR: 1e-2}} {
			t.Run(a.name+"/"+opt.Name, func(t *testing.T) {
				m1 := mustInit(t, a.arch, 6)
				m2 := m1.Clone()
				plain, err := NewTrainer(m1, opt, 8)
				if err != nil {
					t.Fatal(err)
				}
				defer plain.Close()
				paired, err := NewPairedTrainer(m2, opt, 8, PairedLoss{Clean: 1, H: 0.1})
				if err != nil {
					t.Fatal(err)
				}
				defer paired.Close()
				for step, n := range []int{8, 8, 5, 8} {
					x, xp, y := pairedBatch(uint64(10+step), n, 0)
					l1, err1 := plain.Step(ctx, x, y)
					l2, err2 := paired.StepPair(ctx, x, xp, y)
					if err1 != nil || err2 != nil {
						t.Fatal(err1, err2)
					}
					if math.Float64bits(l1) != math.Float64bits(l2) {
						t.Errorf("step %d: loss %v (Step), %v (StepPair)", step, l1, l2)
					}
				}
				for _, k := range trainedIndices(a.arch) {
					p1, p2 := m1.Params[k], m2.Params[k]
					for j := range p1.Data {
						if math.Float32bits(p1.Data[j]) != math.Float32bits(p2.Data[j]) {
							t.Errorf("%s[%d]: %v after Step, %v after StepPair", p1.Name, j, p1.Data[j], p2.Data[j])
							break
						}
					}
				}
			})
		}
	}
}

// TestPairedTrainerErrors checks that the trainers refuse each other's
// steps and that StepPair rejects bad arguments and non-finite losses
// without updating anything.
func TestPairedTrainerErrors(t *testing.T) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	x, xp, y := pairedBatch(1, 3, 0.1)
	nan := float32(math.NaN())
	withNaN := func(v []float32) []float32 { v = slices.Clone(v); v[4] = nan; return v }
	tests := []struct {
		name      string
		loss      PairedLoss
		ctx       context.Context
		x, xp     []float32
		y         []int32
		close     bool
		want      string
		nonFinite bool
	}{
		{name: "short x", x: x[:17], want: "17 inputs for 3 rows of 6"},
		{name: "short xp", xp: xp[:12], want: "12 perturbed inputs for 3 rows of 6"},
		{name: "label too big", y: []int32{0, 3, 1}, want: "label 3 of row 1"},
		{name: "no rows", x: []float32{}, xp: []float32{}, y: []int32{}, want: "0 rows"},
		{name: "too many rows", x: slices.Concat(x, x), xp: slices.Concat(xp, xp), y: slices.Concat(y, y), want: "6 rows"},
		{name: "NaN clean input", x: withNaN(x), nonFinite: true},
		{name: "NaN perturbed input", xp: withNaN(xp), nonFinite: true},
		{name: "NaN perturbed input of weight 0", loss: PairedLoss{Clean: 1}, xp: withNaN(xp), nonFinite: true},
		{name: "cancelled", ctx: cancelled, want: "context canceled"},
		{name: "closed", close: true, want: "trainer is closed"},
	}
	for _, a := range pairedArchs {
		for _, tc := range tests {
			t.Run(a.name+"/"+tc.name, func(t *testing.T) {
				if tc.loss == (PairedLoss{}) {
					tc.loss = PairedLoss{Clean: 1, Penalty: 0.1, H: 0.1}
				}
				if tc.ctx == nil {
					tc.ctx = ctx
				}
				if tc.x == nil {
					tc.x = x
				}
				if tc.xp == nil {
					tc.xp = xp
				}
				if tc.y == nil {
					tc.y = y
				}
				m := mustInit(t, a.arch, 2)
				tr, err := NewPairedTrainer(m, Optimizer{Name: SGD, LR: 0.1}, 4, tc.loss)
				if err != nil {
					t.Fatal(err)
				}
				defer tr.Close()
				if tc.close {
					tr.Close()
				}
				before := m.Clone()
				loss, err := tr.StepPair(tc.ctx, tc.x, tc.xp, tc.y)
				if err == nil {
					t.Fatalf("StepPair succeeded with loss %v", loss)
				}
				if !strings.HasPrefix(err.Error(), "backend: ") || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("error %q, want one starting with \"backend: \" containing %q", err, tc.want)
				}
				if got := errors.Is(err, ErrNonFinite); got != tc.nonFinite {
					t.Errorf("errors.Is(%v, ErrNonFinite) = %t, want %t", err, got, tc.nonFinite)
				}
				if tc.nonFinite && !math.IsNaN(loss) && !math.IsInf(loss, 0) {
					t.Errorf("loss %v returned with the non-finite error", loss)
				}
				for i := range m.Params { // running statistics included
					for j, v := range m.Params[i].Data {
						if math.Float32bits(v) != math.Float32bits(before.Params[i].Data[j]) {
							t.Fatalf("%s changed after a failed step", m.Params[i].Name)
						}
					}
				}
				if tr.Steps() != 0 {
					t.Errorf("Steps() = %d after a failed step", tr.Steps())
				}
			})
		}
	}

	// Each kind of trainer refuses the other kinds' steps.
	arch := pairedArchs[1].arch
	plain, err := NewTrainer(mustInit(t, arch, 1), Optimizer{Name: SGD, LR: 0.1}, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	paired, err := NewPairedTrainer(mustInit(t, arch, 1), Optimizer{Name: SGD, LR: 0.1}, 4, PairedLoss{Clean: 0.5, Perturbed: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	defer paired.Close()
	ssl, err := NewSSLTrainer(mustInit(t, arch, 1), Optimizer{Name: SGD, LR: 0.1}, 3, SSLLoss{Kind: SSLBarlowTwins, Views: 2, Lambda: 0.1, Standardize: SSLStandardizeStd, Eps: 1e-6})
	if err != nil {
		t.Fatal(err)
	}
	defer ssl.Close()
	refusals := []struct {
		name string
		step func() error
		want string
	}{
		{"Step on paired", func() error { _, err := paired.Step(ctx, x, y); return err }, "StepPair"},
		{"StepViews on paired", func() error { _, err := paired.StepViews(ctx, slices.Concat(x, xp), 3); return err }, "StepPair"},
		{"StepPair on plain", func() error { _, err := plain.StepPair(ctx, x, xp, y); return err }, "paired trainer"},
		{"StepPair on ssl", func() error { _, err := ssl.StepPair(ctx, x, xp, y); return err }, "paired trainer"},
	}
	for _, r := range refusals {
		if err := r.step(); err == nil || !strings.Contains(err.Error(), r.want) {
			t.Errorf("%s: error %v, want one containing %q", r.name, err, r.want)
		}
	}
	if paired.Steps() != 0 || plain.Steps() != 0 || ssl.Steps() != 0 {
		t.Errorf("a refused step counted")
	}
	if _, err := paired.StepPair(ctx, x, xp, y); err != nil {
		t.Errorf("StepPair after refusals: %v", err)
	}

	for _, tc := range []struct {
		name  string
		batch int
		loss  PairedLoss
		want  string
	}{
		{"zero batch", 0, PairedLoss{Clean: 1}, "batch size 0"},
		{"huge batch", maxBatch, PairedLoss{Clean: 1}, "out of range"},
		{"bad loss", 4, PairedLoss{Clean: 1, Penalty: 1}, "positive step"},
	} {
		if tr, err := NewPairedTrainer(mustInit(t, arch, 1), Optimizer{Name: SGD, LR: 0.1}, tc.batch, tc.loss); err == nil || !strings.Contains(err.Error(), tc.want) {
			if err == nil {
				tr.Close()
			}
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

// weightDecay is the regulariser ½λ‖W‖² over every trained tensor. It
// records the tensors it was given.
type weightDecay struct {
	lambda float32
	names  []string // of the last call
	calls  int
	err    error   // returned instead of regularising, if set
	force  float64 // returned as the penalty if not 0
}

func (r *weightDecay) Regularize(params []Tensor, grads [][]float32) (float64, error) {
	r.calls++
	if r.err != nil {
		return 0, r.err
	}
	r.names = r.names[:0]
	var penalty float64
	for i, p := range params {
		r.names = append(r.names, p.Name)
		g := grads[i][:len(p.Data)]
		for j, w := range p.Data {
			g[j] += r.lambda * w
			penalty += float64(w) * float64(w)
		}
	}
	if r.force != 0 {
		return r.force, nil
	}
	return float64(r.lambda) / 2 * penalty, nil
}

// sumSquares returns ½λ‖W‖² of m's trained tensors, as weightDecay
// computes it.
func sumSquares(m *Model, lambda float32) float64 {
	var s float64
	for _, k := range trainedIndices(m.Arch) {
		for _, w := range m.Params[k].Data {
			s += float64(w) * float64(w)
		}
	}
	return float64(lambda) / 2 * s
}

// TestRegularizer checks the regulariser hook with weight decay ½λ‖W‖²
// given as a Regularizer: the weights must follow, bit for bit, those of
// the optimizer's own weight decay λ (which adds the same λ·w to the
// gradient), and the loss must be the optimizer's loss plus the penalty
// of the weights before the step, for each kind of trainer.
func TestRegularizer(t *testing.T) {
	ctx := context.Background()
	const lambda = float32(0.05)
	sslLoss := SSLLoss{Kind: SSLVICReg, Views: 2, Sim: 25, Var: 25, Cov: 1, Gamma: 1, VarEps: 1e-4}
	kinds := []struct {
		name string
		make func(*Model, Optimizer) (*Trainer, error)
		step func(*Trainer, int) (float64, error)
	}{
		{"step", func(m *Model, o Optimizer) (*Trainer, error) { return NewTrainer(m, o, 8) },
			func(tr *Trainer, s int) (float64, error) {
				x, _, y := pairedBatch(uint64(s), 8-s%2*3, 0)
				return tr.Step(ctx, x, y)
			}},
		{"paired", func(m *Model, o Optimizer) (*Trainer, error) {
			return NewPairedTrainer(m, o, 8, PairedLoss{Clean: 1, Penalty: 0.1, H: 0.1})
		}, func(tr *Trainer, s int) (float64, error) {
			x, xp, y := pairedBatch(uint64(s), 8-s%2*3, 0.1)
			return tr.StepPair(ctx, x, xp, y)
		}},
		{"views", func(m *Model, o Optimizer) (*Trainer, error) { return NewSSLTrainer(m, o, 8, sslLoss) },
			func(tr *Trainer, s int) (float64, error) {
				x, xp, _ := pairedBatch(uint64(s), 8, 0.3)
				return tr.StepViews(ctx, slices.Concat(x, xp), 8)
			}},
	}
	opts := []struct {
		name string
		opt  Optimizer
	}{
		{"sgd", Optimizer{Name: SGD, LR: 0.1}},
		{"nesterov", Optimizer{Name: SGD, LR: 0.1, Momentum: 0.9, Nesterov: true}},
		{"adam", Optimizer{Name: Adam, LR: 1e-2}},
	}
	for _, kind := range kinds {
		for _, o := range opts {
			opt := o.opt
			t.Run(kind.name+"/"+o.name, func(t *testing.T) {
				m1 := mustInit(t, sslArch, 8)
				m2 := m1.Clone()
				withDecay := opt
				withDecay.WeightDecay = float64(lambda)
				t1, err := kind.make(m1, withDecay)
				if err != nil {
					t.Fatal(err)
				}
				defer t1.Close()
				t2, err := kind.make(m2, opt)
				if err != nil {
					t.Fatal(err)
				}
				defer t2.Close()
				r := &weightDecay{lambda: lambda}
				t2.SetRegularizer(r)
				for s := range 4 {
					penalty := sumSquares(m2, lambda)
					l1, err1 := kind.step(t1, s)
					l2, err2 := kind.step(t2, s)
					if err1 != nil || err2 != nil {
						t.Fatal(err1, err2)
					}
					if l2 != l1+penalty {
						t.Errorf("step %d: loss %v with the regulariser, want %v + %v", s, l2, l1, penalty)
					}
					if kind.name == "paired" {
						if p := t2.PairedParts().Regularizer; p != penalty {
							t.Errorf("step %d: parts report the regulariser's penalty as %v, want %v", s, p, penalty)
						}
					}
				}
				if want := []string{"0.weight", "0.bias", "1.weight", "1.bias", "3.weight", "3.bias"}; !slices.Equal(r.names, want) || r.calls != 4 {
					t.Errorf("regulariser called %d times with %v, want 4 times with %v", r.calls, r.names, want)
				}
				for i := range m1.Params {
					if !slices.Equal(m1.Params[i].Data, m2.Params[i].Data) {
						t.Errorf("%s: the regulariser's weight decay differs from the optimizer's", m1.Params[i].Name)
					}
				}
				// Removing the regulariser stops the calls.
				t2.SetRegularizer(nil)
				if _, err := kind.step(t2, 0); err != nil {
					t.Fatal(err)
				}
				if r.calls != 4 {
					t.Errorf("regulariser called after SetRegularizer(nil)")
				}
			})
		}
	}

	// A regulariser's error or a non-finite penalty stops the step with no
	// update.
	errBad := errors.New("bad weights")
	for _, tc := range []struct {
		name      string
		r         *weightDecay
		nonFinite bool
	}{
		{"error", &weightDecay{lambda: lambda, err: errBad}, false},
		{"NaN penalty", &weightDecay{lambda: lambda, force: math.NaN()}, true},
		{"infinite penalty", &weightDecay{lambda: lambda, force: math.Inf(1)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := mustInit(t, sslArch, 8)
			before := m.Clone()
			tr, err := NewTrainer(m, Optimizer{Name: SGD, LR: 0.1}, 8)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			tr.SetRegularizer(tc.r)
			x, _, y := pairedBatch(1, 8, 0)
			_, err = tr.Step(ctx, x, y)
			if err == nil || !strings.HasPrefix(err.Error(), "backend: ") {
				t.Fatalf("error %v", err)
			}
			if errors.Is(err, ErrNonFinite) != tc.nonFinite || (tc.r.err != nil && !errors.Is(err, tc.r.err)) {
				t.Errorf("error %v: want it to wrap %v", err, cmpErr(tc.nonFinite, tc.r.err))
			}
			for i := range m.Params {
				if !slices.Equal(m.Params[i].Data, before.Params[i].Data) {
					t.Errorf("%s changed after a failed step", m.Params[i].Name)
				}
			}
		})
	}
}

func cmpErr(nonFinite bool, err error) error {
	if nonFinite {
		return ErrNonFinite
	}
	return err
}

// TestPairedStepAllocations checks that a paired step with a regulariser
// allocates only the TapeMachine's bookkeeping, as a plain step does.
func TestPairedStepAllocations(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1)) // see TestCNNStepAllocations
	arch := Arch{lin(256, 128, true), bn1d(128), act(ReLU), lin(128, 10, true)}
	m := mustInit(t, arch, 1)
	// 16 samples, 32 rows: gonum's pure-Go sgemm stays serial (see
	// TestCNNStepAllocations).
	tr, err := NewPairedTrainer(m, Optimizer{Name: Adam, LR: 1e-3}, 16, PairedLoss{Clean: 1, Penalty: 0.1, H: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	r := &weightDecay{lambda: 1e-4, names: make([]string, 0, 8)}
	tr.SetRegularizer(r)
	x, y := blobs(7, 16, 256, 10)
	xp := slices.Clone(x)
	for i := range xp {
		xp[i] += 0.01
	}
	ctx := context.Background()
	for range 3 {
		if _, err := tr.StepPair(ctx, x, xp, y); err != nil {
			t.Fatal(err)
		}
	}
	const steps = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range steps {
		if _, err := tr.StepPair(ctx, x, xp, y); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	// The smallest tensor of the graph (a bias gradient) is 512 bytes and
	// an activation 16 KB; the machine's bookkeeping is a few KB.
	perStep := (after.TotalAlloc - before.TotalAlloc) / steps
	t.Logf("%d bytes per step", perStep)
	if perStep > 8<<10 {
		t.Errorf("a step allocates %d bytes, want at most 8 KB", perStep)
	}
}
