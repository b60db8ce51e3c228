package backend

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// PairedLoss weighs the terms of the loss a paired trainer (NewPairedTrainer)
// minimises. A paired batch holds n samples, each given twice: as a clean
// input xᵢ and as a perturbed input x'ᵢ, both with the sample's label yᵢ.
// With CEᵢ and CE'ᵢ the softmax cross-entropies of the model's logits for xᵢ
// and for x'ᵢ against yᵢ, the loss is
//
//	Clean·mean_i CEᵢ + Perturbed·mean_i CE'ᵢ + Penalty·mean_i dᵢ²/2,  dᵢ = (CE'ᵢ − CEᵢ)/H,
//
// that is Penalty/(2·H²)·mean_i (CE'ᵢ − CEᵢ)² for the last term. The
// perturbed inputs are constants computed by the caller: no gradient flows
// through them into the clean ones.
//
// Adversarial training (Goodfellow et al. 2015, Madry et al. 2018) on
// adversarial examples x' is Clean = Perturbed = 0.5, or Clean = 0 and
// Perturbed = 1, with Penalty 0 (H unused). The finite-difference input
// gradient penalty of Finlay and Oberman ("Scaleable input gradient
// regularization for adversarial robustness", 2019; its first-order form)
// is Clean = 1, Perturbed = 0, Penalty = λ and H = h, with x' = x + h·v for
// directions v held constant (for its L2 form, vᵢ = ∇ₓCEᵢ/‖∇ₓCEᵢ‖₂): then
// dᵢ ≈ ∇ₓCEᵢ·vᵢ and the penalty is about λ/2·mean_i ‖∇ₓCEᵢ‖₂², with no
// second-order derivative. Its central form (penalty only) is Clean =
// Perturbed = 0 with x = x₀ − h·v, x' = x₀ + h·v and H = 2h.
type PairedLoss struct {
	// Clean weighs the mean cross-entropy of the clean inputs.
	Clean float64
	// Perturbed weighs the mean cross-entropy of the perturbed inputs.
	Perturbed float64
	// Penalty weighs half the mean squared finite difference
	// (CE'ᵢ − CEᵢ)/H.
	Penalty float64
	// H is the step of the finite difference, the size of the
	// perturbation; it must be positive when Penalty is.
	H float64
}

// Validate reports whether l's weights and step are finite and
// non-negative, at least one weight is positive, and H is positive if
// Penalty is.
func (l PairedLoss) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{{"clean weight", l.Clean}, {"perturbed weight", l.Perturbed}, {"penalty", l.Penalty}, {"step H", l.H}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) || f.v < 0 {
			return fmt.Errorf("backend: paired loss: %s %v is not a finite non-negative number", f.name, f.v)
		}
	}
	if l.Clean == 0 && l.Perturbed == 0 && l.Penalty == 0 {
		return fmt.Errorf("backend: paired loss: all weights are 0")
	}
	if l.Penalty > 0 && l.H == 0 {
		return fmt.Errorf("backend: paired loss: a penalty needs a positive step H")
	}
	return nil
}

// PairedParts are the parts of the loss of a paired trainer's step (see
// PairedLoss): the loss is Clean·CleanCE + Perturbed·PerturbedCE +
// Penalty·Penalty (weights from the PairedLoss, values from here) plus
// Regularizer.
type PairedParts struct {
	CleanCE     float64 // mean_i CEᵢ
	PerturbedCE float64 // mean_i CE'ᵢ
	Penalty     float64 // mean_i ((CE'ᵢ − CEᵢ)/H)²/2, unweighted; 0 if H is 0
	Regularizer float64 // the penalty of the trainer's Regularizer, 0 without one
}

// pairedLossOp computes a PairedLoss of 2n×c logits, the n clean rows
// first and then the n perturbed rows (row n+i is the perturbation of row
// i), against n class labels (a float32 vector of integers in [0, c); the
// op is not differentiable with respect to them), and, in the same pass,
// its gradient with respect to the logits into a buffer it owns. Like
// softmaxCEOp it returns the loss as a *gorgonia.F32 it owns and keeps the
// float64 value (cost) and its parts.
//
// The gradient, derived by hand. Write zᵢ and z'ᵢ for logit rows i and
// n+i, CEᵢ = lse(zᵢ) − zᵢ[yᵢ] (lse the log-sum-exp), whose gradient is
// gᵢ = ∂CEᵢ/∂zᵢ = softmax(zᵢ) − onehot(yᵢ), and likewise CE'ᵢ and g'ᵢ for
// z'ᵢ. With weights a = Clean, b = Perturbed, λ = Penalty and step H,
//
//	cost = (1/n)·Σᵢ [a·CEᵢ + b·CE'ᵢ + λ/(2H²)·(CE'ᵢ − CEᵢ)²].
//
// Row zᵢ enters only CEᵢ, and z'ᵢ only CE'ᵢ, so by the chain rule
//
//	∂cost/∂zᵢ  = (1/n)·[a − (λ/H²)·(CE'ᵢ − CEᵢ)]·gᵢ,
//	∂cost/∂z'ᵢ = (1/n)·[b + (λ/H²)·(CE'ᵢ − CEᵢ)]·g'ᵢ,
//
// (the derivative of λ/(2H²)·u² with u = CE'ᵢ − CEᵢ is (λ/H²)·u, and
// ∂u/∂zᵢ = −gᵢ, ∂u/∂z'ᵢ = g'ᵢ): each row's gradient is its own softmax
// cross-entropy gradient times a coefficient that depends only on the
// sample's two losses. The op computes both rows of a sample as
// softmaxCEOp does (shift by the row's maximum, log1p of the other terms),
// then the two coefficients, then scales both rows. In the tulip form
// (a = 1, b = 0, dᵢ = (CE'ᵢ − CEᵢ)/H) this is ∂/∂θ of mean(dᵢ²)/2 =
// mean(dᵢ·(∂CE'ᵢ/∂θ − ∂CEᵢ/∂θ)/H), the gradient of two forward passes
// through the same weights with the direction held constant.
//
// A term whose weight is 0 adds nothing (not 0·Inf), and a row whose
// coefficient is 0 gets a zero gradient; but a NaN or infinite
// cross-entropy in either half makes the cost non-finite whatever the
// weights, so that a step never accepts (or updates batch statistics
// from) a half it ignores but that diverged.
type pairedLossOp struct {
	opID
	ids   *idSource
	loss  PairedLoss
	grad  buffer
	out   G.F32
	cost  float64     // the loss of the last run, in float64
	parts PairedParts // its parts (Regularizer unset)
}

