package backend

import (
	"fmt"
	"runtime"
	"sync"

	"github.com/chewxy/hm"
	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// The spatial ops (convolution, batch norm, max pooling) keep every value
// of the graph a 2-D matrix with one row per sample: a row of C·H·W values
// is one sample of a PyTorch NCHW tensor, so Flatten is free and the first
// layer reads the bound input rows directly. Each op knows the [C, H, W]
// shape of its rows from the architecture.

// window is the geometry of a square sliding window (kernel k, stride s,
// zero or −∞ padding p) over c planes of h×w values, giving oh×ow
// positions per plane.
type window struct {
	c, h, w, k, s, p int
	oh, ow           int
}

// inWidth returns the number of values of one input row; outPlane the
// number of output positions per channel.
func (g window) inWidth() int  { return g.c * g.h * g.w }
func (g window) outPlane() int { return g.oh * g.ow }

// span returns the range [lo, hi) of output positions o in [0, n) whose
// input position o·s + off lies in [0, size).
func span(off, s, size, n int) (lo, hi int) {
	if off < 0 {
		lo = (-off + s - 1) / s
	}
	if size-1-off >= 0 {
		hi = (size-1-off)/s + 1
	}
	hi = min(hi, n)
	lo = min(lo, hi)
	return lo, hi
}

// im2col writes the columns of one sample x (c·h·w values) into col, a
// (c·k·k) × (oh·ow) row-major matrix: row (ci·k + ki)·k + kj, column
// oy·ow + ox holds x[ci][oy·s − p + ki][ox·s − p + kj], or 0 in the
// padding.
func (g window) im2col(col, x []float32) { g.im2colLD(col, g.outPlane(), x) }

// im2colLD is im2col into the first oh·ow columns of a matrix whose rows
// are ld values apart (the columns of several samples side by side).
func (g window) im2colLD(col []float32, ld int, x []float32) {
	plane := g.h * g.w
	opos := g.outPlane()
	r := 0
	for ci := 0; ci < g.c; ci++ {
		src := x[ci*plane : (ci+1)*plane]
		for ki := 0; ki < g.k; ki++ {
			yLo, yHi := span(ki-g.p, g.s, g.h, g.oh)
			for kj := 0; kj < g.k; kj++ {
				dst := col[r*ld : r*ld+opos]
				r++
				xLo, xHi := span(kj-g.p, g.s, g.w, g.ow)
				clear(dst[:yLo*g.ow])
				clear(dst[yHi*g.ow:])
				if g.s == 1 && g.ow == g.w {
					// Output position d reads input position d + off:
					// copy the valid rows in one run, then clear the
					// columns that wrapped around from the next or
					// previous row (and were not copied at the ends).
					off := (ki-g.p)*g.w + (kj - g.p)
					lo, hi := yLo*g.ow, yHi*g.ow
					clo, chi := max(lo, -off), min(hi, plane-off)
					if clo < chi {
						copy(dst[clo:chi], src[clo+off:chi+off])
					}
					if xLo > 0 || xHi < g.ow {
						for oy := yLo; oy < yHi; oy++ {
							row := dst[oy*g.ow : (oy+1)*g.ow]
							clear(row[:xLo])
							clear(row[xHi:])
						}
					}
					continue
				}
				for oy := yLo; oy < yHi; oy++ {
					row := dst[oy*g.ow : (oy+1)*g.ow]
					in := src[(oy*g.s-g.p+ki)*g.w : (oy*g.s-g.p+ki+1)*g.w]
					clear(row[:xLo])
					clear(row[xHi:])
					if g.s == 1 {
						copy(row[xLo:xHi], in[xLo-g.p+kj:])
						continue
					}
					ix := xLo*g.s - g.p + kj
					for ox := xLo; ox < xHi; ox++ {
						row[ox] = in[ix]
						ix += g.s
					}
				}
			}
		}
	}
}

// col2im adds the columns col (as im2col lays them out) back into one
// sample x: every column entry is added to the input value it was read
// from; padding entries are dropped. x is not cleared first, and col is
// used as scratch (its padding entries may be cleared).
func (g window) col2im(x, col []float32) { g.col2imLD(x, col, g.outPlane()) }

// col2imLD is col2im from the first oh·ow columns of a matrix whose rows
// are ld values apart.
func (g window) col2imLD(x, col []float32, ld int) {
	plane := g.h * g.w
	opos := g.outPlane()
	r := 0
	for ci := 0; ci < g.c; ci++ {
		dst := x[ci*plane : (ci+1)*plane]
		for ki := 0; ki < g.k; ki++ {
			yLo, yHi := span(ki-g.p, g.s, g.h, g.oh)
			for kj := 0; kj < g.k; kj++ {
				src := col[r*ld : r*ld+opos]
				r++
				xLo, xHi := span(kj-g.p, g.s, g.w, g.ow)
				if g.s == 1 && g.ow == g.w {
					// As in im2col: clear the wrapped columns of this
					// column row (col is scratch), then add one run.
					off := (ki-g.p)*g.w + (kj - g.p)
					if xLo > 0 || xHi < g.ow {
						for oy := yLo; oy < yHi; oy++ {
							row := src[oy*g.ow : (oy+1)*g.ow]
							clear(row[:xLo])
							clear(row[xHi:])
						}
					}
					clo, chi := max(yLo*g.ow, -off), min(yHi*g.ow, plane-off)
					if clo < chi {
						in, out := src[clo:chi], dst[clo+off:chi+off]
						out = out[:len(in)]
						for j, v := range in {
							out[j] += v
						}
					}
					continue
				}
				for oy := yLo; oy < yHi; oy++ {
					row := src[oy*g.ow : (oy+1)*g.ow]
					out := dst[(oy*g.s-g.p+ki)*g.w : (oy*g.s-g.p+ki+1)*g.w]
					if g.s == 1 {
						out = out[xLo-g.p+kj:]
						row = row[xLo:xHi]
						out = out[:len(row)]
						for j, v := range row {
							out[j] += v
						}
						continue
					}
					ix := xLo*g.s - g.p + kj
					for ox := xLo; ox < xHi; ox++ {
						out[ix] += row[ox]
						ix += g.s
					}
				}
			}
		}
	}
}

// direct reports whether the columns of a sample are the sample itself
// (a 1×1 kernel at stride 1 without padding), so im2col can be skipped.
func (g window) direct() bool { return g.k == 1 && g.s == 1 && g.p == 0 }

// convGeom is a convolution: window g over the input, out output channels.
type convGeom struct {
	window
	out int
}

// kdim returns the length of a filter (a row of the weight matrix):
// in channels × k × k.
func (g convGeom) kdim() int { return g.c * g.k * g.k }

// outWidth returns the number of values of one output row.
func (g convGeom) outWidth() int { return g.out * g.outPlane() }

// checkRows checks that t is an n × width matrix for some n and returns n.
func checkRows(t *tensor.Dense, width int, what string) (int, error) {
	if t.Shape()[1] != width {
		return 0, fmt.Errorf("%s: rows of %d values, want %d", what, t.Shape()[1], width)
	}
	return t.Shape()[0], nil
}

// conv2dOp is a 2-D convolution (PyTorch's cross-correlation) of n rows of
// [c, h, w] values with weights W (out × c·k·k, the PyTorch weight
// [out, c, k, k] read row-major) and an optional bias (out), into n rows of
// [out, oh, ow] values in a buffer the op owns. The samples go through in
// chunks (see chunkSamples): the columns of a chunk's samples side by
// side, written by parallel goroutines, make one sgemm [W | b] ·
// [im2col(x); 1], whose result is scattered into the samples' rows. A 1×1
// convolution at stride 1 without padding is one sgemm per sample, the
// sample being its own column matrix.
type conv2dOp struct {
	opID
	g     convGeom
	bias  bool
	diffX bool // differentiate with respect to x (false for the input layer)
	ids   *idSource
	out   buffer
	col   []float32 // the column matrix of a chunk (and a row of ones with a bias)
	prod  []float32 // the product of a chunk, out × its columns
	wb    []float32 // [W | b] with a bias
	// The jobs of the chunk being computed.
	cols    im2colJob
	scatter planesJob
	// chunkCols overrides convChunkCols (tests use it to cut batches
	// into several chunks).
	chunkCols int
}

func newConv2dOp(ids *idSource, g convGeom, bias, diffX bool) *conv2dOp {
	return &conv2dOp{opID: ids.next("conv2d"), g: g, bias: bias, diffX: diffX, ids: ids}
}

func (op *conv2dOp) Arity() int {
	if op.bias {
		return 3
	}
	return 2
}

func (op *conv2dOp) OverwritesInput() int { return -1 }

func (op *conv2dOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	if op.bias {
		return hm.NewFnType(m, m, G.TensorType{Dims: 1, Of: a}, m)
	}
	return hm.NewFnType(m, m, m)
}

func (op *conv2dOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) != op.Arity() {
		return nil, op.errorf("want %d inputs, got %d", op.Arity(), len(inputs))
	}
	x, ok := inputs[0].(tensor.Shape)
	if !ok || x.Dims() != 2 || x[1] != op.g.inWidth() {
		return nil, op.errorf("want rows of %d values, got %v", op.g.inWidth(), inputs[0])
	}
	return tensor.Shape{x[0], op.g.outWidth()}, nil
}

