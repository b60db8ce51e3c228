package certify

import (
	"errors"
	"fmt"
	"math"
	"strconv"

	"gonum.org/v1/gonum/mat"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// ErrUnsupported is wrapped by the error Bound returns for a layer (or an
// activation) it has no bound for.
var ErrUnsupported = errors.New("no Lipschitz bound for this kind of layer")

// bnEps is the ε batch norms add to the running variance: PyTorch's
// default, which the backend uses (see backend.BatchNorm2d).
const bnEps = 1e-5

// Factor is the bound on the l2 Lipschitz constant of one layer of a
// model, as a function of the values reaching the layer.
type Factor struct {
	// Layer is the index of the layer in the model's Arch.
	Layer int
	// Kind is the layer's kind, and Activation its activation's name
	// for an Activation layer.
	Kind       backend.LayerKind
	Activation string
	// Bound is an upper bound on the layer's Lipschitz constant.
	Bound float64
	// Exact says that Bound is the layer's Lipschitz constant itself
	// (on the shape of the values reaching it), not only a bound.
	Exact bool
	// Method says how Bound was obtained.
	Method string
}

// Lipschitz is an upper bound on the l2→l2 Lipschitz constant of a
// model's logits as a function of its input, with the per-layer factors
// it is the product of.
type Lipschitz struct {
	// Bound is the product of the factors' bounds: for all inputs a and
	// b, ‖f(a) − f(b)‖₂ ≤ Bound·‖a − b‖₂.
	Bound float64
	// Inputs is the number of input values of a sample and Classes the
	// number of logits.
	Inputs, Classes int
	// Layers has one factor per layer of the architecture, in order.
	Layers []Factor
}

// Largest returns the factor with the largest bound (the first one, on
// ties): the layer that contributes most to the product. It returns the
// zero Factor if l has no layers.
func (l Lipschitz) Largest() Factor {
	if len(l.Layers) == 0 {
		return Factor{}
	}
	best := l.Layers[0]
	for _, f := range l.Layers[1:] {
		if f.Bound > best.Bound {
			best = f
		}
	}
	return best
}

// Bound returns an upper bound on the l2→l2 Lipschitz constant of m's
// logits as a function of its input, in eval mode (as backend.Predict
// computes them), and the per-layer factors it is the product of:
//
//   - Linear: the largest singular value of the weight, exact;
//   - Activation: ReLU, Tanh and Identity 1, Sigmoid 1/4, all exact (the
//     suprema of their slopes);
//   - BatchNorm1d and BatchNorm2d (running statistics):
//     max_c |γ_c|/√(running_var_c + 1e-5), exact;
//   - Conv2d: the smaller of two proven bounds, σ(W)·√(m_h·m_w) with W the
//     Out × (In·Kernel·Kernel) reshaped weight and m_h, m_w ≤
//     ⌈Kernel/Stride⌉ the largest number of windows that overlap in one
//     input row or column, and the norm of a circular convolution that
//     contains the layer, computed with a discrete Fourier transform (see
//     convBound); exact for 1×1 kernels;
//   - MaxPool2d: √(m_h·m_w) with m_h, m_w as for Conv2d, so 1 for
//     non-overlapping windows, exact (see poolBound);
//   - GlobalAvgPool2d: 1/√(H·W), exact;
//   - Flatten: 1, exact.
//
// The bound is global, a true certificate, unlike the data-set maximum of
// gradient norms that the reference code uses as an estimate. It returns
// an error if m is not a valid model, if a weight it reads is not finite
// or a running variance plus ε is not positive, or (wrapping
// ErrUnsupported) for a kind of layer it cannot bound.
func Bound(m *backend.Model) (Lipschitz, error) {
	if err := m.Validate(); err != nil {
		return Lipschitz{}, fmt.Errorf("certify: %w", err)
	}
	params := make(map[string][]float32, len(m.Params))
	for _, p := range m.Params {
		params[p.Name] = p.Data
	}
	shapes := layerShapes(m.Arch)
	lip := Lipschitz{
		Bound:   1,
		Inputs:  m.Arch.InputWidth(),
		Classes: m.Arch.OutputWidth(),
		Layers:  make([]Factor, 0, len(m.Arch)),
	}
	for i, l := range m.Arch {
		prefix := strconv.Itoa(i) + "."
		tensor := func(name string) []float32 { return params[prefix+name] }
		f, err := layerFactor(l, shapes[i], tensor)
		if err != nil {
			return Lipschitz{}, fmt.Errorf("certify: layer %d (%v): %w", i, l.Kind, err)
		}
		f.Layer, f.Kind, f.Activation = i, l.Kind, l.Activation
		lip.Layers = append(lip.Layers, f)
		lip.Bound *= f.Bound
	}
	return lip, nil
}

// shape is the shape of the values of one sample between two layers: c
// channels of h×w values, or, when flat (h == 0), a vector of c values.
type shape struct{ c, h, w int }

// layerShapes returns the shape of the values reaching each layer of the
// valid architecture a.
func layerShapes(a backend.Arch) []shape {
	var cur shape
	if in := a.InputShape(); len(in) == 3 {
		cur = shape{in[0], in[1], in[2]}
	} else {
		cur = shape{c: in[0]}
	}
	shapes := make([]shape, len(a))
	for i, l := range a {
		if l.InShape != [3]int{} {
			cur = shape{l.InShape[0], l.InShape[1], l.InShape[2]}
		}
		shapes[i] = cur
		switch l.Kind {
		case backend.Linear:
			cur = shape{c: l.Out}
		case backend.Flatten:
			if cur.h != 0 {
				cur = shape{c: cur.c * cur.h * cur.w}
			}
		case backend.GlobalAvgPool2d:
			cur = shape{c: cur.c}
		case backend.Conv2d:
			g := newWindow(cur, l.Kernel, l.Stride, l.Padding, 1)
			cur = shape{l.Out, g.oh, g.ow}
		case backend.MaxPool2d:
			g := newWindow(cur, l.Kernel, l.Stride, l.Padding, l.Kernel)
			cur = shape{cur.c, g.oh, g.ow}
		}
	}
	return shapes
}

// layerFactor bounds the Lipschitz constant of layer l on values of shape
// in; tensor returns the data of the layer's tensor of the given name
// ("weight", "running_var", ...).
func layerFactor(l backend.Layer, in shape, tensor func(name string) []float32) (Factor, error) {
	switch l.Kind {
	case backend.Linear:
		a, err := matrix(tensor("weight"), l.Out, l.In)
		if err != nil {
			return Factor{}, fmt.Errorf("weight: %w", err)
		}
		s, err := largestSingularValue(a)
		if err != nil {
			return Factor{}, fmt.Errorf("weight: %w", err)
		}
		return Factor{Bound: s, Exact: true, Method: "largest singular value of the weight"}, nil
	case backend.Activation:
		switch l.Activation {
		case backend.ReLU, backend.Tanh, backend.Identity:
			return Factor{Bound: 1, Exact: true, Method: "supremum of the slope"}, nil
		case backend.Sigmoid:
			return Factor{Bound: 0.25, Exact: true, Method: "supremum of the slope, at 0"}, nil
		}
		return Factor{}, fmt.Errorf("%w: activation %q", ErrUnsupported, l.Activation)
	case backend.Flatten:
		return Factor{Bound: 1, Exact: true, Method: "reshape"}, nil
	case backend.BatchNorm1d, backend.BatchNorm2d:
		return batchNormFactor(l.In, tensor("weight"), tensor("running_var"))
	case backend.GlobalAvgPool2d:
		// Each output is the mean of one channel's h·w values; by
		// Cauchy–Schwarz |Σ δ_j|/(h·w) ≤ ‖δ‖₂/√(h·w), with equality
		// for a constant δ, and the channels are disjoint.
		return Factor{
			Bound:  1 / math.Sqrt(float64(in.h)*float64(in.w)),
			Exact:  true,
			Method: fmt.Sprintf("1/√(h·w) on %d×%d planes", in.h, in.w),
		}, nil
	case backend.MaxPool2d:
		return poolBound(newWindow(in, l.Kernel, l.Stride, l.Padding, l.Kernel)), nil
	case backend.Conv2d:
		return convBound(newWindow(in, l.Kernel, l.Stride, l.Padding, 1), l.Out, tensor("weight"))
	}
	return Factor{}, fmt.Errorf("%w: %v", ErrUnsupported, l.Kind)
}

// batchNormFactor bounds an eval-mode batch norm of c channels with
// weights gamma and running variances rv: y_c = γ_c·(x_c − mean_c)/
// √(rv_c + ε) + β_c is a diagonal affine map, whose Lipschitz constant is
// its largest scale.
func batchNormFactor(c int, gamma, rv []float32) (Factor, error) {
	if len(gamma) != c || len(rv) != c {
		return Factor{}, fmt.Errorf("%d weights and %d running variances for %d channels", len(gamma), len(rv), c)
	}
	best, at, err := batchNormScale(gamma, rv)
	if err != nil {
		return Factor{}, err
	}
	return Factor{Bound: best, Exact: true, Method: fmt.Sprintf("max_c |γ_c|/√(running_var_c + eps), at channel %d", at)}, nil
}

// batchNormScale returns the largest scale max_c |γ_c|/√(rv_c + ε) of a
// batch norm with weights gamma and running variances rv (of the same
// length) and the first channel where it is reached. It returns an error
// for a NaN or infinite weight, or a running variance plus ε that is not
// positive and finite.
func batchNormScale(gamma, rv []float32) (best float64, at int, err error) {
	if len(gamma) != len(rv) {
		return 0, 0, fmt.Errorf("%d weights and %d running variances", len(gamma), len(rv))
	}
	for ch := range gamma {
		g, v := float64(gamma[ch]), float64(rv[ch])+bnEps
		switch {
		case math.IsNaN(g) || math.IsInf(g, 0):
			return 0, 0, fmt.Errorf("weight of channel %d is %v", ch, gamma[ch])
		case !(v > 0) || math.IsInf(v, 0):
			return 0, 0, fmt.Errorf("running variance of channel %d is %v: the variance plus eps must be positive and finite", ch, rv[ch])
		}
		if s := math.Abs(g) / math.Sqrt(v); s > best {
			best, at = s, ch
		}
	}
	return best, at, nil
}

// largest returns the spectral norm of the float64 matrix a, rows × cols
// row-major.
func largest(a []float64, rows, cols int) (float64, error) {
	return largestSingularValue(mat.NewDense(rows, cols, a))
}
