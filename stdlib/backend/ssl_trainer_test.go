package backend

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// sslArch is a small encoder | projector with batch norms on flat rows.
var sslArch = Arch{
	{Kind: Linear, In: 6, Out: 5, Bias: true},
	{Kind: BatchNorm1d, In: 5},
	{Kind: Activation, Activation: Tanh},
	{Kind: Linear, In: 5, Out: 3, Bias: true},
}

// sslCNNArch is a small convolutional encoder (batch norms over planes,
// global average pooling) | projector. It downsamples with a strided
// convolution, not max pooling: the finite differences here take steps
// of 1e-2, which move pooled maxima across ties (TestCNNGradients checks
// max pooling with margins).
var sslCNNArch = Arch{
	{Kind: Conv2d, In: 1, Out: 3, Kernel: 3, Padding: 1, Bias: true, InShape: [3]int{1, 6, 6}},
	{Kind: BatchNorm2d, In: 3},
	{Kind: Activation, Activation: Tanh},
	{Kind: Conv2d, In: 3, Out: 4, Kernel: 3, Stride: 2, Padding: 1, Bias: true},
	{Kind: BatchNorm2d, In: 4},
	{Kind: Activation, Activation: Tanh},
	{Kind: GlobalAvgPool2d},
	{Kind: Linear, In: 4, Out: 5, Bias: true},
	{Kind: BatchNorm1d, In: 5},
	{Kind: Activation, Activation: Tanh},
	{Kind: Linear, In: 5, Out: 3, Bias: true},
}

// weightGrads returns copies of the weight gradients of a training graph's
// last run, in net.vgs order.
func weightGrads(t *testing.T, net *network) [][]float32 {
	t.Helper()
	grads := make([][]float32, len(net.vgs))
	for i, vg := range net.vgs {
		g, err := vg.Grad()
		if err != nil {
			t.Fatal(err)
		}
		d, err := dense(g, -1)
		if err != nil {
			t.Fatal(err)
		}
		grads[i] = slices.Clone(d.Float32s())
	}
	return grads
}

// TestSSLTrainerGradients checks the weight gradients of the whole
// self-supervised graph (grouped batch norms and the loss op) against
// central finite differences of its own loss, recomputed after moving
// one weight at a time, for both losses and for two and three views, on
// an MLP and on a CNN.
func TestSSLTrainerGradients(t *testing.T) {
	for _, arch := range []struct {
		name string
		arch Arch
	}{{"mlp", sslArch}, {"cnn", sslCNNArch}} {
		t.Run(arch.name, func(t *testing.T) { testSSLTrainerGradients(t, arch.arch) })
	}
}

func testSSLTrainerGradients(t *testing.T, arch Arch) {
	losses := []SSLLoss{
		{Kind: SSLBarlowTwins, Views: 2, Lambda: 0.1, Standardize: SSLStandardizeStd, Eps: 1e-6},
		{Kind: SSLBarlowTwins, Views: 3, MultiView: SSLMean, Lambda: 0.05, Standardize: SSLStandardizeJoint},
		{Kind: SSLVICReg, Views: 2, Sim: 25, Var: 25, Cov: 1, Gamma: 1, VarEps: 1e-4},
		{Kind: SSLVICReg, Views: 3, Sim: 25, Var: 25, Cov: 1, Gamma: 1, VarEps: 1e-4},
	}
	for _, loss := range losses {
		t.Run(fmt.Sprintf("%s/%d/%s", loss.Kind, loss.Views, loss.MultiView), func(t *testing.T) {
			const rows = 12
			m, err := Init(arch, 3)
			if err != nil {
				t.Fatal(err)
			}
			net, err := buildNetwork(m, rows*loss.Views, netSpec{train: true, groups: loss.Views, ssl: &loss})
			if err != nil {
				t.Fatal(err)
			}
			defer net.close()
			rng := rand.New(rand.NewPCG(7, 7))
			for i := range net.x {
				net.x[i] = float32(rng.NormFloat64())
			}
			if err := net.run(); err != nil {
				t.Fatal(err)
			}
			grads := weightGrads(t, net)
			lossAt := func() float64 {
				if err := net.run(); err != nil {
					t.Fatal(err)
				}
				return net.loss()
			}
			// The trained tensors, in the order of net.vgs.
			var trained []Tensor
			for i, s := range arch.params() {
				if !s.buffer {
					trained = append(trained, m.Params[i])
				}
			}
			const h = 1e-2
			checked := 0
			for i, p := range trained {
				for j := 0; j < len(p.Data); j += 2 {
					w := p.Data[j]
					p.Data[j] = w + h
					up := lossAt()
					p.Data[j] = w - h
					down := lossAt()
					p.Data[j] = w
					fd := (up - down) / (2 * h)
					if g := float64(grads[i][j]); math.Abs(g-fd) > 2e-3+2e-2*math.Abs(fd) {
						t.Errorf("%s[%d]: gradient %.6g, finite difference %.6g", p.Name, j, g, fd)
					}
					checked++
				}
			}
			if checked < 20 {
				t.Fatalf("only %d coordinates checked", checked)
			}
		})
	}
}

