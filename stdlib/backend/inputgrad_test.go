package backend

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

// TestInputGradient checks each sample's loss, logits and input gradient
// against the float64 reference model and central finite differences of
// its loss, for full and partial batches, and that the graph follows
// updates of the weights.
func TestInputGradient(t *testing.T) {
	arch := Arch{lin(6, 5, true), act(Tanh), lin(5, 4, true), act(ReLU), lin(4, 3, false)}
	m := mustInit(t, arch, 4)
	ig, err := NewInputGradient(m, 5)
	if err != nil {
		t.Fatal(err)
	}
	defer ig.Close()
	rng := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{5, 2, 1} {
		x32, x64 := randRows(rng, n, 6)
		y := randLabels(rng, n, 3)
		grad, logits, loss := make([]float32, n*6), make([]float32, n*3), make([]float32, n)
		if err := ig.Compute(context.Background(), x32, y, grad, logits, loss); err != nil {
			t.Fatal(err)
		}
		ref := toRef(m)
		out, margin := ref.run(t, x64, n, false)
		if margin < 1e-3 {
			t.Fatalf("a ReLU input is %g from its kink", margin)
		}
		checkClose(t, "logits", logits, out, 1e-6, 1e-5)
		for i := 0; i < n; i++ {
			row := func(v []float64) float64 {
				o, _ := ref.run(t, v, 1, false)
				return refCE(o, y[i:i+1], 3)
			}
			xi := append([]float64(nil), x64[i*6:(i+1)*6]...)
			if want := row(xi); math.Abs(float64(loss[i])-want) > 1e-5*(1+want) {
				t.Errorf("n=%d sample %d: loss %v, reference %v", n, i, loss[i], want)
			}
			checkClose(t, "dx", grad[i*6:(i+1)*6], centralDiff(xi, row), 2e-6, 1e-4)
		}
	}

	// The compiled graph reads the weights in place.
	x32, _ := randRows(rng, 1, 6)
	y := []int32{1}
	before, after := make([]float32, 6), make([]float32, 6)
	if err := ig.Compute(context.Background(), x32, y, before, nil, nil); err != nil {
		t.Fatal(err)
	}
	for i := range m.Params[0].Data {
		m.Params[0].Data[i] *= -1
	}
	if err := ig.Compute(context.Background(), x32, y, after, nil, nil); err != nil {
		t.Fatal(err)
	}
	if before[0] == after[0] && before[1] == after[1] {
		t.Errorf("the gradient did not change when the weights did: %v", after)
	}
}

func TestInputGradientErrors(t *testing.T) {
	m := mustInit(t, Arch{lin(3, 2, true)}, 1)
	ig, err := NewInputGradient(m, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer ig.Close()
	ctx := context.Background()
	for _, tc := range []struct {
		x, grad []float32
		y       []int32
		want    string
	}{
		{make([]float32, 9), make([]float32, 9), []int32{0, 1, 0}, "3 samples for a graph of 2 rows"},
		{make([]float32, 5), make([]float32, 6), []int32{0, 1}, "5 inputs"},
		{make([]float32, 3), make([]float32, 3), []int32{2}, "label 2 of sample 0 out of range [0, 2)"},
	} {
		if err := ig.Compute(ctx, tc.x, tc.y, tc.grad, nil, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
	cnn := mustInit(t, Arch{withShape(conv(1, 2, 3, 1, 1, true), 1, 4, 4), flatten(), lin(32, 2, true)}, 1)
	cg, err := NewInputGradient(cnn, 2)
	if err != nil {
		t.Errorf("CNN: %v", err)
	}
	cg.Close()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := ig.Compute(cancelled, make([]float32, 3), []int32{0}, make([]float32, 3), nil, nil); err == nil {
		t.Error("a cancelled context was not reported")
	}
}

// marginObjective is f₀ − f₁ + k: a linear objective of the logits whose
// value depends on the label, so the label must reach it.
type marginObjective struct{}

func (marginObjective) Row(logits []float32, k int, grad []float32) float64 {
	clear(grad)
	grad[0], grad[1] = 1, -1
	return float64(logits[0]) - float64(logits[1]) + float64(k)
}

// TestInputGradientObjective checks an objective's values and input
// gradients against the reference model and finite differences, and that
// Logits gives the forward pass alone.
func TestInputGradientObjective(t *testing.T) {
	arch := Arch{lin(5, 4, true), act(Tanh), lin(4, 3, true)}
	m := mustInit(t, arch, 6)
	ig, err := NewInputGradient(m, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer ig.Close()
	if ig.Inputs() != 5 || ig.Classes() != 3 {
		t.Fatalf("Inputs %d Classes %d, want 5 and 3", ig.Inputs(), ig.Classes())
	}
	rng := rand.New(rand.NewPCG(3, 4))
	n := 3
	x32, x64 := randRows(rng, n, 5)
	y := []int32{0, 2, 1}
	grad, logits, obj := make([]float32, n*5), make([]float32, n*3), make([]float32, n)
	ctx := context.Background()
	if err := ig.ComputeObjective(ctx, marginObjective{}, x32, y, grad, logits, obj); err != nil {
		t.Fatal(err)
	}
	ref := toRef(m)
	for i := 0; i < n; i++ {
		f := func(v []float64) float64 {
			o, _ := ref.run(t, v, 1, false)
			return o[0] - o[1] + float64(y[i])
		}
		xi := append([]float64(nil), x64[i*5:(i+1)*5]...)
		if want := f(xi); math.Abs(float64(obj[i])-want) > 1e-5 {
			t.Errorf("sample %d: objective %v, reference %v", i, obj[i], want)
		}
		checkClose(t, "d margin/dx", grad[i*5:(i+1)*5], centralDiff(xi, f), 2e-6, 1e-4)
	}
	only := make([]float32, n*3)
	if err := ig.Logits(ctx, x32, only); err != nil {
		t.Fatal(err)
	}
	checkClose(t, "Logits", only, toF64(logits), 0, 0)
	// The cross-entropy is back after an objective.
	loss := make([]float32, n)
	if err := ig.Compute(ctx, x32, y, grad, nil, loss); err != nil {
		t.Fatal(err)
	}
	out, _ := ref.run(t, x64, n, false)
	for i := 0; i < n; i++ {
		if want := refCE(out[i*3:(i+1)*3], y[i:i+1], 3); math.Abs(float64(loss[i])-want) > 1e-5*(1+want) {
			t.Errorf("sample %d: loss %v after an objective, want the cross-entropy %v", i, loss[i], want)
		}
	}
	if err := ig.Logits(ctx, x32[:7], make([]float32, 3)); err == nil {
		t.Error("Logits took a partial sample")
	}
}
