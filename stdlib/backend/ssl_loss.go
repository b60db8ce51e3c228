package backend

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	G "gorgonia.org/gorgonia"
)

// This file computes the Barlow Twins and VICReg losses of A >= 2 views and
// their gradients by hand, for sslLossOp. The reference (float64, forward
// only, written independently) is package stdlib/ssl; the formulas and test
// vectors are in ../shared/spec/ssl.md.
//
// Layout: z holds A·B rows of D values, row-major, view a in rows
// [a·B, (a+1)·B), so view a is the contiguous B×D block z[a·B·D:]. The
// O(B·D²) products go through float32 BLAS (G.WhichBLAS().Sgemm);
// per-feature statistics, diagonals and sums are float64.
//
// Two ways to compute an off-diagonal term. Every off-diagonal term is
// Σ_{i≠j} (XᵀY)_ij² for B×D matrices X, Y (scaled), whose gradient is
// 2·Y·(XᵀY)_offᵀ for X and 2·X·(XᵀY)_off for Y. It can be computed
//
//   - over features: C = XᵀY (D×D), then the gradient products Y·Cᵀ and
//     X·C (B×D, inner size D): cost ∝ B·D² per product;
//   - over samples: with the Gram matrices K_X = XXᵀ, K_Y = YYᵀ (B×B),
//     ‖XᵀY‖_F² = Σ_ij (K_X)_ij (K_Y)_ij and Y·(XᵀY)ᵀ = K_Y·X, so the
//     gradient is 2·(K_Y·X − Y·diag(XᵀY)): cost ∝ B²·D per product.
//
// The second is cheaper when the projector is wider than the batch (D = 512,
// B = 256), and for Barlow Twins over all pairs of A views it needs only A
// Gram matrices and A products (the gradient of view a is
// (Σ_{b≠a} K_b)·ẑ_a) instead of 3 products per pair. LossGrad takes the
// cheaper by operation count. The diagonals always come from float64 dot
// products, and the over-samples way subtracts their squares from the
// Frobenius norm (an absolute error of about 1e-7·D in the off-diagonal
// sum, negligible next to the diagonal term).

// The names of SSLLoss's settings.
const (
	// SSLBarlowTwins is the Barlow Twins loss (Zbontar et al. 2021).
	SSLBarlowTwins = "barlow_twins"
	// SSLVICReg is the VICReg loss (Bardes et al. 2022).
	SSLVICReg = "vicreg"

	// SSLPairs averages a two-view loss over all pairs of views (as
	// ../shared/bench/torch_ssl_peer.py does); it is the default.
	SSLPairs = "pairs"
	// SSLMean is kumarkrishna/fastssl's multi-view loss, built on the mean
	// of the views.
	SSLMean = "mean"

	// SSLStandardizeBatchNorm standardises each view's features with the
	// biased variance plus Eps under the square root, as the official
	// Barlow Twins' BatchNorm1d(affine=False) in training mode (Eps 1e-5).
	SSLStandardizeBatchNorm = "batchnorm"
	// SSLStandardizeStd standardises each view's features with the
	// unbiased standard deviation plus Eps, as torch_ssl_peer.py's std()
	// (Eps 1e-6).
	SSLStandardizeStd = "std"
	// SSLStandardizeJoint standardises every feature over the rows of all
	// views together with the unbiased standard deviation plus Eps, as
	// fastssl (Eps 0).
	SSLStandardizeJoint = "joint"
)

