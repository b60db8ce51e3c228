package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultPython is the interpreter of the PyTorch twins when neither
// Config.Python nor $MLPIPE_PYTHON says otherwise: Debian's python3-torch
// installs PyTorch for it.
const DefaultPython = "/usr/bin/python3"

// PeerMissingHint starts the message shown when PyTorch cannot be used.
const PeerMissingHint = "PyTorch peer not available: install python3-torch (apt-get install -y python3-torch); showing mlpipe times only"

// Config configures Run.
type Config struct {
	// Worker starts an mlpipe worker: the mlpipe executable and any flags
	// that must precede the subcommand (such as --blas). Run appends
	// "bench-worker NAME --steps N ...".
	Worker []string
	// Python is the interpreter of the twin scripts (DefaultPython if
	// empty).
	Python string
	// Repeats is the number of runs of each side and setting (at least 1).
	Repeats int
	// Threads are the thread counts to measure at, such as 1 and
	// runtime.NumCPU().
	Threads []int
	// Workloads are the workloads to run, in order.
	Workloads []Workload
	// Root is the mlpipe repository, for pipeline workloads.
	Root string
	// Tiny runs tiny instances of the workloads (tests), and Steps and
	// Warmup, if positive, replace the workloads' step counts.
	Tiny          bool
	Steps, Warmup int
	// Progress receives one line per child process; nil discards them.
	Progress io.Writer
}

// variant is one side and thread setting of a cell.
type variant struct {
	label string
	set   map[string]string
	unset []string
	torch bool
}

// settings lists v's variables for the report, in a stable order.
func (v variant) settings() []string {
	var out []string
	keys := make([]string, 0, len(v.set))
	for k := range v.set {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, k+"="+v.set[k])
	}
	for _, k := range v.unset {
		out = append(out, k+" unset")
	}
	return out
}

// threadVars are the variables a setting controls: each variant sets or
// clears all of them, so the caller's environment cannot leak in.
// OPENBLAS_CORETYPE is deliberately not among them.
var threadVars = []string{"GOMAXPROCS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"}

// mlpipeVariant is mlpipe at n threads: GOMAXPROCS and OpenBLAS's threads
// both n.
func mlpipeVariant(n int) variant {
	s := strconv.Itoa(n)
	return variant{label: "mlpipe", set: map[string]string{"GOMAXPROCS": s, "OPENBLAS_NUM_THREADS": s}, unset: []string{"OMP_NUM_THREADS"}}
}

// torchVariants are PyTorch's settings at n of cores threads. At one
// thread: OpenMP and OpenBLAS at 1. At all cores: PyTorch's default (no
// thread variables), and its best setting, OpenMP 1 with n OpenBLAS
// threads (PyTorch's OpenMP threads fight OpenBLAS's). In between: OpenMP
// and OpenBLAS at n, and OpenMP 1 with n OpenBLAS threads.
func torchVariants(n, cores int) []variant {
	s := strconv.Itoa(n)
	best := variant{label: "OMP 1 + BLAS " + s, set: map[string]string{"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": s}, unset: []string{"GOMAXPROCS"}, torch: true}
	switch {
	case n == 1:
		best.label = "OMP 1 + BLAS 1"
		return []variant{best}
	case n >= cores:
		return []variant{{label: "default", unset: threadVars, torch: true}, best}
	default:
		return []variant{{label: "OMP " + s + " + BLAS " + s, set: map[string]string{"OMP_NUM_THREADS": s, "OPENBLAS_NUM_THREADS": s}, unset: []string{"GOMAXPROCS"}, torch: true}, best}
	}
}

// childEnv returns base with the variables of v removed or set.
func childEnv(base []string, v variant) []string {
	var env []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, set := v.set[k]; !set && !slices.Contains(v.unset, k) {
			env = append(env, kv)
		}
	}
	for _, s := range v.settings() {
		if strings.Contains(s, "=") {
			env = append(env, s)
		}
	}
	return env
}

