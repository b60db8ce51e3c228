package attack

import (
	"context"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// linearLoss is a Gradienter of ℓ(x) = w·x for every sample: its gradient
// is w everywhere, so attacks on it can be worked out by hand.
type linearLoss struct {
	w     []float32
	rows  int
	calls int
}

func (l *linearLoss) Rows() int { return l.rows }

func (l *linearLoss) Compute(ctx context.Context, x []float32, y []int32, grad, logits, loss []float32) error {
	l.calls++
	if len(y) > l.rows {
		panic("batch larger than Rows")
	}
	for i := range y {
		copy(grad[i*len(l.w):(i+1)*len(l.w)], l.w)
	}
	return nil
}

var unit = Box{0, 1}

func approx(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-6 {
			t.Errorf("%s = %v, want %v", what, got, want)
			return
		}
	}
}

func TestHandValues(t *testing.T) {
	ctx := context.Background()
	w := []float32{1, 2, -3, 0}
	x := []float32{0.5, 0.98, 0.02, 0.3}
	y := []int32{0}
	g := &linearLoss{w: w, rows: 4}

	// FGSM: x + 0.05·sign(w), clamped to [0, 1]; a zero gradient stays.
	got, err := FGSM(ctx, g, x, y, 4, 0.05, unit)
	if err != nil {
		t.Fatal(err)
	}
	approx(t, "FGSM", got, []float32{0.55, 1, 0, 0.3})

	// PGD l∞, 10 steps of 0.02 within 0.05: each value moves to the edge
	// of the ball (or the box) and stays there.
	got, err = PGD{Norm: Linf, Eps: 0.05, Step: 0.02, Steps: 10, Box: unit}.Run(ctx, g, x, y, 4)
	if err != nil {
		t.Fatal(err)
	}
	approx(t, "PGD linf", got, []float32{0.55, 1, 0, 0.3})
	// Two steps of 0.02 stay inside the ball: x + 0.04·sign(w).
	got, _ = PGD{Norm: Linf, Eps: 0.05, Step: 0.02, Steps: 2, Box: unit}.Run(ctx, g, x, y, 4)
	approx(t, "PGD linf, 2 steps", got, []float32{0.54, 1, 0, 0.3})

	// PGD l2 from the middle of the box: the perturbation ends at
	// eps·w/‖w‖ (‖w‖ = √14); one step of 0.05 goes half way.
	mid := []float32{0.5, 0.5, 0.5, 0.5}
	r := float32(math.Sqrt(14))
	got, _ = PGD{Norm: L2, Eps: 0.1, Step: 0.04, Steps: 5, Box: unit}.Run(ctx, g, mid, y, 4)
	approx(t, "PGD l2", got, []float32{0.5 + 0.1/r, 0.5 + 0.2/r, 0.5 - 0.3/r, 0.5})
	got, _ = PGD{Norm: L2, Eps: 0.1, Step: 0.05, Steps: 1, Box: unit}.Run(ctx, g, mid, y, 4)
	approx(t, "PGD l2, 1 step", got, []float32{0.5 + 0.05/r, 0.5 + 0.1/r, 0.5 - 0.15/r, 0.5})
}

func TestBatchingAndRandomStart(t *testing.T) {
	ctx := context.Background()
	const n, in = 7, 5
	rng := rand.New(rand.NewPCG(1, 1))
	x := make([]float32, n*in)
	for i := range x {
		x[i] = rng.Float32()
	}
	y := make([]int32, n)
	w := []float32{0.3, -1, 0, 2, -0.5}
	for _, norm := range []Norm{Linf, L2} {
		p := PGD{Norm: norm, Eps: 0.2, Step: 0.07, Steps: 3, RandomStart: true, Seed: 5, Box: unit}
		small, big := &linearLoss{w: w, rows: 2}, &linearLoss{w: w, rows: 16}
		a, err := p.Run(ctx, small, x, y, in)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := p.Run(ctx, big, x, y, in)
		approx(t, string(norm)+": batches of 2 against one batch", a, b)
		if small.calls != 4*3 || big.calls != 3 {
			t.Errorf("%s: %d and %d gradient calls, want 12 and 3", norm, small.calls, big.calls)
		}
		p.Seed = 6
		c, _ := p.Run(ctx, big, x, y, in)
		same := true
		for i := range c {
			same = same && c[i] == b[i]
		}
		if same {
			t.Errorf("%s: seeds 5 and 6 gave the same attack", norm)
		}
		// Every sample stays in the ball and the box.
		for i := 0; i < n; i++ {
			var l2, linf float64
			for j := 0; j < in; j++ {
				v, d := a[i*in+j], float64(a[i*in+j]-x[i*in+j])
				if v < 0 || v > 1 {
					t.Fatalf("%s: value %v outside [0, 1]", norm, v)
				}
				l2 += d * d
				linf = math.Max(linf, math.Abs(d))
			}
			if size := map[Norm]float64{Linf: linf, L2: math.Sqrt(l2)}[norm]; size > 0.2+1e-6 {
				t.Errorf("%s: sample %d moved %v, budget 0.2", norm, i, size)
			}
		}
	}
}

