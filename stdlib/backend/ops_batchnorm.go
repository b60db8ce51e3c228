package backend

import (
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// PyTorch's BatchNorm2d defaults.
const (
	bnEps      = 1e-5
	bnMomentum = 0.1 // weight of the new batch in the running statistics
)

// batchNormOp normalises n rows of [c, plane] values per channel and
// applies the affine weight γ and bias β, into a buffer it owns.
//
// In training mode (inputs x, γ, β) it uses the batch mean and biased
// variance over the n·plane values of each channel and keeps them for its
// gradient ops and for commit, which folds them into the running statistics
// (PyTorch's momentum 0.1, unbiased variance) once the trainer accepts the
// step. In eval mode (inputs x, γ, β, running_mean, running_var) it uses
// the running statistics: each row is then normalised on its own, an
// affine map y = x·γ/sqrt(running_var + eps) + shift per channel, and the
// op is differentiable with respect to x only (bnEvalGradOp), as input
// gradients need; eval graphs train nothing.
//
// A training-mode op may normalise its rows in groups: with groups g, the
// n rows are g consecutive blocks of n/g rows, each normalised with its own
// statistics, exactly as g separate forward passes of PyTorch's module
// would (the views of a self-supervised batch go through the network as
// one matrix, but each view keeps its own batch statistics). Its commit
// then folds the g blocks' statistics into the running statistics one after
// the other, as g forward passes would.
type batchNormOp struct {
	opID
	job      bnApplyJob
	c, plane int
	groups   int // blocks of rows normalised separately (training mode)
	train    bool
	diffX    bool // differentiate with respect to x (false for the input layer)
	ids      *idSource
	out      buffer
	count    int // n·plane values per channel in all groups, in the last run

	// The affine map y = x·scale + shift of the last run, per group and
	// channel (index g·c + channel), from the batch statistics in
	// training mode and from the running statistics in eval mode.
	scale []float32 // γ·invstd
	shift []float32 // β − mean·γ·invstd

	// Training mode: the statistics of the last run, per group and
	// channel.
	mean   []float64 // batch mean
	varB   []float64 // biased batch variance
	mean32 []float32 // mean rounded, as the gradients use it
	invstd []float32 // 1/sqrt(varB + eps)
	// The model's buffers the statistics are committed to.
	runMean, runVar, tracked []float32
}

func newBatchNormOp(ids *idSource, c, plane int, diffX bool) *batchNormOp {
	return newGroupedBatchNormOp(ids, c, plane, 1, diffX)
}

// newGroupedBatchNormOp returns a training-mode batch norm that normalises
// its rows in groups blocks (see batchNormOp).
func newGroupedBatchNormOp(ids *idSource, c, plane, groups int, diffX bool) *batchNormOp {
	op := &batchNormOp{opID: ids.next("batchnorm"), c: c, plane: plane, groups: groups, train: true, diffX: diffX, ids: ids}
	k := groups * c
	op.mean, op.varB = make([]float64, k), make([]float64, k)
	op.mean32, op.invstd = make([]float32, k), make([]float32, k)
	op.scale, op.shift = make([]float32, k), make([]float32, k)
	return op
}

func newBatchNormEvalOp(ids *idSource, c, plane int) *batchNormOp {
	return &batchNormOp{opID: ids.next("batchnorm-eval"), c: c, plane: plane, groups: 1, ids: ids,
		scale: make([]float32, c), shift: make([]float32, c)}
}

func (op *batchNormOp) Arity() int {
	if op.train {
		return 3
	}
	return 5
}

func (op *batchNormOp) OverwritesInput() int { return -1 }

func (op *batchNormOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m, v := G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 1, Of: a}
	if op.train {
		return hm.NewFnType(m, v, v, m)
	}
	return hm.NewFnType(m, v, v, v, v, m)
}

func (op *batchNormOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) != op.Arity() {
		return nil, op.errorf("want %d inputs, got %d", op.Arity(), len(inputs))
	}
	x, ok := inputs[0].(tensor.Shape)
	if !ok || x.Dims() != 2 || x[1] != op.c*op.plane {
		return nil, op.errorf("want rows of %d values, got %v", op.c*op.plane, inputs[0])
	}
	return x.Clone(), nil
}

