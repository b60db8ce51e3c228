package ssl

import (
	"errors"
	"fmt"
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

// Views of the spec's Z used below (B = 4, D = 2):
//
//	Z  = [[1,1],[1,-1],[-1,1],[-1,-1]]  columns zero-mean, orthogonal
//	Zn = Z with column 1 negated        = [[1,-1],[1,1],[-1,-1],[-1,1]]
//	Zs = Z with its columns swapped     = [[1,1],[-1,1],[1,-1],[-1,-1]]
//	W  = both columns Z's column 0      = [[1,1],[1,1],[-1,-1],[-1,-1]]
//
// Every column has mean 0 and Σx² = 4, so its unbiased variance is 4/3,
// its unbiased std 2/√3 and its biased variance 1.
func zn() *mat.Dense { return mat.NewDense(4, 2, []float64{1, -1, 1, 1, -1, -1, -1, 1}) }
func zs() *mat.Dense { return mat.NewDense(4, 2, []float64{1, 1, -1, 1, 1, -1, -1, -1}) }
func wv() *mat.Dense { return mat.NewDense(4, 2, []float64{1, 1, 1, 1, -1, -1, -1, -1}) }

func TestStdAndPairsVectors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bt    BarlowTwins
		views []*mat.Dense
		want  float64
	}{
		// Std, Eps 0: ẑ = Z·√3/2, so C = ẑᵀẑ/4 = (3/4)·I (Σ over 4 rows of
		// 3/4 each, over 4) and the loss is D·(1 - 3/4)² = 2/16, any λ.
		{"std, Z Z", BarlowTwins{Lambda: 0.3, Norm: Std}, views(2, z), 0.125},
		{"std pairs, Z Z", BarlowTwins{Lambda: 0.3, Norm: Std, MultiView: Pairs}, views(2, z), 0.125},
		// Std, Eps 1e-6: s = 2/√3 + 1e-6, C_dd = (1/4)·Σ x²/s² = 1/s².
		{"std eps, Z Z", BarlowTwins{Lambda: 0.3, Norm: Std, Eps: 1e-6}, views(2, z), 2 * sq(1-1/sq(2/math.Sqrt(3)+1e-6))},
		// Pairs of (Z, Z, Zn): C(Z, Z) = (3/4)I gives 0.125; C(Z, Zn) =
		// diag(3/4, -3/4) (column 1 negated, the cross terms Σ z₀z₁ = 0)
		// gives (1/4)² + (7/4)² = 50/16 = 3.125, twice: (0.125 + 6.25)/3.
		{"std pairs, Z Z Zn", BarlowTwins{Lambda: 0.3, Norm: Std, MultiView: Pairs}, []*mat.Dense{z(), z(), zn()}, 2.125},
		// C(Z, Zs) = [[0, 3/4], [3/4, 0]]: on = 1 + 1, off = 2·(9/16), so
		// with λ = 0.5 the pair loss is 2 + 9/16 = 2.5625. Pairs of
		// (Z, Z, Zs): (0.125 + 2·2.5625)/3 = 5.25/3 = 1.75.
		{"std, Z Zs", BarlowTwins{Lambda: 0.5, Norm: Std}, []*mat.Dense{z(), zs()}, 2.5625},
		{"std pairs, Z Z Zs", BarlowTwins{Lambda: 0.5, Norm: Std, MultiView: Pairs}, []*mat.Dense{z(), z(), zs()}, 1.75},
		// PerBranch, Eps 0: ẑ = Z, C(Z, Zs) = [[0,1],[1,0]]: 2 + 2λ = 3
		// for λ = 0.5; pairs of (Z, Zs, Zs): (3 + 3 + 0)/3 = 2.
		{"per-branch pairs, Z Zs Zs", BarlowTwins{Lambda: 0.5, Norm: PerBranch, MultiView: Pairs}, []*mat.Dense{z(), zs(), zs()}, 2},
		// Joint, 4 identical views, pairs: over the A·B = 16 rows Σx² = 16,
		// the unbiased variance is 16/15, so every pair has C = (15/16)I
		// ((AB-1)/AB): 2·(1/16)² = 0.0078125, as fastssl's v3 (spec §1(e) 2).
		{"joint pairs, 4 Z", BarlowTwins{Lambda: 0.3, Norm: Joint, MultiView: Pairs}, views(4, z), 0.0078125},
		// Joint with Eps 0.1, Z Z: over 8 rows the unbiased std is √(8/7),
		// s = √(8/7) + 0.1, C_dd = (1/4)·4/s².
		{"joint eps, Z Z", BarlowTwins{Lambda: 0.3, Norm: Joint, Eps: 0.1}, views(2, z), 2 * sq(1-1/sq(math.Sqrt(8.0/7)+0.1))},
		// v3 with Std, (Z, Z, Zn): z̄ = (2ẑ + ẑn)/3 has column 0 of ẑ and
		// column 1 of ẑ over 3. c_a,d = (ẑ_aᵀz̄)_dd/4: views Z: (3/4, 1/4),
		// view Zn: (3/4, -1/4). on = 2·(1/16 + 9/16) + (1/16 + 25/16) =
		// 46/16; the columns of z̄ stay orthogonal (off = 0): 46/16/3 = 23/24.
		{"std v3, Z Z Zn", BarlowTwins{Lambda: 0.3, Norm: Std}, []*mat.Dense{z(), z(), zn()}, 23.0 / 24},
	} {
		got, err := tc.bt.Loss(tc.views)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		close(t, tc.name, got, tc.want, 1e-12)
	}

	const eps = 1e-4
	for _, tc := range []struct {
		name  string
		v     VICReg
		views []*mat.Dense
		want  float64
	}{
		// Z, Z: no invariance loss, std √(4/3 + eps) > 1, diagonal covariance.
		{"pairs, Z Z", VICReg{Sim: 25, Std: 25, Cov: 1, Eps: eps, MultiView: Pairs}, views(2, z), 0},
		// Z, Zn: column 1 differs by 2·z (squares 4, 4 of 8 entries): mse 2.
		{"pairs, Z Zn", VICReg{Sim: 25, Std: 25, Cov: 1, Eps: eps, MultiView: Pairs}, []*mat.Dense{z(), zn()}, 50},
		{"mean, Z Zn", VICReg{Sim: 25, Std: 25, Cov: 1, Eps: eps}, []*mat.Dense{z(), zn()}, 50},
		// Pairs of (Z, Z, Zn): mse 0, 2, 2, mean 4/3: 25·4/3.
		{"pairs, Z Z Zn", VICReg{Sim: 25, Std: 25, Cov: 1, Eps: eps, MultiView: Pairs}, []*mat.Dense{z(), z(), zn()}, 100.0 / 3},
		// fastssl, (Z, Z, Zn). i = 0 and 1: z2 = (Z + Zn)/2 =
		// [[1,0],[1,0],[-1,0],[-1,0]]: mse 4/8 = 0.5; z2's column 1 is
		// constant: hinge (1 - √eps)/2 = 0.495 over the two features, and
		// the std term (0 + 0.495)/2; no covariance. 12.5 + 25·0.2475 =
		// 18.6875. i = 2: z2 = Z, mse(Zn, Z) = 2: 50. (2·18.6875 + 50)/3.
		{"mean, Z Z Zn", VICReg{Sim: 25, Std: 25, Cov: 1, Eps: eps}, []*mat.Dense{z(), z(), zn()}, 87.375 / 3},
		// Z, W: mse 1 (column 1 differs in rows 2 and 3 by 2: 8/8); cov(W) =
		// WᵀW/3 = (4/3)[[1,1],[1,1]], off = 2·16/9, over D: 16/9; cov(Z)
		// diagonal. Pairs average the two views' terms (8/9), fastssl (the
		// official loss) sums them (16/9).
		{"pairs, Z W", VICReg{Sim: 25, Std: 25, Cov: 1, Eps: eps, MultiView: Pairs}, []*mat.Dense{z(), wv()}, 25 + 8.0/9},
		{"mean, Z W", VICReg{Sim: 25, Std: 25, Cov: 1, Eps: eps}, []*mat.Dense{z(), wv()}, 25 + 16.0/9},
		{"pairs, Z W, cov 2", VICReg{Sim: 25, Std: 25, Cov: 2, Eps: eps, MultiView: Pairs}, []*mat.Dense{z(), wv()}, 25 + 16.0/9},
		// Gamma 2 on Z, Z: every feature's hinge is 2 - √(4/3 + eps).
		{"pairs, gamma 2", VICReg{Sim: 25, Std: 25, Cov: 1, Eps: eps, Gamma: 2, MultiView: Pairs}, views(2, z), 25 * (2 - math.Sqrt(4.0/3+eps))},
		{"mean, gamma 2", VICReg{Sim: 25, Std: 25, Cov: 1, Eps: eps, Gamma: 2}, views(3, z), 25 * (2 - math.Sqrt(4.0/3+eps))},
		// Collapsed views (spec §1(e) 4) under pairs: the hinge is 1 - √eps
		// per feature: 24.75, and 25 without eps.
		{"pairs, collapsed", VICReg{Sim: 25, Std: 25, Cov: 1, Eps: eps, MultiView: Pairs}, views(3, func() *mat.Dense { return mat.NewDense(4, 2, []float64{3, -1, 3, -1, 3, -1, 3, -1}) }), 24.75},
	} {
		got, err := tc.v.Loss(tc.views)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		close(t, "VICReg "+tc.name, got, tc.want, 1e-12)
	}
}

