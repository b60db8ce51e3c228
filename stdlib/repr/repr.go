// Package repr computes representation statistics for self-supervised
// learning experiments: how many directions an embedding really uses
// (the spectrum of its covariance, its effective rank and participation
// ratio, and the power-law decay of its eigenvalues) and how two
// embeddings of the same samples relate (the singular values and the
// invariance and redundancy summaries of their cross-correlation matrix,
// the matrix Barlow Twins drives to the identity).
//
// Embeddings come in as row-major float32 matrices, one row per sample and
// one column per feature, as the training engine produces them; all the
// arithmetic is float64 on gonum matrices. Inputs with fewer than two
// samples, no features, a length that is not n·d, or a NaN or infinite
// value are rejected with an error.
package repr

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/mat"
)

// powerLawCutoff is the fraction of the largest eigenvalue above which an
// eigenvalue takes part in the power-law fit.
const powerLawCutoff = 1e-12

// Stats are the statistics of one embedding matrix (n rows = samples,
// d columns = features).
//
// An embedding with no variance at all (every feature constant over the
// samples) has no rank: its EffectiveRank and ParticipationRatio are
// defined as 0, its Eigenvalues are all 0 and its PowerLawAlpha is NaN.
type Stats struct {
	// Samples is n, the number of rows.
	Samples int
	// Dim is d, the number of features (columns).
	Dim int
	// EffectiveRank is the effective rank of Roy & Vetterli (2007) of the
	// covariance, exp(H(p)) with p_i = λ_i/Σλ over the covariance
	// eigenvalues λ_i (negative rounding residue clamped to 0) and H the
	// Shannon entropy in nats. It lies in [1, d], or is 0 when the
	// embedding has no variance. It is RankMe (Garrido et al. 2023)
	// computed on the covariance rather than on the raw embedding.
	EffectiveRank float64
	// ParticipationRatio is (Σλ)²/Σλ² over the covariance eigenvalues,
	// in [1, d], or 0 when the embedding has no variance.
	ParticipationRatio float64
	// Eigenvalues are the d eigenvalues of the unbiased covariance
	// (centred Xᵀ X divided by n−1), in descending order, each >= 0.
	Eigenvalues []float64
	// PowerLawAlpha is the slope α of the least-squares fit
	// log λ_k ≈ c − α log k (k counted from 1) over the eigenvalues
	// greater than 1e-12·λ_1, or NaN if fewer than two eigenvalues qualify
	// (d = 1, or rank below 2).
	PowerLawAlpha float64
}

// Embedding computes the Stats of x, an n×d row-major matrix of n >= 2
// samples and d >= 1 features. It returns an error if the shape is
// invalid, len(x) != n·d, a value is NaN or infinite, or the
// eigendecomposition fails.
func Embedding(x []float32, n, d int) (Stats, error) {
	if err := checkShape("x", x, n, d); err != nil {
		return Stats{}, err
	}
	xc := centred(x, n, d)
	var cov mat.SymDense
	cov.SymOuterK(1/float64(n-1), xc.T())

	lambda, err := eigenvalues(&cov)
	if err != nil {
		return Stats{}, err
	}
	for i, v := range lambda {
		if v < 0 {
			lambda[i] = 0
		}
	}
	slices.SortFunc(lambda, func(a, b float64) int { return compareDesc(a, b) })

	s := Stats{Samples: n, Dim: d, Eigenvalues: lambda, PowerLawAlpha: math.NaN()}
	if lambda[0] <= 0 {
		return s, nil
	}
	s.EffectiveRank = effectiveRank(lambda)
	s.ParticipationRatio = participationRatio(lambda)
	s.PowerLawAlpha = powerLawAlpha(lambda)
	return s, nil
}

// Correlation is the cross-correlation of two embeddings of the same n
// samples, as returned by CrossCorrelation.
type Correlation struct {
	// C is the d×d cross-correlation matrix ẑ1ᵀẑ2/n, row-major: C[i*Dim+j]
	// correlates feature i of the first embedding with feature j of the
	// second.
	C []float64
	// Dim is d, the number of features.
	Dim int
	// Singular are the d singular values of C, in descending order.
	Singular []float64
	// MeanDiagonal is the mean of diag(C), the invariance of the features
	// between the two embeddings (1 when every feature agrees, −1 when
	// every feature is negated).
	MeanDiagonal float64
	// OffDiagonalRMS is the root mean square of the d(d−1) off-diagonal
	// entries of C, the redundancy between features; 0 when d = 1.
	OffDiagonalRMS float64
}

