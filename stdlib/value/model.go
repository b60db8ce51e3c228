package value

import (
	"fmt"
	"slices"

	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// Layer is one layer of a model before its input width is known: a dense
// layer to Out units, an element-wise activation, or a batch norm of the
// width reaching it.
type Layer struct {
	Kind       backend.LayerKind
	In         int // fixed input width of a dense layer, 0 to infer it
	Out        int
	Bias       bool
	Activation string
}

// Model is a sequential model: its layers, and its weights once trained or
// loaded. In is the input width, 0 until known.
//
// Head is the number of layers of the last part of a composition a | b
// (those of b), 0 for a model that is not a composition: a self-supervised
// pretraining of encoder | projector trains both and keeps the layers
// before the head as the encoder.
type Model struct {
	Layers  []Layer
	In      int
	Weights *backend.Model // nil for an untrained architecture
	Head    int
}

// ModelType returns the static type of a model with the given widths.
func ModelType(in, out int) *lang.Object {
	return &lang.Object{Kind: lang.KindModel, In: in, Out: out}
}

// Type returns the model's type.
func (m *Model) Type() lang.Type { return ModelType(m.InWidth(), m.OutWidth()) }

// InWidth is the input width, 0 when not yet known.
func (m *Model) InWidth() int {
	if m.In > 0 {
		return m.In
	}
	for _, l := range m.Layers {
		if l.Kind == backend.Linear {
			return l.In
		}
	}
	return 0
}

// OutWidth is the output width, 0 when the model has no dense layer.
func (m *Model) OutWidth() int {
	for i := len(m.Layers) - 1; i >= 0; i-- {
		if m.Layers[i].Kind == backend.Linear {
			return m.Layers[i].Out
		}
	}
	return 0
}

// Arch resolves the layers for input width in, checking fixed widths.
func (m *Model) Arch(in int) (backend.Arch, error) {
	var arch backend.Arch
	width := in
	for i, l := range m.Layers {
		switch l.Kind {
		case backend.Linear:
			if l.In > 0 && l.In != width {
				return nil, fmt.Errorf("layer %d takes %d inputs but receives %d", i, l.In, width)
			}
			arch = append(arch, backend.Layer{Kind: backend.Linear, In: width, Out: l.Out, Bias: l.Bias})
			width = l.Out
		case backend.Activation:
			arch = append(arch, backend.Layer{Kind: backend.Activation, In: width, Out: width, Activation: l.Activation})
		case backend.BatchNorm1d:
			if width == 0 {
				return nil, fmt.Errorf("layer %d: a batch norm needs the width of its input (put a dense layer before it or give the model's in:)", i)
			}
			arch = append(arch, backend.Layer{Kind: backend.BatchNorm1d, In: width})
		default:
			return nil, fmt.Errorf("layer %d: internal error: layer kind %v", i, l.Kind)
		}
	}
	if len(arch) == 0 {
		return nil, fmt.Errorf("the model has no layers")
	}
	return arch, arch.Validate()
}

// Compose returns the model that applies parts in order. Weights are kept
// only if every part is an architecture (composition of trained models
// would need their weights concatenated; it is refused).
func Compose(parts []*Model) (*Model, error) {
	out := &Model{}
	for i, p := range parts {
		if p.Weights != nil {
			return nil, fmt.Errorf("cannot compose a trained model with |; compose the architectures and train the result")
		}
		if i == 0 {
			out.In = p.In
		}
		out.Layers = append(out.Layers, p.Layers...)
	}
	if len(parts) > 1 {
		out.Head = len(parts[len(parts)-1].Layers)
	}
	return out, nil
}

// Prefix returns the model made of the first k layers, with their weights
// if m has weights (the tensors of those layers, named as in m), and its
// Head cleared.
func (m *Model) Prefix(k int) (*Model, error) {
	if k < 1 || k > len(m.Layers) {
		return nil, fmt.Errorf("internal error: prefix of %d layers of a model of %d", k, len(m.Layers))
	}
	out := &Model{Layers: slices.Clone(m.Layers[:k]), In: m.In}
	if m.Weights != nil {
		w, err := m.Weights.Prefix(k)
		if err != nil {
			return nil, err
		}
		out.Weights = w
		out.In = w.Arch.InputWidth()
	}
	return out, nil
}
