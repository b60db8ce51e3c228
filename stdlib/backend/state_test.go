package backend

import (
	"context"
	"slices"
	"testing"
)

// TestRestoreContinuesExactly trains 6 steps in one go and 3 + 3 steps with
// the optimizer state carried over into a new trainer: the weights must be
// bit-identical, for Adam and for SGD with momentum, with and without batch
// norm buffers.
func TestRestoreContinuesExactly(t *testing.T) {
	archs := map[string]Arch{
		"mlp": {
			{Kind: Linear, In: 5, Out: 7, Bias: true},
			{Kind: Activation, In: 7, Out: 7, Activation: ReLU},
			{Kind: Linear, In: 7, Out: 3, Bias: true},
		},
	}
	opts := map[string]Optimizer{
		"adam": {Name: Adam, LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8},
		"sgd":  {Name: SGD, LR: 0.05, Momentum: 0.9, WeightDecay: 1e-4},
	}
	x, y := blobs(3, 40, 5, 3)
	const batch = 8
	for an, arch := range archs {
		for on, opt := range opts {
			t.Run(an+"/"+on, func(t *testing.T) {
				ctx := context.Background()
				step := func(tr *Trainer, s int) {
					lo := (s % 5) * batch
					if _, err := tr.Step(ctx, x[lo*5:(lo+batch)*5], y[lo:lo+batch]); err != nil {
						t.Fatal(err)
					}
				}
				m0, err := Init(arch, 11)
				if err != nil {
					t.Fatal(err)
				}
				whole, err := NewTrainer(m0.Clone(), opt, batch)
				if err != nil {
					t.Fatal(err)
				}
				defer whole.Close()
				for s := range 6 {
					step(whole, s)
				}

				first, err := NewTrainer(m0.Clone(), opt, batch)
				if err != nil {
					t.Fatal(err)
				}
				for s := range 3 {
					step(first, s)
				}
				saved, state := first.Model().Clone(), first.OptimizerState()
				first.Close()
				second, err := NewTrainer(saved, opt, batch)
				if err != nil {
					t.Fatal(err)
				}
				defer second.Close()
				if err := second.Restore(state, 3); err != nil {
					t.Fatal(err)
				}
				for s := 3; s < 6; s++ {
					step(second, s)
				}
				if second.Steps() != whole.Steps() {
					t.Errorf("steps %d, want %d", second.Steps(), whole.Steps())
				}
				for i, p := range whole.Model().Params {
					if !slices.Equal(p.Data, second.Model().Params[i].Data) {
						t.Errorf("%s differs after a restored run", p.Name)
					}
				}
			})
		}
	}
}

func TestRestoreRefusesMismatch(t *testing.T) {
	arch := Arch{{Kind: Linear, In: 4, Out: 2, Bias: true}}
	m, err := Init(arch, 1)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := NewTrainer(m, Optimizer{Name: Adam, LR: 0.01}, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for name, st := range map[string]OptimizerState{
		"other optimizer": {Name: SGD, Buffers: [][][]float32{nil}},
		"wrong size":      {Name: Adam, Step: 1, Buffers: [][][]float32{{make([]float32, 3)}, {make([]float32, 3)}}},
		"too many":        {Name: Adam, Step: 1, Buffers: [][][]float32{make([][]float32, 5), make([][]float32, 5)}},
	} {
		if err := tr.Restore(st, 1); err == nil {
			t.Errorf("%s: Restore accepted %+v", name, st)
		}
	}
}
