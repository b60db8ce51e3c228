package backend

import (
	"errors"
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// errNotRun is returned by a gradient op whose forward op has not run on
// inputs of the same size.
var errNotRun = errors.New("the forward op has not run on this batch")

func errorfShape(want, got tensor.Shape) error {
	return fmt.Errorf("gradient shape %v differs from input shape %v", got, want)
}

// maxPoolOp takes the maximum of each window of n rows of [c, h, w] values
// into n rows of [c, oh, ow] values in a buffer it owns. Padding positions
// count as −∞; a NaN in a window wins, and among equal values the first in
// row-major order wins, as in PyTorch. When its gradient may be needed it
// records the position of each maximum for it: in training mode, and in
// eval mode once its gradient has been built (an input-gradient graph);
// an eval-mode op without a gradient (Predict) records nothing.
type maxPoolOp struct {
	opID
	g      window
	record bool // record the maxima's positions in at
	ids    *idSource
	out    buffer
	at     []int32 // if record: position in its plane of each output's maximum
	rows   int     // rows of the last run
	job    poolJob
}

// newMaxPoolOp returns a max pool over windows g. A training-mode op
// (train set) records the maxima's positions from its first run; an
// eval-mode op starts recording them when SymDiff builds its gradient.
func newMaxPoolOp(ids *idSource, g window, train bool) *maxPoolOp {
	return &maxPoolOp{opID: ids.next("maxpool"), g: g, record: train, ids: ids}
}

func (op *maxPoolOp) Arity() int           { return 1 }
func (op *maxPoolOp) OverwritesInput() int { return -1 }

func (op *maxPoolOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(m, m)
}

func (op *maxPoolOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) != 1 {
		return nil, op.errorf("want 1 input, got %d", len(inputs))
	}
	x, ok := inputs[0].(tensor.Shape)
	if !ok || x.Dims() != 2 || x[1] != op.g.inWidth() {
		return nil, op.errorf("want rows of %d values, got %v", op.g.inWidth(), inputs[0])
	}
	return tensor.Shape{x[0], op.g.c * op.g.outPlane()}, nil
}

func (op *maxPoolOp) Do(inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 1 {
		return nil, op.errorf("want 1 input, got %d", len(inputs))
	}
	x, err := dense(inputs[0], 2)
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	g := op.g
	n, err := checkRows(x, g.inWidth(), "x")
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	opos := g.outPlane()
	y := op.out.get(n, g.c*opos)
	if op.record && len(op.at) != n*g.c*opos {
		op.at = make([]int32, n*g.c*opos)
	}
	xs, ys := x.Float32s(), y.Float32s()
	plane := g.h * g.w
	op.job = poolJob{op: op, xs: xs, ys: ys}
	parallelSamples(n*g.c, plane, &op.job)
	op.rows = n
	return y, nil
}

// poolJob pools planes [lo, hi) of xs into ys (and records the maxima's
// positions if the op records them).
type poolJob struct {
	op     *maxPoolOp
	xs, ys []float32
}

func (j *poolJob) run(lo, hi int) {
	op, xs, ys := j.op, j.xs, j.ys
	g := op.g
	plane, opos := g.h*g.w, g.outPlane()
	for p := lo; p < hi; p++ {
		src, dst := xs[p*plane:(p+1)*plane], ys[p*opos:(p+1)*opos]
		var at []int32
		if op.record {
			at = op.at[p*opos : (p+1)*opos]
		}
		if g.k == 2 && g.s == 2 && g.p == 0 {
			pool2x2(dst, at, src, g)
			continue
		}
		for oy := 0; oy < g.oh; oy++ {
			y0 := max(oy*g.s-g.p, 0)
			y1 := min(oy*g.s-g.p+g.k, g.h)
			for ox := 0; ox < g.ow; ox++ {
				x0 := max(ox*g.s-g.p, 0)
				x1 := min(ox*g.s-g.p+g.k, g.w)
				best, bi := float32(math.Inf(-1)), y0*g.w+x0
				for iy := y0; iy < y1; iy++ {
					row := src[iy*g.w : iy*g.w+x1]
					for ix := x0; ix < x1; ix++ {
						if v := row[ix]; v > best || v != v {
							best, bi = v, iy*g.w+ix
						}
					}
				}
				dst[oy*g.ow+ox] = best
				if at != nil {
					at[oy*g.ow+ox] = int32(bi)
				}
			}
		}
	}
}