// SSLLoss configures a non-contrastive self-supervised loss over Views views.
//
// The fields are used as given: zero is zero, not a default. The reference
// values are Lambda 0.0051 (official Barlow Twins) or about 1.5–6.6 over D
// (fastssl's tuned small projectors), Eps 1e-5 (batchnorm), 1e-6 (std) or 0
// (joint), Sim, Var, Cov 25, 25, 1, Gamma 1 and VarEps 1e-4. The fields of
// the other Kind are ignored.
//
// With B rows per view, D features, ẑ_a the standardised view a and
// C_ab = ẑ_aᵀẑ_b / B, the two-view Barlow Twins loss is
// L(C) = Σ_d (1 − C_dd)² + λ Σ_{i≠j} C_ij², and
//
//   - Barlow Twins, "pairs": the mean of L(C_ab) over the pairs a < b
//     (torch_ssl_peer.py's bt());
//   - Barlow Twins, "mean": fastssl's BarlowTwinLoss, L(C_01) for two
//     views, and for A > 2 its "multipatch v3": with z̄ the mean of the A
//     standardised views, (1/A) Σ_a Σ_d ((ẑ_aᵀz̄)_dd/B − 1)² +
//     λ Σ_{i≠j} (z̄ᵀz̄/B)_ij² (not the two-view loss at A = 2);
//   - VICReg, "pairs" (torch_ssl_peer.py's vicreg(), with Gamma and
//     VarEps): Sim·inv + Var·var + Cov·cov, where inv is the mean over the
//     pairs a < b of the mean squared difference of z_a and z_b over its B·D
//     entries, var = (1/A) Σ_a mean_d relu(Gamma − sqrt(var_d(z_a) +
//     VarEps)) with the unbiased variance, and cov = (1/A) Σ_a
//     Σ_{i≠j} K_a,ij² / D with K_a the unbiased covariance of z_a. The
//     official two-view VICReg sums the two views' covariance terms
//     instead of averaging them: it is this loss with Cov doubled (and the
//     "mean" loss with two views);
//   - VICReg, "mean": fastssl's VICRegLoss. With two views it is the
//     official VICReg, Sim·mse(z_0, z_1) + Var·(v(z_0) + v(z_1))/2 +
//     Cov·(c(z_0) + c(z_1)) with v and c the variance and covariance terms
//     of one view above; with A > 2 views it is the sum over i of the same
//     expression for z_i against the mean of the other views, divided by A.
//     fastssl has no epsilon under the square root (VarEps 0 reproduces it).
//
// VICReg uses the embeddings as they are (no standardisation).
type SSLLoss struct {
	// Kind is SSLBarlowTwins or SSLVICReg.
	Kind string
	// Views is the number of views A of each sample, at least 2.
	Views int
	// MultiView is SSLPairs or SSLMean; "" means SSLPairs.
	MultiView string

	// Lambda (Barlow Twins) weighs the off-diagonal term, >= 0.
	Lambda float64
	// Standardize (Barlow Twins) is SSLStandardizeBatchNorm,
	// SSLStandardizeStd or SSLStandardizeJoint.
	Standardize string
	// Eps (Barlow Twins) is the standardisation's epsilon, >= 0: under the
	// square root with the variance for batchnorm, added to the standard
	// deviation for std and joint. With Eps 0, a feature that is constant
	// over its rows makes LossGrad fail (its standardisation is 0/0).
	Eps float64

	// Sim, Var and Cov (VICReg) weigh the invariance, variance and
	// covariance terms, >= 0.
	Sim, Var, Cov float64
	// Gamma (VICReg) is the target standard deviation of the variance
	// hinge, >= 0.
	Gamma float64
	// VarEps (VICReg) is added to the variance under the square root of the
	// variance hinge, >= 0. With VarEps 0 the hinge's gradient at a
	// constant feature is taken as 0 (the square root has none there).
	VarEps float64

	// Orthogonality (either Kind) weighs the orthogonality regulariser
	// that the training op adds to the loss (see orthogonality in
	// ssl_ortho.go), >= 0. LossGrad does not include it.
	Orthogonality float64
}

