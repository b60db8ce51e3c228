package backend

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refOrthogonality is the orthogonality regulariser of z in float64,
// written directly from its definition: the mean over views of the
// squared off-diagonal entries of each view's correlation matrix (with the
// unbiased standard deviation plus 1e-6), over d.
func refOrthogonality(z []float64, views, rows, d int) float64 {
	var total float64
	for a := 0; a < views; a++ {
		x := z[a*rows*d : (a+1)*rows*d]
		zh := make([]float64, rows*d)
		for j := 0; j < d; j++ {
			var m, v float64
			for r := 0; r < rows; r++ {
				m += x[r*d+j]
			}
			m /= float64(rows)
			for r := 0; r < rows; r++ {
				v += (x[r*d+j] - m) * (x[r*d+j] - m)
			}
			s := math.Sqrt(v/float64(rows-1)) + 1e-6
			for r := 0; r < rows; r++ {
				zh[r*d+j] = (x[r*d+j] - m) / s
			}
		}
		for i := 0; i < d; i++ {
			for j := 0; j < d; j++ {
				if i == j {
					continue
				}
				var c float64
				for r := 0; r < rows; r++ {
					c += zh[r*d+i] * zh[r*d+j]
				}
				c /= float64(rows - 1)
				total += c * c
			}
		}
	}
	return total / float64(views) / float64(d)
}

// TestOrthogonality checks the regulariser on a hand-computed example,
// against the float64 reference, and its gradient (which accumulates into
// grad) against central finite differences of the reference.
func TestOrthogonality(t *testing.T) {
	// Hand value: one view of B = 4 rows, d = 2, features x = (1, 2, 3, 4)
	// and y = (1, 3, 2, 4): both have mean 2.5 and unbiased variance 5/3;
	// Σ(x−2.5)(y−2.5) = 2.25 − 0.25 − 0.25 + 2.25 = 4, so the covariance is
	// 4/3, the correlation 0.8 (up to the 1e-6) and O = 2·0.8²/2 = 0.64.
	z := []float32{1, 1, 2, 3, 3, 2, 4, 4}
	var w orthoWork
	grad := make([]float32, len(z))
	got, err := orthogonality(&w, z, 1, 4, 2, 1, grad)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-0.64) > 1e-5 {
		t.Errorf("orthogonality of the hand example = %v, want 0.64", got)
	}
	// Orthogonal features have no penalty.
	if got, _ := orthogonality(&w, []float32{1, 1, 1, -1, -1, 1, -1, -1}, 1, 4, 2, 1, make([]float32, 8)); math.Abs(got) > 1e-12 {
		t.Errorf("orthogonal features: %v, want 0", got)
	}

	rng := rand.New(rand.NewPCG(4, 4))
	for _, tc := range []struct{ views, rows, d int }{{1, 6, 3}, {2, 9, 4}, {3, 12, 5}} {
		n := tc.views * tc.rows * tc.d
		z32 := make([]float32, n)
		z64 := make([]float64, n)
		for i := range z32 {
			z32[i] = float32(rng.NormFloat64())
			if i%tc.d == 1 { // correlate feature 1 with feature 0
				z32[i] = 0.7*z32[i-1] + 0.3*z32[i]
			}
			z64[i] = float64(z32[i])
		}
		const weight = 0.5
		grad := make([]float32, n)
		for i := range grad {
			grad[i] = 1 // accumulates: the result adds to what is there
		}
		got, err := orthogonality(&w, z32, tc.views, tc.rows, tc.d, weight, grad)
		if err != nil {
			t.Fatal(err)
		}
		want := weight * refOrthogonality(z64, tc.views, tc.rows, tc.d)
		if math.Abs(got-want) > 1e-5*math.Abs(want)+1e-7 {
			t.Errorf("%+v: value %v, reference %v", tc, got, want)
		}
		fd := centralDiff(z64, func(v []float64) float64 { return weight * refOrthogonality(v, tc.views, tc.rows, tc.d) })
		for i := range fd {
			fd[i]++ // the 1 grad held before
		}
		checkClose(t, "orthogonality gradient", grad, fd, 1e-5, 1e-3)
	}

	if _, err := orthogonality(&w, []float32{1, 1, 1, 2, 1, 3}, 1, 3, 2, 1, make([]float32, 6)); err == nil {
		t.Error("a constant feature accepted")
	}
	if _, err := orthogonality(&w, z, 1, 3, 2, 1, grad); err == nil {
		t.Error("wrong sizes accepted")
	}
}
