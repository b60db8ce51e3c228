package certify

import (
	"fmt"
	"math"
)

// window is the geometry of a square sliding window (kernel k, stride s,
// padding p) over c planes of h×w values, giving oh×ow positions per
// plane; window o of a row or column starts at input position o·s − p.
type window struct {
	c, h, w, k, s, p int
	oh, ow           int
}

// newWindow returns the geometry of a window over values of shape in,
// with stride 0 meaning defaultStride, for a layer of a valid
// architecture.
func newWindow(in shape, k, s, p, defaultStride int) window {
	if s == 0 {
		s = defaultStride
	}
	return window{
		c: in.c, h: in.h, w: in.w, k: k, s: s, p: p,
		oh: (in.h+2*p-k)/s + 1,
		ow: (in.w+2*p-k)/s + 1,
	}
}

// coverage returns the largest number of the n windows (window o covers
// positions o·s − p to o·s − p + k − 1) that contain one position of
// [0, size). It is at most ⌈k/s⌉: the windows containing position q are
// those whose start o·s lies in (q + p − k, q + p], an interval of k
// integers, which holds at most ⌈k/s⌉ multiples of s.
func coverage(size, k, s, p, n int) int {
	count := make([]int, size)
	for o := range n {
		for q := max(o*s-p, 0); q < min(o*s-p+k, size); q++ {
			count[q]++
		}
	}
	best := 0
	for _, c := range count {
		best = max(best, c)
	}
	return best
}

// poolBound bounds the Lipschitz constant of a max pool with window g.
//
// Each window holds at least one input value (the backend requires
// padding ≤ kernel/2) and its −∞ padding never wins, so a window's output
// is the maximum of the input values it covers, and for inputs a, b with
// difference δ
//
//	|max_{j∈W} a_j − max_{j∈W} b_j| ≤ max_{j∈W} |δ_j| ≤ ‖δ restricted to W‖₂.
//
// Summing the squares over all windows counts each δ_j² once per window
// containing j, that is count_h(row of j)·count_w(column of j) ≤ m_h·m_w
// times (see coverage), so ‖f(a) − f(b)‖₂ ≤ √(m_h·m_w)·‖δ‖₂. The bound is
// attained: with a the indicator of a position j covered by m_h·m_w
// windows and b = a + t·(indicator of j), t > 0, j is the maximum of each
// of those windows for both inputs, so each of them moves by t and no
// other output moves: ‖f(b) − f(a)‖₂ = t·√(m_h·m_w). For
// non-overlapping windows (stride ≥ kernel) the constant is 1.
func poolBound(g window) Factor {
	mh := coverage(g.h, g.k, g.s, g.p, g.oh)
	mw := coverage(g.w, g.k, g.s, g.p, g.ow)
	return Factor{
		Bound:  math.Sqrt(float64(mh) * float64(mw)),
		Exact:  true,
		Method: fmt.Sprintf("√(m_h·m_w), at most %d×%d overlapping windows", mh, mw),
	}
}

// maxDFTWork caps the floating-point operations convBound spends on its
// Fourier bound; beyond it only the reshaped-weight bound is used.
const maxDFTWork = 4e9

