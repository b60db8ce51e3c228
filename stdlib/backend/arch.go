package backend

import (
	"errors"
	"fmt"
	"strconv"
)

// LayerKind says what a Layer computes.
type LayerKind int

const (
	// Linear is an affine layer y = x·Wᵀ + b with W of shape [Out, In].
	Linear LayerKind = iota + 1
	// Activation applies the element-wise function named by
	// Layer.Activation.
	Activation
)

// String returns "linear", "activation" or "LayerKind(n)".
func (k LayerKind) String() string {
	switch k {
	case Linear:
		return "linear"
	case Activation:
		return "activation"
	}
	return "LayerKind(" + strconv.Itoa(int(k)) + ")"
}

// Activation names accepted in Layer.Activation.
const (
	// ReLU is max(x, 0) (NaN stays NaN).
	ReLU = "relu"
	// Tanh is the hyperbolic tangent.
	Tanh = "tanh"
	// Sigmoid is 1 / (1 + exp(-x)).
	Sigmoid = "sigmoid"
	// Identity leaves values unchanged; it adds nothing to the graph.
	Identity = "identity"
)

// Layer is one layer of a sequential model.
//
// A Linear layer maps rows of In values to rows of Out values and has a bias
// when Bias is set; Activation must be empty. An Activation layer applies
// Activation (ReLU, Tanh, Sigmoid or Identity) to every value; it keeps the
// width, so its In and Out may be left zero, and if set they must equal the
// width reaching the layer. Bias must be false on an Activation layer.
type Layer struct {
	Kind       LayerKind
	In, Out    int
	Bias       bool
	Activation string
}

// Arch is a sequential architecture: its layers are applied in order to
// flat float32 rows of InputWidth values and produce rows of OutputWidth
// values (the logits, one per class, when training). Layer i owns the
// tensors named "i.weight" and "i.bias", as in a PyTorch nn.Sequential.
type Arch []Layer

// maxWidth bounds layer widths so that sizes computed from them cannot
// overflow and class labels stay exact in float32 (2^24).
const maxWidth = 1 << 24

// Validate reports whether a is a usable architecture: at least one Linear
// layer, positive widths that chain (every Linear layer's In equals the Out
// of the Linear layer before it), known activation names, and no bias or
// activation name on the wrong kind of layer.
func (a Arch) Validate() error {
	if len(a) == 0 {
		return errors.New("backend: architecture has no layers")
	}
	width := a.InputWidth() // width reaching the current layer
	if width == 0 {
		return errors.New("backend: architecture has no linear layer")
	}
	for i, l := range a {
		switch l.Kind {
		case Linear:
			if l.In < 1 || l.Out < 1 || l.In > maxWidth || l.Out > maxWidth {
				return fmt.Errorf("backend: layer %d: linear widths %d -> %d out of range [1, %d]", i, l.In, l.Out, maxWidth)
			}
			if l.Activation != "" {
				return fmt.Errorf("backend: layer %d: linear layer has activation %q", i, l.Activation)
			}
			if l.In != width {
				return fmt.Errorf("backend: layer %d: linear input width %d does not match width %d reaching it", i, l.In, width)
			}
			width = l.Out
		case Activation:
			switch l.Activation {
			case ReLU, Tanh, Sigmoid, Identity:
			default:
				return fmt.Errorf("backend: layer %d: unknown activation %q (want relu, tanh, sigmoid or identity)", i, l.Activation)
			}
			if l.Bias {
				return fmt.Errorf("backend: layer %d: activation layer has a bias", i)
			}
			if (l.In != 0 || l.Out != 0) && (l.In != width || l.Out != width) {
				return fmt.Errorf("backend: layer %d: activation widths %d -> %d do not match width %d reaching it", i, l.In, l.Out, width)
			}
		default:
			return fmt.Errorf("backend: layer %d: unknown layer kind %v", i, l.Kind)
		}
	}
	return nil
}

// InputWidth returns the In of the first Linear layer, or 0 if there is none.
func (a Arch) InputWidth() int {
	for _, l := range a {
		if l.Kind == Linear {
			return l.In
		}
	}
	return 0
}

// OutputWidth returns the Out of the last Linear layer, or 0 if there is
// none. When training it is the number of classes.
func (a Arch) OutputWidth() int {
	for i := len(a) - 1; i >= 0; i-- {
		if a[i].Kind == Linear {
			return a[i].Out
		}
	}
	return 0
}

// paramSpec describes one weight tensor of an Arch.
type paramSpec struct {
	layer int
	name  string
	shape []int
}

// params lists the weight tensors of a valid Arch in Model.Params order:
// for each Linear layer, its weight and then its bias.
func (a Arch) params() []paramSpec {
	var ps []paramSpec
	for i, l := range a {
		if l.Kind != Linear {
			continue
		}
		ps = append(ps, paramSpec{layer: i, name: strconv.Itoa(i) + ".weight", shape: []int{l.Out, l.In}})
		if l.Bias {
			ps = append(ps, paramSpec{layer: i, name: strconv.Itoa(i) + ".bias", shape: []int{l.Out}})
		}
	}
	return ps
}
