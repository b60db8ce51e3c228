package backend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// convCases are convolution geometries covering stride 1 and 2 (and 3),
// padding 0, 1 and 2, odd and non-square sizes, several channels, 1×1
// kernels (the direct path) and kernels as large as the padded input.
var convCases = []convCase{
	{1, 5, 5, 2, 3, 1, 1},   // "same" padding: the one-run im2col path
	{2, 6, 7, 3, 3, 2, 0},   // stride 2, non-square
	{3, 7, 6, 2, 2, 2, 2},   // padding 2 with stride 2
	{2, 5, 5, 3, 1, 1, 0},   // 1×1: no im2col
	{2, 4, 4, 2, 4, 1, 0},   // kernel = input
	{1, 7, 7, 2, 3, 3, 1},   // stride 3
	{2, 5, 6, 2, 5, 2, 2},   // "same"-like padding at stride 2
	{3, 6, 6, 2, 5, 1, 2},   // 5×5 "same"
	{2, 3, 5, 2, 3, 1, 2},   // padding wider than needed: output larger than input
	{1, 1, 1, 2, 1, 1, 0},   // one pixel
	{2, 2, 3, 3, 3, 1, 1},   // tiny "same"
	{1, 9, 4, 2, 2, 1, 0},   // even kernel, stride 1, no padding
	{2, 4, 5, 2, 2, 1, 1},   // even kernel with padding: output larger by one
	{1, 5, 5, 1, 3, 2, 1},   // stride 2 "same"
	{2, 8, 8, 2, 3, 1, 1},   // larger planes
	{1, 6, 5, 2, 1, 2, 1},   // 1×1 kernel with stride and padding (im2col path)
	{3, 5, 4, 1, 3, 1, 0},   // one output channel
	{1, 4, 4, 2, 4, 1, 2},   // kernel larger than half the input, padded
	{2, 7, 3, 2, 3, 2, 1},   // narrow
	{1, 3, 3, 1, 3, 1, 1},   // 3×3 on 3×3 "same"
	{4, 3, 3, 5, 2, 1, 0},   // more channels
	{2, 6, 6, 3, 3, 1, 2},   // padding 2 with 3×3 at stride 1
	{1, 10, 10, 2, 3, 4, 0}, // stride larger than the kernel
}

// convCase is a convolution of out channels with kernel k, stride s and
// padding p over [c, h, w] values.
type convCase struct{ c, h, w, out, k, s, p int }

func (tc convCase) geom(t testing.TB) convGeom {
	t.Helper()
	win, err := newWindow(shape{tc.c, tc.h, tc.w}, tc.k, tc.s, tc.p, 1)
	if err != nil {
		t.Fatal(err)
	}
	return convGeom{win, tc.out}
}

func randF64(rng *rand.Rand, n int, scale float64) ([]float32, []float64) {
	x32 := make([]float32, n)
	x64 := make([]float64, n)
	for i := range x32 {
		x32[i] = float32(scale * (2*rng.Float64() - 1))
		x64[i] = float64(x32[i])
	}
	return x32, x64
}

func dense32(data []float32, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithShape(shape...), tensor.WithBacking(data))
}

