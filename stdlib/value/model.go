package value

import (
	"fmt"

	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// Layer is one layer of a model before its input width is known: a dense
// layer to Out units, or an element-wise activation.
type Layer struct {
	Kind       backend.LayerKind
	In         int // fixed input width of a dense layer, 0 to infer it
	Out        int
	Bias       bool
	Activation string
}

// Model is a sequential model: its layers, and its weights once trained or
// loaded. In is the input width, 0 until known.
type Model struct {
	Layers  []Layer
	In      int
	Weights *backend.Model // nil for an untrained architecture
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
	return out, nil
}
