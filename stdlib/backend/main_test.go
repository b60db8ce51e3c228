package backend

import (
	"flag"
	"fmt"
	"os"
	"testing"
)

// TestMain runs the package's tests on the BLAS named by MLPIPE_BLAS
// (default auto: OpenBLAS when installed), so CI runs every op and
// gradient test on both OpenBLAS and gonum's pure-Go BLAS.
func TestMain(m *testing.M) {
	flag.Parse()
	choice := BLAS(os.Getenv("MLPIPE_BLAS"))
	if choice == "" {
		choice = BLASAuto
	}
	info, err := UseBLAS(choice)
	if err != nil {
		fmt.Fprintf(os.Stderr, "backend tests: %v\n", err)
		os.Exit(2)
	}
	if testing.Verbose() {
		fmt.Fprintf(os.Stderr, "backend tests on BLAS: %s\n", info)
	}
	os.Exit(m.Run())
}
