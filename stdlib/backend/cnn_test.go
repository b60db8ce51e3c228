package backend

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
)

func conv(in, out, k, s, p int, bias bool) Layer {
	return Layer{Kind: Conv2d, In: in, Out: out, Kernel: k, Stride: s, Padding: p, Bias: bias}
}
func bn(c int) Layer         { return Layer{Kind: BatchNorm2d, In: c} }
func pool(k, s, p int) Layer { return Layer{Kind: MaxPool2d, Kernel: k, Stride: s, Padding: p} }
func flatten() Layer         { return Layer{Kind: Flatten} }
func gap() Layer             { return Layer{Kind: GlobalAvgPool2d} }
func withShape(l Layer, c, h, w int) Layer {
	l.InShape = [3]int{c, h, w}
	return l
}

func TestArchValidateCNN(t *testing.T) {
	tests := []struct {
		name    string
		arch    Arch
		wantErr string // empty: valid
		in, out int
	}{
		{"benchmark cnn", benchCNN(), "", 784, 10},
		{"conv flatten", Arch{withShape(conv(2, 3, 3, 1, 0, true), 2, 5, 5), flatten()}, "", 50, 27},
		{"stride 2 padding 2", Arch{withShape(conv(1, 2, 3, 2, 2, false), 1, 6, 7), flatten(), lin(2*4*5, 3, true)}, "", 42, 3},
		{"pool default stride", Arch{withShape(conv(1, 2, 3, 0, 1, true), 1, 5, 5), pool(2, 0, 0), flatten(), lin(8, 2, true)}, "", 25, 2},
		{"bn first", Arch{withShape(bn(3), 3, 2, 2), flatten(), lin(12, 2, true)}, "", 12, 2},
		{"shape on an activation", Arch{withShape(act(ReLU), 1, 4, 4), conv(1, 1, 3, 1, 1, true), flatten(), lin(16, 2, false)}, "", 16, 2},
		{"activation widths on planes", Arch{withShape(conv(1, 2, 3, 1, 1, true), 1, 4, 4), {Kind: Activation, Activation: Tanh, In: 32, Out: 32}, flatten(), lin(32, 2, true)}, "", 16, 2},
		{"linear then reshape", Arch{lin(5, 16, true), withShape(conv(1, 2, 3, 1, 1, true), 1, 4, 4), flatten(), lin(32, 2, true)}, "", 5, 2},
		{"matching shape on a later layer", Arch{withShape(conv(1, 2, 3, 1, 1, true), 1, 4, 4), withShape(bn(2), 2, 4, 4), flatten(), lin(32, 2, true)}, "", 16, 2},
		{"flatten of flat rows", Arch{lin(3, 4, true), flatten(), lin(4, 2, true)}, "", 3, 2},
		{"no weights", Arch{withShape(pool(2, 2, 0), 1, 4, 4), flatten()}, "no layer with weights", 16, 4},
		{"conv without shape", Arch{conv(1, 2, 3, 1, 1, true), flatten(), lin(18, 2, true)}, "layer 0: conv2d layer gets flat rows of 18 values", 18, 2},
		{"conv on flat rows", Arch{lin(4, 4, true), conv(1, 2, 1, 1, 0, true)}, "set InShape", 4, 4},
		{"channels do not chain", Arch{withShape(conv(1, 2, 3, 1, 1, true), 1, 4, 4), conv(3, 2, 3, 1, 1, true), flatten()}, "layer 1: conv2d input channels 3 do not match the 2 channels", 16, 4},
		{"kernel too large", Arch{withShape(conv(1, 2, 5, 1, 0, true), 1, 4, 6), flatten()}, "kernel 5 is larger than the padded input 4x6", 24, 6},
		{"zero kernel", Arch{withShape(conv(1, 2, 0, 1, 0, true), 1, 4, 4), flatten()}, "kernel 0 out of range", 16, 0},
		{"negative stride", Arch{withShape(conv(1, 2, 3, -1, 0, true), 1, 4, 4), flatten()}, "stride -1 out of range", 16, 0},
		{"negative padding", Arch{withShape(conv(1, 2, 3, 1, -1, true), 1, 4, 4), flatten()}, "padding -1 out of range", 16, 0},
		{"zero channels", Arch{withShape(conv(1, 0, 3, 1, 1, true), 1, 4, 4), flatten()}, "channels 1 -> 0 out of range", 16, 0},
		{"linear on planes", Arch{withShape(conv(1, 2, 3, 1, 1, true), 1, 4, 4), lin(32, 2, true)}, "layer 1: linear layer gets values of shape [2 4 4], it needs flat rows: put a Flatten layer before it", 16, 2},
		{"spatial output", Arch{withShape(conv(1, 2, 3, 1, 1, true), 1, 4, 4)}, "output has shape [2 4 4] per row: end it with a Flatten layer", 16, 0},
		{"bn channels", Arch{withShape(conv(1, 2, 3, 1, 1, true), 1, 4, 4), bn(3), flatten()}, "batchnorm2d channels 3 do not match the 2 channels", 16, 0},
		{"bn out differs", Arch{withShape(Layer{Kind: BatchNorm2d, In: 1, Out: 2}, 1, 4, 4), flatten()}, "want In in [1, 16777216] and Out zero or equal to In", 16, 0},
		{"bn with bias", Arch{withShape(Layer{Kind: BatchNorm2d, In: 1, Bias: true}, 1, 4, 4), flatten()}, "batchnorm2d layer has Bias set", 16, 0},
		{"bn on flat rows", Arch{lin(3, 4, true), bn(4)}, "batchnorm2d layer gets flat rows", 3, 4},
		{"pool padding too large", Arch{withShape(conv(1, 1, 1, 1, 0, true), 1, 4, 4), pool(2, 2, 2), flatten()}, "maxpool2d padding 2 is more than half the kernel 2", 16, 0},
		{"pool with channels", Arch{withShape(conv(1, 1, 1, 1, 0, true), 1, 4, 4), {Kind: MaxPool2d, Kernel: 2, In: 1}, flatten()}, "maxpool2d layer has In or Out set", 16, 0},
		{"pool kernel too large", Arch{withShape(conv(1, 1, 1, 1, 0, true), 1, 3, 3), pool(4, 4, 0), flatten()}, "maxpool2d kernel 4 is larger than the padded input 3x3", 9, 0},
		{"global average pool", Arch{withShape(conv(1, 4, 3, 1, 1, true), 1, 5, 5), gap(), lin(4, 2, true)}, "", 25, 2},
		{"global average pool ends the net", Arch{withShape(conv(2, 4, 3, 1, 1, true), 2, 5, 5), gap()}, "", 50, 4},
		{"global average pool of flat rows", Arch{lin(3, 4, true), gap()}, "layer 1: globalavgpool2d layer gets flat rows of 4 values", 3, 4},
		{"global average pool with width", Arch{withShape(conv(1, 1, 1, 1, 0, true), 1, 2, 2), {Kind: GlobalAvgPool2d, Out: 1}}, "globalavgpool2d layer has In or Out set", 4, 0},
		{"flatten with width", Arch{withShape(conv(1, 1, 1, 1, 0, true), 1, 2, 2), {Kind: Flatten, Out: 4}}, "flatten layer has In or Out set", 4, 0},
		{"kernel on linear", Arch{{Kind: Linear, In: 3, Out: 2, Kernel: 3}}, "linear layer has a kernel, stride or padding", 3, 2},
		{"stride on bn", Arch{withShape(Layer{Kind: BatchNorm2d, In: 1, Stride: 2}, 1, 2, 2), flatten()}, "batchnorm2d layer has a kernel, stride or padding", 4, 0},
		{"activation on conv", Arch{withShape(Layer{Kind: Conv2d, In: 1, Out: 1, Kernel: 1, Activation: ReLU}, 1, 2, 2), flatten()}, "conv2d layer has activation", 4, 0},
		{"bias on pool", Arch{withShape(conv(1, 1, 1, 1, 0, true), 1, 2, 2), {Kind: MaxPool2d, Kernel: 1, Bias: true}, flatten()}, "maxpool2d layer has a bias", 4, 0},
		{"shape does not hold the width", Arch{lin(5, 15, true), withShape(conv(1, 2, 3, 1, 1, true), 1, 4, 4), flatten()}, "layer 1: input shape [1 4 4] holds 16 values, but rows of 15 reach it", 5, 15},
		{"shape does not match planes", Arch{withShape(conv(1, 2, 3, 1, 1, true), 1, 4, 4), withShape(bn(2), 2, 2, 8), flatten()}, "layer 1: input shape [2 2 8] does not match the shape [2 4 4] reaching it", 16, 0},
		{"zero in shape", Arch{withShape(conv(1, 2, 3, 1, 1, true), 1, 0, 4), flatten()}, "input shape [1 0 4] out of range", 0, 0},
		{"huge shape", Arch{withShape(conv(1, 2, 3, 1, 1, true), 1<<12, 1<<12, 2), flatten()}, "out of range", 1 << 25, 0},
		{"huge conv output", Arch{withShape(conv(1, 1<<10, 1, 1, 0, false), 1, 1<<8, 1<<8), flatten()}, "too large", 1 << 16, 0},
		{"unknown kind", Arch{withShape(Layer{Kind: 99}, 1, 2, 2), flatten()}, "layer 0: unknown layer kind LayerKind(99)", 4, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.arch.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			case err != nil && !strings.HasPrefix(err.Error(), "backend: "):
				t.Fatalf("error %q lacks the package prefix", err)
			}
			if got := tc.arch.InputWidth(); got != tc.in {
				t.Errorf("InputWidth() = %d, want %d", got, tc.in)
			}
			if got := tc.arch.OutputWidth(); err == nil && got != tc.out {
				t.Errorf("OutputWidth() = %d, want %d", got, tc.out)
			}
		})
	}

	if got := benchCNN().InputShape(); !slices.Equal(got, []int{1, 28, 28}) {
		t.Errorf("InputShape() = %v, want [1 28 28]", got)
	}
	if got := (Arch{lin(5, 3, true)}).InputShape(); !slices.Equal(got, []int{5}) {
		t.Errorf("InputShape() of an MLP = %v, want [5]", got)
	}
	if got := (Arch{act(ReLU)}).InputShape(); got != nil {
		t.Errorf("InputShape() without input = %v, want nil", got)
	}
	for k, want := range map[LayerKind]string{Conv2d: "conv2d", BatchNorm2d: "batchnorm2d", MaxPool2d: "maxpool2d", Flatten: "flatten"} {
		if k.String() != want {
			t.Errorf("%d.String() = %q, want %q", int(k), k.String(), want)
		}
	}
}

