package backend

import (
	"context"
	"fmt"
)

// InputGradient computes, for a model in eval mode, each sample's
// softmax cross-entropy against its label, the logits, and the gradient of
// that loss with respect to the sample's input: what gradient-based
// attacks (FGSM, PGD) and input-gradient penalties need. It compiles one
// graph for batches of up to Rows samples when it is created and reuses it
// for every call; the model's weights are read in place, so it follows
// updates to them. The model may have dense layers, activations and
// flattening (layers without batch statistics or pooling).
type InputGradient struct {
	model *Model
	rows  int
	net   *network
}

// NewInputGradient compiles m for batches of up to rows samples.
func NewInputGradient(m *Model, rows int) (ig *InputGradient, err error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if rows < 1 || rows > maxBatch {
		return nil, fmt.Errorf("backend: input gradient: batch size %d out of range [1, %d]", rows, maxBatch)
	}
	for i, l := range m.Arch {
		switch l.Kind {
		case Linear, Activation, Flatten:
		default:
			return nil, fmt.Errorf("backend: input gradient: layer %d is a %v layer; input gradients support dense layers, activations and flattening so far", i, l.Kind)
		}
	}
	net, err := buildNetwork(m, rows, netSpec{inputGrad: true})
	if err != nil {
		return nil, err
	}
	return &InputGradient{model: m, rows: rows, net: net}, nil
}

// Rows is the largest batch Compute takes.
func (ig *InputGradient) Rows() int { return ig.rows }

// Compute takes n = len(y) samples x (n × input width, n at most Rows),
// with labels y in [0, classes), and writes each sample's loss into loss
// (n values, if not nil), its logits into logits (n × classes, if not nil)
// and the gradient of its own loss with respect to its input into grad
// (n × input width). The samples do not interact: rows past n are padded.
func (ig *InputGradient) Compute(ctx context.Context, x []float32, y []int32, grad, logits, loss []float32) (err error) {
	defer recoverAPI("input gradient", &err)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("backend: input gradient: %w", err)
	}
	n, in, classes := len(y), ig.model.Arch.InputWidth(), ig.model.Arch.OutputWidth()
	switch {
	case n > ig.rows:
		return fmt.Errorf("backend: input gradient: %d samples for a graph of %d rows", n, ig.rows)
	case len(x) != n*in || len(grad) != n*in:
		return fmt.Errorf("backend: input gradient: %d inputs and %d gradient values for %d samples of %d", len(x), len(grad), n, in)
	case logits != nil && len(logits) != n*classes:
		return fmt.Errorf("backend: input gradient: %d logits for %d samples of %d classes", len(logits), n, classes)
	case loss != nil && len(loss) != n:
		return fmt.Errorf("backend: input gradient: %d losses for %d samples", len(loss), n)
	}
	for i, c := range y {
		if c < 0 || int(c) >= classes {
			return fmt.Errorf("backend: input gradient: label %d of sample %d out of range [0, %d)", c, i, classes)
		}
	}
	net := ig.net
	copy(net.x, x)
	clear(net.x[n*in:])
	for i := range net.y {
		net.y[i] = 0
		if i < n {
			net.y[i] = float32(y[i])
		}
	}
	if err := net.run(); err != nil {
		return fmt.Errorf("backend: input gradient: %w", err)
	}
	dx, err := dense(net.dx.Value(), 2)
	if err != nil {
		return fmt.Errorf("backend: input gradient: %w", err)
	}
	copy(grad, dx.Float32s()[:n*in])
	out, err := net.output()
	if err != nil {
		return err
	}
	if logits != nil {
		copy(logits, out[:n*classes])
	}
	copy(loss, net.ce.rowLoss[:len(loss)])
	return nil
}

// Close releases the compiled graph.
func (ig *InputGradient) Close() {
	if ig != nil {
		ig.net.close()
		ig.net = nil
	}
}
