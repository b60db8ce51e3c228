package backend

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// buildMu serialises building and compiling gorgonia graphs. Graph building
// in gorgonia v0.9.18 touches package-level state (the shared constant node
// that G.Grad adds to every graph, hash and collision counters), which races
// when two goroutines build graphs at once. Compiled graphs run without it.
var buildMu sync.Mutex

// idSource numbers the ops of one graph, so that every op instance hashes
// differently.
type idSource struct{ n int }

func (s *idSource) next(name string) opID {
	s.n++
	return opID{name: name, id: s.n}
}

// network is an Arch compiled for a fixed number of rows: a forward graph
// (for Predict) or a forward and backward graph (for a Trainer). The
// weight nodes are bound to tensors backed by the Model's Params data, so
// updating those slices updates the graph's weights.
//
// Every value of the graph is a matrix with one row per sample; spatial
// layers read and write rows of C·H·W values (see ops_conv.go).
type network struct {
	rows int
	vm   G.VM
	x    []float32 // backing of the bound input tensor, rows × input width
	out  *G.Node   // the output (logits) node

	// Training and input-gradient graphs only.
	y      []float32      // backing of the bound label tensor (classification)
	dx     *G.Node        // input-gradient graphs: each row's gradient of its own loss with respect to its input
	ce     *softmaxCEOp   // the classification loss op, holding the loss of the last run
	ssl    *sslLossOp     // or the self-supervised loss op
	paired *pairedLossOp  // or the paired loss op
	vgs    []G.ValueGrad  // trained weight nodes in Model.Params order; Grad() gives their gradients after a run
	bns    []*batchNormOp // batch norms whose running statistics commit updates
}

// netSpec says what buildNetwork compiles.
type netSpec struct {
	// train compiles the loss and the weight gradients; batch norms then
	// use batch statistics, else their running statistics.
	train bool
	// groups splits the rows into that many consecutive blocks that batch
	// norms normalise separately (the views of a self-supervised batch);
	// 0 means 1.
	groups int
	// ssl, if set, is the loss on the outputs (a self-supervised loss of
	// the groups as views); else the loss is the softmax cross-entropy of
	// the outputs against labels.
	ssl *SSLLoss
	// paired, if set (with groups 2), is the loss of a paired trainer:
	// the rows are the clean inputs of the samples and then their
	// perturbed inputs, with one label per sample (see PairedLoss).
	paired *PairedLoss
	// inputGrad (with train false) compiles the model in eval mode with
	// the softmax cross-entropy against labels and, for each row, the
	// gradient of its own loss with respect to its input (net.dx), not
	// the weights' gradients.
	inputGrad bool
}

