package bench

import (
	"context"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// cnnStep is one SGD training step of a small CNN on a fixed synthetic
// batch: the step of torch/cnn_step.py.
func cnnStep() Workload {
	return Workload{
		Name: "cnn_step",
		Doc: "One SGD step (lr 0.01) of conv(1->32, 3x3, pad 1) - batch norm - ReLU - max pool 2 - " +
			"conv(32->64, 3x3, pad 1) - batch norm - ReLU - max pool 2 - flatten - linear(3136->10), " +
			"mean softmax cross-entropy, float32, on a fixed synthetic batch of 128 1x28x28 images: " +
			"backend.Trainer.Step against zero_grad + forward + backward + optimizer.step.",
		Kind:   PerStep,
		Steps:  40,
		Warmup: 5,
		Run:    runCNNStep,
		Twin:   "cnn_step.py",
	}
}

func runCNNStep(ctx context.Context, opts Options) (Result, error) {
	steps, warmup := opts.steps(cnnStep())
	batch, side, c1, c2, classes := 128, 28, 32, 64, 10
	if opts.Tiny {
		batch, side, c1, c2, classes = 4, 8, 2, 3, 4
	}
	flat := c2 * (side / 4) * (side / 4)
	arch := backend.Arch{
		{Kind: backend.Conv2d, In: 1, Out: c1, Kernel: 3, Padding: 1, Bias: true, InShape: [3]int{1, side, side}},
		{Kind: backend.BatchNorm2d, In: c1},
		{Kind: backend.Activation, Activation: backend.ReLU},
		{Kind: backend.MaxPool2d, Kernel: 2},
		{Kind: backend.Conv2d, In: c1, Out: c2, Kernel: 3, Padding: 1, Bias: true},
		{Kind: backend.BatchNorm2d, In: c2},
		{Kind: backend.Activation, Activation: backend.ReLU},
		{Kind: backend.MaxPool2d, Kernel: 2},
		{Kind: backend.Flatten},
		{Kind: backend.Linear, In: flat, Out: classes, Bias: true},
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
	return timeTrainer(ctx, tr, batch, side*side, classes, warmup, steps)
}
