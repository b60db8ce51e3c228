package bench

import (
	"context"
	"fmt"

	"github.com/mlpipe/mlpipe/stdlib/attack"
	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/datasets"
)

// The shape of pgd10_fashion: the attack of ../shared/bench/torch_fashion_peer.py.
const (
	pgdImages     = 10000 // all the Fashion-MNIST test images
	pgdTinyImages = 200   // the --tiny instance
	pgdSteps      = 10
	pgdEps        = 0.1
	pgdHidden     = 256
)

// pgdRows is the attack batch of pgd10_fashion: the rows of its
// backend.InputGradient graph. attack.PGD.Run attacks the 10,000 images in
// chunks of pgdRows, each chunk taking its 10 steps before the next one
// starts; PyTorch attacks them in one batch. The work (images × steps) is
// the same. Measured on the project's 2-core machine with OpenBLAS
// (noisy), 500, 1000, 2000 and 10,000 rows took the same time within the
// noise (1.54–1.66 s per attack at 1 thread, 1.16–1.36 s at 2), 250 rows
// were slower (2.3 s at 1 thread); 1000 rows keep the graph's buffers
// (input, input gradient, hidden activations: about 10 MB) a tenth of
// those of a 10,000-row graph.
const pgdRows = 1000

// pgdFashion is PGD-10 l∞ on the Fashion-MNIST test set: the attack of
// torch/pgd_fashion.py.
func pgdFashion() Workload {
	return Workload{
		Name: "pgd10_fashion",
		Doc: fmt.Sprintf("One PGD-10 l∞ attack (eps %.1f, step 2.5·eps/10, no random start, clamped to [0, 1]) "+
			"on all 10,000 Fashion-MNIST test images against an MLP 784-256-10 (biases, ReLU, softmax "+
			"cross-entropy, float32, fixed-seed weights): attack.PGD.Run over a backend.InputGradient of "+
			"%d rows against the peer's pgd() (torch.autograd.grad on the whole batch). images/s counts "+
			"attacked images per second.", pgdEps, pgdRows),
		Kind:   PerStep,
		Steps:  5,
		Warmup: 1,
		Run:    func(ctx context.Context, opts Options) (Result, error) { return runPGDFashion(ctx, opts, pgdRows) },
		Twin:   "pgd_fashion.py",
		Needs:  []Need{FashionMNIST},
		Show:   []Figure{{Key: "images_per_s", Label: "images/s", Format: "%.0f"}},
	}
}

// runPGDFashion times PGD-10 on the first pgdImages (pgdTinyImages when
// tiny) Fashion-MNIST test images, attacking rows images at a time.
func runPGDFashion(ctx context.Context, opts Options, rows int) (Result, error) {
	steps, warmup := opts.steps(pgdFashion())
	n := pgdImages
	if opts.Tiny {
		n = pgdTinyImages
	}
	x, y, _, g, err := attackSetup("pgd10_fashion", n, rows)
	if err != nil {
		return Result{}, err
	}
	defer g.Close()

	pgd := attack.PGD{Norm: attack.Linf, Eps: pgdEps, Step: 2.5 * pgdEps / pgdSteps, Steps: pgdSteps, Box: attack.Box{Lo: 0, Hi: 1}}
	var adv []float32
	times, err := TimeSteps(ctx, warmup, steps, func() error {
		var err error
		adv, err = pgd.Run(ctx, g, x, y, g.Inputs())
		return err
	})
	if err != nil {
		return Result{}, err
	}
	res := StepResult(times)
	res.Extra = map[string]float64{
		"images":                float64(n),
		"images_per_s":          float64(n) / (res.MsPerStep / 1e3),
		"attack_rows":           float64(g.Rows()),
		"mean_abs_perturbation": meanAbsDiff(adv, x),
	}
	return res, nil
}

// meanAbsDiff returns the mean of |a[i] - b[i]|: a check that the attack
// moved the images, comparable with the twin's figure.
func meanAbsDiff(a, b []float32) float64 {
	var s float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		if d < 0 {
			d = -d
		}
		s += d
	}
	return s / float64(len(a))
}

// attackSetup loads the first n Fashion-MNIST test images and returns
// them with the attacked MLP 784-pgdHidden-10 (backend.Init seed 0, as the
// twins build it) and its input gradient for batches of up to rows images.
// The caller closes g.
func attackSetup(name string, n, rows int) (x []float32, y []int32, model *backend.Model, g *backend.InputGradient, err error) {
	// Only the test set: the training set would add 188 MB to the peak
	// RSS, and the twins do not read it either.
	paths, err := datasets.FashionMNISTFiles(FashionMNISTDir())
	if err != nil {
		return nil, nil, nil, nil, err
	}
	test, err := datasets.LoadIDX(paths[2], paths[3])
	if err != nil {
		return nil, nil, nil, nil, err
	}
	if test.N < n {
		return nil, nil, nil, nil, fmt.Errorf("%s: the test set has %d images, want %d", name, test.N, n)
	}
	in := test.Features()
	arch := backend.Arch{
		{Kind: backend.Linear, In: in, Out: pgdHidden, Bias: true},
		{Kind: backend.Activation, Activation: backend.ReLU},
		{Kind: backend.Linear, In: pgdHidden, Out: datasets.FashionMNISTClasses, Bias: true},
	}
	model, err = backend.Init(arch, 0)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	g, err = backend.NewInputGradient(model, min(rows, n))
	if err != nil {
		return nil, nil, nil, nil, err
	}
	return test.X[:n*in], test.Y[:n], model, g, nil
}