// pool2x2 is the 2×2, stride 2, unpadded case of one plane, written
// without data-dependent branches: the maximum is Go's max (NaN if any
// value is NaN) and its position the first of the window equal to it (the
// last one if the maximum is NaN; PyTorch then records the first NaN).
func pool2x2(dst []float32, at []int32, src []float32, g window) {
	w := g.w
	for oy := 0; oy < g.oh; oy++ {
		r0 := src[2*oy*w : 2*oy*w+w]
		r1 := src[(2*oy+1)*w : (2*oy+1)*w+w]
		out := dst[oy*g.ow : (oy+1)*g.ow]
		r0, r1 = r0[:2*len(out)], r1[:2*len(out)]
		if at == nil {
			for ox := range out {
				out[ox] = max(r0[2*ox], r0[2*ox+1], r1[2*ox], r1[2*ox+1])
			}
			continue
		}
		pos := at[oy*g.ow : (oy+1)*g.ow]
		pos = pos[:len(out)]
		base := int32(2 * oy * w)
		for ox := range out {
			a, b, c, d := r0[2*ox], r0[2*ox+1], r1[2*ox], r1[2*ox+1]
			m := max(a, b, c, d)
			i := base + int32(w) + 1
			if c == m {
				i = base + int32(w)
			}
			if b == m {
				i = base + 1
			}
			if a == m {
				i = base
			}
			out[ox] = m
			pos[ox] = i + int32(2*ox)
		}
	}
}

func (op *maxPoolOp) DiffWRT(inputs int) []bool { return []bool{true} }

// SymDiff returns dx (maxPoolGradOp). It makes the op record the maxima's
// positions, which that gradient reads: graphs are built before they run,
// so an eval-mode op records them from its first run too.
func (op *maxPoolOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	op.record = true
	d, err := G.ApplyOp(&maxPoolGradOp{opID: op.ids.next("maxpool-grad"), fwd: op}, output, grad)
	if err != nil {
		return nil, op.errorf("building gradient: %w", err)
	}
	return G.Nodes{d}, nil
}

// maxPoolGradOp routes the incoming gradient of each pooled value to the
// position of its maximum (adding where windows overlap), into a buffer it
// owns. Its inputs are the pool's output (so that it runs after it) and
// the incoming gradient.
type maxPoolGradOp struct {
	opID
	fwd *maxPoolOp
	out buffer
	job unpoolJob
}

// unpoolJob routes the gradients of planes [lo, hi) of dys to the maxima's
// positions at in the cleared planes of dxs.
type unpoolJob struct {
	at          []int32
	dxs, dys    []float32
	plane, opos int
}

func (j *unpoolJob) run(lo, hi int) {
	for p := lo; p < hi; p++ {
		dst := j.dxs[p*j.plane : (p+1)*j.plane]
		clear(dst)
		src, at := j.dys[p*j.opos:(p+1)*j.opos], j.at[p*j.opos:(p+1)*j.opos]
		at = at[:len(src)]
		for o, d := range src {
			dst[at[o]] += d
		}
	}
}

func (op *maxPoolGradOp) Arity() int           { return 2 }
func (op *maxPoolGradOp) OverwritesInput() int { return -1 }

func (op *maxPoolGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(m, m, m)
}

func (op *maxPoolGradOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	s, ok := inputs[1].(tensor.Shape)
	if !ok || s.Dims() != 2 {
		return nil, op.errorf("want a matrix gradient, got %v", inputs[1])
	}
	return tensor.Shape{s[0], op.fwd.g.inWidth()}, nil
}

func (op *maxPoolGradOp) Do(inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	dy, err := dense(inputs[1], 2)
	if err != nil {
		return nil, op.errorf("gradient: %w", err)
	}
	g := op.fwd.g
	opos := g.outPlane()
	n, err := checkRows(dy, g.c*opos, "gradient")
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	if op.fwd.rows != n || len(op.fwd.at) != n*g.c*opos {
		return nil, op.errorf("%w", errNotRun)
	}
	dx := op.out.get(n, g.inWidth())
	dxs, dys := dx.Float32s(), dy.Float32s()
	plane := g.h * g.w
	op.job = unpoolJob{at: op.fwd.at, dxs: dxs, dys: dys, plane: plane, opos: opos}
	parallelSamples(n*g.c, plane, &op.job)
	return dx, nil
}
