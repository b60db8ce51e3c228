package backend

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAdamKernelMatchesGo: the vectorised Adam update (cgo builds) gives
// the Go reference's bits, with and without weight decay, at lengths that
// exercise the vector body and the scalar tail.
func TestAdamKernelMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, wd := range []float32{0, 0.01} {
		for _, n := range []int{1, 7, 8, 9, 64, 1000, 1 << 16} {
			k := adamKernel{b1: 0.9, c1: 0.1, b2: 0.999, c2: 0.001, stepSize: 1e-3 / 0.1, invBC2Sqrt: 1 / float32(math.Sqrt(0.001)), eps: 1e-8, wd: wd}
			w1, g := randF32(rng, n), randF32(rng, n)
			m1, v1 := randF32(rng, n), randF32(rng, n)
			for i := range v1 {
				v1[i] *= v1[i]
			}
			w2, m2, v2 := append([]float32(nil), w1...), append([]float32(nil), m1...), append([]float32(nil), v1...)
			for range 3 {
				k.applyGo(w1, g, m1, v1)
				k.apply(w2, g, m2, v2)
			}
			for i := range w1 {
				if math.Float32bits(w1[i]) != math.Float32bits(w2[i]) || math.Float32bits(m1[i]) != math.Float32bits(m2[i]) || math.Float32bits(v1[i]) != math.Float32bits(v2[i]) {
					t.Fatalf("wd %g, n %d: element %d differs: w %g/%g m %g/%g v %g/%g", wd, n, i, w1[i], w2[i], m1[i], m2[i], v1[i], v2[i])
				}
			}
		}
	}
}

func BenchmarkAdamKernel(b *testing.B) {
	const n = 203530 // the parameters of an MLP 784-256-10
	rng := rand.New(rand.NewPCG(1, 1))
	w, g, m, v := randF32(rng, n), randF32(rng, n), make([]float32, n), make([]float32, n)
	k := adamKernel{b1: 0.9, c1: 0.1, b2: 0.999, c2: 0.001, stepSize: 1e-3, invBC2Sqrt: 1, eps: 1e-8}
	b.Run("go", func(b *testing.B) {
		for b.Loop() {
			k.applyGo(w, g, m, v)
		}
	})
	b.Run("kernel", func(b *testing.B) {
		for b.Loop() {
			k.apply(w, g, m, v)
		}
	})
}