// Validate reports a setting out of range or an unknown name.
func (l SSLLoss) Validate() error {
	if l.Views < 2 {
		noun := "views"
		if l.Views == 1 {
			noun = "view"
		}
		return fmt.Errorf("backend: ssl loss: %d %s, want at least 2", l.Views, noun)
	}
	if l.Views > 1<<16 {
		return fmt.Errorf("backend: ssl loss: %d views, want at most %d", l.Views, 1<<16)
	}
	switch l.MultiView {
	case "", SSLPairs, SSLMean:
	default:
		return fmt.Errorf("backend: ssl loss: unknown multi-view mode %q (want %q or %q)", l.MultiView, SSLPairs, SSLMean)
	}
	check := func(name string, v float64) error {
		if !(v >= 0) || math.IsInf(v, 1) {
			return fmt.Errorf("backend: ssl loss: %s is %v, want a finite number >= 0", name, v)
		}
		return nil
	}
	if err := check("orthogonality", l.Orthogonality); err != nil {
		return err
	}
	switch l.Kind {
	case SSLBarlowTwins:
		switch l.Standardize {
		case SSLStandardizeBatchNorm, SSLStandardizeStd, SSLStandardizeJoint:
		default:
			return fmt.Errorf("backend: ssl loss: unknown standardisation %q (want %q, %q or %q)",
				l.Standardize, SSLStandardizeBatchNorm, SSLStandardizeStd, SSLStandardizeJoint)
		}
		if err := check("lambda", l.Lambda); err != nil {
			return err
		}
		return check("eps", l.Eps)
	case SSLVICReg:
		for _, c := range []struct {
			name string
			v    float64
		}{{"sim", l.Sim}, {"var", l.Var}, {"cov", l.Cov}, {"gamma", l.Gamma}, {"var eps", l.VarEps}} {
			if err := check(c.name, c.v); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("backend: ssl loss: unknown kind %q (want %q or %q)", l.Kind, SSLBarlowTwins, SSLVICReg)
}

// sslPath chooses how off-diagonal terms are computed (see the top of the
// file); tests force each.
type sslPath int

const (
	sslPathAuto     sslPath = iota
	sslPathFeatures         // D×D products
	sslPathSamples          // B×B Gram matrices
)

// SSLWork holds the buffers of SSLLoss.LossGrad. Its zero value is ready to
// use; it grows to the largest sizes it has seen and is then reused, so
// repeated calls with the same sizes allocate nothing. It is not safe for
// concurrent use.
type SSLWork struct {
	zs   []float32 // A·B·D: the standardised (Barlow Twins) or centred (VICReg) views
	mean []float32 // B·D: z̄ (Barlow Twins) or the mean of the other views (VICReg)
	g1   []float32 // B·D gradient scratch
	g2   []float32 // B·D gradient scratch
	sum  []float32 // B·D: the sum of the views (VICReg "mean")
	e32  []float32 // D column coefficients
	dd   []float32 // D·D product (over features)
	bb   []float32 // Gram matrices (over samples)

	mu, inv, kap, c []float64 // A·D per-feature statistics
	t1, t2          []float64 // D scratch

	path sslPath
}

func sslGrow32(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

func sslGrow64(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// sslGemm computes c = alpha·op(a)·op(b) + beta·c for row-major float32
// matrices, op(a) m×k and op(b) k×n, c with leading dimension n.
func sslGemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32) {
	tA, tB := blas.NoTrans, blas.NoTrans
	if transA {
		tA = blas.Trans
	}
	if transB {
		tB = blas.Trans
	}
	G.WhichBLAS().Sgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, n)
}

// LossGrad returns the loss of z and dL/dz. z holds Views*rows rows of d
// float32 values, row-major, view a occupying rows [a*rows, (a+1)*rows);
// rows >= 2 and d >= 1. grad (len(z)) receives the gradient. w is scratch
// reused between calls (see SSLWork); it must not be nil.
//
// It returns an error for an invalid configuration or sizes, and an error
// wrapping ErrNonFinite when the loss or the gradient is not finite
// (non-finite or overflowing inputs) or a feature cannot be standardised
// (constant over its rows with Eps 0; the loss is then +Inf). After an
// error grad holds no meaningful values.
func (l SSLLoss) LossGrad(w *SSLWork, z []float32, rows, d int, grad []float32) (float64, error) {
	if err := l.Validate(); err != nil {
		return 0, err
	}
	if w == nil {
		return 0, fmt.Errorf("backend: ssl loss: nil work buffers")
	}
	if rows < 2 {
		return 0, fmt.Errorf("backend: ssl loss: %d rows per view, want at least 2", rows)
	}
	if d < 1 {
		return 0, fmt.Errorf("backend: ssl loss: %d features, want at least 1", d)
	}
	if rows > len(z) || d > len(z) || len(z) != l.Views*rows*d {
		return 0, fmt.Errorf("backend: ssl loss: %d values for %d views of %d rows of %d", len(z), l.Views, rows, d)
	}
	if len(grad) != len(z) {
		return 0, fmt.Errorf("backend: ssl loss: gradient of %d values for %d inputs", len(grad), len(z))
	}
	a, b := l.Views, rows
	w.zs = sslGrow32(w.zs, a*b*d)
	for _, s := range []*[]float64{&w.mu, &w.inv, &w.kap, &w.c} {
		*s = sslGrow64(*s, a*d)
	}
	w.t1, w.t2 = sslGrow64(w.t1, d), sslGrow64(w.t2, d)
	w.mean, w.g1, w.g2 = sslGrow32(w.mean, b*d), sslGrow32(w.g1, b*d), sslGrow32(w.g2, b*d)
	w.e32 = sslGrow32(w.e32, d)
	if l.Kind == SSLVICReg && l.MultiView == SSLMean && a > 2 {
		w.sum = sslGrow32(w.sum, b*d)
	}
	clear(grad)

	var loss float64
	var err error
	if l.Kind == SSLBarlowTwins {
		loss, err = l.barlowTwins(w, z, a, b, d, grad)
	} else {
		loss = l.vicreg(w, z, a, b, d, grad)
	}
	if err != nil {
		return loss, err
	}
	var gs float64
	for _, g := range grad {
		gs += float64(g)
	}
	if math.IsNaN(loss) || math.IsInf(loss, 0) || math.IsNaN(gs) || math.IsInf(gs, 0) {
		return loss, fmt.Errorf("backend: ssl loss: loss %v (gradient sum %v) from non-finite or overflowing embeddings: %w", loss, gs, ErrNonFinite)
	}
	return loss, nil
}

// overSamples says whether to compute with B×B Gram matrices, given the
// operation counts of the two ways.
func (w *SSLWork) overSamples(featureCost, sampleCost float64) bool {
	switch w.path {
	case sslPathFeatures:
		return false
	case sslPathSamples:
		return true
	}
	return sampleCost < featureCost
}

// The elementwise kernels below work on row-major matrices of d columns;
// they reslice per row so that the compiler drops the inner bounds checks.

// sslColStats sets mu[j] to the mean of column j of the n×d matrix x and
// m2[j] to the sum of its squared deviations, in one float64 pass over the
// values shifted by the first row (exact 0 for a constant column).
func sslColStats(x []float32, n, d int, mu, m2 []float64) {
	mu, m2 = mu[:d], m2[:d]
	x0 := x[:d]
	clear(mu)
	clear(m2)
	for i := 1; i < n; i++ {
		row := x[i*d : (i+1)*d]
		s1, s2, r0 := mu[:len(row)], m2[:len(row)], x0[:len(row)]
		for j, v := range row {
			e := float64(v) - float64(r0[j])
			s1[j] += e
			s2[j] += e * e
		}
	}
	fn := float64(n)
	for j, s1 := range mu {
		mu[j] = float64(x0[j]) + s1/fn
		m2[j] = max(0, m2[j]-s1*s1/fn)
	}
}

// sslDiagDot sets c[j] = scale · Σ_i x[i,j]·y[i,j] for b×d matrices.
func sslDiagDot(x, y []float32, b, d int, scale float64, c []float64) {
	c = c[:d]
	clear(c)
	for i := range b {
		xr := x[i*d : (i+1)*d]
		yr, cr := y[i*d : (i+1)*d][:len(xr)], c[:len(xr)]
		for j, v := range xr {
			cr[j] += float64(v) * float64(yr[j])
		}
	}
	for j := range c {
		c[j] *= scale
	}
}

// sslAddCols does g[i,j] += e[j]·x[i,j] for b×d matrices, in float32
// (e32 is scratch of length d for e).
func sslAddCols(g, x []float32, b, d int, e []float64, e32 []float32) {
	e32 = e32[:d]
	for j, v := range e[:d] {
		e32[j] = float32(v)
	}
	for i := range b {
		xr := x[i*d : (i+1)*d]
		gr, er := g[i*d : (i+1)*d][:len(xr)], e32[:len(xr)]
		for j, v := range xr {
			gr[j] += er[j] * v
		}
	}
}

// sslAddCols2 does gx += e∘y and gy += e∘x (sslAddCols both ways).
func sslAddCols2(gx, gy, x, y []float32, b, d int, e []float64, e32 []float32) {
	e32 = e32[:d]
	for j, v := range e[:d] {
		e32[j] = float32(v)
	}
	for i := range b {
		xr := x[i*d : (i+1)*d]
		yr, gxr, gyr, er := y[i*d : (i+1)*d][:len(xr)], gx[i*d : (i+1)*d][:len(xr)], gy[i*d : (i+1)*d][:len(xr)], e32[:len(xr)]
		for j, v := range xr {
			gxr[j] += er[j] * yr[j]
			gyr[j] += er[j] * v
		}
	}
}

// sslDot returns Σ x_i·y_i in float64 (four partial sums, so that the loop
// is not bound by the latency of one addition chain).
func sslDot(x, y []float32) float64 {
	y = y[:len(x)]
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i]) * float64(y[i])
		s1 += float64(x[i+1]) * float64(y[i+1])
		s2 += float64(x[i+2]) * float64(y[i+2])
		s3 += float64(x[i+3]) * float64(y[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i]) * float64(y[i])
	}
	return (s0 + s1) + (s2 + s3)
}

