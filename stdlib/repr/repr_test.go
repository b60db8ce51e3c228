package repr

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// hadamard returns the Sylvester Hadamard matrix of order n (a power of
// two) as columns. Every column but the first is centred (sums to 0), the
// columns are mutually orthogonal, and each has squared norm n, so scaled
// copies of them give embeddings whose covariance is exactly diagonal.
func hadamard(n int) [][]float64 {
	h := [][]float64{{1}}
	for len(h) < n {
		m := len(h)
		next := make([][]float64, 2*m)
		for j := range next {
			next[j] = make([]float64, 2*m)
		}
		for j := range m {
			for i := range m {
				v := h[j][i]
				next[j][i], next[j][m+i] = v, v
				next[m+j][i], next[m+j][m+i] = v, -v
			}
		}
		h = next
	}
	return h
}

// scaled returns s·col + offset.
func scaled(col []float64, s, offset float64) []float64 {
	out := make([]float64, len(col))
	for i, v := range col {
		out[i] = s*v + offset
	}
	return out
}

// constant returns a column of n copies of v.
func constant(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// fromColumns lays columns of equal length out as a row-major float32
// matrix and returns it with n and d.
func fromColumns(cols ...[]float64) ([]float32, int, int) {
	n, d := len(cols[0]), len(cols)
	x := make([]float32, n*d)
	for j, c := range cols {
		for i, v := range c {
			x[i*d+j] = float32(v)
		}
	}
	return x, n, d
}

// near reports whether got is within tol of want, relative to max(1, |want|).
// NaN matches NaN only.
func near(got, want, tol float64) bool {
	if math.IsNaN(want) || math.IsNaN(got) {
		return math.IsNaN(want) && math.IsNaN(got)
	}
	return math.Abs(got-want) <= tol*math.Max(1, math.Abs(want))
}

func nearSlice(got, want []float64, tol float64) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if !near(got[i], want[i], tol) {
			return false
		}
	}
	return true
}

