package backend

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"

	"github.com/mlpipe/mlpipe/stdlib/ssl"
)

// sslConfigs are every Kind × MultiView × Standardize combination, with
// their reference settings (Lambda, Eps and the VICReg coefficients vary so
// that each term matters).
func sslConfigs() []SSLLoss {
	var out []SSLLoss
	for _, mv := range []string{SSLPairs, SSLMean} {
		out = append(out,
			SSLLoss{Kind: SSLBarlowTwins, MultiView: mv, Lambda: 0.3, Standardize: SSLStandardizeBatchNorm, Eps: 1e-5},
			SSLLoss{Kind: SSLBarlowTwins, MultiView: mv, Lambda: 0.3, Standardize: SSLStandardizeStd, Eps: 1e-6},
			SSLLoss{Kind: SSLBarlowTwins, MultiView: mv, Lambda: 0.3, Standardize: SSLStandardizeJoint},
			SSLLoss{Kind: SSLVICReg, MultiView: mv, Sim: 25, Var: 25, Cov: 1, Gamma: 1, VarEps: 1e-4},
		)
	}
	// λ = 0 (no products) and a non-default VICReg.
	out = append(out,
		SSLLoss{Kind: SSLBarlowTwins, MultiView: SSLPairs, Lambda: 0, Standardize: SSLStandardizeStd, Eps: 0.01},
		SSLLoss{Kind: SSLBarlowTwins, MultiView: SSLMean, Lambda: 0, Standardize: SSLStandardizeJoint, Eps: 0.01},
		SSLLoss{Kind: SSLVICReg, MultiView: SSLMean, Sim: 3, Var: 7, Cov: 5, Gamma: 1.1, VarEps: 0},
		SSLLoss{Kind: SSLVICReg, MultiView: "", Sim: 3, Var: 7, Cov: 5, Gamma: 0.9, VarEps: 0.01},
	)
	return out
}

// sslName names a configuration in test messages.
func sslName(l SSLLoss) string {
	mv := l.MultiView
	if mv == "" {
		mv = "default"
	}
	if l.Kind == SSLBarlowTwins {
		return fmt.Sprintf("bt/%s/%s/λ%g", mv, l.Standardize, l.Lambda)
	}
	return fmt.Sprintf("vicreg/%s/%g,%g,%g/γ%g/ε%g", mv, l.Sim, l.Var, l.Cov, l.Gamma, l.VarEps)
}

// sslReference is the float64 loss of stdlib/ssl for l, on z (A·B rows of D).
func sslReference(l SSLLoss, z []float64, a, b, d int) (float64, error) {
	views := make([]*mat.Dense, a)
	for x := range views {
		views[x] = mat.NewDense(b, d, append([]float64(nil), z[x*b*d:(x+1)*b*d]...))
	}
	mv := ssl.Pairs
	if l.MultiView == SSLMean {
		mv = ssl.MeanView
	}
	if l.Kind == SSLVICReg {
		if l.Gamma == 0 {
			return 0, errors.New("the reference reads Gamma 0 as 1")
		}
		return ssl.VICReg{Sim: l.Sim, Std: l.Var, Cov: l.Cov, Eps: l.VarEps, Gamma: l.Gamma, MultiView: mv}.Loss(views)
	}
	norm := map[string]ssl.Normalization{
		SSLStandardizeBatchNorm: ssl.PerBranch,
		SSLStandardizeStd:       ssl.Std,
		SSLStandardizeJoint:     ssl.Joint,
	}[l.Standardize]
	return ssl.BarlowTwins{Lambda: l.Lambda, Norm: norm, Eps: l.Eps, MultiView: mv}.Loss(views)
}

