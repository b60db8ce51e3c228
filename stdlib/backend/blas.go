package backend

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
	G "gorgonia.org/gorgonia"
)

// BLAS names a matrix-product implementation for UseBLAS.
type BLAS string

// The BLAS choices.
const (
	// BLASAuto uses OpenBLAS when its shared library can be loaded and
	// computes correctly, and gonum's pure-Go BLAS otherwise.
	BLASAuto BLAS = "auto"
	// BLASOpenBLAS requires OpenBLAS (Debian: libopenblas0 or
	// libopenblas-dev), loaded at run time.
	BLASOpenBLAS BLAS = "openblas"
	// BLASGo is gonum's pure-Go BLAS: always available, 10-15x slower.
	BLASGo BLAS = "go"
)

// BLASInfo describes the BLAS in use.
type BLASInfo struct {
	Name    BLAS   // BLASOpenBLAS or BLASGo
	Library string // the shared library loaded, for OpenBLAS
	Config  string // OpenBLAS's own description of its build
	Core    string // the kernel family OpenBLAS chose for this processor
	Threads int    // OpenBLAS's thread count (0 for pure Go: it uses GOMAXPROCS goroutines)
	// Fallback says why BLASAuto fell back to pure Go, if it did.
	Fallback string
}

// String describes the BLAS in one line for `mlpipe version` and run
// records.
func (b BLASInfo) String() string {
	if b.Name == BLASOpenBLAS {
		return fmt.Sprintf("OpenBLAS (%s, core %s, %d threads; %s)", b.Library, b.Core, b.Threads, b.Config)
	}
	if b.Fallback != "" {
		return "gonum pure Go (" + b.Fallback + ")"
	}
	return "gonum pure Go"
}

// blasState is the process's BLAS choice. gorgonia keeps its BLAS in a
// package variable (gorgonia.Use), so the choice is process-wide by nature;
// this records what was chosen and serialises changes.
var blasState struct {
	sync.Mutex
	info   BLASInfo
	loaded *openBLAS // the loaded library, kept once loaded
}

// UseBLAS selects the BLAS that every graph of the process uses for its
// matrix products (gorgonia.Use) and returns what is in use. BLASAuto never
// fails; BLASOpenBLAS fails when the library cannot be loaded or fails its
// self-check. Call it once at start, before training; the command line does.
// A loaded OpenBLAS is first checked against gonum's pure-Go product on
// random matrices, so a library that computes wrong results on this
// processor (as some older builds do) is refused, never used.
func UseBLAS(choice BLAS) (BLASInfo, error) {
	blasState.Lock()
	defer blasState.Unlock()
	switch choice {
	case BLASGo:
		G.Use(gonum.Implementation{})
		blasState.info = BLASInfo{Name: BLASGo}
		return blasState.info, nil
	case BLASOpenBLAS, BLASAuto:
		ob, err := loadOpenBLASChecked()
		if err != nil {
			if choice == BLASOpenBLAS {
				return blasState.info, err
			}
			G.Use(gonum.Implementation{})
			blasState.info = BLASInfo{Name: BLASGo, Fallback: err.Error()}
			return blasState.info, nil
		}
		G.Use(ob)
		blasState.info = ob.info()
		return blasState.info, nil
	}
	return blasState.info, fmt.Errorf("backend: unknown BLAS %q (want auto, openblas or go)", choice)
}

// CurrentBLAS returns the BLAS in use: pure Go until UseBLAS selects
// another.
func CurrentBLAS() BLASInfo {
	blasState.Lock()
	defer blasState.Unlock()
	if blasState.info.Name == "" {
		return BLASInfo{Name: BLASGo}
	}
	if blasState.info.Name == BLASOpenBLAS && blasState.loaded != nil {
		return blasState.loaded.info()
	}
	return blasState.info
}

// SetBLASThreads sets the number of threads OpenBLAS uses (when it is in
// use) and returns the BLAS now in use. Pure Go follows GOMAXPROCS.
func SetBLASThreads(n int) BLASInfo {
	blasState.Lock()
	ob := blasState.loaded
	blasState.Unlock()
	if ob != nil && n > 0 {
		ob.setThreads(n)
	}
	return CurrentBLAS()
}

