package backend

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// activationOp applies ReLU, Tanh or Sigmoid element-wise, in place when its
// input's register may be overwritten. Its gradient (activationGradOp) reads
// the op's output, not its input, so the input is dead after the forward
// pass and the compiler lets the op overwrite it.
//
// ReLU is branch-free: it clears every value whose sign bit is set, except
// NaNs, which it passes on (so that a diverging model still shows a NaN
// loss). Tanh and Sigmoid are computed in float64 and rounded.
type activationOp struct {
	opID
	fn  string // ReLU, Tanh or Sigmoid
	ids *idSource
	out buffer
}

func newActivationOp(ids *idSource, fn string) *activationOp {
	return &activationOp{opID: ids.next(fn), fn: fn, ids: ids}
}

func (op *activationOp) Arity() int           { return 1 }
func (op *activationOp) OverwritesInput() int { return 0 }

func (op *activationOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(a, a)
}

func (op *activationOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) != 1 {
		return nil, op.errorf("want 1 input, got %d", len(inputs))
	}
	s, ok := inputs[0].(tensor.Shape)
	if !ok {
		return nil, op.errorf("want a shape, got %T", inputs[0])
	}
	return s.Clone(), nil
}

func (op *activationOp) Do(inputs ...G.Value) (G.Value, error) {
	return op.UsePreallocDo(nil, inputs...)
}

func (op *activationOp) UsePreallocDo(prealloc G.Value, inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 1 {
		return nil, op.errorf("want 1 input, got %d", len(inputs))
	}
	x, err := dense(inputs[0], -1)
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	out := x
	if p, ok := prealloc.(*tensor.Dense); !ok || p != x {
		out = op.out.get(x.Shape()...)
	}
	if err := activate(op.fn, out.Float32s(), x.Float32s()); err != nil {
		return nil, op.errorf("%w", err)
	}
	return out, nil
}

// activate sets dst[i] = fn(src[i]). dst and src may be the same slice.
func activate(fn string, dst, src []float32) error {
	switch fn {
	case Identity:
		copy(dst, src)
	case ReLU:
		reluForward(dst, src)
	case Tanh:
		for i, v := range src[:len(dst)] {
			dst[i] = float32(math.Tanh(float64(v)))
		}
	case Sigmoid:
		for i, v := range src[:len(dst)] {
			dst[i] = float32(1 / (1 + math.Exp(-float64(v))))
		}
	default:
		return fmt.Errorf("unknown activation %q", fn)
	}
	return nil
}

func (op *activationOp) DiffWRT(inputs int) []bool { return []bool{true} }

func (op *activationOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&activationGradOp{opID: op.ids.next(op.fn + "-grad"), fn: op.fn}, output, grad)
	if err != nil {
		return nil, op.errorf("building gradient: %w", err)
	}
	return G.Nodes{d}, nil
}

// activationGradOp computes dL/dx from an activation's output y and the
// incoming gradient g, in place in g when g's register may be overwritten:
// ReLU keeps g where y is not +0, Tanh multiplies by 1-y², Sigmoid by y(1-y).
type activationGradOp struct {
	opID
	fn  string
	out buffer
}

func (op *activationGradOp) Arity() int           { return 2 }
func (op *activationGradOp) OverwritesInput() int { return 1 }

func (op *activationGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(a, a, a)
}

func (op *activationGradOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	s, ok := inputs[1].(tensor.Shape)
	if !ok {
		return nil, op.errorf("want a shape, got %T", inputs[1])
	}
	return s.Clone(), nil
}

func (op *activationGradOp) Do(inputs ...G.Value) (G.Value, error) {
	return op.UsePreallocDo(nil, inputs...)
}

func (op *activationGradOp) UsePreallocDo(prealloc G.Value, inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	y, err := dense(inputs[0], -1)
	if err != nil {
		return nil, op.errorf("y: %w", err)
	}
	g, err := dense(inputs[1], -1)
	if err != nil {
		return nil, op.errorf("gradient: %w", err)
	}
	if !y.Shape().Eq(g.Shape()) {
		return nil, op.errorf("output shape %v differs from gradient shape %v", y.Shape(), g.Shape())
	}
	out := g
	if p, ok := prealloc.(*tensor.Dense); !ok || p != g {
		out = op.out.get(g.Shape()...)
	}
	dst, ys, gs := out.Float32s(), y.Float32s(), g.Float32s()
	switch op.fn {
	case ReLU:
		reluBackward(dst, ys, gs)
	case Tanh:
		gs = gs[:len(dst)]
		for i, v := range ys[:len(dst)] {
			dst[i] = gs[i] * (1 - v*v)
		}
	case Sigmoid:
		gs = gs[:len(dst)]
		for i, v := range ys[:len(dst)] {
			dst[i] = gs[i] * v * (1 - v)
		}
	default:
		return nil, op.errorf("unknown activation %q", op.fn)
	}
	return out, nil
}

// reluForwardGo, the reference for reluForward (kernels_*.go), sets dst[i] = max(src[i], 0) without branches: it clears every
// value whose sign bit is set unless the value is a NaN. -0 becomes +0.
// dst and src may be the same slice.
func reluForwardGo(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		b := math.Float32bits(v)
		neg := uint32(int32(b) >> 31)                         // all ones if the sign bit is set
		nan := uint32(int32(0x7f800000-(b&0x7fffffff)) >> 31) // all ones if v is a NaN
		dst[i] = math.Float32frombits(b &^ (neg &^ nan))
	}
}

// reluBackwardGo, the reference for reluBackward (kernels_*.go), sets dst[i] = g[i] where the ReLU output y[i] is not +0 and
// dst[i] = 0 where it is (PyTorch's choice at 0), without branches. dst and
// g may be the same slice.
func reluBackwardGo(dst, y, g []float32) {
	y, g = y[:len(dst)], g[:len(dst)]
	for i, v := range y {
		b := math.Float32bits(v)
		keep := uint32(int32(b|-b) >> 31) // all ones unless b == 0
		dst[i] = math.Float32frombits(math.Float32bits(g[i]) & keep)
	}
}
