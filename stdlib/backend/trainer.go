package backend

import (
	"context"
	"errors"
	"fmt"
	"math"
)

// ErrNonFinite is wrapped by the error Trainer.Step returns when the loss is
// NaN or infinite (typically a diverging model or non-finite inputs).
var ErrNonFinite = errors.New("backend: loss is not finite")

// maxBatch bounds the batch size so that buffer sizes cannot overflow.
const maxBatch = 1 << 24

// Trainer trains a Model in place with mini-batch gradient descent on the
// mean softmax cross-entropy of its outputs (the logits) against class
// labels in [0, Arch.OutputWidth()).
//
// The model runs in training mode, as a PyTorch module after model.train():
// batch norms normalise with the statistics of the batch, and each
// successful Step also updates their running statistics (buffers the
// optimizer does not touch).
//
// A Trainer compiles its graph once, in NewTrainer, for full batches, and
// once more, on first use, for a smaller batch (such as the last one of an
// epoch); it keeps the graph of the most recent smaller size only. A Trainer
// is not safe for concurrent use, and the Model it trains must not be read
// or changed by others during a Step.
//
// A Trainer made by NewSSLTrainer minimises a self-supervised loss of the
// outputs of several views of each sample instead (StepViews), and one made
// by NewPairedTrainer a loss of the outputs of a clean and a perturbed input
// of each sample (StepPair).
//
// Any Trainer may add a regulariser of the weights to its loss
// (SetRegularizer).
type Trainer struct {
	model       *Model
	spec        netSpec // what its graphs compute
	views       int     // rows per sample: 1, the views of an SSL trainer, or 2 for a paired one
	batch       int
	in, classes int
	solver      solver
	full        *network
	tail        *network // graph for the most recent batch size below batch, or nil
	steps       int
	closed      bool

	// The regulariser (nil for none), the trained tensors it is given
	// (Model.Params without buffers) and the slice handing it the
	// gradients, refilled each step.
	reg       Regularizer
	regParams []Tensor
	regGrads  [][]float32

	parts PairedParts // of the last loss a paired trainer computed
}

// NewTrainer returns a Trainer that updates m's weights in place with opt,
// on batches of at most batch rows. It compiles the graph for full batches
// before returning. Call Close when done.
//
// The trainer keeps using m.Params' Data slices: they must not be replaced
// (their contents may be read between steps).
func NewTrainer(m *Model, opt Optimizer, batch int) (t *Trainer, err error) {
	defer recoverAPI("new trainer", &err)
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if batch < 1 || batch > maxBatch {
		return nil, fmt.Errorf("backend: batch size %d out of range [1, %d]", batch, maxBatch)
	}
	return newTrainerOf(m, opt, batch, 1, netSpec{train: true})
}

// newTrainerOf returns a Trainer of m with opt for batches of batch
// samples of views rows each, whose graphs compute spec; it compiles the
// graph of a full batch. The callers have checked m and batch.
func newTrainerOf(m *Model, opt Optimizer, batch, views int, spec netSpec) (*Trainer, error) {
	s, err := newSolver(opt)
	if err != nil {
		return nil, err
	}
	full, err := buildNetwork(m, batch*views, spec)
	if err != nil {
		return nil, err
	}
	return &Trainer{
		model:   m,
		spec:    spec,
		views:   views,
		batch:   batch,
		in:      m.Arch.InputWidth(),
		classes: m.Arch.OutputWidth(),
		solver:  s,
		full:    full,
	}, nil
}

