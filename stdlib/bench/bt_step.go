package bench

import (
	"context"
	"math/rand/v2"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// btStep is one Adam step of Barlow Twins on two fixed synthetic views:
// the step of torch/bt_step.py, with the model and loss of the MLP
// encoder of ../shared/bench/torch_ssl_peer.py.
func btStep() Workload {
	return Workload{
		Name: "bt_step",
		Doc: "One Adam step (lr 1e-3) of Barlow Twins (the peer's bt(): per-view std standardisation, " +
			"eps 1e-6, lambda 0.005) on encoder linear(784->512)-BN1d-ReLU-linear(512->256)-BN1d-ReLU and " +
			"projector linear(256->512)-BN1d-ReLU-linear(512->64), all with bias, float32, on two fixed " +
			"synthetic views of 256 images (no augmentation): backend.Trainer.StepViews (each view's batch " +
			"norms use their own batch statistics) against zero_grad + two forward passes + bt() + " +
			"backward + optimizer.step. GFLOP/s counts the linear layers' matrix products over the " +
			"2x256 rows only (not batch norm nor the loss's 64x64 products).",
		Kind:   PerStep,
		Steps:  100,
		Warmup: 10,
		Run:    func(ctx context.Context, opts Options) (Result, error) { return runBTStep(ctx, opts, btStep(), btArch) },
		Twin:   "bt_step.py",
		Show:   []Figure{{Key: "gflops", Label: "GFLOP/s", Format: "%.1f", PercentOf: "sgemm_peak"}},
	}
}

// cnnBTStep is one Adam step of Barlow Twins with the CNN encoder of
// ../shared/bench/torch_ssl_peer.py: the step of torch/cnn_bt_step.py.
func cnnBTStep() Workload {
	return Workload{
		Name: "cnn_bt_step",
		Doc: "One Adam step (lr 1e-3) of Barlow Twins (as bt_step) on the peer's CNN encoder " +
			"conv(1->32)-BN2d-ReLU-maxpool2-conv(32->64)-BN2d-ReLU-maxpool2-conv(64->128)-BN2d-ReLU-global average pool " +
			"(3x3 kernels, padding 1) and projector linear(128->512)-BN1d-ReLU-linear(512->64), float32, on two fixed " +
			"synthetic views of 256 1x28x28 images: backend.Trainer.StepViews against zero_grad + two forward passes + " +
			"bt() + backward + optimizer.step.",
		Kind:   PerStep,
		Steps:  10,
		Warmup: 2,
		Run: func(ctx context.Context, opts Options) (Result, error) {
			return runBTStep(ctx, opts, cnnBTStep(), cnnBTArch)
		},
		Twin: "cnn_bt_step.py",
	}
}

// cnnBTArch returns cnn_bt_step's encoder and projector (or their tiny
// instance), its samples per view and its input width.
func cnnBTArch(tiny bool) (arch backend.Arch, batch, in int) {
	batch, side, c1, c2, c3, h2, proj := 256, 28, 32, 64, 128, 512, 64
	if tiny {
		batch, side, c1, c2, c3, h2, proj = 8, 8, 2, 3, 4, 6, 4
	}
	relu := backend.Layer{Kind: backend.Activation, Activation: backend.ReLU}
	conv := func(in, out int) backend.Layer {
		return backend.Layer{Kind: backend.Conv2d, In: in, Out: out, Kernel: 3, Padding: 1, Bias: true}
	}
	pool := backend.Layer{Kind: backend.MaxPool2d, Kernel: 2}
	first := conv(1, c1)
	first.InShape = [3]int{1, side, side}
	arch = backend.Arch{
		// encoder
		first, {Kind: backend.BatchNorm2d, In: c1}, relu, pool,
		conv(c1, c2), {Kind: backend.BatchNorm2d, In: c2}, relu, pool,
		conv(c2, c3), {Kind: backend.BatchNorm2d, In: c3}, relu, {Kind: backend.GlobalAvgPool2d},
		// projector
		{Kind: backend.Linear, In: c3, Out: h2, Bias: true},
		{Kind: backend.BatchNorm1d, In: h2},
		relu,
		{Kind: backend.Linear, In: h2, Out: proj, Bias: true},
	}
	return arch, batch, side * side
}

// btViews is the number of views of bt_step.
const btViews = 2

// btArch returns bt_step's encoder and projector (or their tiny
// instance), its samples per view and its input width.
func btArch(tiny bool) (arch backend.Arch, batch, in int) {
	batch, in, h1, feat, h2, proj := 256, 784, 512, 256, 512, 64
	if tiny {
		batch, in, h1, feat, h2, proj = 8, 12, 16, 8, 16, 4
	}
	relu := backend.Layer{Kind: backend.Activation, Activation: backend.ReLU}
	arch = backend.Arch{
		// encoder
		{Kind: backend.Linear, In: in, Out: h1, Bias: true},
		{Kind: backend.BatchNorm1d, In: h1},
		relu,
		{Kind: backend.Linear, In: h1, Out: feat, Bias: true},
		{Kind: backend.BatchNorm1d, In: feat},
		relu,
		// projector
		{Kind: backend.Linear, In: feat, Out: h2, Bias: true},
		{Kind: backend.BatchNorm1d, In: h2},
		relu,
		{Kind: backend.Linear, In: h2, Out: proj, Bias: true},
	}
	return arch, batch, in
}

// linearFLOPs is TrainFLOPs of the linear layers of arch alone (TrainFLOPs
// has no count for batch norms), on rows rows.
func linearFLOPs(arch backend.Arch, rows int) (float64, error) {
	var lin backend.Arch
	for _, l := range arch {
		if l.Kind == backend.Linear {
			lin = append(lin, l)
		}
	}
	return TrainFLOPs(lin, rows)
}

// runBTStep times Barlow Twins steps of workload w on the architecture
// of archOf; GFLOP/s are reported for MLPs only.
func runBTStep(ctx context.Context, opts Options, w Workload, archOf func(tiny bool) (backend.Arch, int, int)) (Result, error) {
	steps, warmup := opts.steps(w)
	arch, batch, in := archOf(opts.Tiny)
	var flops float64
	if arch[0].Kind == backend.Linear {
		var err error
		if flops, err = linearFLOPs(arch, btViews*batch); err != nil {
			return Result{}, err
		}
	}
	model, err := backend.Init(arch, 0)
	if err != nil {
		return Result{}, err
	}
	loss := backend.SSLLoss{
		Kind:        backend.SSLBarlowTwins,
		Views:       btViews,
		MultiView:   backend.SSLPairs,
		Lambda:      0.005,
		Standardize: backend.SSLStandardizeStd,
		Eps:         1e-6,
	}
	tr, err := backend.NewSSLTrainer(model, backend.Optimizer{Name: backend.Adam, LR: 1e-3}, batch, loss)
	if err != nil {
		return Result{}, err
	}
	defer tr.Close()

	// Two different fixed batches, uniform in [0, 1) (seed 0, as
	// torch.rand in the twin, though not the same numbers): view 0's
	// rows, then view 1's.
	rng := rand.New(rand.NewPCG(0, 0))
	x := make([]float32, btViews*batch*in)
	for i := range x {
		x[i] = rng.Float32()
	}
	losses := make([]float64, 0, warmup+steps)
	times, err := TimeSteps(ctx, warmup, steps, func() error {
		l, err := tr.StepViews(ctx, x, batch)
		losses = append(losses, l)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	res := StepResult(times)
	res.Extra = map[string]float64{
		"loss_first": losses[0],
		"loss_last":  losses[len(losses)-1],
	}
	if flops > 0 {
		res.Extra["gflops"] = flops / res.MsPerStep / 1e6
		res.Extra["flops_per_step"] = flops
	}
	return res, nil
}
