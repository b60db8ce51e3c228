package certify

import (
	"fmt"
	"math"
	"testing"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// denseOperator returns the matrix (outputs × inputs, row-major) of the
// linear map x ↦ f(x) − f(0) of m, column j being the image of the j-th
// basis vector, computed with backend.Predict.
func denseOperator(t *testing.T, m *backend.Model) (a []float64, rows, cols int) {
	t.Helper()
	cols, rows = m.Arch.InputWidth(), m.Arch.OutputWidth()
	x := make([]float32, (cols+1)*cols) // the basis, then 0
	for j := range cols {
		x[j*cols+j] = 1
	}
	y := predict(t, m, x, cols+1)
	zero := y[cols*rows:]
	a = make([]float64, rows*cols)
	for j := range cols {
		for i := range rows {
			a[i*cols+j] = float64(y[j*rows+i]) - float64(zero[i])
		}
	}
	return a, rows, cols
}

// TestConvBoundDenseMatrix checks the convolution bound against the exact
// norm of the convolution's matrix, built by applying the backend's
// convolution to basis vectors: the bound must not be below it, and not
// far above it.
func TestConvBoundDenseMatrix(t *testing.T) {
	for i, c := range []struct {
		c, h, w, out, k, s, p int
		loose                 float64 // the largest bound/norm accepted
	}{
		{1, 5, 5, 1, 3, 1, 0, 1.5},
		{2, 5, 5, 3, 3, 1, 1, 1.5},
		{2, 6, 5, 2, 3, 2, 1, 2},
		{1, 4, 4, 2, 2, 2, 0, 1 + 1e-9}, // non-overlapping windows
		{3, 5, 4, 2, 1, 1, 0, 1 + 1e-9}, // 1×1: exact
		{2, 3, 3, 2, 1, 2, 1, 1 + 1e-9},
		{2, 7, 7, 2, 5, 1, 2, 1.5},
		{1, 6, 6, 1, 3, 3, 0, 1 + 1e-9},
		{2, 5, 5, 2, 3, 1, 3, 1.5}, // padding larger than the kernel
		{1, 3, 3, 1, 3, 1, 2, 1.5},
		{2, 8, 3, 3, 3, 2, 0, 2},
		{1, 1, 1, 2, 1, 4, 2, 1}, // every window reads padding only: constant
	} {
		name := fmt.Sprintf("conv %d→%d, kernel %d, stride %d, padding %d on %d×%d", c.c, c.out, c.k, c.s, c.p, c.h, c.w)
		arch := backend.Arch{
			{Kind: backend.Conv2d, In: c.c, Out: c.out, Kernel: c.k, Stride: c.s, Padding: c.p, InShape: [3]int{c.c, c.h, c.w}},
			{Kind: backend.Flatten},
		}
		for seed := range int64(3) {
			m := initModel(t, arch, seed+int64(10*i))
			a, rows, cols := denseOperator(t, m)
			exact := exactNorm(t, a, rows, cols)
			l, err := Bound(m)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			f := l.Layers[0]
			// The dense matrix comes from float32 arithmetic.
			if f.Bound < exact*(1-1e-5) {
				t.Errorf("%s, seed %d: bound %v below the exact norm %v (%s)", name, seed, f.Bound, exact, f.Method)
			}
			if f.Bound > exact*c.loose*(1+1e-5) {
				t.Errorf("%s, seed %d: bound %v is %.3g times the exact norm %v (%s)", name, seed, f.Bound, f.Bound/exact, exact, f.Method)
			}
			if f.Exact && math.Abs(f.Bound-exact) > 1e-5*exact {
				t.Errorf("%s, seed %d: exact bound %v, norm %v", name, seed, f.Bound, exact)
			}
			t.Logf("%s, seed %d: bound/norm %.4f (%s)", name, seed, f.Bound/exact, f.Method)
		}
	}
}

// TestConvDFTBoundCirculant checks convDFTBound against the norm of the
// explicit matrix of the circular correlation on the torus.
func TestConvDFTBoundCirculant(t *testing.T) {
	rng := newRNG(3)
	for _, c := range []struct {
		in, out, k, nh, nw int
		tap                int // if positive, the weight is 1 at this tap only
	}{
		{1, 1, 1, 3, 3, 0}, {1, 1, 2, 4, 3, 0}, {2, 3, 3, 5, 4, 0}, {3, 2, 3, 3, 3, 0}, {2, 2, 2, 6, 2, 0}, {1, 2, 4, 4, 5, 0},
		{2, 2, 3, 7, 6, 0}, {1, 1, 3, 8, 8, 0}, {1, 1, 3, 6, 6, 4}, {1, 1, 3, 7, 5, 5}, {1, 1, 2, 5, 5, 3},
	} {
		w := f64(randF32(rng, c.out*c.in*c.k*c.k, 1))
		if c.tap > 0 {
			clear(w)
			w[c.tap] = 1
		}
		rows, cols := c.out*c.nh*c.nw, c.in*c.nh*c.nw
		a := make([]float64, rows*cols)
		for o := range c.out {
			for i := range c.nh {
				for j := range c.nw {
					r := (o*c.nh+i)*c.nw + j
					for ch := range c.in {
						for da := range c.k {
							for db := range c.k {
								col := (ch*c.nh+(i+da)%c.nh)*c.nw + (j+db)%c.nw
								a[r*cols+col] += w[((o*c.in+ch)*c.k+da)*c.k+db]
							}
						}
					}
				}
			}
		}
		want := exactNorm(t, a, rows, cols)
		got, err := convDFTBound(w, c.in, c.out, c.k, c.nh, c.nw)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(got-want) > 1e-9*want {
			t.Errorf("%+v: DFT bound %v, circulant norm %v", c, got, want)
		}
	}
}

// TestCoverage checks coverage against direct counts of the windows of
// backend-valid geometries.
func TestCoverage(t *testing.T) {
	for _, c := range []struct{ size, k, s, p, want int }{
		{5, 3, 1, 0, 3}, {5, 3, 2, 0, 2}, {5, 3, 2, 1, 2}, {4, 2, 2, 0, 1}, {6, 3, 3, 0, 1},
		{7, 5, 1, 2, 5}, {3, 3, 1, 0, 1}, {2, 3, 1, 1, 2}, {1, 1, 1, 2, 1}, {1, 1, 4, 2, 0}, {1, 1, 100, 5, 0},
	} {
		n := (c.size+2*c.p-c.k)/c.s + 1
		if got := coverage(c.size, c.k, c.s, c.p, n); got != c.want {
			t.Errorf("coverage(%d, kernel %d, stride %d, padding %d) = %d, want %d", c.size, c.k, c.s, c.p, got, c.want)
		}
		if got := coverage(c.size, c.k, c.s, c.p, n); got > (c.k+c.s-1)/c.s {
			t.Errorf("coverage %d above ⌈k/s⌉", got)
		}
	}
}

// TestMaxPoolBoundAttained checks that the max pool bound is reached by
// the pair of its proof (an input indicator at a most-covered position,
// and the same raised there), through the backend's max pool, and that
// random pairs stay below it.
func TestMaxPoolBoundAttained(t *testing.T) {
	for _, c := range []struct{ h, w, k, s, p int }{
		{5, 5, 3, 1, 0}, {5, 5, 3, 2, 1}, {4, 4, 2, 2, 0}, {6, 5, 2, 1, 1}, {7, 7, 5, 2, 2}, {3, 4, 3, 1, 1},
	} {
		name := fmt.Sprintf("max pool %d, stride %d, padding %d on %d×%d", c.k, c.s, c.p, c.h, c.w)
		m := initModel(t, backend.Arch{
			{Kind: backend.Conv2d, In: 1, Out: 1, Kernel: 1, InShape: [3]int{1, c.h, c.w}},
			{Kind: backend.MaxPool2d, Kernel: c.k, Stride: c.s, Padding: c.p},
			{Kind: backend.Flatten},
		}, 1)
		setParam(t, m, "0.weight", []float32{1})
		l, err := Bound(m)
		if err != nil {
			t.Fatal(err)
		}
		// Count by brute force how many windows hold each position.
		oh, ow := (c.h+2*c.p-c.k)/c.s+1, (c.w+2*c.p-c.k)/c.s+1
		count := make([]int, c.h*c.w)
		for i := range oh {
			for j := range ow {
				for a := i*c.s - c.p; a < i*c.s-c.p+c.k; a++ {
					for b := j*c.s - c.p; b < j*c.s-c.p+c.k; b++ {
						if a >= 0 && a < c.h && b >= 0 && b < c.w {
							count[a*c.w+b]++
						}
					}
				}
			}
		}
		best := 0
		for q := range count {
			if count[q] > count[best] {
				best = q
			}
		}
		want := math.Sqrt(float64(count[best]))
		if math.Abs(l.Bound-want) > 1e-12 {
			t.Errorf("%s: bound %v, want √%d", name, l.Bound, count[best])
		}
		x := make([]float32, 2*c.h*c.w)
		x[best], x[c.h*c.w+best] = 1, 1.5
		if ratio := checkPairs(t, name, m, l.Bound, x[:c.h*c.w], x[c.h*c.w:]); math.Abs(ratio-want) > 1e-6 {
			t.Errorf("%s: ratio of the extremal pair %v, want %v", name, ratio, want)
		}
		a, b := randomPairs(newRNG(4), 200, c.h*c.w)
		checkPairs(t, name, m, l.Bound, a, b)
	}
}
