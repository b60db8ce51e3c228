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
	// Conv2d is PyTorch's nn.Conv2d(In, Out, Kernel, Stride, Padding,
	// bias=Bias): a 2-D cross-correlation of In channels into Out
	// channels with a square kernel and zero padding.
	Conv2d
	// BatchNorm2d is PyTorch's nn.BatchNorm2d(In): per-channel batch
	// normalisation with an affine weight and bias and running statistics
	// (eps 1e-5, momentum 0.1).
	BatchNorm2d
	// MaxPool2d is PyTorch's nn.MaxPool2d(Kernel, Stride, Padding): the
	// maximum over square windows of each channel.
	MaxPool2d
	// Flatten is PyTorch's nn.Flatten(): [C, H, W] values become a flat
	// row of C·H·W values, in row-major order as torch.flatten(x, 1).
	Flatten
	// BatchNorm1d is PyTorch's nn.BatchNorm1d(In) on flat rows: each of
	// the In features normalised over the batch, with an affine weight and
	// bias and running statistics (eps 1e-5, momentum 0.1), as
	// BatchNorm2d does per channel.
	BatchNorm1d
	// GlobalAvgPool2d is PyTorch's nn.AdaptiveAvgPool2d(1) followed by
	// flattening: [C, H, W] values become a flat row of C channel means.
	GlobalAvgPool2d
)