// TestInitCNN checks the state_dict names and shapes of the benchmark CNN
// (as PyTorch 1.13 lists them for the same nn.Sequential), the
// initialisation of each kind of tensor and its determinism.
func TestInitCNN(t *testing.T) {
	m := mustInit(t, benchCNN(), 5)
	want := []struct {
		name  string
		shape []int
	}{
		{"0.weight", []int{32, 1, 3, 3}}, {"0.bias", []int{32}},
		{"1.weight", []int{32}}, {"1.bias", []int{32}}, {"1.running_mean", []int{32}}, {"1.running_var", []int{32}}, {"1.num_batches_tracked", []int{}},
		{"4.weight", []int{64, 32, 3, 3}}, {"4.bias", []int{64}},
		{"5.weight", []int{64}}, {"5.bias", []int{64}}, {"5.running_mean", []int{64}}, {"5.running_var", []int{64}}, {"5.num_batches_tracked", []int{}},
		{"9.weight", []int{10, 3136}}, {"9.bias", []int{10}},
	}
	if len(m.Params) != len(want) {
		t.Fatalf("%d tensors, want %d", len(m.Params), len(want))
	}
	for i, p := range m.Params {
		if p.Name != want[i].name || !slices.Equal(p.Shape, want[i].shape) || len(p.Data) != numel(want[i].shape) {
			t.Errorf("tensor %d: %q %v with %d values, want %q %v", i, p.Name, p.Shape, len(p.Data), want[i].name, want[i].shape)
		}
	}
	fanIn := map[string]int{"0.weight": 9, "0.bias": 9, "4.weight": 288, "4.bias": 288, "9.weight": 3136, "9.bias": 3136}
	constant := map[string]float32{"1.weight": 1, "1.bias": 0, "1.running_mean": 0, "1.running_var": 1, "1.num_batches_tracked": 0,
		"5.weight": 1, "5.bias": 0, "5.running_mean": 0, "5.running_var": 1, "5.num_batches_tracked": 0}
	for _, p := range m.Params {
		if v, ok := constant[p.Name]; ok {
			for _, d := range p.Data {
				if d != v {
					t.Fatalf("%s holds %v, want all %v", p.Name, d, v)
				}
			}
			continue
		}
		bound := 1 / math.Sqrt(float64(fanIn[p.Name]))
		var sq, largest float64
		for _, v := range p.Data {
			if math.Abs(float64(v)) > bound*(1+1e-7) {
				t.Fatalf("%s: %v outside ±%v", p.Name, v, bound)
			}
			sq += float64(v) * float64(v)
			largest = math.Max(largest, math.Abs(float64(v)))
		}
		n := float64(len(p.Data))
		if n > 1000 && math.Abs(sq/n/(bound*bound/3)-1) > 0.05 {
			t.Errorf("%s: mean square %v, want about %v", p.Name, sq/n, bound*bound/3)
		}
		// The largest of n draws from U(-b, b) is below b(1 - 20/n) with
		// probability e^-20: this pins the bound closely.
		if n >= 100 && largest < bound*(1-20/n) {
			t.Errorf("%s: largest |value| %v, want close to the bound %v", p.Name, largest, bound)
		}
	}
	if err := m.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}

	again, other := mustInit(t, benchCNN(), 5), mustInit(t, benchCNN(), 6)
	for i := range m.Params {
		if !slices.Equal(m.Params[i].Data, again.Params[i].Data) {
			t.Errorf("%s differs between two Inits with seed 5", m.Params[i].Name)
		}
		if _, ok := constant[m.Params[i].Name]; !ok && slices.Equal(m.Params[i].Data, other.Params[i].Data) {
			t.Errorf("%s is equal for seeds 5 and 6", m.Params[i].Name)
		}
	}
	// The draws are in order, so an MLP's weights do not change when
	// convolutional layers exist elsewhere (and existing seeds keep their
	// weights).
	mlp := mustInit(t, Arch{lin(3136, 10, true)}, 5)
	if !slices.Equal(mlp.Params[0].Data[:5], mustInit(t, Arch{lin(3136, 10, true)}, 5).Params[0].Data[:5]) {
		t.Errorf("MLP init is not deterministic")
	}

	c := m.Clone()
	c.Params[6].Shape = []int{1}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `"1.num_batches_tracked" has shape [1], want []`) {
		t.Errorf("num_batches_tracked of shape [1]: %v", err)
	}
}

