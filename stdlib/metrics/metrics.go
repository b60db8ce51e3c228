// Package metrics declares the evaluation metrics of the standard library.
// Each computes one number from a model's logits and the true labels.
package metrics

import (
	"context"
	"fmt"
	"math"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// Register adds the metrics to r.
func Register(r *interp.Registry) {
	for _, m := range all {
		interp.Register(r, def(m))
	}
}

// Defaults returns the metrics an evaluation computes when none are named:
// accuracy and nll.
func Defaults() []*value.Metric { return []*value.Metric{all[0], all[1]} }

var all = []*value.Metric{
	{Name: "accuracy", Doc: "Fraction of samples whose largest logit is the true class (ties: the first).", Compute: Accuracy},
	{Name: "nll", Doc: "Mean negative log-likelihood of the true class under the softmax of the logits (the cross-entropy), in nats.", Compute: NLL},
}

// NoArgs are the (no) parameters of a metric.
type NoArgs struct{}

func def(m *value.Metric) interp.Def[NoArgs] {
	return interp.Def[NoArgs]{
		Name:     m.Name,
		Category: lang.KindMetric,
		Doc:      m.Doc,
		Example:  fmt.Sprintf("score = evaluate(fit.model, data.test, metrics: [%s()])", m.Name),
		Result:   value.MetricType(m.Name, m.Doc),
		Build: func(ctx context.Context, env *interp.Env, a *NoArgs) (interp.Value, error) {
			return m, nil
		},
	}
}

func check(logits []float32, labels []int32, classes int) (int, error) {
	n := len(labels)
	if classes <= 0 || len(logits) != n*classes {
		return 0, fmt.Errorf("%d logits for %d samples of %d classes", len(logits), n, classes)
	}
	if n == 0 {
		return 0, fmt.Errorf("no samples to evaluate")
	}
	for i, y := range labels {
		if y < 0 || int(y) >= classes {
			return 0, fmt.Errorf("sample %d has label %d, outside the model's %d outputs", i, y, classes)
		}
	}
	return n, nil
}

// Accuracy returns the fraction of rows whose arg-max is the label.
func Accuracy(logits []float32, labels []int32, classes int) (float64, error) {
	n, err := check(logits, labels, classes)
	if err != nil {
		return 0, err
	}
	correct := 0
	for i := 0; i < n; i++ {
		row := logits[i*classes : (i+1)*classes]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best == int(labels[i]) {
			correct++
		}
	}
	return float64(correct) / float64(n), nil
}

// NLL returns the mean softmax cross-entropy of the rows.
func NLL(logits []float32, labels []int32, classes int) (float64, error) {
	if _, err := check(logits, labels, classes); err != nil {
		return 0, err
	}
	loss, _, err := backend.SoftmaxCrossEntropy(logits, labels, classes)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(loss) {
		return 0, fmt.Errorf("the logits hold NaN")
	}
	return loss, nil
}