func newPairedLossOp(ids *idSource, loss PairedLoss) *pairedLossOp {
	return &pairedLossOp{opID: ids.next("paired-ce"), ids: ids, loss: loss}
}

func (op *pairedLossOp) Arity() int           { return 2 }
func (op *pairedLossOp) OverwritesInput() int { return -1 }

func (op *pairedLossOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 1, Of: a}, a)
}

func (op *pairedLossOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	x, okX := inputs[0].(tensor.Shape)
	y, okY := inputs[1].(tensor.Shape)
	if !okX || !okY || x.Dims() != 2 || x[0] != 2*y.TotalSize() {
		return nil, op.errorf("want 2n×c logits and n labels, got %v and %v", inputs[0], inputs[1])
	}
	return tensor.ScalarShape(), nil
}

func (op *pairedLossOp) Do(inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	x, y, err := logitsAndLabels(inputs)
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	rows, c := x.Shape()[0], x.Shape()[1]
	labels := y.Float32s()
	n := len(labels)
	if rows != 2*n || n == 0 {
		return nil, op.errorf("%d rows for %d labels, want twice as many", rows, n)
	}
	grad := op.grad.get(rows, c).Float32s()
	logits := x.Float32s()
	l := op.loss
	invN := 1 / float64(n)
	var q float64 // λ/H², the penalty's coefficient of CE'ᵢ − CEᵢ
	if l.Penalty != 0 {
		q = l.Penalty / (l.H * l.H)
	}
	var sumC, sumP, sumD2 float64
	for i, lf := range labels {
		k := int(lf)
		if float32(k) != lf || k < 0 || k >= c {
			return nil, op.errorf("sample %d: label %v is not a class in [0, %d)", i, lf, c)
		}
		zc, gc := logits[i*c:(i+1)*c], grad[i*c:(i+1)*c]
		zp, gp := logits[(n+i)*c:(n+i+1)*c], grad[(n+i)*c:(n+i+1)*c]
		ceC, restC, atC := ceRowExp(zc, k, gc)
		ceP, restP, atP := ceRowExp(zp, k, gp)
		d := ceP - ceC
		sumC += ceC
		sumP += ceP
		sumD2 += d * d
		a, b := l.Clean, l.Perturbed
		if q != 0 {
			a -= q * d
			b += q * d
		}
		ceRowScale(gc, k, atC, restC, a*invN)
		ceRowScale(gp, k, atP, restP, b*invN)
	}
	op.parts = PairedParts{CleanCE: sumC * invN, PerturbedCE: sumP * invN}
	if l.H > 0 {
		op.parts.Penalty = sumD2 * invN / (2 * l.H * l.H)
	}
	var cost float64
	if l.Clean != 0 {
		cost += l.Clean * op.parts.CleanCE
	}
	if l.Perturbed != 0 {
		cost += l.Perturbed * op.parts.PerturbedCE
	}
	if l.Penalty != 0 {
		cost += l.Penalty * op.parts.Penalty
	}
	if s := op.parts.CleanCE + op.parts.PerturbedCE; math.IsNaN(s) || math.IsInf(s, 0) {
		cost = s
	}
	op.cost = cost
	op.out = G.F32(cost)
	return &op.out, nil
}

func (op *pairedLossOp) DiffWRT(inputs int) []bool { return []bool{true, false} }

func (op *pairedLossOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	gop := &lossGradOp{opID: op.ids.next("paired-ce-grad"), grad: &op.grad, shape: inputs[0].Shape().Clone()}
	d, err := G.ApplyOp(gop, output, grad)
	if err != nil {
		return nil, op.errorf("building gradient: %w", err)
	}
	return G.Nodes{d, nil}, nil
}