// cnnCases are small CNNs for the whole-network tests: every new layer
// kind, strides, paddings, pools with padding and overlap, BN first
// (not differentiated with respect to the input), activations on planes.
var cnnCases = []struct {
	name string
	arch Arch
	rows int
}{
	{"conv-bn-relu-pool-linear", Arch{withShape(conv(2, 3, 3, 1, 1, true), 2, 6, 5), bn(3), act(ReLU), pool(2, 2, 0), flatten(), lin(18, 4, true)}, 3},
	{"two convs, stride 2, tanh", Arch{withShape(conv(1, 3, 3, 2, 1, false), 1, 7, 7), act(Tanh), conv(3, 2, 2, 1, 0, true), bn(2), act(Sigmoid), flatten(), lin(18, 3, true)}, 4},
	{"bn first, pool padded and overlapping", Arch{withShape(bn(2), 2, 5, 5), conv(2, 2, 3, 1, 2, true), act(ReLU), pool(3, 2, 1), flatten(), lin(32, 3, false)}, 2},
	{"1x1 conv, relu before conv", Arch{withShape(act(ReLU), 3, 4, 4), conv(3, 2, 1, 1, 0, true), bn(2), act(ReLU), flatten(), lin(32, 2, true), act(Tanh), lin(2, 3, true)}, 3},
	{"linear into conv", Arch{lin(6, 16, true), withShape(conv(1, 2, 3, 1, 1, true), 1, 4, 4), pool(2, 0, 0), flatten()}, 5},
	{"relu then reshaping pool", Arch{lin(5, 16, true), act(ReLU), withShape(pool(2, 2, 0), 1, 4, 4), flatten(), lin(4, 3, true)}, 4},
	{"the SSL peer's CNN: three convs, global average pool, batch norm 1d", Arch{withShape(conv(1, 3, 3, 1, 1, true), 1, 8, 8), bn(3), act(ReLU), pool(2, 2, 0), conv(3, 4, 3, 1, 1, true), bn(4), act(ReLU), pool(2, 2, 0), conv(4, 5, 3, 1, 1, true), bn(5), act(ReLU), gap(), {Kind: BatchNorm1d, In: 5}, lin(5, 3, true)}, 3},
	{"average pool of a 1x1 plane", Arch{withShape(conv(2, 3, 2, 2, 0, true), 2, 2, 2), gap(), lin(3, 2, true)}, 3},
	{"one row", Arch{withShape(conv(1, 2, 3, 1, 1, true), 1, 4, 4), bn(2), act(ReLU), flatten(), lin(32, 3, true)}, 1},
}