func (op *conv2dOp) Do(inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != op.Arity() {
		return nil, op.errorf("want %d inputs, got %d", op.Arity(), len(inputs))
	}
	x, err := dense(inputs[0], 2)
	if err != nil {
		return nil, op.errorf("x: %w", err)
	}
	w, err := dense(inputs[1], 2)
	if err != nil {
		return nil, op.errorf("weight: %w", err)
	}
	g := op.g
	n, err := checkRows(x, g.inWidth(), "x")
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	kd, opos, ow := g.kdim(), g.outPlane(), g.outWidth()
	if !w.Shape().Eq(tensor.Shape{g.out, kd}) {
		return nil, op.errorf("weight shape %v, want [%d %d]", w.Shape(), g.out, kd)
	}
	var bias []float32
	if op.bias {
		b, err := dense(inputs[2], 1)
		if err != nil {
			return nil, op.errorf("bias: %w", err)
		}
		if bias = b.Float32s(); len(bias) != g.out {
			return nil, op.errorf("%d biases for %d channels", len(bias), g.out)
		}
	}
	y := op.out.get(n, ow)
	xs, ws, ys := x.Float32s(), w.Float32s(), y.Float32s()
	blas32 := G.WhichBLAS()
	if g.direct() {
		// The sample is its own column matrix; the bias is written into
		// the output first.
		var beta float32
		if op.bias {
			beta = 1
		}
		for i := 0; i < n; i++ {
			xi, yi := xs[i*g.inWidth():(i+1)*g.inWidth()], ys[i*ow:(i+1)*ow]
			for o, b := range bias {
				fill(yi[o*opos:(o+1)*opos], b)
			}
			blas32.Sgemm(blas.NoTrans, blas.NoTrans, g.out, opos, kd, 1, ws, kd, xi, opos, beta, yi, opos)
		}
		return y, nil
	}
	// With a bias, the product is [W | b] · [im2col(x); 1]: the column
	// matrix has an extra row of ones that im2col never writes.
	kb := kd
	if op.bias {
		kb++
		if len(op.wb) != g.out*kb {
			op.wb = make([]float32, g.out*kb)
		}
		for o, b := range bias {
			copy(op.wb[o*kb:o*kb+kd], ws[o*kd:(o+1)*kd])
			op.wb[o*kb+kd] = b
		}
		ws = op.wb
	}
	chunk := chunkSamples(op.chunkCols, opos, n)
	ld, iw := chunk*opos, g.inWidth()
	if len(op.col) != kb*ld {
		op.col = make([]float32, kb*ld)
		fill(op.col[kd*ld:], 1)
		op.prod = make([]float32, g.out*ld)
	}
	for c0 := 0; c0 < n; c0 += chunk {
		m := min(chunk, n-c0)
		op.cols = im2colJob{g: g.window, col: op.col, ld: ld, xs: xs[c0*iw:]}
		parallelSamples(m, kd*opos, &op.cols)
		blas32.Sgemm(blas.NoTrans, blas.NoTrans, g.out, m*opos, kb, 1, ws, kb, op.col, ld, 0, op.prod, ld)
		op.scatter = planesJob{chunk: op.prod, rows: ys[c0*ow:], ld: ld, opos: opos, toRows: true}
		parallelSamples(m, ow, &op.scatter)
	}
	return y, nil
}