// vectors returns the float32 values of inputs[from:], each of length c.
func (op *batchNormOp) vectors(inputs []G.Value, from int) ([][]float32, error) {
	var vs [][]float32
	for i, in := range inputs[from:] {
		t, err := dense(in, 1)
		if err != nil {
			return nil, op.errorf("input %d: %w", from+i, err)
		}
		if len(t.Float32s()) != op.c {
			return nil, op.errorf("input %d has %d values for %d channels", from+i, len(t.Float32s()), op.c)
		}
		vs = append(vs, t.Float32s())
	}
	return vs, nil
}

func (op *batchNormOp) Do(inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != op.Arity() {
		return nil, op.errorf("want %d inputs, got %d", op.Arity(), len(inputs))
	}
	x, err := dense(inputs[0], 2)
	if err != nil {
		return nil, op.errorf("x: %w", err)
	}
	n, err := checkRows(x, op.c*op.plane, "x")
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	vs, err := op.vectors(inputs, 1)
	if err != nil {
		return nil, err
	}
	gamma, beta := vs[0], vs[1]
	xs := x.Float32s()
	if op.train {
		if n%op.groups != 0 {
			return nil, op.errorf("%d rows do not split into %d groups", n, op.groups)
		}
		if n/op.groups*op.plane < 2 {
			return nil, op.errorf("training needs more than one value per channel, got %d rows of %d positions", n/op.groups, op.plane)
		}
		op.stats(xs, n)
		for k := range op.scale {
			ch := k % op.c
			op.scale[k] = gamma[ch] * op.invstd[k]
			op.shift[k] = float32(float64(beta[ch]) - op.mean[k]*float64(op.scale[k]))
		}
	} else {
		op.count = n * op.plane
		rm, rv := vs[2], vs[3]
		for ch := range op.scale {
			inv := float32(1 / math.Sqrt(float64(rv[ch])+bnEps))
			op.scale[ch] = gamma[ch] * inv
			op.shift[ch] = beta[ch] - rm[ch]*op.scale[ch]
		}
	}
	y := op.out.get(n, op.c*op.plane)
	ys := y.Float32s()
	// planes per group (groups is 1 in eval mode)
	per := n * op.c / op.groups
	if op.plane == 1 { // flat rows (BatchNorm1d): one pass per row
		rowsPer := n / op.groups
		for r := 0; r < n; r++ {
			k0 := r / rowsPer * op.c
			a, b := op.scale[k0:k0+op.c], op.shift[k0:k0+op.c]
			src, dst := xs[r*op.c:(r+1)*op.c], ys[r*op.c:(r+1)*op.c]
			a, b, dst = a[:len(src)], b[:len(src)], dst[:len(src)]
			for j, v := range src {
				dst[j] = v*a[j] + b[j]
			}
		}
		return y, nil
	}
	op.job = bnApplyJob{op: op, xs: xs, ys: ys, per: per}
	parallelSamples(n*op.c, op.plane, &op.job)
	return y, nil
}

// bnApplyJob normalises planes [lo, hi) of xs into ys with the batch
// norm's per-channel (and per-group) scale and shift; per is the number
// of planes of a group.
type bnApplyJob struct {
	op     *batchNormOp
	xs, ys []float32
	per    int
}

func (j *bnApplyJob) run(lo, hi int) {
	op := j.op
	for i := lo; i < hi; i++ {
		k := i/j.per*op.c + i%op.c
		a, b := op.scale[k], op.shift[k]
		src, dst := j.xs[i*op.plane:(i+1)*op.plane], j.ys[i*op.plane:(i+1)*op.plane]
		dst = dst[:len(src)]
		for t, v := range src {
			dst[t] = v*a + b
		}
	}
}

