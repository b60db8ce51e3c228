package backend

import (
	"fmt"
	"math"
)

// orthoWork holds the buffers of orthogonality, reused between calls.
type orthoWork struct {
	zhat []float32 // one view standardised, rows × d
	r    []float32 // its correlation matrix, then the gradient factor, d × d
	g    []float32 // dO/dẑ of the view, rows × d
	mu   []float64
	sd   []float64 // unbiased standard deviation
	gs   []float64 // per-feature sums for the standardisation's backward
	gx   []float64
}

// orthogonality adds weight·O and its gradient to grad (accumulating) and
// returns weight·O, where O is the orthogonality regulariser of the
// embeddings z (views·rows rows of d values, view-major):
//
//	O = (1/A) Σ_a (1/d) Σ_{i≠j} R_a,ij²,  R_a = ẑ_aᵀẑ_a / (B − 1),
//
// the mean over the A views of the squared off-diagonal correlations
// between the features of one view, over d; ẑ_a is view a standardised per
// feature with its mean and unbiased standard deviation s plus 1e-6, so
// R_a is the view's correlation matrix (up to the epsilon). It pushes the
// features of each embedding apart, whatever the other views are: the
// regulariser the small-projector recipe adds to a loss whose own
// redundancy term is weak.
//
// Backward: with G = dO/dR_a = 2·off(R_a)/(A·d) (symmetric),
// dO/dẑ_a = 2·ẑ_a·G/(B − 1); through the standardisation x̂ = (x − μ)/(s + ε),
// dO/dx_b = (g_b − ḡ)/(s + ε) − (x_b − μ)·Σ_c g_c(x_c − μ) / ((s + ε)²(B − 1)s).
func orthogonality(w *orthoWork, z []float32, views, rows, d int, weight float64, grad []float32) (float64, error) {
	if weight == 0 {
		return 0, nil
	}
	if rows < 2 || views < 1 || len(z) != views*rows*d || len(grad) != len(z) {
		return 0, fmt.Errorf("backend: orthogonality: %d values for %d views of %d rows of %d", len(z), views, rows, d)
	}
	const eps = 1e-6
	w.zhat = sslGrow32(w.zhat, rows*d)
	w.r = sslGrow32(w.r, d*d)
	w.g = sslGrow32(w.g, rows*d)
	w.mu, w.sd = sslGrow64(w.mu, d), sslGrow64(w.sd, d)
	w.gs, w.gx = sslGrow64(w.gs, d), sslGrow64(w.gx, d)
	b1 := float64(rows - 1)
	scale := 2 / (float64(views) * float64(d)) // dO/dR = scale·off(R)
	var total float64
	for a := 0; a < views; a++ {
		x := z[a*rows*d : (a+1)*rows*d]
		clear(w.mu)
		clear(w.sd)
		for r := 0; r < rows; r++ {
			for j, v := range x[r*d : (r+1)*d] {
				w.mu[j] += float64(v)
			}
		}
		for j := range w.mu {
			w.mu[j] /= float64(rows)
		}
		for r := 0; r < rows; r++ {
			for j, v := range x[r*d : (r+1)*d] {
				dv := float64(v) - w.mu[j]
				w.sd[j] += dv * dv
			}
		}
		for j := range w.sd {
			w.sd[j] = math.Sqrt(w.sd[j] / b1)
			if w.sd[j] == 0 {
				return 0, fmt.Errorf("backend: orthogonality: feature %d of view %d is constant over the batch", j, a)
			}
		}
		for r := 0; r < rows; r++ {
			for j, v := range x[r*d : (r+1)*d] {
				w.zhat[r*d+j] = float32((float64(v) - w.mu[j]) / (w.sd[j] + eps))
			}
		}
		// R = ẑᵀẑ/(B−1); O_a = Σ off(R)²/(A·d); then R becomes G = scale·off(R).
		sslGemm(true, false, d, d, rows, float32(1/b1), w.zhat, d, w.zhat, d, 0, w.r)
		var off float64
		for i := 0; i < d; i++ {
			for j := 0; j < d; j++ {
				v := float64(w.r[i*d+j])
				if i == j {
					w.r[i*d+j] = 0
					continue
				}
				off += v * v
				w.r[i*d+j] = float32(weight * scale * v)
			}
		}
		total += off / (float64(views) * float64(d))
		// g = 2·ẑ·G/(B−1)
		sslGemm(false, false, rows, d, d, float32(2/b1), w.zhat, d, w.r, d, 0, w.g)
		// Through the standardisation, accumulating into grad.
		clear(w.gs)
		clear(w.gx)
		for r := 0; r < rows; r++ {
			for j, gv := range w.g[r*d : (r+1)*d] {
				w.gs[j] += float64(gv)
				w.gx[j] += float64(gv) * (float64(x[r*d+j]) - w.mu[j])
			}
		}
		ga := grad[a*rows*d : (a+1)*rows*d]
		for r := 0; r < rows; r++ {
			for j, gv := range w.g[r*d : (r+1)*d] {
				se := w.sd[j] + eps
				xc := float64(x[r*d+j]) - w.mu[j]
				dx := (float64(gv)-w.gs[j]/float64(rows))/se - xc*w.gx[j]/(se*se*b1*w.sd[j])
				ga[r*d+j] += float32(dx)
			}
		}
	}
	return weight * total, nil
}
