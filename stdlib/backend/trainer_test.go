package backend

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// blobs returns n points of d features in c classes: class k is centred at
// 2·e_k (plus noise of standard deviation 0.5), so the classes are
// separable with high probability.
func blobs(seed uint64, n, d, c int) ([]float32, []int32) {
	rng := rand.New(rand.NewPCG(seed, 99))
	x := make([]float32, n*d)
	y := make([]int32, n)
	for i := range y {
		k := rng.IntN(c)
		y[i] = int32(k)
		for j := 0; j < d; j++ {
			v := 0.5 * rng.NormFloat64()
			if j == k {
				v += 2
			}
			x[i*d+j] = float32(v)
		}
	}
	return x, y
}

func accuracy(logits []float32, y []int32, c int) float64 {
	right := 0
	for i, k := range y {
		row := logits[i*c : (i+1)*c]
		if slices.Index(row, slices.Max(row)) == int(k) {
			right++
		}
	}
	return float64(right) / float64(len(y))
}

// train runs epochs over (x, y) in a fixed shuffled order with batches of
// batch rows (the last one smaller), and returns the mean loss of each
// epoch.
func train(t testing.TB, tr *Trainer, x []float32, y []int32, batch, epochs int) []float64 {
	t.Helper()
	d := len(x) / len(y)
	rng := rand.New(rand.NewPCG(5, 5))
	perm := make([]int, len(y))
	for i := range perm {
		perm[i] = i
	}
	bx := make([]float32, 0, batch*d)
	by := make([]int32, 0, batch)
	var losses []float64
	for range epochs {
		rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		var sum float64
		for start := 0; start < len(perm); start += batch {
			bx, by = bx[:0], by[:0]
			for _, i := range perm[start:min(start+batch, len(perm))] {
				bx = append(bx, x[i*d:(i+1)*d]...)
				by = append(by, y[i])
			}
			loss, err := tr.Step(context.Background(), bx, by)
			if err != nil {
				t.Fatal(err)
			}
			sum += loss * float64(len(by))
		}
		losses = append(losses, sum/float64(len(y)))
	}
	return losses
}

func TestTrainSeparable(t *testing.T) {
	const n, d, c, batch = 300, 6, 3, 32 // 300 = 9·32 + 12: every epoch ends with a partial batch
	x, y := blobs(1, n, d, c)
	xTest, yTest := blobs(2, 200, d, c)
	arch := Arch{lin(d, 16, true), act(ReLU), lin(16, c, true)}
	for _, opt := range []Optimizer{
		{Name: SGD, LR: 0.05, Momentum: 0.9},
		{Name: SGD, LR: 0.05, Momentum: 0.9, Nesterov: true, WeightDecay: 1e-4},
		{Name: Adam, LR: 1e-2},
	} {
		t.Run(opt.Name, func(t *testing.T) {
			m := mustInit(t, arch, 11)
			before, err := Predict(context.Background(), m, xTest, len(yTest), 64)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := NewTrainer(m, opt, batch)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			losses := train(t, tr, x, y, batch, 20)
			if tr.Model() != m {
				t.Errorf("Model() is not the model being trained")
			}
			if first, last := losses[0], losses[len(losses)-1]; !(last < first/4) {
				t.Errorf("mean loss went from %v to %v, want a fall by 4x", first, last)
			}
			after, err := Predict(context.Background(), m, xTest, len(yTest), 64)
			if err != nil {
				t.Fatal(err)
			}
			accBefore, accAfter := accuracy(before, yTest, c), accuracy(after, yTest, c)
			if accAfter < 0.95 || accAfter <= accBefore {
				t.Errorf("test accuracy %v before training, %v after; want >= 0.95", accBefore, accAfter)
			}
			if tr.Steps() != 20*10 {
				t.Errorf("Steps() = %d, want 200", tr.Steps())
			}
		})
	}
}