// TestIm2col checks im2col against its definition (an exact copy) and
// col2im against its adjoint property <im2col(x), c> = <x, col2im(c)>.
func TestIm2col(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	for _, tc := range convCases {
		g := tc.geom(t)
		t.Run(fmt.Sprintf("%v", tc), func(t *testing.T) {
			x, _ := randF64(rng, g.inWidth(), 1)
			col := make([]float32, g.kdim()*g.outPlane())
			for i := range col {
				col[i] = 99 // im2col must write every entry
			}
			g.im2col(col, x)
			for ci := 0; ci < g.c; ci++ {
				for ki := 0; ki < g.k; ki++ {
					for kj := 0; kj < g.k; kj++ {
						r := (ci*g.k+ki)*g.k + kj
						for oy := 0; oy < g.oh; oy++ {
							for ox := 0; ox < g.ow; ox++ {
								iy, ix := oy*g.s-g.p+ki, ox*g.s-g.p+kj
								var want float32
								if iy >= 0 && iy < g.h && ix >= 0 && ix < g.w {
									want = x[(ci*g.h+iy)*g.w+ix]
								}
								if got := col[r*g.outPlane()+oy*g.ow+ox]; got != want {
									t.Fatalf("col[%d][%d,%d] = %v, want %v", r, oy, ox, got, want)
								}
							}
						}
					}
				}
			}
			c, _ := randF64(rng, len(col), 1)
			var lhs float64
			for i := range c {
				lhs += float64(c[i]) * float64(col[i])
			}
			back := make([]float32, len(x))
			g.col2im(back, append([]float32(nil), c...))
			var rhs float64
			for i := range x {
				rhs += float64(x[i]) * float64(back[i])
			}
			if !closeTo(rhs, lhs, 1e-5, 1e-5) {
				t.Errorf("<x, col2im(c)> = %v, <im2col(x), c> = %v", rhs, lhs)
			}
		})
	}
}

// TestConv2dOp checks the convolution's forward pass against direct loops
// and its gradients with respect to x, W and b (through a softmax
// cross-entropy on top) against central finite differences of the float64
// reference.
func TestConv2dOp(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	for ci, tc := range convCases {
		g := tc.geom(t)
		bias := ci%4 != 3
		const n = 3
		t.Run(fmt.Sprintf("%v bias=%t", tc, bias), func(t *testing.T) {
			x32, x64 := randF64(rng, n*g.inWidth(), 1)
			w32, w64 := randF64(rng, g.out*g.kdim(), 0.5)
			var b32 []float32
			var b64 []float64
			if bias {
				b32, b64 = randF64(rng, g.out, 0.5)
			}
			want := refConv(x64, w64, b64, n, g)

			op := newConv2dOp(new(idSource), g, bias, true)
			in := []G.Value{dense32(x32, n, g.inWidth()), dense32(w32, g.out, g.kdim())}
			if bias {
				in = append(in, dense32(b32, g.out))
			}
			for range 2 { // the second run reuses the op's buffers
				v, err := op.Do(in...)
				if err != nil {
					t.Fatal(err)
				}
				if s := v.Shape(); !s.Eq(tensor.Shape{n, g.outWidth()}) {
					t.Fatalf("output shape %v, want [%d %d]", s, n, g.outWidth())
				}
				checkClose(t, "conv", v.(*tensor.Dense).Float32s(), want, 1e-6, 1e-5)
			}

			width := g.outWidth()
			y := randLabels(rng, n, width)
			inputs := []input{
				{"x", []int{n, g.inWidth()}, x32, true},
				{"w", []int{g.out, g.kdim()}, w32, true},
			}
			if bias {
				inputs = append(inputs, input{"b", []int{g.out}, b32, true})
			}
			inputs = append(inputs, input{"y", []int{n}, labelsF32(y), false})
			_, grads := runGraph(t, inputs, func(ids *idSource, in G.Nodes) (*G.Node, error) {
				c, err := G.ApplyOp(newConv2dOp(ids, g, bias, true), in[:len(in)-1]...)
				if err != nil {
					return nil, err
				}
				return G.ApplyOp(newSoftmaxCEOp(ids), c, in[len(in)-1])
			})
			loss := func(x, w, b []float64) float64 { return refCE(refConv(x, w, b, n, g), y, width) }
			fdX := centralDiff(append([]float64(nil), x64...), func(v []float64) float64 { return loss(v, w64, b64) })
			fdW := centralDiff(append([]float64(nil), w64...), func(v []float64) float64 { return loss(x64, v, b64) })
			checkClose(t, "dx", grads[0], fdX, 2e-6, 1e-4)
			checkClose(t, "dW", grads[1], fdW, 2e-6, 1e-4)
			if bias {
				fdB := centralDiff(append([]float64(nil), b64...), func(v []float64) float64 { return loss(x64, w64, v) })
				checkClose(t, "db", grads[2], fdB, 2e-6, 1e-4)
			}
		})
	}

	g := convCases[0].geom(t)
	op := newConv2dOp(new(idSource), g, false, true)
	if _, err := op.Do(dense32(make([]float32, 2*24), 2, 24), dense32(make([]float32, 18), 2, 9)); err == nil || !strings.Contains(err.Error(), "rows of 24 values, want 25") {
		t.Errorf("rows of the wrong width: error %v", err)
	}
	if _, err := op.Do(dense32(make([]float32, 25), 1, 25), dense32(make([]float32, 18), 3, 6)); err == nil || !strings.Contains(err.Error(), "weight shape") {
		t.Errorf("weights of the wrong shape: error %v", err)
	}
}