// TestCNNGradients checks the gradients of whole training graphs of CNNs
// against central finite differences of the float64 reference loss, for
// every trained tensor (batch norm buffers are not trained).
func TestCNNGradients(t *testing.T) {
	for ci, tc := range cnnCases {
		t.Run(tc.name, func(t *testing.T) {
			m := mustInit(t, tc.arch, int64(ci))
			rng := rand.New(rand.NewPCG(uint64(ci), 17))
			x32, x64 := randRows(rng, tc.rows, tc.arch.InputWidth())
			y := randLabels(rng, tc.rows, tc.arch.OutputWidth())

			net, err := buildNetwork(m, tc.rows, netSpec{train: true})
			if err != nil {
				t.Fatal(err)
			}
			defer net.close()
			copy(net.x, x32)
			copy(net.y, labelsF32(y))
			if err := net.run(); err != nil {
				t.Fatal(err)
			}
			ref := toRef(m)
			loss := func() (float64, float64) {
				out, margin := ref.run(t, x64, tc.rows, true)
				return refCE(out, y, tc.arch.OutputWidth()), margin
			}
			want, margin := loss()
			if margin < 1e-3 {
				t.Fatalf("a ReLU input or pool runner-up is %g from its kink; pick other seeds", margin)
			}
			if !closeTo(net.ce.mean, want, 1e-6, 1e-5) {
				t.Errorf("loss = %v, reference %v", net.ce.mean, want)
			}
			// The trained tensors, in order: all but the BN buffers.
			var trained []int
			for k, p := range m.Params {
				if !strings.HasSuffix(p.Name, "running_mean") && !strings.HasSuffix(p.Name, "running_var") && !strings.HasSuffix(p.Name, "num_batches_tracked") {
					trained = append(trained, k)
				}
			}
			if len(net.vgs) != len(trained) {
				t.Fatalf("%d gradients for %d trained tensors", len(net.vgs), len(trained))
			}
			const eps = 1e-6
			for vi, k := range trained {
				gv, err := net.vgs[vi].Grad()
				if err != nil {
					t.Fatalf("%s: %v", m.Params[k].Name, err)
				}
				gt, err := dense(gv, -1)
				if err != nil {
					t.Fatal(err)
				}
				got := gt.Float32s()
				if len(got) != len(ref.params[k]) {
					t.Fatalf("%s: %d gradient values for %d weights", m.Params[k].Name, len(got), len(ref.params[k]))
				}
				for j := range ref.params[k] {
					p := ref.params[k][j]
					ref.params[k][j] = p + eps
					lp, _ := loss()
					ref.params[k][j] = p - eps
					lm, _ := loss()
					ref.params[k][j] = p
					fd := (lp - lm) / (2 * eps)
					if !closeTo(float64(got[j]), fd, 2e-6, 1e-4) {
						t.Errorf("%s[%d]: gradient %v, finite difference %v", m.Params[k].Name, j, got[j], fd)
					}
				}
			}
		})
	}
}