func TestTrainDeterministic(t *testing.T) {
	x, y := blobs(3, 100, 5, 4)
	arch := Arch{lin(5, 8, true), act(Tanh), lin(8, 4, true)}
	run := func() *Model {
		m := mustInit(t, arch, 21)
		tr, err := NewTrainer(m, Optimizer{Name: Adam, LR: 1e-2, WeightDecay: 1e-3}, 16)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		train(t, tr, x, y, 16, 3)
		return tr.Model().Clone()
	}
	a, b := run(), run()
	for i := range a.Params {
		for j := range a.Params[i].Data {
			if math.Float32bits(a.Params[i].Data[j]) != math.Float32bits(b.Params[i].Data[j]) {
				t.Fatalf("%s[%d]: %v and %v after two identical runs", a.Params[i].Name, j, a.Params[i].Data[j], b.Params[i].Data[j])
			}
		}
	}
	if init := mustInit(t, arch, 21); slices.Equal(init.Params[0].Data, a.Params[0].Data) {
		t.Errorf("training did not change the weights")
	}
}

// TestPartialBatch checks that a step on n < batch rows (the trainer's
// second graph) gives bit-identical results to a trainer built for n rows,
// and that the loss it reports is the reference loss of Predict's logits.
func TestPartialBatch(t *testing.T) {
	arch := Arch{lin(4, 6, true), act(ReLU), lin(6, 3, true)}
	x, y := blobs(4, 8, 4, 3)
	ctx := context.Background()
	for _, n := range []int{1, 5, 8, 3, 5} {
		m1 := mustInit(t, arch, 8)
		m2 := m1.Clone()
		t1, err := NewTrainer(m1, Optimizer{Name: SGD, LR: 0.1, Momentum: 0.9}, 8)
		if err != nil {
			t.Fatal(err)
		}
		t2, err := NewTrainer(m2, Optimizer{Name: SGD, LR: 0.1, Momentum: 0.9}, n)
		if err != nil {
			t.Fatal(err)
		}
		logits, err := Predict(ctx, m1, x[:n*4], n, 3)
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := SoftmaxCrossEntropy(logits, y[:n], 3)
		if err != nil {
			t.Fatal(err)
		}
		for step := range 2 {
			l1, err1 := t1.Step(ctx, x[:n*4], y[:n])
			l2, err2 := t2.Step(ctx, x[:n*4], y[:n])
			if err1 != nil || err2 != nil {
				t.Fatal(err1, err2)
			}
			if l1 != l2 || (step == 0 && !closeTo(l1, want, 1e-6, 1e-6)) {
				t.Errorf("n=%d step %d: loss %v (partial graph), %v (own graph), reference %v", n, step, l1, l2, want)
			}
		}
		for i := range m1.Params {
			if !slices.Equal(m1.Params[i].Data, m2.Params[i].Data) {
				t.Errorf("n=%d: %s differs between the partial-batch graph and a graph of that size", n, m1.Params[i].Name)
			}
		}
		t1.Close()
		t2.Close()
	}

	// One trainer, alternating sizes: the graph of the last smaller size is
	// rebuilt when the size changes.
	m := mustInit(t, arch, 8)
	tr, err := NewTrainer(m, Optimizer{Name: SGD, LR: 0.1}, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for _, n := range []int{8, 3, 3, 5, 1, 8, 3} {
		if _, err := tr.Step(ctx, x[:n*4], y[:n]); err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
	}
}

func TestStepErrors(t *testing.T) {
	arch := Arch{lin(3, 4, true), act(ReLU), lin(4, 2, true)}
	x := []float32{0.1, 0.2, 0.3, -0.1, 0.5, 0.9}
	y := []int32{0, 1}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name      string
		ctx       context.Context
		x         []float32
		y         []int32
		change    func(*Model, *Trainer)
		want      string
		nonFinite bool
	}{
		{name: "label too big", y: []int32{0, 2}, want: "label 2 of row 1"},
		{name: "negative label", y: []int32{-1, 0}, want: "label -1 of row 0"},
		{name: "short x", x: x[:5], want: "5 inputs for 2 rows of 3"},
		{name: "no rows", x: []float32{}, y: []int32{}, want: "0 rows"},
		{name: "too many rows", x: append(x, x...), y: []int32{0, 1, 0, 1}, want: "4 rows"},
		{name: "NaN input", x: []float32{nan, 0, 0, 0, 0, 0}, nonFinite: true},
		{name: "Inf input", x: []float32{inf, 0, 0, 0, 0, 0}, nonFinite: true},
		{name: "NaN weight", change: func(m *Model, _ *Trainer) { m.Params[2].Data[0] = nan }, nonFinite: true},
		{name: "NaN bias", change: func(m *Model, _ *Trainer) { m.Params[3].Data[1] = nan }, nonFinite: true},
		{name: "Inf bias", change: func(m *Model, _ *Trainer) { m.Params[3].Data[0] = inf }, y: []int32{1, 1}, nonFinite: true},
		{name: "overflowing logits", change: func(m *Model, _ *Trainer) {
			m.Params[3].Data[0] = math.MaxFloat32
			m.Params[2].Data[0] = math.MaxFloat32
		}, x: []float32{1, 1, 1, 1, 1, 1}, nonFinite: true},
		{name: "cancelled", ctx: cancelled, want: "context canceled"},
		{name: "closed", change: func(_ *Model, tr *Trainer) { tr.Close() }, want: "trainer is closed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mustInit(t, arch, 1)
			tr, err := NewTrainer(m, Optimizer{Name: SGD, LR: 0.1}, 3)
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			if tc.ctx == nil {
				tc.ctx = context.Background()
			}
			if tc.x == nil {
				tc.x = x
			}
			if tc.y == nil {
				tc.y = y
			}
			if tc.change != nil {
				tc.change(m, tr)
			}
			before := m.Clone()
			loss, err := tr.Step(tc.ctx, tc.x, tc.y)
			if err == nil {
				t.Fatalf("Step succeeded with loss %v", loss)
			}
			if !strings.HasPrefix(err.Error(), "backend: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want one starting with \"backend: \" containing %q", err, tc.want)
			}
			if got := errors.Is(err, ErrNonFinite); got != tc.nonFinite {
				t.Errorf("errors.Is(%v, ErrNonFinite) = %t, want %t", err, got, tc.nonFinite)
			}
			if tc.nonFinite && !math.IsNaN(loss) && !math.IsInf(loss, 0) {
				t.Errorf("loss %v returned with the non-finite error", loss)
			}
			for i := range m.Params {
				for j, v := range m.Params[i].Data {
					if math.Float32bits(v) != math.Float32bits(before.Params[i].Data[j]) {
						t.Fatalf("%s changed after a failed step", m.Params[i].Name)
					}
				}
			}
			if tr.Steps() != 0 {
				t.Errorf("Steps() = %d after a failed step", tr.Steps())
			}
		})
	}

	// The trainer still works after failed steps.
	m := mustInit(t, arch, 1)
	tr, err := NewTrainer(m, Optimizer{Name: SGD, LR: 0.1}, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.Step(context.Background(), []float32{nan, 0, 0, 0, 0, 0}, y); err == nil {
		t.Fatal("NaN step succeeded")
	}
	if _, err := tr.Step(context.Background(), x, []int32{5, 0}); err == nil {
		t.Fatal("bad label step succeeded")
	}
	if loss, err := tr.Step(context.Background(), x, y); err != nil || math.IsNaN(loss) {
		t.Fatalf("step after failures: %v, %v", loss, err)
	}
	if err := tr.Close(); err != nil {
		t.Fatal(err)
	}
	if err := tr.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNewTrainerErrors(t *testing.T) {
	arch := Arch{lin(3, 4, true), act(ReLU), lin(4, 2, true)}
	good := mustInit(t, arch, 1)
	bad := good.Clone()
	bad.Params[1].Data = bad.Params[1].Data[:2]
	tests := []struct {
		name  string
		m     *Model
		opt   Optimizer
		batch int
		want  string
	}{
		{"nil model", nil, Optimizer{Name: SGD, LR: 0.1}, 4, "nil model"},
		{"bad tensor", bad, Optimizer{Name: SGD, LR: 0.1}, 4, `"0.bias" has 2 values`},
		{"bad optimizer", good, Optimizer{Name: "lbfgs", LR: 0.1}, 4, "unknown optimizer"},
		{"zero batch", good, Optimizer{Name: SGD, LR: 0.1}, 0, "batch size 0"},
		{"huge batch", good, Optimizer{Name: SGD, LR: 0.1}, 1 << 30, "out of range"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := NewTrainer(tc.m, tc.opt, tc.batch)
			if err == nil {
				tr.Close()
				t.Fatal("NewTrainer succeeded")
			}
			if !strings.HasPrefix(err.Error(), "backend: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want one containing %q", err, tc.want)
			}
		})
	}
}