// sslInput returns A views of B×D embeddings of magnitude about 1: a shared,
// correlated base (so that the off-diagonal terms matter) plus a little
// noise per view, with per-feature offsets and standard deviations
// alternating below and above 1 (VICReg's hinge active on some features,
// inactive on others, in every view and every mean of views).
func sslInput(seed uint64, a, b, d int) []float32 {
	rng := rand.New(rand.NewPCG(seed, 7))
	base := make([]float64, b*d)
	mix := make([]float64, d*d)
	for i := range mix {
		mix[i] = rng.NormFloat64() * 0.5
	}
	for j := range d {
		mix[j*d+j] += 1
	}
	g := make([]float64, d)
	for i := range b {
		for j := range g {
			g[j] = rng.NormFloat64()
		}
		for j := range d {
			var s float64
			for k := range d {
				s += g[k] * mix[k*d+j]
			}
			base[i*d+j] = s
		}
	}
	targets := []float64{0.45, 1.9, 0.6, 1.6, 0.5, 2.2}
	for j := range d {
		var m, ss float64
		for i := range b {
			m += base[i*d+j]
		}
		m /= float64(b)
		for i := range b {
			ss += (base[i*d+j] - m) * (base[i*d+j] - m)
		}
		sd := math.Sqrt(ss / float64(b-1))
		for i := range b {
			base[i*d+j] = (base[i*d+j]-m)/sd*targets[j%len(targets)] + 0.3*float64(j)
		}
	}
	z := make([]float32, a*b*d)
	for x := range a {
		for k, v := range base {
			z[x*b*d+k] = float32(v + 0.08*rng.NormFloat64()*math.Abs(v))
		}
	}
	return z
}

func sslF64s(z []float32) []float64 {
	out := make([]float64, len(z))
	for i, v := range z {
		out[i] = float64(v)
	}
	return out
}

var sslPaths = []struct {
	name string
	path sslPath
}{{"auto", sslPathAuto}, {"features", sslPathFeatures}, {"samples", sslPathSamples}}

// TestSSLLossMatchesReference compares LossGrad's value with stdlib/ssl's
// for every configuration, 2 to 4 views and both ways of computing the
// off-diagonal terms.
func TestSSLLossMatchesReference(t *testing.T) {
	for _, l := range sslConfigs() {
		for _, a := range []int{2, 3, 4} {
			for _, p := range sslPaths {
				b, d := 8+2*a, 3+a
				l.Views = a
				z := sslInput(uint64(10*a+len(l.Standardize)), a, b, d)
				want, err := sslReference(l, sslF64s(z), a, b, d)
				if err != nil {
					t.Fatal(err)
				}
				w := &SSLWork{path: p.path}
				grad := make([]float32, len(z))
				got, err := l.LossGrad(w, z, b, d, grad)
				if err != nil {
					t.Fatalf("%s A=%d %s: %v", sslName(l), a, p.name, err)
				}
				if math.Abs(got-want) > 1e-5*math.Abs(want) {
					t.Errorf("%s A=%d %s: loss %.9g, reference %.9g (relative error %.2g)", sslName(l), a, p.name, got, want, math.Abs(got-want)/math.Abs(want))
				}
			}
		}
	}
}

// TestSSLLossGradient compares LossGrad's gradient with central finite
// differences of the float64 reference, coordinate by coordinate:
// |g − fd| <= 1e-3·|fd| + 1e-6·max|fd| (the second term only matters for
// coordinates whose derivative is nearly 0).
func TestSSLLossGradient(t *testing.T) {
	const h = 1e-5
	for _, l := range sslConfigs() {
		for _, a := range []int{2, 3, 4} {
			b, d := 9+a, 3+a%3
			l.Views = a
			z := sslInput(uint64(100+a), a, b, d)
			zf := sslF64s(z)
			if l.Kind == SSLVICReg {
				sslCheckHingeMargins(t, l, zf, a, b, d)
			}
			fd := make([]float64, len(z))
			var scale float64
			for k := range zf {
				orig := zf[k]
				zf[k] = orig + h
				up, err := sslReference(l, zf, a, b, d)
				if err != nil {
					t.Fatal(err)
				}
				zf[k] = orig - h
				down, _ := sslReference(l, zf, a, b, d)
				zf[k] = orig
				fd[k] = (up - down) / (2 * h)
				scale = max(scale, math.Abs(fd[k]))
			}
			for _, p := range sslPaths[1:] {
				w := &SSLWork{path: p.path}
				grad := make([]float32, len(z))
				if _, err := l.LossGrad(w, z, b, d, grad); err != nil {
					t.Fatalf("%s A=%d %s: %v", sslName(l), a, p.name, err)
				}
				var worst float64 // max of error / allowed error
				for k, g := range grad {
					e := math.Abs(float64(g)-fd[k]) / (1e-3*math.Abs(fd[k]) + 1e-6*scale)
					if e > 1 {
						t.Errorf("%s A=%d %s: dL/dz[%d] = %.7g, finite differences %.7g", sslName(l), a, p.name, k, g, fd[k])
						break
					}
					worst = max(worst, e)
				}
				if testing.Verbose() {
					t.Logf("%s A=%d %s: worst error %.2g of the allowed", sslName(l), a, p.name, worst)
				}
			}
		}
	}
}