// TestCNNPredict checks Predict (eval mode: batch norms use the running
// statistics) against the float64 reference, for several batch sizes.
func TestCNNPredict(t *testing.T) {
	for ci, tc := range cnnCases {
		t.Run(tc.name, func(t *testing.T) {
			m := mustInit(t, tc.arch, int64(ci))
			rng := rand.New(rand.NewPCG(uint64(ci), 23))
			for _, p := range m.Params { // non-trivial running statistics
				switch {
				case strings.HasSuffix(p.Name, "running_mean"):
					for i := range p.Data {
						p.Data[i] = float32(rng.NormFloat64() * 0.3)
					}
				case strings.HasSuffix(p.Name, "running_var"):
					for i := range p.Data {
						p.Data[i] = float32(0.3 + rng.Float64())
					}
				}
			}
			const n = 7
			x, x64 := randRows(rng, n, tc.arch.InputWidth())
			want, _ := toRef(m).run(t, x64, n, false)
			for _, batch := range []int{1, 3, 7, 100} {
				got, err := Predict(context.Background(), m, x, n, batch)
				if err != nil {
					t.Fatalf("batch %d: %v", batch, err)
				}
				checkClose(t, "logits", got, want, 1e-5, 1e-5)
			}
		})
	}
}

// TestBatchNormRunningStats checks that training steps update the
// running statistics exactly as PyTorch's BatchNorm2d does (momentum 0.1,
// unbiased variance), only after successful steps, and that Predict then
// uses them.
func TestBatchNormRunningStats(t *testing.T) {
	ctx := context.Background()
	// By hand: one row [1, 2, 3, 4] of one 2×2 channel has mean 2.5,
	// biased variance 1.25 and unbiased variance 5/3, so after one step
	// running_mean = 0.9·0 + 0.1·2.5 = 0.25 and running_var =
	// 0.9·1 + 0.1·5/3 = 1.0666667.
	arch := Arch{withShape(bn(1), 1, 2, 2), flatten(), lin(4, 2, true)}
	m := mustInit(t, arch, 1)
	tr, err := NewTrainer(m, Optimizer{Name: SGD, LR: 0.1}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.Step(ctx, []float32{1, 2, 3, 4}, []int32{1}); err != nil {
		t.Fatal(err)
	}
	tr.Close()
	if rm, rv, nb := m.Params[2].Data[0], m.Params[3].Data[0], m.Params[4].Data[0]; rm != 0.25 || !closeTo(float64(rv), 0.9+0.1*5.0/3, 0, 1e-7) || nb != 1 {
		t.Errorf("after one step: running_mean %v, running_var %v, num_batches_tracked %v; want 0.25, 1.0666667, 1", rm, rv, nb)
	}

	// Several steps with full and partial batches (the trainer's two
	// graphs), BN first so that its inputs are the data: the statistics
	// follow the float64 recurrence.
	const c, h, w, batch = 2, 3, 3, 4
	arch = Arch{withShape(bn(c), c, h, w), flatten(), lin(c*h*w, 3, true)}
	m = mustInit(t, arch, 2)
	tr, err = NewTrainer(m, Optimizer{Name: SGD, LR: 0.05, Momentum: 0.9}, batch)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(3, 3))
	rm, rv := []float64{0, 0}, []float64{1, 1}
	for step, n := range []int{4, 2, 4, 3} {
		x, x64 := randRows(rng, n, c*h*w)
		for i := range x { // per-channel offsets and scales
			ch := (i / (h * w)) % c
			x[i] = x[i]*float32(1+ch) + float32(3*ch-1)
			x64[i] = float64(x[i])
		}
		if _, err := tr.Step(ctx, x, randLabels(rng, n, 3)); err != nil {
			t.Fatal(err)
		}
		_, bm, bv := refBatchNorm(x64, []float64{1, 1}, []float64{0, 0}, nil, nil, n, c, h*w)
		cnt := float64(n * h * w)
		for ch := range rm {
			rm[ch] = 0.9*rm[ch] + 0.1*bm[ch]
			rv[ch] = 0.9*rv[ch] + 0.1*bv[ch]*cnt/(cnt-1)
		}
		checkClose(t, "running_mean", m.Params[2].Data, rm, 1e-6, 1e-6)
		checkClose(t, "running_var", m.Params[3].Data, rv, 1e-6, 1e-6)
		if nb := m.Params[4].Data[0]; nb != float32(step+1) {
			t.Errorf("step %d: num_batches_tracked %v", step, nb)
		}
	}

	// A failed step leaves the statistics alone.
	before := m.Clone()
	x := make([]float32, batch*c*h*w)
	x[5] = float32(math.NaN())
	if _, err := tr.Step(ctx, x, []int32{0, 1, 2, 0}); !errors.Is(err, ErrNonFinite) {
		t.Fatalf("NaN step: %v", err)
	}
	for i := range m.Params {
		if !slices.Equal(m.Params[i].Data, before.Params[i].Data) {
			t.Errorf("%s changed in a failed step", m.Params[i].Name)
		}
	}

	// Predict normalises with the running statistics: a row's logits do
	// not depend on the other rows, and match the eval-mode reference.
	xs, x64 := randRows(rng, 5, c*h*w)
	want, _ := toRef(m).run(t, x64, 5, false)
	got, err := Predict(ctx, m, xs, 5, 5)
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "eval logits", got, want, 1e-5, 1e-5)
	one, err := Predict(ctx, m, xs[:c*h*w], 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "one row", one, want[:3], 1e-5, 1e-5)
	trainMode, _ := toRef(m).run(t, x64, 5, true)
	if closeTo(float64(got[0]), trainMode[0], 1e-3, 0) {
		t.Errorf("Predict's logits %v match batch statistics (%v)", got[0], trainMode[0])
	}
}

