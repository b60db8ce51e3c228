package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlpipe/mlpipe/cmd/mlpipe/internal/results"
	"github.com/mlpipe/mlpipe/interp/store"
)

// storeFlag is the --store flag of the commands that read a run store.
type storeFlag struct{ dir string }

func (f *storeFlag) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.dir, "store", "", "the run store `DIR` (default: $MLPIPE_STORE, else .mlpipe beside the pipeline given with --pipeline, else .mlpipe in the current directory)")
}

// open opens the store named by --store, or the one beside pipeline, or
// ./.mlpipe. A store that does not exist yet is an error, not a new store.
func (f *storeFlag) open(ctx context.Context, pipeline string) (*store.Store, error) {
	dir := f.dir
	switch {
	case dir != "":
	case pipeline != "":
		dir = defaultStoreDir(pipeline)
	case os.Getenv(storeEnv) != "":
		dir = os.Getenv(storeEnv)
	default:
		dir = ".mlpipe"
	}
	if _, err := os.Stat(filepath.Join(dir, store.DBName)); err != nil {
		return nil, fmt.Errorf("no run store in %s (runs are recorded in .mlpipe beside the pipeline file; give --store DIR or --pipeline FILE)", dir)
	}
	return store.Open(ctx, dir)
}

func (a *app) runsCmd() *cobra.Command {
	var (
		sf         storeFlag
		pipeline   string
		experiment string
		status     string
		params     []string
		sweep      string
	)
	cmd := &cobra.Command{
		Use:   "runs",
		Short: "List the recorded runs",
		Long: `Runs lists the runs recorded in a run store, newest first: record id,
experiment, status, seed, start, duration, params and final metrics. The
subcommands show one run, compare two, and export runs to CSV or to MLflow's
file store.`,
		Example: "  mlpipe runs --pipeline pipelines/quickstart.mlp\n  mlpipe runs --store pipelines/.mlpipe --status done --param lr=0.01",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			filter := store.Filter{Experiment: experiment, Status: store.Status(status), Sweep: sweep, Params: map[string]string{}}
			for _, p := range params {
				k, v, ok := strings.Cut(p, "=")
				if !ok {
					return fmt.Errorf("--param %q: want NAME=VALUE", p)
				}
				filter.Params[k] = v
			}
			return a.withStore(cmd.Context(), &sf, pipeline, func(ctx context.Context, st *store.Store) error {
				runs, err := st.ListRuns(ctx, filter)
				if err != nil {
					return err
				}
				if len(runs) == 0 {
					fmt.Fprintln(a.stderr, "no runs match")
					return nil
				}
				whole := make([]store.Run, len(runs))
				for i, r := range runs {
					w, err := st.GetRun(ctx, r.ID)
					if err != nil {
						return err
					}
					whole[i] = *w
				}
				printRunTable(a.stdout, whole)
				return nil
			})
		},
	}
	sf.register(cmd)
	cmd.PersistentFlags().StringVar(&pipeline, "pipeline", "", "use the store beside the pipeline `FILE`")
	cmd.Flags().StringVar(&experiment, "experiment", "", "only runs of the experiment `NAME`")
	cmd.Flags().StringVar(&status, "status", "", "only runs in `STATE`: running, done, failed or interrupted")
	cmd.Flags().StringArrayVar(&params, "param", nil, "only runs whose param has this value: `NAME=VALUE` (repeatable)")
	cmd.Flags().StringVar(&sweep, "sweep", "", "only runs of the sweep `NAME`")
	cmd.AddCommand(a.runsShowCmd(&sf, &pipeline), a.runsDiffCmd(&sf, &pipeline), a.runsExportCmd(&sf, &pipeline), a.runsTableCmd(&sf, &pipeline))
	return cmd
}