// bnCases are batch norm shapes: channels, positions per channel, rows,
// and an offset added to the inputs (a large mean checks the numerics).
var bnCases = []struct {
	c, plane, n int
	offset      float64
}{
	{1, 4, 2, 0},
	{3, 4, 2, 0},
	{2, 9, 3, 0.5},
	{4, 1, 5, 0},   // one position: BatchNorm1d-like statistics over rows
	{2, 25, 1, 0},  // one row: statistics over positions
	{3, 6, 4, 100}, // mean far from 0
	{5, 3, 3, -2},
}

// TestBatchNormOp checks training-mode batch norm against the float64
// reference (forward, and gradients with respect to x, γ and β against
// finite differences), that its output has per-channel mean 0 and
// variance 1 with γ = 1, β = 0, and eval mode against the reference with
// given running statistics.
func TestBatchNormOp(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	for _, tc := range bnCases {
		t.Run(fmt.Sprintf("%+v", tc), func(t *testing.T) {
			c, plane, n := tc.c, tc.plane, tc.n
			x32, x64 := randF64(rng, n*c*plane, 1)
			for i := range x32 {
				x32[i] += float32(tc.offset)
				x64[i] = float64(x32[i])
			}
			g32, g64 := randF64(rng, c, 1)
			b32, b64 := randF64(rng, c, 1)
			for i := range g32 { // |γ| in [0.5, 1.5]
				g32[i] = float32(math.Copysign(0.5, float64(g32[i]))) + g32[i]/2
				g64[i] = float64(g32[i])
			}

			// Forward with γ = 1, β = 0: per-channel mean 0, variance
			// var/(var+eps) ≈ 1.
			ones, zeros := make([]float32, c), make([]float32, c)
			fill(ones, 1)
			op := newBatchNormOp(new(idSource), c, plane, true)
			v, err := op.Do(dense32(x32, n, c*plane), dense32(ones, c), dense32(zeros, c))
			if err != nil {
				t.Fatal(err)
			}
			y := v.(*tensor.Dense).Float32s()
			_, bm, bv := refBatchNorm(x64, g64, b64, nil, nil, n, c, plane)
			for ch := 0; ch < c; ch++ {
				var s, sq float64
				for i := 0; i < n; i++ {
					for _, v := range y[(i*c+ch)*plane : (i*c+ch+1)*plane] {
						s += float64(v)
						sq += float64(v) * float64(v)
					}
				}
				m := float64(n * plane)
				mean, variance := s/m, sq/m-(s/m)*(s/m)
				if math.Abs(mean) > 1e-5 || math.Abs(variance-bv[ch]/(bv[ch]+bnEps)) > 1e-4 {
					t.Errorf("channel %d: output mean %v, variance %v; want 0 and %v", ch, mean, variance, bv[ch]/(bv[ch]+bnEps))
				}
				if !closeTo(op.mean[ch], bm[ch], 1e-7, 1e-6) || !closeTo(op.varB[ch], bv[ch], 1e-7, 1e-5) {
					t.Errorf("channel %d: batch mean %v, variance %v; reference %v, %v", ch, op.mean[ch], op.varB[ch], bm[ch], bv[ch])
				}
			}

			// Forward and gradients with γ and β through a graph.
			want, _, _ := refBatchNorm(x64, g64, b64, nil, nil, n, c, plane)
			width := c * plane
			labels := randLabels(rng, n, width)
			loss, grads := runGraph(t, []input{
				{"x", []int{n, width}, x32, true},
				{"gamma", []int{c}, g32, true},
				{"beta", []int{c}, b32, true},
				{"y", []int{n}, labelsF32(labels), false},
			}, func(ids *idSource, in G.Nodes) (*G.Node, error) {
				h, err := G.ApplyOp(newBatchNormOp(ids, c, plane, true), in[0], in[1], in[2])
				if err != nil {
					return nil, err
				}
				return G.ApplyOp(newSoftmaxCEOp(ids), h, in[3])
			})
			if ref := refCE(want, labels, width); !closeTo(loss, ref, 1e-5, 1e-5) {
				t.Errorf("loss %v, reference %v", loss, ref)
			}
			f := func(x, gm, bt []float64) float64 {
				y, _, _ := refBatchNorm(x, gm, bt, nil, nil, n, c, plane)
				return refCE(y, labels, width)
			}
			fdX := centralDiff(append([]float64(nil), x64...), func(v []float64) float64 { return f(v, g64, b64) })
			fdG := centralDiff(append([]float64(nil), g64...), func(v []float64) float64 { return f(x64, v, b64) })
			fdB := centralDiff(append([]float64(nil), b64...), func(v []float64) float64 { return f(x64, g64, v) })
			checkClose(t, "dx", grads[0], fdX, 2e-6, 1e-4)
			checkClose(t, "dgamma", grads[1], fdG, 2e-6, 1e-4)
			checkClose(t, "dbeta", grads[2], fdB, 2e-6, 1e-4)

			// Eval mode with given running statistics.
			rm32, rm64 := randF64(rng, c, 1)
			rv32 := make([]float32, c)
			rv64 := make([]float64, c)
			for i := range rv32 {
				rv32[i] = float32(0.2 + rng.Float64())
				rv64[i] = float64(rv32[i])
			}
			ev := newBatchNormEvalOp(new(idSource), c, plane)
			v, err = ev.Do(dense32(x32, n, width), dense32(g32, c), dense32(b32, c), dense32(rm32, c), dense32(rv32, c))
			if err != nil {
				t.Fatal(err)
			}
			wantEval, _, _ := refBatchNorm(x64, g64, b64, rm64, rv64, n, c, plane)
			checkClose(t, "eval", v.(*tensor.Dense).Float32s(), wantEval, 1e-5, 1e-5)
		})
	}

	op := newBatchNormOp(new(idSource), 2, 1, true)
	one := []float32{1, 1}
	if _, err := op.Do(dense32([]float32{1, 2}, 1, 2), dense32(one, 2), dense32(one, 2)); err == nil || !strings.Contains(err.Error(), "more than one value per channel") {
		t.Errorf("one value per channel in training: error %v", err)
	}
	if _, err := op.Do(dense32([]float32{1, 2, 3, 4}, 2, 2), dense32(one[:1], 1), dense32(one, 2)); err == nil {
		t.Errorf("1 weight for 2 channels accepted")
	}
}