// sslCheckHingeMargins makes sure no standard deviation that VICReg's hinge
// sees (each view's, and each mean of the other views') is within 0.1 of
// Gamma, where finite differences would straddle the kink, and that the
// hinge is active for some features and inactive for others.
func sslCheckHingeMargins(t *testing.T, l SSLLoss, z []float64, a, b, d int) {
	t.Helper()
	var below, above int
	check := func(x func(i, j int) float64) {
		for j := range d {
			var m, ss float64
			for i := range b {
				m += x(i, j)
			}
			m /= float64(b)
			for i := range b {
				ss += (x(i, j) - m) * (x(i, j) - m)
			}
			s := math.Sqrt(ss/float64(b-1) + l.VarEps)
			if math.Abs(s-l.Gamma) < 0.1 {
				t.Fatalf("test input: a standard deviation %.3f is too close to gamma %g", s, l.Gamma)
			}
			if s < l.Gamma {
				below++
			} else {
				above++
			}
		}
	}
	for x := range a {
		check(func(i, j int) float64 { return z[x*b*d+i*d+j] })
		check(func(i, j int) float64 {
			var s float64
			for y := range a {
				if y != x {
					s += z[y*b*d+i*d+j]
				}
			}
			return s / float64(a-1)
		})
	}
	if below == 0 || above == 0 {
		t.Fatalf("test input: %d standard deviations below gamma and %d above; want both", below, above)
	}
}

// sslSpecZ is the spec's Z (B = 4, D = 2) repeated for a views.
func sslSpecZ(a int, rows []float32) []float32 {
	var z []float32
	for range a {
		z = append(z, rows...)
	}
	return z
}

