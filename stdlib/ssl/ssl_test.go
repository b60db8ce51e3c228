package ssl

import (
	"errors"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// z is the spec's test input: B = 4, D = 2, columns zero-mean and
// orthogonal (../shared/spec/ssl.md §1(e)).
func z() *mat.Dense { return mat.NewDense(4, 2, []float64{1, 1, 1, -1, -1, 1, -1, -1}) }

func views(n int, f func() *mat.Dense) []*mat.Dense {
	out := make([]*mat.Dense, n)
	for i := range out {
		out[i] = f()
	}
	return out
}

func close(t *testing.T, what string, got, want, tol float64) {
	t.Helper()
	if math.Abs(got-want) > tol {
		t.Errorf("%s = %.12g, want %.12g", what, got, want)
	}
}

// TestSpecVectors checks the hand-computed values of the spec. Each fails
// for a plausible mistake: biased instead of unbiased variance in the joint
// standardisation (diag 1 instead of 7/8: loss 0), per-branch instead of
// joint statistics, no epsilon in the official VICReg (25 instead of 24.75).
func TestSpecVectors(t *testing.T) {
	joint := BarlowTwins{Lambda: 0.005, Norm: Joint}
	official := BarlowTwins{Lambda: 0.0051, Norm: PerBranch, Eps: 1e-5}
	for _, lambda := range []float64{0, 0.005, 1} {
		l, err := BarlowTwins{Lambda: lambda, Norm: Joint}.Loss(views(2, z))
		if err != nil {
			t.Fatal(err)
		}
		close(t, "joint BT, 2 views of Z", l, 0.03125, 1e-15) // D·(1/8)², any λ
	}
	l, _ := official.Loss(views(2, z))
	close(t, "official BT, 2 views of Z", l, 2*sq(1e-5/(1+1e-5)), 1e-15)
	l, _ = joint.Loss(views(4, z))
	close(t, "joint BT v3, 4 views of Z", l, 0.0078125, 1e-15)

	vic := VICReg{Sim: 25, Std: 25, Cov: 1, Eps: 1e-4}
	fast := VICReg{Sim: 25, Std: 25, Cov: 1}
	for _, v := range []VICReg{vic, fast} {
		l, _ = v.Loss(views(2, z))
		close(t, "VICReg, 2 views of Z", l, 0, 1e-15)
	}
	collapsed := func() *mat.Dense { return mat.NewDense(4, 2, []float64{3, -1, 3, -1, 3, -1, 3, -1}) }
	l, _ = fast.Loss(views(2, collapsed))
	close(t, "fastssl VICReg, collapsed", l, 25, 1e-12)
	l, _ = vic.Loss(views(2, collapsed))
	close(t, "official VICReg, collapsed", l, 25*(1-math.Sqrt(1e-4)), 1e-12)
	// Different constants per view add 25·mse.
	other := func() *mat.Dense { return mat.NewDense(4, 2, []float64{4, -1, 4, -1, 4, -1, 4, -1}) }
	l, _ = vic.Loss([]*mat.Dense{collapsed(), other()})
	close(t, "official VICReg, two collapsed views", l, 25*(1-math.Sqrt(1e-4))+25*0.5, 1e-12)
}

// sample is a batch with correlated, non-standardised features, and view
// variants of it.
func sample(seed float64, b, d int) *mat.Dense {
	m := mat.NewDense(b, d, nil)
	for i := range b {
		for j := range d {
			m.Set(i, j, math.Sin(seed+1.3*float64(i)+0.7*float64(j*j))+0.3*float64(j)*math.Cos(float64(i)))
		}
	}
	return m
}

func TestInvariances(t *testing.T) {
	const b, d = 7, 3
	base := []*mat.Dense{sample(0.1, b, d), sample(0.9, b, d), sample(2.3, b, d)}
	losses := map[string]interface {
		Loss([]*mat.Dense) (float64, error)
	}{
		"joint BT":        BarlowTwins{Lambda: 0.01, Norm: Joint},
		"per-branch BT":   BarlowTwins{Lambda: 0.01, Norm: PerBranch, Eps: 1e-5},
		"official VICReg": VICReg{Sim: 25, Std: 25, Cov: 1, Eps: 1e-4},
	}
	transform := func(vs []*mat.Dense, f func(a, i, j int, x float64) (int, int, float64)) []*mat.Dense {
		out := make([]*mat.Dense, len(vs))
		for a, v := range vs {
			out[a] = mat.NewDense(b, d, nil)
			for i := range b {
				for j := range d {
					ni, nj, x := f(a, i, j, v.At(i, j))
					out[a].Set(ni, nj, x)
				}
			}
		}
		return out
	}
	permRows := func(a, i, j int, x float64) (int, int, float64) { return (i + 3) % b, j, x }
	permCols := func(a, i, j int, x float64) (int, int, float64) { return i, (j + 1) % d, x }
	for _, n := range []int{2, 3} {
		vs := base[:n]
		for name, l := range losses {
			want, err := l.Loss(vs)
			if err != nil {
				t.Fatal(err)
			}
			for tname, f := range map[string]func(a, i, j int, x float64) (int, int, float64){"samples": permRows, "features": permCols} {
				got, _ := l.Loss(transform(vs, f))
				close(t, name+", permuted "+tname, got, want, 1e-12)
			}
		}
		// The same per-feature affine map on every view leaves Barlow
		// Twins unchanged (exactly for joint standardisation, negative
		// scales included).
		affine := func(a, i, j int, x float64) (int, int, float64) { return i, j, []float64{-2, 0.5, 3}[j]*x + float64(j) }
		jbt := losses["joint BT"]
		want, _ := jbt.Loss(vs)
		got, _ := jbt.Loss(transform(vs, affine))
		close(t, "joint BT, affine map", got, want, 1e-12)
		// A different positive scale per view: per-branch standardisation
		// removes it (up to its epsilon); joint standardisation does not.
		perView := func(a, i, j int, x float64) (int, int, float64) { return i, j, float64(1+a) * x }
		pbt := losses["per-branch BT"]
		want, _ = pbt.Loss(vs)
		got, _ = pbt.Loss(transform(vs, perView))
		close(t, "per-branch BT, per-view scales", got, want, 1e-4)
		want, _ = jbt.Loss(vs)
		got, _ = jbt.Loss(transform(vs, perView))
		if math.Abs(got-want) < 1e-6 {
			t.Errorf("joint BT with %d views ignored per-view scales (%v = %v): its statistics are not joint", n, got, want)
		}
	}
}

// TestTwoViewBarlowTwinsIsSymmetric checks the spec's two-view reduction:
// the loss of (a, b) equals that of (b, a).
func TestTwoViewBarlowTwinsIsSymmetric(t *testing.T) {
	x, y := sample(0.4, 6, 3), sample(1.7, 6, 3)
	for _, bt := range []BarlowTwins{{Lambda: 0.2, Norm: Joint}, {Lambda: 0.2, Norm: PerBranch, Eps: 1e-5}} {
		l1, _ := bt.Loss([]*mat.Dense{x, y})
		l2, _ := bt.Loss([]*mat.Dense{y, x})
		close(t, string(bt.Norm)+" BT(b, a)", l2, l1, 1e-12)
	}
}

func TestErrors(t *testing.T) {
	bt := BarlowTwins{Lambda: 0.01, Norm: Joint}
	if _, err := bt.Loss(views(1, z)); err == nil {
		t.Error("one view was accepted")
	}
	if _, err := bt.Loss([]*mat.Dense{z(), mat.NewDense(3, 2, nil)}); err == nil {
		t.Error("views of different shapes were accepted")
	}
	constant := func() *mat.Dense { return mat.NewDense(4, 2, []float64{1, 5, 1, 6, 1, 7, 1, 8}) }
	if _, err := bt.Loss(views(2, constant)); !errors.Is(err, ErrConstantFeature) {
		t.Errorf("a constant feature under joint standardisation: %v, want ErrConstantFeature", err)
	}
	if _, err := (BarlowTwins{Norm: "batch"}).Loss(views(2, z)); err == nil {
		t.Error("an unknown normalisation was accepted")
	}
}