// convChunkCols is about the number of columns (samples × output
// positions) of the column matrix of one product: enough for OpenBLAS to
// split the product over its threads and run near its peak, few enough
// for the matrix (kernel rows × columns, 2.4 MB for 577 rows) to stay in
// the processor's caches.
const convChunkCols = 1024

// chunkSamples returns the number of samples of one product for planes of
// opos output positions: about cols columns (convChunkCols if cols is 0),
// at least one sample and at most n.
func chunkSamples(cols, opos, n int) int {
	if cols <= 0 {
		cols = convChunkCols
	}
	return max(1, min(n, (cols+opos-1)/opos))
}

// sampleJob is work on the samples [lo, hi) of a chunk. The ops keep
// their jobs in their own fields, so handing one to parallelSamples (as a
// pointer) allocates nothing.
type sampleJob interface{ run(lo, hi int) }

// parallelSamples runs job on contiguous ranges covering the n samples of
// a chunk, on one goroutine per available processor (GOMAXPROCS) when the
// n samples hold enough values (perSample each) to be worth splitting, and
// on the calling goroutine otherwise.
func parallelSamples(n, perSample int, job sampleJob) {
	splitRanges(min(runtime.GOMAXPROCS(0), n, n*perSample/parallelMin), n, job)
}

// splitRanges runs job on workers contiguous ranges covering [0, n), the
// first on the calling goroutine, and waits for them; with one worker or
// fewer it runs job(0, n) alone, allocating nothing.
func splitRanges(workers, n int, job sampleJob) {
	if workers <= 1 {
		job.run(0, n)
		return
	}
	var wg sync.WaitGroup
	per := (n + workers - 1) / workers
	for lo := per; lo < n; lo += per {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			job.run(lo, hi)
		}(lo, min(lo+per, n))
	}
	job.run(0, min(per, n))
	wg.Wait()
}