func TestEmbeddingHandDerived(t *testing.T) {
	h4 := hadamard(4)
	// Two centred, orthogonal columns of 5 samples with squared norm 4 =
	// n−1, so that the unbiased covariance is exactly diag(1, 1, 0, 0) once
	// two constant columns are added. Dividing by n instead would give 0.8.
	a := []float64{1, -1, 1, -1, 0}
	b := []float64{1, 1, -1, -1, 0}

	// ±e_i for i = 1..5: n = 10 samples, mean 0, Σ xxᵀ = 2I, so the
	// unbiased covariance is (2/9)·I (2/10 with the wrong normalisation).
	const iso = 5
	isoCols := make([][]float64, iso)
	for j := range isoCols {
		isoCols[j] = make([]float64, 2*iso)
		isoCols[j][2*j], isoCols[j][2*j+1] = 1, -1
	}

	p1, p2 := (5+math.Sqrt(5))/10, (5-math.Sqrt(5))/10

	type want struct {
		eig           []float64
		rank, pr, alp float64
	}
	tests := []struct {
		name string
		cols [][]float64
		want want
	}{
		{
			name: "covariance diag(1,1,0,0)",
			cols: [][]float64{constant(5, 5), a, constant(5, -3.25), b},
			// p = (1/2, 1/2): H = ln 2, exp(H) = 2; (1+1)²/(1+1) = 2. The
			// fit runs over the two equal eigenvalues: slope 0.
			want: want{eig: []float64{1, 1, 0, 0}, rank: 2, pr: 2, alp: 0},
		},
		{
			// Features W·(a, b) with W rows (1,0), (0,1), (1,0), (0,−1),
			// (2,0), (1,1): covariance W Wᵀ of rank 2, whose non-zero
			// eigenvalues are those of WᵀW = [[7, 1], [1, 3]], 5 ± √5. The
			// four zero eigenvalues come out of the solver as rounding
			// residue of either sign and must be clamped to 0.
			// PR = 10²/((5+√5)² + (5−√5)²) = 100/60;
			// α = ln((5+√5)/(5−√5))/ln 2.
			name: "duplicated and negated features",
			cols: [][]float64{a, b, a, scaled(b, -1, 0), scaled(a, 2, 0), addCols(a, b)},
			want: want{
				eig:  []float64{5 + math.Sqrt(5), 5 - math.Sqrt(5), 0, 0, 0, 0},
				rank: math.Exp(-(p1*math.Log(p1) + p2*math.Log(p2))),
				pr:   100.0 / 60,
				alp:  math.Log((5+math.Sqrt(5))/(5-math.Sqrt(5))) / math.Ln2,
			},
		},
		{
			name: "isotropic ±e_i",
			cols: isoCols,
			want: want{eig: []float64{2.0 / 9, 2.0 / 9, 2.0 / 9, 2.0 / 9, 2.0 / 9}, rank: iso, pr: iso, alp: 0},
		},
		{
			// Columns h1 and 2·h2 of the order-4 Hadamard matrix (squared
			// norms 4 and 16, over n−1 = 3), the larger one second so that
			// unsorted eigenvalues would show. λ ∝ (4, 1), p = (0.8, 0.2):
			// H = −0.8 ln 0.8 − 0.2 ln 0.2 = 0.5004024235381879,
			// exp(H) = 1.6493848884661177; PR = 5²/17 = 25/17;
			// α = ln(16/4)/ln 2 = 2.
			name: "eigenvalues 4:1",
			cols: [][]float64{scaled(h4[1], 1, 7), scaled(h4[2], 2, -1)},
			want: want{eig: []float64{16.0 / 3, 4.0 / 3}, rank: 1.6493848884661177, pr: 25.0 / 17, alp: 2},
		},
		{
			// Second column = 2·first: rank one. The second eigenvalue is
			// rounding residue far below 1e-12·λ_1, so no power-law fit.
			name: "rank one",
			cols: [][]float64{{1, 2, 3, 4}, {2, 4, 6, 8}},
			want: want{eig: []float64{5 * 5.0 / 3, 0}, rank: 1, pr: 1, alp: math.NaN()},
		},
		{
			name: "one feature",
			cols: [][]float64{{1, 2, 3}},
			want: want{eig: []float64{1}, rank: 1, pr: 1, alp: math.NaN()},
		},
		{
			// No variance, no rank: defined as 0, and no fit.
			name: "all constant",
			cols: [][]float64{constant(4, 0.1), constant(4, -7), constant(4, 1e30)},
			want: want{eig: []float64{0, 0, 0}, rank: 0, pr: 0, alp: math.NaN()},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x, n, d := fromColumns(tt.cols...)
			s, err := Embedding(x, n, d)
			if err != nil {
				t.Fatal(err)
			}
			if s.Samples != n || s.Dim != d {
				t.Errorf("Samples, Dim = %d, %d, want %d, %d", s.Samples, s.Dim, n, d)
			}
			const tol = 1e-12
			if !nearSlice(s.Eigenvalues, tt.want.eig, tol) {
				t.Errorf("Eigenvalues = %v, want %v", s.Eigenvalues, tt.want.eig)
			}
			for _, v := range s.Eigenvalues {
				if v < 0 {
					t.Errorf("negative eigenvalue in %v", s.Eigenvalues)
					break
				}
			}
			if !near(s.EffectiveRank, tt.want.rank, tol) {
				t.Errorf("EffectiveRank = %.17g, want %.17g", s.EffectiveRank, tt.want.rank)
			}
			if !near(s.ParticipationRatio, tt.want.pr, tol) {
				t.Errorf("ParticipationRatio = %.17g, want %.17g", s.ParticipationRatio, tt.want.pr)
			}
			if !near(s.PowerLawAlpha, tt.want.alp, 1e-9) {
				t.Errorf("PowerLawAlpha = %.17g, want %.17g", s.PowerLawAlpha, tt.want.alp)
			}
		})
	}
}

