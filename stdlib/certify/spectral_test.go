package certify

import (
	"math"
	"strings"
	"testing"
)

// checkSingularTriple checks that u and v are unit vectors with W·v = σ·u
// and Wᵀ·u = σ·v, and that v's largest entry (the first on ties) is
// positive.
func checkSingularTriple(t *testing.T, w []float32, rows, cols int, sigma float64, u, v []float64) {
	t.Helper()
	if len(u) != rows || len(v) != cols {
		t.Fatalf("len(u), len(v) = %d, %d, want %d, %d", len(u), len(v), rows, cols)
	}
	if math.Abs(norm2(u)-1) > 1e-12 || math.Abs(norm2(v)-1) > 1e-12 {
		t.Errorf("‖u‖ = %v, ‖v‖ = %v, want 1", norm2(u), norm2(v))
	}
	wv, wtu := make([]float64, rows), make([]float64, cols)
	for i := range rows {
		for j := range cols {
			wv[i] += float64(w[i*cols+j]) * v[j]
			wtu[j] += float64(w[i*cols+j]) * u[i]
		}
	}
	for i := range wv {
		wv[i] -= sigma * u[i]
	}
	for j := range wtu {
		wtu[j] -= sigma * v[j]
	}
	if e := norm2(wv); e > 1e-12*max(sigma, 1) {
		t.Errorf("‖W·v − σ·u‖ = %g", e)
	}
	if e := norm2(wtu); e > 1e-12*max(sigma, 1) {
		t.Errorf("‖Wᵀ·u − σ·v‖ = %g", e)
	}
	big := 0
	for j := range v {
		if math.Abs(v[j]) > math.Abs(v[big])+1e-12 {
			big = j
		}
	}
	if v[big] <= 0 {
		t.Errorf("largest entry of v is v[%d] = %v, want positive", big, v[big])
	}
}

func TestSpectralNormRandom(t *testing.T) {
	rng := newRNG(1)
	for _, c := range []struct{ rows, cols int }{
		{1, 1}, {1, 6}, {6, 1}, {2, 2}, {3, 7}, {8, 4}, {10, 10}, {20, 13}, {5, 40},
	} {
		for trial := range 3 {
			w := randF32(rng, c.rows*c.cols, 1)
			sigma, u, v, err := SpectralNorm(w, c.rows, c.cols)
			if err != nil {
				t.Fatal(err)
			}
			want := exactNorm(t, f64(w), c.rows, c.cols)
			if svd := svdNorm(t, f64(w), c.rows, c.cols); math.Abs(svd-want) > 1e-10*want {
				t.Fatalf("%d×%d: SVD %v and eigenvalue %v routes disagree", c.rows, c.cols, svd, want)
			}
			if math.Abs(sigma-want) > 1e-10*want {
				t.Errorf("%d×%d trial %d: σ = %v, want %v", c.rows, c.cols, trial, sigma, want)
			}
			checkSingularTriple(t, w, c.rows, c.cols, sigma, u, v)
		}
	}
}

