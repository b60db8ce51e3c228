package value

import (
	"fmt"
	"strings"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/attack"
	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/robustness"
)

// LossTerm is one weighted term of a loss.
type LossTerm struct {
	Name   string // the loss component, e.g. "cross_entropy"
	Weight float64
	// SSL configures a self-supervised loss (barlow_twins, vicreg); its
	// Views are set by the pretraining stage.
	SSL *backend.SSLLoss
	// Beta, if positive, makes a Barlow Twins loss's off-diagonal weight
	// Beta/d for a d-dimensional embedding, in place of its Lambda.
	Beta float64
	// Robust configures a robust-training term (adversarial,
	// gradient_penalty, lipschitz).
	Robust *RobustTerm
}

// RobustTerm is the setting of a robust-training loss term.
type RobustTerm struct {
	// Attack and Eps make the adversarial examples of an adversarial
	// term: the attack at budget Eps on the current weights, clamped
	// into Box.
	Attack robustness.Budgeted
	Eps    float64
	Box    attack.Box
	// H and Direction set the finite-difference gradient penalty: the
	// step h along the direction of the input gradient normalised in
	// Direction ("l2", "l1" or "linf").
	H         float64
	Direction string
}

// Loss is a training objective: a weighted sum of named losses.
type Loss struct {
	Terms []LossTerm
}

// Type returns the loss type.
func (l *Loss) Type() lang.Type { return lang.ObjectOf(lang.KindLoss) }

// String writes the loss as a formula, e.g. "cross_entropy" or
// "1*barlow_twins + 0.1*orthogonality".
func (l *Loss) String() string {
	if len(l.Terms) == 1 && l.Terms[0].Weight == 1 {
		return l.Terms[0].Name
	}
	parts := make([]string, len(l.Terms))
	for i, t := range l.Terms {
		parts[i] = fmt.Sprintf("%g*%s", t.Weight, t.Name)
	}
	return strings.Join(parts, " + ")
}

// Optimizer is an optimisation algorithm with its settings.
type Optimizer struct {
	Config backend.Optimizer
}

// Type returns the optimizer type.
func (o *Optimizer) Type() lang.Type { return lang.ObjectOf(lang.KindOptimizer) }

// MetricType returns the static type of a metric: it produces one float
// field, called name, in evaluation results.
func MetricType(name, doc string) *lang.Object {
	return &lang.Object{Kind: lang.KindMetric, Fields: []lang.Field{{Name: name, Type: lang.Float, Doc: doc}}}
}

// Metric is an evaluation metric: Compute scores n rows of logits
// (row-major, classes columns) against their labels.
type Metric struct {
	Name    string
	Doc     string
	Compute func(logits []float32, labels []int32, classes int) (float64, error)
}

// Type returns the metric's type.
func (m *Metric) Type() lang.Type { return MetricType(m.Name, m.Doc) }

// EpochStats summarises one training epoch.
type EpochStats struct {
	Epoch   int     `json:"epoch"`
	Loss    float64 `json:"loss"`
	Seconds float64 `json:"seconds"`
}

// TrainedType returns the static type of a training result whose model has
// the given widths.
func TrainedType(in, out int) *lang.Object {
	return &lang.Object{Kind: lang.KindTrained, In: in, Out: out, Fields: []lang.Field{
		{Name: "model", Type: ModelType(in, out), Doc: "The trained model."},
		{Name: "loss", Type: lang.Float, Doc: "Mean training loss of the last epoch."},
		{Name: "seconds", Type: lang.Float, Doc: "Wall time of training."},
	}}
}

// Trained is the result of training.
type Trained struct {
	Model   *Model
	History []EpochStats
	Seconds float64
	Steps   int
	Samples int
	SaveAs  string // base name of the weights file in the output directory; "" writes none
	// EncoderLayers, for a self-supervised pretraining, is the number of
	// layers of the model that make the encoder (the rest is the
	// projector); 0 otherwise.
	EncoderLayers int
}

// Type returns the result's type.
func (t *Trained) Type() lang.Type {
	if t.EncoderLayers > 0 {
		if enc, err := t.encoder(); err == nil {
			return PretrainedType(t.Model.InWidth(), t.Model.OutWidth(), enc.OutWidth())
		}
	}
	return TrainedType(t.Model.InWidth(), t.Model.OutWidth())
}

// Select returns model, loss or seconds, and encoder for a pretraining.
func (t *Trained) Select(name string) (any, error) {
	switch name {
	case "model":
		return t.Model, nil
	case "encoder":
		return t.encoder()
	case "loss":
		if len(t.History) == 0 {
			return 0.0, nil
		}
		return t.History[len(t.History)-1].Loss, nil
	case "seconds":
		return t.Seconds, nil
	}
	return nil, fmt.Errorf("a training result has no member %q", name)
}

// MetricsType returns the static type of an evaluation result with one
// float member per metric.
func MetricsType(metrics []*lang.Object) *lang.Object {
	o := &lang.Object{Kind: lang.KindMetrics}
	for _, m := range metrics {
		o.Fields = append(o.Fields, m.Fields...)
	}
	return o
}

// Metrics is the result of evaluation: named values in order.
type Metrics struct {
	Names   []string
	Values  map[string]float64
	Samples int
	Docs    map[string]string
	// Files are written to the run's output directory beside the
	// metrics (a spectrum as CSV and PNG, for instance).
	Files []interp.OutputFile
}

// Type returns the result's type.
func (m *Metrics) Type() lang.Type {
	o := &lang.Object{Kind: lang.KindMetrics}
	for _, n := range m.Names {
		o.Fields = append(o.Fields, lang.Field{Name: n, Type: lang.Float, Doc: m.Docs[n]})
	}
	return o
}

// Select returns the metric called name.
func (m *Metrics) Select(name string) (any, error) {
	v, ok := m.Values[name]
	if !ok {
		return nil, fmt.Errorf("the evaluation has no metric %q", name)
	}
	return v, nil
}