// String returns "linear", "activation", "conv2d", "batchnorm2d",
// "maxpool2d", "flatten", "batchnorm1d", "globalavgpool2d" or
// "LayerKind(n)".
func (k LayerKind) String() string {
	switch k {
	case Linear:
		return "linear"
	case Activation:
		return "activation"
	case Conv2d:
		return "conv2d"
	case BatchNorm2d:
		return "batchnorm2d"
	case MaxPool2d:
		return "maxpool2d"
	case Flatten:
		return "flatten"
	case BatchNorm1d:
		return "batchnorm1d"
	case GlobalAvgPool2d:
		return "globalavgpool2d"
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

// Layer is one layer of a sequential model. Each row of a batch flows
// through the layers either as a flat vector of values or, between
// convolutional layers, as C channels of H×W values ([C, H, W], stored
// row-major exactly as one sample of a PyTorch NCHW tensor).
//
// A Linear layer maps flat rows of In values to rows of Out values and has
// a bias when Bias is set. It does not accept [C, H, W] values: put a
// Flatten layer before it, as in PyTorch.
//
// An Activation layer applies Activation (ReLU, Tanh, Sigmoid or Identity)
// to every value, flat or [C, H, W]; it keeps the shape, so its In and Out
// may be left zero, and if set they must equal the number of values
// reaching the layer.
//
// A Conv2d layer maps [In, H, W] to [Out, H', W'] with an Out×In×Kernel×Kernel
// weight, stride Stride (0 means PyTorch's default, 1) and Padding zeros on
// every side, so H' = floor((H + 2·Padding − Kernel) / Stride) + 1 (W'
// likewise); it adds a per-channel bias when Bias is set.
//
// A BatchNorm2d layer normalises each of its In channels ([In, H, W] in
// and out; Out may be left zero or equal In). When training (Trainer) it
// uses the batch's mean and biased variance over the rows and the H×W
// positions, and after each successful step it updates the running
// statistics as PyTorch does: running = 0.9·running + 0.1·batch, with the
// unbiased variance for running_var. Predict uses the running statistics.
// Both then scale by the layer's weight and add its bias (PyTorch's
// affine=True, eps 1e-5). Bias must be false: the affine bias is always
// there.
//
// A MaxPool2d layer takes the maximum over Kernel×Kernel windows at stride
// Stride (0 means PyTorch's default, Kernel), with Padding (at most
// Kernel/2) positions of −∞ on every side; sizes follow Conv2d's formula.
// In and Out must be zero.
//
// A Flatten layer turns [C, H, W] values into a flat row of C·H·W values
// (rows already flat pass unchanged). In and Out must be zero.
//
// A GlobalAvgPool2d layer turns [C, H, W] values into a flat row of the C
// means of each channel's H×W values. In and Out must be zero.
//
// A BatchNorm1d layer normalises each of the In values of flat rows (Out
// may be left zero or equal In) over the batch, in training and in
// Predict, as BatchNorm2d does per channel. Bias must be false.
//
// InShape, if set (all three sizes positive), is the shape [C, H, W] of
// the values reaching the layer: flat rows of C·H·W values are read as C
// planes of H×W values, like x.view(n, C, H, W) in PyTorch. Set it on the
// first layer of a convolutional network, whose input rows are flat; on a
// layer that receives [C, H, W] values it must equal their shape. It adds
// no layer, so it does not shift the state_dict indices.
//
// Kernel, Stride and Padding must be zero on layers other than Conv2d and
// MaxPool2d, Bias false on layers other than Linear and Conv2d, and
// Activation empty on layers other than Activation.
type Layer struct {
	Kind       LayerKind
	In, Out    int
	Bias       bool
	Activation string
	// Kernel, Stride and Padding configure Conv2d and MaxPool2d layers.
	Kernel, Stride, Padding int
	// InShape is the [C, H, W] shape of the values reaching the layer,
	// or all zeros.
	InShape [3]int
}

// Arch is a sequential architecture: its layers are applied in order to
// flat float32 rows of InputWidth values and produce flat rows of
// OutputWidth values (the logits, one per class, when training). Layer i
// owns the tensors named "i.weight", "i.bias" and, for BatchNorm2d,
// "i.running_mean", "i.running_var" and "i.num_batches_tracked", as in a
// PyTorch nn.Sequential of the same modules (whose input is viewed as
// [C, H, W] before it, see Layer.InShape).
type Arch []Layer

// maxWidth bounds layer widths so that sizes computed from them cannot
// overflow and class labels stay exact in float32 (2^24). It bounds every
// channel count, kernel size, padding and stride, and the number of values
// of a row between any two layers.
const maxWidth = 1 << 24

// shape is the shape of the values of one row between two layers: c
// channels of h×w values, or, when flat (h == 0), a vector of c values.
type shape struct{ c, h, w int }

func (s shape) flat() bool { return s.h == 0 }

// width returns the number of values of the row.
func (s shape) width() int {
	if s.flat() {
		return s.c
	}
	return s.c * s.h * s.w
}

func (s shape) String() string {
	if s.flat() {
		return fmt.Sprintf("[%d]", s.c)
	}
	return fmt.Sprintf("[%d %d %d]", s.c, s.h, s.w)
}

// inputShape returns the shape of the architecture's input rows, fixed by
// the first layer with an InShape or the first Linear layer, whichever
// comes first; ok is false if neither exists.
func (a Arch) inputShape() (s shape, ok bool) {
	for _, l := range a {
		if l.InShape != [3]int{} {
			if min(l.InShape[0], l.InShape[1], l.InShape[2]) < 1 {
				return shape{}, true // invalid: Validate says why
			}
			return shape{l.InShape[0], l.InShape[1], l.InShape[2]}, true
		}
		if l.Kind == Linear {
			return shape{c: l.In}, true
		}
	}
	return shape{}, false
}

// Validate reports whether a is a usable architecture: a known input
// shape (an InShape, or a Linear layer, before any layer that needs
// [C, H, W] values), at least one layer with weights, sizes in range that
// chain from layer to layer (Linear widths, channel counts, kernel sizes
// that fit the padded input), known activation names, no field set on a
// kind of layer that does not use it, and flat output rows.
func (a Arch) Validate() error {
	_, err := a.shapes()
	return err
}

// shapes checks a as Validate describes and returns the shape of the
// values reaching each layer, followed by the shape of the output.
func (a Arch) shapes() ([]shape, error) {
	if len(a) == 0 {
		return nil, errors.New("backend: architecture has no layers")
	}
	cur, ok := a.inputShape()
	if !ok {
		return nil, errors.New("backend: architecture has no linear layer and no input shape (set InShape on the first layer of a convolutional network)")
	}
	shapes := make([]shape, 0, len(a)+1)
	weights := false
	for i, l := range a {
		if err := l.checkFields(); err != nil {
			return nil, fmt.Errorf("backend: layer %d: %w", i, err)
		}
		if l.InShape != [3]int{} {
			s := shape{l.InShape[0], l.InShape[1], l.InShape[2]}
			if s.c < 1 || s.h < 1 || s.w < 1 || s.c > maxWidth || s.h > maxWidth || s.w > maxWidth || s.c*s.h > maxWidth || s.c*s.h*s.w > maxWidth {
				return nil, fmt.Errorf("backend: layer %d: input shape %v out of range (sizes at least 1, at most %d values)", i, l.InShape, maxWidth)
			}
			if cur.flat() && cur.width() != s.width() {
				return nil, fmt.Errorf("backend: layer %d: input shape %v holds %d values, but rows of %d reach it", i, s, s.width(), cur.width())
			}
			if !cur.flat() && cur != s {
				return nil, fmt.Errorf("backend: layer %d: input shape %v does not match the shape %v reaching it", i, s, cur)
			}
			cur = s
		}
		shapes = append(shapes, cur)
		next, err := l.outShape(cur)
		if err != nil {
			return nil, fmt.Errorf("backend: layer %d: %w", i, err)
		}
		cur = next
		weights = weights || l.Kind == Linear || l.Kind == Conv2d || l.Kind == BatchNorm2d || l.Kind == BatchNorm1d
	}
	if !weights {
		return nil, errors.New("backend: architecture has no layer with weights")
	}
	if !cur.flat() {
		return nil, fmt.Errorf("backend: the architecture's output has shape %v per row: end it with a Flatten layer (and a Linear layer for class scores)", cur)
	}
	return append(shapes, cur), nil
}

// checkFields reports a field set on a kind of layer that does not use it,
// or an unknown kind.
func (l Layer) checkFields() error {
	switch l.Kind {
	case Linear, Activation, Conv2d, BatchNorm2d, MaxPool2d, Flatten, BatchNorm1d, GlobalAvgPool2d:
	default:
		return fmt.Errorf("unknown layer kind %v", l.Kind)
	}
	if l.Activation != "" && l.Kind != Activation {
		return fmt.Errorf("%v layer has activation %q", l.Kind, l.Activation)
	}
	if l.Bias && l.Kind != Linear && l.Kind != Conv2d {
		if l.Kind == BatchNorm2d || l.Kind == BatchNorm1d {
			return fmt.Errorf("%v layer has Bias set (its affine bias is always there; leave Bias false)", l.Kind)
		}
		return fmt.Errorf("%v layer has a bias", l.Kind)
	}
	if (l.Kernel != 0 || l.Stride != 0 || l.Padding != 0) && l.Kind != Conv2d && l.Kind != MaxPool2d {
		return fmt.Errorf("%v layer has a kernel, stride or padding", l.Kind)
	}
	if (l.In != 0 || l.Out != 0) && (l.Kind == MaxPool2d || l.Kind == Flatten || l.Kind == GlobalAvgPool2d) {
		return fmt.Errorf("%v layer has In or Out set (%d, %d); leave them zero", l.Kind, l.In, l.Out)
	}
	return nil
}

// outShape checks l against the shape in of the values reaching it and
// returns the shape of its output.
func (l Layer) outShape(in shape) (shape, error) {
	switch l.Kind {
	case Linear:
		if l.In < 1 || l.Out < 1 || l.In > maxWidth || l.Out > maxWidth {
			return shape{}, fmt.Errorf("linear widths %d -> %d out of range [1, %d]", l.In, l.Out, maxWidth)
		}
		if !in.flat() {
			return shape{}, fmt.Errorf("linear layer gets values of shape %v, it needs flat rows: put a Flatten layer before it", in)
		}
		if l.In != in.c {
			return shape{}, fmt.Errorf("linear input width %d does not match width %d reaching it", l.In, in.c)
		}
		return shape{c: l.Out}, nil
	case Activation:
		switch l.Activation {
		case ReLU, Tanh, Sigmoid, Identity:
		default:
			return shape{}, fmt.Errorf("unknown activation %q (want relu, tanh, sigmoid or identity)", l.Activation)
		}
		if w := in.width(); (l.In != 0 || l.Out != 0) && (l.In != w || l.Out != w) {
			return shape{}, fmt.Errorf("activation widths %d -> %d do not match width %d reaching it", l.In, l.Out, w)
		}
		return in, nil
	case Flatten:
		return shape{c: in.width()}, nil
	case BatchNorm1d:
		if l.In < 1 || l.In > maxWidth || (l.Out != 0 && l.Out != l.In) {
			return shape{}, fmt.Errorf("batchnorm1d features %d -> %d: want In in [1, %d] and Out zero or equal to In", l.In, l.Out, maxWidth)
		}
		if !in.flat() {
			return shape{}, fmt.Errorf("batchnorm1d layer gets values of shape %v, it needs flat rows (use BatchNorm2d, or Flatten first)", in)
		}
		if l.In != in.c {
			return shape{}, fmt.Errorf("batchnorm1d features %d do not match width %d reaching it", l.In, in.c)
		}
		return in, nil
	}
	// The spatial layers.
	if in.flat() {
		return shape{}, fmt.Errorf("%v layer gets flat rows of %d values, it needs [C, H, W] values: set InShape on the first layer", l.Kind, in.c)
	}
	switch l.Kind {
	case Conv2d:
		if l.In < 1 || l.Out < 1 || l.In > maxWidth || l.Out > maxWidth {
			return shape{}, fmt.Errorf("conv2d channels %d -> %d out of range [1, %d]", l.In, l.Out, maxWidth)
		}
		if l.In != in.c {
			return shape{}, fmt.Errorf("conv2d input channels %d do not match the %d channels reaching it (shape %v)", l.In, in.c, in)
		}
		g, err := newWindow(in, l.Kernel, l.Stride, l.Padding, 1)
		if err != nil {
			return shape{}, fmt.Errorf("conv2d %w", err)
		}
		if l.In*l.Kernel > maxWidth || l.In*l.Kernel*l.Kernel > maxWidth || l.Out*g.oh > maxWidth || l.Out*g.oh*g.ow > maxWidth {
			return shape{}, fmt.Errorf("conv2d of %d -> %d channels with kernel %d on %v is too large (at most %d values per row and weight row)", l.In, l.Out, l.Kernel, in, maxWidth)
		}
		return shape{l.Out, g.oh, g.ow}, nil
	case BatchNorm2d:
		if l.In < 1 || l.In > maxWidth || (l.Out != 0 && l.Out != l.In) {
			return shape{}, fmt.Errorf("batchnorm2d channels %d -> %d: want In in [1, %d] and Out zero or equal to In", l.In, l.Out, maxWidth)
		}
		if l.In != in.c {
			return shape{}, fmt.Errorf("batchnorm2d channels %d do not match the %d channels reaching it (shape %v)", l.In, in.c, in)
		}
		return in, nil
	case GlobalAvgPool2d:
		return shape{c: in.c}, nil
	default: // MaxPool2d
		g, err := newWindow(in, l.Kernel, l.Stride, l.Padding, l.Kernel)
		if err != nil {
			return shape{}, fmt.Errorf("maxpool2d %w", err)
		}
		if 2*l.Padding > l.Kernel {
			return shape{}, fmt.Errorf("maxpool2d padding %d is more than half the kernel %d", l.Padding, l.Kernel)
		}
		return shape{in.c, g.oh, g.ow}, nil
	}
}

// newWindow checks the kernel, stride (0 selects defaultStride) and
// padding of a sliding window over in and returns its geometry.
func newWindow(in shape, kernel, stride, padding, defaultStride int) (window, error) {
	if stride == 0 {
		stride = defaultStride
	}
	switch {
	case kernel < 1 || kernel > maxWidth:
		return window{}, fmt.Errorf("kernel %d out of range [1, %d]", kernel, maxWidth)
	case stride < 1 || stride > maxWidth:
		return window{}, fmt.Errorf("stride %d out of range [1, %d] (or 0 for the default)", stride, maxWidth)
	case padding < 0 || padding > maxWidth:
		return window{}, fmt.Errorf("padding %d out of range [0, %d]", padding, maxWidth)
	case in.h+2*padding < kernel || in.w+2*padding < kernel:
		return window{}, fmt.Errorf("kernel %d is larger than the padded input %dx%d (shape %v, padding %d)", kernel, in.h+2*padding, in.w+2*padding, in, padding)
	}
	return window{
		c: in.c, h: in.h, w: in.w, k: kernel, s: stride, p: padding,
		oh: (in.h+2*padding-kernel)/stride + 1,
		ow: (in.w+2*padding-kernel)/stride + 1,
	}, nil
}

// InputWidth returns the number of values of each input row: C·H·W for an
// architecture whose input shape is [C, H, W] (Layer.InShape), else the In
// of the first Linear layer; 0 if there is neither.
func (a Arch) InputWidth() int {
	s, _ := a.inputShape()
	return s.width()
}

// InputShape returns the shape of each input row: [C, H, W] when the
// first layer with an InShape comes before the first Linear layer, else
// [InputWidth()]; nil if there is neither.
func (a Arch) InputShape() []int {
	s, ok := a.inputShape()
	switch {
	case !ok:
		return nil
	case s.flat():
		return []int{s.c}
	}
	return []int{s.c, s.h, s.w}
}

// OutputWidth returns the number of values of each output row of a valid
// architecture; when training it is the number of classes. For an invalid
// one it returns the Out of the last Linear layer, or 0 if there is none.
func (a Arch) OutputWidth() int {
	if s, err := a.shapes(); err == nil {
		return s[len(s)-1].width()
	}
	for i := len(a) - 1; i >= 0; i-- {
		if a[i].Kind == Linear {
			return a[i].Out
		}
	}
	return 0
}

// paramSpec describes one tensor of a Model: a weight the optimizer
// trains, or a buffer (BatchNorm2d's running statistics and step count).
type paramSpec struct {
	layer  int
	name   string
	shape  []int
	init   paramInit
	fanIn  int  // for initUniform: the bound is 1/sqrt(fanIn)
	buffer bool // not trained by the optimizer
}

// paramInit says how Init fills a tensor.
type paramInit int

const (
	initUniform paramInit = iota // U(-1/sqrt(fanIn), 1/sqrt(fanIn))
	initZeros
	initOnes
)

// params lists the tensors of a valid Arch in Model.Params order, which is
// the order of a PyTorch state_dict: for each Linear or Conv2d layer its
// weight and then its bias; for each BatchNorm2d layer its weight, bias,
// running_mean, running_var and num_batches_tracked (BatchNorm1d
// likewise).
func (a Arch) params() []paramSpec {
	var ps []paramSpec
	for i, l := range a {
		prefix := strconv.Itoa(i) + "."
		switch l.Kind {
		case Linear, Conv2d:
			w := paramSpec{layer: i, name: prefix + "weight", shape: []int{l.Out, l.In}, fanIn: l.In}
			if l.Kind == Conv2d {
				w.shape = []int{l.Out, l.In, l.Kernel, l.Kernel}
				w.fanIn = l.In * l.Kernel * l.Kernel
			}
			ps = append(ps, w)
			if l.Bias {
				ps = append(ps, paramSpec{layer: i, name: prefix + "bias", shape: []int{l.Out}, fanIn: w.fanIn})
			}
		case BatchNorm2d, BatchNorm1d:
			c := []int{l.In}
			ps = append(ps,
				paramSpec{layer: i, name: prefix + "weight", shape: c, init: initOnes},
				paramSpec{layer: i, name: prefix + "bias", shape: c, init: initZeros},
				paramSpec{layer: i, name: prefix + "running_mean", shape: c, init: initZeros, buffer: true},
				paramSpec{layer: i, name: prefix + "running_var", shape: c, init: initOnes, buffer: true},
				paramSpec{layer: i, name: prefix + "num_batches_tracked", shape: []int{}, init: initZeros, buffer: true},
			)
		}
	}
	return ps
}
