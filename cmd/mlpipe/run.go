package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime/pprof"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/interp/store"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/backend"
)

func (a *app) runCmd() *cobra.Command {
	var (
		sets       []string
		out        string
		parallel   int
		cpuProfile string
		storeDir   string
		noCache    bool
		explain    bool
		resume     string
		variant    int
	)
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Check a pipeline, then run it",
		Long: `Run checks the pipeline (as mlpipe check does) and, if it is sound, runs its
stages in dependency order. Results go to the output directory: by default
runs/EXPERIMENT/TIMESTAMP beside the current directory. Ctrl-C stops the run
cleanly; files are written atomically, so none is left half-written.

Every run is recorded in the run store (.mlpipe beside the pipeline file, or
--store DIR): the canonical pipeline, its sources, params, seed, data file
fingerprints, status, metrics and artifacts (see mlpipe runs). Training and
evaluation stages are cached there by a key of everything they depend on, so
a re-run reuses the stages whose inputs did not change; --explain says for
every stage whether it ran or was reused, and why.`,
		Example: "  mlpipe run pipelines/quickstart.mlp\n  mlpipe run pipelines/fashion_mlp.mlp --set epochs=1 --out /tmp/run1\n  mlpipe run --explain --set lr=1e-2 pipelines/quickstart.mlp",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if storeDir == "" {
				storeDir = defaultStoreDir(args[0])
			}
			var resumed *store.Run
			if resume != "" {
				if len(sets) > 0 {
					fmt.Fprintln(a.stderr, "mlpipe: --resume runs with the params of the run it resumes: --set cannot change them")
					return &exitError{exitUsage}
				}
				r, err := a.resumable(ctx, storeDir, resume)
				if err != nil || r == nil {
					return err
				}
				resumed = r
				for _, name := range sortedNames(r.Params) {
					sets = append(sets, name+"="+r.Params[name])
				}
				if out == "" {
					out = r.OutDir
				}
			}
			overrides, err := parseSets(sets)
			if err != nil {
				return err
			}
			checkCfg := interp.Config{Overrides: overrides}
			if variant >= 0 {
				if resumed != nil {
					fmt.Fprintln(a.stderr, "mlpipe: --resume continues a run of its own variant: --variant cannot be given with it")
					return &exitError{exitUsage}
				}
				checkCfg.Variant = &variant
			}
			checked, sources := a.load(args[0], checkCfg)
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
			if resumed != nil {
				if def := interp.DefinitionID(checked); def != resumed.DefinitionID {
					fmt.Fprintf(a.stderr, "mlpipe: %s has changed since run %s: its definition is now %s, the run's was %s; run it anew instead\n",
						args[0], resumed.ID, interp.ShortID(def), interp.ShortID(resumed.DefinitionID))
					return &exitError{exitUsage}
				}
			}
			keys, err := graph.Keys(ctx)
			if err != nil {
				return a.runFailed(ctx, err, sources)
			}
			// The record is kept whatever happens to the run: its store
			// operations outlive a cancelled ctx.
			recCtx := context.WithoutCancel(ctx)
			st, err := store.Open(recCtx, storeDir)
			if err != nil {
				fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
				return &exitError{exitRunFailed}
			}
			defer st.Close()
			if out == "" {
				out = defaultOutDir(checked.Experiment.Name, time.Now())
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				fmt.Fprintf(a.stderr, "mlpipe: cannot create the output directory: %v\n", err)
				return &exitError{exitRunFailed}
			}
			run := resumed
			if run != nil {
				err = st.ReopenRun(recCtx, run.ID)
			} else {
				sweep := ""
				if variant >= 0 {
					sweep = sweepRecordID(checked.Sweep.Name, interp.SweepID(checked))
				}
				run, err = beginRecord(recCtx, st, checked, sources, keys, out, backend.Describe(), sweep, variant)
			}
			if err != nil {
				if run != nil {
					_ = st.FinishRun(recCtx, run.ID, store.Failed, err.Error())
				}
				fmt.Fprintf(a.stderr, "mlpipe: cannot record the run: %v\n", err)
				return &exitError{exitRunFailed}
			}
			rec := &recorder{st: st, record: run.ID, warn: a.stderr}
			cfg := &interp.RunConfig{
				OutDir:    out,
				Stdout:    a.stdout,
				Log:       logWriter(a.stderr),
				Progress:  newProgressFunc(a.stderr),
				Parallel:  parallel,
				Keys:      keys,
				OnOutput:  rec.output,
				OnMeasure: rec.measure,
				OnStage:   stageReporter(a.stderr, explain),
			}
			if !noCache {
				cfg.Cache = &storeCache{st: st, experiment: checked.Experiment.Name, record: run.ID}
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
					return &exitError{exitUsage}
				}
				defer stop()
			}
			if resumed != nil {
				fmt.Fprintf(a.stderr, "resuming run %s of %s (experiment %q, seed %d) -> %s\n", run.ID, args[0], checked.Experiment.Name, checked.Experiment.Seed, out)
			} else {
				fmt.Fprintf(a.stderr, "running %s (experiment %q, seed %d) -> %s\n", args[0], checked.Experiment.Name, checked.Experiment.Seed, out)
			}
			start := time.Now()
			res, err := interp.Run(ctx, graph, cfg)
			status, msg := store.Done, ""
			if err != nil {
				status, msg = store.Failed, err.Error()
				if ctx.Err() != nil {
					status = store.Interrupted
				}
			}
			if ferr := st.FinishRun(recCtx, run.ID, status, msg); ferr != nil {
				rec.fail(ferr)
			}
			if err != nil {
				return a.runFailed(ctx, err, sources)
			}
			fmt.Fprintf(a.stderr, "done in %.1fs%s; results in %s; run %s recorded in %s\n",
				time.Since(start).Seconds(), reuseSummary(res), out, run.ID, storeDir)
			if rec.firstErr != nil {
				return &exitError{exitRunFailed}
			}
			return nil
		},
	}
	cmd.Flags().StringArrayVar(&sets, "set", nil, "override a param: `NAME=VALUE` (repeatable)")
	cmd.Flags().StringVar(&out, "out", "", "output `DIR` (default runs/EXPERIMENT/TIMESTAMP)")
	cmd.Flags().IntVar(&parallel, "parallel", 2, "run at most `N` independent stages at once")
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the run to `FILE` (for go tool pprof)")
	cmd.Flags().StringVar(&storeDir, "store", "", "record the run in the store `DIR` (default $MLPIPE_STORE, else .mlpipe beside the pipeline file)")
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "run every stage, reusing nothing from the stage cache (results are still cached)")
	cmd.Flags().BoolVar(&explain, "explain", false, "say for every stage whether it ran or was reused, and why")
	cmd.Flags().IntVar(&variant, "variant", -1, "run variant `K` of the pipeline's sweep block (as mlpipe sweep does), recorded as part of the sweep")
	cmd.Flags().StringVar(&resume, "resume", "", "continue the interrupted or failed run `ID` (a record id prefix, or last) of this pipeline, in its output directory, from its finished stages and last training checkpoint")
	return cmd
}

