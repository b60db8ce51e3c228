package value

import (
	"fmt"
	"slices"

	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// Layer is one layer of a model before the shape of its input is known:
// a dense layer to Out units, an element-wise activation, a batch norm of
// whatever reaches it (per feature on flat rows, per channel on images), a
// convolution to Out channels, max pooling, global average pooling or
// flattening.
type Layer struct {
	Kind       backend.LayerKind
	In         int // fixed input width of a dense layer (channels of a convolution), 0 to infer it
	Out        int
	Bias       bool
	Activation string
	// Kernel, Stride and Padding configure convolutions and max pooling;
	// a Stride of 0 is the default (1 for a convolution, the kernel for
	// pooling).
	Kernel, Stride, Padding int
}

// spatial reports whether the layer works on images [C, H, W].
func (l Layer) spatial() bool {
	switch l.Kind {
	case backend.Conv2d, backend.MaxPool2d, backend.GlobalAvgPool2d:
		return true
	}
	return false
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

// ModelType returns the static type of a model with the given widths and
// an unknown structure.
func ModelType(in, out int) *lang.Object {
	return &lang.Object{Kind: lang.KindModel, In: in, Out: out}
}

// StaticType returns the static type of the model made of layers: its
// widths and its structure, which lets the checker follow shapes through
// it (CheckShape).
func StaticType(layers []Layer, in int) *lang.Object {
	m := &Model{Layers: layers, In: in}
	t := ModelType(m.InWidth(), m.OutWidth())
	t.Layers = make([]lang.Layer, len(layers))
	for i, l := range layers {
		t.Layers[i] = lang.Layer{Kind: layerName(l), In: l.In, Out: l.Out, Kernel: l.Kernel, Stride: l.Stride, Padding: l.Padding, Bias: l.Bias, Activation: l.Activation}
	}
	return t
}

// layerKinds maps the static layer names back to the backend's kinds.
var layerKinds = map[string]backend.LayerKind{
	"linear": backend.Linear, "activation": backend.Activation, "batch_norm": backend.BatchNorm1d,
	"conv2d": backend.Conv2d, "max_pool": backend.MaxPool2d, "global_avg_pool": backend.GlobalAvgPool2d,
	"flatten": backend.Flatten,
}

// CheckShape reports, before anything runs, whether a model of static
// type model takes samples of the given shape (see Model.ArchFor). It
// says nothing (nil) when the model's structure or the shape is unknown.
func CheckShape(model *lang.Object, sample []int) error {
	if model == nil || model.Layers == nil || len(sample) == 0 {
		return nil
	}
	m := &Model{In: model.In}
	for _, l := range model.Layers {
		k, ok := layerKinds[l.Kind]
		if !ok {
			return nil // a layer this check does not know: leave it to the run
		}
		m.Layers = append(m.Layers, Layer{Kind: k, In: l.In, Out: l.Out, Kernel: l.Kernel, Stride: l.Stride, Padding: l.Padding, Bias: l.Bias, Activation: l.Activation})
	}
	_, err := m.ArchFor(sample)
	return err
}

// Type returns the model's type, with its structure.
func (m *Model) Type() lang.Type { return StaticType(m.Layers, m.In) }

// InWidth is the input width, 0 when not yet known (always for a model
// that starts with image layers: its input is the data's images).
func (m *Model) InWidth() int {
	if m.In > 0 {
		return m.In
	}
	for _, l := range m.Layers {
		if l.spatial() {
			return 0
		}
		if l.Kind == backend.Linear {
			return l.In
		}
	}
	return 0
}

// OutWidth is the output width, 0 when it is not known before the input
// shape is: the Out of the last dense layer, or the channels of the last
// convolution when global average pooling follows it.
func (m *Model) OutWidth() int {
	for i := len(m.Layers) - 1; i >= 0; i-- {
		switch l := m.Layers[i]; l.Kind {
		case backend.Linear:
			return l.Out
		case backend.GlobalAvgPool2d:
			for j := i - 1; j >= 0; j-- {
				switch k := m.Layers[j]; k.Kind {
				case backend.Conv2d:
					return k.Out
				case backend.Linear, backend.Flatten, backend.GlobalAvgPool2d:
					return 0
				}
			}
			return 0
		case backend.Conv2d, backend.MaxPool2d, backend.Flatten:
			return 0
		}
	}
	return 0
}

// Arch resolves the layers for flat input rows of in values.
func (m *Model) Arch(in int) (backend.Arch, error) { return m.ArchFor([]int{in}) }

// ArchFor resolves the layers for samples of the given shape: [D] for flat
// rows of D values, [H, W] for one-channel images or [C, H, W]. Dense
// layers take images as flat rows; the first image layer (convolution or
// pooling) reads them as [C, H, W]. It checks fixed widths and channels,
// and that image layers get images.
func (m *Model) ArchFor(sample []int) (backend.Arch, error) {
	var arch backend.Arch
	width := 1
	for _, d := range sample {
		width *= d
	}
	// img is the shape of the images reaching the layer while they are
	// still images; inPlanes says the backend already reads them as
	// [C, H, W] (an image layer came before).
	var img [3]int
	switch len(sample) {
	case 2:
		img = [3]int{1, sample[0], sample[1]}
	case 3:
		img = [3]int{sample[0], sample[1], sample[2]}
	}
	inPlanes := false
	for i, l := range m.Layers {
		if l.spatial() && !inPlanes && img[0] == 0 {
			what := fmt.Sprintf("the data's samples have shape %v", sample)
			if len(arch) > 0 {
				what = fmt.Sprintf("flat rows of %d values reach it", width)
			}
			return nil, fmt.Errorf("layer %d (%s) needs images [C, H, W], but %s", i, layerName(l), what)
		}
		var b backend.Layer
		in := img // the shape of the images reaching the layer
		if (l.Kind == backend.Conv2d || l.Kind == backend.MaxPool2d) && (l.Kernel < 1 || l.Stride < 0 || l.Padding < 0 || in[1]+2*l.Padding < l.Kernel || in[2]+2*l.Padding < l.Kernel) {
			return nil, fmt.Errorf("layer %d (%s): kernel %d does not fit images of shape %v with padding %d", i, layerName(l), l.Kernel, in, l.Padding)
		}
		switch l.Kind {
		case backend.Linear:
			if inPlanes {
				return nil, fmt.Errorf("layer %d: a dense layer gets images of shape %v: put flatten() or global_avg_pool() before it", i, img)
			}
			if l.In > 0 && l.In != width {
				return nil, fmt.Errorf("layer %d takes %d inputs but receives %d", i, l.In, width)
			}
			b = backend.Layer{Kind: backend.Linear, In: width, Out: l.Out, Bias: l.Bias}
			width, img = l.Out, [3]int{}
		case backend.Activation:
			b = backend.Layer{Kind: backend.Activation, Activation: l.Activation}
			if !inPlanes {
				b.In, b.Out = width, width
			}
		case backend.BatchNorm1d:
			if width == 0 {
				return nil, fmt.Errorf("layer %d: a batch norm needs the width of its input (put a dense layer before it or give the model's in:)", i)
			}
			b = backend.Layer{Kind: backend.BatchNorm1d, In: width}
			if inPlanes {
				b = backend.Layer{Kind: backend.BatchNorm2d, In: img[0]}
			}
		case backend.Conv2d:
			if l.In > 0 && l.In != img[0] {
				return nil, fmt.Errorf("layer %d: the convolution takes %d channels but receives %d (images of shape %v)", i, l.In, img[0], img)
			}
			b = backend.Layer{Kind: backend.Conv2d, In: img[0], Out: l.Out, Kernel: l.Kernel, Stride: l.Stride, Padding: l.Padding, Bias: l.Bias}
			stride := max(l.Stride, 1)
			img = [3]int{l.Out, (img[1]+2*l.Padding-l.Kernel)/stride + 1, (img[2]+2*l.Padding-l.Kernel)/stride + 1}
		case backend.MaxPool2d:
			b = backend.Layer{Kind: backend.MaxPool2d, Kernel: l.Kernel, Stride: l.Stride, Padding: l.Padding}
			stride := l.Stride
			if stride == 0 {
				stride = l.Kernel
			}
			img = [3]int{img[0], (img[1]+2*l.Padding-l.Kernel)/stride + 1, (img[2]+2*l.Padding-l.Kernel)/stride + 1}
		case backend.GlobalAvgPool2d:
			b = backend.Layer{Kind: backend.GlobalAvgPool2d}
		case backend.Flatten:
			b = backend.Layer{Kind: backend.Flatten}
		default:
			return nil, fmt.Errorf("layer %d: internal error: layer kind %v", i, l.Kind)
		}
		if l.spatial() && !inPlanes {
			b.InShape, inPlanes = in, true
		}
		arch = append(arch, b)
		switch l.Kind {
		case backend.Conv2d, backend.MaxPool2d:
			width = img[0] * img[1] * img[2]
		case backend.GlobalAvgPool2d:
			width, img, inPlanes = img[0], [3]int{}, false
		case backend.Flatten:
			if inPlanes {
				width, img, inPlanes = img[0]*img[1]*img[2], [3]int{}, false
			}
		}
	}
	if len(arch) == 0 {
		return nil, fmt.Errorf("the model has no layers")
	}
	if inPlanes {
		return nil, fmt.Errorf("the model ends with images of shape %v: end it with flatten() or global_avg_pool() (and a dense layer for class scores)", img)
	}
	return arch, arch.Validate()
}

// layerName names a layer kind as the model components do.
func layerName(l Layer) string {
	for name, k := range layerKinds {
		if k == l.Kind {
			return name
		}
	}
	return l.Kind.String()
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
