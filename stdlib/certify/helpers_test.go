package certify

import (
	"context"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// newRNG returns a deterministic generator for test data.
func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x63657274)) }

// randF32 returns n values drawn from N(0, scale²).
func randF32(rng *rand.Rand, n int, scale float64) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(scale * rng.NormFloat64())
	}
	return x
}

// initModel returns backend.Init(arch, seed), failing the test on error.
func initModel(t testing.TB, arch backend.Arch, seed int64) *backend.Model {
	t.Helper()
	m, err := backend.Init(arch, seed)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// param returns the tensor of m with the given name.
func param(t testing.TB, m *backend.Model, name string) *backend.Tensor {
	t.Helper()
	for i := range m.Params {
		if m.Params[i].Name == name {
			return &m.Params[i]
		}
	}
	t.Fatalf("model has no tensor %q", name)
	return nil
}

// perturbBatchNorms gives every batch norm of m random weights, biases and
// running statistics (positive variances), so that eval mode is not the
// identity.
func perturbBatchNorms(m *backend.Model, rng *rand.Rand) {
	for i := range m.Params {
		p := &m.Params[i]
		switch {
		case strings.HasSuffix(p.Name, ".running_var"):
			for j := range p.Data {
				p.Data[j] = float32(0.2 + 2*rng.Float64())
			}
		case strings.HasSuffix(p.Name, ".running_mean"):
			for j := range p.Data {
				p.Data[j] = float32(rng.NormFloat64())
			}
		}
	}
	for i, l := range m.Arch {
		if l.Kind != backend.BatchNorm1d && l.Kind != backend.BatchNorm2d {
			continue
		}
		for _, name := range []string{"weight", "bias"} {
			p := &m.Params[slices.IndexFunc(m.Params, func(p backend.Tensor) bool { return p.Name == strconv.Itoa(i)+"."+name })]
			for j := range p.Data {
				p.Data[j] = float32(1.5 * rng.NormFloat64())
			}
		}
	}
}

// predict returns m's eval-mode logits for the n rows of x, as
// backend.Predict computes them.
func predict(t testing.TB, m *backend.Model, x []float32, n int) []float32 {
	t.Helper()
	out, err := backend.Predict(context.Background(), m, x, n, max(n, 1))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// dist2 returns ‖a − b‖₂ in float64.
func dist2[T float32 | float64](a, b []T) float64 {
	s := 0.0
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		s += d * d
	}
	return math.Sqrt(s)
}

// norm2 returns ‖a‖₂.
func norm2(a []float64) float64 {
	s := 0.0
	for _, x := range a {
		s += x * x
	}
	return math.Sqrt(s)
}

// exactNorm returns the largest singular value of the rows × cols
// row-major float64 matrix a, as the square root of the largest
// eigenvalue of aᵀa (a route independent of SpectralNorm's SVD).
func exactNorm(t testing.TB, a []float64, rows, cols int) float64 {
	t.Helper()
	d := mat.NewDense(rows, cols, a)
	var g mat.SymDense
	g.SymOuterK(1, d.T())
	var eig mat.EigenSym
	if !eig.Factorize(&g, false) {
		t.Fatal("eigendecomposition failed")
	}
	return math.Sqrt(max(slices.Max(eig.Values(nil)), 0))
}

// svdNorm returns the largest singular value of a by gonum's SVD.
func svdNorm(t testing.TB, a []float64, rows, cols int) float64 {
	t.Helper()
	var svd mat.SVD
	if !svd.Factorize(mat.NewDense(rows, cols, a), mat.SVDNone) {
		t.Fatal("SVD failed")
	}
	return svd.Values(nil)[0]
}

// f64 converts float32 values to float64.
func f64(x []float32) []float64 {
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = float64(v)
	}
	return y
}

// argmax returns the index of the first largest value.
func argmax(row []float32) int {
	best := 0
	for i, v := range row {
		if v > row[best] {
			best = i
		}
	}
	return best
}