// images returns n 1×8×8 images in 4 classes: a bright 3×3 blob in one of
// the four quadrants (the class) at a random place inside it, on noise.
func images(seed uint64, n int) ([]float32, []int32) {
	rng := rand.New(rand.NewPCG(seed, 31))
	x := make([]float32, n*64)
	y := make([]int32, n)
	for i := range y {
		k := rng.IntN(4)
		y[i] = int32(k)
		img := x[i*64 : (i+1)*64]
		for j := range img {
			img[j] = float32(0.3 * rng.NormFloat64())
		}
		oy, ox := 4*(k/2)+rng.IntN(2), 4*(k%2)+rng.IntN(2)
		for dy := range 3 {
			for dx := range 3 {
				if oy+dy < 8 && ox+dx < 8 {
					img[(oy+dy)*8+ox+dx] += 1.5
				}
			}
		}
	}
	return x, y
}

// TestTrainCNN trains a small CNN on a separable image problem: the loss
// falls and the test accuracy (Predict, eval mode) becomes high.
func TestTrainCNN(t *testing.T) {
	x, y := images(1, 256)
	xTest, yTest := images(2, 200)
	arch := Arch{withShape(conv(1, 4, 3, 1, 1, true), 1, 8, 8), bn(4), act(ReLU), pool(2, 2, 0), flatten(), lin(64, 4, true)}
	m := mustInit(t, arch, 3)
	tr, err := NewTrainer(m, Optimizer{Name: Adam, LR: 1e-2}, 32)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	losses := train(t, tr, x, y, 32, 8)
	if first, last := losses[0], losses[len(losses)-1]; !(last < first/4) {
		t.Errorf("mean loss went from %v to %v, want a fall by 4x", first, last)
	}
	out, err := Predict(context.Background(), m, xTest, len(yTest), 64)
	if err != nil {
		t.Fatal(err)
	}
	if acc := accuracy(out, yTest, 4); acc < 0.95 {
		t.Errorf("test accuracy %v, want >= 0.95 (losses %v)", acc, losses)
	}
	if nb := m.Params[6].Data[0]; nb != 64 {
		t.Errorf("num_batches_tracked = %v after 64 steps", nb)
	}
}