// sslAdd does dst += src (same length).
func sslAdd(dst, src []float32) {
	src = src[:len(dst)]
	for i, v := range src {
		dst[i] += v
	}
}

// sslScale does x *= s.
func sslScale(x []float32, s float32) {
	for i := range x {
		x[i] *= s
	}
}

// barlowTwins standardises z into w.zs, accumulates dL/dẑ into grad, and
// turns it into dL/dz (standardiseBackward).
func (l SSLLoss) barlowTwins(w *SSLWork, z []float32, a, b, d int, grad []float32) (float64, error) {
	if err := l.standardise(w, z, a, b, d); err != nil {
		return math.Inf(1), err
	}
	var loss float64
	if l.MultiView == SSLMean && a > 2 {
		loss = l.btMeanView(w, a, b, d, grad)
	} else { // pairs, and fastssl's two-view loss L(C_01)
		loss = l.btPairs(w, a, b, d, grad)
	}
	l.standardiseBackward(w, a, b, d, grad)
	return loss, nil
}

// groups returns the number of row groups that are standardised separately
// and the rows of each: the views, or (joint) all rows at once.
func (l SSLLoss) groups(a, b int) (groups, n int) {
	if l.Standardize == SSLStandardizeJoint {
		return 1, a * b
	}
	return a, b
}

