package backend

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// NewPairedTrainer returns a Trainer that updates m's weights in place with
// opt to minimise loss, a weighted sum of the cross-entropies of clean and
// perturbed inputs and of their squared difference (see PairedLoss), on
// batches of at most batch samples; train it with StepPair. Each step runs
// the clean and the perturbed inputs through m as one graph of twice as
// many rows, in training mode: m's batch norms normalise the clean rows and
// the perturbed rows each with their own batch statistics, as two forward
// passes of a PyTorch module would, and each step updates their running
// statistics twice, with the clean rows' statistics and then with the
// perturbed rows'. Call Close when done.
func NewPairedTrainer(m *Model, opt Optimizer, batch int, loss PairedLoss) (t *Trainer, err error) {
	defer recoverAPI("new trainer", &err)
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if err := loss.Validate(); err != nil {
		return nil, err
	}
	if batch < 1 || batch > maxBatch/2 {
		return nil, fmt.Errorf("backend: batch size %d out of range [1, %d] for pairs", batch, maxBatch/2)
	}
	return newTrainerOf(m, opt, batch, 2, netSpec{train: true, groups: 2, paired: &loss})
}

// StepPair trains a paired trainer on one batch of n samples, 1 <= n <= the
// trainer's batch size: x holds their n clean inputs and xp their n
// perturbed inputs (rows of Arch.InputWidth() values, row-major; row i of
// xp perturbs row i of x), and y their n labels. The caller computes xp
// (adversarial examples, or x + h·v for the finite-difference gradient
// penalty); it is a constant of the step. StepPair updates the weights and
// running statistics as Step does and returns the loss computed before the
// update (PairedParts gives its parts), with Step's errors. A NaN or
// infinite cross-entropy of either half is reported as a non-finite loss
// even if the PairedLoss gives that half weight 0.
func (t *Trainer) StepPair(ctx context.Context, x, xp []float32, y []int32) (loss float64, err error) {
	defer recoverAPI("step", &err)
	if t.spec.paired == nil {
		return 0, errors.New("backend: step: only a paired trainer (NewPairedTrainer) takes clean and perturbed inputs")
	}
	if err := t.ready(ctx); err != nil {
		return 0, err
	}
	n := len(y)
	if n < 1 || n > t.batch {
		return 0, fmt.Errorf("backend: step: %d rows, want 1 to %d", n, t.batch)
	}
	if len(x) != n*t.in {
		return 0, fmt.Errorf("backend: step: %d inputs for %d rows of %d", len(x), n, t.in)
	}
	if len(xp) != n*t.in {
		return 0, fmt.Errorf("backend: step: %d perturbed inputs for %d rows of %d", len(xp), n, t.in)
	}
	for i, k := range y {
		if k < 0 || int(k) >= t.classes {
			return 0, fmt.Errorf("backend: step: label %d of row %d is not a class in [0, %d)", k, i, t.classes)
		}
	}
	net, err := t.network(n)
	if err != nil {
		return 0, err
	}
	copy(net.x, x)
	copy(net.x[len(x):], xp)
	for i, k := range y {
		net.y[i] = float32(k)
	}
	return t.update(net, n)
}

// PairedParts returns the parts of the loss of the last step of a paired
// trainer that computed its loss (also one that failed with ErrNonFinite),
// for logging. It returns the zero PairedParts before the first step and
// for other trainers.
func (t *Trainer) PairedParts() PairedParts { return t.parts }

// A Regularizer adds a penalty R(W) of a model's trained weights W to the
// loss a Trainer minimises (SetRegularizer); a Lipschitz bound λ·∏ σ(W_l)
// of the layers' spectral norms, or weight decay ½λ‖W‖², are examples.
type Regularizer interface {
	// Regularize is called once per step, after the gradients of the
	// trainer's loss with respect to the weights are computed and before
	// the optimizer uses them. params are the model's trained tensors in
	// Model.Params order (every tensor but the batch norms' running
	// statistics and step counts), sharing their Data with the model, and
	// grads[i] holds the gradient of the loss with respect to params[i]:
	// len(params[i].Data) float32 values in the same row-major layout.
	// Regularize adds ∂R/∂W to grads in place and returns R(W), which the
	// trainer adds to the loss it returns. It must not change params or
	// keep the slices: grads are the graph's buffers, which the next step
	// overwrites. An error aborts the step with no update.
	Regularize(params []Tensor, grads [][]float32) (penalty float64, err error)
}

// SetRegularizer makes t's later steps (Step, StepViews and StepPair) add
// r's penalty and gradient to the loss (see Regularizer); nil removes the
// regulariser. A non-finite total is reported as a non-finite loss
// (ErrNonFinite), with no update. Calling r allocates nothing on t's side.
func (t *Trainer) SetRegularizer(r Regularizer) {
	t.reg = r
	if r == nil || t.regParams != nil {
		return
	}
	for i, s := range t.model.Arch.params() {
		if !s.buffer {
			p := t.model.Params[i]
			t.regParams = append(t.regParams, Tensor{Name: p.Name, Shape: slices.Clone(p.Shape), Data: p.Data})
		}
	}
	t.regGrads = make([][]float32, len(t.regParams))
}

// regularize hands the weight gradients of net's last run to the
// regulariser, which adds its gradient to them, and returns its penalty.
func (t *Trainer) regularize(net *network) (float64, error) {
	if len(net.vgs) != len(t.regParams) {
		return 0, fmt.Errorf("backend: step: %d weight gradients for %d trained tensors", len(net.vgs), len(t.regParams))
	}
	for i, vg := range net.vgs {
		p := t.regParams[i]
		gv, err := vg.Grad()
		if err != nil {
			return 0, fmt.Errorf("backend: step: gradient of %s: %w", p.Name, err)
		}
		g, err := dense(gv, -1)
		if err != nil {
			return 0, fmt.Errorf("backend: step: gradient of %s: %w", p.Name, err)
		}
		if d := g.Float32s(); len(d) != len(p.Data) {
			return 0, fmt.Errorf("backend: step: gradient of %s has %d values, want %d", p.Name, len(d), len(p.Data))
		}
		t.regGrads[i] = g.Float32s()
	}
	penalty, err := t.reg.Regularize(t.regParams, t.regGrads)
	clear(t.regGrads) // keep no reference to the graph's buffers
	if err != nil {
		return 0, fmt.Errorf("backend: step: regularizer: %w", err)
	}
	return penalty, nil
}
