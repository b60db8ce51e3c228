package backend

import (
	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// matMulOp computes C = op(A)·op(B) for float32 matrices, where op transposes
// its argument when transA (transB) is set. It writes C into a buffer it
// owns and calls the BLAS gorgonia is set to use.
//
// Linear layers use it as x·Wᵀ (transB), with W stored [out, in]; its
// gradients are matMulOps as well. With diffA false the op is not
// differentiated with respect to A (the data input of the first layer).
type matMulOp struct {
	opID
	transA, transB bool
	diffA          bool
	ids            *idSource
	out            buffer
}

func newMatMulOp(ids *idSource, transA, transB, diffA bool) *matMulOp {
	return &matMulOp{opID: ids.next("matmul"), transA: transA, transB: transB, diffA: diffA, ids: ids}
}

func (op *matMulOp) Arity() int           { return 2 }
func (op *matMulOp) OverwritesInput() int { return -1 }

func (op *matMulOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(m, m, m)
}

// dims returns the sizes of op(A) (m×k) and op(B) (k×n).
func (op *matMulOp) dims(a, b tensor.Shape) (m, n, k int, err error) {
	if a.Dims() != 2 || b.Dims() != 2 {
		return 0, 0, 0, op.errorf("want two matrices, got shapes %v and %v", a, b)
	}
	m, k = a[0], a[1]
	if op.transA {
		m, k = k, m
	}
	kb, n := b[0], b[1]
	if op.transB {
		kb, n = n, kb
	}
	if k != kb {
		return 0, 0, 0, op.errorf("inner sizes differ: shapes %v and %v (transposed: %t, %t)", a, b, op.transA, op.transB)
	}
	return m, n, k, nil
}

func (op *matMulOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	a, okA := inputs[0].(tensor.Shape)
	b, okB := inputs[1].(tensor.Shape)
	if !okA || !okB {
		return nil, op.errorf("want shapes, got %T and %T", inputs[0], inputs[1])
	}
	m, n, _, err := op.dims(a, b)
	if err != nil {
		return nil, err
	}
	return tensor.Shape{m, n}, nil
}

func (op *matMulOp) Do(inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	a, err := dense(inputs[0], 2)
	if err != nil {
		return nil, op.errorf("A: %w", err)
	}
	b, err := dense(inputs[1], 2)
	if err != nil {
		return nil, op.errorf("B: %w", err)
	}
	m, n, k, err := op.dims(a.Shape(), b.Shape())
	if err != nil {
		return nil, err
	}
	c := op.out.get(m, n)
	tA, tB := blas.NoTrans, blas.NoTrans
	if op.transA {
		tA = blas.Trans
	}
	if op.transB {
		tB = blas.Trans
	}
	G.WhichBLAS().Sgemm(tA, tB, m, n, k, 1, a.Float32s(), a.Shape()[1], b.Float32s(), b.Shape()[1], 0, c.Float32s(), n)
	return c, nil
}

func (op *matMulOp) DiffWRT(inputs int) []bool { return []bool{op.diffA, true} }

// SymDiff returns dA and dB for C = op(A)·op(B) and incoming gradient dC:
//
//	C = A·B    dA = dC·Bᵀ   dB = Aᵀ·dC
//	C = A·Bᵀ   dA = dC·B    dB = dCᵀ·A
//	C = Aᵀ·B   dA = B·dCᵀ   dB = A·dC
//	C = Aᵀ·Bᵀ  dA = Bᵀ·dCᵀ  dB = dCᵀ·Aᵀ
func (op *matMulOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	a, b := inputs[0], inputs[1]
	// apply builds x·y with the given transposes.
	apply := func(x, y *G.Node, tx, ty bool) (*G.Node, error) {
		return G.ApplyOp(newMatMulOp(op.ids, tx, ty, true), x, y)
	}
	var da, db *G.Node
	var err error
	switch {
	case !op.transA && !op.transB:
		if op.diffA {
			da, err = apply(grad, b, false, true)
		}
		if err == nil {
			db, err = apply(a, grad, true, false)
		}
	case !op.transA && op.transB:
		if op.diffA {
			da, err = apply(grad, b, false, false)
		}
		if err == nil {
			db, err = apply(grad, a, true, false)
		}
	case op.transA && !op.transB:
		if op.diffA {
			da, err = apply(b, grad, false, true)
		}
		if err == nil {
			db, err = apply(a, grad, false, false)
		}
	default:
		if op.diffA {
			da, err = apply(b, grad, true, true)
		}
		if err == nil {
			db, err = apply(grad, a, true, true)
		}
	}
	if err != nil {
		return nil, op.errorf("building gradient: %w", err)
	}
	return G.Nodes{da, db}, nil
}
