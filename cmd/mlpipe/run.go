package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
)

func (a *app) runCmd() *cobra.Command {
	var (
		sets       []string
		out        string
		parallel   int
		cpuProfile string
	)
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Check a pipeline, then run it",
		Long: `Run checks the pipeline (as mlpipe check does) and, if it is sound, runs its
stages in dependency order. Results go to the output directory: by default
runs/EXPERIMENT/TIMESTAMP beside the current directory. Ctrl-C stops the run
cleanly; files are written atomically, so none is left half-written.`,
		Example: "  mlpipe run pipelines/quickstart.mlp\n  mlpipe run pipelines/fashion_mlp.mlp --set epochs=1 --out /tmp/run1",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			overrides, err := parseSets(sets)
			if err != nil {
				return err
			}
			checked, sources := a.load(args[0], overrides)
			if checked == nil {
				return &exitError{exitUsage}
			}
			if _, err := a.backend.setup(); err != nil {
				fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
				return &exitError{exitUsage}
			}
			graph, err := interp.Compile(checked)
			if err != nil {
				fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
				return &exitError{exitUsage}
			}
			if out == "" {
				out = defaultOutDir(checked.Experiment.Name, time.Now())
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				fmt.Fprintf(a.stderr, "mlpipe: cannot create the output directory: %v\n", err)
				return &exitError{exitRunFailed}
			}
			cfg := &interp.RunConfig{
				OutDir:   out,
				Stdout:   a.stdout,
				Log:      logWriter(a.stderr),
				Progress: newProgressFunc(a.stderr),
				Parallel: parallel,
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
					return &exitError{exitUsage}
				}
				defer stop()
			}
			fmt.Fprintf(a.stderr, "running %s (experiment %q, seed %d) -> %s\n", args[0], checked.Experiment.Name, checked.Experiment.Seed, out)
			start := time.Now()
			_, err = interp.Run(cmd.Context(), graph, cfg)
			if err != nil {
				return a.runFailed(cmd.Context(), err, sources)
			}
			fmt.Fprintf(a.stderr, "done in %.1fs; results in %s\n", time.Since(start).Seconds(), out)
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a param: `NAME=VALUE` (repeatable)")
	cmd.Flags().StringVar(&out, "out", "", "output `DIR` (default runs/EXPERIMENT/TIMESTAMP)")
	cmd.Flags().IntVar(&parallel, "parallel", 2, "run at most `N` independent stages at once")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to `FILE` (for go tool pprof)")
	return cmd
}

// runFailed prints a run-time error, with its source line when it names a
// stage, and returns the exit status to use.
func (a *app) runFailed(ctx context.Context, err error, sources lang.Sources) error {
	// signal.NotifyContext cancels with a cause describing the signal, and
	// interp.Run reports an interruption between stages by wrapping that
	// cause rather than context.Canceled: accept either.
	if ctx.Err() != nil && (errors.Is(err, context.Canceled) || errors.Is(err, ctx.Err()) || errors.Is(err, context.Cause(ctx))) {
		fmt.Fprintln(a.stderr, "mlpipe: interrupted; the run stopped and wrote nothing further")
		return &exitError{exitInterrupted}
	}
	var se *interp.StageError
	if errors.As(err, &se) {
		d := lang.Errorf(se.Span, "stage %s failed: %v", se.Stage, se.Err)
		lang.Fprint(a.stderr, lang.Diagnostics{d}, sources)
		return &exitError{exitRunFailed}
	}
	fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
	return &exitError{exitRunFailed}
}

// startCPUProfile starts pprof CPU profiling into path and returns the
// function that stops it and closes the file.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cannot write the CPU profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot start the CPU profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// defaultOutDir returns runs/NAME/TIMESTAMP, with a numeric suffix if that
// directory exists already.
func defaultOutDir(experiment string, now time.Time) string {
	name := unsafeChars.ReplaceAllString(experiment, "_")
	if name == "" || name == "." || name == ".." {
		name = "run"
	}
	base := filepath.Join("runs", name, now.Format("20060102-150405"))
	dir := base
	for i := 2; ; i++ {
		if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
			return dir
		}
		dir = fmt.Sprintf("%s-%d", base, i)
	}
}
