package bench

import (
	"context"
	"fmt"

	"github.com/mlpipe/mlpipe/stdlib/attack"
	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// The shape of plb_fashion: the attack of torch/plb_fashion.py. One
// attack of 250 images takes about 5 s at one thread (900 gradient and
// about 3,700 forward passes of the batch); the tiny instance, for tests,
// takes 50 images and 10×10 iterations.
const (
	plbImages     = 250 // the first Fashion-MNIST test images
	plbTinyImages = 50
	plbTinyLoops  = 10 // outer and inner loops of the tiny instance
)

// plbFashion is the ProxLogBarrier l2 attack on Fashion-MNIST test images:
// the attack of torch/plb_fashion.py.
func plbFashion() Workload {
	return Workload{
		Name: "plb_fashion",
		Doc: fmt.Sprintf("One ProxLogBarrier l2 attack (attack.NewProxLogBarrier defaults: 30×30 iterations, "+
			"dt 0.1, alpha0 0.1, beta 0.75, gamma 0.05, T 1, box [0, 1]) on the first %d Fashion-MNIST "+
			"test images in one batch against the MLP 784-256-10 of pgd10_fashion (backend.Init seed 0 "+
			"weights, which the twin rebuilds bit for bit): attack.ProxLogBarrier.Run over a "+
			"backend.InputGradient against the reference algorithm in PyTorch. images/s counts attacked "+
			"images per second; both sides report their gradient and forward passes and the median l2 "+
			"distance found.", plbImages),
		Kind:   PerStep,
		Steps:  2,
		Warmup: 1,
		Run:    runPLBFashion,
		Twin:   "plb_fashion.py",
		Needs:  []Need{FashionMNIST},
		Show: []Figure{
			{Key: "images_per_s", Label: "images/s", Format: "%.1f"},
			{Key: "median_l2", Label: "median l2", Format: "%.4f"},
			{Key: "fwd_passes", Label: "forward passes", Format: "%.0f"},
		},
	}
}

// countingClassifier counts the passes an attack asks of a classifier.
type countingClassifier struct {
	*backend.InputGradient
	grads, forwards int
	// initForwards are the forward passes before the first gradient:
	// the classification of the clean samples and the initialisation.
	initForwards int
}

func (c *countingClassifier) gradient() {
	if c.grads == 0 {
		c.initForwards = c.forwards
	}
	c.grads++
}

func (c *countingClassifier) Compute(ctx context.Context, x []float32, y []int32, grad, logits, loss []float32) error {
	c.gradient()
	return c.InputGradient.Compute(ctx, x, y, grad, logits, loss)
}

func (c *countingClassifier) ComputeObjective(ctx context.Context, obj backend.Objective, x []float32, y []int32, grad, logits, loss []float32) error {
	c.gradient()
	return c.InputGradient.ComputeObjective(ctx, obj, x, y, grad, logits, loss)
}

func (c *countingClassifier) Logits(ctx context.Context, x []float32, logits []float32) error {
	c.forwards++
	return c.InputGradient.Logits(ctx, x, logits)
}

// runPLBFashion times ProxLogBarrier l2 on the first plbImages
// (plbTinyImages when tiny) Fashion-MNIST test images in one batch. Its
// Extra figures: the images the model misclassifies clean are not
// attacked ("attacked" are the others, "successes" those broken, and
// "median_l2" the median distance of their adversarial points), and the
// passes of the last attack: "grad_passes" gradients, "fwd_passes"
// forward passes (Logits), "init_fwd_passes" of them before the first
// gradient (the clean classification and the Gaussian initialisation).
// The forward passes of the initialisation and of the back-tracking
// depend on the noise and on rounding, so the twin's differ a little.
func runPLBFashion(ctx context.Context, opts Options) (Result, error) {
	steps, warmup := opts.steps(plbFashion())
	n := plbImages
	if opts.Tiny {
		n = plbTinyImages
	}
	x, y, model, g, err := attackSetup("plb_fashion", n, n)
	if err != nil {
		return Result{}, err
	}
	defer g.Close()
	c := &countingClassifier{InputGradient: g}

	plb := attack.NewProxLogBarrier(attack.L2)
	if opts.Tiny {
		plb.MaxOuter, plb.MaxInner = plbTinyLoops, plbTinyLoops
	}
	var r *attack.Result
	times, err := TimeSteps(ctx, warmup, steps, func() error {
		c.grads, c.forwards, c.initForwards = 0, 0, 0
		var err error
		r, err = plb.Run(ctx, c, x, y)
		return err
	})
	if err != nil {
		return Result{}, err
	}
	res := StepResult(times)
	var attacked, won int
	var dists []float64
	for i, ok := range r.Success {
		if r.Clean[i] {
			continue
		}
		attacked++
		if ok {
			won++
			dists = append(dists, r.Dist[i])
		}
	}
	res.Extra = map[string]float64{
		"images":          float64(n),
		"images_per_s":    float64(n) / (res.MsPerStep / 1e3),
		"attacked":        float64(attacked),
		"successes":       float64(won),
		"grad_passes":     float64(c.grads),
		"fwd_passes":      float64(c.forwards),
		"init_fwd_passes": float64(c.initForwards),
		"weight_sum":      weightSum(model),
	}
	if len(dists) > 0 {
		res.Extra["median_l2"] = Median(dists)
	}
	return res, nil
}

// weightSum is the sum of model's weights in float64: the twin, which
// rebuilds them, reports the same.
func weightSum(m *backend.Model) float64 {
	var s float64
	for _, p := range m.Params {
		for _, v := range p.Data {
			s += float64(v)
		}
	}
	return s
}