// poolCases are max-pool geometries: the 2×2 stride-2 fast path on even
// and odd sizes, overlapping windows, padding, non-square planes.
var poolCases = []struct {
	c, h, w, k, s, p int
}{
	{1, 4, 4, 2, 2, 0},
	{2, 5, 7, 2, 2, 0}, // odd: the last row and column are dropped
	{3, 6, 6, 3, 2, 1}, // overlapping, padded
	{2, 5, 5, 3, 1, 1}, // stride 1, padded
	{1, 7, 5, 2, 1, 0}, // overlapping
	{2, 6, 4, 3, 3, 0},
	{1, 5, 5, 4, 2, 2}, // padding = kernel/2
	{2, 3, 3, 3, 3, 1}, // window mostly padding
	{1, 2, 2, 2, 2, 0}, // one window
	{2, 8, 6, 2, 3, 1}, // stride above the kernel
}

// TestMaxPoolOp checks max pooling against the reference and its gradient
// against finite differences (inputs are distinct values, so no window has
// a tie), and PyTorch's tie and NaN rules.
func TestMaxPoolOp(t *testing.T) {
	rng := rand.New(rand.NewPCG(14, 14))
	for _, tc := range poolCases {
		t.Run(fmt.Sprintf("%+v", tc), func(t *testing.T) {
			g, err := newWindow(shape{tc.c, tc.h, tc.w}, tc.k, tc.s, tc.p, tc.k)
			if err != nil {
				t.Fatal(err)
			}
			const n = 3
			width := g.c * g.outPlane()
			// Distinct values 0.05 apart, shuffled, some negative.
			perm := rng.Perm(n * g.inWidth())
			x32 := make([]float32, len(perm))
			x64 := make([]float64, len(perm))
			for i, p := range perm {
				x32[i] = float32(0.05*float64(p) - 1 + 0.01*rng.Float64())
				x64[i] = float64(x32[i])
			}
			want, gap := refMaxPool(x64, n, g)
			if gap < 0.02 {
				t.Fatalf("gap %v", gap)
			}
			for _, train := range []bool{false, true} {
				v, err := newMaxPoolOp(new(idSource), g, train).Do(dense32(x32, n, g.inWidth()))
				if err != nil {
					t.Fatal(err)
				}
				checkClose(t, "pool", v.(*tensor.Dense).Float32s(), want, 0, 0)
			}
			labels := randLabels(rng, n, width)
			_, grads := runGraph(t, []input{
				{"x", []int{n, g.inWidth()}, x32, true},
				{"y", []int{n}, labelsF32(labels), false},
			}, func(ids *idSource, in G.Nodes) (*G.Node, error) {
				h, err := G.ApplyOp(newMaxPoolOp(ids, g, true), in[0])
				if err != nil {
					return nil, err
				}
				return G.ApplyOp(newSoftmaxCEOp(ids), h, in[1])
			})
			fd := centralDiff(append([]float64(nil), x64...), func(v []float64) float64 {
				y, _ := refMaxPool(v, n, g)
				return refCE(y, labels, width)
			})
			checkClose(t, "dx", grads[0], fd, 1e-7, 1e-4)
		})
	}

	// Ties: the first maximum in row-major order takes the gradient, in
	// the 2×2 fast path and in the general loop; a NaN wins its window.
	nan := float32(math.NaN())
	for _, tc := range []struct {
		k, s   int
		x      []float32
		want   []float32
		wantDx []float32
	}{
		{2, 2, []float32{1, 3, 3, 3}, []float32{3}, []float32{0, 1, 0, 0}},
		{2, 2, []float32{5, 5, 5, 5}, []float32{5}, []float32{1, 0, 0, 0}},
		{2, 2, []float32{-1, -2, -1, -3}, []float32{-1}, []float32{1, 0, 0, 0}},
		{2, 1, []float32{2, 2, 2, 2}, []float32{2}, []float32{1, 0, 0, 0}},
		{2, 2, []float32{1, nan, 3, 2}, []float32{nan}, nil},
		{2, 1, []float32{1, nan, 3, 2}, []float32{nan}, nil},
	} {
		g, err := newWindow(shape{1, 2, 2}, tc.k, tc.s, 0, tc.k)
		if err != nil {
			t.Fatal(err)
		}
		op := newMaxPoolOp(new(idSource), g, true)
		v, err := op.Do(dense32(tc.x, 1, 4))
		if err != nil {
			t.Fatal(err)
		}
		got := v.(*tensor.Dense).Float32s()
		if len(got) != 1 || !(got[0] == tc.want[0] || math.IsNaN(float64(got[0])) && math.IsNaN(float64(tc.want[0]))) {
			t.Errorf("pool(%v) with stride %d = %v, want %v", tc.x, tc.s, got, tc.want)
		}
		if tc.wantDx == nil {
			continue
		}
		d, err := (&maxPoolGradOp{opID: opID{name: "test"}, fwd: op}).Do(v, dense32([]float32{1}, 1, 1))
		if err != nil {
			t.Fatal(err)
		}
		checkClose(t, fmt.Sprintf("gradient of pool(%v), stride %d", tc.x, tc.s), d.(*tensor.Dense).Float32s(), to64(tc.wantDx), 0, 0)
	}
}

