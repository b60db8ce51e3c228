package backend

import (
	"context"
	"math/rand/v2"
	"testing"
)

// BenchmarkStep times one training step of an MLP 784-256-10 (biases,
// ReLU) on batches of 128, the shape of the Fashion-MNIST peer in
// /work/shared/bench/torch_fashion_peer.py.
func BenchmarkStep(b *testing.B) {
	useBLASFromEnv(b)
	arch := Arch{
		{Kind: Linear, In: 784, Out: 256, Bias: true},
		{Kind: Activation, Activation: ReLU},
		{Kind: Linear, In: 256, Out: 10, Bias: true},
	}
	const batch = 128
	for _, opt := range []Optimizer{{Name: SGD, LR: 0.01}, {Name: Adam, LR: 1e-3}} {
		b.Run(opt.Name, func(b *testing.B) {
			m := mustInit(b, arch, 0)
			tr, err := NewTrainer(m, opt, batch)
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			rng := rand.New(rand.NewPCG(1, 2))
			x := make([]float32, batch*784)
			for i := range x {
				x[i] = rng.Float32()
			}
			y := randLabels(rng, batch, 10)
			ctx := context.Background()
			for range 3 {
				if _, err := tr.Step(ctx, x, y); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := tr.Step(ctx, x, y); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
