package backend

import (
	"context"
	"math/rand/v2"
	"testing"

	"gorgonia.org/tensor"
)

// benchCNN is the CNN of the benchmark against PyTorch, as an
// nn.Sequential(Conv2d(1, 32, 3, padding=1), BatchNorm2d(32), ReLU(),
// MaxPool2d(2), Conv2d(32, 64, 3, padding=1), BatchNorm2d(64), ReLU(),
// MaxPool2d(2), Flatten(), Linear(3136, 10)) on 1×28×28 inputs.
func benchCNN() Arch {
	return Arch{
		{Kind: Conv2d, In: 1, Out: 32, Kernel: 3, Padding: 1, Bias: true, InShape: [3]int{1, 28, 28}},
		{Kind: BatchNorm2d, In: 32},
		{Kind: Activation, Activation: ReLU},
		{Kind: MaxPool2d, Kernel: 2},
		{Kind: Conv2d, In: 32, Out: 64, Kernel: 3, Padding: 1, Bias: true},
		{Kind: BatchNorm2d, In: 64},
		{Kind: Activation, Activation: ReLU},
		{Kind: MaxPool2d, Kernel: 2},
		{Kind: Flatten},
		{Kind: Linear, In: 3136, Out: 10, Bias: true},
	}
}

// BenchmarkCNNStep times one SGD training step of benchCNN on batches of
// 128 and reports ms/step. MLPIPE_BLAS=openblas selects OpenBLAS.
func BenchmarkCNNStep(b *testing.B) {
	useBLASFromEnv(b)
	const batch = 128
	m := mustInit(b, benchCNN(), 0)
	tr, err := NewTrainer(m, Optimizer{Name: SGD, LR: 0.01}, batch)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, batch*784)
	for i := range x {
		x[i] = rng.Float32()
	}
	y := randLabels(rng, batch, 10)
	ctx := context.Background()
	for range 2 {
		if _, err := tr.Step(ctx, x, y); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := tr.Step(ctx, x, y); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/step")
}

// BenchmarkCNNOps times each op of benchCNN's step on its own (batch
// 128), for tuning.
func BenchmarkCNNOps(b *testing.B) {
	useBLASFromEnv(b)
	rng := rand.New(rand.NewPCG(1, 1))
	const n = 128
	for _, cfg := range []struct {
		name string
		g    convGeom
	}{
		{"conv1", convGeom{window{c: 1, h: 28, w: 28, k: 3, s: 1, p: 1, oh: 28, ow: 28}, 32}},
		{"conv2", convGeom{window{c: 32, h: 14, w: 14, k: 3, s: 1, p: 1, oh: 14, ow: 14}, 64}},
	} {
		g := cfg.g
		ids := new(idSource)
		x := randDense(rng, n, g.inWidth())
		w := randDense(rng, g.out, g.kdim())
		bias := randDense(rng, g.out)
		dy := randDense(rng, n, g.outWidth())
		conv := newConv2dOp(ids, g, true, true)
		b.Run(cfg.name+"/fwd", func(b *testing.B) {
			for b.Loop() {
				conv.Do(x, w, bias)
			}
		})
		fg := &convFilterGradOp{opID: ids.next("f"), g: g}
		b.Run(cfg.name+"/dw", func(b *testing.B) {
			for b.Loop() {
				fg.Do(x, dy)
			}
		})
		ig := &convInputGradOp{opID: ids.next("i"), g: g}
		b.Run(cfg.name+"/dx", func(b *testing.B) {
			for b.Loop() {
				ig.Do(w, dy)
			}
		})
		cs := &channelSumOp{opID: ids.next("c"), c: g.out, plane: g.outPlane()}
		b.Run(cfg.name+"/db", func(b *testing.B) {
			for b.Loop() {
				cs.Do(dy)
			}
		})
		y := randDense(rng, n, g.outWidth())
		gamma, beta := randDense(rng, g.out), randDense(rng, g.out)
		bn := newBatchNormOp(ids, g.out, g.outPlane(), true)
		b.Run(cfg.name+"/bn", func(b *testing.B) {
			for b.Loop() {
				bn.Do(y, gamma, beta)
			}
		})
		pg := &bnParamGradOp{opID: ids.next("pg"), fwd: bn}
		b.Run(cfg.name+"/bn-dgamma", func(b *testing.B) {
			for b.Loop() {
				pg.Do(y, dy)
			}
		})
		dg, _ := pg.Do(y, dy)
		bx := &bnInputGradOp{opID: ids.next("bx"), pg: pg}
		b.Run(cfg.name+"/bn-dx", func(b *testing.B) {
			for b.Loop() {
				bx.Do(y, dy, gamma, dg)
			}
		})
		act := newActivationOp(ids, ReLU)
		b.Run(cfg.name+"/relu", func(b *testing.B) {
			for b.Loop() {
				act.Do(y)
			}
		})
		pw, _ := newWindow(shape{g.out, g.oh, g.ow}, 2, 0, 0, 2)
		pool := newMaxPoolOp(ids, pw, true)
		b.Run(cfg.name+"/pool", func(b *testing.B) {
			for b.Loop() {
				pool.Do(y)
			}
		})
		pout, _ := pool.Do(y)
		pd := randDense(rng, n, g.out*pw.outPlane())
		pgo := &maxPoolGradOp{opID: ids.next("pg"), fwd: pool}
		b.Run(cfg.name+"/pool-grad", func(b *testing.B) {
			for b.Loop() {
				pgo.Do(pout, pd)
			}
		})
	}
}