// withStore opens the store, runs f, closes the store and maps errors to
// exit statuses.
func (a *app) withStore(ctx context.Context, sf *storeFlag, pipeline string, f func(context.Context, *store.Store) error) error {
	st, err := sf.open(ctx, pipeline)
	if err != nil {
		fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
		return &exitError{exitUsage}
	}
	defer st.Close()
	if err := f(ctx, st); err != nil {
		fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
		var amb *store.AmbiguousError
		if errors.Is(err, store.ErrNotFound) || errors.As(err, &amb) {
			return &exitError{exitUsage}
		}
		return &exitError{exitRunFailed}
	}
	return nil
}

// lastRun is the run id that names the newest run of a store.
const lastRun = "last"

// lookupRun returns the whole record of the run id: a prefix of a record
// id or run id, or "last" for the newest run.
func lookupRun(ctx context.Context, st *store.Store, id string) (*store.Run, error) {
	if id == lastRun {
		runs, err := st.ListRuns(ctx, store.Filter{})
		if err != nil {
			return nil, err
		}
		if len(runs) == 0 {
			return nil, fmt.Errorf("store %s holds no runs: %w", st.Dir(), store.ErrNotFound)
		}
		id = runs[0].ID
	}
	return st.GetRun(ctx, id)
}

func sortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func formatMetric(x float64) string { return strconv.FormatFloat(x, 'g', 4, 64) }

func runDuration(r *store.Run) string {
	if r.Ended.IsZero() {
		return "-"
	}
	return r.Ended.Sub(r.Started).Round(10 * time.Millisecond).String()
}

// printRunTable prints one line per run.
func printRunTable(w io.Writer, runs []store.Run) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RECORD\tEXPERIMENT\tSTATUS\tSEED\tSTARTED\tDURATION\tPARAMS\tMETRICS")
	for i := range runs {
		r := &runs[i]
		var ps []string
		for _, k := range sortedNames(r.Params) {
			ps = append(ps, k+"="+r.Params[k])
		}
		fm := r.FinalMetrics()
		var ms []string
		for _, k := range sortedNames(fm) {
			ms = append(ms, k+"="+formatMetric(fm[k]))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.ID, r.Experiment, r.Status, r.Seed,
			r.Started.Local().Format("2006-01-02 15:04:05"), runDuration(r), strings.Join(ps, " "), strings.Join(ms, " "))
	}
	tw.Flush()
}

func (a *app) runsShowCmd(sf *storeFlag, pipeline *string) *cobra.Command {
	return &cobra.Command{
		Use:     "show ID",
		Short:   "Show everything recorded of one run",
		Long:    "Show prints a run's record: ids, status, params, data files, sources, metrics, artifacts and the canonical pipeline. ID is a prefix of the record id or of the run id, or last for the newest run.",
		Example: "  mlpipe runs show 20261202-1841 --pipeline pipelines/quickstart.mlp",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), sf, *pipeline, func(ctx context.Context, st *store.Store) error {
				r, err := lookupRun(ctx, st, args[0])
				if err != nil {
					return err
				}
				printRun(a.stdout, st, r)
				return nil
			})
		},
	}
}

