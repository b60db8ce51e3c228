package backend

import (
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// useBLASFromEnv logs the BLAS a benchmark runs on (TestMain selected it
// from MLPIPE_BLAS: `MLPIPE_BLAS=go go test -bench .` times pure Go).
func useBLASFromEnv(tb testing.TB) {
	tb.Logf("BLAS: %s", CurrentBLAS())
}

// TestOpenBLASMatchesGonum: every transpose case and awkward sizes,
// give gonum's results.
func TestOpenBLASMatchesGonum(t *testing.T) {
	ob, err := loadOpenBLAS()
	if err != nil {
		t.Skipf("OpenBLAS not available: %v", err)
	}
	ref := gonum.Implementation{}
	rng := rand.New(rand.NewPCG(7, 7))
	for _, sz := range [][3]int{{1, 1, 1}, {3, 5, 7}, {64, 10, 784}, {33, 65, 17}, {128, 256, 1}} {
		m, n, k := sz[0], sz[1], sz[2]
		for _, tA := range []blas.Transpose{blas.NoTrans, blas.Trans} {
			for _, tB := range []blas.Transpose{blas.NoTrans, blas.Trans} {
				lda, ldb := max(k, 1), max(n, 1)
				if tA == blas.Trans {
					lda = max(m, 1)
				}
				if tB == blas.Trans {
					ldb = max(k, 1)
				}
				a, b := randF32(rng, m*k), randF32(rng, k*n)
				want := randF32(rng, m*n)
				got := append([]float32(nil), want...)
				ref.Sgemm(tA, tB, m, n, k, 1.5, a, lda, b, ldb, -0.5, want, max(n, 1))
				ob.Sgemm(tA, tB, m, n, k, 1.5, a, lda, b, ldb, -0.5, got, max(n, 1))
				for i := range want {
					if d := got[i] - want[i]; d > 1e-4 || d < -1e-4 {
						t.Fatalf("Sgemm %v %c%c: element %d = %g, want %g", sz, tA, tB, i, got[i], want[i])
					}
				}
				a64, b64 := toF64(a), toF64(b)
				want64 := toF64(want)
				got64 := append([]float64(nil), want64...)
				ref.Dgemm(tA, tB, m, n, k, 1.5, a64, lda, b64, ldb, -0.5, want64, max(n, 1))
				ob.Dgemm(tA, tB, m, n, k, 1.5, a64, lda, b64, ldb, -0.5, got64, max(n, 1))
				for i := range want64 {
					if d := got64[i] - want64[i]; d > 1e-9 || d < -1e-9 {
						t.Fatalf("Dgemm %v %c%c: element %d = %g, want %g", sz, tA, tB, i, got64[i], want64[i])
					}
				}
			}
		}
	}
}

func toF64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// wrongBLAS computes products a little wrong, like a miscompiled kernel.
type wrongBLAS struct{ gonum.Implementation }

func (w wrongBLAS) Sgemm(tA, tB blas.Transpose, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	w.Implementation.Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	c[len(c)/2] += 0.01
}

func TestSelfCheckRefusesWrongResults(t *testing.T) {
	if err := selfCheck(gonum.Implementation{}); err != nil {
		t.Fatalf("the reference fails its own check: %v", err)
	}
	err := selfCheck(wrongBLAS{})
	if err == nil || !strings.Contains(err.Error(), "differs from the reference") {
		t.Fatalf("a wrong BLAS passed the self-check: %v", err)
	}
}

func TestCheckGemmPanics(t *testing.T) {
	for _, tc := range []struct {
		name                                     string
		m, n, k, lenA, lda, lenB, ldb, lenC, ldc int
	}{
		{"short A", 2, 2, 2, 3, 2, 4, 2, 4, 2},
		{"short B", 2, 2, 2, 4, 2, 3, 2, 4, 2},
		{"short C", 2, 2, 2, 4, 2, 4, 2, 3, 2},
		{"small lda", 2, 2, 3, 6, 2, 6, 2, 4, 2},
		{"small ldc", 2, 3, 2, 4, 2, 6, 3, 6, 2},
		{"negative", -1, 2, 2, 4, 2, 4, 2, 4, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("no panic")
				}
			}()
			checkGemm(blas.NoTrans, blas.NoTrans, tc.m, tc.n, tc.k, tc.lenA, tc.lda, tc.lenB, tc.ldb, tc.lenC, tc.ldc)
		})
	}
	checkGemm(blas.NoTrans, blas.NoTrans, 2, 2, 2, 4, 2, 4, 2, 4, 2) // exact sizes pass
}

func TestUseBLAS(t *testing.T) {
	before := CurrentBLAS()
	t.Cleanup(func() {
		UseBLAS(before.Name)
		SetBLASThreads(before.Threads)
	})
	info, err := UseBLAS(BLASGo)
	if err != nil || info.Name != BLASGo || !strings.Contains(Describe(), "gonum pure Go") {
		t.Fatalf("go: %v %v %s", info, err, Describe())
	}
	if _, err := UseBLAS("mkl"); err == nil {
		t.Errorf("an unknown BLAS was accepted")
	}
	auto, err := UseBLAS(BLASAuto)
	if err != nil {
		t.Fatalf("auto never fails: %v", err)
	}
	if _, lerr := loadOpenBLAS(); lerr != nil {
		if auto.Name != BLASGo || auto.Fallback == "" {
			t.Errorf("auto without OpenBLAS: %+v", auto)
		}
		if _, err := UseBLAS(BLASOpenBLAS); err == nil {
			t.Errorf("openblas was accepted without the library")
		}
		return
	}
	if auto.Name != BLASOpenBLAS || auto.Core == "" || !strings.Contains(Describe(), "OpenBLAS") {
		t.Errorf("auto with OpenBLAS installed: %+v, %s", auto, Describe())
	}
	if got := SetBLASThreads(1); got.Threads != 1 {
		t.Errorf("SetBLASThreads(1): %+v", got)
	}
}