// Run measures the workloads of cfg and returns the report. For each
// workload and thread count it runs, cfg.Repeats times, one mlpipe worker
// and one twin per PyTorch setting, alternating them (in reverse order on
// every other repeat). A workload whose needs are unmet is skipped with a
// note; without PyTorch only mlpipe is timed. A failing series stops and
// is reported in the notes. The error is non-nil only when the run could
// not go on (ctx cancelled, no temporary directory).
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Repeats < 1 {
		return nil, fmt.Errorf("bench: repeats must be at least 1, got %d", cfg.Repeats)
	}
	if len(cfg.Worker) == 0 {
		return nil, errors.New("bench: no worker command")
	}
	progress := cfg.Progress
	if progress == nil {
		progress = io.Discard
	}
	cores := runtime.NumCPU()
	r := &Report{Date: time.Now(), Repeats: cfg.Repeats, Machine: DescribeMachine(ctx)}
	desc, err := describeWorker(ctx, cfg, mlpipeVariant(cores))
	if err != nil {
		return nil, err
	}
	r.Mlpipe = desc
	if n := slices.Max(append([]int{1}, cfg.Threads...)); n > 1 && !cfg.Tiny {
		fmt.Fprintf(progress, "measuring how %d busy threads scale on this machine (%s)...\n", n, 2*speedupProbe)
		r.Machine.Speedup, r.Machine.SpeedupThreads = ParallelSpeedup(ctx, n, speedupProbe), n
	}

	python := cfg.Python
	if python == "" {
		python = DefaultPython
	}
	twinDir := ""
	if torch, err := probeTorch(ctx, python); err != nil {
		msg := PeerMissingHint + " [" + err.Error() + "]"
		fmt.Fprintln(progress, msg)
		r.Notes = append(r.Notes, msg)
	} else {
		r.Torch = torch
		dir, err := os.MkdirTemp("", "mlpipe-bench-twins-")
		if err != nil {
			return r, err
		}
		defer os.RemoveAll(dir)
		if err := writeTwins(dir); err != nil {
			return r, err
		}
		twinDir = dir
	}

	opts := Options{Tiny: cfg.Tiny, Root: cfg.Root, Steps: cfg.Steps, Warmup: cfg.Warmup}
	var workloads []Workload
	for _, w := range cfg.Workloads {
		var unmet []string
		for _, n := range w.Needs {
			if err := n.Check(opts); err != nil {
				unmet = append(unmet, err.Error())
			}
		}
		if len(unmet) > 0 {
			msg := fmt.Sprintf("%s skipped: %s", w.Name, strings.Join(unmet, "; "))
			fmt.Fprintln(progress, msg)
			r.Notes = append(r.Notes, msg)
			continue
		}
		workloads = append(workloads, w)
	}

	total, done := 0, 0
	for range workloads {
		for _, n := range cfg.Threads {
			total += cfg.Repeats
			if twinDir != "" {
				total += cfg.Repeats * len(torchVariants(n, cores))
			}
		}
	}
	for _, w := range workloads {
		steps, warmup := opts.steps(w)
		for _, n := range cfg.Threads {
			c := Cell{Workload: w, Threads: n, AllCores: n >= cores}
			vs := []variant{mlpipeVariant(n)}
			if twinDir != "" {
				vs = append(vs, torchVariants(n, cores)...)
			}
			series := make([]Series, len(vs))
			for i, v := range vs {
				series[i] = Series{Label: v.label, Settings: v.settings()}
				if v.torch {
					series[i].Label = "PyTorch " + v.label
				}
			}
			for rep := 0; rep < cfg.Repeats; rep++ {
				order := make([]int, len(vs))
				for i := range order {
					order[i] = i
				}
				if rep%2 == 1 {
					slices.Reverse(order)
				}
				for _, i := range order {
					if err := ctx.Err(); err != nil {
						return r, err
					}
					done++
					s := &series[i]
					if s.Err != "" || s.Unavailable != "" {
						continue
					}
					v := vs[i]
					var argv []string
					if v.torch {
						argv = append([]string{python, filepath.Join(twinDir, w.Twin)}, stepArgs(w, steps, warmup, cfg.Tiny)...)
						argv = append(argv, w.TwinArgs...)
					} else {
						argv = append(slices.Clone(cfg.Worker), "bench-worker", w.Name)
						argv = append(argv, stepArgs(w, steps, warmup, cfg.Tiny)...)
						if cfg.Root != "" {
							argv = append(argv, "--root", cfg.Root)
						}
					}
					sample, err := runChild(ctx, argv, childEnv(os.Environ(), v))
					prefix := fmt.Sprintf("[%d/%d] %s, %d thread(s), repeat %d/%d, %s:", done, total, w.Name, n, rep+1, cfg.Repeats, s.Label)
					if err != nil {
						if ctx.Err() != nil {
							return r, ctx.Err()
						}
						s.Err = err.Error()
						fmt.Fprintf(progress, "%s failed: %v\n", prefix, err)
						continue
					}
					if sample.Result.Unavailable != "" {
						s.Unavailable = sample.Result.Unavailable
						fmt.Fprintf(progress, "%s %s\n", prefix, s.Unavailable)
						continue
					}
					s.Samples = append(s.Samples, sample)
					unit, val := "ms/step", sample.Result.MsPerStep
					if w.Kind == EndToEnd {
						unit, val = "s", sample.Result.Seconds
					}
					fmt.Fprintf(progress, "%s %s %s, peak RSS %.0f MiB, process %.1f s\n", prefix, num(val), unit, float64(sample.MaxRSS)/(1<<20), sample.Wall.Seconds())
				}
			}
			c.Mlpipe, c.Torch = series[0], series[1:]
			for _, s := range series {
				if s.Err != "" {
					r.note(fmt.Sprintf("%s at %d thread(s): %s failed: %s", w.Name, n, s.Label, s.Err))
				}
				if s.Unavailable != "" {
					r.note(fmt.Sprintf("%s: %s: %s", w.Name, s.Label, s.Unavailable))
				}
			}
			r.Cells = append(r.Cells, c)
		}
	}
	return r, nil
}