// stats computes the batch mean and variance of each channel of each
// group in one pass over x, from sums of x − x₀ and (x − x₀)² (x₀ the
// channel's first value in the group, to avoid cancellation), accumulated
// per plane in float32 lanes and across planes in float64.
func (op *batchNormOp) stats(xs []float32, n int) {
	op.count = n * op.plane
	m := float64(op.count / op.groups)
	per := n * op.c / op.groups // planes per group
	// Sums in memory order (planes of all channels of row 0, then row 1,
	// ...), kept in mean and varB until the end.
	s, sq := op.mean, op.varB
	clear(s)
	clear(sq)
	if op.plane == 1 { // flat rows: accumulate a row at a time
		rowsPer := n / op.groups
		for r := 0; r < n; r++ {
			g := r / rowsPer
			x0 := xs[g*rowsPer*op.c : (g*rowsPer+1)*op.c]
			row := xs[r*op.c : (r+1)*op.c]
			ss, qq := s[g*op.c:(g+1)*op.c], sq[g*op.c:(g+1)*op.c]
			x0, ss, qq = x0[:len(row)], ss[:len(row)], qq[:len(row)]
			for j, v := range row {
				d := float64(v - x0[j])
				ss[j] += d
				qq[j] += d * d
			}
		}
	}
	for p := 0; p < n*op.c && op.plane > 1; p++ {
		g, ch := p/per, p%op.c
		k := g*op.c + ch
		a, b := shiftedSums(xs[p*op.plane:(p+1)*op.plane], xs[(g*per+ch)*op.plane])
		s[k] += float64(a)
		sq[k] += float64(b)
	}
	for k := range op.mean {
		g, ch := k/op.c, k%op.c
		x0 := float64(xs[(g*per+ch)*op.plane])
		d := s[k] / m
		op.mean[k] = x0 + d
		op.varB[k] = max(sq[k]/m-d*d, 0)
		op.mean32[k] = float32(op.mean[k])
		op.invstd[k] = float32(1 / math.Sqrt(op.varB[k]+bnEps))
	}
}

// shiftedSums returns the sums of x − x0 and of (x − x0)², in four
// float32 lanes.
func shiftedSums(x []float32, x0 float32) (s, sq float32) {
	var s0, s1, s2, s3, q0, q1, q2, q3 float32
	for len(x) >= 4 {
		d0, d1, d2, d3 := x[0]-x0, x[1]-x0, x[2]-x0, x[3]-x0
		s0 += d0
		s1 += d1
		s2 += d2
		s3 += d3
		q0 += d0 * d0
		q1 += d1 * d1
		q2 += d2 * d2
		q3 += d3 * d3
		x = x[4:]
	}
	for _, v := range x {
		d := v - x0
		s0 += d
		q0 += d * d
	}
	return (s0 + s1) + (s2 + s3), (q0 + q1) + (q2 + q3)
}

// commit folds the batch statistics of the last run into the running
// statistics, as PyTorch's training-mode forward does:
// running_mean = (1 − 0.1)·running_mean + 0.1·mean,
// running_var = (1 − 0.1)·running_var + 0.1·var·m/(m − 1) (m values per
// channel), and adds 1 to num_batches_tracked; with groups, once per
// group in order. It computes in float64 and rounds to float32 after each
// update, as PyTorch's forward passes would.
func (op *batchNormOp) commit() {
	m := op.count / max(op.groups, 1)
	if !op.train || m < 2 {
		return
	}
	unbias := float64(m) / float64(m-1)
	for g := 0; g < op.groups; g++ {
		for ch := range op.runMean {
			k := g*op.c + ch
			op.runMean[ch] = float32((1-bnMomentum)*float64(op.runMean[ch]) + bnMomentum*op.mean[k])
			op.runVar[ch] = float32((1-bnMomentum)*float64(op.runVar[ch]) + bnMomentum*op.varB[k]*unbias)
		}
		for i := range op.tracked {
			op.tracked[i]++
		}
	}
}

func (op *batchNormOp) DiffWRT(inputs int) []bool {
	if op.train {
		return []bool{op.diffX, true, true}
	}
	return []bool{true, false, false, false, false}
}

// SymDiff returns, in training mode, dx (bnInputGradOp, if diffX), dγ
// (bnParamGradOp) and dβ (bnBetaGradOp, which hands out the sums
// bnParamGradOp computed); in eval mode dx alone (bnEvalGradOp).
func (op *batchNormOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if !op.train {
		if len(inputs) != 5 {
			return nil, op.errorf("want 5 inputs, got %d", len(inputs))
		}
		dx, err := G.ApplyOp(&bnEvalGradOp{opID: op.ids.next("batchnorm-eval-dx"), fwd: op}, output, grad)
		if err != nil {
			return nil, op.errorf("building gradient: %w", err)
		}
		return G.Nodes{dx, nil, nil, nil, nil}, nil
	}
	if len(inputs) != 3 {
		return nil, op.errorf("want 3 inputs, got %d", len(inputs))
	}
	pg := &bnParamGradOp{opID: op.ids.next("batchnorm-dgamma"), fwd: op}
	dgamma, err := G.ApplyOp(pg, inputs[0], grad)
	if err != nil {
		return nil, op.errorf("building gradient: %w", err)
	}
	dbeta, err := G.ApplyOp(&bnBetaGradOp{opID: op.ids.next("batchnorm-dbeta"), pg: pg}, dgamma)
	if err != nil {
		return nil, op.errorf("building gradient: %w", err)
	}
	var dx *G.Node
	if op.diffX {
		dx, err = G.ApplyOp(&bnInputGradOp{opID: op.ids.next("batchnorm-dx"), pg: pg}, inputs[0], grad, inputs[1], dgamma)
		if err != nil {
			return nil, op.errorf("building gradient: %w", err)
		}
	}
	return G.Nodes{dx, dgamma, dbeta}, nil
}

