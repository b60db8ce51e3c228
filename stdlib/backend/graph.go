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
type network struct {
	rows int
	vm   G.VM
	x    []float32 // backing of the bound input tensor, rows × input width
	out  *G.Node   // the output (logits) node

	// Training graphs only.
	y   []float32     // backing of the bound label tensor
	ce  *softmaxCEOp  // the loss op, holding the loss of the last run
	vgs []G.ValueGrad // weight nodes in Model.Params order; Grad() gives their gradients after a run
}

// buildNetwork compiles m's architecture for batches of rows rows, with the
// loss and the weight gradients if train is set. m must be valid.
func buildNetwork(m *Model, rows int, train bool) (net *network, err error) {
	buildMu.Lock()
	defer buildMu.Unlock()
	defer recoverAPI("building graph", &err)

	in := m.Arch.InputWidth()
	net = &network{rows: rows, x: make([]float32, rows*in)}
	g := G.NewGraph()
	ids := new(idSource)
	xv := tensor.New(tensor.WithShape(rows, in), tensor.WithBacking(net.x))
	x := G.NewMatrix(g, G.Float32, G.WithShape(rows, in), G.WithName("x"), G.WithValue(xv))

	h := x
	var weights G.Nodes
	params := m.Params
	for i, l := range m.Arch {
		switch l.Kind {
		case Linear:
			w := weightNode(g, params[0])
			params = params[1:]
			weights = append(weights, w)
			if h, err = G.ApplyOp(newMatMulOp(ids, false, true, h != x), h, w); err != nil {
				return nil, fmt.Errorf("backend: layer %d: %w", i, err)
			}
			if l.Bias {
				b := weightNode(g, params[0])
				params = params[1:]
				weights = append(weights, b)
				if h, err = G.ApplyOp(newBiasAddOp(ids), h, b); err != nil {
					return nil, fmt.Errorf("backend: layer %d bias: %w", i, err)
				}
			}
		case Activation:
			if l.Activation == Identity {
				continue
			}
			if h, err = G.ApplyOp(newActivationOp(ids, l.Activation), h); err != nil {
				return nil, fmt.Errorf("backend: layer %d: %w", i, err)
			}
		}
	}
	net.out = h

	if !train {
		net.vm = G.NewTapeMachine(g)
		return net, nil
	}

	net.y = make([]float32, rows)
	yv := tensor.New(tensor.WithShape(rows), tensor.WithBacking(net.y))
	y := G.NewVector(g, G.Float32, G.WithShape(rows), G.WithName("y"), G.WithValue(yv))
	net.ce = newSoftmaxCEOp(ids)
	cost, err := G.ApplyOp(net.ce, h, y)
	if err != nil {
		return nil, fmt.Errorf("backend: loss: %w", err)
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

// weightNode returns an input node bound to a tensor backed by p.Data.
func weightNode(g *G.ExprGraph, p Tensor) *G.Node {
	v := tensor.New(tensor.WithShape(p.Shape...), tensor.WithBacking(p.Data))
	if len(p.Shape) == 1 {
		return G.NewVector(g, G.Float32, G.WithShape(p.Shape...), G.WithName(p.Name), G.WithValue(v))
	}
	return G.NewMatrix(g, G.Float32, G.WithShape(p.Shape...), G.WithName(p.Name), G.WithValue(v))
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