func TestPowerLaw(t *testing.T) {
	// Columns 1..7 of the order-8 Hadamard matrix scaled by 420/k
	// (420 = lcm(1..7), so every entry is an integer exact in float32),
	// k = 1..7: the covariance is diag(8·(420/k)²/7) = c·k^−2. The columns
	// are laid out in a shuffled order so that the eigenvalues come out of
	// the diagonal unsorted.
	h := hadamard(8)
	order := []int{4, 1, 7, 3, 6, 2, 5}
	cols := make([][]float64, len(order))
	for j, k := range order {
		cols[j] = scaled(h[k], 420/float64(k), float64(j))
	}
	x, n, d := fromColumns(cols...)
	s, err := Embedding(x, n, d)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, d)
	for k := range want {
		r := 420 / float64(k+1)
		want[k] = 8 * r * r / 7
	}
	if !nearSlice(s.Eigenvalues, want, 1e-12) {
		t.Errorf("Eigenvalues = %v, want %v (descending, unbiased covariance)", s.Eigenvalues, want)
	}
	if math.Abs(s.PowerLawAlpha-2) > 1e-9 {
		t.Errorf("PowerLawAlpha = %.17g, want 2", s.PowerLawAlpha)
	}
}

// randomOrthogonal returns a d×d orthogonal matrix: the Q of the QR
// factorisation of a Gaussian matrix.
func randomOrthogonal(rng *rand.Rand, d int) *mat.Dense {
	g := mat.NewDense(d, d, nil)
	for i := range d {
		for j := range d {
			g.Set(i, j, rng.NormFloat64())
		}
	}
	var qr mat.QR
	qr.Factorize(g)
	var q mat.Dense
	qr.QTo(&q)
	return &q
}

func TestEmbeddingInvariance(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const n, d = 200, 6
	// Anisotropic data: feature j has scale 2^−j and an offset.
	base := mat.NewDense(n, d, nil)
	for i := range n {
		for j := range d {
			base.Set(i, j, math.Ldexp(rng.NormFloat64(), -j)+float64(j))
		}
	}
	toF32 := func(m mat.Matrix) []float32 {
		r, c := m.Dims()
		out := make([]float32, 0, r*c)
		for i := range r {
			for j := range c {
				out = append(out, float32(m.At(i, j)))
			}
		}
		return out
	}
	ref, err := Embedding(toF32(base), n, d)
	if err != nil {
		t.Fatal(err)
	}
	if ref.EffectiveRank < 1 || ref.EffectiveRank > d || math.IsNaN(ref.PowerLawAlpha) {
		t.Fatalf("reference stats implausible: %+v", ref)
	}

	var rotated mat.Dense
	rotated.Mul(base, randomOrthogonal(rng, d))
	shuffled := mat.NewDense(n, d, nil)
	perm := rng.Perm(d)
	for i := range n {
		for j := range d {
			shuffled.Set(i, perm[j], base.At(i, j))
		}
	}

	tests := []struct {
		name  string
		x     mat.Matrix
		scale float64 // the eigenvalues scale by scale²
	}{
		{"rotated", &rotated, 1},
		{"features permuted", shuffled, 1},
		{"scaled by 3.7", scaledDense(base, 3.7), 3.7},
		{"scaled by -1e-3", scaledDense(base, -1e-3), 1e-3},
		{"scaled by 1e20", scaledDense(base, 1e20), 1e20},
	}
	// float32 rounding of the transformed inputs bounds the agreement.
	const tol = 1e-5
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Embedding(toF32(tt.x), n, d)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]float64, d)
			for k, v := range ref.Eigenvalues {
				want[k] = v * tt.scale * tt.scale
			}
			for k := range want {
				if math.Abs(s.Eigenvalues[k]-want[k]) > tol*want[0] {
					t.Errorf("Eigenvalues = %v, want %v", s.Eigenvalues, want)
					break
				}
			}
			if !near(s.EffectiveRank, ref.EffectiveRank, tol) {
				t.Errorf("EffectiveRank = %v, want %v", s.EffectiveRank, ref.EffectiveRank)
			}
			if !near(s.ParticipationRatio, ref.ParticipationRatio, tol) {
				t.Errorf("ParticipationRatio = %v, want %v", s.ParticipationRatio, ref.ParticipationRatio)
			}
			if !near(s.PowerLawAlpha, ref.PowerLawAlpha, tol) {
				t.Errorf("PowerLawAlpha = %v, want %v", s.PowerLawAlpha, ref.PowerLawAlpha)
			}
		})
	}
}

