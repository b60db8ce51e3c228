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

// TestSGDKernelMatchesGo: the vectorised SGD updates (plain, momentum,
// Nesterov, first step) give the Go reference's bits.
func TestSGDKernelMatchesGo(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, wd := range []float32{0, 0.01} {
		for _, nesterov := range []bool{false, true} {
			for _, n := range []int{1, 7, 8, 9, 1000} {
				k := sgdKernel{lr: 0.05, mu: 0.9, wd: wd, nesterov: nesterov}
				w1, g := randF32(rng, n), randF32(rng, n)
				w2 := append([]float32(nil), w1...)
				b1, b2 := make([]float32, n), make([]float32, n)
				for step := range 3 {
					k.plainGo(w1, g)
					k.plain(w2, g)
					k.momentumGo(w1, g, b1, step == 0)
					k.momentum(w2, g, b2, step == 0)
				}
				for i := range w1 {
					if math.Float32bits(w1[i]) != math.Float32bits(w2[i]) || math.Float32bits(b1[i]) != math.Float32bits(b2[i]) {
						t.Fatalf("wd %g nesterov %v n %d: element %d: w %g/%g b %g/%g", wd, nesterov, n, i, w1[i], w2[i], b1[i], b2[i])
					}
				}
			}
		}
	}
}

// TestReLUKernelsMatchGo: the vectorised ReLU forward and backward give the
// Go reference's bits on every kind of float: zeros of both signs,
// denormals, infinities, NaNs of both signs, and ordinary values.
func TestReLUKernelsMatchGo(t *testing.T) {
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-45, -1e-45, float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), math.Float32frombits(0xffc00000), 3.5, -2.25}
	rng := rand.New(rand.NewPCG(8, 9))
	for _, n := range []int{1, 8, 9, 31, 1000} {
		src := randF32(rng, n)
		for i := range src {
			if i%3 == 0 {
				src[i] = special[i%len(special)]
			}
		}
		want, got := make([]float32, n), make([]float32, n)
		reluForwardGo(want, src)
		reluForward(got, src)
		g := randF32(rng, n)
		wantG, gotG := make([]float32, n), append([]float32(nil), g...)
		reluBackwardGo(wantG, want, g)
		reluBackward(gotG, got, gotG) // in place, as the op runs it
		for i := range want {
			if math.Float32bits(want[i]) != math.Float32bits(got[i]) || math.Float32bits(wantG[i]) != math.Float32bits(gotG[i]) {
				t.Fatalf("n %d element %d (input %x): forward %x/%x backward %x/%x", n, i, math.Float32bits(src[i]),
					math.Float32bits(want[i]), math.Float32bits(got[i]), math.Float32bits(wantG[i]), math.Float32bits(gotG[i]))
			}
		}
	}
}