// standardise writes ẑ = (z − μ)/s per group and feature into w.zs, and
// keeps μ, 1/s and the backward coefficient κ (standardiseBackward) in
// w.mu, w.inv, w.kap.
//
// batchnorm: s = sqrt(σ²_biased + eps); std and joint: s = σ_unbiased + eps.
func (l SSLLoss) standardise(w *SSLWork, z []float32, a, b, d int) error {
	ng, n := l.groups(a, b)
	for g := range ng {
		x := z[g*n*d : (g+1)*n*d]
		mu, inv, kap := w.mu[g*d:(g+1)*d], w.inv[g*d:(g+1)*d], w.kap[g*d:(g+1)*d]
		sslColStats(x, n, d, mu, inv) // inv holds the sums of squares for now
		for j := range d {
			var s, k float64
			if l.Standardize == SSLStandardizeBatchNorm {
				s = math.Sqrt(inv[j]/float64(n) + l.Eps)
				k = 1 / (float64(n) * s)
			} else {
				sigma := math.Sqrt(inv[j] / float64(n-1))
				s = sigma + l.Eps
				if sigma > 0 {
					k = 1 / (float64(n-1) * sigma)
				}
			}
			if s == 0 {
				what := fmt.Sprintf("of view %d", g)
				if ng == 1 {
					what = "over all views"
				}
				return fmt.Errorf("backend: ssl loss: feature %d is constant %s and eps is 0, so it cannot be standardised: %w", j, what, ErrNonFinite)
			}
			inv[j], kap[j] = 1/s, k
		}
		out := w.zs[g*n*d : (g+1)*n*d]
		for i := range n {
			xr := x[i*d : (i+1)*d]
			or, m, is := out[i*d : (i+1)*d][:len(xr)], mu[:len(xr)], inv[:len(xr)]
			for j, v := range xr {
				or[j] = float32((float64(v) - m[j]) * is[j])
			}
		}
	}
	return nil
}

// standardiseBackward turns g = dL/dẑ into dL/dz in place. For one group of
// n rows and one feature, x̂_i = (x_i − μ)/s, and
//
//	dL/dx_k = Σ_i g_i ∂x̂_i/∂x_k = (g_k − ḡ)/s − x̂_k · Σ_i g_i x̂_i · κ
//
// since ∂μ/∂x_k = 1/n and ∂s/∂x_k = (x_k − μ)·κ·s, with
//
//   - batchnorm, s = sqrt(Σ(x−μ)²/n + eps): ∂s/∂x_k = (x_k − μ)/(n·s),
//     κ = 1/(n·s) (the usual batch-norm backward);
//   - std and joint, s = σ_u + eps with σ_u² = Σ(x−μ)²/(n−1):
//     ∂s/∂x_k = (x_k − μ)/((n−1)·σ_u), κ = 1/((n−1)·σ_u) (0 for a
//     constant feature, where x̂ ≡ 0 and the term vanishes).
func (l SSLLoss) standardiseBackward(w *SSLWork, a, b, d int, grad []float32) {
	ng, n := l.groups(a, b)
	gm, gs := w.t1[:d], w.t2[:d]
	for g := range ng {
		gg, zh := grad[g*n*d:(g+1)*n*d], w.zs[g*n*d:(g+1)*n*d]
		inv, kap := w.inv[g*d:(g+1)*d], w.kap[g*d:(g+1)*d]
		clear(gm)
		clear(gs)
		for i := range n {
			gr := gg[i*d : (i+1)*d]
			zr, m, s := zh[i*d : (i+1)*d][:len(gr)], gm[:len(gr)], gs[:len(gr)]
			for j, v := range gr {
				m[j] += float64(v)
				s[j] += float64(v) * float64(zr[j])
			}
		}
		for j := range gm {
			gm[j] /= float64(n)
			gs[j] *= kap[j]
		}
		for i := range n {
			gr := gg[i*d : (i+1)*d]
			zr, m, s, is := zh[i*d : (i+1)*d][:len(gr)], gm[:len(gr)], gs[:len(gr)], inv[:len(gr)]
			for j, v := range gr {
				gr[j] = float32((float64(v)-m[j])*is[j] - float64(zr[j])*s[j])
			}
		}
	}
}

