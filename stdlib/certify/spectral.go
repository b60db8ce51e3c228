package certify

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// SpectralNorm returns the spectral norm σ (the largest singular value) of
// the rows × cols matrix w, stored row-major, and unit singular vectors u
// (rows values) and v (cols values) with w·v = σ·u and wᵀ·u = σ·v.
//
// Where σ is a simple singular value it is differentiable in w and its
// gradient is ∂σ/∂w_ij = u_i·v_j, so a trainer penalising λ·σ adds λ·u·vᵀ
// to the weight's gradient; where σ is repeated (or w is zero), u·vᵀ is
// still a subgradient. The pair (u, v) is defined up to a common sign; it
// is chosen so that the entry of v of largest magnitude (the first one, on
// ties) is positive.
//
// It returns an error if rows or cols is not positive, if len(w) is not
// rows·cols, if w has a NaN or infinite value, or if the singular value
// decomposition fails.
func SpectralNorm(w []float32, rows, cols int) (sigma float64, u, v []float64, err error) {
	a, err := matrix(w, rows, cols)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("certify: spectral norm: %w", err)
	}
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDThin) {
		return 0, nil, nil, errors.New("certify: spectral norm: the singular value decomposition did not converge")
	}
	sigma = svd.Values(nil)[0]
	var um, vm mat.Dense
	svd.UTo(&um)
	svd.VTo(&vm)
	u = mat.Col(nil, 0, &um)
	v = mat.Col(nil, 0, &vm)
	big := 0
	for j, x := range v {
		if math.Abs(x) > math.Abs(v[big]) {
			big = j
		}
	}
	if v[big] < 0 {
		for i := range u {
			u[i] = -u[i]
		}
		for j := range v {
			v[j] = -v[j]
		}
	}
	return sigma, u, v, nil
}

// matrix returns the rows × cols row-major float32 values w as a float64
// matrix, after checking its size and that its values are finite.
func matrix(w []float32, rows, cols int) (*mat.Dense, error) {
	if rows < 1 || cols < 1 {
		return nil, fmt.Errorf("matrix of %d × %d", rows, cols)
	}
	if len(w) != rows*cols {
		return nil, fmt.Errorf("%d values for a matrix of %d × %d", len(w), rows, cols)
	}
	data := make([]float64, len(w))
	for i, x := range w {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil, fmt.Errorf("value %d (row %d, column %d) is %v", i, i/cols, i%cols, x)
		}
		data[i] = float64(x)
	}
	return mat.NewDense(rows, cols, data), nil
}

// largestSingularValue returns the spectral norm of a.
func largestSingularValue(a mat.Matrix) (float64, error) {
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDNone) {
		return 0, errors.New("the singular value decomposition did not converge")
	}
	return svd.Values(nil)[0], nil
}