// buildNetwork compiles m's architecture for batches of rows rows, as spec
// says. m must be valid.
func buildNetwork(m *Model, rows int, spec netSpec) (net *network, err error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	defer recoverAPI("building graph", &err)

	shapes, err := m.Arch.shapes()
	if err != nil {
		return nil, err
	}
	train, groups := spec.train, max(spec.groups, 1)
	in := m.Arch.InputWidth()
	net = &network{rows: rows, x: make([]float32, rows*in)}
	g := G.NewGraph()
	ids := new(idSource)
	xv := tensor.New(tensor.WithShape(rows, in), tensor.WithBacking(net.x))
	x := G.NewMatrix(g, G.Float32, G.WithShape(rows, in), G.WithName("x"), G.WithValue(xv))

	h := x
	var weights G.Nodes
	params := m.Params
	next := func() Tensor {
		p := params[0]
		params = params[1:]
		return p
	}
	// weight binds the next tensor (a trained one) to a node.
	weight := func(shape ...int) *G.Node {
		p := next()
		if shape == nil {
			shape = p.Shape
		}
		n := paramNode(g, p.Name, shape, p.Data)
		weights = append(weights, n)
		return n
	}
	// order lists the layers in the order they are built: as in the Arch,
	// except that ReLU then max pooling is built as max pooling then ReLU,
	// which is exactly the same function with the same gradients (ReLU is
	// monotone, and the identity where it is not 0, so it moves no maximum
	// and breaks no tie that matters) on fewer values. Neither layer has
	// tensors, so the Params order is unchanged.
	order := make([]int, len(m.Arch))
	for i := range order {
		order[i] = i
	}
	for i := 0; i+1 < len(order); i++ {
		if l := m.Arch[i]; l.Kind == Activation && l.Activation == ReLU && m.Arch[i+1].Kind == MaxPool2d {
			order[i], order[i+1] = i+1, i
			i++
		}
	}
	fused := -1 // an activation layer already applied by the bias before it
	for k, i := range order {
		l, s := m.Arch[i], shapes[i]
		switch l.Kind {
		case Linear:
			w := weight()
			if h, err = G.ApplyOp(newMatMulOp(ids, false, true, h != x || spec.inputGrad), h, w); err != nil {
				return nil, fmt.Errorf("backend: layer %d: %w", i, err)
			}
			if l.Bias {
				// A dense layer's bias and the activation after it
				// are one op: one pass over the layer's output.
				act := Identity
				if k+1 < len(order) && m.Arch[order[k+1]].Kind == Activation {
					act, fused = m.Arch[order[k+1]].Activation, order[k+1]
				}
				if h, err = G.ApplyOp(newBiasActOp(ids, act), h, weight()); err != nil {
					return nil, fmt.Errorf("backend: layer %d bias: %w", i, err)
				}
			}
		case Activation:
			if l.Activation == Identity || i == fused {
				continue
			}
			if h, err = G.ApplyOp(newActivationOp(ids, l.Activation), h); err != nil {
				return nil, fmt.Errorf("backend: layer %d: %w", i, err)
			}
		case Conv2d:
			win, werr := newWindow(s, l.Kernel, l.Stride, l.Padding, 1)
			if werr != nil {
				return nil, fmt.Errorf("backend: layer %d: %w", i, werr)
			}
			geom := convGeom{window: win, out: l.Out}
			inputs := G.Nodes{h, weight(l.Out, geom.kdim())} // the weight as an out × in·k·k matrix
			if l.Bias {
				inputs = append(inputs, weight())
			}
			if h, err = G.ApplyOp(newConv2dOp(ids, geom, l.Bias, h != x || spec.inputGrad), inputs...); err != nil {
				return nil, fmt.Errorf("backend: layer %d: %w", i, err)
			}
		case BatchNorm2d, BatchNorm1d:
			plane := max(s.h*s.w, 1) // 1 for the flat rows of BatchNorm1d
			gamma, beta := weight(), weight()
			runMean, runVar, tracked := next(), next(), next()
			if train {
				op := newGroupedBatchNormOp(ids, s.c, plane, groups, h != x || spec.inputGrad)
				op.runMean, op.runVar, op.tracked = runMean.Data, runVar.Data, tracked.Data
				net.bns = append(net.bns, op)
				h, err = G.ApplyOp(op, h, gamma, beta)
			} else {
				rm := paramNode(g, runMean.Name, runMean.Shape, runMean.Data)
				rv := paramNode(g, runVar.Name, runVar.Shape, runVar.Data)
				h, err = G.ApplyOp(newBatchNormEvalOp(ids, s.c, plane), h, gamma, beta, rm, rv)
			}
			if err != nil {
				return nil, fmt.Errorf("backend: layer %d: %w", i, err)
			}
		case MaxPool2d:
			win, werr := newWindow(s, l.Kernel, l.Stride, l.Padding, l.Kernel)
			if werr != nil {
				return nil, fmt.Errorf("backend: layer %d: %w", i, werr)
			}
			if h, err = G.ApplyOp(newMaxPoolOp(ids, win, train), h); err != nil {
				return nil, fmt.Errorf("backend: layer %d: %w", i, err)
			}
		case GlobalAvgPool2d:
			if h, err = G.ApplyOp(newGlobalAvgPoolOp(ids, s.c, s.h*s.w), h); err != nil {
				return nil, fmt.Errorf("backend: layer %d: %w", i, err)
			}
		case Flatten:
			// Rows are stored flat already.
		}
	}
	net.out = h

	if !train && !spec.inputGrad {
		net.vm = G.NewTapeMachine(g)
		return net, nil
	}

	var cost *G.Node
	if spec.ssl != nil {
		net.ssl = newSSLLossOp(ids, *spec.ssl, rows/groups)
		cost, err = G.ApplyOp(net.ssl, h)
	} else {
		// One label per sample: the two halves of a paired graph share
		// theirs.
		samples := rows
		if spec.paired != nil {
			samples = rows / groups
		}
		net.y = make([]float32, samples)
		yv := tensor.New(tensor.WithShape(samples), tensor.WithBacking(net.y))
		y := G.NewVector(g, G.Float32, G.WithShape(samples), G.WithName("y"), G.WithValue(yv))
		if spec.paired != nil {
			net.paired = newPairedLossOp(ids, *spec.paired)
			cost, err = G.ApplyOp(net.paired, h, y)
		} else {
			net.ce = newSoftmaxCEOp(ids)
			net.ce.perSample = spec.inputGrad
			cost, err = G.ApplyOp(net.ce, h, y)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("backend: loss: %w", err)
	}
	if spec.inputGrad {
		dx, err := G.Grad(cost, x)
		if err != nil {
			return nil, fmt.Errorf("backend: input gradient: %w", err)
		}
		net.dx = dx[0]
		net.vm = G.NewTapeMachine(g.SubgraphRoots(cost, net.dx, net.out))
		return net, nil
	}
	grads, err := G.Grad(cost, weights...)
	if err != nil {
		return nil, fmt.Errorf("backend: gradients: %w", err)
	}
	// Compile only what the loss and the weight gradients need: G.Grad
	// also builds nodes (such as gradients of inputs) nobody reads.
	net.vm = G.NewTapeMachine(g.SubgraphRoots(append(G.Nodes{cost}, grads...)...))
	net.vgs = G.NodesToValueGrads(weights)
	return net, nil
}

// paramNode returns an input node of the given shape (a vector, a matrix
// or a higher tensor) bound to a tensor backed by data.
func paramNode(g *G.ExprGraph, name string, shape []int, data []float32) *G.Node {
	v := tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
	switch len(shape) {
	case 1:
		return G.NewVector(g, G.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(v))
	case 2:
		return G.NewMatrix(g, G.Float32, G.WithShape(shape...), G.WithName(name), G.WithValue(v))
	}
	return G.NewTensor(g, G.Float32, len(shape), G.WithShape(shape...), G.WithName(name), G.WithValue(v))
}

// loss returns the loss of the last run of a training graph.
func (n *network) loss() float64 {
	if n.ssl != nil {
		return n.ssl.mean
	}
	if n.paired != nil {
		return n.paired.cost
	}
	return n.ce.mean
}

// commit folds the batch statistics of the last run into the running
// statistics of the model's batch norms. The trainer calls it once it
// accepts a step.
func (n *network) commit() {
	for _, bn := range n.bns {
		bn.commit()
	}
}

// run executes the compiled program once on the current contents of the
// bound tensors.
func (n *network) run() (err error) {
	defer recoverAPI("running graph", &err)
	n.vm.Reset()
	return n.vm.RunAll()
}

// output returns the values of the output node after a run.
func (n *network) output() ([]float32, error) {
	if n.out.Value() == nil {
		return nil, errors.New("backend: graph produced no output")
	}
	t, err := dense(n.out.Value(), 2)
	if err != nil {
		return nil, fmt.Errorf("backend: output: %w", err)
	}
	return t.Float32s(), nil
}

// close releases the machine. A TapeMachine carries a finalizer; clearing it
// lets the collector free the machine and its graph even if something
// reachable from the graph refers back to the machine.
func (n *network) close() {
	if n == nil || n.vm == nil {
		return
	}
	n.vm.Close()
	runtime.SetFinalizer(n.vm, nil)
	n.vm = nil
}

// recoverAPI turns a panic into an error stored in *err; the API functions
// defer it so that no panic from gorgonia escapes the package.
func recoverAPI(what string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("backend: %s: internal error: %v", what, r)
	}
}
