package certify

import (
	"errors"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// setParam sets the data of m's tensor name.
func setParam(t testing.TB, m *backend.Model, name string, data []float32) {
	t.Helper()
	p := param(t, m, name)
	if len(data) != len(p.Data) {
		t.Fatalf("%s: %d values, want %d", name, len(data), len(p.Data))
	}
	copy(p.Data, data)
}

// TestBoundHandValues checks the factors of single layers whose
// Lipschitz constants are known by hand.
func TestBoundHandValues(t *testing.T) {
	const eps = 1e-5
	identity1x1 := func(m *backend.Model) { setParam(t, m, "0.weight", []float32{1}) }
	for _, c := range []struct {
		name    string
		arch    backend.Arch
		set     func(m *backend.Model)
		factors []float64 // per layer
		exact   []bool
	}{
		{"linear diag(2, −7, 0.5)", backend.Arch{{Kind: backend.Linear, In: 3, Out: 3, Bias: true}},
			func(m *backend.Model) {
				setParam(t, m, "0.weight", []float32{2, 0, 0, 0, -7, 0, 0, 0, 0.5})
			}, []float64{7}, []bool{true}},
		{"linear [[3 0] [4 0] [0 1]]", backend.Arch{{Kind: backend.Linear, In: 2, Out: 3}},
			func(m *backend.Model) { setParam(t, m, "0.weight", []float32{3, 0, 4, 0, 0, 1}) }, []float64{5}, []bool{true}},
		{"activations", backend.Arch{
			{Kind: backend.Linear, In: 2, Out: 2},
			{Kind: backend.Activation, Activation: backend.ReLU},
			{Kind: backend.Activation, Activation: backend.Tanh},
			{Kind: backend.Activation, Activation: backend.Sigmoid},
			{Kind: backend.Activation, Activation: backend.Identity},
			{Kind: backend.Activation, Activation: backend.Sigmoid, In: 2, Out: 2},
		}, func(m *backend.Model) { setParam(t, m, "0.weight", []float32{0, 3, 1, 0}) },
			[]float64{3, 1, 1, 0.25, 1, 0.25}, []bool{true, true, true, true, true, true}},
		{"batchnorm1d", backend.Arch{{Kind: backend.Linear, In: 3, Out: 3}, {Kind: backend.BatchNorm1d, In: 3}},
			func(m *backend.Model) {
				setParam(t, m, "0.weight", []float32{1, 0, 0, 0, 1, 0, 0, 0, 1})
				setParam(t, m, "1.weight", []float32{1, -3, 2})
				setParam(t, m, "1.running_var", []float32{1, 8, 3})
				setParam(t, m, "1.running_mean", []float32{5, -5, 9})
			}, []float64{1, 2 / math.Sqrt(3+eps)}, []bool{true, true}},
		{"batchnorm2d, negative weight wins", backend.Arch{
			{Kind: backend.Conv2d, In: 2, Out: 2, Kernel: 1, InShape: [3]int{2, 3, 3}},
			{Kind: backend.BatchNorm2d, In: 2}, {Kind: backend.Flatten}},
			func(m *backend.Model) {
				setParam(t, m, "0.weight", []float32{1, 0, 0, 1})
				setParam(t, m, "1.weight", []float32{0.5, -4})
				setParam(t, m, "1.running_var", []float32{1, 16})
			}, []float64{1, 4 / math.Sqrt(16+eps), 1}, []bool{true, true, true}},
		{"global average pool of 3×4 planes", backend.Arch{
			{Kind: backend.Conv2d, In: 2, Out: 2, Kernel: 1, InShape: [3]int{2, 3, 4}},
			{Kind: backend.GlobalAvgPool2d}},
			func(m *backend.Model) { setParam(t, m, "0.weight", []float32{0, 2, 1, 0}) },
			[]float64{2, 1 / math.Sqrt(12)}, []bool{true, true}},
		{"max pool 2, stride 2", backend.Arch{
			{Kind: backend.Conv2d, In: 1, Out: 1, Kernel: 1, InShape: [3]int{1, 4, 4}},
			{Kind: backend.MaxPool2d, Kernel: 2}, {Kind: backend.Flatten}},
			identity1x1, []float64{1, 1, 1}, []bool{true, true, true}},
		{"max pool 3, stride 1", backend.Arch{
			{Kind: backend.Conv2d, In: 1, Out: 1, Kernel: 1, InShape: [3]int{1, 5, 5}},
			{Kind: backend.MaxPool2d, Kernel: 3, Stride: 1}, {Kind: backend.Flatten}},
			identity1x1, []float64{1, 3, 1}, []bool{true, true, true}},
		{"max pool 3, stride 1 on 3 columns", backend.Arch{
			{Kind: backend.Conv2d, In: 1, Out: 1, Kernel: 1, InShape: [3]int{1, 5, 3}},
			{Kind: backend.MaxPool2d, Kernel: 3, Stride: 1}, {Kind: backend.Flatten}},
			identity1x1, []float64{1, math.Sqrt(3), 1}, []bool{true, true, true}},
		{"max pool 3, stride 2, padding 1", backend.Arch{
			{Kind: backend.Conv2d, In: 1, Out: 1, Kernel: 1, InShape: [3]int{1, 5, 5}},
			{Kind: backend.MaxPool2d, Kernel: 3, Stride: 2, Padding: 1}, {Kind: backend.Flatten}},
			identity1x1, []float64{1, 2, 1}, []bool{true, true, true}},
		{"conv 1×1 is its weight's norm", backend.Arch{
			{Kind: backend.Conv2d, In: 2, Out: 3, Kernel: 1, Bias: true, InShape: [3]int{2, 2, 2}}, {Kind: backend.Flatten}},
			func(m *backend.Model) { setParam(t, m, "0.weight", []float32{3, 0, 4, 0, 0, 1}) }, []float64{5, 1}, []bool{true, true}},
		{"conv 3×3 with one nonzero tap", backend.Arch{
			{Kind: backend.Conv2d, In: 1, Out: 1, Kernel: 3, Padding: 1, InShape: [3]int{1, 4, 4}}, {Kind: backend.Flatten}},
			func(m *backend.Model) { setParam(t, m, "0.weight", []float32{0, 0, 0, 0, -2, 0, 0, 0, 0}) }, []float64{2, 1}, []bool{false, true}},
	} {
		m := initModel(t, c.arch, 1)
		c.set(m)
		l, err := Bound(m)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if len(l.Layers) != len(c.factors) {
			t.Fatalf("%s: %d factors, want %d", c.name, len(l.Layers), len(c.factors))
		}
		prod := 1.0
		for i, f := range l.Layers {
			prod *= c.factors[i]
			if math.Abs(f.Bound-c.factors[i]) > 1e-6*c.factors[i] {
				t.Errorf("%s: layer %d (%v): factor %v (%s), want %v", c.name, i, f.Kind, f.Bound, f.Method, c.factors[i])
			}
			if f.Exact != c.exact[i] {
				t.Errorf("%s: layer %d: Exact %v, want %v", c.name, i, f.Exact, c.exact[i])
			}
			if f.Layer != i || f.Kind != c.arch[i].Kind || f.Activation != c.arch[i].Activation || f.Method == "" {
				t.Errorf("%s: layer %d: factor %+v does not describe the layer", c.name, i, f)
			}
		}
		if math.Abs(l.Bound-prod) > 1e-6*prod {
			t.Errorf("%s: bound %v, want %v", c.name, l.Bound, prod)
		}
		if l.Inputs != c.arch.InputWidth() || l.Classes != c.arch.OutputWidth() {
			t.Errorf("%s: inputs, classes = %d, %d, want %d, %d", c.name, l.Inputs, l.Classes, c.arch.InputWidth(), c.arch.OutputWidth())
		}
	}
}

// checkPairs checks ‖f(a) − f(b)‖₂ ≤ L·‖a − b‖₂ for the pairs (a_i, b_i),
// rows of a and b, with f the eval-mode logits backend.Predict computes,
// and returns the largest ratio ‖f(a) − f(b)‖₂/‖a − b‖₂.
func checkPairs(t *testing.T, name string, m *backend.Model, bound float64, a, b []float32) float64 {
	t.Helper()
	bad, worst := pairViolations(t, m, bound, a, b)
	for _, i := range bad {
		t.Errorf("%s: pair %d: ‖f(a) − f(b)‖/‖a − b‖ above L = %v (largest ratio %v)", name, i, bound, worst)
	}
	return worst
}

// pairViolations returns the pairs (a_i, b_i) with ‖f(a) − f(b)‖₂ >
// L·‖a − b‖₂ (up to float32 rounding) and the largest ratio
// ‖f(a) − f(b)‖₂/‖a − b‖₂.
func pairViolations(t *testing.T, m *backend.Model, bound float64, a, b []float32) (bad []int, worst float64) {
	t.Helper()
	in, out := m.Arch.InputWidth(), m.Arch.OutputWidth()
	n := len(a) / in
	fa, fb := predict(t, m, a, n), predict(t, m, b, n)
	for i := range n {
		da := dist2(a[i*in:(i+1)*in], b[i*in:(i+1)*in])
		ra, rb := fa[i*out:(i+1)*out], fb[i*out:(i+1)*out]
		df := dist2(ra, rb)
		// float32 evaluation: allow a relative rounding error of the
		// outputs themselves.
		slack := 1e-5 * (norm2(f64(ra)) + norm2(f64(rb)))
		if df > bound*da*(1+1e-6)+slack {
			bad = append(bad, i)
		}
		if da > 0 {
			worst = max(worst, df/da)
		}
	}
	return bad, worst
}

// randomPairs returns n pairs of inputs of width in: a ~ N(0, 1) and
// b = a + δ with δ of random direction and length from 1e-2 to 3.
func randomPairs(rng *rand.Rand, n, in int) (a, b []float32) {
	a, b = randF32(rng, n*in, 1), make([]float32, n*in)
	for i := range n {
		d := randF32(rng, in, 1)
		scale := math.Pow(10, -2+2.5*rng.Float64()) / norm2(f64(d))
		for j := range in {
			b[i*in+j] = a[i*in+j] + float32(scale*float64(d[j]))
		}
	}
	return a, b
}

// scaleWeights multiplies the weights of m's Linear and Conv2d layers by
// s, so that their activations leave the linear regions of tanh and
// sigmoid.
func scaleWeights(m *backend.Model, s float32) {
	for i, l := range m.Arch {
		if l.Kind != backend.Linear && l.Kind != backend.Conv2d {
			continue
		}
		for j := range m.Params {
			if p := &m.Params[j]; p.Name == strconv.Itoa(i)+".weight" {
				for k := range p.Data {
					p.Data[k] *= s
				}
			}
		}
	}
}

var (
	mlpArchs = []struct {
		name string
		arch backend.Arch
	}{
		{"linear", backend.Arch{{Kind: backend.Linear, In: 5, Out: 4, Bias: true}}},
		{"relu", backend.Arch{
			{Kind: backend.Linear, In: 5, Out: 8, Bias: true},
			{Kind: backend.Activation, Activation: backend.ReLU},
			{Kind: backend.Linear, In: 8, Out: 3, Bias: true}}},
		{"tanh-sigmoid", backend.Arch{
			{Kind: backend.Linear, In: 6, Out: 10, Bias: true},
			{Kind: backend.Activation, Activation: backend.Tanh},
			{Kind: backend.Linear, In: 10, Out: 7},
			{Kind: backend.Activation, Activation: backend.Sigmoid},
			{Kind: backend.Linear, In: 7, Out: 4, Bias: true}}},
		{"batchnorm", backend.Arch{
			{Kind: backend.Linear, In: 4, Out: 6, Bias: true},
			{Kind: backend.BatchNorm1d, In: 6},
			{Kind: backend.Activation, Activation: backend.ReLU},
			{Kind: backend.Linear, In: 6, Out: 5},
			{Kind: backend.BatchNorm1d, In: 5},
			{Kind: backend.Activation, Activation: backend.Tanh},
			{Kind: backend.Linear, In: 5, Out: 3, Bias: true}}},
		{"input batchnorm", backend.Arch{
			{Kind: backend.BatchNorm1d, In: 3},
			{Kind: backend.Linear, In: 3, Out: 3, Bias: true},
			{Kind: backend.Activation, Activation: backend.Identity},
			{Kind: backend.Linear, In: 3, Out: 2, Bias: true}}},
	}
	cnnArchs = []struct {
		name string
		arch backend.Arch
	}{
		{"conv-maxpool-flatten", backend.Arch{
			{Kind: backend.Conv2d, In: 2, Out: 4, Kernel: 3, Padding: 1, Bias: true, InShape: [3]int{2, 6, 6}},
			{Kind: backend.Activation, Activation: backend.ReLU},
			{Kind: backend.MaxPool2d, Kernel: 2},
			{Kind: backend.Conv2d, In: 4, Out: 3, Kernel: 2, Stride: 1, Bias: true},
			{Kind: backend.Activation, Activation: backend.Tanh},
			{Kind: backend.Flatten},
			{Kind: backend.Linear, In: 12, Out: 3, Bias: true}}},
		{"conv-batchnorm-overlapping pool-avgpool", backend.Arch{
			{Kind: backend.Conv2d, In: 1, Out: 3, Kernel: 3, Bias: true, InShape: [3]int{1, 7, 7}},
			{Kind: backend.BatchNorm2d, In: 3},
			{Kind: backend.Activation, Activation: backend.ReLU},
			{Kind: backend.MaxPool2d, Kernel: 3, Stride: 1, Padding: 1},
			{Kind: backend.Conv2d, In: 3, Out: 4, Kernel: 3, Stride: 2, Padding: 1},
			{Kind: backend.Activation, Activation: backend.Sigmoid},
			{Kind: backend.GlobalAvgPool2d},
			{Kind: backend.Linear, In: 4, Out: 3, Bias: true}}},
		{"strided max pool with padding", backend.Arch{
			{Kind: backend.Conv2d, In: 2, Out: 2, Kernel: 2, Bias: true, InShape: [3]int{2, 6, 5}},
			{Kind: backend.MaxPool2d, Kernel: 3, Stride: 2, Padding: 1},
			{Kind: backend.Flatten},
			{Kind: backend.Linear, In: 12, Out: 4},
			{Kind: backend.Activation, Activation: backend.ReLU},
			{Kind: backend.Linear, In: 4, Out: 2}}},
	}
)

// TestBoundRandomPairs checks the bound against the backend's own
// eval-mode forward pass on random pairs of inputs, for small MLPs and
// CNNs with random weights.
func TestBoundRandomPairs(t *testing.T) {
	cases := append(mlpArchs[:len(mlpArchs):len(mlpArchs)], cnnArchs...)
	for ci, c := range cases {
		for seed := range int64(3) {
			rng := newRNG(uint64(100*ci) + uint64(seed))
			m := initModel(t, c.arch, seed)
			scaleWeights(m, 2)
			perturbBatchNorms(m, rng)
			l, err := Bound(m)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			if !(l.Bound > 0) || math.IsInf(l.Bound, 0) {
				t.Fatalf("%s: bound %v", c.name, l.Bound)
			}
			in := m.Arch.InputWidth()
			a, b := randomPairs(rng, 300, in)
			worst := checkPairs(t, c.name, m, l.Bound, a, b)
			if !(worst > 0) {
				t.Errorf("%s: no pair moved the outputs", c.name)
			}
			t.Logf("%s seed %d: L = %.4g, largest ratio %.4g (%.2f of L)", c.name, seed, l.Bound, worst, worst/l.Bound)
		}
	}
}

// TestBoundTightForLinear checks that the bound is attained by a linear
// model along its top right singular vector, so that the pair checks
// would catch a bound that is too small.
func TestBoundTightForLinear(t *testing.T) {
	m := initModel(t, mlpArchs[0].arch, 7)
	l, err := Bound(m)
	if err != nil {
		t.Fatal(err)
	}
	w := param(t, m, "0.weight")
	sigma, _, v, err := SpectralNorm(w.Data, w.Shape[0], w.Shape[1])
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(l.Bound-sigma) > 1e-12*sigma {
		t.Fatalf("bound %v, σ %v", l.Bound, sigma)
	}
	rng := newRNG(7)
	a := randF32(rng, len(v), 1)
	b := make([]float32, len(v))
	for j := range v {
		b[j] = a[j] + float32(v[j])
	}
	ratio := checkPairs(t, "linear", m, l.Bound, a, b)
	if ratio < l.Bound*(1-1e-4) {
		t.Errorf("ratio along the top singular vector %v, want L = %v", ratio, l.Bound)
	}
	if bad, _ := pairViolations(t, m, 0.99*l.Bound, a, b); len(bad) != 1 {
		t.Errorf("a bound 1%% too small is not caught")
	}
}

func TestBoundErrors(t *testing.T) {
	arch := mlpArchs[3].arch // with batch norms
	for _, c := range []struct {
		name string
		edit func(m *backend.Model)
		want string
	}{
		{"nil", nil, "nil model"},
		{"NaN weight", func(m *backend.Model) { param(t, m, "3.weight").Data[2] = float32(math.NaN()) }, "layer 3 (linear): weight: value 2"},
		{"infinite batch norm weight", func(m *backend.Model) { param(t, m, "1.weight").Data[0] = float32(math.Inf(1)) }, "weight of channel 0 is +Inf"},
		{"negative running variance", func(m *backend.Model) { param(t, m, "4.running_var").Data[1] = -1 }, "running variance of channel 1 is -1"},
		{"missing tensor", func(m *backend.Model) { m.Params = m.Params[:len(m.Params)-1] }, "tensors"},
	} {
		var m *backend.Model
		if c.edit != nil {
			m = initModel(t, arch, 1)
			c.edit(m)
		}
		_, err := Bound(m)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "certify: ") {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
		if errors.Is(err, ErrUnsupported) {
			t.Errorf("%s: error %v wraps ErrUnsupported", c.name, err)
		}
	}
	// layerFactor is the only place an unknown kind could reach.
	if _, err := layerFactor(backend.Layer{Kind: backend.Activation, Activation: "gelu"}, shape{c: 2}, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown activation: error %v, want ErrUnsupported", err)
	}
	if _, err := layerFactor(backend.Layer{Kind: 99}, shape{c: 2}, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("unknown kind: error %v, want ErrUnsupported", err)
	}
}

func TestLargest(t *testing.T) {
	if f := (Lipschitz{}).Largest(); f != (Factor{}) {
		t.Errorf("Largest of no layers = %+v", f)
	}
	l := Lipschitz{Layers: []Factor{{Layer: 0, Bound: 2}, {Layer: 1, Bound: 1}, {Layer: 2, Bound: 3}, {Layer: 3, Bound: 3}}}
	if f := l.Largest(); f.Layer != 2 {
		t.Errorf("Largest = layer %d, want 2", f.Layer)
	}
}