// TestSSLTrainerViewsKeepTheirStatistics checks that each view is
// normalised by the batch norms on its own, as separate forward passes
// would be: shifting the inputs of one view by a constant vector (which
// shifts the first layer's outputs of that view by a constant) leaves the
// loss unchanged, and one step of two views counts two batch-norm updates.
// It also checks the trainer's argument errors.
func TestSSLTrainerViewsKeepTheirStatistics(t *testing.T) {
	loss := SSLLoss{Kind: SSLBarlowTwins, Views: 2, Lambda: 0.1, Standardize: SSLStandardizeStd, Eps: 1e-6}
	m, err := Init(sslArch, 5)
	if err != nil {
		t.Fatal(err)
	}
	const rows = 10
	x := make([]float32, 2*rows*6)
	rng := rand.New(rand.NewPCG(1, 1))
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	run := func(x []float32) float64 {
		net, err := buildNetwork(m.Clone(), 2*rows, netSpec{train: true, groups: 2, ssl: &loss})
		if err != nil {
			t.Fatal(err)
		}
		defer net.close()
		copy(net.x, x)
		if err := net.run(); err != nil {
			t.Fatal(err)
		}
		return net.loss()
	}
	base := run(x)
	// x + v for a fixed v moves view 1's first-layer outputs by W·v, a
	// constant the view's own batch statistics remove entirely.
	shifted := slices.Clone(x)
	for r := rows; r < 2*rows; r++ {
		for j := 0; j < 6; j++ {
			shifted[r*6+j] += float32(j+1) * 0.7
		}
	}
	if got := run(shifted); math.Abs(got-base) > 1e-4*math.Abs(base)+1e-5 {
		t.Errorf("a constant shift of one view changed the loss from %v to %v: the views share batch statistics", base, got)
	}

	tr, err := NewSSLTrainer(m, Optimizer{Name: SGD, LR: 0.01}, rows, loss)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.StepViews(context.Background(), x, rows); err != nil {
		t.Fatal(err)
	}
	if p := m.Params[6]; p.Name != "1.num_batches_tracked" || p.Data[0] != 2 {
		t.Errorf("%s = %v after one step of two views, want 1.num_batches_tracked = 2", p.Name, p.Data[0])
	}
	if _, err := tr.Step(context.Background(), x[:6], []int32{0}); err == nil || !strings.Contains(err.Error(), "views") {
		t.Errorf("Step on a self-supervised trainer: error %v", err)
	}
	if _, err := tr.StepViews(context.Background(), x[:6*rows], rows); err == nil {
		t.Error("StepViews with one view's rows accepted")
	}
	if _, err := NewSSLTrainer(m, Optimizer{Name: SGD, LR: 0.01}, 1, loss); err == nil {
		t.Error("a batch of 1 sample accepted")
	}
}
