package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/bench"
)

// pythonEnv names the variable that overrides the PyTorch twins'
// interpreter (default bench.DefaultPython).
const pythonEnv = "MLPIPE_PYTHON"

func (a *app) benchCmd() *cobra.Command {
	var (
		repeats  int
		threads  string
		only     []string
		markdown string
		python   string
		repo     string
		list     bool
		tiny     bool
	)
	defPython := os.Getenv(pythonEnv)
	if defPython == "" {
		defPython = bench.DefaultPython
	}
	cmd := &cobra.Command{
		Use:   "bench [--repeats N] [--threads 1,all] [--only NAME,...] [--markdown FILE]",
		Short: "Time mlpipe against PyTorch on the benchmark workloads",
		Long: `Bench times each workload in mlpipe and in its PyTorch twin, side by side on
this machine: at each thread count it alternates runs of the two, each run a
fresh child process, and prints the median (min–max) of each side, the ratio
mlpipe/PyTorch of the medians and each side's peak resident memory.

mlpipe runs with GOMAXPROCS=N and OPENBLAS_NUM_THREADS=N. PyTorch runs at one
thread with OMP_NUM_THREADS=1 and OPENBLAS_NUM_THREADS=1; at all cores it is
measured twice, with its default threading and with its best setting
OMP_NUM_THREADS=1 and OPENBLAS_NUM_THREADS=N. OPENBLAS_CORETYPE is never
changed. The twins need /usr/bin/python3 with PyTorch (apt-get install -y
python3-torch), or the interpreter in $MLPIPE_PYTHON; without it only mlpipe
is timed. It takes minutes; progress goes to standard error.`,
		Example: "  mlpipe bench\n  mlpipe bench --repeats 3 --only mlp_step --threads 1\n  mlpipe bench --markdown /tmp/bench.md",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if list {
				for _, w := range bench.Workloads() {
					fmt.Fprintf(a.stdout, "%s (%s): %s\n", w.Name, w.Kind, w.Doc)
				}
				return nil
			}
			if repeats < 1 {
				fmt.Fprintf(a.stderr, "mlpipe: --repeats must be at least 1, got %d\n", repeats)
				return &exitError{exitUsage}
			}
			counts, err := parseThreads(threads, runtime.NumCPU())
			if err != nil {
				fmt.Fprintf(a.stderr, "mlpipe: --threads: %v\n", err)
				return &exitError{exitUsage}
			}
			workloads, err := selectWorkloads(only)
			if err != nil {
				fmt.Fprintf(a.stderr, "mlpipe: --only: %v\n", err)
				return &exitError{exitUsage}
			}
			exe, err := os.Executable()
			if err != nil {
				fmt.Fprintf(a.stderr, "mlpipe: cannot find the mlpipe executable for the workers: %v\n", err)
				return &exitError{exitRunFailed}
			}
			worker := []string{exe}
			if f := cmd.Flag("blas"); f != nil {
				worker = append(worker, "--blas", f.Value.String())
			}
			if repo == "" {
				repo = findRepo()
			}
			report, err := bench.Run(cmd.Context(), bench.Config{
				Worker:    worker,
				Python:    python,
				Repeats:   repeats,
				Threads:   counts,
				Workloads: workloads,
				Root:      repo,
				Tiny:      tiny,
				Progress:  a.stderr,
			})
			if err != nil {
				if cmd.Context().Err() != nil {
					fmt.Fprintln(a.stderr, "mlpipe: interrupted; no table written")
					return &exitError{exitInterrupted}
				}
				fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
				return &exitError{exitRunFailed}
			}
			fmt.Fprintln(a.stdout)
			if err := report.WriteText(a.stdout); err != nil {
				return err
			}
			if markdown != "" {
				var b bytes.Buffer
				if err := report.WriteMarkdown(&b); err != nil {
					return err
				}
				if err := interp.WriteFileAtomic(markdown, b.Bytes()); err != nil {
					fmt.Fprintf(a.stderr, "mlpipe: cannot write the Markdown table: %v\n", err)
					return &exitError{exitRunFailed}
				}
				fmt.Fprintf(a.stderr, "Markdown table written to %s\n", markdown)
			}
			if report.Failed() {
				return &exitError{exitRunFailed}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&repeats, "repeats", 5, "runs of each side and setting (the table shows their median, min and max)")
	f.StringVar(&threads, "threads", "1,all", "thread counts to measure at: a `LIST` of numbers and all (every core)")
	f.StringSliceVar(&only, "only", nil, "run only these workloads: `NAME,...` (see --list)")
	f.StringVar(&markdown, "markdown", "", "also write the table as Markdown to `FILE` (for docs/benchmarks.md)")
	f.StringVar(&python, "python", defPython, "`PATH` of a Python with PyTorch for the twins; default $"+pythonEnv+" or "+bench.DefaultPython)
	f.StringVar(&repo, "repo", "", "the mlpipe repository `DIR`, for its pipelines; default: the one holding the current directory")
	f.BoolVar(&list, "list", false, "list the workloads and exit")
	f.BoolVar(&tiny, "tiny", false, "tiny instances of the workloads, for tests (figures mean nothing)")
	_ = f.MarkHidden("tiny")
	return cmd
}

// benchWorkerCmd is the child side of mlpipe bench: it runs one workload
// in this process and prints its bench.Result as one JSON line.
func (a *app) benchWorkerCmd() *cobra.Command {
	var (
		steps, warmup  int
		tiny, describe bool
		root           string
	)
	cmd := &cobra.Command{
		Use:    "bench-worker NAME",
		Short:  "Run one benchmark workload and print its result as a JSON line (used by mlpipe bench)",
		Hidden: true,
		Args:   cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := a.backend.setup(); err != nil {
				fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
				return &exitError{exitUsage}
			}
			if describe {
				fmt.Fprintf(a.stdout, "mlpipe %s, %s; backend %s\n", Version, runtime.Version(), backend.Describe())
				return nil
			}
			if len(args) != 1 {
				fmt.Fprintf(a.stderr, "mlpipe: bench-worker needs a workload name: %s\n", strings.Join(bench.Names(), ", "))
				return &exitError{exitUsage}
			}
			w, ok := bench.Lookup(args[0])
			if !ok {
				fmt.Fprintf(a.stderr, "mlpipe: unknown workload %q (workloads: %s)\n", args[0], strings.Join(bench.Names(), ", "))
				return &exitError{exitUsage}
			}
			if root == "" {
				root = findRepo()
			}
			res, err := w.Run(cmd.Context(), bench.Options{
				Steps: steps, Warmup: warmup, Tiny: tiny, Root: root,
				RunPipeline: a.benchPipeline,
			})
			switch {
			case err != nil && cmd.Context().Err() != nil:
				fmt.Fprintln(a.stderr, "mlpipe: interrupted")
				return &exitError{exitInterrupted}
			case errors.Is(err, bench.ErrUnavailable):
				// Not a failure: the parent shows n/a with the reason.
				res = bench.Result{Unavailable: err.Error()}
			case err != nil:
				fmt.Fprintf(a.stderr, "mlpipe: %s: %v\n", w.Name, err)
				return &exitError{exitRunFailed}
			}
			line, err := marshalResult(res)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "%s\n", line)
			return err
		},
	}
	f := cmd.Flags()
	f.IntVar(&steps, "steps", 0, "measured steps (0: the workload's default)")
	f.IntVar(&warmup, "warmup", 0, "untimed steps before them (0: the workload's default)")
	f.BoolVar(&tiny, "tiny", false, "a tiny instance of the workload, for tests")
	f.StringVar(&root, "root", "", "the mlpipe repository, for its pipelines")
	f.BoolVar(&describe, "describe", false, "describe mlpipe and its backend in one line and exit")
	return cmd
}