// bnParamGradOp computes, from a training-mode batch norm's input x and
// the incoming gradient dy, the per-channel sums Σdy (dβ) and
// Σdy·(x − mean)·invstd (dγ, which it returns in a buffer it owns).
type bnParamGradOp struct {
	opID
	fwd    *batchNormOp
	dgamma buffer
	dbeta  buffer
	s, sx  []float64 // per-group and per-channel sums (index g·c + channel)
	// The per-group dγ and dβ rounded to float32 (the whole dγ and dβ
	// when there is one group), as the input gradient uses them.
	dgG, dbG []float32
}

func (op *bnParamGradOp) Arity() int           { return 2 }
func (op *bnParamGradOp) OverwritesInput() int { return -1 }

func (op *bnParamGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(m, m, G.TensorType{Dims: 1, Of: a})
}

func (op *bnParamGradOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.fwd.c}, nil
}

func (op *bnParamGradOp) Do(inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	f := op.fwd
	x, dy, n, err := bnRows(f, inputs[0], inputs[1])
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	dg, db := op.dgamma.get(f.c).Float32s(), op.dbeta.get(f.c).Float32s()
	k := f.groups * f.c
	if len(op.s) != k {
		op.s, op.sx = make([]float64, k), make([]float64, k)
		op.dgG, op.dbG = make([]float32, k), make([]float32, k)
	}
	clear(op.s)
	clear(op.sx)
	per := n * f.c / f.groups
	if f.plane == 1 { // flat rows: a row at a time
		rowsPer := n / f.groups
		for r := 0; r < n; r++ {
			k0 := r / rowsPer * f.c
			xr, dr := x[r*f.c:(r+1)*f.c], dy[r*f.c:(r+1)*f.c]
			ss, sx, mu := op.s[k0:k0+f.c], op.sx[k0:k0+f.c], f.mean32[k0:k0+f.c]
			dr, ss, sx, mu = dr[:len(xr)], ss[:len(xr)], sx[:len(xr)], mu[:len(xr)]
			for j, xv := range xr {
				ss[j] += float64(dr[j])
				sx[j] += float64(dr[j] * (xv - mu[j]))
			}
		}
	}
	for p := 0; p < n*f.c && f.plane > 1; p++ { // in memory order
		k := p/per*f.c + p%f.c
		lo, hi := p*f.plane, (p+1)*f.plane
		a, b := gradSums(dy[lo:hi], x[lo:hi], f.mean32[k])
		op.s[k] += float64(a)
		op.sx[k] += float64(b)
	}
	for ch := range dg {
		var dgSum, dbSum float64 // sums over the groups of the channel
		for g := 0; g < f.groups; g++ {
			k := g*f.c + ch
			op.dbG[k] = float32(op.s[k])
			op.dgG[k] = float32(op.sx[k] * float64(f.invstd[k]))
			dbSum += op.s[k]
			dgSum += op.sx[k] * float64(f.invstd[k])
		}
		db[ch] = float32(dbSum)
		dg[ch] = float32(dgSum)
	}
	return op.dgamma.t, nil
}

// bnRows checks the input x and gradient dy of a batch norm's gradient op
// against the forward op's last run and returns their values and rows.
func bnRows(f *batchNormOp, xv, dyv G.Value) (x, dy []float32, n int, err error) {
	xt, err := dense(xv, 2)
	if err != nil {
		return nil, nil, 0, err
	}
	dt, err := dense(dyv, 2)
	if err != nil {
		return nil, nil, 0, err
	}
	if n, err = checkRows(xt, f.c*f.plane, "x"); err != nil {
		return nil, nil, 0, err
	}
	if !dt.Shape().Eq(xt.Shape()) {
		return nil, nil, 0, errorfShape(xt.Shape(), dt.Shape())
	}
	if f.count != n*f.plane {
		return nil, nil, 0, errNotRun
	}
	return xt.Float32s(), dt.Float32s(), n, nil
}