// convBound bounds the operator norm of a convolution with window g, out
// output channels and weight w (out × g.c × k × k, PyTorch's layout); the
// bias does not change the Lipschitz constant. It takes the smaller of
// two upper bounds.
//
// Reshaped weight. Let W be the weight as an out × (c·k·k) matrix and x̃_o
// the c·k·k values window o reads from the zero-padded input (the im2col
// column), so that the output at o is W·x̃_o. Then
//
//	‖y‖₂² = Σ_o ‖W·x̃_o‖₂² ≤ σ(W)²·Σ_o ‖x̃_o‖₂² = σ(W)²·Σ_j count(j)·x_j²
//	      ≤ σ(W)²·m_h·m_w·‖x‖₂²,
//
// where the padding zeros add nothing and count(j) ≤ m_h·m_w is the number
// of windows covering the spatial position of input value j (see
// coverage; m_h, m_w ≤ ⌈k/s⌉). So ‖conv‖ ≤ σ(W)·√(m_h·m_w), which is
// σ(W), exactly the norm, for 1×1 kernels.
//
// Circular convolution. Let N_h = (oh − 1)·s + k and N_w likewise: the
// padded rows and columns the windows read. Put the input, zero-padded
// and cut to those N_h×N_w positions, on a torus: this does not increase
// its norm. On the torus, the stride-1 correlation
// Z_ij = Σ_ab W_ab·X_{(i+a) mod N_h, (j+b) mod N_w} (W_ab the out × c
// matrix of kernel offset (a, b)) is a doubly block-circulant operator C,
// and the layer's outputs are the values Z at (o·s, o'·s), which read
// rows up to (oh − 1)·s + k − 1 = N_h − 1 and so never wrap: y = S·C·X
// with S a selection, and ‖conv‖ ≤ ‖C‖. The 2-D discrete Fourier
// transform block-diagonalises C, so ‖C‖ = max over the N_h·N_w
// frequencies (u, v) of σ_max(K(u, v)), K(u, v) = Σ_ab W_ab·
// exp(2πi(u·a/N_h + v·b/N_w)); K(−u, −v) is the conjugate of K(u, v), so
// half the frequencies suffice, and σ_max(A + iB) is the largest singular
// value of the real matrix [A −B; B A]. This bound is never above
// σ(W)·k and is usually much tighter for stride 1; the first is tighter
// for large strides and small inputs. It is skipped when it would cost
// more than about maxDFTWork operations.
func convBound(g window, out int, w []float32) (Factor, error) {
	in, k := g.c, g.k
	wm, err := matrix(w, out, in*k*k)
	if err != nil {
		return Factor{}, fmt.Errorf("weight: %w", err)
	}
	sigma, err := largestSingularValue(wm)
	if err != nil {
		return Factor{}, fmt.Errorf("weight: %w", err)
	}
	mh := coverage(g.h, k, g.s, g.p, g.oh)
	mw := coverage(g.w, k, g.s, g.p, g.ow)
	reshaped := sigma * math.Sqrt(float64(mh)*float64(mw))
	f := Factor{
		Bound:  reshaped,
		Exact:  k == 1 || mh*mw == 0,
		Method: fmt.Sprintf("σ(reshaped weight)·√(%d·%d) = %.6g", mh, mw, reshaped),
	}
	if f.Exact {
		return f, nil
	}
	nh, nw := (g.oh-1)*g.s+k, (g.ow-1)*g.s+k
	small := float64(2 * min(in, out))
	work := float64(nh) * float64(nw) / 2 * (2*float64(k*k*in*out) + 16*float64(in*out)*small)
	if work > maxDFTWork {
		f.Method += "; circular DFT bound skipped (too costly)"
		return f, nil
	}
	dft, err := convDFTBound(wm.RawMatrix().Data, in, out, k, nh, nw)
	if err != nil {
		return Factor{}, err
	}
	f.Method = fmt.Sprintf("min(%s, circular DFT on %d×%d = %.6g)", f.Method, nh, nw, dft)
	f.Bound = min(reshaped, dft)
	return f, nil
}

// convDFTBound returns the norm of the circular correlation with weight w
// (out × in × k × k, row-major) on an nh×nw torus: the largest singular
// value of its transfer matrices over all frequencies (see convBound).
func convDFTBound(w []float64, in, out, k, nh, nw int) (float64, error) {
	size := out * in
	// blocks holds W_ab, the out × in matrix of offset (a, b), at
	// blocks[(a·k + b)·size:].
	blocks := make([]float64, k*k*size)
	for o := range out {
		for c := range in {
			for a := range k {
				for b := range k {
					blocks[(a*k+b)*size+o*in+c] = w[((o*in+c)*k+a)*k+b]
				}
			}
		}
	}
	// phases returns cos and sin of 2π·f·a/n for frequency f and offset
	// a at index f·k + a.
	phases := func(n int) (cos, sin []float64) {
		cos, sin = make([]float64, n*k), make([]float64, n*k)
		for f := range n {
			for a := range k {
				t := 2 * math.Pi * float64(f*a%n) / float64(n)
				cos[f*k+a], sin[f*k+a] = math.Cos(t), math.Sin(t)
			}
		}
		return cos, sin
	}
	cosH, sinH := phases(nh)
	cosW, sinW := phases(nw)
	re, im := make([]float64, size), make([]float64, size)
	real2 := make([]float64, 4*size) // [A −B; B A], 2·out × 2·in
	best := 0.0
	for u := range nh {
		for v := range nw {
			if cu, cv := (nh-u)%nh, (nw-v)%nw; cu*nw+cv < u*nw+v {
				continue // the conjugate of a frequency already done
			}
			clear(re)
			clear(im)
			for a := range k {
				ca, sa := cosH[u*k+a], sinH[u*k+a]
				for b := range k {
					cb, sb := cosW[v*k+b], sinW[v*k+b]
					pr, pi := ca*cb-sa*sb, sa*cb+ca*sb
					blk := blocks[(a*k+b)*size : (a*k+b+1)*size]
					for j, x := range blk {
						re[j] += x * pr
						im[j] += x * pi
					}
				}
			}
			for o := range out {
				top, bottom := real2[o*2*in:(o+1)*2*in], real2[(out+o)*2*in:(out+o+1)*2*in]
				for c := range in {
					a, b := re[o*in+c], im[o*in+c]
					top[c], top[in+c] = a, -b
					bottom[c], bottom[in+c] = b, a
				}
			}
			s, err := largest(real2, 2*out, 2*in)
			if err != nil {
				return 0, fmt.Errorf("frequency (%d, %d): %w", u, v, err)
			}
			best = max(best, s)
		}
	}
	return best, nil
}
