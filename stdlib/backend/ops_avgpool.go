package backend

import (
	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// globalAvgPoolOp averages each of the c planes of plane values of n rows
// into n rows of c values, in a buffer it owns: PyTorch's
// nn.AdaptiveAvgPool2d(1) followed by flattening.
type globalAvgPoolOp struct {
	opID
	c, plane int
	ids      *idSource
	out      buffer
}

func newGlobalAvgPoolOp(ids *idSource, c, plane int) *globalAvgPoolOp {
	return &globalAvgPoolOp{opID: ids.next("avgpool"), c: c, plane: plane, ids: ids}
}

func (op *globalAvgPoolOp) Arity() int           { return 1 }
func (op *globalAvgPoolOp) OverwritesInput() int { return -1 }

func (op *globalAvgPoolOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(m, m)
}

func (op *globalAvgPoolOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) != 1 {
		return nil, op.errorf("want 1 input, got %d", len(inputs))
	}
	x, ok := inputs[0].(tensor.Shape)
	if !ok || x.Dims() != 2 || x[1] != op.c*op.plane {
		return nil, op.errorf("want rows of %d values, got %v", op.c*op.plane, inputs[0])
	}
	return tensor.Shape{x[0], op.c}, nil
}

func (op *globalAvgPoolOp) Do(inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 1 {
		return nil, op.errorf("want 1 input, got %d", len(inputs))
	}
	x, err := dense(inputs[0], 2)
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	n, err := checkRows(x, op.c*op.plane, "x")
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	y := op.out.get(n, op.c)
	xs, ys := x.Float32s(), y.Float32s()
	inv := 1 / float32(op.plane)
	for p := range ys[:n*op.c] {
		var s float32
		for _, v := range xs[p*op.plane : (p+1)*op.plane] {
			s += v
		}
		ys[p] = s * inv
	}
	return y, nil
}

func (op *globalAvgPoolOp) DiffWRT(inputs int) []bool { return []bool{true} }

func (op *globalAvgPoolOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	d, err := G.ApplyOp(&globalAvgPoolGradOp{opID: op.ids.next("avgpool-grad"), fwd: op}, output, grad)
	if err != nil {
		return nil, op.errorf("building gradient: %w", err)
	}
	return G.Nodes{d}, nil
}

// globalAvgPoolGradOp spreads the incoming gradient of each channel mean
// evenly over the channel's plane, into a buffer it owns. Its inputs are
// the pool's output (so that it runs after it) and the incoming gradient.
type globalAvgPoolGradOp struct {
	opID
	fwd *globalAvgPoolOp
	out buffer
}

func (op *globalAvgPoolGradOp) Arity() int           { return 2 }
func (op *globalAvgPoolGradOp) OverwritesInput() int { return -1 }

func (op *globalAvgPoolGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(m, m, m)
}

func (op *globalAvgPoolGradOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	s, ok := inputs[1].(tensor.Shape)
	if !ok || s.Dims() != 2 {
		return nil, op.errorf("want a matrix gradient, got %v", inputs[1])
	}
	return tensor.Shape{s[0], op.fwd.c * op.fwd.plane}, nil
}

func (op *globalAvgPoolGradOp) Do(inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	dy, err := dense(inputs[1], 2)
	if err != nil {
		return nil, op.errorf("gradient: %w", err)
	}
	c, plane := op.fwd.c, op.fwd.plane
	n, err := checkRows(dy, c, "gradient")
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	dx := op.out.get(n, c*plane)
	dxs, dys := dx.Float32s(), dy.Float32s()
	inv := 1 / float32(plane)
	for p, d := range dys[:n*c] {
		g := d * inv
		dst := dxs[p*plane : (p+1)*plane]
		for i := range dst {
			dst[i] = g
		}
	}
	return dx, nil
}