// benchPipeline runs a pipeline as mlpipe run does, for pipeline
// workloads: its tables are discarded (stdout carries the result line),
// its log and progress go to stderr.
func (a *app) benchPipeline(ctx context.Context, file string, sets []string, outDir string) error {
	overrides, err := parseSets(sets)
	if err != nil {
		return err
	}
	checked, _ := a.load(file, interp.Config{Overrides: overrides})
	if checked == nil {
		return fmt.Errorf("%s does not check (see above)", file)
	}
	graph, err := interp.Compile(checked)
	if err != nil {
		return err
	}
	_, err = interp.Run(ctx, graph, &interp.RunConfig{
		OutDir:   outDir,
		Stdout:   io.Discard,
		Log:      logWriter(a.stderr),
		Progress: newProgressFunc(a.stderr),
		Parallel: 2, // mlpipe run's default
	})
	return err
}

// marshalResult renders r as one JSON line, leaving out extra figures that
// JSON cannot hold (NaN, infinities).
func marshalResult(r bench.Result) ([]byte, error) {
	for k, v := range r.Extra {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			delete(r.Extra, k)
		}
	}
	return json.Marshal(r)
}

// parseThreads reads a comma-separated list of thread counts, where "all"
// means cores; duplicates are dropped, the order is kept.
func parseThreads(s string, cores int) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		n := cores
		if f != "all" {
			var err error
			if n, err = strconv.Atoi(f); err != nil || n < 1 {
				return nil, fmt.Errorf("%q is neither a positive number nor all", f)
			}
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// selectWorkloads returns the workloads named in only (all of them if it
// is empty), in the suite's order.
func selectWorkloads(only []string) ([]bench.Workload, error) {
	all := bench.Workloads()
	if len(only) == 0 {
		return all, nil
	}
	for _, n := range only {
		if _, ok := bench.Lookup(n); !ok {
			return nil, fmt.Errorf("unknown workload %q (workloads: %s)", n, strings.Join(bench.Names(), ", "))
		}
	}
	var out []bench.Workload
	for _, w := range all {
		if slices.Contains(only, w.Name) {
			out = append(out, w)
		}
	}
	return out, nil
}

// findRepo returns the nearest directory at or above the current one that
// holds go.mod and pipelines/, or "" if there is none.
func findRepo() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		_, errMod := os.Stat(filepath.Join(dir, "go.mod"))
		st, errP := os.Stat(filepath.Join(dir, "pipelines"))
		if errMod == nil && errP == nil && st.IsDir() {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
