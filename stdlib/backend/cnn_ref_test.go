package backend

import (
	"math"
	"testing"
)

// This file holds the float64 plain-Go references of the spatial layers,
// written as direct loops over the definitions (no im2col), and of whole
// networks made of any layers.

// refConv is a direct 2-D convolution (PyTorch's cross-correlation) of n
// rows of [c, h, w] values with weights w ([out, c, k, k]) and biases b
// (nil for none).
func refConv(x, w, b []float64, n int, g convGeom) []float64 {
	y := make([]float64, n*g.outWidth())
	for i := 0; i < n; i++ {
		for o := 0; o < g.out; o++ {
			for oy := 0; oy < g.oh; oy++ {
				for ox := 0; ox < g.ow; ox++ {
					var s float64
					if b != nil {
						s = b[o]
					}
					for ci := 0; ci < g.c; ci++ {
						for ki := 0; ki < g.k; ki++ {
							for kj := 0; kj < g.k; kj++ {
								iy, ix := oy*g.s-g.p+ki, ox*g.s-g.p+kj
								if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w {
									continue
								}
								s += w[((o*g.c+ci)*g.k+ki)*g.k+kj] * x[((i*g.c+ci)*g.h+iy)*g.w+ix]
							}
						}
					}
					y[((i*g.out+o)*g.oh+oy)*g.ow+ox] = s
				}
			}
		}
	}
	return y
}

// refBatchNorm normalises n rows of [c, plane] values per channel with the
// given statistics, or with the batch mean and biased variance if mean is
// nil, and applies gamma and beta. It returns the output and the batch
// mean and biased variance it used.
func refBatchNorm(x, gamma, beta, mean, variance []float64, n, c, plane int) (y, bm, bv []float64) {
	if mean == nil {
		mean, variance = make([]float64, c), make([]float64, c)
		m := float64(n * plane)
		for i := 0; i < n; i++ {
			for ch := 0; ch < c; ch++ {
				for _, v := range x[(i*c+ch)*plane : (i*c+ch+1)*plane] {
					mean[ch] += v / m
				}
			}
		}
		for i := 0; i < n; i++ {
			for ch := 0; ch < c; ch++ {
				for _, v := range x[(i*c+ch)*plane : (i*c+ch+1)*plane] {
					variance[ch] += (v - mean[ch]) * (v - mean[ch]) / m
				}
			}
		}
	}
	y = make([]float64, len(x))
	for i := 0; i < n; i++ {
		for ch := 0; ch < c; ch++ {
			for j := (i*c + ch) * plane; j < (i*c+ch+1)*plane; j++ {
				y[j] = (x[j]-mean[ch])/math.Sqrt(variance[ch]+bnEps)*gamma[ch] + beta[ch]
			}
		}
	}
	return y, mean, variance
}

// refMaxPool takes window maxima of n rows of [c, h, w] values, padding
// with −∞, and returns them with the smallest gap between the largest and
// the second largest value of a window (for keeping finite differences
// away from ties).
func refMaxPool(x []float64, n int, g window) (y []float64, gap float64) {
	gap = math.Inf(1)
	y = make([]float64, n*g.c*g.outPlane())
	for p := 0; p < n*g.c; p++ {
		for oy := 0; oy < g.oh; oy++ {
			for ox := 0; ox < g.ow; ox++ {
				best, second := math.Inf(-1), math.Inf(-1)
				for ki := 0; ki < g.k; ki++ {
					for kj := 0; kj < g.k; kj++ {
						iy, ix := oy*g.s-g.p+ki, ox*g.s-g.p+kj
						if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w {
							continue
						}
						v := x[(p*g.h+iy)*g.w+ix]
						if v > best {
							best, second = v, best
						} else if v > second {
							second = v
						}
					}
				}
				y[(p*g.oh+oy)*g.ow+ox] = best
				// A window of ReLU zeros ties, harmlessly: its gradient is
				// 0 whichever zero takes it.
				if !math.IsInf(second, -1) && best != 0 {
					gap = math.Min(gap, best-second)
				}
			}
		}
	}
	return y, gap
}

// run computes the outputs of the n rows x through r's architecture in
// float64, batch norms using batch statistics if train is set and running
// statistics otherwise. margin is the smallest distance of a ReLU input
// from 0 or of a pooled maximum from the runner-up.
func (r *refModel) run(t testing.TB, x []float64, n int, train bool) (out []float64, margin float64) {
	t.Helper()
	shapes, err := r.arch.shapes()
	if err != nil {
		t.Fatal(err)
	}
	margin = math.Inf(1)
	h := x
	k := 0
	next := func() []float64 { k++; return r.params[k-1] }
	for i, l := range r.arch {
		s := shapes[i]
		switch l.Kind {
		case Linear:
			w := next()
			var b []float64
			if l.Bias {
				b = next()
			}
			z := make([]float64, n*l.Out)
			for row := 0; row < n; row++ {
				for o := 0; o < l.Out; o++ {
					var sum float64
					if b != nil {
						sum = b[o]
					}
					for j := 0; j < l.In; j++ {
						sum += h[row*l.In+j] * w[o*l.In+j]
					}
					z[row*l.Out+o] = sum
				}
			}
			h = z
		case Activation:
			a := make([]float64, len(h))
			for j, v := range h {
				switch l.Activation {
				case ReLU:
					margin = math.Min(margin, math.Abs(v))
					a[j] = math.Max(v, 0)
				case Tanh:
					a[j] = math.Tanh(v)
				case Sigmoid:
					a[j] = 1 / (1 + math.Exp(-v))
				default:
					a[j] = v
				}
			}
			h = a
		case Conv2d:
			win, err := newWindow(s, l.Kernel, l.Stride, l.Padding, 1)
			if err != nil {
				t.Fatal(err)
			}
			w := next()
			var b []float64
			if l.Bias {
				b = next()
			}
			h = refConv(h, w, b, n, convGeom{win, l.Out})
		case BatchNorm2d, BatchNorm1d:
			gamma, beta, rm, rv := next(), next(), next(), next()
			next() // num_batches_tracked
			if train {
				rm, rv = nil, nil
			}
			h, _, _ = refBatchNorm(h, gamma, beta, rm, rv, n, s.c, max(s.h*s.w, 1))
		case GlobalAvgPool2d:
			plane := s.h * s.w
			y := make([]float64, n*s.c)
			for p := range y {
				for _, v := range h[p*plane : (p+1)*plane] {
					y[p] += v
				}
				y[p] /= float64(plane)
			}
			h = y
		case MaxPool2d:
			win, err := newWindow(s, l.Kernel, l.Stride, l.Padding, l.Kernel)
			if err != nil {
				t.Fatal(err)
			}
			var gap float64
			h, gap = refMaxPool(h, n, win)
			margin = math.Min(margin, gap)
		}
	}
	return h, margin
}