// gradSums returns Σdy and Σdy·(x − m), in four float32 lanes.
func gradSums(dy, x []float32, m float32) (s, sx float32) {
	x = x[:len(dy)]
	var s0, s1, s2, s3, t0, t1, t2, t3 float32
	for len(dy) >= 4 && len(x) >= 4 {
		s0 += dy[0]
		s1 += dy[1]
		s2 += dy[2]
		s3 += dy[3]
		t0 += dy[0] * (x[0] - m)
		t1 += dy[1] * (x[1] - m)
		t2 += dy[2] * (x[2] - m)
		t3 += dy[3] * (x[3] - m)
		dy, x = dy[4:], x[4:]
	}
	for j, d := range dy {
		s0 += d
		t0 += d * (x[j] - m)
	}
	return (s0 + s1) + (s2 + s3), (t0 + t1) + (t2 + t3)
}

// bnBetaGradOp hands out the dβ its bnParamGradOp computed; its input is
// that op's output, so it runs after it.
type bnBetaGradOp struct {
	opID
	pg *bnParamGradOp
}

func (op *bnBetaGradOp) Arity() int           { return 1 }
func (op *bnBetaGradOp) OverwritesInput() int { return -1 }

func (op *bnBetaGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	v := G.TensorType{Dims: 1, Of: a}
	return hm.NewFnType(v, v)
}

func (op *bnBetaGradOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.pg.fwd.c}, nil
}

func (op *bnBetaGradOp) Do(inputs ...G.Value) (G.Value, error) {
	if op.pg.dbeta.t == nil {
		return nil, op.errorf("%w", errNotRun)
	}
	return op.pg.dbeta.t, nil
}

// bnInputGradOp computes dL/dx of a training-mode batch norm from x, the
// incoming gradient dy, γ and dγ (the last also orders it after its
// bnParamGradOp, whose sums it uses), in place in dy when dy's register may
// be overwritten:
//
//	dx = γ·invstd·(dy − Σdy/m − x̂·Σ(dy·x̂)/m),  x̂ = (x − mean)·invstd.
type bnInputGradOp struct {
	opID
	pg  *bnParamGradOp
	out buffer
	// per-channel coefficients of dx = a·dy + b·(x − mean) + c
	a, b, c []float32
	job     bnGradJob
}

func (op *bnInputGradOp) Arity() int           { return 4 }
func (op *bnInputGradOp) OverwritesInput() int { return 1 }

func (op *bnInputGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m, v := G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 1, Of: a}
	return hm.NewFnType(m, m, v, v, m)
}

func (op *bnInputGradOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) != 4 {
		return nil, op.errorf("want 4 inputs, got %d", len(inputs))
	}
	s, ok := inputs[1].(tensor.Shape)
	if !ok {
		return nil, op.errorf("want a shape, got %T", inputs[1])
	}
	return s.Clone(), nil
}

func (op *bnInputGradOp) Do(inputs ...G.Value) (G.Value, error) {
	return op.UsePreallocDo(nil, inputs...)
}

func (op *bnInputGradOp) UsePreallocDo(prealloc G.Value, inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 4 {
		return nil, op.errorf("want 4 inputs, got %d", len(inputs))
	}
	f := op.pg.fwd
	x, dy, n, err := bnRows(f, inputs[0], inputs[1])
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	gt, err := dense(inputs[2], 1)
	if err != nil || len(gt.Float32s()) != f.c {
		return nil, op.errorf("weight: want %d values (%v)", f.c, err)
	}
	if op.pg.dbeta.t == nil {
		return nil, op.errorf("%w", errNotRun)
	}
	gamma, dg, db := gt.Float32s(), op.pg.dgG, op.pg.dbG
	dyt := inputs[1].(*tensor.Dense)
	out := dyt
	if p, ok := prealloc.(*tensor.Dense); !ok || p != dyt {
		out = op.out.get(dyt.Shape()...)
	}
	if len(op.a) != len(dg) {
		op.a, op.b, op.c = make([]float32, len(dg)), make([]float32, len(dg)), make([]float32, len(dg))
	}
	m := float64(f.count / f.groups)
	for k := range op.a {
		a := float64(gamma[k%f.c]) * float64(f.invstd[k])
		op.a[k] = float32(a)
		op.b[k] = float32(-a * float64(f.invstd[k]) * float64(dg[k]) / m)
		op.c[k] = float32(-a * float64(db[k]) / m)
	}
	dx := out.Float32s()
	per := n * f.c / f.groups
	if f.plane == 1 { // flat rows: a row at a time
		rowsPer := n / f.groups
		for r := 0; r < n; r++ {
			k0 := r / rowsPer * f.c
			xr, dr, or := x[r*f.c:(r+1)*f.c], dy[r*f.c:(r+1)*f.c], dx[r*f.c:(r+1)*f.c]
			a, b, c, mu := op.a[k0:k0+f.c], op.b[k0:k0+f.c], op.c[k0:k0+f.c], f.mean32[k0:k0+f.c]
			dr, or, a, b, c, mu = dr[:len(xr)], or[:len(xr)], a[:len(xr)], b[:len(xr)], c[:len(xr)], mu[:len(xr)]
			for j, xv := range xr {
				or[j] = a[j]*dr[j] + b[j]*(xv-mu[j]) + c[j]
			}
		}
		return out, nil
	}
	op.job = bnGradJob{op: op, x: x, dy: dy, dx: dx, per: per}
	parallelSamples(n*f.c, f.plane, &op.job)
	return out, nil
}

