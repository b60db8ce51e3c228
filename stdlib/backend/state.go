package backend

import (
	"fmt"
	"slices"
)

// OptimizerState is what an optimizer carries from step to step, so that
// training stopped after some step continues exactly as if it had not
// stopped: the step count and, per trained tensor, its buffers (Adam's
// first and second moments; SGD's momentum). A buffer is nil for a tensor
// that has not been stepped yet.
type OptimizerState struct {
	Name    string        // Adam or SGD
	Step    int           // optimizer steps taken (Adam's bias correction uses it)
	Buffers [][][]float32 // Buffers[k][i]: buffer k of trained tensor i
}

// OptimizerState returns a copy of the optimizer's state.
func (t *Trainer) OptimizerState() OptimizerState {
	switch s := t.solver.(type) {
	case *adamSolver:
		return OptimizerState{Name: Adam, Step: s.t, Buffers: [][][]float32{cloneBuffers(s.m), cloneBuffers(s.v)}}
	case *sgdSolver:
		return OptimizerState{Name: SGD, Step: t.steps, Buffers: [][][]float32{cloneBuffers(s.buf)}}
	}
	return OptimizerState{}
}

// Restore sets the optimizer's state and the step count to st, taken by
// OptimizerState from a trainer of the same model, optimizer and batch
// size after steps updates; the model's weights must be those of that
// moment. It fails, changing nothing, if st does not fit.
func (t *Trainer) Restore(st OptimizerState, steps int) error {
	if steps < 0 {
		return fmt.Errorf("backend: restore: negative step count %d", steps)
	}
	switch s := t.solver.(type) {
	case *adamSolver:
		if st.Name != Adam || len(st.Buffers) != 2 {
			return fmt.Errorf("backend: restore: the state is of %q, the trainer uses adam", st.Name)
		}
		if err := t.checkBuffers(st.Buffers...); err != nil {
			return err
		}
		s.t, s.m, s.v = st.Step, cloneBuffers(st.Buffers[0]), cloneBuffers(st.Buffers[1])
	case *sgdSolver:
		if st.Name != SGD || len(st.Buffers) != 1 {
			return fmt.Errorf("backend: restore: the state is of %q, the trainer uses sgd", st.Name)
		}
		if err := t.checkBuffers(st.Buffers...); err != nil {
			return err
		}
		s.buf = cloneBuffers(st.Buffers[0])
	}
	t.steps = steps
	return nil
}

// checkBuffers checks that every buffer matches the size of its trained
// tensor.
func (t *Trainer) checkBuffers(sets ...[][]float32) error {
	sizes := t.trainedSizes()
	for _, set := range sets {
		if len(set) > len(sizes) {
			return fmt.Errorf("backend: restore: %d buffers for %d trained tensors", len(set), len(sizes))
		}
		for i, b := range set {
			if b != nil && len(b) != sizes[i] {
				return fmt.Errorf("backend: restore: buffer %d has %d values, its tensor %d", i, len(b), sizes[i])
			}
		}
	}
	return nil
}

// trainedSizes lists the sizes of the trained tensors, in the order the
// solver sees them.
func (t *Trainer) trainedSizes() []int {
	var sizes []int
	for _, i := range t.model.Arch.trainedIndices() {
		sizes = append(sizes, len(t.model.Params[i].Data))
	}
	return sizes
}

func cloneBuffers(b [][]float32) [][]float32 {
	out := make([][]float32, len(b))
	for i, x := range b {
		out[i] = slices.Clone(x)
	}
	return out
}

// trainedIndices lists the indices in Model.Params of the tensors the
// optimizer trains (all but the buffers), in order.
func (a Arch) trainedIndices() []int {
	var out []int
	for i, s := range a.params() {
		if !s.buffer {
			out = append(out, i)
		}
	}
	return out
}