// btPairs returns the mean over pairs a < b of L(C_ab) and adds its
// gradient with respect to the standardised views to grad. With
// M = ∂L/∂C (M_dd = −2(1 − C_dd), M_ij = 2λC_ij off the diagonal) and
// C_ab = ẑ_aᵀẑ_b/B: ∂L/∂ẑ_a = ẑ_b·Mᵀ/B, ∂L/∂ẑ_b = ẑ_a·M/B.
func (l SSLLoss) btPairs(w *SSLWork, a, b, d int, grad []float32) float64 {
	pairs := float64(a * (a - 1) / 2)
	bd, fb := b*d, float64(b)
	c := w.c[:d]
	var loss float64
	if l.Lambda == 0 { // only the diagonal: no products
		for x := range a {
			for y := x + 1; y < a; y++ {
				zx, zy := w.zs[x*bd:(x+1)*bd], w.zs[y*bd:(y+1)*bd]
				sslDiagDot(zx, zy, b, d, 1/fb, c)
				for j, v := range c {
					loss += (1 - v) * (1 - v)
					c[j] = -2 * (1 - v) / (pairs * fb)
				}
				sslAddCols2(grad[x*bd:(x+1)*bd], grad[y*bd:(y+1)*bd], zx, zy, b, d, c, w.e32)
			}
		}
		return loss / pairs
	}
	fd := float64(d)
	if !w.overSamples(3*pairs*fb*fd*fd, 2*float64(a)*fb*fb*fd) {
		// Over features: C = ẑ_xᵀẑ_y (D×D), then M = ∂L/∂C/(P·B) in place.
		w.dd = sslGrow32(w.dd, d*d)
		cm := w.dd
		for x := range a {
			for y := x + 1; y < a; y++ {
				zx, zy := w.zs[x*bd:(x+1)*bd], w.zs[y*bd:(y+1)*bd]
				sslGemm(true, false, d, d, b, float32(1/fb), zx, d, zy, d, 0, cm)
				sslDiagDot(zx, zy, b, d, 1/fb, c)
				var on, off float64
				for i := range d {
					row := cm[i*d : (i+1)*d]
					off += sslDot(row, row) - float64(row[i])*float64(row[i])
					on += (1 - c[i]) * (1 - c[i])
					sslScale(row, float32(2*l.Lambda/(pairs*fb)))
					row[i] = float32(-2 * (1 - c[i]) / (pairs * fb))
				}
				loss += on + l.Lambda*off
				sslGemm(false, true, b, d, d, 1, zy, d, cm, d, 1, grad[x*bd:])
				sslGemm(false, false, b, d, d, 1, zx, d, cm, d, 1, grad[y*bd:])
			}
		}
		return loss / pairs
	}
	// Over samples: K_x = ẑ_xẑ_xᵀ for every view, and their sum.
	bb := b * b
	w.bb = sslGrow32(w.bb, (a+1)*bb)
	ksum := w.bb[a*bb : (a+1)*bb]
	for x := range a {
		zx := w.zs[x*bd : (x+1)*bd]
		sslGemm(false, true, b, b, d, 1, zx, d, zx, d, 0, w.bb[x*bb:])
	}
	copy(ksum, w.bb[:bb])
	for x := 1; x < a; x++ {
		sslAdd(ksum, w.bb[x*bb:(x+1)*bb])
	}
	for x := range a {
		for y := x + 1; y < a; y++ {
			zx, zy := w.zs[x*bd:(x+1)*bd], w.zs[y*bd:(y+1)*bd]
			sslDiagDot(zx, zy, b, d, 1/fb, c)
			fro := sslDot(w.bb[x*bb:(x+1)*bb], w.bb[y*bb:(y+1)*bb]) // ‖C_xy‖_F² = Σ K_x ∘ K_y / B²
			var on, diag2 float64
			for j, v := range c {
				on += (1 - v) * (1 - v)
				diag2 += v * v
				// The diagonal part of ẑ_y·Mᵀ/(P·B): the on-diagonal
				// term, minus ẑ_y·diag(2λc) (K_y·ẑ_x includes it).
				c[j] = (-2*(1-v) - 2*l.Lambda*v) / (pairs * fb)
			}
			loss += on + l.Lambda*(fro/(fb*fb)-diag2)
			sslAddCols2(grad[x*bd:(x+1)*bd], grad[y*bd:(y+1)*bd], zx, zy, b, d, c, w.e32)
		}
	}
	// ∂/∂ẑ_x of λ·Σ_y ‖C_xy‖²/P is (2λ/(P·B²))·(Σ_{y≠x} K_y)·ẑ_x; K_x
	// is overwritten by Σ_{y≠x} K_y.
	for x := range a {
		kx := w.bb[x*bb : (x+1)*bb]
		ks := ksum[:len(kx)]
		for i, v := range ks {
			kx[i] = v - kx[i]
		}
		sslGemm(false, false, b, d, b, float32(2*l.Lambda/(pairs*fb*fb)), kx, b, w.zs[x*bd:], d, 1, grad[x*bd:])
	}
	return loss / pairs
}

// btMeanView is fastssl's "multipatch v3" for A > 2 views: with z̄ the mean
// of the standardised views and c_a,d = (ẑ_aᵀz̄)_dd/B,
// loss = (1/A) Σ_a Σ_d (c_a,d − 1)² + λ·Σ_{i≠j} (z̄ᵀz̄/B)_ij². Its gradient:
//
//	∂/∂ẑ_a = (2/(A·B))·(c_a − 1)∘z̄ + (1/A)·∂/∂z̄,
//	∂/∂z̄   = Σ_a (2/(A·B))·(c_a − 1)∘ẑ_a + λ·(4/B)·z̄·S_off, S = z̄ᵀz̄/B,
//
// where (c − 1)∘x scales column d of x by c_d − 1.
func (l SSLLoss) btMeanView(w *SSLWork, a, b, d int, grad []float32) float64 {
	bd, fa, fb := b*d, float64(a), float64(b)
	zbar, gbar := w.mean, w.g1
	copy(zbar, w.zs[:bd])
	for x := 1; x < a; x++ {
		sslAdd(zbar, w.zs[x*bd:(x+1)*bd])
	}
	sslScale(zbar, float32(1/fa))
	clear(gbar)
	var on float64
	for x := range a {
		zx, c := w.zs[x*bd:(x+1)*bd], w.c[x*d:(x+1)*d]
		sslDiagDot(zx, zbar, b, d, 1/fb, c)
		for j, v := range c {
			on += (v - 1) * (v - 1)
			c[j] = 2 * (v - 1) / (fa * fb)
		}
		sslAddCols2(gbar, grad[x*bd:(x+1)*bd], zbar, zx, b, d, c, w.e32)
	}
	e := w.t2[:d]
	clear(e)
	off := w.autoTerm(zbar, b, d, fb, l.Lambda, nil, gbar, e)
	sslAddCols(gbar, zbar, b, d, e, w.e32)
	sslScale(gbar, float32(1/fa))
	for x := range a {
		sslAdd(grad[x*bd:(x+1)*bd], gbar)
	}
	return on/fa + l.Lambda*off
}