// printRun writes a whole run record.
func printRun(w io.Writer, st *store.Store, r *store.Run) {
	fmt.Fprintf(w, "record      %s\n", r.ID)
	fmt.Fprintf(w, "run         %s\n", r.RunID)
	fmt.Fprintf(w, "definition  %s\n", r.DefinitionID)
	fmt.Fprintf(w, "experiment  %s (version %s), seed %d\n", r.Experiment, r.ExperimentVersion, r.Seed)
	if r.Sweep != "" {
		fmt.Fprintf(w, "sweep       %s, variant %d\n", r.Sweep, r.Variant)
	}
	status := string(r.Status)
	if r.Error != "" {
		status += ": " + r.Error
	}
	fmt.Fprintf(w, "status      %s\n", status)
	fmt.Fprintf(w, "started     %s on %s (pid %d), took %s\n", r.Started.Local().Format(time.RFC3339), r.Host, r.PID, runDuration(r))
	fmt.Fprintf(w, "mlpipe      %s; backend %s\n", r.MlpipeVersion, r.Backend)
	fmt.Fprintf(w, "output      %s\n", r.OutDir)
	if len(r.Params) > 0 {
		fmt.Fprintln(w, "\nparams")
		for _, k := range sortedNames(r.Params) {
			fmt.Fprintf(w, "  %s = %s\n", k, r.Params[k])
		}
	}
	if len(r.DataFiles) > 0 {
		fmt.Fprintln(w, "\ndata files")
		for _, f := range r.DataFiles {
			fmt.Fprintf(w, "  %s  %s  %d bytes\n", f.Digest, f.Path, f.Size)
		}
	}
	if len(r.Sources) > 0 {
		fmt.Fprintln(w, "\nsources")
		for _, s := range r.Sources {
			fmt.Fprintf(w, "  %s  %s\n", s.Digest, s.Path)
		}
	}
	if fm := r.FinalMetrics(); len(fm) > 0 {
		fmt.Fprintln(w, "\nmetrics")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, k := range sortedNames(fm) {
			fmt.Fprintf(tw, "  %s\t%s\n", k, strconv.FormatFloat(fm[k], 'g', -1, 64))
		}
		tw.Flush()
	}
	if series := metricSeries(r); len(series) > 0 {
		fmt.Fprintln(w, "\nmetrics over time")
		for _, k := range sortedNames(series) {
			fmt.Fprintf(w, "  %s: %s\n", k, series[k])
		}
	}
	if len(r.Artifacts) > 0 {
		fmt.Fprintln(w, "\nartifacts")
		for _, art := range r.Artifacts {
			fmt.Fprintf(w, "  %s  %s (%s, %d bytes): %s\n", art.Digest, art.Name, art.Stage, art.Size, st.ObjectPath(art.Digest))
		}
	}
	if r.Canonical != "" {
		fmt.Fprintln(w, "\ncanonical pipeline")
		for _, line := range strings.Split(strings.TrimRight(r.Canonical, "\n"), "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
}

// metricSeries summarises the metrics logged per step: first and last
// value and the number of steps.
func metricSeries(r *store.Run) map[string]string {
	type span struct {
		first, last float64
		n           int
	}
	spans := map[string]*span{}
	for _, m := range r.Metrics {
		if m.Step < 0 {
			continue
		}
		k := m.Stage + "." + m.Name
		s, ok := spans[k]
		if !ok {
			s = &span{first: m.Value}
			spans[k] = s
		}
		s.last = m.Value
		s.n++
	}
	out := map[string]string{}
	for k, s := range spans {
		out[k] = fmt.Sprintf("%d steps, %s -> %s", s.n, formatMetric(s.first), formatMetric(s.last))
	}
	return out
}

func (a *app) runsDiffCmd(sf *storeFlag, pipeline *string) *cobra.Command {
	return &cobra.Command{
		Use:     "diff ID ID",
		Short:   "Compare two runs: their pipelines, params and metrics",
		Long:    "Diff prints the lines of the canonical pipeline that differ between two runs (- first, + second), their params and data files where they differ, and every final metric side by side with the difference.",
		Example: "  mlpipe runs diff 20261202-1841 20261202-1842 --pipeline pipelines/quickstart.mlp",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), sf, *pipeline, func(ctx context.Context, st *store.Store) error {
				x, err := lookupRun(ctx, st, args[0])
				if err != nil {
					return err
				}
				y, err := lookupRun(ctx, st, args[1])
				if err != nil {
					return err
				}
				printDiff(a.stdout, x, y)
				return nil
			})
		},
	}
}

