package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlpipe/mlpipe/cmd/mlpipe/internal/results"
	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/interp/store"
	"github.com/mlpipe/mlpipe/lang"
)

// Executors of a sweep.
const (
	executorLocal = "local"
	executorSLURM = "slurm"
)

// sweepOptions are the flags of mlpipe sweep.
type sweepOptions struct {
	sets     []string
	jobs     int
	executor string
	sbatch   string
	wait     bool
	resume   bool
	storeDir string
	out      string
	poll     time.Duration
}

func (a *app) sweepCmd() *cobra.Command {
	var o sweepOptions
	cmd := &cobra.Command{
		Use:   "sweep FILE",
		Short: "Run every variant of a pipeline's sweep block, locally or on SLURM",
		Long: `Sweep expands the pipeline's sweep block (a grid over params and a number of
seeds) into runs, checks every one of them, and runs them: locally, up to
--jobs at once, or on SLURM as one job array (--executor slurm), each array
task running 'mlpipe run FILE --variant K' against the shared run store.
The sweep is recorded in the store, not in this shell: closing the shell
loses nothing, 'mlpipe runs --sweep ID' shows the runs, and --resume runs
(or submits) again only the variants that are not done. When the runs end
(locally, or on SLURM with --wait) sweep prints their results: each final
metric as mean ± std over the seeds, grouped by the swept params.`,
		Example: `  mlpipe sweep pipelines/digits_sweep.mlp --jobs 2
  mlpipe sweep pipelines/digits_sweep.mlp --executor slurm --sbatch "--partition=gpu --time=1:00:00" --wait
  mlpipe sweep pipelines/digits_sweep.mlp --executor slurm --resume --wait`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.sweep(cmd.Context(), args[0], &o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.sets, "set", nil, "override a param that is not swept: `NAME=VALUE` (repeatable)")
	f.IntVar(&o.jobs, "jobs", 1, "run at most `N` variants at once (local), or at once on the cluster (slurm: the array's %N limit; 0 for none)")
	f.StringVar(&o.executor, "executor", executorLocal, "where the variants run: `local` or slurm")
	f.StringVar(&o.sbatch, "sbatch", "", "extra sbatch `OPTIONS` for the job array, such as \"--partition=long --time=2:00:00\"")
	f.BoolVar(&o.wait, "wait", false, "with slurm: wait until the array's tasks end, then report")
	f.BoolVar(&o.resume, "resume", false, "run only the variants that have no finished run in the store (failed, interrupted or never started)")
	f.StringVar(&o.storeDir, "store", "", "the run store `DIR` (default $MLPIPE_STORE, else .mlpipe beside the pipeline file)")
	f.StringVar(&o.out, "out", "", "the sweep's output `DIR`: variant-K/ per variant and its log (default runs/EXPERIMENT/sweep-ID)")
	f.DurationVar(&o.poll, "poll", 2*time.Second, "with slurm --wait: how often to ask SLURM about the job")
	return cmd
}

// plannedSweep is a checked sweep ready to run.
type plannedSweep struct {
	path     string // absolute path of the pipeline file
	checked  *interp.Checked
	variants []interp.Variant
	record   *store.Sweep
}

func (a *app) sweep(ctx context.Context, file string, o *sweepOptions) error {
	if o.executor != executorLocal && o.executor != executorSLURM {
		return fmt.Errorf("--executor %q: want local or slurm", o.executor)
	}
	if o.jobs < 0 || (o.jobs == 0 && o.executor == executorLocal) {
		return fmt.Errorf("--jobs must be >= 1 (or 0 with --executor slurm), got %d", o.jobs)
	}
	plan, err := a.planSweep(file, o)
	if err != nil {
		return err
	}
	if o.storeDir == "" {
		o.storeDir = defaultStoreDir(file)
	}
	recCtx := context.WithoutCancel(ctx)
	st, err := store.Open(recCtx, o.storeDir)
	if err != nil {
		fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
		return &exitError{exitRunFailed}
	}
	defer st.Close()
	if prev, err := st.GetSweep(recCtx, plan.record.ID); err == nil {
		plan.record.Created = prev.Created
		if o.out == "" {
			plan.record.OutDir = prev.OutDir
		}
	}
	todo := make([]int, 0, len(plan.variants))
	if o.resume {
		progress, err := st.SweepProgress(recCtx, plan.record.ID, len(plan.variants))
		if err != nil {
			fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
			return &exitError{exitRunFailed}
		}
		for _, p := range progress {
			if p.Status != store.Done && p.Status != store.Running {
				todo = append(todo, p.Variant)
			}
		}
	} else {
		for _, v := range plan.variants {
			todo = append(todo, v.Index)
		}
	}
	if err := os.MkdirAll(plan.record.OutDir, 0o755); err != nil {
		fmt.Fprintf(a.stderr, "mlpipe: cannot create the sweep's output directory: %v\n", err)
		return &exitError{exitRunFailed}
	}
	fmt.Fprintf(a.stderr, "sweep %s of %s: %d variants (%s), %d to run, executor %s; store %s\n",
		plan.record.ID, file, len(plan.variants), describeGrid(plan.checked.Sweep), len(todo), o.executor, o.storeDir)
	if len(todo) == 0 {
		fmt.Fprintln(a.stderr, "every variant is done already")
		return a.sweepReport(recCtx, st, plan.record)
	}
	if o.executor == executorSLURM {
		return a.sweepSLURM(ctx, st, plan, todo, o)
	}
	plan.record.Executor = executorLocal
	if err := st.PutSweep(recCtx, plan.record); err != nil {
		fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
		return &exitError{exitRunFailed}
	}
	failed := a.sweepLocal(ctx, plan, todo, o)
	if ctx.Err() != nil {
		fmt.Fprintf(a.stderr, "mlpipe: interrupted; the variants that did not finish are recorded as interrupted: mlpipe sweep %s --resume continues\n", file)
		return &exitError{exitInterrupted}
	}
	if err := a.sweepReport(recCtx, st, plan.record); err != nil {
		return err
	}
	if len(failed) > 0 {
		return a.reportFailed(plan, failed, file)
	}
	return nil
}

// planSweep checks the pipeline and every variant of its sweep, and builds
// the sweep's record.
func (a *app) planSweep(file string, o *sweepOptions) (*plannedSweep, error) {
	overrides, err := parseSets(o.sets)
	if err != nil {
		return nil, err
	}
	checked, sources := a.load(file, interp.Config{Overrides: overrides})
	if checked == nil {
		return nil, &exitError{exitUsage}
	}
	if checked.Sweep == nil {
		fmt.Fprintf(a.stderr, "mlpipe: %s has no sweep block: mlpipe run runs it once; a sweep block declares the params to vary and the seeds\n", file)
		return nil, &exitError{exitUsage}
	}
	variants := checked.Sweep.Variants(checked.Experiment.Seed)
	// Every variant is checked before anything runs: a swept value may be
	// fine for its param and out of range where the param is used.
	for _, v := range variants {
		k := v.Index
		if _, err := interp.Check(checked.Program, a.registry, interp.Config{Overrides: overrides, Variant: &k}); err != nil {
			fmt.Fprintf(a.stderr, "variant %d (%s):\n", k, describeVariant(v))
			a.printDiags(err, sources)
			return nil, &exitError{exitUsage}
		}
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	id := interp.SweepID(checked)
	rec := &store.Sweep{
		ID:         sweepRecordID(checked.Sweep.Name, id),
		SweepID:    id,
		Name:       checked.Sweep.Name,
		Experiment: checked.Experiment.Name,
		Pipeline:   abs,
		Variants:   len(variants),
		OutDir:     o.out,
	}
	for _, ax := range checked.Sweep.Axes {
		rec.Axes = append(rec.Axes, ax.Param)
	}
	for _, s := range o.sets {
		rec.Args = append(rec.Args, "--set", s)
	}
	if rec.OutDir == "" {
		rec.OutDir = filepath.Join("runs", unsafeChars.ReplaceAllString(checked.Experiment.Name, "_"), "sweep-"+rec.ID)
	}
	if rec.OutDir, err = filepath.Abs(rec.OutDir); err != nil {
		return nil, err
	}
	return &plannedSweep{path: abs, checked: checked, variants: variants, record: rec}, nil
}

// sweepRecordID names a sweep in the store: its name, made safe for file
// names, and 12 hex digits of its id.
func sweepRecordID(name, id string) string {
	safe := unsafeChars.ReplaceAllString(name, "_")
	if safe == "" {
		safe = "sweep"
	}
	return safe + "-" + interp.ShortID(id)
}

// describeGrid says what a sweep varies: "lr x3, hidden x2, 2 seeds".
func describeGrid(s *interp.Sweep) string {
	var parts []string
	for _, ax := range s.Axes {
		parts = append(parts, fmt.Sprintf("%s x%d", ax.Param, len(ax.Values)))
	}
	seeds := "1 seed"
	if s.Seeds != 1 {
		seeds = fmt.Sprintf("%d seeds", s.Seeds)
	}
	return strings.Join(append(parts, seeds), ", ")
}

// describeVariant lists a variant's params and seed: "lr=0.01 hidden=64 seed=7".
func describeVariant(v interp.Variant) string {
	var parts []string
	for _, p := range v.Params {
		parts = append(parts, p.Param+"="+lang.FormatValue(p.Value))
	}
	return strings.Join(append(parts, "seed="+strconv.FormatInt(v.Seed, 10)), " ")
}

// variantArgs are the arguments of the mlpipe run of variant k.
func (a *app) variantArgs(plan *plannedSweep, k int, storeDir string, threads int) []string {
	args := []string{"--blas", a.backend.blas}
	if threads > 0 {
		args = append(args, "--threads", strconv.Itoa(threads))
	}
	args = append(args, "run", plan.path, "--variant", strconv.Itoa(k), "--store", storeDir,
		"--out", filepath.Join(plan.record.OutDir, fmt.Sprintf("variant-%d", k)))
	return append(args, plan.record.Args...)
}

// sweepLocal runs the variants todo as child processes, up to o.jobs at
// once, and returns those that failed.
func (a *app) sweepLocal(ctx context.Context, plan *plannedSweep, todo []int, o *sweepOptions) []int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(a.stderr, "mlpipe: cannot find the mlpipe executable: %v\n", err)
		return todo
	}
	storeDir, _ := filepath.Abs(o.storeDir)
	threads := a.backend.threads
	if threads == 0 && o.jobs > 1 {
		threads = max(1, runtime.NumCPU()/o.jobs) // the jobs share the cores
	}
	progress := newProgressFunc(a.stderr)("sweep", int64(len(todo)), "run")
	defer progress.Finish()
	log := logWriter(a.stderr)
	var (
		mu     sync.Mutex
		failed []int
		done   int
		wg     sync.WaitGroup
	)
	sem := make(chan struct{}, o.jobs)
	for _, k := range todo {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			defer func() { <-sem }()
			start := time.Now()
			logPath := filepath.Join(plan.record.OutDir, fmt.Sprintf("variant-%d.log", k))
			err := runChild(ctx, self, a.variantArgs(plan, k, storeDir, threads), logPath)
			mu.Lock()
			defer mu.Unlock()
			done++
			v := plan.variants[k]
			if err != nil {
				if ctx.Err() == nil {
					failed = append(failed, k)
					fmt.Fprintf(log, "sweep: variant %d (%s) failed: %v; its log: %s\n", k, describeVariant(v), err, logPath)
				}
			} else {
				fmt.Fprintf(log, "sweep: variant %d (%s) done in %.1fs\n", k, describeVariant(v), time.Since(start).Seconds())
			}
			progress.Add(1, fmt.Sprintf("%d/%d runs, %d failed", done, len(todo), len(failed)))
		}(k)
	}
	wg.Wait()
	slices.Sort(failed)
	return failed
}