func scaledDense(m *mat.Dense, s float64) *mat.Dense {
	var out mat.Dense
	out.Scale(s, m)
	return &out
}

func TestCrossCorrelation(t *testing.T) {
	h := hadamard(8)
	// Four decorrelated features of different scales and offsets, and a
	// constant one.
	f := [][]float64{scaled(h[1], 3, 1), scaled(h[2], 0.5, -2), scaled(h[3], 10, 0), scaled(h[5], 1, 100)}
	k := constant(8, 4)
	neg := make([][]float64, len(f))
	for j, c := range f {
		neg[j] = scaled(c, -1, 0)
	}
	// a ⟂ b with equal norms: corr(a, a±b) = 1/√2, corr(b, a−b) = −1/√2,
	// so C = [[s, s], [s, −s]], s = 1/√2, an orthogonal matrix.
	a, b := h[1], h[2]
	sum := make([]float64, 8)
	diff := make([]float64, 8)
	for i := range sum {
		sum[i], diff[i] = a[i]+b[i], a[i]-b[i]
	}
	s := 1 / math.Sqrt2

	tests := []struct {
		name     string
		z1, z2   [][]float64
		c        []float64
		singular []float64
		meanDiag float64
		offRMS   float64
	}{
		{
			// Biased variance: the diagonal is exactly 1 (the unbiased one
			// would give 7/8).
			name:     "self",
			z1:       f,
			z2:       f,
			c:        []float64{1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1},
			singular: []float64{1, 1, 1, 1},
			meanDiag: 1,
		},
		{
			name: "self with a constant feature",
			z1:   [][]float64{f[0], k, f[1]},
			z2:   [][]float64{f[0], k, f[1]},
			c:    []float64{1, 0, 0, 0, 0, 0, 0, 0, 1},
			// The constant feature standardises to 0.
			singular: []float64{1, 1, 0},
			meanDiag: 2.0 / 3,
		},
		{
			// A cyclic shift of the columns: C is a permutation matrix with
			// no fixed point, so all singular values are 1, the diagonal is
			// 0 and 4 of the 12 off-diagonal entries are 1.
			name:     "columns permuted",
			z1:       f,
			z2:       [][]float64{f[1], f[2], f[3], f[0]},
			c:        []float64{0, 0, 0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0},
			singular: []float64{1, 1, 1, 1},
			meanDiag: 0,
			offRMS:   math.Sqrt(4.0 / 12),
		},
		{
			name:     "negated",
			z1:       f,
			z2:       neg,
			c:        []float64{-1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1, 0, 0, 0, 0, -1},
			singular: []float64{1, 1, 1, 1},
			meanDiag: -1,
		},
		{
			name:     "rotated by 45 degrees",
			z1:       [][]float64{a, b},
			z2:       [][]float64{sum, diff},
			c:        []float64{s, s, s, -s},
			singular: []float64{1, 1},
			meanDiag: 0,
			offRMS:   s,
		},
		{
			name:     "one feature",
			z1:       [][]float64{{1, 2, 3}},
			z2:       [][]float64{{3, 1, 2}},
			c:        []float64{-0.5},
			singular: []float64{0.5},
			meanDiag: -0.5,
		},
	}
	const tol = 1e-12
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			z1, n, d := fromColumns(tt.z1...)
			z2, _, _ := fromColumns(tt.z2...)
			r, err := CrossCorrelation(z1, z2, n, d)
			if err != nil {
				t.Fatal(err)
			}
			if r.Dim != d {
				t.Errorf("Dim = %d, want %d", r.Dim, d)
			}
			if !nearSlice(r.C, tt.c, tol) {
				t.Errorf("C = %v, want %v", r.C, tt.c)
			}
			if !nearSlice(r.Singular, tt.singular, tol) {
				t.Errorf("Singular = %v, want %v", r.Singular, tt.singular)
			}
			if !near(r.MeanDiagonal, tt.meanDiag, tol) {
				t.Errorf("MeanDiagonal = %.17g, want %.17g", r.MeanDiagonal, tt.meanDiag)
			}
			if !near(r.OffDiagonalRMS, tt.offRMS, tol) {
				t.Errorf("OffDiagonalRMS = %.17g, want %.17g", r.OffDiagonalRMS, tt.offRMS)
			}
		})
	}
}