// CrossCorrelation returns the cross-correlation matrix C = ẑ1ᵀẑ2/n of
// two embeddings z1 and z2 of the same n samples (n×d row-major, n >= 2,
// d >= 1), its singular values in descending order, the mean of its
// diagonal (invariance) and the root mean square of its off-diagonal
// entries (redundancy). Each embedding is standardised per feature over
// the samples with the biased variance (divide by n); a feature with
// zero variance standardises to 0, so its row or column of C is 0. It
// returns an error if a shape is invalid, a length is not n·d, a value
// is NaN or infinite, or the SVD fails.
func CrossCorrelation(z1, z2 []float32, n, d int) (Correlation, error) {
	if err := checkShape("z1", z1, n, d); err != nil {
		return Correlation{}, err
	}
	if err := checkShape("z2", z2, n, d); err != nil {
		return Correlation{}, err
	}
	s1 := standardised(z1, n, d)
	s2 := standardised(z2, n, d)
	c := mat.NewDense(d, d, nil)
	c.Mul(s1.T(), s2)
	c.Scale(1/float64(n), c)

	var svd mat.SVD
	if !svd.Factorize(c, mat.SVDNone) {
		return Correlation{}, errors.New("repr: SVD of the cross-correlation matrix did not converge")
	}
	sv := svd.Values(nil)
	slices.SortFunc(sv, func(a, b float64) int { return compareDesc(a, b) })

	var diag, off float64
	for i := range d {
		for j := range d {
			v := c.At(i, j)
			if i == j {
				diag += v
			} else {
				off += v * v
			}
		}
	}
	r := Correlation{
		C:            c.RawMatrix().Data,
		Dim:          d,
		Singular:     sv,
		MeanDiagonal: diag / float64(d),
	}
	if d > 1 {
		r.OffDiagonalRMS = math.Sqrt(off / float64(d*(d-1)))
	}
	return r, nil
}

// checkShape validates an n×d row-major matrix named name.
func checkShape(name string, x []float32, n, d int) error {
	switch {
	case n < 2:
		return fmt.Errorf("repr: %s: need at least 2 samples, got n = %d", name, n)
	case d < 1:
		return fmt.Errorf("repr: %s: need at least 1 feature, got d = %d", name, d)
	case len(x)%d != 0 || len(x)/d != n:
		return fmt.Errorf("repr: %s: length %d does not match n×d = %d×%d", name, len(x), n, d)
	}
	for i, v := range x {
		if f := float64(v); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("repr: %s: non-finite value %v at row %d, column %d", name, v, i/d, i%d)
		}
	}
	return nil
}

// centred returns x (n×d, row-major) in float64 with each column's mean
// subtracted. A constant column becomes exactly 0, whatever the rounding
// of its mean.
func centred(x []float32, n, d int) *mat.Dense {
	out := mat.NewDense(n, d, nil)
	for j := range d {
		first := x[j]
		constant := true
		var sum float64
		for i := range n {
			v := x[i*d+j]
			constant = constant && v == first
			sum += float64(v)
		}
		if constant {
			continue
		}
		mean := sum / float64(n)
		for i := range n {
			out.Set(i, j, float64(x[i*d+j])-mean)
		}
	}
	return out
}

// standardised returns x (n×d, row-major) in float64 with each column
// centred and divided by its biased standard deviation; a column with
// zero variance becomes 0.
func standardised(x []float32, n, d int) *mat.Dense {
	out := centred(x, n, d)
	for j := range d {
		var ss float64
		for i := range n {
			v := out.At(i, j)
			ss += v * v
		}
		if ss == 0 {
			continue
		}
		inv := 1 / math.Sqrt(ss/float64(n))
		for i := range n {
			out.Set(i, j, out.At(i, j)*inv)
		}
	}
	return out
}