// runChild runs the mlpipe command with args, its output into the file at
// logPath. A cancelled ctx interrupts it as Ctrl-C would, so that it
// records its run as interrupted.
func runChild(ctx context.Context, self string, args []string, logPath string) error {
	f, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("exit status %d", ee.ExitCode())
		}
		return err
	}
	return nil
}

// reportFailed lists the failed variants and exits with status 1.
func (a *app) reportFailed(plan *plannedSweep, failed []int, file string) error {
	idx := make([]string, len(failed))
	for i, k := range failed {
		idx[i] = strconv.Itoa(k)
	}
	fmt.Fprintf(a.stderr, "mlpipe: %d of %d variants failed: %s; their logs are in %s; mlpipe sweep %s --resume runs them again\n",
		len(failed), len(plan.variants), strings.Join(idx, ","), plan.record.OutDir, file)
	return &exitError{exitRunFailed}
}

// sweepReport prints the aggregated results of a sweep's finished runs.
func (a *app) sweepReport(ctx context.Context, st *store.Store, sw *store.Sweep) error {
	tab, n, err := sweepTable(ctx, st, sw, sw.Axes, nil)
	if err != nil {
		fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
		return &exitError{exitRunFailed}
	}
	if n == 0 {
		fmt.Fprintln(a.stderr, "no variant has finished")
		return nil
	}
	fmt.Fprintf(a.stderr, "results of %d finished runs of sweep %s (mean ± std over seeds):\n", n, sw.ID)
	return tab.Markdown(a.stdout)
}

// sweepTable aggregates the latest finished run of every variant of a
// sweep and returns the table and the number of runs in it.
func sweepTable(ctx context.Context, st *store.Store, sw *store.Sweep, groupBy, metrics []string) (*results.Table, int, error) {
	progress, err := st.SweepProgress(ctx, sw.ID, sw.Variants)
	if err != nil {
		return nil, 0, err
	}
	var runs []store.Run
	for _, p := range progress {
		if p.Status != store.Done {
			continue
		}
		r, err := st.GetRun(ctx, p.Record)
		if err != nil {
			return nil, 0, err
		}
		runs = append(runs, *r)
	}
	tab, err := results.Aggregate(runs, groupBy, metrics)
	return tab, len(runs), err
}