// resumable returns the record of the run id in the store at dir if it can
// be resumed. A run that is done already is reported, and nil returned with
// no error: there is nothing left to do.
func (a *app) resumable(ctx context.Context, dir, id string) (*store.Run, error) {
	sf := storeFlag{dir: dir}
	st, err := sf.open(ctx, "")
	if err != nil {
		fmt.Fprintf(a.stderr, "mlpipe: --resume: %v\n", err)
		return nil, &exitError{exitUsage}
	}
	defer st.Close()
	r, err := lookupRun(ctx, st, id)
	if err != nil {
		fmt.Fprintf(a.stderr, "mlpipe: --resume: %v\n", err)
		return nil, &exitError{exitUsage}
	}
	switch r.Status {
	case store.Done:
		fmt.Fprintf(a.stderr, "run %s is done already; nothing to resume (its results are in %s)\n", r.ID, r.OutDir)
		return nil, nil
	case store.Running:
		fmt.Fprintf(a.stderr, "mlpipe: --resume: run %s is still running (pid %d on %s)\n", r.ID, r.PID, r.Host)
		return nil, &exitError{exitUsage}
	}
	return r, nil
}

// stageReporter returns the RunConfig.OnStage that tells the user about
// stages: with explain, every stage and why; otherwise the reused ones.
func stageReporter(w io.Writer, explain bool) func(interp.StageReport) {
	w = logWriter(w)
	return func(r interp.StageReport) {
		switch {
		case explain:
			fmt.Fprintf(w, "%s: %s: %s\n", r.Name, r.Status, r.Reason)
		case r.Status == interp.StageReused:
			fmt.Fprintf(w, "%s: %s\n", r.Name, r.Reason)
		}
	}
}

// reuseSummary says how many stages were reused, if any.
func reuseSummary(res *interp.Results) string {
	reused, ran := 0, 0
	for _, s := range res.Stages {
		switch s.Status {
		case interp.StageReused:
			reused++
		case interp.StageRan:
			ran++
		}
	}
	if reused == 0 {
		return ""
	}
	return fmt.Sprintf(" (%d stages reused from the cache, %d ran)", reused, ran)
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
