package certify

import (
	"context"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// trainedTensors returns m's trained tensors (all but the batch norms'
// buffers) in Model.Params order, sharing their data, as a Trainer hands
// them to its regulariser, and zero gradients for them.
func trainedTensors(m *backend.Model) ([]backend.Tensor, [][]float32) {
	var params []backend.Tensor
	var grads [][]float32
	for _, p := range m.Params {
		if strings.HasSuffix(p.Name, ".running_mean") || strings.HasSuffix(p.Name, ".running_var") || strings.HasSuffix(p.Name, ".num_batches_tracked") {
			continue
		}
		params = append(params, p)
		grads = append(grads, make([]float32, len(p.Data)))
	}
	return params, grads
}

// exactPenalty returns λ·C·∏ s_l with exact factors: σ of each Linear
// weight, σ of each Conv2d's reshaped weight times √(m_h·m_w), each batch
// norm's largest scale, and Bound's factors for the other layers.
func exactPenalty(t *testing.T, m *backend.Model, lambda float64) float64 {
	t.Helper()
	shapes := layerShapes(m.Arch)
	l, err := Bound(m)
	if err != nil {
		t.Fatal(err)
	}
	p := lambda
	for i, layer := range m.Arch {
		switch layer.Kind {
		case backend.Linear:
			s, _, _, err := SpectralNorm(param(t, m, strconv.Itoa(i)+".weight").Data, layer.Out, layer.In)
			if err != nil {
				t.Fatal(err)
			}
			p *= s
		case backend.Conv2d:
			k := layer.Kernel
			s, _, _, err := SpectralNorm(param(t, m, strconv.Itoa(i)+".weight").Data, layer.Out, layer.In*k*k)
			if err != nil {
				t.Fatal(err)
			}
			g := newWindow(shapes[i], k, layer.Stride, layer.Padding, 1)
			p *= s * math.Sqrt(float64(coverage(g.h, k, g.s, g.p, g.oh)*coverage(g.w, k, g.s, g.p, g.ow)))
		default:
			p *= l.Layers[i].Bound
		}
	}
	return p
}

var regArchs = []struct {
	name string
	arch backend.Arch
}{
	mlpArchs[1], mlpArchs[2], mlpArchs[3], cnnArchs[0], cnnArchs[1],
	{"wide", backend.Arch{
		{Kind: backend.Linear, In: 3, Out: 9, Bias: true},
		{Kind: backend.Activation, Activation: backend.ReLU},
		{Kind: backend.Linear, In: 9, Out: 2, Bias: true}}},
}

// converged returns a regulariser for m run for enough calls that its
// power iterations have converged.
func converged(t *testing.T, m *backend.Model, lambda float64) *LipschitzRegularizer {
	t.Helper()
	r, err := NewLipschitzRegularizer(m, lambda)
	if err != nil {
		t.Fatal(err)
	}
	params, grads := trainedTensors(m)
	for range 300 {
		if _, err := r.Regularize(params, grads); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// TestRegularizerPenalty checks that the penalty converges to λ·∏ s_l
// with the exact spectral norms, from below, and equals λ·Bound for
// models without convolutions.
func TestRegularizerPenalty(t *testing.T) {
	const lambda = 0.7
	for ci, c := range regArchs {
		m := initModel(t, c.arch, int64(ci))
		perturbBatchNorms(m, newRNG(uint64(ci)))
		want := exactPenalty(t, m, lambda)
		r, err := NewLipschitzRegularizer(m, lambda)
		if err != nil {
			t.Fatal(err)
		}
		if r.Lambda() != lambda || r.Iterations != DefaultIterations || r.Factors() != nil {
			t.Errorf("%s: new regulariser: λ %v, %d iterations, factors %v", c.name, r.Lambda(), r.Iterations, r.Factors())
		}
		params, grads := trainedTensors(m)
		var penalty float64
		for call := range 300 {
			penalty, err = r.Regularize(params, grads)
			if err != nil {
				t.Fatal(err)
			}
			if penalty > want*(1+1e-12) {
				t.Fatalf("%s: call %d: penalty %v above the exact %v", c.name, call, penalty, want)
			}
		}
		if math.Abs(penalty-want) > 1e-9*want {
			t.Errorf("%s: penalty %v, want %v", c.name, penalty, want)
		}
		hasConv := false
		for _, l := range c.arch {
			hasConv = hasConv || l.Kind == backend.Conv2d
		}
		l, _ := Bound(m)
		if !hasConv && math.Abs(penalty-lambda*l.Bound) > 1e-9*penalty {
			t.Errorf("%s: penalty %v, λ·Bound %v", c.name, penalty, lambda*l.Bound)
		}
		if hasConv && penalty < lambda*l.Bound*(1-1e-9) {
			t.Errorf("%s: penalty %v below λ·Bound %v", c.name, penalty, lambda*l.Bound)
		}
		prod := lambda
		for _, f := range l.Layers {
			if f.Kind != backend.Linear && f.Kind != backend.Conv2d && f.Kind != backend.BatchNorm1d && f.Kind != backend.BatchNorm2d {
				prod *= f.Bound
			}
		}
		for _, f := range r.Factors() {
			prod *= f.Bound
			if f.Method == "" || c.arch[f.Layer].Kind != f.Kind {
				t.Errorf("%s: factor %+v", c.name, f)
			}
		}
		if math.Abs(prod-penalty) > 1e-12*penalty {
			t.Errorf("%s: the factors give %v, the penalty is %v", c.name, prod, penalty)
		}
	}
}

// TestRegularizerGradient checks the gradient the regulariser adds
// against central differences of the exact penalty in every weight entry,
// once the power iterations have converged, and that the gradients of the
// other tensors (biases) are left alone.
func TestRegularizerGradient(t *testing.T) {
	const lambda = 0.3
	for ci, c := range regArchs {
		m := initModel(t, c.arch, int64(ci)+20)
		perturbBatchNorms(m, newRNG(uint64(ci)+20))
		r := converged(t, m, lambda)
		params, grads := trainedTensors(m)
		rng := newRNG(uint64(ci))
		before := make([][]float32, len(grads))
		for i := range grads {
			copy(grads[i], randF32(rng, len(grads[i]), 1))
			before[i] = append([]float32(nil), grads[i]...)
		}
		penalty, err := r.Regularize(params, grads)
		if err != nil {
			t.Fatal(err)
		}
		weighted := 0
		for i, p := range params {
			layer := m.Arch[atoi(p.Name)]
			isWeight := strings.HasSuffix(p.Name, ".weight")
			if !isWeight || (layer.Kind != backend.Linear && layer.Kind != backend.Conv2d && layer.Kind != backend.BatchNorm1d && layer.Kind != backend.BatchNorm2d) {
				for j := range grads[i] {
					if grads[i][j] != before[i][j] {
						t.Fatalf("%s: gradient of %s[%d] changed from %v to %v", c.name, p.Name, j, before[i][j], grads[i][j])
					}
				}
				continue
			}
			weighted++
			const h = 1.0 / 1024
			for j := range p.Data {
				orig := p.Data[j]
				p.Data[j] = orig + h
				up := exactPenalty(t, m, lambda)
				p.Data[j] = orig - h
				down := exactPenalty(t, m, lambda)
				p.Data[j] = orig
				fd := (up - down) / (float64(orig+h) - float64(orig-h))
				got := float64(grads[i][j]) - float64(before[i][j])
				if math.Abs(got-fd) > 2e-4*max(penalty, 1) {
					t.Errorf("%s: ∂R/∂%s[%d] = %v, finite difference %v", c.name, p.Name, j, got, fd)
				}
			}
		}
		if weighted == 0 {
			t.Fatalf("%s: no weight checked", c.name)
		}
	}
}

// atoi returns the layer index at the start of a tensor name "i.name".
func atoi(name string) int {
	n := 0
	for _, ch := range name {
		if ch == '.' {
			break
		}
		n = 10*n + int(ch-'0')
	}
	return n
}

// TestRegularizerWarmStart checks that the regulariser is deterministic,
// that a few calls already estimate σ well on a matrix with a clear gap,
// and that the estimates follow the weights when they change.
func TestRegularizerWarmStart(t *testing.T) {
	arch := backend.Arch{{Kind: backend.Linear, In: 6, Out: 5, Bias: true}}
	m := initModel(t, arch, 3)
	w := param(t, m, "0.weight").Data
	for i := range 5 { // a dominant diagonal entry
		w[i*6+i] += float32(1 + i)
	}
	a, _ := NewLipschitzRegularizer(m, 1)
	b, _ := NewLipschitzRegularizer(m, 1)
	params, grads := trainedTensors(m)
	exact, _, _, _ := SpectralNorm(w, 5, 6)
	var pa float64
	for call := range 5 {
		pa, _ = a.Regularize(params, grads)
		pb, _ := b.Regularize(params, grads)
		if pa != pb {
			t.Fatalf("call %d: penalties %v and %v of identical regularisers", call, pa, pb)
		}
	}
	if math.Abs(pa-exact) > 1e-6*exact {
		t.Errorf("after 5 calls σ ≈ %v, want %v", pa, exact)
	}
	for i := range w {
		w[i] *= 2 // the vectors stay the singular vectors
	}
	if p, _ := a.Regularize(params, grads); math.Abs(p-2*exact) > 1e-6*exact {
		t.Errorf("after scaling the weight by 2: σ ≈ %v, want %v", p, 2*exact)
	}
	a.Iterations = 1
	if _, err := a.Regularize(params, grads); err != nil {
		t.Error(err)
	}
}

func TestRegularizerAllocations(t *testing.T) {
	m := initModel(t, cnnArchs[1].arch, 1)
	r, _ := NewLipschitzRegularizer(m, 1)
	params, grads := trainedTensors(m)
	if _, err := r.Regularize(params, grads); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(10, func() { _, _ = r.Regularize(params, grads) }); n != 0 {
		t.Errorf("Regularize allocates %v times per call", n)
	}
}

func TestRegularizerErrors(t *testing.T) {
	arch := mlpArchs[3].arch // with batch norms
	for _, lambda := range []float64{-1, math.NaN(), math.Inf(1)} {
		if _, err := NewLipschitzRegularizer(initModel(t, arch, 1), lambda); err == nil || !strings.Contains(err.Error(), "weight") {
			t.Errorf("λ = %v: error %v", lambda, err)
		}
	}
	if _, err := NewLipschitzRegularizer(nil, 1); err == nil {
		t.Error("nil model: no error")
	}
	bad := initModel(t, arch, 1)
	param(t, bad, "1.running_var").Data[0] = -2
	if _, err := NewLipschitzRegularizer(bad, 1); err == nil || !strings.Contains(err.Error(), "running variance of channel 0") {
		t.Errorf("negative running variance: error %v", err)
	}
	if _, err := (&LipschitzRegularizer{}).Regularize(nil, nil); err == nil {
		t.Error("zero regulariser: no error")
	}
	for _, c := range []struct {
		name string
		edit func(r *LipschitzRegularizer, params []backend.Tensor, grads [][]float32) ([]backend.Tensor, [][]float32)
		want string
	}{
		{"no iterations", func(r *LipschitzRegularizer, p []backend.Tensor, g [][]float32) ([]backend.Tensor, [][]float32) {
			r.Iterations = 0
			return p, g
		}, "0 power iterations"},
		{"one tensor short", func(r *LipschitzRegularizer, p []backend.Tensor, g [][]float32) ([]backend.Tensor, [][]float32) {
			return p[1:], g[1:]
		}, "8 tensors and 8 gradients, the model has 9 trained tensors"},
		{"gradients short", func(r *LipschitzRegularizer, p []backend.Tensor, g [][]float32) ([]backend.Tensor, [][]float32) {
			return p, g[1:]
		}, "9 tensors and 8 gradients"},
		{"all tensors", func(r *LipschitzRegularizer, p []backend.Tensor, g [][]float32) ([]backend.Tensor, [][]float32) {
			return bad.Params[:9], g
		}, `trained tensor 4 is "1.running_mean", want "3.weight"`},
		{"short gradient", func(r *LipschitzRegularizer, p []backend.Tensor, g [][]float32) ([]backend.Tensor, [][]float32) {
			g[4] = g[4][1:]
			return p, g
		}, `tensor "3.weight" has 30 values and 29 gradients`},
		{"NaN weight", func(r *LipschitzRegularizer, p []backend.Tensor, g [][]float32) ([]backend.Tensor, [][]float32) {
			p[4].Data[7] = float32(math.NaN())
			return p, g
		}, "layer 3 (linear): the weight has a NaN"},
		{"NaN batch norm weight", func(r *LipschitzRegularizer, p []backend.Tensor, g [][]float32) ([]backend.Tensor, [][]float32) {
			p[2].Data[1] = float32(math.NaN())
			return p, g
		}, "layer 1 (batchnorm1d): weight of channel 1 is NaN"},
	} {
		m := initModel(t, arch, 1)
		r, err := NewLipschitzRegularizer(m, 1)
		if err != nil {
			t.Fatal(err)
		}
		params, grads := trainedTensors(m)
		params, grads = c.edit(r, params, grads)
		if _, err := r.Regularize(params, grads); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	// An overflowing product is returned, with no gradient.
	m := initModel(t, mlpArchs[1].arch, 1)
	param(t, m, "0.weight").Data[0] = 1e38
	param(t, m, "2.weight").Data[0] = 1e38
	r, _ := NewLipschitzRegularizer(m, 1e300)
	params, grads := trainedTensors(m)
	if p, err := r.Regularize(params, grads); err != nil || !math.IsInf(p, 1) {
		t.Errorf("overflow: penalty %v, error %v", p, err)
	}
	for i := range grads {
		for _, g := range grads[i] {
			if g != 0 {
				t.Fatalf("overflow: gradient %v added", g)
			}
		}
	}
}

// blobs returns n points of d features in c classes centred at 2·e_k.
func blobs(rng *rand.Rand, n, d, c int) ([]float32, []int32) {
	x := make([]float32, n*d)
	y := make([]int32, n)
	for i := range y {
		k := rng.IntN(c)
		y[i] = int32(k)
		for j := range d {
			v := 0.7 * rng.NormFloat64()
			if j == k {
				v += 2
			}
			x[i*d+j] = float32(v)
		}
	}
	return x, y
}

// trainBound trains a fresh model (seed 1) on a synthetic problem, with
// the Lipschitz regulariser of weight lambda unless lambda is 0, and
// returns its Bound and its training accuracy.
func trainBound(t *testing.T, arch backend.Arch, lambda float64) (bound, accuracy float64) {
	t.Helper()
	m := initModel(t, arch, 1)
	const n, batch, k = 96, 16, 3
	d := arch.InputWidth()
	x, y := blobs(newRNG(9), n, d, k)
	tr, err := backend.NewTrainer(m, backend.Optimizer{Name: backend.SGD, LR: 0.1, Momentum: 0.9}, batch)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	var r *LipschitzRegularizer
	if lambda > 0 {
		if r, err = NewLipschitzRegularizer(m, lambda); err != nil {
			t.Fatal(err)
		}
		tr.SetRegularizer(r)
	}
	for range 25 {
		for s := 0; s < n; s += batch {
			if _, err = tr.Step(context.Background(), x[s*d:(s+batch)*d], y[s:s+batch]); err != nil {
				t.Fatal(err)
			}
		}
	}
	l, err := Bound(m)
	if err != nil {
		t.Fatal(err)
	}
	if r != nil {
		// The regulariser tracked the model being trained.
		params, grads := trainedTensors(m)
		p, _ := r.Regularize(params, grads)
		if p <= 0 || p > lambda*l.Bound*1.5+1e-9 {
			t.Errorf("penalty %v, λ·Bound %v", p, lambda*l.Bound)
		}
	}
	right := 0
	for i, c := range classes(t, m, x, n) {
		if c == int(y[i]) {
			right++
		}
	}
	return l.Bound, float64(right) / n
}

// TestRegularizerTraining trains the same model from the same seed with
// and without a Lipschitz penalty: the penalised one must end with a much
// smaller bound, and with a moderate weight still fit the data.
func TestRegularizerTraining(t *testing.T) {
	for _, c := range []struct {
		name string
		arch backend.Arch
	}{
		{"mlp", backend.Arch{
			{Kind: backend.Linear, In: 4, Out: 16, Bias: true},
			{Kind: backend.Activation, Activation: backend.ReLU},
			{Kind: backend.Linear, In: 16, Out: 3, Bias: true}}},
		{"cnn with batch norm", backend.Arch{
			{Kind: backend.Conv2d, In: 1, Out: 3, Kernel: 2, Bias: true, InShape: [3]int{1, 2, 2}},
			{Kind: backend.BatchNorm2d, In: 3},
			{Kind: backend.Activation, Activation: backend.ReLU},
			{Kind: backend.Flatten},
			{Kind: backend.Linear, In: 3, Out: 3, Bias: true}}},
	} {
		plain, plainAcc := trainBound(t, c.arch, 0)
		moderate, moderateAcc := trainBound(t, c.arch, 0.1)
		large, largeAcc := trainBound(t, c.arch, 1)
		t.Logf("%s: bound (training accuracy) %.4g (%.2f) without the penalty, %.4g (%.2f) with λ = 0.1, %.4g (%.2f) with λ = 1",
			c.name, plain, plainAcc, moderate, moderateAcc, large, largeAcc)
		if !(moderate < 0.5*plain) || !(large < 0.1*plain) {
			t.Errorf("%s: bound %v without the penalty, %v with λ = 0.1, %v with λ = 1", c.name, plain, moderate, large)
		}
		if plainAcc < 0.85 || moderateAcc < 0.85 {
			t.Errorf("%s: training accuracy %v without the penalty, %v with λ = 0.1", c.name, plainAcc, moderateAcc)
		}
	}
}