func TestPredict(t *testing.T) {
	arch := Arch{lin(5, 7, true), act(Sigmoid), lin(7, 6, false), act(ReLU), lin(6, 3, true)}
	m := mustInit(t, arch, 9)
	rng := rand.New(rand.NewPCG(9, 9))
	const n = 11
	x, x64 := randRows(rng, n, 5)
	want, _ := toRef(m).forward(x64, n)
	for _, batch := range []int{1, 3, 4, 11, 100} {
		got, err := Predict(context.Background(), m, x, n, batch)
		if err != nil {
			t.Fatalf("batch %d: %v", batch, err)
		}
		checkClose(t, "logits", got, want, 1e-6, 1e-5)
	}
	if got, err := Predict(context.Background(), m, nil, 0, 8); err != nil || len(got) != 0 {
		t.Errorf("Predict of no rows = %v, %v", got, err)
	}

	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name     string
		ctx      context.Context
		m        *Model
		x        []float32
		n, batch int
		want     string
	}{
		{"short x", context.Background(), m, x[:9], 2, 4, "9 inputs for 2 rows of 5"},
		{"negative n", context.Background(), m, nil, -1, 4, "-1 rows"},
		{"zero batch", context.Background(), m, x, n, 0, "batch size 0"},
		{"cancelled", cancelled, m, x, n, 4, "context canceled"},
		{"invalid model", context.Background(), &Model{Arch: arch}, x, n, 4, "has 0 tensors"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Predict(tc.ctx, tc.m, tc.x, tc.n, tc.batch)
			if err == nil || !strings.HasPrefix(err.Error(), "backend: ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestConcurrentTrainers trains identical models in parallel goroutines
// (graph building is serialised inside the package) and expects the
// sequential result from each. Run it with -race.
func TestConcurrentTrainers(t *testing.T) {
	x, y := blobs(6, 60, 4, 3)
	arch := Arch{lin(4, 8, true), act(ReLU), lin(8, 3, true)}
	run := func() *Model {
		m := mustInit(t, arch, 2)
		tr, err := NewTrainer(m, Optimizer{Name: SGD, LR: 0.05, Momentum: 0.9}, 16)
		if err != nil {
			t.Error(err)
			return m
		}
		defer tr.Close()
		train(t, tr, x, y, 16, 2)
		if _, err := Predict(context.Background(), m, x, 60, 7); err != nil {
			t.Error(err)
		}
		return m
	}
	want := run()
	got := make([]*Model, 4)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i] = run() })
	}
	wg.Wait()
	for i, m := range got {
		for k := range m.Params {
			if !slices.Equal(m.Params[k].Data, want.Params[k].Data) {
				t.Errorf("goroutine %d: %s differs from the sequential run", i, m.Params[k].Name)
			}
		}
	}
}

// TestStepAllocations checks that a step allocates only the TapeMachine's
// bookkeeping: no tensor is reallocated from step to step.
func TestStepAllocations(t *testing.T) {
	arch := Arch{lin(256, 128, true), act(ReLU), lin(128, 10, true)}
	m := mustInit(t, arch, 1)
	tr, err := NewTrainer(m, Optimizer{Name: Adam, LR: 1e-3}, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	x, y := blobs(7, 64, 256, 10)
	ctx := context.Background()
	for range 3 {
		if _, err := tr.Step(ctx, x, y); err != nil {
			t.Fatal(err)
		}
	}
	const steps = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range steps {
		if _, err := tr.Step(ctx, x, y); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	// The smallest tensor of the graph (a bias gradient) is 512 bytes and
	// an activation 32 KB; the machine's bookkeeping is a few KB.
	if perStep := (after.TotalAlloc - before.TotalAlloc) / steps; perStep > 24<<10 {
		t.Errorf("a step allocates %d bytes, want at most 24 KB", perStep)
	}
}