// rangeFunc is a function as a sampleJob.
type rangeFunc func(lo, hi int)

func (f rangeFunc) run(lo, hi int) { f(lo, hi) }

// im2colJob writes the columns of the chunk's samples xs side by side into
// col, whose rows are ld values apart.
type im2colJob struct {
	g   window
	col []float32
	ld  int
	xs  []float32 // the chunk's samples, from its first
}

func (j *im2colJob) run(lo, hi int) {
	iw, opos := j.g.inWidth(), j.g.outPlane()
	for i := lo; i < hi; i++ {
		j.g.im2colLD(j.col[i*opos:], j.ld, j.xs[i*iw:(i+1)*iw])
	}
}

// col2imJob adds the columns of the chunk's samples (col, rows ld values
// apart) back into their cleared rows of dxs.
type col2imJob struct {
	g   window
	col []float32
	ld  int
	dxs []float32 // the chunk's input gradients, from its first
}

func (j *col2imJob) run(lo, hi int) {
	iw, opos := j.g.inWidth(), j.g.outPlane()
	for i := lo; i < hi; i++ {
		dxi := j.dxs[i*iw : (i+1)*iw]
		clear(dxi)
		j.g.col2imLD(dxi, j.col[i*opos:], j.ld)
	}
}

// planesJob copies the planes of opos values of the chunk's sample rows
// into a chunk matrix (channel o of sample i at chunk[o·ld + i·opos:]), or
// back into the rows when toRows is set.
type planesJob struct {
	chunk, rows []float32
	ld, opos    int
	toRows      bool
}

func (j *planesJob) run(lo, hi int) {
	c := len(j.chunk) / j.ld // channels
	rw := c * j.opos
	for i := lo; i < hi; i++ {
		row, mat := j.rows[i*rw:(i+1)*rw], j.chunk[i*j.opos:]
		for o := 0; o < c; o++ {
			if j.toRows {
				copy(row[o*j.opos:(o+1)*j.opos], mat[o*j.ld:o*j.ld+j.opos])
			} else {
				copy(mat[o*j.ld:o*j.ld+j.opos], row[o*j.opos:(o+1)*j.opos])
			}
		}
	}
}

func (op *conv2dOp) DiffWRT(inputs int) []bool {
	if op.bias {
		return []bool{op.diffX, true, true}
	}
	return []bool{op.diffX, true}
}

// SymDiff returns dx (convInputGradOp, if diffX), dW (convFilterGradOp)
// and, with a bias, db (channelSumOp).
func (op *conv2dOp) SymDiff(inputs G.Nodes, output, grad *G.Node) (G.Nodes, error) {
	if len(inputs) != op.Arity() {
		return nil, op.errorf("want %d inputs, got %d", op.Arity(), len(inputs))
	}
	grads := make(G.Nodes, len(inputs))
	var err error
	if op.diffX {
		grads[0], err = G.ApplyOp(&convInputGradOp{opID: op.ids.next("conv2d-dx"), g: op.g}, inputs[1], grad)
	}
	if err == nil {
		grads[1], err = G.ApplyOp(&convFilterGradOp{opID: op.ids.next("conv2d-dw"), g: op.g}, inputs[0], grad)
	}
	if err == nil && op.bias {
		grads[2], err = G.ApplyOp(&channelSumOp{opID: op.ids.next("conv2d-db"), c: op.g.out, plane: op.g.outPlane()}, grad)
	}
	if err != nil {
		return nil, op.errorf("building gradient: %w", err)
	}
	return grads, nil
}

