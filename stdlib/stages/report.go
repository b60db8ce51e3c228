package stages

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"

	"strings"
	"text/tabwriter"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// ReportArgs are the parameters of report.
type ReportArgs struct {
	Metrics  interp.Value `mlp:"metrics,positional" doc:"An evaluation result, such as score." kind:"metrics"`
	Training interp.Value `mlp:"training" doc:"A training result whose loss history and time to include." kind:"trained" optional:"true"`
	Name     string       `mlp:"name" doc:"Base name of the JSON file written in the run's output directory."`
}

// reportType is the type of a report: the path of the file written.
var reportType = &lang.Object{Kind: lang.KindReport, Fields: []lang.Field{
	{Name: "path", Type: lang.String, Doc: "Path of the JSON file written."},
}}

// Report is the value of a report stage.
type Report struct{ Path string }

// Type returns the report type.
func (r *Report) Type() lang.Type { return reportType }

// Select returns path.
func (r *Report) Select(name string) (any, error) {
	if name == "path" {
		return r.Path, nil
	}
	return nil, fmt.Errorf("a report has no member %q", name)
}

var reportDef = interp.Def[ReportArgs]{
	Name:     "report",
	Category: "stage",
	Doc:      "Prints the metrics as a table on standard output and writes them, with the experiment, params and training history, to NAME.json in the run's output directory.",
	Example:  "summary = report(score, training: fit)",
	Result:   reportType,
	Defaults: ReportArgs{Name: "report"},
	Infer: func(a *ReportArgs) (lang.Type, error) {
		if !plainFileName(a.Name) {
			return nil, interp.ArgErrorf("name", "report name %q must be a plain file name", a.Name)
		}
		return reportType, nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *ReportArgs) (interp.Value, error) {
		m := a.Metrics.(*value.Metrics)
		doc := reportDoc{
			Experiment: experimentDoc{Name: env.Experiment.Name, Version: env.Experiment.Version, Seed: env.Experiment.Seed, Doc: env.Experiment.Doc},
			Stage:      env.Stage,
			Params:     env.Params,
			Metrics:    map[string]jsonFloat{},
			Samples:    m.Samples,
		}
		// The table is laid out in a buffer and written at once: report
		// stages may run concurrently, and tabwriter writes cell by cell.
		var table bytes.Buffer
		w := tabwriter.NewWriter(&table, 0, 0, 2, ' ', 0)
		fmt.Fprintf(w, "%s\t%s\n", "metric", "value")
		for _, n := range m.Names {
			doc.Metrics[n] = jsonFloat(m.Values[n])
			fmt.Fprintf(w, "%s\t%.4f\n", n, m.Values[n])
		}
		if a.Training != nil {
			t := a.Training.(*value.Trained)
			doc.Training = &trainingDoc{Seconds: t.Seconds, Steps: t.Steps, Samples: t.Samples, History: t.History}
			if len(t.History) > 0 {
				fmt.Fprintf(w, "%s\t%.4f\n", "train loss", t.History[len(t.History)-1].Loss)
			}
			fmt.Fprintf(w, "%s\t%.2f\n", "train seconds", t.Seconds)
		}
		if err := w.Flush(); err != nil {
			return nil, err
		}
		if _, err := env.Stdout().Write(table.Bytes()); err != nil {
			return nil, err
		}
		if env.OutDir() == "" {
			return &Report{}, nil
		}
		data, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return nil, err
		}
		path, err := env.WriteFile(a.Name+".json", append(data, '\n'))
		if err != nil {
			return nil, err
		}
		return &Report{Path: path}, nil
	},
}

// plainFileName reports whether name names a file in the output directory
// itself, not a path.
func plainFileName(name string) bool {
	return name != "" && !strings.ContainsAny(name, `/\`) && name != "." && name != ".."
}

type reportDoc struct {
	Experiment experimentDoc        `json:"experiment"`
	Stage      string               `json:"stage"`
	Params     map[string]any       `json:"params"`
	Metrics    map[string]jsonFloat `json:"metrics"`
	Samples    int                  `json:"samples"`
	Training   *trainingDoc         `json:"training,omitempty"`
}

// jsonFloat is a metric in report.json: a number, or null where it is not
// finite (a median perturbation of +Inf when most inputs were not broken),
// which JSON cannot write.
type jsonFloat float64

// MarshalJSON implements json.Marshaler.
func (f jsonFloat) MarshalJSON() ([]byte, error) {
	if math.IsInf(float64(f), 0) || math.IsNaN(float64(f)) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

type experimentDoc struct {
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	Seed    int64  `json:"seed"`
	Doc     string `json:"doc,omitempty"`
}

type trainingDoc struct {
	Seconds float64            `json:"seconds"`
	Steps   int                `json:"steps"`
	Samples int                `json:"samples"`
	History []value.EpochStats `json:"history"`
}