// TestGroupedBatchNorm checks that a batch norm over g groups of rows
// computes what g separate batch norms of one group each do: outputs,
// gradients (dγ and dβ summed over the groups) and running statistics
// updated once per group, in order.
func TestGroupedBatchNorm(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 17))
	for _, tc := range []struct{ c, plane, rows, groups int }{
		{3, 1, 5, 2}, {2, 4, 3, 3}, {4, 1, 8, 4}, {1, 9, 2, 2},
	} {
		t.Run(fmt.Sprintf("%+v", tc), func(t *testing.T) {
			c, plane, rows, groups := tc.c, tc.plane, tc.rows, tc.groups
			n, width := rows*groups, c*plane
			x, _ := randF64(rng, n*width, 1)
			for i := range x { // a different offset and scale per group
				g := i / (rows * width)
				x[i] = x[i]*float32(1+g) + float32(g)
			}
			gamma, _ := randF64(rng, c, 1)
			beta, _ := randF64(rng, c, 1)
			dy, _ := randF64(rng, n*width, 1)

			// run applies op (forward, dγ, dβ, dx) to x and dy.
			run := func(op *batchNormOp, x, dy []float32, rows int) (y, dx, dg, db []float32) {
				t.Helper()
				xv := dense32(x, rows, width)
				v, err := op.Do(xv, dense32(gamma, c), dense32(beta, c))
				if err != nil {
					t.Fatal(err)
				}
				y = slices.Clone(v.(*tensor.Dense).Float32s())
				pg := &bnParamGradOp{opID: op.ids.next("dgamma"), fwd: op}
				dgv, err := pg.Do(xv, dense32(dy, rows, width))
				if err != nil {
					t.Fatal(err)
				}
				dbv, err := (&bnBetaGradOp{opID: op.ids.next("dbeta"), pg: pg}).Do(dgv)
				if err != nil {
					t.Fatal(err)
				}
				ig := &bnInputGradOp{opID: op.ids.next("dx"), pg: pg}
				dxv, err := ig.Do(xv, dense32(slices.Clone(dy), rows, width), dense32(gamma, c), dgv)
				if err != nil {
					t.Fatal(err)
				}
				return y, slices.Clone(dxv.(*tensor.Dense).Float32s()),
					slices.Clone(dgv.(*tensor.Dense).Float32s()), slices.Clone(dbv.(*tensor.Dense).Float32s())
			}
			newStats := func() (rm, rv, tracked []float32) {
				rm, rv = make([]float32, c), make([]float32, c)
				fill(rv, 1)
				return rm, rv, []float32{0}
			}

			grouped := newGroupedBatchNormOp(new(idSource), c, plane, groups, true)
			grouped.runMean, grouped.runVar, grouped.tracked = newStats()
			y, dx, dg, db := run(grouped, x, dy, n)
			grouped.commit()

			single := newBatchNormOp(new(idSource), c, plane, true)
			single.runMean, single.runVar, single.tracked = newStats()
			wantDg, wantDb := make([]float64, c), make([]float64, c)
			for g := 0; g < groups; g++ {
				lo, hi := g*rows*width, (g+1)*rows*width
				yg, dxg, dgg, dbg := run(single, x[lo:hi], dy[lo:hi], rows)
				single.commit()
				checkClose(t, fmt.Sprintf("group %d output", g), y[lo:hi], f64s(yg), 1e-6, 1e-6)
				checkClose(t, fmt.Sprintf("group %d dx", g), dx[lo:hi], f64s(dxg), 1e-6, 1e-5)
				for ch := range wantDg {
					wantDg[ch] += float64(dgg[ch])
					wantDb[ch] += float64(dbg[ch])
				}
			}
			checkClose(t, "dgamma", dg, wantDg, 1e-6, 1e-5)
			checkClose(t, "dbeta", db, wantDb, 1e-6, 1e-5)
			checkClose(t, "running mean", grouped.runMean, f64s(single.runMean), 1e-7, 1e-6)
			checkClose(t, "running var", grouped.runVar, f64s(single.runVar), 1e-7, 1e-6)
			if grouped.tracked[0] != float32(groups) || single.tracked[0] != float32(groups) {
				t.Errorf("num_batches_tracked %v (grouped), %v (single), want %d", grouped.tracked[0], single.tracked[0], groups)
			}
		})
	}
	op := newGroupedBatchNormOp(new(idSource), 1, 1, 2, true)
	one := []float32{1}
	if _, err := op.Do(dense32([]float32{1, 2, 3}, 3, 1), dense32(one, 1), dense32(one, 1)); err == nil || !strings.Contains(err.Error(), "groups") {
		t.Errorf("3 rows in 2 groups: error %v", err)
	}
}

