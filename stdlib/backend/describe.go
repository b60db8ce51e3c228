package backend

// Describe names the compute backend in use, for `mlpipe version` and run
// records: the autodiff engine, the element type and the BLAS.
func Describe() string {
	return "gorgonia v0.9.18 (TapeMachine, float32), BLAS: " + CurrentBLAS().String()
}