// autoTerm returns off = Σ_{i≠j} S_ij² for S = XᵀX/div (X is B×D) and
// adds coef·∂off/∂X = coef·(4/div)·X·S_off to g (when coef > 0; with coef
// 0 it returns 0 without computing). diag is S's diagonal, or nil to
// compute it. Over samples, with Q = XXᵀ, ‖S‖_F² = ‖Q‖_F²/div² and
// X·S_off = Q·X/div − X·diag(S): autoTerm adds the product to g and the
// coefficients −coef·(4/div)·diag(S) of X's columns to e, for the caller to
// apply (sslAddCols) together with its own.
func (w *SSLWork) autoTerm(x []float32, b, d int, div, coef float64, diag []float64, g []float32, e []float64) float64 {
	if coef == 0 {
		return 0
	}
	fb, fd := float64(b), float64(d)
	if !w.overSamples(2*fb*fd*fd, 2*fb*fb*fd) {
		w.dd = sslGrow32(w.dd, d*d)
		s := w.dd
		sslGemm(true, false, d, d, b, float32(1/div), x, d, x, d, 0, s)
		var off float64
		for i := range d {
			row := s[i*d : (i+1)*d]
			off += sslDot(row, row) - float64(row[i])*float64(row[i])
			row[i] = 0
			sslScale(row, float32(4*coef/div))
		}
		sslGemm(false, false, b, d, d, 1, x, d, s, d, 1, g)
		return off
	}
	if diag == nil {
		diag = w.t1[:d]
		sslDiagDot(x, x, b, d, 1/div, diag)
	}
	w.bb = sslGrow32(w.bb, b*b)
	q := w.bb[:b*b]
	sslGemm(false, true, b, b, d, 1, x, d, x, d, 0, q)
	fro, diag2 := sslDot(q, q), 0.0
	e = e[:d]
	for j, v := range diag[:d] {
		diag2 += v * v
		e[j] -= 4 * coef * v / div
	}
	sslGemm(false, false, b, d, b, float32(4*coef/(div*div)), q, b, x, d, 1, g)
	return fro/(div*div) - diag2
}

// vicreg returns the VICReg loss of the views z and adds dL/dz to grad.
func (l SSLLoss) vicreg(w *SSLWork, z []float32, a, b, d int, grad []float32) float64 {
	if l.MultiView == SSLMean {
		return l.vicregMean(w, z, a, b, d, grad)
	}
	return l.vicregPairs(w, z, a, b, d, grad)
}

// sslCentre writes x − μ (per feature, x is b×d) to out, which may be x,
// and sets v to the unbiased variances.
func sslCentre(x, out []float32, b, d int, mu, v []float64) {
	mu, v = mu[:d], v[:d]
	sslColStats(x, b, d, mu, v)
	for j := range v {
		v[j] /= float64(b - 1)
	}
	for i := range b {
		xr := x[i*d : (i+1)*d]
		or, m := out[i*d : (i+1)*d][:len(xr)], mu[:len(xr)]
		for j, e := range xr {
			or[j] = float32(float64(e) - m[j])
		}
	}
}

// hinge returns VICReg's variance term of one B×D matrix,
// h = (1/D) Σ_d relu(Γ − sqrt(v_d + ε)), from its unbiased variances v,
// and adds to e the coefficients of its centred columns in coef·∂h/∂x.
// With ∂v_d/∂x_kd = 2(x_kd − μ_d)/(B−1) (the mean's derivative cancels):
//
//	∂h/∂x_kd = −(x_kd − μ_d) / (D·(B−1)·sqrt(v_d + ε))  where the hinge is active,
//
// 0 elsewhere (PyTorch's relu'(0) = 0) and where v_d + ε = 0.
func (l SSLLoss) hinge(b, d int, v []float64, coef float64, e []float64) float64 {
	var h float64
	e = e[:d]
	for j, vj := range v[:d] {
		s := math.Sqrt(vj + l.VarEps)
		if r := l.Gamma - s; r > 0 {
			h += r
			if s > 0 {
				e[j] -= coef / (float64(d) * float64(b-1) * s)
			}
		}
	}
	return h / float64(d)
}