// f64s converts float32 values to float64.
func f64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// TestConvChunks checks that the convolution ops give the same results
// however the batch is cut into chunks (one sample per product, several
// with a partial last chunk, all in one) and split over goroutines: the
// one-sample chunks are the per-sample products that TestConv2dOp checks
// against the reference, and the forward pass is checked against it here
// too. The shapes are large enough for parallelSamples to use every
// processor.
func TestConvChunks(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 21))
	for _, tc := range []convCase{
		{8, 16, 16, 8, 3, 1, 1},
		{6, 25, 23, 5, 3, 2, 1},
		{4, 12, 12, 6, 5, 1, 2},
	} {
		g := tc.geom(t)
		const n = 9
		opos := g.outPlane()
		if n*g.kdim()*opos < 2*parallelMin {
			t.Fatalf("%v: too small to run in parallel", tc)
		}
		x32, x64 := randF64(rng, n*g.inWidth(), 1)
		w32, w64 := randF64(rng, g.out*g.kdim(), 0.5)
		b32, b64 := randF64(rng, g.out, 0.5)
		dy32, _ := randF64(rng, n*g.outWidth(), 1)
		want := refConv(x64, w64, b64, n, g)
		var refDx, refDw []float32
		for _, cols := range []int{1, 2 * opos, 4*opos - 1, 0, n * opos} {
			name := fmt.Sprintf("%v chunk of %d columns", tc, cols)
			op := newConv2dOp(new(idSource), g, true, true)
			op.chunkCols = cols
			v, err := op.Do(dense32(x32, n, g.inWidth()), dense32(w32, g.out, g.kdim()), dense32(b32, g.out))
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, name+": conv", v.(*tensor.Dense).Float32s(), want, 1e-6, 1e-5)
			dxOp := &convInputGradOp{opID: opID{name: "dx"}, g: g, chunkCols: cols}
			dx, err := dxOp.Do(dense32(w32, g.out, g.kdim()), dense32(dy32, n, g.outWidth()))
			if err != nil {
				t.Fatal(err)
			}
			dwOp := &convFilterGradOp{opID: opID{name: "dw"}, g: g, chunkCols: cols}
			dw, err := dwOp.Do(dense32(x32, n, g.inWidth()), dense32(dy32, n, g.outWidth()))
			if err != nil {
				t.Fatal(err)
			}
			gotDx, gotDw := slices.Clone(dx.(*tensor.Dense).Float32s()), slices.Clone(dw.(*tensor.Dense).Float32s())
			if refDx == nil {
				refDx, refDw = gotDx, gotDw
				continue
			}
			checkClose(t, name+": dx", gotDx, to64(refDx), 1e-5, 1e-5)
			checkClose(t, name+": dW", gotDw, to64(refDw), 1e-4, 1e-5)
		}
	}
}
