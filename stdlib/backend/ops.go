package backend

import (
	"fmt"
	"hash"
	"hash/fnv"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file holds what the package's gorgonia ops share.
//
// How the ops cooperate with gorgonia v0.9.18's TapeMachine (measured in the
// project's gorgonia field notes; see vm_tape.go and compile.go in gorgonia):
//
//   - The trainer calls Reset before every RunAll, which empties every
//     register. An op then runs through Do, unless its output register is
//     shared with an input it overwrites; in that case the register still
//     holds the input and the machine calls UsePreallocDo with it.
//   - Ops that compute a new value (matMulOp, colSumOp, softmaxCEOp) write it
//     into a buffer they own, allocated on the first run, so steps do not
//     allocate. They report CallsExtern false: otherwise the compiler inserts
//     an Alloc instruction before them, which allocates after every Reset.
//   - In-place ops (biasAddOp, activationOp, activationGradOp) report the
//     input they overwrite; the compiler shares its register only when that
//     input is dead afterwards. They compute in place exactly when the
//     preallocated value is that input, and into a buffer they own otherwise
//     (Do, or any other register content).
//   - Every op instance hashes uniquely (a per-graph id), since the graph
//     deduplicates nodes by hash and each instance owns buffers.
//   - Do and UsePreallocDo never panic: RunAll runs the program on another
//     goroutine, where a panic could not be recovered by the caller.

// opID names an op instance and implements the methods of gorgonia's Op
// interface that all the package's ops share.
type opID struct {
	name string // what the op computes, for String and hashing
	id   int    // unique within one graph
}

func (o opID) String() string                  { return fmt.Sprintf("%s#%d", o.name, o.id) }
func (o opID) WriteHash(h hash.Hash)           { fmt.Fprintf(h, "mlpipe/backend.%s#%d", o.name, o.id) }
func (o opID) Hashcode() uint32                { h := fnv.New32a(); o.WriteHash(h); return h.Sum32() }
func (o opID) CallsExtern() bool               { return false }
func (o opID) ReturnsPtr() bool                { return true }
func (o opID) errorf(f string, a ...any) error { return fmt.Errorf(o.name+": "+f, a...) }

// recoverInto turns a panic into an error stored in *err. It is deferred by
// every Do and UsePreallocDo.
func (o opID) recoverInto(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%s: internal error: %v", o.name, r)
	}
}

// buffer is a float32 tensor owned by an op, reallocated only when the shape
// it must hold changes.
type buffer struct{ t *tensor.Dense }

// get returns the buffer shaped as shape, reallocating it if needed. The
// contents are unspecified.
func (b *buffer) get(shape ...int) *tensor.Dense {
	if b.t == nil || !b.t.Shape().Eq(tensor.Shape(shape)) {
		b.t = tensor.New(tensor.WithShape(shape...), tensor.WithBacking(make([]float32, numel(shape))))
	}
	return b.t
}

// dense returns v as a float32 *tensor.Dense of the given number of
// dimensions (any if dims < 0), or an error.
func dense(v G.Value, dims int) (*tensor.Dense, error) {
	t, ok := v.(*tensor.Dense)
	if !ok {
		return nil, fmt.Errorf("want a *tensor.Dense, got %T", v)
	}
	if t.Dtype() != tensor.Float32 {
		return nil, fmt.Errorf("want float32 values, got %v", t.Dtype())
	}
	if dims >= 0 && t.Dims() != dims {
		return nil, fmt.Errorf("want %d dimensions, got shape %v", dims, t.Shape())
	}
	if !t.IsNativelyAccessible() || t.RequiresIterator() {
		return nil, fmt.Errorf("want a contiguous tensor, got shape %v", t.Shape())
	}
	return t, nil
}

// scalar returns the float64 value of a scalar gorgonia value.
func scalar(v G.Value) (float64, error) {
	switch s := v.(type) {
	case *G.F32:
		return float64(*s), nil
	case *G.F64:
		return float64(*s), nil
	case tensor.Tensor:
		if s.Shape().TotalSize() == 1 {
			switch d := s.Data().(type) {
			case float32:
				return float64(d), nil
			case []float32:
				return float64(d[0]), nil
			case float64:
				return d, nil
			case []float64:
				return d[0], nil
			}
		}
	}
	return 0, fmt.Errorf("want a float scalar, got %T", v)
}