// eigenvalues returns the eigenvalues of the symmetric matrix a, which it
// scales in place by a power of two (exact) to bring its largest entry
// near 1 and then scales back.
//
// It asks for eigenvalues alone first, which gonum computes with Dsterf.
// In gonum v0.17.0 Dsterf panics ("lapack: insufficient length of a") when
// it rescales a tridiagonal block of extreme magnitude, as covariances of
// float32 data spanning many decades can produce; the panic is raised by an
// argument check before anything is written and Factorize works on a copy
// of a, so it is recovered and the decomposition is redone with
// eigenvectors, which runs Dsteqr, free of that fault but several times
// slower. FuzzEmbedding's corpus keeps an input that showed the fault.
func eigenvalues(a *mat.SymDense) ([]float64, error) {
	d := a.SymmetricDim()
	var maxAbs float64
	for i := range d {
		for j := i; j < d; j++ {
			maxAbs = math.Max(maxAbs, math.Abs(a.At(i, j)))
		}
	}
	if maxAbs == 0 {
		return make([]float64, d), nil
	}
	_, exp := math.Frexp(maxAbs)
	a.ScaleSym(math.Ldexp(1, -exp), a)

	var eig mat.EigenSym
	ok, panicked := factorizeValues(&eig, a)
	if panicked {
		ok = eig.Factorize(a, true)
	}
	if !ok {
		return nil, errors.New("repr: eigendecomposition of the covariance did not converge")
	}
	lambda := eig.Values(nil)
	for i := range lambda {
		lambda[i] = math.Ldexp(lambda[i], exp)
	}
	return lambda, nil
}

// factorizeValues runs eig.Factorize(a, false), reporting a panic from
// inside gonum instead of propagating it.
func factorizeValues(eig *mat.EigenSym, a *mat.SymDense) (ok, panicked bool) {
	defer func() {
		if recover() != nil {
			ok, panicked = false, true
		}
	}()
	return eig.Factorize(a, false), false
}

// compareDesc orders float64s from largest to smallest.
func compareDesc(a, b float64) int {
	switch {
	case a > b:
		return -1
	case a < b:
		return 1
	}
	return 0
}

// effectiveRank returns exp(H(λ/Σλ)) for non-negative λ with a positive
// sum, clamped to [1, len(λ)] against rounding.
func effectiveRank(lambda []float64) float64 {
	var total float64
	for _, v := range lambda {
		total += v
	}
	var h float64
	for _, v := range lambda {
		if p := v / total; p > 0 {
			h -= p * math.Log(p)
		}
	}
	return clamp(math.Exp(h), 1, float64(len(lambda)))
}

// participationRatio returns (Σλ)²/Σλ² for non-negative λ, descending,
// with λ_0 > 0, clamped to [1, len(λ)] against rounding. The eigenvalues
// are scaled by λ_0 first so that the squares cannot overflow.
func participationRatio(lambda []float64) float64 {
	var sum, sumSq float64
	for _, v := range lambda {
		r := v / lambda[0]
		sum += r
		sumSq += r * r
	}
	return clamp(sum*sum/sumSq, 1, float64(len(lambda)))
}

// powerLawAlpha returns α of the least-squares fit log λ_k ≈ c − α log k
// over the leading eigenvalues above powerLawCutoff·λ_1 (λ descending,
// λ_1 > 0), or NaN when fewer than two qualify.
func powerLawAlpha(lambda []float64) float64 {
	m := 0
	for m < len(lambda) && lambda[m] > powerLawCutoff*lambda[0] {
		m++
	}
	if m < 2 {
		return math.NaN()
	}
	var mx, my float64
	for k := range m {
		mx += math.Log(float64(k + 1))
		my += math.Log(lambda[k])
	}
	mx /= float64(m)
	my /= float64(m)
	var sxy, sxx float64
	for k := range m {
		dx := math.Log(float64(k+1)) - mx
		sxy += dx * (math.Log(lambda[k]) - my)
		sxx += dx * dx
	}
	return -sxy / sxx
}

// clamp limits v to [lo, hi].
func clamp(v, lo, hi float64) float64 {
	return math.Max(lo, math.Min(hi, v))
}