// TestSSLLossSpecVectors runs the hand-computed values of spec §1(e)
// through LossGrad. They catch a missing standardisation (Z already has
// unit biased variance, but joint and std give diag 7/8 and 3/4), a
// cross-correlation divided by B−1 (diag 7/6 and 1, loss 0.0556 and 0),
// biased variance in the joint standardisation (loss 0) and a missing
// VarEps (25 instead of 24.75).
func TestSSLLossSpecVectors(t *testing.T) {
	z := []float32{1, 1, 1, -1, -1, 1, -1, -1}
	collapsed := []float32{3, -1, 3, -1, 3, -1, 3, -1}
	bt := func(views int, mv, std string, lambda, eps float64) SSLLoss {
		return SSLLoss{Kind: SSLBarlowTwins, Views: views, MultiView: mv, Standardize: std, Lambda: lambda, Eps: eps}
	}
	vic := func(views int, mv string, eps float64) SSLLoss {
		return SSLLoss{Kind: SSLVICReg, Views: views, MultiView: mv, Sim: 25, Var: 25, Cov: 1, Gamma: 1, VarEps: eps}
	}
	for _, tc := range []struct {
		name string
		l    SSLLoss
		rows []float32
		want float64
		tol  float64
	}{
		// Joint: diag (AB−1)/AB = 7/8, loss D·(1/8)², any λ.
		{"fastssl BT λ=0", bt(2, SSLMean, SSLStandardizeJoint, 0, 0), z, 0.03125, 1e-7},
		{"fastssl BT λ=0.005", bt(2, SSLMean, SSLStandardizeJoint, 0.005, 0), z, 0.03125, 1e-7},
		{"fastssl BT λ=1", bt(2, SSLMean, SSLStandardizeJoint, 1, 0), z, 0.03125, 1e-7},
		{"joint pairs BT", bt(2, SSLPairs, SSLStandardizeJoint, 0.005, 0), z, 0.03125, 1e-7},
		// Official BT: diag 1/(1+1e-5), loss D·(1e-5/(1+1e-5))² ≈ 2e-10.
		{"official BT", bt(2, SSLPairs, SSLStandardizeBatchNorm, 0.0051, 1e-5), z, 2 * math.Pow(1e-5/(1+1e-5), 2), 1e-11},
		// fastssl v3, 4 views: (1/A)·A·D·(1/16)².
		{"fastssl BT v3", bt(4, SSLMean, SSLStandardizeJoint, 0.0078125, 0), z, 0.0078125, 1e-7},
		// Std, Eps 0: ẑ = Z·√3/2, diag 3/4: D·(1/4)².
		{"std BT", bt(3, SSLPairs, SSLStandardizeStd, 0.005, 0), z, 0.125, 1e-7},
		{"VICReg pairs", vic(2, SSLPairs, 1e-4), z, 0, 1e-7},
		{"VICReg mean", vic(2, SSLMean, 1e-4), z, 0, 1e-7},
		{"fastssl VICReg", vic(2, SSLMean, 0), z, 0, 1e-7},
		{"fastssl VICReg, collapsed", vic(2, SSLMean, 0), collapsed, 25, 1e-6},
		{"official VICReg, collapsed", vic(2, SSLMean, 1e-4), collapsed, 24.75, 1e-6},
		{"pairs VICReg, collapsed", vic(4, SSLPairs, 1e-4), collapsed, 24.75, 1e-6},
		{"fastssl VICReg, collapsed, 3 views", vic(3, SSLMean, 0), collapsed, 25, 1e-6},
	} {
		for _, p := range sslPaths {
			in := sslSpecZ(tc.l.Views, tc.rows)
			grad := make([]float32, len(in))
			got, err := tc.l.LossGrad(&SSLWork{path: p.path}, in, 4, 2, grad)
			if err != nil {
				t.Errorf("%s, %s: %v", tc.name, p.name, err)
				continue
			}
			if math.Abs(got-tc.want) > tc.tol {
				t.Errorf("%s, %s: loss %.12g, want %.12g", tc.name, p.name, got, tc.want)
			}
			for i, g := range grad {
				if math.IsNaN(float64(g)) || math.IsInf(float64(g), 0) {
					t.Errorf("%s, %s: gradient[%d] = %v", tc.name, p.name, i, g)
				}
			}
		}
	}
}

// sslPeerBT transcribes torch_ssl_peer.py's bt(zs, lam) in float64: std(z) =
// (z − mean)/(unbiased std + 1e-6) per view, and the mean over pairs i < j
// of Σ(diag(c) − 1)² + lam·Σ off(c)², c = std(z_i)ᵀstd(z_j)/B.
func sslPeerBT(zs [][][]float64, lam float64) float64 {
	std := func(z [][]float64) [][]float64 {
		b, d := len(z), len(z[0])
		out := make([][]float64, b)
		for i := range out {
			out[i] = make([]float64, d)
		}
		for j := range d {
			var m, ss float64
			for i := range b {
				m += z[i][j]
			}
			m /= float64(b)
			for i := range b {
				ss += (z[i][j] - m) * (z[i][j] - m)
			}
			s := math.Sqrt(ss/float64(b-1)) + 1e-6
			for i := range b {
				out[i][j] = (z[i][j] - m) / s
			}
		}
		return out
	}
	var tot float64
	k := 0
	for i := range zs {
		for j := i + 1; j < len(zs); j++ {
			x, y := std(zs[i]), std(zs[j])
			b, d := len(x), len(x[0])
			for p := range d {
				for q := range d {
					var c float64
					for r := range b {
						c += x[r][p] * y[r][q]
					}
					c /= float64(b)
					if p == q {
						tot += (c - 1) * (c - 1)
					} else {
						tot += lam * c * c
					}
				}
			}
			k++
		}
	}
	return tot / float64(k)
}