// TestCNNStepAllocations checks that a CNN step allocates only the
// TapeMachine's bookkeeping: no buffer is reallocated from step to step.
func TestCNNStepAllocations(t *testing.T) {
	// One processor: the ops that split work over goroutines then run it
	// on the caller's, so the count holds no goroutine bookkeeping, whose
	// size depends on the scheduler (and the load of the machine).
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	batches := []int{1, 32}
	if CurrentBLAS().Name != BLASOpenBLAS {
		// gonum's pure-Go sgemm allocates its own bookkeeping when it
		// splits a product into blocks, as it does for the convolutions'
		// chunk products of a batch of 32; a batch of one stays serial.
		batches = batches[:1]
	}
	for _, batch := range batches {
		arch := Arch{withShape(conv(1, 8, 3, 1, 1, true), 1, 12, 12), bn(8), act(ReLU), pool(2, 2, 0), conv(8, 8, 3, 2, 1, false), bn(8), act(ReLU), flatten(), lin(72, 10, true)}
		m := mustInit(t, arch, 1)
		tr, err := NewTrainer(m, Optimizer{Name: Adam, LR: 1e-3}, batch)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(4, 4))
		x, _ := randRows(rng, batch, 144)
		y := randLabels(rng, batch, 10)
		ctx := context.Background()
		for range 3 {
			if _, err := tr.Step(ctx, x, y); err != nil {
				t.Fatal(err)
			}
		}
		const steps = 20
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range steps {
			if _, err := tr.Step(ctx, x, y); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		tr.Close()
		// The activations of a batch of 32 are 9-18 KB, the column
		// buffers 5 KB; the bookkeeping of the ~40 instructions is a few KB.
		perStep := (after.TotalAlloc - before.TotalAlloc) / steps
		t.Logf("batch %d: %d bytes per step", batch, perStep)
		if perStep > 8<<10 {
			t.Errorf("batch %d: a step allocates %d bytes, want at most 8 KB", batch, perStep)
		}
	}
}