// stepArgs are the standard arguments of a worker or twin.
func stepArgs(w Workload, steps, warmup int, tiny bool) []string {
	var args []string
	if w.Kind == PerStep {
		args = append(args, "--steps", strconv.Itoa(steps), "--warmup", strconv.Itoa(warmup))
	}
	if tiny {
		args = append(args, "--tiny")
	}
	return args
}

// runChild runs argv with env, and reads the Result of its last output
// line, its peak RSS and its wall time.
func runChild(ctx context.Context, argv, env []string) (Sample, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = env
	var stdout bytes.Buffer
	stderr := &tailBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			return Sample{}, err
		}
		return Sample{}, fmt.Errorf("%v: %s", err, lastLines(msg, 3))
	}
	res, err := ParseResult(stdout.Bytes())
	if err != nil {
		return Sample{}, err
	}
	if res.Unavailable != "" {
		return Sample{Result: res}, nil
	}
	if res.Extra == nil {
		res.Extra = map[string]float64{}
	}
	res.Extra["process_seconds"] = wall.Seconds()
	return Sample{Result: res, MaxRSS: maxRSS(cmd.ProcessState), Wall: wall}, nil
}

// ParseResult reads the Result on the last non-empty line of out and
// checks that its figures are finite and positive.
func ParseResult(out []byte) (Result, error) {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if last == "" {
		return Result{}, errors.New("the child printed no result")
	}
	var res Result
	dec := json.NewDecoder(strings.NewReader(last))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&res); err != nil {
		return Result{}, fmt.Errorf("the child's result %q: %w", last, err)
	}
	if res.Unavailable != "" {
		return res, nil
	}
	for _, v := range []float64{res.MsPerStep, res.Seconds} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v <= 0 {
			return Result{}, fmt.Errorf("the child's result %q has a time that is not a positive number", last)
		}
	}
	if res.Steps < 1 {
		return Result{}, fmt.Errorf("the child's result %q has no steps", last)
	}
	return res, nil
}

// probeTorch checks that python runs and imports torch and numpy, and
// describes them.
func probeTorch(ctx context.Context, python string) (string, error) {
	if strings.ContainsRune(python, os.PathSeparator) {
		if _, err := os.Stat(python); err != nil {
			return "", err
		}
	} else if p, err := exec.LookPath(python); err != nil {
		return "", err
	} else {
		python = p
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	const probe = `import json, platform, torch, numpy
print(json.dumps({"torch": torch.__version__, "python": platform.python_version(), "numpy": numpy.__version__}))`
	cmd := exec.CommandContext(ctx, python, "-c", probe)
	stderr := &tailBuffer{max: 2 << 10}
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		if msg := strings.TrimSpace(stderr.String()); msg != "" {
			return "", fmt.Errorf("%s: %s", python, lastLines(msg, 1))
		}
		return "", fmt.Errorf("%s: %w", python, err)
	}
	var v struct{ Torch, Python, Numpy string }
	if err := json.Unmarshal(bytes.TrimSpace(out), &v); err != nil {
		return "", fmt.Errorf("%s: unexpected output %q", python, out)
	}
	return fmt.Sprintf("PyTorch %s (numpy %s), Python %s, %s", v.Torch, v.Numpy, v.Python, python), nil
}

// describeWorker asks a worker, with the environment of v, to describe
// mlpipe and its backend. It fails when the worker cannot start (a wrong
// --blas, say), which would fail every measurement.
func describeWorker(ctx context.Context, cfg Config, v variant) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	argv := append(slices.Clone(cfg.Worker), "bench-worker", "--describe")
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = childEnv(os.Environ(), v)
	stderr := &tailBuffer{max: 2 << 10}
	cmd.Stderr = stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("the mlpipe worker does not start (%s): %v: %s", strings.Join(argv, " "), err, lastLines(strings.TrimSpace(stderr.String()), 2))
	}
	return strings.TrimSpace(string(out)), nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.buf) }

// lastLines returns the last n lines of s, joined by " | ".
func lastLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
