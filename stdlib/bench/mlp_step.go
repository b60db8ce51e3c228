package bench

import (
	"context"
	"math/rand/v2"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// mlpStep is one SGD training step of an MLP on a fixed synthetic batch:
// the step of torch/mlp_step.py.
func mlpStep() Workload {
	return Workload{
		Name: "mlp_step",
		Doc: "One SGD step (lr 0.01) of an MLP 784 -> 512 -> 512 -> 10 (no bias, ReLU, mean softmax " +
			"cross-entropy, float32) on a fixed synthetic batch of 256: backend.Trainer.Step against " +
			"zero_grad + forward + backward + optimizer.step. GFLOP/s counts the step's matrix products.",
		Kind:   PerStep,
		Steps:  200,
		Warmup: 20,
		Run:    runMLPStep,
		Twin:   "mlp_step.py",
		Show:   []Figure{{Key: "gflops", Label: "GFLOP/s", Format: "%.1f", PercentOf: "sgemm_peak"}},
	}
}

func runMLPStep(ctx context.Context, opts Options) (Result, error) {
	steps, warmup := opts.steps(mlpStep())
	batch, in, hidden, classes := 256, 784, 512, 10
	if opts.Tiny {
		batch, in, hidden, classes = 8, 12, 16, 4
	}
	arch := backend.Arch{
		{Kind: backend.Linear, In: in, Out: hidden},
		{Kind: backend.Activation, Activation: backend.ReLU},
		{Kind: backend.Linear, In: hidden, Out: hidden},
		{Kind: backend.Activation, Activation: backend.ReLU},
		{Kind: backend.Linear, In: hidden, Out: classes},
	}
	flops, err := TrainFLOPs(arch, batch)
	if err != nil {
		return Result{}, err
	}
	model, err := backend.Init(arch, 0)
	if err != nil {
		return Result{}, err
	}
	tr, err := backend.NewTrainer(model, backend.Optimizer{Name: backend.SGD, LR: 0.01}, batch)
	if err != nil {
		return Result{}, err
	}
	defer tr.Close()

	res, err := timeTrainer(ctx, tr, batch, in, classes, warmup, steps)
	if err != nil {
		return Result{}, err
	}
	res.Extra["gflops"] = flops / res.MsPerStep / 1e6
	res.Extra["flops_per_step"] = flops
	return res, nil
}

// timeTrainer times tr's steps on one fixed synthetic batch: inputs uniform
// in [0, 1), labels uniform over the classes, fixed by seed 0 (as
// torch.rand and torch.randint in the twins, though not the same numbers).
// Extra holds the first and last loss.
func timeTrainer(ctx context.Context, tr *backend.Trainer, batch, in, classes, warmup, steps int) (Result, error) {
	rng := rand.New(rand.NewPCG(0, 0))
	x := make([]float32, batch*in)
	for i := range x {
		x[i] = rng.Float32()
	}
	y := make([]int32, batch)
	for i := range y {
		y[i] = int32(rng.IntN(classes))
	}
	losses := make([]float64, 0, warmup+steps)
	times, err := TimeSteps(ctx, warmup, steps, func() error {
		loss, err := tr.Step(ctx, x, y)
		losses = append(losses, loss)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	res := StepResult(times)
	res.Extra = map[string]float64{"loss_first": losses[0], "loss_last": losses[len(losses)-1]}
	return res, nil
}
