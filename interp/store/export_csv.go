package store

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"time"
)

// csvFixedColumns are the first columns of ExportCSV, in this order.
var csvFixedColumns = []string{
	"id", "run_id", "definition_id", "experiment", "experiment_version", "seed",
	"sweep", "variant", "status", "error", "started", "ended", "duration_s",
	"mlpipe_version", "backend", "host",
}

// ExportCSV writes one row per run to w: the fixed columns id, run_id,
// definition_id, experiment, experiment_version, seed, sweep, variant,
// status, error, started, ended (RFC 3339, UTC; empty when unset),
// duration_s, mlpipe_version, backend and host; then one column
// "param.NAME" per parameter of any run, sorted by name; then one column
// "STAGE.NAME" per final metric of any run, sorted. A run without that
// parameter or metric has an empty cell. Rows follow the order of runs.
// Final metrics come from Run.Metrics, so pass runs loaded by GetRun.
// Numbers are written in the shortest form that reads back exactly.
func ExportCSV(w io.Writer, runs []Run) error {
	params, metrics := csvVariableColumns(runs)
	cw := csv.NewWriter(w)
	header := append([]string{}, csvFixedColumns...)
	for _, p := range params {
		header = append(header, "param."+p)
	}
	header = append(header, metrics...)
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("exporting CSV: %w", err)
	}
	for i := range runs {
		if err := cw.Write(csvRow(&runs[i], params, metrics)); err != nil {
			return fmt.Errorf("exporting CSV: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("exporting CSV: %w", err)
	}
	return nil
}

func csvVariableColumns(runs []Run) (params, metrics []string) {
	paramSet, metricSet := map[string]bool{}, map[string]bool{}
	for i := range runs {
		for name := range runs[i].Params {
			paramSet[name] = true
		}
		for key := range runs[i].FinalMetrics() {
			metricSet[key] = true
		}
	}
	return sortedKeys(paramSet), sortedKeys(metricSet)
}

func csvRow(r *Run, params, metrics []string) []string {
	row := []string{
		r.ID, r.RunID, r.DefinitionID, r.Experiment, r.ExperimentVersion,
		strconv.FormatInt(r.Seed, 10), r.Sweep, strconv.Itoa(r.Variant), string(r.Status), r.Error,
		csvTime(r.Started), csvTime(r.Ended), csvDuration(r.Started, r.Ended),
		r.MlpipeVersion, r.Backend, r.Host,
	}
	for _, p := range params {
		row = append(row, r.Params[p])
	}
	final := r.FinalMetrics()
	for _, m := range metrics {
		v, ok := final[m]
		cell := ""
		if ok {
			cell = formatFloat(v)
		}
		row = append(row, cell)
	}
	return row
}

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func csvDuration(start, end time.Time) string {
	if start.IsZero() || end.IsZero() {
		return ""
	}
	return formatFloat(end.Sub(start).Seconds())
}

func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
