package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// backendFlags are the root flags that choose the compute backend.
type backendFlags struct {
	blas    string
	threads int
}

func (f *backendFlags) register(cmd *cobra.Command) {
	def := os.Getenv("MLPIPE_BLAS")
	if def == "" {
		def = string(backend.BLASAuto)
	}
	cmd.PersistentFlags().StringVar(&f.blas, "blas", def, "matrix products: `auto` (OpenBLAS when installed), openblas or go; default $MLPIPE_BLAS or auto")
	cmd.PersistentFlags().IntVar(&f.threads, "threads", 0, "compute threads (GOMAXPROCS and OpenBLAS's); 0: all cores, or OPENBLAS_NUM_THREADS for OpenBLAS")
}

// setup selects the BLAS and the thread counts, once, before computing.
func (f *backendFlags) setup() (backend.BLASInfo, error) {
	if f.threads < 0 {
		return backend.BLASInfo{}, fmt.Errorf("--threads must be >= 0, got %d", f.threads)
	}
	if f.threads > 0 {
		runtime.GOMAXPROCS(f.threads)
	}
	info, err := backend.UseBLAS(backend.BLAS(f.blas))
	if err != nil {
		return info, err
	}
	if f.threads > 0 {
		info = backend.SetBLASThreads(f.threads)
	}
	return info, nil
}
