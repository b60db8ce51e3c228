package bench

import (
	"context"
	"math/rand/v2"
)

// sgemmPeak is one float32 matrix product C = A·B of 2048x2048 matrices
// through the BLAS mlpipe's backend uses, against torch.mm: the machine's
// practical peak for the products that dominate a training step.
func sgemmPeak() Workload {
	return Workload{
		Name: "sgemm_peak",
		Doc: "One float32 matrix product C = A·B, 2048x2048 by 2048x2048 (17.2 GFLOP), through the BLAS " +
			"mlpipe's backend uses, against torch.mm(out=): the practical peak of the machine's BLAS.",
		Kind:   PerStep,
		Steps:  10,
		Warmup: 2,
		Run:    runSgemmPeak,
		Twin:   "sgemm_peak.py",
		Show:   []Figure{{Key: "gflops", Label: "GFLOP/s", Format: "%.0f"}},
	}
}

func runSgemmPeak(ctx context.Context, opts Options) (Result, error) {
	steps, warmup := opts.steps(sgemmPeak())
	n := 2048
	if opts.Tiny {
		n = 64
	}
	sgemm, err := backendSgemm()
	if err != nil {
		return Result{}, err
	}
	rng := rand.New(rand.NewPCG(0, 0))
	a, b, c := make([]float32, n*n), make([]float32, n*n), make([]float32, n*n)
	for i := range a {
		a[i], b[i] = rng.Float32(), rng.Float32()
	}
	times, err := TimeSteps(ctx, warmup, steps, func() error {
		sgemm(n, n, n, a, b, c)
		return nil
	})
	if err != nil {
		return Result{}, err
	}
	res := StepResult(times)
	flops := 2 * float64(n) * float64(n) * float64(n)
	res.Extra = map[string]float64{"gflops": flops / res.MsPerStep / 1e6}
	return res, nil
}