func TestCrossCorrelationSingularSorted(t *testing.T) {
	// Features scaled so that C = diag(corr) with distinct magnitudes in
	// ascending order: the singular values must come back descending.
	h := hadamard(8)
	z1, n, d := fromColumns(h[1], h[2], h[3])
	// z2_j = h_j + t_j·h_{j+4}, with h_{j+4} orthogonal to every other
	// column: corr = 1/√(1+t²), increasing along the diagonal.
	z2, _, _ := fromColumns(
		addCols(h[1], scaled(h[7], -3, 0)),
		addCols(h[2], h[6]),
		h[3],
	)
	r, err := CrossCorrelation(z1, z2, n, d)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{1, 1 / math.Sqrt(2), 1 / math.Sqrt(10)}
	if !nearSlice(r.Singular, want, 1e-12) {
		t.Errorf("Singular = %v, want %v", r.Singular, want)
	}
}

func addCols(a, b []float64) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] + b[i]
	}
	return out
}

func TestErrors(t *testing.T) {
	ok := []float32{1, 2, 3, 4, 5, 6} // 3×2
	nan := []float32{1, 2, float32(math.NaN()), 4, 5, 6}
	inf := []float32{1, 2, 3, float32(math.Inf(1)), 5, 6}
	ninf := []float32{1, 2, 3, 4, 5, float32(math.Inf(-1))}
	tests := []struct {
		name   string
		x, y   []float32
		n, d   int
		substr string
	}{
		{"one sample", ok[:2], ok[:2], 1, 2, "at least 2 samples"},
		{"zero samples", nil, nil, 0, 2, "at least 2 samples"},
		{"negative samples", ok, ok, -3, -2, "at least 2 samples"},
		{"no features", ok, ok, 3, 0, "at least 1 feature"},
		{"short", ok[:5], ok[:5], 3, 2, "does not match"},
		{"long", ok, ok, 2, 2, "does not match"},
		{"overflowing n·d", nil, nil, 1 << 32, 1 << 32, "does not match"},
		{"NaN", nan, ok, 3, 2, "non-finite"},
		{"+Inf", inf, ok, 3, 2, "non-finite"},
		{"-Inf", ninf, ok, 3, 2, "non-finite"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Embedding(tt.x, tt.n, tt.d); err == nil || !strings.HasPrefix(err.Error(), "repr: ") || !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("Embedding error = %v, want one with %q", err, tt.substr)
			}
			if _, err := CrossCorrelation(tt.x, tt.y, tt.n, tt.d); err == nil || !strings.HasPrefix(err.Error(), "repr: ") || !strings.Contains(err.Error(), tt.substr) {
				t.Errorf("CrossCorrelation(x, y) error = %v, want one with %q", err, tt.substr)
			}
			if _, err := CrossCorrelation(tt.y, tt.x, tt.n, tt.d); err == nil || !strings.Contains(err.Error(), "repr: ") {
				t.Errorf("CrossCorrelation(y, x) error = %v, want one", err)
			}
		})
	}
	if _, err := CrossCorrelation(ok, ok[:4], 3, 2); err == nil || !strings.Contains(err.Error(), "z2") {
		t.Errorf("CrossCorrelation with a short z2: error = %v, want one naming z2", err)
	}
}