func TestSpectralNormHandValues(t *testing.T) {
	third := float32(1.0 / 3)
	for _, c := range []struct {
		name       string
		w          []float32
		rows, cols int
		sigma      float64
		u, v       []float64
	}{
		{"1×1 negative", []float32{-2}, 1, 1, 2, []float64{-1}, []float64{1}},
		{"diag(3, −5, 2)", []float32{3, 0, 0, 0, -5, 0, 0, 0, 2}, 3, 3, 5, []float64{0, -1, 0}, []float64{0, 1, 0}},
		{"diag 2×3", []float32{1, 0, 0, 0, 0.5, 0}, 2, 3, 1, []float64{1, 0}, []float64{1, 0, 0}},
		// 4·u·vᵀ with u = (0.6, 0.8), v = (1, 2, 2)/3.
		{"rank one", []float32{4 * 0.6 * third, 4 * 0.6 * 2 * third, 4 * 0.6 * 2 * third, 4 * 0.8 * third, 4 * 0.8 * 2 * third, 4 * 0.8 * 2 * third}, 2, 3, 4,
			[]float64{0.6, 0.8}, []float64{1.0 / 3, 2.0 / 3, 2.0 / 3}},
		// 4·u·vᵀ with u = (0.6, −0.8), v = −(1, 2, −2)/3: the sign makes
		// v's first largest entry, v[1], positive, so the pair flips.
		{"rank one, flipped", []float32{-4 * 0.6 * third, -4 * 0.6 * 2 * third, 4 * 0.6 * 2 * third, 4 * 0.8 * third, 4 * 0.8 * 2 * third, -4 * 0.8 * 2 * third}, 2, 3, 4,
			[]float64{-0.6, 0.8}, []float64{1.0 / 3, 2.0 / 3, -2.0 / 3}},
		{"zero", []float32{0, 0, 0, 0}, 2, 2, 0, nil, nil},
	} {
		sigma, u, v, err := SpectralNorm(c.w, c.rows, c.cols)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if math.Abs(sigma-c.sigma) > 1e-6 {
			t.Errorf("%s: σ = %v, want %v", c.name, sigma, c.sigma)
		}
		if c.u == nil {
			if math.Abs(norm2(u)-1) > 1e-12 || math.Abs(norm2(v)-1) > 1e-12 {
				t.Errorf("%s: u, v = %v, %v are not unit vectors", c.name, u, v)
			}
			continue
		}
		if dist2(u, c.u) > 1e-6 || dist2(v, c.v) > 1e-6 {
			t.Errorf("%s: u, v = %v, %v, want %v, %v", c.name, u, v, c.u, c.v)
		}
		checkSingularTriple(t, c.w, c.rows, c.cols, sigma, u, v)
	}
}

// TestSpectralNormGradient checks ∂σ/∂W_ij = u_i·v_j against central
// differences of σ.
func TestSpectralNormGradient(t *testing.T) {
	rng := newRNG(2)
	for _, c := range []struct{ rows, cols int }{{1, 4}, {4, 1}, {3, 3}, {4, 6}, {7, 5}} {
		w := randF32(rng, c.rows*c.cols, 1)
		_, u, v, err := SpectralNorm(w, c.rows, c.cols)
		if err != nil {
			t.Fatal(err)
		}
		const h = 1.0 / 512
		for i := range c.rows {
			for j := range c.cols {
				k := i*c.cols + j
				orig := w[k]
				w[k] = orig + h
				up, _, _, _ := SpectralNorm(w, c.rows, c.cols)
				w[k] = orig - h
				down, _, _, _ := SpectralNorm(w, c.rows, c.cols)
				w[k] = orig
				fd := (up - down) / (float64(orig+h) - float64(orig-h))
				if g := u[i] * v[j]; math.Abs(fd-g) > 2e-4 {
					t.Errorf("%d×%d: ∂σ/∂W[%d][%d] = %v, finite difference %v", c.rows, c.cols, i, j, g, fd)
				}
			}
		}
	}
}

func TestSpectralNormErrors(t *testing.T) {
	for _, c := range []struct {
		w          []float32
		rows, cols int
		want       string
	}{
		{nil, 0, 3, "0 × 3"},
		{nil, 2, -1, "2 × -1"},
		{[]float32{1, 2, 3}, 2, 2, "3 values"},
		{[]float32{1, float32(math.NaN()), 3, 4}, 2, 2, "value 1 (row 0, column 1) is NaN"},
		{[]float32{1, 2, 3, float32(math.Inf(-1))}, 2, 2, "is -Inf"},
	} {
		_, _, _, err := SpectralNorm(c.w, c.rows, c.cols)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SpectralNorm(%v, %d, %d) error %v, want one containing %q", c.w, c.rows, c.cols, err, c.want)
		}
	}
}