// bnGradJob writes the input gradient of planes [lo, hi); per is the
// number of planes of a group.
type bnGradJob struct {
	op        *bnInputGradOp
	x, dy, dx []float32
	per       int
}

func (j *bnGradJob) run(from, to int) {
	op := j.op
	f := op.pg.fwd
	for i := from; i < to; i++ {
		k := i/j.per*f.c + i%f.c
		a, b, c, mu := op.a[k], op.b[k], op.c[k], f.mean32[k]
		lo, hi := i*f.plane, (i+1)*f.plane
		xs, ds, os := j.x[lo:hi], j.dy[lo:hi], j.dx[lo:hi]
		ds, os = ds[:len(xs)], os[:len(xs)]
		for t, xv := range xs {
			os[t] = a*ds[t] + b*(xv-mu) + c
		}
	}
}

// bnEvalGradOp computes dL/dx of an eval-mode batch norm from the incoming
// gradient dy: dx = dy·γ·invstd per channel, with the scale its forward op
// computed from the running variance in its last run. Its inputs are the
// batch norm's output (so that it runs after it) and dy; it works in place
// in dy when dy's register may be overwritten, else into a buffer it owns.
type bnEvalGradOp struct {
	opID
	fwd *batchNormOp
	out buffer
	job bnScaleJob
}

func (op *bnEvalGradOp) Arity() int           { return 2 }
func (op *bnEvalGradOp) OverwritesInput() int { return 1 }

func (op *bnEvalGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(m, m, m)
}

func (op *bnEvalGradOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	s, ok := inputs[1].(tensor.Shape)
	if !ok {
		return nil, op.errorf("want a shape, got %T", inputs[1])
	}
	return s.Clone(), nil
}

func (op *bnEvalGradOp) Do(inputs ...G.Value) (G.Value, error) {
	return op.UsePreallocDo(nil, inputs...)
}

func (op *bnEvalGradOp) UsePreallocDo(prealloc G.Value, inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	f := op.fwd
	_, dy, n, err := bnRows(f, inputs[0], inputs[1])
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	dyt := inputs[1].(*tensor.Dense)
	out := dyt
	if p, ok := prealloc.(*tensor.Dense); !ok || p != dyt {
		out = op.out.get(dyt.Shape()...)
	}
	dx := out.Float32s()
	if f.plane == 1 { // flat rows (BatchNorm1d): one pass per row
		for r := 0; r < n; r++ {
			src, dst := dy[r*f.c:(r+1)*f.c], dx[r*f.c:(r+1)*f.c]
			a := f.scale[:len(src)]
			dst = dst[:len(src)]
			for j, d := range src {
				dst[j] = d * a[j]
			}
		}
		return out, nil
	}
	op.job = bnScaleJob{fwd: f, dy: dy, dx: dx}
	parallelSamples(n*f.c, f.plane, &op.job)
	return out, nil
}

// bnScaleJob multiplies planes [lo, hi) of dy by their channel's scale
// into dx (which may be dy).
type bnScaleJob struct {
	fwd    *batchNormOp
	dy, dx []float32
}

func (j *bnScaleJob) run(lo, hi int) {
	f := j.fwd
	for i := lo; i < hi; i++ {
		a := f.scale[i%f.c]
		src, dst := j.dy[i*f.plane:(i+1)*f.plane], j.dx[i*f.plane:(i+1)*f.plane]
		dst = dst[:len(src)]
		for t, d := range src {
			dst[t] = d * a
		}
	}
}
