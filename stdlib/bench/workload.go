package bench

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// Kind says which figure of a Result mlpipe and PyTorch are compared on.
type Kind int

const (
	// PerStep workloads are compared on Result.MsPerStep: the median time
	// of one step after warm-up, in milliseconds.
	PerStep Kind = iota + 1
	// EndToEnd workloads are compared on Result.Seconds: the wall time of
	// the measured phase (for a training run, the training loop).
	EndToEnd
)

// String returns "per step" or "end to end".
func (k Kind) String() string {
	switch k {
	case PerStep:
		return "per step"
	case EndToEnd:
		return "end to end"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Options configure one run of a workload.
type Options struct {
	// Steps and Warmup are the measured and the untimed steps of a step
	// workload; zero selects the workload's defaults.
	Steps, Warmup int
	// Tiny asks for a tiny instance of the workload (small shapes, little
	// data), for tests: its figures mean nothing.
	Tiny bool
	// Root is the mlpipe repository, where pipeline workloads find
	// pipelines/.
	Root string
	// RunPipeline checks and runs the pipeline in file with the given
	// NAME=VALUE param overrides, writing its results (report.json) into
	// outDir, as `mlpipe run` does. The command line provides it: this
	// package may not depend on the parser.
	RunPipeline func(ctx context.Context, file string, sets []string, outDir string) error
}

// steps returns the measured and warm-up step counts of o for w.
func (o Options) steps(w Workload) (steps, warmup int) {
	steps, warmup = o.Steps, o.Warmup
	if steps <= 0 {
		steps = w.Steps
	}
	if warmup <= 0 {
		warmup = w.Warmup
	}
	return max(steps, 1), max(warmup, 0)
}

// Result is what one run of a workload reports, on either side. It is
// printed as one JSON line by `mlpipe bench-worker` and by the twin
// scripts:
//
//	{"ms_per_step": 6.41, "steps": 200, "seconds": 1.29, "extra": {"gflops": 128.2}}
type Result struct {
	// MsPerStep is the median time of one measured step, in milliseconds
	// (for end-to-end workloads: Seconds over Steps, for information).
	MsPerStep float64 `json:"ms_per_step"`
	// Steps is the number of measured steps (for a training run, its
	// optimiser steps).
	Steps int `json:"steps"`
	// Seconds is the wall time of the measured phase: the sum of the
	// measured steps, or the training time of an end-to-end run.
	Seconds float64 `json:"seconds"`
	// Extra holds further figures by name, such as "gflops" or
	// "test_acc". The runner adds "process_seconds", the child process's
	// wall time from start to exit.
	Extra map[string]float64 `json:"extra,omitempty"`
	// Unavailable, when set, says why the workload could not be measured
	// (an error wrapping ErrUnavailable); the other fields are then empty.
	Unavailable string `json:"unavailable,omitempty"`
}

// Value returns the figure a workload of kind k is compared on.
func (r Result) Value(k Kind) float64 {
	if k == EndToEnd {
		return r.Seconds
	}
	return r.MsPerStep
}

// ErrUnavailable is wrapped by the error of a workload that cannot be
// measured in this build or configuration. It is reported as "n/a" with its
// message, not as a failure.
var ErrUnavailable = errors.New("not measurable")

// Need is something a workload needs besides mlpipe and PyTorch, such as a
// data set.
type Need struct {
	// Name names it in messages ("Fashion-MNIST").
	Name string
	// Check returns nil when the need is met, and otherwise an error that
	// says how to meet it.
	Check func(Options) error
}

// Figure is an Extra figure shown in the benchmark table.
type Figure struct {
	Key    string // key in Result.Extra
	Label  string // shown in the table, such as "GFLOP/s"
	Format string // fmt verb for one value, such as "%.1f"
	// PercentOf names a workload whose same figure, measured at the same
	// threads on the same side, this one is shown as a percentage of (the
	// step's GFLOP/s against the sgemm peak).
	PercentOf string
}

// Workload is one benchmark: the same work done by mlpipe (Run) and by a
// PyTorch twin script.
type Workload struct {
	// Name identifies the workload on the command line (--only).
	Name string
	// Doc says in a sentence or two what it measures.
	Doc string
	// Kind says whether it is compared per step or end to end.
	Kind Kind
	// Steps and Warmup are the default measured and warm-up steps of a
	// step workload; both sides get the same counts.
	Steps, Warmup int
	// Run does the work once in the current process (a bench-worker
	// child) and measures it.
	Run func(ctx context.Context, opts Options) (Result, error)
	// Twin is the file name of the PyTorch twin in torch/; TwinArgs are
	// passed to it after the standard --steps N --warmup W [--tiny].
	Twin     string
	TwinArgs []string
	// Needs are checked before the workload runs; an unmet one skips the
	// workload with its message.
	Needs []Need
	// Show lists the Extra figures shown in the table.
	Show []Figure
}

// Workloads returns the benchmark workloads in the order they run. The
// sgemm peak comes first, so that the figures of later workloads can be
// read against it.
//
// A CNN training step will join the list with the convolution layers of
// the backend.
func Workloads() []Workload {
	return []Workload{
		sgemmPeak(),
		mlpStep(),
		fashionMLP5ep(),
		cnnStep(),
		btStep(),
		cnnBTStep(),
		pgdFashion(),
		plbFashion(),
	}
}

// Lookup returns the workload called name.
func Lookup(name string) (Workload, bool) {
	for _, w := range Workloads() {
		if w.Name == name {
			return w, true
		}
	}
	return Workload{}, false
}

// Names returns the names of the workloads, in order.
func Names() []string {
	var names []string
	for _, w := range Workloads() {
		names = append(names, w.Name)
	}
	return names
}

// TimeSteps runs step warmup times untimed, then steps times, timing each
// call with the monotonic clock, and returns the times in milliseconds. It
// stops at the first error and checks ctx between steps.
func TimeSteps(ctx context.Context, warmup, steps int, step func() error) ([]float64, error) {
	for i := 0; i < warmup; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := step(); err != nil {
			return nil, fmt.Errorf("warm-up step %d: %w", i+1, err)
		}
	}
	times := make([]float64, 0, steps)
	for i := 0; i < steps; i++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		start := time.Now()
		err := step()
		d := time.Since(start)
		if err != nil {
			return nil, fmt.Errorf("step %d: %w", i+1, err)
		}
		times = append(times, float64(d.Nanoseconds())/1e6)
	}
	return times, nil
}