// varCov returns Var·(variance hinge) + Cov·(covariance term) of a centred
// B×D matrix xc with unbiased variances v, weighted by hw and cw, and adds
// its gradient to g: the covariance product through autoTerm, and the
// column terms of both in one pass.
func (l SSLLoss) varCov(w *SSLWork, xc []float32, b, d int, v []float64, hw, cw float64, g []float32) float64 {
	e := w.c[:d]
	clear(e)
	loss := hw * l.hinge(b, d, v, hw, e)
	loss += cw * w.autoTerm(xc, b, d, float64(b-1), cw/float64(d), v, g, e) / float64(d)
	sslAddCols(g, xc, b, d, e, w.e32)
	return loss
}

// vicregPairs is the "pairs" VICReg loss. Its invariance term uses
// Σ_{x<y} ‖z_x − z_y‖² = A·Σ_x ‖z_x − m‖² with m the mean view, whose
// gradient for z_x is 2A·(z_x − m). Its covariance term
// Σ_{i≠j} K_ij²/D, K = z̃ᵀz̃/(B−1) with z̃ the centred view, has gradient
// (4/(D·(B−1)))·z̃·K_off for z̃ (autoTerm); centring's backward (subtracting
// the column means) is the identity on it, since 1ᵀz̃ = 0, and on the
// hinge's gradient, which is proportional to z̃.
func (l SSLLoss) vicregPairs(w *SSLWork, z []float32, a, b, d int, grad []float32) float64 {
	bd, fa, fb, fd := b*d, float64(a), float64(b), float64(d)
	pairs := fa * (fa - 1) / 2
	m := w.mean
	copy(m, z[:bd])
	for x := 1; x < a; x++ {
		sslAdd(m, z[x*bd:(x+1)*bd])
	}
	sslScale(m, float32(1/fa))
	var ss float64
	gi := l.Sim * 2 * fa / (pairs * fb * fd)
	for x := range a {
		zx := z[x*bd : (x+1)*bd]
		gx, mx := grad[x*bd : (x+1)*bd][:len(zx)], m[:len(zx)]
		for k, v := range zx {
			e := float64(v) - float64(mx[k])
			ss += e * e
			gx[k] = float32(gi * e)
		}
	}
	loss := l.Sim * fa * ss / (pairs * fb * fd)
	v := w.t2
	for x := range a {
		zc, g := w.zs[x*bd:(x+1)*bd], grad[x*bd:(x+1)*bd]
		sslCentre(z[x*bd:(x+1)*bd], zc, b, d, w.mu, v)
		loss += l.varCov(w, zc, b, d, v, l.Var/fa, l.Cov/fa, g)
	}
	return loss
}

// vicregMean is fastssl's VICReg loss: for i = 0 (two views) or every i
// (A > 2), the terms of z_i against m_i, the mean of the other views,
// divided by A when A > 2. The gradient for m_i (gm) reaches every other
// view with weight 1/(A−1): view x gets (Σ_i gm_i − gm_x)/(A−1), with gm_x
// zero when x is not one of the i.
func (l SSLLoss) vicregMean(w *SSLWork, z []float32, a, b, d int, grad []float32) float64 {
	bd, fa, fb, fd := b*d, float64(a), float64(b), float64(d)
	scale, n := 1.0, 1
	if a > 2 {
		scale, n = 1/fa, a
		copy(w.sum, z[:bd])
		for x := 1; x < a; x++ {
			sslAdd(w.sum, z[x*bd:(x+1)*bd])
		}
	}
	sim, vr, cov := scale*l.Sim, scale*l.Var, scale*l.Cov
	m, gm, gsum, v := w.mean, w.g1, w.g2, w.t2
	clear(gsum)
	inv := float32(1 / (fa - 1))
	var loss float64
	for i := range n {
		zi := z[i*bd : (i+1)*bd]
		if a == 2 {
			copy(m, z[bd:2*bd])
		} else {
			sm := w.sum[:len(zi)]
			mi := m[:len(zi)]
			for k, zv := range zi {
				mi[k] = (sm[k] - zv) * inv
			}
		}
		gi, mi, gmi := grad[i*bd : (i+1)*bd][:len(zi)], m[:len(zi)], gm[:len(zi)]
		cr := sim * 2 / (fb * fd)
		var ss float64
		for k, zv := range zi {
			e := float64(zv) - float64(mi[k])
			ss += e * e
			gi[k] += float32(cr * e)
			gmi[k] = float32(-cr * e)
		}
		loss += sim * ss / (fb * fd)
		zc := w.zs[i*bd : (i+1)*bd]
		sslCentre(zi, zc, b, d, w.mu, v)
		loss += l.varCov(w, zc, b, d, v, vr/2, cov, gi)
		sslCentre(m, m, b, d, w.mu, v)
		loss += l.varCov(w, m, b, d, v, vr/2, cov, gm)
		gs := gsum[:len(gmi)]
		for k, g := range gmi {
			gs[k] += g
			gi[k] -= g * inv
		}
	}
	sslScale(gsum, inv)
	for x := range a {
		sslAdd(grad[x*bd:(x+1)*bd], gsum)
	}
	return loss
}
