package backend

import (
	"math"
	"math/rand/v2"
	"testing"
)

// This file holds the float64 plain-Go reference of a whole network that
// the tests check the gorgonia graphs against.

// refModel is a Model's weights in float64.
type refModel struct {
	arch   Arch
	params [][]float64
}

func toRef(m *Model) *refModel {
	r := &refModel{arch: m.Arch}
	for _, p := range m.Params {
		v := make([]float64, len(p.Data))
		for i, f := range p.Data {
			v[i] = float64(f)
		}
		r.params = append(r.params, v)
	}
	return r
}

// forward returns the n×out logits of the rows x and the smallest |input|
// of a ReLU seen (for keeping finite differences away from kinks).
func (r *refModel) forward(x []float64, n int) (logits []float64, minRelu float64) {
	minRelu = math.Inf(1)
	h := x
	width := r.arch.InputWidth()
	k := 0
	for _, l := range r.arch {
		switch l.Kind {
		case Linear:
			w := r.params[k]
			k++
			var b []float64
			if l.Bias {
				b = r.params[k]
				k++
			}
			z := make([]float64, n*l.Out)
			for i := 0; i < n; i++ {
				for o := 0; o < l.Out; o++ {
					var s float64
					for j := 0; j < l.In; j++ {
						s += h[i*l.In+j] * w[o*l.In+j]
					}
					if b != nil {
						s += b[o]
					}
					z[i*l.Out+o] = s
				}
			}
			h, width = z, l.Out
		case Activation:
			a := make([]float64, len(h))
			for i, v := range h {
				switch l.Activation {
				case ReLU:
					minRelu = math.Min(minRelu, math.Abs(v))
					a[i] = math.Max(v, 0)
				case Tanh:
					a[i] = math.Tanh(v)
				case Sigmoid:
					a[i] = 1 / (1 + math.Exp(-v))
				default:
					a[i] = v
				}
			}
			h = a
		}
	}
	_ = width
	return h, minRelu
}

// refCE is the mean softmax cross-entropy in float64, written naively
// (log of a sum of exps after a max shift).
func refCE(logits []float64, y []int32, c int) float64 {
	var total float64
	for i, k := range y {
		row := logits[i*c : (i+1)*c]
		mx := math.Inf(-1)
		for _, v := range row {
			mx = math.Max(mx, v)
		}
		var s float64
		for _, v := range row {
			s += math.Exp(v - mx)
		}
		total += mx + math.Log(s) - row[k]
	}
	return total / float64(len(y))
}

func (r *refModel) loss(x []float64, y []int32) (float64, float64) {
	logits, minRelu := r.forward(x, len(y))
	return refCE(logits, y, r.arch.OutputWidth()), minRelu
}

// randRows returns n rows of w values uniform in [-1, 1), as float32 and as
// the same values in float64.
func randRows(rng *rand.Rand, n, w int) ([]float32, []float64) {
	x32 := make([]float32, n*w)
	x64 := make([]float64, n*w)
	for i := range x32 {
		x32[i] = float32(2*rng.Float64() - 1)
		x64[i] = float64(x32[i])
	}
	return x32, x64
}

func randLabels(rng *rand.Rand, n, c int) []int32 {
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(rng.IntN(c))
	}
	return y
}

// close reports whether got is within atol + rtol·|want| of want.
func closeTo(got, want, atol, rtol float64) bool {
	return math.Abs(got-want) <= atol+rtol*math.Abs(want)
}

func mustInit(t testing.TB, arch Arch, seed int64) *Model {
	t.Helper()
	m, err := Init(arch, seed)
	if err != nil {
		t.Fatalf("Init: %v", err)
	}
	return m
}
