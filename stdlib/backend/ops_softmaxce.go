package backend

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// softmaxCEOp computes the mean softmax cross-entropy of n×c logits against
// n class labels (a float32 vector holding integers in [0, c); the op is not
// differentiable with respect to them) and, in the same pass, its gradient
// with respect to the logits, (softmax(logits) - onehot(labels)) / n, into a
// buffer it owns. The loss is returned as a *gorgonia.F32 the op owns; the
// float64 mean is kept in the op as well.
//
// Each row is shifted by its own maximum, and the log-sum-exp is computed as
// max + log1p(sum of exp(x_j - max) over the other entries), so a row like
// [100, 0] with label 0 gives log(1+e^-100) rather than 0 or Inf.
type softmaxCEOp struct {
	opID
	ids  *idSource
	grad buffer
	loss G.F32
	mean float64 // the loss of the last run, in float64
	// perSample makes each row's gradient that of the row's own loss
	// (not 1/n of it) and keeps each row's loss in rowLoss: what input
	// gradients for attacks need. The reported loss is still the mean.
	perSample bool
	rowLoss   []float32
	// obj, if set (with perSample), replaces the cross-entropy: each
	// row's loss and gradient are obj's.
	obj Objective
}

// An Objective is a per-sample function of a model's logits that input
// gradients can differentiate instead of the cross-entropy, such as the
// log barrier of an attack on the margin of the label.
type Objective interface {
	// Row returns the objective of one sample's logits with label k
	// and writes its gradient with respect to the logits into grad
	// (len(logits) values). It must not keep the slices.
	Row(logits []float32, k int, grad []float32) float64
}

func newSoftmaxCEOp(ids *idSource) *softmaxCEOp {
	return &softmaxCEOp{opID: ids.next("softmax-ce"), ids: ids}
}

func (op *softmaxCEOp) Arity() int           { return 2 }
func (op *softmaxCEOp) OverwritesInput() int { return -1 }

func (op *softmaxCEOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 1, Of: a}, a)
}

func (op *softmaxCEOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	x, okX := inputs[0].(tensor.Shape)
	y, okY := inputs[1].(tensor.Shape)
	if !okX || !okY || x.Dims() != 2 || y.TotalSize() != x[0] {
		return nil, op.errorf("want n×c logits and n labels, got %v and %v", inputs[0], inputs[1])
	}
	return tensor.ScalarShape(), nil
}

func (op *softmaxCEOp) Do(inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	x, y, err := logitsAndLabels(inputs)
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	n, c := x.Shape()[0], x.Shape()[1]
	labels := y.Float32s()
	if len(labels) != n {
		return nil, op.errorf("%d labels for %d rows", len(labels), n)
	}
	grad := op.grad.get(n, c).Float32s()
	logits := x.Float32s()
	invN := 1 / float64(n)
	gradScale := invN
	if op.perSample {
		gradScale = 1
		if len(op.rowLoss) != n {
			op.rowLoss = make([]float32, n)
		}
	}
	var total float64
	for i, lf := range labels {
		k := int(lf)
		if float32(k) != lf || k < 0 || k >= c {
			return nil, op.errorf("row %d: label %v is not a class in [0, %d)", i, lf, c)
		}
		row, g := logits[i*c:(i+1)*c], grad[i*c:(i+1)*c]
		if op.obj != nil {
			l := op.obj.Row(row, k, g)
			total += l
			op.rowLoss[i] = float32(l)
			continue
		}
		l, rest, at := ceRowExp(row, k, g)
		total += l
		if op.perSample {
			op.rowLoss[i] = float32(l)
		}
		ceRowScale(g, k, at, rest, gradScale)
	}
	op.mean = total * invN
	op.loss = G.F32(op.mean)
	return &op.loss, nil
}

func (op *softmaxCEOp) DiffWRT(inputs int) []bool { return []bool{true, false} }

func (op *softmaxCEOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	gop := &lossGradOp{opID: op.ids.next("softmax-ce-grad"), grad: &op.grad, shape: inputs[0].Shape().Clone()}
	d, err := G.ApplyOp(gop, output, grad)
	if err != nil {
		return nil, op.errorf("building gradient: %w", err)
	}
	return G.Nodes{d, nil}, nil
}

// lossGradOp hands out the gradient a fused loss op (softmaxCEOp,
// sslLossOp, pairedLossOp) computed into its buffer in the forward pass,
// scaled by the incoming gradient when that is not 1. Its inputs are the
// loss node (so that it runs after the forward op) and the incoming
// gradient.
type lossGradOp struct {
	opID
	grad  *buffer // the forward op's gradient buffer
	shape tensor.Shape
}

func (op *lossGradOp) Arity() int           { return 2 }
func (op *lossGradOp) OverwritesInput() int { return -1 }

func (op *lossGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(a, a, G.TensorType{Dims: 2, Of: a})
}

func (op *lossGradOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	return op.shape.Clone(), nil
}

func (op *lossGradOp) Do(inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	s, err := scalar(inputs[1])
	if err != nil {
		return nil, op.errorf("incoming gradient: %w", err)
	}
	d := op.grad.t
	if d == nil || !d.Shape().Eq(op.shape) {
		return nil, op.errorf("the forward op has not run")
	}
	if s != 1 {
		g := d.Float32s()
		for i := range g {
			g[i] *= float32(s)
		}
	}
	return d, nil
}

// ceRowExp computes the softmax cross-entropy of one row of logits against
// class k in float64 (for softmaxCEOp and pairedLossOp): shifted by the row's maximum
// (at its first position at), with the log-sum-exp max + log1p(rest), rest
// the sum of exp(x_j − max) over j ≠ at. It leaves exp(x_j − max), rounded
// to float32, in g for ceRowScale, and returns the loss, rest and at.
func ceRowExp(row []float32, k int, g []float32) (loss, rest float64, at int) {
	g = g[:len(row)]
	// A NaN in row[0] makes every comparison false and the NaN reaches
	// the loss.
	mx := row[0]
	for j, v := range row {
		if v > mx {
			mx, at = v, j
		}
	}
	for j, v := range row {
		e := math.Exp(float64(v) - float64(mx))
		g[j] = float32(e)
		if j != at {
			rest += e
		}
	}
	return math.Log1p(rest) + (float64(mx) - float64(row[k])), rest, at
}

// ceRowScale turns the exponentials ceRowExp left in g into
// coef·(softmax − onehot(k)) in float32, with p_k − 1 computed as −rest/(1+rest) when k is the
// maximum. A zero coef gives zeros, even for non-finite logits.
func ceRowScale(g []float32, k, at int, rest, coef float64) {
	if coef == 0 {
		clear(g)
		return
	}
	scale := coef / (1 + rest)
	for j := range g {
		g[j] = float32(float64(g[j]) * scale)
	}
	if k == at {
		g[k] = float32(-rest * scale)
	} else {
		g[k] = float32(float64(g[k]) - coef)
	}
}

// logitsAndLabels reads the inputs of a fused cross-entropy op: a matrix of
// logits and a vector of labels.
func logitsAndLabels(inputs []G.Value) (x, y *tensor.Dense, err error) {
	if x, err = dense(inputs[0], 2); err != nil {
		return nil, nil, fmt.Errorf("logits: %w", err)
	}
	if y, err = dense(inputs[1], -1); err != nil {
		return nil, nil, fmt.Errorf("labels: %w", err)
	}
	return x, y, nil
}
