//go:build !cgo

package backend

import (
	"errors"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// openBLAS is unavailable in a build without cgo; the type exists so the
// selection code is the same in both builds.
type openBLAS struct {
	gonum.Implementation
	library string
}

func loadOpenBLAS() (*openBLAS, error) {
	return nil, errors.New("this mlpipe was built without cgo, so it cannot load OpenBLAS")
}

func (ob *openBLAS) info() BLASInfo { return BLASInfo{Name: BLASGo} }
func (ob *openBLAS) core() string   { return "" }
func (ob *openBLAS) setThreads(int) {}

var _ blas.Float32Level3 = (*openBLAS)(nil)