// TestNewModeInvariances checks the invariances of spec §1(e) 5 for the
// Std standardisation and the Pairs modes, and that the pairs and mean
// losses agree where they should.
func TestNewModeInvariances(t *testing.T) {
	const b, d = 9, 3
	base := []*mat.Dense{sample(0.1, b, d), sample(0.9, b, d), sample(2.3, b, d), sample(3.1, b, d)}
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
	permRows := func(a, i, j int, x float64) (int, int, float64) { return (i + 4) % b, j, x }
	permCols := func(a, i, j int, x float64) (int, int, float64) { return i, (j + 2) % d, x }
	affine := func(a, i, j int, x float64) (int, int, float64) {
		return i, j, []float64{-2, 0.5, 3}[j]*x + float64(j) - 1
	}
	shift := func(a, i, j int, x float64) (int, int, float64) { return i, j, x + float64(j) - 1 }
	reverse := func(vs []*mat.Dense) []*mat.Dense {
		out := make([]*mat.Dense, len(vs))
		for i, v := range vs {
			out[len(vs)-1-i] = v
		}
		return out
	}
	type lossFn interface {
		Loss([]*mat.Dense) (float64, error)
	}
	loss := func(l lossFn, vs []*mat.Dense) float64 {
		t.Helper()
		v, err := l.Loss(vs)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, n := range []int{2, 3, 4} {
		vs := base[:n]
		cases := map[string]lossFn{
			"std BT":              BarlowTwins{Lambda: 0.1, Norm: Std},
			"std pairs BT":        BarlowTwins{Lambda: 0.1, Norm: Std, MultiView: Pairs},
			"per-branch pairs BT": BarlowTwins{Lambda: 0.1, Norm: PerBranch, MultiView: Pairs},
			"joint pairs BT":      BarlowTwins{Lambda: 0.1, Norm: Joint, MultiView: Pairs},
			"pairs VICReg":        VICReg{Sim: 25, Std: 25, Cov: 1, Eps: 1e-4, Gamma: 1.3, MultiView: Pairs},
			"mean VICReg":         VICReg{Sim: 25, Std: 25, Cov: 1, Eps: 1e-4, Gamma: 1.3},
		}
		for name, l := range cases {
			want := loss(l, vs)
			close(t, fmt.Sprint(name, n, " permuted samples"), loss(l, transform(vs, permRows)), want, 1e-12)
			close(t, fmt.Sprint(name, n, " permuted features"), loss(l, transform(vs, permCols)), want, 1e-12)
			close(t, fmt.Sprint(name, n, " permuted views"), loss(l, reverse(vs)), want, 1e-12)
			if _, ok := l.(BarlowTwins); ok {
				// With Eps 0 every standardisation removes a per-feature
				// affine map applied to all views, negative scales included.
				close(t, fmt.Sprint(name, n, " affine"), loss(l, transform(vs, affine)), want, 1e-12)
			} else {
				// VICReg is not scale invariant, but a per-feature shift of
				// all views changes no difference and no (co)variance.
				close(t, fmt.Sprint(name, n, " shifted"), loss(l, transform(vs, shift)), want, 1e-12)
			}
		}
		// Std and PerBranch remove a different positive scale per view
		// (Std exactly with Eps 0), Joint does not.
		perView := func(a, i, j int, x float64) (int, int, float64) { return i, j, float64(1+a) * x }
		for _, norm := range []Normalization{Std, PerBranch} {
			l := BarlowTwins{Lambda: 0.1, Norm: norm, MultiView: Pairs}
			close(t, fmt.Sprint(norm, n, " per-view scales"), loss(l, transform(vs, perView)), loss(l, vs), 1e-12)
		}
		if l := (BarlowTwins{Lambda: 0.1, Norm: Joint, MultiView: Pairs}); math.Abs(loss(l, transform(vs, perView))-loss(l, vs)) < 1e-6 {
			t.Errorf("joint pairs BT with %d views ignored per-view scales", n)
		}
	}
	// With two views the pairs and mean losses agree (Barlow Twins), and
	// pairs VICReg is the official (mean) one with the covariance
	// coefficient halved.
	two := base[:2]
	for _, norm := range []Normalization{Std, PerBranch, Joint} {
		p := loss(BarlowTwins{Lambda: 0.1, Norm: norm, MultiView: Pairs}, two)
		m := loss(BarlowTwins{Lambda: 0.1, Norm: norm, MultiView: MeanView}, two)
		close(t, string(norm)+" pairs vs mean, two views", p, m, 1e-12)
	}
	p := loss(VICReg{Sim: 25, Std: 25, Cov: 3, Eps: 1e-4, MultiView: Pairs}, two)
	m := loss(VICReg{Sim: 25, Std: 25, Cov: 1.5, Eps: 1e-4}, two)
	close(t, "VICReg pairs vs official, two views", p, m, 1e-12)
}

func TestNewModeErrors(t *testing.T) {
	constant := func() *mat.Dense { return mat.NewDense(4, 2, []float64{1, 5, 1, 6, 1, 7, 1, 8}) }
	for _, norm := range []Normalization{Std, PerBranch, Joint} {
		bt := BarlowTwins{Lambda: 0.01, Norm: norm, MultiView: Pairs}
		if _, err := bt.Loss(views(2, constant)); !errors.Is(err, ErrConstantFeature) {
			t.Errorf("%s, eps 0, a constant feature: %v, want ErrConstantFeature", norm, err)
		}
		bt.Eps = 1e-3
		if l, err := bt.Loss(views(2, constant)); err != nil || math.IsNaN(l) {
			t.Errorf("%s, eps 1e-3, a constant feature: %v, %v; want a number", norm, l, err)
		}
	}
	if _, err := (BarlowTwins{Norm: Std, MultiView: "all"}).Loss(views(2, z)); err == nil {
		t.Error("an unknown Barlow Twins multi-view mode was accepted")
	}
	if _, err := (VICReg{MultiView: "all"}).Loss(views(2, z)); err == nil {
		t.Error("an unknown VICReg multi-view mode was accepted")
	}
}