// sslPeerVICReg transcribes torch_ssl_peer.py's vicreg(zs).
func sslPeerVICReg(zs [][][]float64) float64 {
	n := len(zs)
	b, d := len(zs[0]), len(zs[0][0])
	var inv float64
	for i := range zs {
		for j := i + 1; j < n; j++ {
			var s float64
			for r := range b {
				for c := range d {
					s += (zs[i][r][c] - zs[j][r][c]) * (zs[i][r][c] - zs[j][r][c])
				}
			}
			inv += s / float64(b*d)
		}
	}
	inv /= float64(n*(n-1)) / 2
	var vr, cv float64
	for _, z := range zs {
		zc := make([][]float64, b)
		for r := range zc {
			zc[r] = make([]float64, d)
		}
		for c := range d {
			var m float64
			for r := range b {
				m += z[r][c]
			}
			m /= float64(b)
			var ss float64
			for r := range b {
				zc[r][c] = z[r][c] - m
				ss += zc[r][c] * zc[r][c]
			}
			vr += math.Max(0, 1-math.Sqrt(ss/float64(b-1)+1e-4)) / float64(d)
		}
		for p := range d {
			for q := range d {
				if p == q {
					continue
				}
				var k float64
				for r := range b {
					k += zc[r][p] * zc[r][q]
				}
				k /= float64(b - 1)
				cv += k * k / float64(d)
			}
		}
	}
	return 25*inv + 25*vr/float64(n) + cv/float64(n)
}

func sslNested(z []float32, a, b, d int) [][][]float64 {
	out := make([][][]float64, a)
	for x := range out {
		out[x] = make([][]float64, b)
		for i := range out[x] {
			out[x][i] = sslF64s(z[(x*b+i)*d : (x*b+i+1)*d])
		}
	}
	return out
}

// TestSSLLossPeerRecipe checks that the std/pairs Barlow Twins and the
// pairs VICReg are torch_ssl_peer.py's bt() and vicreg().
func TestSSLLossPeerRecipe(t *testing.T) {
	for _, a := range []int{2, 3, 4} {
		for _, p := range sslPaths {
			b, d := 16, 6
			z := sslInput(uint64(a), a, b, d)
			w := &SSLWork{path: p.path}
			grad := make([]float32, len(z))
			bt := SSLLoss{Kind: SSLBarlowTwins, Views: a, MultiView: SSLPairs, Standardize: SSLStandardizeStd, Eps: 1e-6, Lambda: 0.005}
			got, err := bt.LossGrad(w, z, b, d, grad)
			if err != nil {
				t.Fatal(err)
			}
			if want := sslPeerBT(sslNested(z, a, b, d), 0.005); math.Abs(got-want) > 1e-5*want {
				t.Errorf("A=%d %s: BT %.9g, peer bt() %.9g", a, p.name, got, want)
			}
			vic := SSLLoss{Kind: SSLVICReg, Views: a, Sim: 25, Var: 25, Cov: 1, Gamma: 1, VarEps: 1e-4}
			got, err = vic.LossGrad(w, z, b, d, grad)
			if err != nil {
				t.Fatal(err)
			}
			if want := sslPeerVICReg(sslNested(z, a, b, d)); math.Abs(got-want) > 1e-5*want {
				t.Errorf("A=%d %s: VICReg %.9g, peer vicreg() %.9g", a, p.name, got, want)
			}
		}
	}
}

