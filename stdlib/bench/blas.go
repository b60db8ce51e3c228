package bench

import "github.com/mlpipe/mlpipe/stdlib/backend"

// backendSgemm returns a function computing C = A·B for row-major float32
// matrices (A m×k, B k×n, C m×n) with the BLAS mlpipe's backend uses for
// its matrix products.
func backendSgemm() (func(m, n, k int, a, b, c []float32), error) {
	return backend.Sgemm, nil
}
