package backend

// Describe names the compute backend in use, for `mlpipe version` and run
// records: the autodiff engine, the BLAS and the element type.
func Describe() string {
	return "gorgonia v0.9.18 (TapeMachine, float32), BLAS: " + blasName
}

// blasName names the BLAS implementation gorgonia uses.
const blasName = "gonum pure Go"