// StepResult summarises per-step times in milliseconds: MsPerStep is their
// median, Seconds their sum, Steps their number.
func StepResult(times []float64) Result {
	var sum float64
	for _, t := range times {
		sum += t
	}
	return Result{MsPerStep: Median(times), Steps: len(times), Seconds: sum / 1e3}
}

// Median returns the median of xs (the mean of the two middle values for
// an even count), or NaN for none. xs is not changed.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// TrainFLOPs returns the floating-point operations of the matrix products
// of one training step of arch on batch rows: per Linear layer, the forward
// product (2·batch·In·Out), the weight-gradient product (the same) and the
// input-gradient product (the same), except that the first Linear layer
// has no input gradient (its input is the data; mlpipe and PyTorch both
// skip it). Biases, activations, the loss and the optimiser are not
// counted. It fails on a layer kind it does not know how to count.
func TrainFLOPs(arch backend.Arch, batch int) (float64, error) {
	var flops float64
	first := true
	for i, l := range arch {
		switch l.Kind {
		case backend.Linear:
			products := 3.0
			if first {
				products = 2
				first = false
			}
			flops += products * 2 * float64(batch) * float64(l.In) * float64(l.Out)
		case backend.Activation:
		default:
			return 0, fmt.Errorf("bench: layer %d: no FLOP count for layer kind %v", i, l.Kind)
		}
	}
	if first {
		return 0, errors.New("bench: the architecture has no linear layer")
	}
	return flops, nil
}
