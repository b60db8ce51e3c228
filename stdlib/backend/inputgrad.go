package backend

import (
	"context"
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// InputGradient computes, for a model in eval mode, each sample's
// softmax cross-entropy against its label, the logits, and the gradient of
// that loss with respect to the sample's input: what gradient-based
// attacks (FGSM, PGD) and input-gradient penalties need. It compiles one
// graph for batches of up to Rows samples when it is created and reuses it
// for every call; the model's weights are read in place, so it follows
// updates to them. The model may have layers of every kind: dense layers,
// activations, flattening, convolutions, max and global average pooling,
// and batch norms (BatchNorm1d and BatchNorm2d), which normalise with
// their running statistics as in eval mode, so that the samples do not
// interact. A max pool's gradient goes to the first maximum of its window
// in row-major order, as in PyTorch; ReLU's gradient is 0 at 0.
type InputGradient struct {
	model *Model
	rows  int
	net   *network
	fwd   *network // the forward-only graph of Logits, built on first use
	// netIn and fwdIn bind the graphs' inputs.
	netIn, fwdIn inputBinding
}

// inputBinding binds the input node of a compiled graph to the caller's
// samples when they fill every row, so that a call copies nothing in (for
// an attack on an MLP, the copy took 2 to 4% of the time), and to the
// graph's own buffer, padded, otherwise. The graph only reads its input:
// binding applies only where the first layer (past flattening) is a dense
// or convolution layer, whose ops never write into their inputs; after an
// activation or a batch norm the input is copied. The node keeps the last
// samples bound (and alive) until a call binds others or copies.
type inputBinding struct {
	node  *G.Node   // the input node; nil: always copy
	own   G.Value   // the tensor over the graph's buffer
	bound []float32 // the caller's samples the node is bound to, if any
}

// newInputBinding finds net's input node ("x") if arch lets the graph read
// the caller's memory.
func newInputBinding(net *network, arch Arch) inputBinding {
	for _, l := range arch {
		if l.Kind == Flatten {
			continue
		}
		if l.Kind != Linear && l.Kind != Conv2d {
			return inputBinding{}
		}
		break
	}
	var in *G.Node
	for _, n := range net.out.Graph().ByName("x") {
		if n.IsVar() {
			if in != nil {
				return inputBinding{}
			}
			in = n
		}
	}
	if in == nil || in.Value() == nil {
		return inputBinding{}
	}
	return inputBinding{node: in, own: in.Value()}
}

// set makes net read the n samples x (n × in values): in place when they
// fill the rows, else copied into the graph's buffer and padded with
// zeros.
func (b *inputBinding) set(net *network, x []float32, n, in int) error {
	if b.node != nil && n == net.rows && n > 0 {
		if b.bound == nil || &b.bound[0] != &x[0] {
			t := tensor.New(tensor.WithShape(n, in), tensor.WithBacking(x[:n*in:n*in]))
			if err := G.Let(b.node, t); err != nil {
				return err
			}
			b.bound = x
		}
		return nil
	}
	if b.bound != nil {
		if err := G.Let(b.node, b.own); err != nil {
			return err
		}
		b.bound = nil
	}
	copy(net.x, x)
	clear(net.x[n*in:])
	return nil
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
		case Linear, Activation, Flatten, Conv2d, MaxPool2d, GlobalAvgPool2d, BatchNorm1d, BatchNorm2d:
		default:
			return nil, fmt.Errorf("backend: input gradient: layer %d is a %v layer, which input gradients do not support", i, l.Kind)
		}
	}
	net, err := buildNetwork(m, rows, netSpec{inputGrad: true})
	if err != nil {
		return nil, err
	}
	return &InputGradient{model: m, rows: rows, net: net, netIn: newInputBinding(net, m.Arch)}, nil
}

// Rows is the largest batch Compute takes.
func (ig *InputGradient) Rows() int { return ig.rows }

// Inputs is the number of input values of one sample.
func (ig *InputGradient) Inputs() int { return ig.model.Arch.InputWidth() }

// Classes is the number of logits of one sample.
func (ig *InputGradient) Classes() int { return ig.model.Arch.OutputWidth() }

// Compute takes n = len(y) samples x (n × input width, n at most Rows),
// with labels y in [0, classes), and writes each sample's loss into loss
// (n values, if not nil), its logits into logits (n × classes, if not nil)
// and the gradient of its own loss with respect to its input into grad
// (n × input width). The samples do not interact: rows past n are padded.
func (ig *InputGradient) Compute(ctx context.Context, x []float32, y []int32, grad, logits, loss []float32) error {
	return ig.ComputeObjective(ctx, nil, x, y, grad, logits, loss)
}

// ComputeObjective is Compute with obj's per-sample objective of the
// logits in place of the cross-entropy (the cross-entropy if obj is nil):
// loss receives each sample's objective and grad its gradient with respect
// to the sample's input.
func (ig *InputGradient) ComputeObjective(ctx context.Context, obj Objective, x []float32, y []int32, grad, logits, loss []float32) (err error) {
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
	if err := ig.netIn.set(net, x, n, in); err != nil {
		return fmt.Errorf("backend: input gradient: %w", err)
	}
	for i := range net.y {
		net.y[i] = 0
		if i < n {
			net.y[i] = float32(y[i])
		}
	}
	net.ce.obj = obj
	err = net.run()
	net.ce.obj = nil
	if err != nil {
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

// Logits writes the logits of the n samples x (n × input width, n at
// most Rows) into logits (n × classes), running the model forward only;
// attacks use it to test whether a point is misclassified. The forward
// graph is compiled on the first call and reused.
func (ig *InputGradient) Logits(ctx context.Context, x []float32, logits []float32) (err error) {
	defer recoverAPI("input gradient", &err)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("backend: logits: %w", err)
	}
	in, classes := ig.model.Arch.InputWidth(), ig.model.Arch.OutputWidth()
	n := len(x) / in
	switch {
	case len(x) != n*in || n > ig.rows:
		return fmt.Errorf("backend: logits: %d inputs for at most %d samples of %d", len(x), ig.rows, in)
	case len(logits) != n*classes:
		return fmt.Errorf("backend: logits: %d logits for %d samples of %d classes", len(logits), n, classes)
	}
	if ig.fwd == nil {
		if ig.fwd, err = buildNetwork(ig.model, ig.rows, netSpec{}); err != nil {
			return err
		}
		ig.fwdIn = newInputBinding(ig.fwd, ig.model.Arch)
	}
	if err := ig.fwdIn.set(ig.fwd, x, n, in); err != nil {
		return fmt.Errorf("backend: logits: %w", err)
	}
	if err := ig.fwd.run(); err != nil {
		return fmt.Errorf("backend: logits: %w", err)
	}
	out, err := ig.fwd.output()
	if err != nil {
		return err
	}
	copy(logits, out[:n*classes])
	return nil
}

// Close releases the compiled graphs.
func (ig *InputGradient) Close() {
	if ig != nil {
		ig.net.close()
		ig.fwd.close()
		ig.net, ig.fwd = nil, nil
	}
}