// printDiff compares two runs.
func printDiff(w io.Writer, x, y *store.Run) {
	fmt.Fprintf(w, "--- %s (%s, seed %d)\n+++ %s (%s, seed %d)\n", x.ID, x.Experiment, x.Seed, y.ID, y.Experiment, y.Seed)
	if x.DefinitionID == y.DefinitionID {
		fmt.Fprintln(w, "\npipeline: the same definition", x.DefinitionID)
	} else {
		fmt.Fprintln(w, "\npipeline")
		xl, yl := lineSet(x.Canonical), lineSet(y.Canonical)
		for _, l := range strings.Split(strings.TrimRight(x.Canonical, "\n"), "\n") {
			if !yl[l] {
				fmt.Fprintf(w, "- %s\n", l)
			}
		}
		for _, l := range strings.Split(strings.TrimRight(y.Canonical, "\n"), "\n") {
			if !xl[l] {
				fmt.Fprintf(w, "+ %s\n", l)
			}
		}
	}
	names := map[string]bool{}
	for k := range x.Params {
		names[k] = true
	}
	for k := range y.Params {
		names[k] = true
	}
	var changed []string
	for _, k := range sortedNames(names) {
		if x.Params[k] != y.Params[k] {
			changed = append(changed, fmt.Sprintf("  %s: %s -> %s", k, orNone(x.Params[k]), orNone(y.Params[k])))
		}
	}
	if len(changed) > 0 {
		fmt.Fprintln(w, "\nparams")
		fmt.Fprintln(w, strings.Join(changed, "\n"))
	}
	xd, yd := map[string]string{}, map[string]string{}
	for _, f := range x.DataFiles {
		xd[f.Path] = string(f.Digest)
	}
	for _, f := range y.DataFiles {
		yd[f.Path] = string(f.Digest)
	}
	var dataChanged []string
	for _, p := range sortedNames(union(xd, yd)) {
		if xd[p] != yd[p] {
			dataChanged = append(dataChanged, fmt.Sprintf("  %s: %s -> %s", p, orNone(xd[p]), orNone(yd[p])))
		}
	}
	if len(dataChanged) > 0 {
		fmt.Fprintln(w, "\ndata files")
		fmt.Fprintln(w, strings.Join(dataChanged, "\n"))
	}
	xm, ym := x.FinalMetrics(), y.FinalMetrics()
	all := map[string]bool{}
	for k := range xm {
		all[k] = true
	}
	for k := range ym {
		all[k] = true
	}
	if len(all) == 0 {
		return
	}
	fmt.Fprintln(w, "\nmetrics")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "metric\t%s\t%s\tdifference\t\n", x.ID, y.ID)
	for _, k := range sortedNames(all) {
		a, inX := xm[k]
		b, inY := ym[k]
		cell := func(v float64, ok bool) string {
			if !ok {
				return "-"
			}
			return strconv.FormatFloat(v, 'g', 6, 64)
		}
		diff := "-"
		if inX && inY {
			diff = strconv.FormatFloat(b-a, 'g', 4, 64)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", k, cell(a, inX), cell(b, inY), diff)
	}
	tw.Flush()
}

func lineSet(s string) map[string]bool {
	out := map[string]bool{}
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		out[l] = true
	}
	return out
}