// TestCNNParallelMatchesSerial checks that the ops that split their work
// over goroutines (convolutions, batch norms, pooling) give the same bits
// with one processor as with several: a training graph of a CNN large
// enough to be split gives the same loss and gradients at GOMAXPROCS 1
// and at GOMAXPROCS 4.
func TestCNNParallelMatchesSerial(t *testing.T) {
	arch := Arch{
		withShape(conv(2, 8, 3, 1, 1, true), 2, 24, 24), bn(8), act(ReLU), pool(2, 2, 0),
		conv(8, 12, 3, 1, 1, true), bn(12), act(ReLU), pool(3, 2, 1), conv(12, 16, 3, 1, 1, false), bn(16), act(ReLU), gap(),
		lin(16, 5, true),
	}
	const rows = 16
	if rows*8*24*24 < 2*parallelMin {
		t.Fatal("too small to be split")
	}
	run := func(procs int) (float64, [][]float32) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		m := mustInit(t, arch, 3)
		net, err := buildNetwork(m, rows, netSpec{train: true})
		if err != nil {
			t.Fatal(err)
		}
		defer net.close()
		rng := rand.New(rand.NewPCG(5, 5))
		x32, _ := randRows(rng, rows, arch.InputWidth())
		copy(net.x, x32)
		copy(net.y, labelsF32(randLabels(rng, rows, 5)))
		if err := net.run(); err != nil {
			t.Fatal(err)
		}
		return net.ce.mean, weightGrads(t, net)
	}
	loss1, grads1 := run(1)
	loss4, grads4 := run(4)
	if loss1 != loss4 {
		t.Errorf("loss %v at one processor, %v at four", loss1, loss4)
	}
	for i := range grads1 {
		if !slices.Equal(grads1[i], grads4[i]) {
			t.Errorf("gradient %d differs between one processor and four", i)
		}
	}
}