// convInputGradOp computes dL/dx of a convolution from its weights W and
// the incoming gradient dy: col2im(Wᵀ · dy) for each sample, into a buffer
// it owns; chunked as conv2dOp is.
type convInputGradOp struct {
	opID
	g         convGeom
	out       buffer
	col       []float32 // Wᵀ · dy of a chunk
	dyc       []float32 // dy of a chunk, out × its columns
	chunkCols int       // overrides convChunkCols
	gather    planesJob
	back      col2imJob
}

func (op *convInputGradOp) Arity() int           { return 2 }
func (op *convInputGradOp) OverwritesInput() int { return -1 }

func (op *convInputGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(m, m, m)
}

func (op *convInputGradOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	dy, ok := inputs[1].(tensor.Shape)
	if !ok || dy.Dims() != 2 {
		return nil, op.errorf("want a matrix gradient, got %v", inputs[1])
	}
	return tensor.Shape{dy[0], op.g.inWidth()}, nil
}

func (op *convInputGradOp) Do(inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	w, err := dense(inputs[0], 2)
	if err != nil {
		return nil, op.errorf("weight: %w", err)
	}
	dy, err := dense(inputs[1], 2)
	if err != nil {
		return nil, op.errorf("gradient: %w", err)
	}
	g := op.g
	kd, opos, ow, iw := g.kdim(), g.outPlane(), g.outWidth(), g.inWidth()
	n, err := checkRows(dy, ow, "gradient")
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	if !w.Shape().Eq(tensor.Shape{g.out, kd}) {
		return nil, op.errorf("weight shape %v, want [%d %d]", w.Shape(), g.out, kd)
	}
	dx := op.out.get(n, iw)
	ws, dys, dxs := w.Float32s(), dy.Float32s(), dx.Float32s()
	blas32 := G.WhichBLAS()
	if g.direct() {
		for i := 0; i < n; i++ {
			dyi, dxi := dys[i*ow:(i+1)*ow], dxs[i*iw:(i+1)*iw]
			blas32.Sgemm(blas.Trans, blas.NoTrans, kd, opos, g.out, 1, ws, kd, dyi, opos, 0, dxi, opos)
		}
		return dx, nil
	}
	chunk := chunkSamples(op.chunkCols, opos, n)
	ld := chunk * opos
	if len(op.col) != kd*ld {
		op.col = make([]float32, kd*ld)
		op.dyc = make([]float32, g.out*ld)
	}
	for c0 := 0; c0 < n; c0 += chunk {
		m := min(chunk, n-c0)
		op.gather = planesJob{chunk: op.dyc, rows: dys[c0*ow:], ld: ld, opos: opos}
		parallelSamples(m, ow, &op.gather)
		blas32.Sgemm(blas.Trans, blas.NoTrans, kd, m*opos, g.out, 1, ws, kd, op.dyc, ld, 0, op.col, ld)
		op.back = col2imJob{g: g.window, col: op.col, ld: ld, dxs: dxs[c0*iw:]}
		parallelSamples(m, kd*opos, &op.back)
	}
	return dx, nil
}

// convFilterGradOp computes dL/dW of a convolution from its input x and
// the incoming gradient dy: the sum over samples of dy · im2col(x)ᵀ, into a
// buffer it owns; chunked as conv2dOp is, one sgemm per chunk.
type convFilterGradOp struct {
	opID
	g         convGeom
	out       buffer
	col       []float32 // im2col of a chunk
	dyc       []float32 // dy of a chunk, out × its columns
	chunkCols int       // overrides convChunkCols
	cols      im2colJob
	gather    planesJob
}

func (op *convFilterGradOp) Arity() int           { return 2 }
func (op *convFilterGradOp) OverwritesInput() int { return -1 }

func (op *convFilterGradOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	m := G.TensorType{Dims: 2, Of: a}
	return hm.NewFnType(m, m, m)
}

func (op *convFilterGradOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.g.out, op.g.kdim()}, nil
}