// randDense returns a tensor of the given shape with standard normal
// values.
func randDense(rng *rand.Rand, shape ...int) *tensor.Dense {
	d := make([]float32, numel(shape))
	for i := range d {
		d[i] = float32(rng.NormFloat64())
	}
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(d))
}

// sslCNN is the CNN encoder of ../shared/bench/torch_ssl_peer.py with its
// projector (128 -> 512 -> 64).
func sslCNN() Arch {
	conv := func(in, out int) Layer {
		return Layer{Kind: Conv2d, In: in, Out: out, Kernel: 3, Padding: 1, Bias: true}
	}
	first := conv(1, 32)
	first.InShape = [3]int{1, 28, 28}
	relu := Layer{Kind: Activation, Activation: ReLU}
	return Arch{
		first, {Kind: BatchNorm2d, In: 32}, relu, {Kind: MaxPool2d, Kernel: 2},
		conv(32, 64), {Kind: BatchNorm2d, In: 64}, relu, {Kind: MaxPool2d, Kernel: 2},
		conv(64, 128), {Kind: BatchNorm2d, In: 128}, relu, {Kind: GlobalAvgPool2d},
		{Kind: Linear, In: 128, Out: 512, Bias: true}, {Kind: BatchNorm1d, In: 512}, relu,
		{Kind: Linear, In: 512, Out: 64, Bias: true},
	}
}

// BenchmarkCNNSSLStep times one Adam step of Barlow Twins on sslCNN with
// two views of 256 images, as pretrain runs it. MLPIPE_BLAS=openblas
// selects OpenBLAS.
func BenchmarkCNNSSLStep(b *testing.B) {
	useBLASFromEnv(b)
	const batch = 256
	m := mustInit(b, sslCNN(), 0)
	loss := SSLLoss{Kind: SSLBarlowTwins, Views: 2, MultiView: SSLPairs, Lambda: 0.005, Standardize: SSLStandardizeStd, Eps: 1e-6}
	tr, err := NewSSLTrainer(m, Optimizer{Name: Adam, LR: 1e-3}, batch, loss)
	if err != nil {
		b.Fatal(err)
	}
	defer tr.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 2*batch*784)
	for i := range x {
		x[i] = rng.Float32()
	}
	ctx := context.Background()
	for range 2 {
		if _, err := tr.StepViews(ctx, x, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := tr.StepViews(ctx, x, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/step")
}