// loadOpenBLASChecked loads OpenBLAS once and checks its products.
func loadOpenBLASChecked() (*openBLAS, error) {
	if blasState.loaded != nil {
		return blasState.loaded, nil
	}
	ob, err := loadOpenBLAS()
	if err != nil {
		return nil, err
	}
	if err := selfCheck(ob); err != nil {
		return nil, fmt.Errorf("OpenBLAS %s (core %s) refused: %w", ob.library, ob.core(), err)
	}
	blasState.loaded = ob
	return ob, nil
}

// errNoOpenBLAS is returned when OpenBLAS cannot be loaded.
var errNoOpenBLAS = errors.New("OpenBLAS not found (install it with: apt-get install -y libopenblas-dev)")

// selfCheck compares b's Sgemm and Dgemm with gonum's on random matrices
// of awkward sizes, in all four transpose combinations.
func selfCheck(b blas.Float32Level3) error {
	ref := gonum.Implementation{}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sz := range [][3]int{{37, 61, 129}, {128, 300, 64}, {1, 17, 5}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			for _, tB := range []blas.Transpose{blas.NoTrans, blas.Trans} {
				a, b1 := randF32(rng, m*k), randF32(rng, k*n)
				lda, ldb := k, n
				if tA == blas.Trans {
					lda = m
				}
				if tB == blas.Trans {
					ldb = k
				}
				want, got := randF32(rng, m*n), make([]float32, m*n)
				copy(got, want)
				ref.Sgemm(tA, tB, m, n, k, 0.5, a, lda, b1, ldb, 0.25, want, n)
				b.Sgemm(tA, tB, m, n, k, 0.5, a, lda, b1, ldb, 0.25, got, n)
				for i := range want {
					if d := math.Abs(float64(got[i] - want[i])); d > 1e-4*(1+math.Abs(float64(want[i]))) || math.IsNaN(float64(got[i])) {
						return fmt.Errorf("sgemm %dx%dx%d (%c%c) differs from the reference at %d: %g vs %g", m, n, k, tA, tB, i, got[i], want[i])
					}
				}
			}
		}
	}
	return nil
}

func randF32(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.Float64()*2 - 1)
	}
	return out
}

// checkGemm panics, as gonum does, on arguments that would make a C BLAS
// read or write outside the slices.
func checkGemm(tA, tB blas.Transpose, m, n, k, lenA, lda, lenB, ldb, lenC, ldc int) {
	if tA != blas.NoTrans && tA != blas.Trans || tB != blas.NoTrans && tB != blas.Trans {
		panic("backend: bad transpose")
	}
	if m < 0 || n < 0 || k < 0 {
		panic("backend: negative dimension")
	}
	rowA, colA := m, k
	if tA == blas.Trans {
		rowA, colA = k, m
	}
	rowB, colB := k, n
	if tB == blas.Trans {
		rowB, colB = n, k
	}
	if lda < max(1, colA) || ldb < max(1, colB) || ldc < max(1, n) {
		panic("backend: bad leading dimension")
	}
	if m == 0 || n == 0 {
		return
	}
	if (rowA > 0 && lenA < lda*(rowA-1)+colA) || (rowB > 0 && lenB < ldb*(rowB-1)+colB) || lenC < ldc*(m-1)+n {
		panic("backend: slice too short")
	}
}

// Sgemm computes C = A·B for row-major float32 matrices A (m×k), B (k×n)
// and C (m×n) with the BLAS every graph uses (see UseBLAS); benchmarks time
// the machine's matrix-product peak through it.
func Sgemm(m, n, k int, a, b, c []float32) {
	checkGemm(blas.NoTrans, blas.NoTrans, m, n, k, len(a), max(k, 1), len(b), max(n, 1), len(c), max(n, 1))
	G.WhichBLAS().Sgemm(blas.NoTrans, blas.NoTrans, m, n, k, 1, a, max(k, 1), b, max(n, 1), 0, c, max(n, 1))
}