func (op *convFilterGradOp) Do(inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 2 {
		return nil, op.errorf("want 2 inputs, got %d", len(inputs))
	}
	x, err := dense(inputs[0], 2)
	if err != nil {
		return nil, op.errorf("x: %w", err)
	}
	dy, err := dense(inputs[1], 2)
	if err != nil {
		return nil, op.errorf("gradient: %w", err)
	}
	g := op.g
	kd, opos, ow, iw := g.kdim(), g.outPlane(), g.outWidth(), g.inWidth()
	n, err := checkRows(x, iw, "x")
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	if m, err := checkRows(dy, ow, "gradient"); err != nil || m != n {
		return nil, op.errorf("gradient shape %v for %d rows of %d values (%v)", dy.Shape(), n, ow, err)
	}
	dw := op.out.get(g.out, kd)
	xs, dys, dws := x.Float32s(), dy.Float32s(), dw.Float32s()
	blas32 := G.WhichBLAS()
	var beta float32
	if g.direct() {
		for i := 0; i < n; i++ {
			xi, dyi := xs[i*iw:(i+1)*iw], dys[i*ow:(i+1)*ow]
			blas32.Sgemm(blas.NoTrans, blas.Trans, g.out, kd, opos, 1, dyi, opos, xi, opos, beta, dws, kd)
			beta = 1
		}
	}
	chunk := chunkSamples(op.chunkCols, opos, n)
	ld := chunk * opos
	if !g.direct() && len(op.col) != kd*ld {
		op.col = make([]float32, kd*ld)
		op.dyc = make([]float32, g.out*ld)
	}
	for c0 := 0; c0 < n && !g.direct(); c0 += chunk {
		m := min(chunk, n-c0)
		op.cols = im2colJob{g: g.window, col: op.col, ld: ld, xs: xs[c0*iw:]}
		parallelSamples(m, kd*opos, &op.cols)
		op.gather = planesJob{chunk: op.dyc, rows: dys[c0*ow:], ld: ld, opos: opos}
		parallelSamples(m, ow, &op.gather)
		blas32.Sgemm(blas.NoTrans, blas.Trans, g.out, kd, m*opos, 1, op.dyc, ld, op.col, ld, beta, dws, kd)
		beta = 1
	}
	if n == 0 {
		clear(dws)
	}
	return dw, nil
}

// channelSumOp sums n rows of [c, plane] values over the rows and the
// positions of each channel into c values it owns: the gradient of a
// per-channel bias.
type channelSumOp struct {
	opID
	c, plane int
	out      buffer
	sum      []float64
}

func (op *channelSumOp) Arity() int           { return 1 }
func (op *channelSumOp) OverwritesInput() int { return -1 }

func (op *channelSumOp) Type() hm.Type {
	a := hm.TypeVariable('a')
	return hm.NewFnType(G.TensorType{Dims: 2, Of: a}, G.TensorType{Dims: 1, Of: a})
}

func (op *channelSumOp) InferShape(inputs ...G.DimSizer) (tensor.Shape, error) {
	return tensor.Shape{op.c}, nil
}

func (op *channelSumOp) Do(inputs ...G.Value) (v G.Value, err error) {
	defer op.recoverInto(&err)
	if len(inputs) != 1 {
		return nil, op.errorf("want 1 input, got %d", len(inputs))
	}
	d, err := dense(inputs[0], 2)
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	n, err := checkRows(d, op.c*op.plane, "gradient")
	if err != nil {
		return nil, op.errorf("%w", err)
	}
	out := op.out.get(op.c).Float32s()
	src := d.Float32s()
	if len(op.sum) != op.c {
		op.sum = make([]float64, op.c)
	}
	clear(op.sum)
	for p := 0; p < n*op.c; p++ { // in memory order
		op.sum[p%op.c] += float64(sum32(src[p*op.plane : (p+1)*op.plane]))
	}
	for ch, s := range op.sum {
		out[ch] = float32(s)
	}
	return op.out.t, nil
}

// sum32 returns the sum of x, accumulated in four float32 lanes (x is at
// most one plane of values, so float32 accumulation loses little).
func sum32(x []float32) float32 {
	var s0, s1, s2, s3 float32
	for len(x) >= 4 {
		s0 += x[0]
		s1 += x[1]
		s2 += x[2]
		s3 += x[3]
		x = x[4:]
	}
	for _, v := range x {
		s0 += v
	}
	return (s0 + s1) + (s2 + s3)
}

// fill sets every value of x to v.
func fill(x []float32, v float32) {
	for i := range x {
		x[i] = v
	}
}