// floats decodes little-endian float32s from b.
func floats(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// shape picks n and d for the fuzzers: d from dd, and n from nn, or the
// whole of the data when nn is 0.
func shape(m int, nn, dd uint8) (int, int) {
	d := int(dd%9) - 1 // -1..7, so invalid d is tried too
	n := int(nn%17) - 1
	if nn == 0 && d > 0 {
		n = m / d
	}
	return n, d
}

func FuzzEmbedding(f *testing.F) {
	seed := func(nn, dd uint8, vs ...float32) {
		b := make([]byte, 4*len(vs))
		for i, v := range vs {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		f.Add(b, nn, dd)
	}
	seed(0, 3, 1, 2, 3, 4, 5, 6)
	seed(0, 2, 1, 1, 1, 1)
	seed(0, 3, math.MaxFloat32, -math.MaxFloat32, 1e-45, 0, 3, -2)
	seed(0, 2, float32(math.NaN()), 1, 2, 3)
	seed(4, 3, 1, 2)
	f.Fuzz(func(t *testing.T, b []byte, nn, dd uint8) {
		x := floats(b)
		n, d := shape(len(x), nn, dd)
		s, err := Embedding(x, n, d)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "repr: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		if s.Samples != n || s.Dim != d || len(s.Eigenvalues) != d {
			t.Fatalf("shape: %+v for n=%d d=%d", s, n, d)
		}
		if !slices.IsSortedFunc(s.Eigenvalues, func(a, b float64) int { return compareDesc(a, b) }) {
			t.Fatalf("eigenvalues not descending: %v", s.Eigenvalues)
		}
		for _, v := range s.Eigenvalues {
			if !(v >= 0) || math.IsInf(v, 0) {
				t.Fatalf("bad eigenvalue %v in %v", v, s.Eigenvalues)
			}
		}
		if s.Eigenvalues[0] == 0 {
			if s.EffectiveRank != 0 || s.ParticipationRatio != 0 || !math.IsNaN(s.PowerLawAlpha) {
				t.Fatalf("no variance but %+v", s)
			}
			return
		}
		for _, v := range []float64{s.EffectiveRank, s.ParticipationRatio} {
			if !(v >= 1 && v <= float64(d)) {
				t.Fatalf("rank measure %v outside [1, %d]: %+v", v, d, s)
			}
		}
		if math.IsInf(s.PowerLawAlpha, 0) {
			t.Fatalf("infinite alpha: %+v", s)
		}
	})
}

func FuzzCrossCorrelation(f *testing.F) {
	f.Add([]byte{0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64}, uint8(0), uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, nn, dd uint8) {
		z1 := floats(b)
		z2 := slices.Clone(z1)
		slices.Reverse(z2)
		n, d := shape(len(z1), nn, dd)
		r, err := CrossCorrelation(z1, z2, n, d)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "repr: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		if r.Dim != d || len(r.C) != d*d || len(r.Singular) != d {
			t.Fatalf("shape: %+v for n=%d d=%d", r, n, d)
		}
		const slack = 1e-9
		for _, v := range r.C {
			if !(math.Abs(v) <= 1+slack) {
				t.Fatalf("correlation %v outside [-1, 1]", v)
			}
		}
		for _, v := range []float64{r.MeanDiagonal, r.OffDiagonalRMS} {
			if !(math.Abs(v) <= 1+slack) {
				t.Fatalf("summary %v outside [-1, 1]: %+v", v, r)
			}
		}
		if !slices.IsSortedFunc(r.Singular, func(a, b float64) int { return compareDesc(a, b) }) {
			t.Fatalf("singular values not descending: %v", r.Singular)
		}
	})
}
