package backend

import (
	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// biasAddOp computes act(z + b): it adds a bias vector b (length c) to
// every row of an n×c matrix z and applies an activation (Identity, ReLU,
// Tanh or Sigmoid) to the row while it is still in cache, in place when z's
// register may be overwritten. This fuses a dense layer's bias and
// activation into one pass over its output.
//
// With d = act'(·)⊙g (activationGradOp, which reads the op's output, not
// z), the gradient with respect to z is d and with respect to b the column
// sums of d (colSumOp). With Identity, d is the incoming gradient itself.
type biasAddOp struct {
	opID
	act string
	ids *idSource
	out buffer
}

// newBiasAddOp returns the op z + b.
func newBiasAddOp(ids *idSource) *biasAddOp { return newBiasActOp(ids, Identity) }

// newBiasActOp returns the fused op act(z + b).
func newBiasActOp(ids *idSource, act string) *biasAddOp {
	name := "bias-add"
	if act != Identity {
		name = "bias-" + act
	}
	return &biasAddOp{opID: ids.next(name), act: act, ids: ids}
}

func (op *biasAddOp) Arity() int           { return 2 }
func (op *biasAddOp) OverwritesInput() int { return 0 }

func (op *biasAddOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 1, Of: a}, G.TensorType{Dims: 2, Of: a})
}

func (op *biasAddOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	z, okZ := inputs[0].(tensor.Shape)
	b, okB := inputs[1].(tensor.Shape)
	if !okZ || !okB || z.Dims() != 2 || b.TotalSize() != z[1] {
		return nil, op.errorf("want an n×c matrix and c biases, got %v and %v", inputs[0], inputs[1])
	}
	return z.Clone(), nil
}

func (op *biasAddOp) Do(inputs ...G.Value) (G.Value, error) {
	return op.UsePreallocDo(nil, inputs...)
}

func (op *biasAddOp) UsePreallocDo(prealloc G.Value, inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	z, err := dense(inputs[0], 2)
	if err != nil {
		return nil, op.errorf("z: %w", err)
	}
	b, err := dense(inputs[1], -1)
	if err != nil {
		return nil, op.errorf("b: %w", err)
	}
	n, c := z.Shape()[0], z.Shape()[1]
	bias := b.Float32s()
	if len(bias) != c {
		return nil, op.errorf("%d biases for %d columns", len(bias), c)
	}
	out := z
	if p, ok := prealloc.(*tensor.Dense); !ok || p != z {
		out = op.out.get(n, c)
	}
	src, dst := z.Float32s(), out.Float32s()
	for i := 0; i < n; i++ {
		zr, yr := src[i*c:(i+1)*c], dst[i*c:(i+1)*c]
		for j, bj := range bias {
			yr[j] = zr[j] + bj
		}
		if op.act != Identity {
			if err := activate(op.act, yr, yr); err != nil {
				return nil, op.errorf("%w", err)
			}
		}
	}
	return out, nil
}

func (op *biasAddOp) DiffWRT(inputs int) []bool { return []bool{true, true} }

func (op *biasAddOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if op.act != Identity {
		d, err := G.ApplyOp(&activationGradOp{opID: op.ids.next(op.act + "-grad"), fn: op.act}, output, grad)
		if err != nil {
			return nil, op.errorf("building gradient: %w", err)
		}
		grad = d
	}
	db, err := G.ApplyOp(&colSumOp{opID: op.ids.next("col-sum")}, grad)
	if err != nil {
		return nil, op.errorf("building gradient: %w", err)
	}
	return G.Nodes{grad, db}, nil
}

// colSumOp sums an n×c matrix over its rows into a vector of c values it
// owns.
type colSumOp struct {
	opID
	out buffer
}

func (op *colSumOp) Arity() int           { return 1 }
func (op *colSumOp) OverwritesInput() int { return -1 }

func (op *colSumOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 1, Of: a})
}

func (op *colSumOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) != 1 {
		return nil, op.errorf("want 1 input, got %d", len(inputs))
	}
	s, ok := inputs[0].(tensor.Shape)
	if !ok || s.Dims() != 2 {
		return nil, op.errorf("want a matrix, got %v", inputs[0])
	}
	return tensor.Shape{s[1]}, nil
}

func (op *colSumOp) Do(inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 1 {
		return nil, op.errorf("want 1 input, got %d", len(inputs))
	}
	g, err := dense(inputs[0], 2)
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	n, c := g.Shape()[0], g.Shape()[1]
	out := op.out.get(c)
	sum, src := out.Float32s(), g.Float32s()
	copy(sum, src[:c])
	for i := 1; i < n; i++ {
		row := src[i*c : (i+1)*c]
		for j, v := range row {
			sum[j] += v
		}
	}
	return out, nil
}