func union(a, b map[string]string) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		out[k] = true
	}
	for k := range b {
		out[k] = true
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (a *app) runsExportCmd(sf *storeFlag, pipeline *string) *cobra.Command {
	var (
		format string
		out    string
	)
	cmd := &cobra.Command{
		Use:   "export [ID...]",
		Short: "Export runs as CSV or as an MLflow file store",
		Long: `Export writes the given runs (all runs when none is given) as CSV on standard
output (--format csv: one row per run, its params and final metrics as
columns), or as MLflow's file store in --out DIR (--format mlflow), which
mlflow ui --backend-store-uri DIR opens.`,
		Example: "  mlpipe runs export --format csv > runs.csv\n  mlpipe runs export --format mlflow --out mlruns",
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "csv" && format != "mlflow" {
				return fmt.Errorf("--format %q: want csv or mlflow", format)
			}
			return a.withStore(cmd.Context(), sf, *pipeline, func(ctx context.Context, st *store.Store) error {
				ids := args
				if len(ids) == 0 {
					list, err := st.ListRuns(ctx, store.Filter{})
					if err != nil {
						return err
					}
					for _, r := range list {
						ids = append(ids, r.ID)
					}
				}
				runs := make([]store.Run, 0, len(ids))
				for _, id := range ids {
					r, err := lookupRun(ctx, st, id)
					if err != nil {
						return err
					}
					runs = append(runs, *r)
				}
				if format == "csv" {
					return store.ExportCSV(a.stdout, runs)
				}
				if err := st.ExportMLflow(ctx, out, runs); err != nil {
					return err
				}
				fmt.Fprintf(a.stderr, "exported %d runs to %s (mlflow ui --backend-store-uri %s)\n", len(runs), out, out)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&format, "format", "csv", "`csv` or mlflow")
	cmd.Flags().StringVar(&out, "out", "mlruns", "the MLflow file store `DIR` to write")
	return cmd
}

func (a *app) cacheCmd() *cobra.Command {
	var (
		sf       storeFlag
		pipeline string
	)
	cmd := &cobra.Command{
		Use:   "cache",
		Short: "Manage the stage cache",
		Long:  "The stage cache keeps the results of training and evaluation stages in the run store, keyed by everything they depend on. gc frees the space of objects nothing refers to; clear forgets every cached result (then gc frees it).",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.SetOut(a.stderr)
			_ = cmd.Help()
			return &exitError{exitUsage}
		},
	}
	sf.register(cmd)
	cmd.PersistentFlags().StringVar(&pipeline, "pipeline", "", "use the store beside the pipeline `FILE`")
	gc := &cobra.Command{
		Use:   "gc",
		Short: "Remove stored objects that nothing refers to",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), &sf, pipeline, func(ctx context.Context, st *store.Store) error {
				stats, err := st.GC(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "removed %d objects (%d bytes) and %d stale temporary files\n", stats.Objects, stats.Bytes, stats.TempFiles)
				return nil
			})
		},
	}
	clear := &cobra.Command{
		Use:   "clear",
		Short: "Forget every cached stage result, then remove what nothing else refers to",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withStore(cmd.Context(), &sf, pipeline, func(ctx context.Context, st *store.Store) error {
				n, err := st.CacheClear(ctx)
				if err != nil {
					return err
				}
				stats, err := st.GC(ctx)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "forgot %d cached results; removed %d objects (%d bytes)\n", n, stats.Objects, stats.Bytes)
				return nil
			})
		},
	}
	cmd.AddCommand(gc, clear)
	return cmd
}