// Step trains on one batch: x holds n rows of Arch.InputWidth() values
// (row-major) and y their n labels, 1 <= n <= the trainer's batch size. It
// computes the mean loss over the n rows and its gradients, updates the
// weights and the batch norms' running statistics, and returns the loss
// (computed before the update).
//
// Step checks ctx before starting. Labels outside [0, classes), inputs of
// the wrong size, a closed trainer or a cancelled ctx give an error and no
// update. A NaN or infinite loss gives an error wrapping ErrNonFinite,
// together with that loss, and no update (of weights or running
// statistics).
func (t *Trainer) Step(ctx context.Context, x []float32, y []int32) (loss float64, err error) {
	defer recoverAPI("step", &err)
	switch {
	case t.spec.ssl != nil:
		return 0, errors.New("backend: step: a self-supervised trainer takes views (StepViews), not labels")
	case t.spec.paired != nil:
		return 0, errors.New("backend: step: a paired trainer takes clean and perturbed inputs (StepPair), not one batch")
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
	for i, k := range y {
		net.y[i] = float32(k)
	}
	return t.update(net, n)
}

// ready reports a closed trainer or a cancelled ctx.
func (t *Trainer) ready(ctx context.Context) error {
	if t.closed {
		return errors.New("backend: step: trainer is closed")
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("backend: step: %w", err)
	}
	return nil
}

// update runs net on the inputs copied into it, adds the regulariser's
// penalty and gradient if there is one and, if the loss is finite, updates
// the weights and the batch norms' running statistics.
func (t *Trainer) update(net *network, n int) (loss float64, err error) {
	if err := net.run(); err != nil {
		return 0, fmt.Errorf("backend: step: %w", err)
	}
	loss = net.loss()
	if net.paired != nil {
		t.parts = net.paired.parts
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) {
		return loss, fmt.Errorf("%w (%v, batch of %d samples)", ErrNonFinite, loss, n)
	}
	if t.reg != nil {
		penalty, err := t.regularize(net)
		if err != nil {
			return loss, err
		}
		if net.paired != nil {
			t.parts.Regularizer = penalty
		}
		loss += penalty
		if math.IsNaN(loss) || math.IsInf(loss, 0) {
			return loss, fmt.Errorf("%w (%v with the regularizer's penalty %v, batch of %d samples)", ErrNonFinite, loss, penalty, n)
		}
	}
	if err := t.solver.Step(net.vgs); err != nil {
		return loss, err
	}
	net.commit()
	t.steps++
	return loss, nil
}

// network returns the compiled graph for batches of n samples.
func (t *Trainer) network(n int) (*network, error) {
	if n == t.batch {
		return t.full, nil
	}
	if t.tail != nil && t.tail.rows == n*t.views {
		return t.tail, nil
	}
	net, err := buildNetwork(t.model, n*t.views, t.spec)
	if err != nil {
		return nil, err
	}
	t.tail.close()
	t.tail = net
	return net, nil
}

// Model returns the model being trained: the *Model given to NewTrainer,
// whose Params the trainer updates in place. It is a view, not a copy: use
// Model().Clone() to keep a snapshot, and do not use it concurrently with
// Step.
func (t *Trainer) Model() *Model { return t.model }

// Steps returns the number of updates applied so far.
func (t *Trainer) Steps() int { return t.steps }

// Close releases the compiled graphs and their machines. The model stays
// usable. Close is idempotent; Step fails after it.
func (t *Trainer) Close() error {
	if t.closed {
		return nil
	}
	t.closed = true
	t.full.close()
	t.tail.close()
	t.full, t.tail = nil, nil
	return nil
}

// NewSSLTrainer returns a Trainer that updates m's weights in place with opt
// to minimise the self-supervised loss of m's outputs for loss.Views views
// of each sample, on batches of at most batch samples (batch·Views rows per
// step). The model's batch norms normalise each view with its own batch
// statistics, as loss.Views separate forward passes of a PyTorch module
// do, and each step updates their running statistics once per view. Call
// Close when done.
func NewSSLTrainer(m *Model, opt Optimizer, batch int, loss SSLLoss) (t *Trainer, err error) {
	defer recoverAPI("new trainer", &err)
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if err := loss.Validate(); err != nil {
		return nil, err
	}
	if batch < 2 || batch > maxBatch/loss.Views {
		return nil, fmt.Errorf("backend: batch size %d out of range [2, %d] for %d views", batch, maxBatch/loss.Views, loss.Views)
	}
	return newTrainerOf(m, opt, batch, loss.Views, netSpec{train: true, groups: loss.Views, ssl: &loss})
}

// Views returns the number of input rows per sample: the views of a
// self-supervised trainer, 2 (clean and perturbed) for a paired one and 1
// for a classifier's.
func (t *Trainer) Views() int { return t.views }

// StepViews trains a self-supervised trainer on one batch of n samples,
// 2 <= n <= the trainer's batch size: x holds Views()·n rows of
// Arch.InputWidth() values, the n rows of view 0 first, then those of view
// 1, and so on (row i of every view shows the same sample). It updates the
// weights and running statistics as Step does and returns the loss
// computed before the update, with Step's errors.
func (t *Trainer) StepViews(ctx context.Context, x []float32, n int) (loss float64, err error) {
	defer recoverAPI("step", &err)
	switch {
	case t.spec.paired != nil:
		return 0, errors.New("backend: step: a paired trainer takes clean and perturbed inputs (StepPair), not views")
	case t.spec.ssl == nil:
		return 0, errors.New("backend: step: a classification trainer takes labels (Step), not views")
	}
	if err := t.ready(ctx); err != nil {
		return 0, err
	}
	if n < 2 || n > t.batch {
		return 0, fmt.Errorf("backend: step: %d samples, want 2 to %d", n, t.batch)
	}
	if len(x) != t.views*n*t.in {
		return 0, fmt.Errorf("backend: step: %d inputs for %d views of %d samples of %d", len(x), t.views, n, t.in)
	}
	net, err := t.network(n)
	if err != nil {
		return 0, err
	}
	copy(net.x, x)
	return t.update(net, n)
}
