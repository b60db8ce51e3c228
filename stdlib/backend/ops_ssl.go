package backend

import (
	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// sslLossOp computes a self-supervised loss (SSLLoss) of a matrix whose
// rows are the outputs of Views views of rows samples each, view-major,
// and in the same pass its gradient with respect to that matrix, into a
// buffer it owns; with the loss's Orthogonality weight, plus that multiple
// of the orthogonality regulariser (see orthogonality). Like softmaxCEOp it returns the loss as a *gorgonia.F32
// it owns and keeps the float64 value in mean.
type sslLossOp struct {
	opID
	ids   *idSource
	loss  SSLLoss
	rows  int // samples per view
	work  SSLWork
	ortho orthoWork
	grad  buffer
	out   G.F32
	mean  float64
}

func newSSLLossOp(ids *idSource, loss SSLLoss, rows int) *sslLossOp {
	return &sslLossOp{opID: ids.next("ssl-" + loss.Kind), ids: ids, loss: loss, rows: rows}
}

func (op *sslLossOp) Arity() int           { return 1 }
func (op *sslLossOp) OverwritesInput() int { return -1 }

func (op *sslLossOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, a)
}

func (op *sslLossOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) != 1 {
		return nil, op.errorf("want 1 input, got %d", len(inputs))
	}
	z, ok := inputs[0].(tensor.Shape)
	if !ok || z.Dims() != 2 || z[0] != op.loss.Views*op.rows {
		return nil, op.errorf("want %d views of %d rows, got %v", op.loss.Views, op.rows, inputs[0])
	}
	return tensor.ScalarShape(), nil
}

func (op *sslLossOp) Do(inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 1 {
		return nil, op.errorf("want 1 input, got %d", len(inputs))
	}
	z, err := dense(inputs[0], 2)
	if err != nil {
		return nil, op.errorf("embeddings: %w", err)
	}
	n, d := z.Shape()[0], z.Shape()[1]
	if n != op.loss.Views*op.rows {
		return nil, op.errorf("%d rows for %d views of %d", n, op.loss.Views, op.rows)
	}
	grad := op.grad.get(n, d).Float32s()
	op.mean, err = op.loss.LossGrad(&op.work, z.Float32s(), op.rows, d, grad)
	if err != nil {
		return nil, err
	}
	if w := op.loss.Orthogonality; w > 0 {
		o, err := orthogonality(&op.ortho, z.Float32s(), op.loss.Views, op.rows, d, w, grad)
		if err != nil {
			return nil, err
		}
		op.mean += o
	}
	op.out = G.F32(op.mean)
	return &op.out, nil
}

func (op *sslLossOp) DiffWRT(inputs int) []bool { return []bool{true} }

func (op *sslLossOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != 1 {
		return nil, op.errorf("want 1 input, got %d", len(inputs))
	}
	gop := &lossGradOp{opID: op.ids.next("ssl-grad"), grad: &op.grad, shape: inputs[0].Shape().Clone()}
	d, err := G.ApplyOp(gop, output, grad)
	if err != nil {
		return nil, op.errorf("building gradient: %w", err)
	}
	return G.Nodes{d}, nil
}