func TestSSLLossErrors(t *testing.T) {
	good := SSLLoss{Kind: SSLBarlowTwins, Views: 2, Standardize: SSLStandardizeStd, Lambda: 0.005, Eps: 1e-6}
	vic := SSLLoss{Kind: SSLVICReg, Views: 2, Sim: 25, Var: 25, Cov: 1, Gamma: 1, VarEps: 1e-4}
	for _, tc := range []struct {
		l    SSLLoss
		want string
	}{
		{func() SSLLoss { l := good; l.Views = 1; return l }(), "1 view, want at least 2"},
		{func() SSLLoss { l := good; l.Views = 0; return l }(), "0 views, want at least 2"},
		{func() SSLLoss { l := good; l.Kind = "simclr"; return l }(), `unknown kind "simclr"`},
		{func() SSLLoss { l := good; l.MultiView = "all"; return l }(), `unknown multi-view mode "all"`},
		{func() SSLLoss { l := good; l.Standardize = "bn"; return l }(), `unknown standardisation "bn"`},
		{func() SSLLoss { l := good; l.Standardize = ""; return l }(), `unknown standardisation ""`},
		{func() SSLLoss { l := good; l.Lambda = -1; return l }(), "lambda is -1"},
		{func() SSLLoss { l := good; l.Eps = math.NaN(); return l }(), "eps is NaN"},
		{func() SSLLoss { l := vic; l.Sim = -1; return l }(), "sim is -1"},
		{func() SSLLoss { l := vic; l.Var = math.Inf(1); return l }(), "var is +Inf"},
		{func() SSLLoss { l := vic; l.Cov = -0.5; return l }(), "cov is -0.5"},
		{func() SSLLoss { l := vic; l.Gamma = -1; return l }(), "gamma is -1"},
		{func() SSLLoss { l := vic; l.VarEps = -1e-4; return l }(), "var eps is -0.0001"},
		{func() SSLLoss { l := vic; l.Orthogonality = -1; return l }(), "orthogonality is -1"},
	} {
		err := tc.l.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "backend: ssl loss: ") {
			t.Errorf("Validate(%+v) = %v, want an error containing %q", tc.l, err, tc.want)
		}
		z := make([]float32, 2*4*2)
		if _, err := tc.l.LossGrad(&SSLWork{}, z, 4, 2, make([]float32, len(z))); err == nil {
			t.Errorf("LossGrad accepted %+v", tc.l)
		}
	}
	if err := good.Validate(); err != nil {
		t.Errorf("Validate(%+v): %v", good, err)
	}
	if err := vic.Validate(); err != nil {
		t.Errorf("Validate(%+v): %v", vic, err)
	}

	z := sslInput(1, 2, 4, 3)
	grad := make([]float32, len(z))
	for _, tc := range []struct {
		name    string
		w       *SSLWork
		z       []float32
		rows, d int
		grad    []float32
		want    string
	}{
		{"nil work", nil, z, 4, 3, grad, "nil work"},
		{"rows < 2", &SSLWork{}, z[:6], 1, 3, grad[:6], "1 rows per view"},
		{"d < 1", &SSLWork{}, z, 4, 0, grad, "0 features"},
		{"short z", &SSLWork{}, z[:len(z)-1], 4, 3, grad[:len(z)-1], "23 values for 2 views of 4 rows of 3"},
		{"wrong rows", &SSLWork{}, z, 3, 3, grad, "24 values for 2 views of 3 rows of 3"},
		{"short grad", &SSLWork{}, z, 4, 3, grad[:5], "gradient of 5 values"},
	} {
		if _, err := good.LossGrad(tc.w, tc.z, tc.rows, tc.d, tc.grad); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error containing %q", tc.name, err, tc.want)
		}
	}

	// A constant feature (feature 1 of every view, or of view 1 only) with
	// Eps 0 cannot be standardised: an error wrapping ErrNonFinite, never
	// a NaN. With Eps > 0 it is a number.
	constant := func(views ...int) []float32 {
		c := sslInput(2, 2, 6, 3)
		for _, x := range views {
			for i := range 6 {
				c[(x*6+i)*3+1] = 0.7
			}
		}
		return c
	}
	for _, std := range []string{SSLStandardizeJoint, SSLStandardizeStd, SSLStandardizeBatchNorm} {
		for _, views := range [][]int{{0, 1}, {1}} {
			for _, p := range sslPaths {
				c := constant(views...)
				l := SSLLoss{Kind: SSLBarlowTwins, Views: 2, Standardize: std, Lambda: 0.1}
				g := make([]float32, len(c))
				loss, err := l.LossGrad(&SSLWork{path: p.path}, c, 6, 3, g)
				perView := std != SSLStandardizeJoint
				if perView || len(views) == 2 {
					if !errors.Is(err, ErrNonFinite) || math.IsNaN(loss) {
						t.Errorf("%s, eps 0, constant feature in views %v: %v, %v; want an error wrapping ErrNonFinite", std, views, loss, err)
					}
				} else if err != nil { // joint: constant in one view only is fine
					t.Errorf("%s, constant feature in view 1 only: %v", std, err)
				}
				l.Eps = 1e-3
				loss, err = l.LossGrad(&SSLWork{path: p.path}, c, 6, 3, g)
				if err != nil || math.IsNaN(loss) {
					t.Errorf("%s, eps 1e-3, constant feature in views %v: %v, %v; want a number", std, views, loss, err)
				}
			}
		}
	}
	// VICReg without VarEps on a constant feature: finite loss, zero
	// hinge gradient (fastssl would give NaN).
	c := constant(0, 1)
	g := make([]float32, len(c))
	l := SSLLoss{Kind: SSLVICReg, Views: 2, MultiView: SSLMean, Sim: 25, Var: 25, Cov: 1, Gamma: 1}
	if loss, err := l.LossGrad(&SSLWork{}, c, 6, 3, g); err != nil || math.IsNaN(loss) {
		t.Errorf("VICReg, VarEps 0, constant feature: %v, %v", loss, err)
	}

	// Non-finite embeddings.
	for _, bad := range []float32{float32(math.NaN()), float32(math.Inf(-1)), 3e38} {
		for _, l := range sslConfigs() {
			l.Views = 2
			z := sslInput(3, 2, 6, 3)
			z[7] = bad
			if _, err := l.LossGrad(&SSLWork{}, z, 6, 3, make([]float32, len(z))); !errors.Is(err, ErrNonFinite) {
				if bad == 3e38 && l.Kind == SSLBarlowTwins {
					continue // a large finite value standardises fine
				}
				t.Errorf("%s with an embedding %v: %v, want an error wrapping ErrNonFinite", sslName(l), bad, err)
			}
		}
	}
}

