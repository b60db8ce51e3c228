package stages

import (
	"context"
	"fmt"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/metrics"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// EvaluateArgs are the parameters of evaluate.
type EvaluateArgs struct {
	Model   interp.Value   `mlp:"model,positional" doc:"A trained model, such as fit.model." kind:"model"`
	Data    interp.Value   `mlp:"data,positional" doc:"The split to evaluate on, such as data.test." kind:"dataset"`
	Metrics []interp.Value `mlp:"metrics" doc:"The metrics to compute; default [accuracy(), nll()]." kind:"metric" optional:"true"`
	Batch   int            `mlp:"batch" doc:"Samples per forward pass (affects speed only)." range:"[1,inf)"`
}

// defaultMetricsType is the result type of an evaluation with the default
// metrics.
func defaultMetricsType() *lang.Object {
	var ms []*lang.Object
	for _, m := range metrics.Defaults() {
		ms = append(ms, value.MetricType(m.Name, m.Doc))
	}
	return value.MetricsType(ms)
}

var evaluateDef = interp.Def[EvaluateArgs]{
	Name:     "evaluate",
	Category: "stage",
	Doc:      "Evaluates a trained model on a data set; the result has one member per metric (score.accuracy).",
	Example:  "score = evaluate(fit.model, data.test, metrics: [accuracy(), nll()])",
	Result:   defaultMetricsType(),
	Defaults: EvaluateArgs{Batch: 1000},
	Infer: func(a *EvaluateArgs) (lang.Type, error) {
		if _, _, err := matchWidths(a.Model, a.Data); err != nil {
			return nil, err
		}
		if len(a.Metrics) == 0 {
			return defaultMetricsType(), nil
		}
		var ms []*lang.Object
		seen := map[string]bool{}
		for _, m := range a.Metrics {
			o := interp.ObjectOf(m)
			if o == nil {
				continue
			}
			for _, f := range o.Fields {
				if seen[f.Name] {
					return nil, interp.ArgErrorf("metrics", "metric %s is listed twice", f.Name)
				}
				seen[f.Name] = true
			}
			ms = append(ms, o)
		}
		return value.MetricsType(ms), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *EvaluateArgs) (interp.Value, error) {
		model := a.Model.(*value.Model)
		data := a.Data.(*value.Dataset).D
		if model.Weights == nil {
			return nil, interp.ArgErrorf("model", "the model has no weights yet: evaluate a trained model, such as the .model of a train stage")
		}
		if data.N == 0 {
			return nil, interp.ArgErrorf("data", "the data set is empty")
		}
		if in := model.Weights.Arch.InputWidth(); in != data.Features() {
			return nil, interp.ArgErrorf("data", "the model takes %d inputs, but the data set has %d features per sample", in, data.Features())
		}
		classes := model.Weights.Arch.OutputWidth()
		logits, err := backend.Predict(ctx, model.Weights, data.X, data.N, a.Batch)
		if err != nil {
			return nil, err
		}
		ms := metrics.Defaults()
		if len(a.Metrics) > 0 {
			ms = ms[:0]
			for _, m := range a.Metrics {
				ms = append(ms, m.(*value.Metric))
			}
		}
		out := &value.Metrics{Values: map[string]float64{}, Docs: map[string]string{}, Samples: data.N}
		for _, m := range ms {
			v, err := m.Compute(logits, data.Y, classes)
			if err != nil {
				return nil, fmt.Errorf("metric %s: %w", m.Name, err)
			}
			out.Names = append(out.Names, m.Name)
			out.Values[m.Name] = v
			out.Docs[m.Name] = m.Doc
		}
		return out, nil
	},
}