// TestOnAModel attacks a small trained-at-random MLP through
// backend.InputGradient: each attack raises every sample's loss (the
// model is locally linear enough at this budget), stays within budget and
// FGSM is one PGD step of size eps.
func TestOnAModel(t *testing.T) {
	ctx := context.Background()
	ig := smallMLP(t, 6, 8, 3, backend.Tanh, 2, 4)
	const n = 6
	rng := rand.New(rand.NewPCG(3, 3))
	x := make([]float32, n*6)
	for i := range x {
		x[i] = 0.2 + 0.6*rng.Float32()
	}
	y := []int32{0, 1, 2, 0, 1, 2}
	lossOf := func(v []float32) []float32 {
		out := make([]float32, n)
		grad := make([]float32, 6)
		for i := 0; i < n; i++ {
			if err := ig.Compute(ctx, v[i*6:(i+1)*6], y[i:i+1], grad, nil, out[i:i+1]); err != nil {
				t.Fatal(err)
			}
		}
		return out
	}
	clean := lossOf(x)
	fgsm, err := FGSM(ctx, ig, x, y, 6, 0.05, unit)
	if err != nil {
		t.Fatal(err)
	}
	one, _ := PGD{Norm: Linf, Eps: 0.05, Step: 0.05, Steps: 1, Box: unit}.Run(ctx, ig, x, y, 6)
	approx(t, "FGSM against one PGD step", fgsm, one)
	pgd, _ := PGD{Norm: Linf, Eps: 0.05, Step: 0.0125, Steps: 10, Box: unit}.Run(ctx, ig, x, y, 6)
	l2, _ := PGD{Norm: L2, Eps: 0.1, Step: 0.025, Steps: 10, Box: unit}.Run(ctx, ig, x, y, 6)
	for name, adv := range map[string][]float32{"fgsm": fgsm, "pgd": pgd, "pgd-l2": l2} {
		for i, l := range lossOf(adv) {
			if !(l > clean[i]) {
				t.Errorf("%s: sample %d loss %v, clean %v", name, i, l, clean[i])
			}
		}
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	g := &linearLoss{w: []float32{1, 1}, rows: 2}
	x, y := []float32{0.5, 0.5}, []int32{0}
	for _, tc := range []struct {
		p    PGD
		want string
	}{
		{PGD{Norm: "l1", Eps: 0.1, Step: 0.1, Steps: 1, Box: unit}, `norm "l1"`},
		{PGD{Norm: Linf, Eps: -0.1, Step: 0.1, Steps: 1, Box: unit}, "budget eps -0.1"},
		{PGD{Norm: Linf, Eps: 0.1, Step: 0, Steps: 1, Box: unit}, "step 0"},
		{PGD{Norm: Linf, Eps: 0.1, Step: 0.1, Steps: 0, Box: unit}, "0 steps"},
		{PGD{Norm: Linf, Eps: 0.1, Step: 0.1, Steps: 1, Box: Box{1, 0}}, "input range [1, 0]"},
	} {
		if _, err := tc.p.Run(ctx, g, x, y, 2); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.p, err, tc.want)
		}
	}
	p := PGD{Norm: Linf, Eps: 0.1, Step: 0.1, Steps: 1, Box: unit}
	if _, err := p.Run(ctx, g, x[:1], y, 2); err == nil {
		t.Error("inputs of the wrong length were accepted")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := p.Run(cancelled, g, x, y, 2); err == nil {
		t.Error("a cancelled context was not reported")
	}
}

// smallMLP returns the input gradient, for batches of rows samples, of an
// MLP in → hidden → out with the activation act between its two layers,
// initialised from seed; the test closes it.
func smallMLP(t *testing.T, in, hidden, out int, act string, seed int64, rows int) *backend.InputGradient {
	t.Helper()
	arch := backend.Arch{
		{Kind: backend.Linear, In: in, Out: hidden, Bias: true},
		{Kind: backend.Activation, Activation: act},
		{Kind: backend.Linear, In: hidden, Out: out, Bias: true},
	}
	m, err := backend.Init(arch, seed)
	if err != nil {
		t.Fatal(err)
	}
	ig, err := backend.NewInputGradient(m, rows)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ig.Close() })
	return ig
}

// TestLinfStepBits checks that the fast l∞ step gives the bits of its
// definition, linfStepRef, on random values and on the edge cases of its
// bit tricks: signed zeros, zero, NaN and infinite gradients, values on
// the bounds, huge steps and boxes below, around and above zero.
func TestLinfStepBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	edges := []float32{0, float32(math.Copysign(0, -1)), 1, -1, 0.5, 1e-38, -1e-38, 3e38, -3e38}
	pick := func(scale float32) float32 {
		if rng.IntN(4) == 0 {
			return edges[rng.IntN(len(edges))]
		}
		return scale * (2*rng.Float32() - 1)
	}
	boxes := []Box{{0, 1}, {-1, 1}, {-2, -0.5}, {0.25, 3}, {float32(math.Copysign(0, -1)), 1}, {-3e38, 3e38}}
	for trial := range 3000 {
		box := boxes[trial%len(boxes)]
		p := PGD{Norm: Linf, Eps: float32(math.Abs(float64(pick(2)))), Step: float32(math.Abs(float64(pick(2)))), Box: box}
		if !p.linfFast() {
			continue
		}
		const n = 17
		x0, xa, g := make([]float32, n), make([]float32, n), make([]float32, n)
		for j := range n {
			x0[j] = min(max(pick(4), box.Lo), box.Hi)
			xa[j] = min(max(pick(4), box.Lo), box.Hi)
			g[j] = pick(10)
			switch rng.IntN(12) {
			case 0:
				g[j] = float32(math.NaN())
			case 1:
				g[j] = float32(math.Inf(1 - 2*rng.IntN(2)))
			}
		}
		fast, ref := append([]float32(nil), xa...), append([]float32(nil), xa...)
		p.linfStep(fast, x0, g)
		p.linfStepRef(ref, x0, g)
		for j := range fast {
			if math.Float32bits(fast[j]) != math.Float32bits(ref[j]) {
				t.Fatalf("trial %d (eps %v, step %v, box %v): value %d, x0 %v, x %v, grad %v: fast %v, reference %v",
					trial, p.Eps, p.Step, box, j, x0[j], xa[j], g[j], fast[j], ref[j])
			}
		}
	}
}