// TestSSLLossAllocs checks that calls after the first allocate nothing.
func TestSSLLossAllocs(t *testing.T) {
	for _, l := range sslConfigs() {
		for _, p := range sslPaths {
			for _, a := range []int{2, 3} {
				l.Views = a
				b, d := 12, 5
				z := sslInput(4, a, b, d)
				grad := make([]float32, len(z))
				w := &SSLWork{path: p.path}
				if _, err := l.LossGrad(w, z, b, d, grad); err != nil {
					t.Fatal(err)
				}
				if n := testing.AllocsPerRun(10, func() { _, _ = l.LossGrad(w, z, b, d, grad) }); n != 0 {
					t.Errorf("%s A=%d %s: %v allocations per call", sslName(l), a, p.name, n)
				}
			}
		}
	}
}

// TestSSLLossWorkReuse checks that one SSLWork serves calls of different
// sizes and configurations in turn with the results of fresh ones.
func TestSSLLossWorkReuse(t *testing.T) {
	shared := &SSLWork{}
	for round := range 2 {
		for i, l := range sslConfigs() {
			a, b, d := 2+i%3, 6+i, 2+i%4
			l.Views = a
			z := sslInput(uint64(i), a, b, d)
			g1, g2 := make([]float32, len(z)), make([]float32, len(z))
			want, err1 := l.LossGrad(&SSLWork{}, z, b, d, g1)
			got, err2 := l.LossGrad(shared, z, b, d, g2)
			if err1 != nil || err2 != nil || got != want {
				t.Fatalf("round %d, %s: %v, %v with shared work; %v, %v fresh", round, sslName(l), got, err2, want, err1)
			}
			for k := range g1 {
				if g1[k] != g2[k] {
					t.Fatalf("round %d, %s: gradient[%d] %v with shared work, %v fresh", round, sslName(l), k, g2[k], g1[k])
				}
			}
		}
	}
}

func BenchmarkSSLLossGrad(b *testing.B) {
	const rows = 256
	for _, l := range []SSLLoss{
		{Kind: SSLBarlowTwins, MultiView: SSLPairs, Standardize: SSLStandardizeStd, Lambda: 0.005, Eps: 1e-6},
		{Kind: SSLBarlowTwins, MultiView: SSLMean, Standardize: SSLStandardizeJoint, Lambda: 0.005},
		{Kind: SSLVICReg, MultiView: SSLPairs, Sim: 25, Var: 25, Cov: 1, Gamma: 1, VarEps: 1e-4},
		{Kind: SSLVICReg, MultiView: SSLMean, Sim: 25, Var: 25, Cov: 1, Gamma: 1, VarEps: 1e-4},
	} {
		for _, d := range []int{64, 512} {
			for _, a := range []int{2, 4} {
				l.Views = a
				name := fmt.Sprintf("%s-%s/D=%d/A=%d", l.Kind, l.MultiView, d, a)
				b.Run(name, func(b *testing.B) {
					z := sslInput(5, a, rows, d)
					grad := make([]float32, len(z))
					w := &SSLWork{}
					runtime.GC()
					for b.Loop() {
						if _, err := l.LossGrad(w, z, rows, d, grad); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