func (a *app) runsTableCmd(sf *storeFlag, pipeline *string) *cobra.Command {
	var (
		sweep      string
		experiment string
		groupBy    []string
		metrics    []string
		format     string
		plotPath   string
		x          string
		y          []string
	)
	cmd := &cobra.Command{
		Use:   "table",
		Short: "Aggregate finished runs: each metric's mean and std over seeds, grouped by params",
		Long: `Table groups finished runs by the values of the params --group-by names and
gives each final metric (STAGE.NAME) as mean ± standard deviation over the
runs of each group, as Markdown or CSV. With --sweep ID (or --sweep last) it
takes the latest finished run of every variant of the sweep, grouped by the
swept params unless --group-by says otherwise; otherwise it takes every
finished run of --experiment. --plot FILE.png also draws --y against the
param --x, one line per value of the other grouping params, with error bars;
without --x it draws the metrics --y names side by side, one series of
points per group.`,
		Example: `  mlpipe runs table --sweep last --pipeline pipelines/digits_sweep.mlp
  mlpipe runs table --sweep last --format csv > sweep.csv
  mlpipe runs table --sweep last --plot acc.png --x lr --y score.accuracy
  mlpipe runs table --sweep last --plot probes.png --y probe_a.accuracy,probe_b.accuracy`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if format != "md" && format != "csv" {
				return fmt.Errorf("--format %q: want md or csv", format)
			}
			return a.withStore(cmd.Context(), sf, *pipeline, func(ctx context.Context, st *store.Store) error {
				tab, title, err := a.aggregate(ctx, st, sweep, experiment, groupBy, metrics)
				if err != nil {
					return err
				}
				if plotPath != "" {
					switch {
					case len(y) == 0:
						return fmt.Errorf("--plot needs --y METRIC (with --x PARAM), or --y METRIC,... to compare metrics")
					case x == "":
						if err := tab.PlotMetrics(plotPath, y, title); err != nil {
							return err
						}
					case len(y) > 1:
						return fmt.Errorf("--x %s takes one --y METRIC, not %d (leave out --x to compare metrics)", x, len(y))
					default:
						if err := tab.Plot(plotPath, x, y[0], title); err != nil {
							return err
						}
					}
					fmt.Fprintf(a.stderr, "wrote %s\n", plotPath)
				}
				if format == "csv" {
					return tab.CSV(a.stdout)
				}
				return tab.Markdown(a.stdout)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&sweep, "sweep", "", "the runs of the sweep `ID` (or last)")
	f.StringVar(&experiment, "experiment", "", "the finished runs of the experiment `NAME` (without --sweep)")
	f.StringSliceVar(&groupBy, "group-by", nil, "group by these `PARAMS` (comma-separated; default with --sweep: the swept params)")
	f.StringSliceVar(&metrics, "metric", nil, "only these `METRICS` (STAGE.NAME, comma-separated; default: all)")
	f.StringVar(&format, "format", "md", "`md` (Markdown) or csv")
	f.StringVar(&plotPath, "plot", "", "also draw --y against --x into `FILE` (.png, .svg or .pdf)")
	f.StringVar(&x, "x", "", "the plot's x axis: a grouping `PARAM`")
	f.StringSliceVar(&y, "y", nil, "the plot's y axis: a `METRIC` (or, without --x, METRIC,... side by side)")
	return cmd
}

// aggregate builds the table of a sweep's runs, or of an experiment's
// finished runs, and a title for its plot.
func (a *app) aggregate(ctx context.Context, st *store.Store, sweep, experiment string, groupBy, metrics []string) (*results.Table, string, error) {
	if sweep != "" {
		var sw *store.Sweep
		var err error
		if sweep == lastRun {
			sw, err = st.LatestSweep(ctx)
		} else {
			sw, err = st.GetSweep(ctx, sweep)
		}
		if err != nil {
			return nil, "", err
		}
		if len(groupBy) == 0 {
			groupBy = sw.Axes
		}
		tab, n, err := sweepTable(ctx, st, sw, groupBy, metrics)
		if err != nil {
			return nil, "", err
		}
		if n == 0 {
			return nil, "", fmt.Errorf("no variant of sweep %s has finished", sw.ID)
		}
		return tab, fmt.Sprintf("%s: %d runs", sw.ID, n), nil
	}
	if experiment == "" || len(groupBy) == 0 {
		return nil, "", fmt.Errorf("give --sweep ID, or --experiment NAME and --group-by PARAMS")
	}
	list, err := st.ListRuns(ctx, store.Filter{Experiment: experiment, Status: store.Done})
	if err != nil {
		return nil, "", err
	}
	if len(list) == 0 {
		return nil, "", fmt.Errorf("experiment %q has no finished runs: %w", experiment, store.ErrNotFound)
	}
	runs := make([]store.Run, len(list))
	for i, r := range list {
		w, err := st.GetRun(ctx, r.ID)
		if err != nil {
			return nil, "", err
		}
		runs[i] = *w
	}
	tab, err := results.Aggregate(runs, groupBy, metrics)
	return tab, fmt.Sprintf("%s: %d runs", experiment, len(runs)), err
}
