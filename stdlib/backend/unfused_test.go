package backend

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// TestFusedMatchesUnfusedGraph: the package's own ops (matmul owning its
// output, bias and activation fused in place, fused softmax cross-entropy)
// give the loss and weight gradients of the same network written with
// gorgonia's built-in ops (Mul, BroadcastAdd, Rectify/Tanh/Sigmoid, and a
// log-softmax from Exp, Sum and Log), in float64.
func TestFusedMatchesUnfusedGraph(t *testing.T) {
	for _, tc := range []struct {
		act     string
		builtin func(*G.Node) (*G.Node, error)
	}{
		{ReLU, G.Rectify},
		{Tanh, G.Tanh},
		{Sigmoid, G.Sigmoid},
	} {
		t.Run(tc.act, func(t *testing.T) { testFusedMatchesUnfused(t, tc.act, tc.builtin) })
	}
}

func testFusedMatchesUnfused(t *testing.T, act string, builtin func(*G.Node) (*G.Node, error)) {
	const n, in, hidden, classes = 6, 9, 7, 4
	arch := Arch{
		{Kind: Linear, In: in, Out: hidden, Bias: true},
		{Kind: Activation, Activation: act},
		{Kind: Linear, In: hidden, Out: classes, Bias: true},
	}
	m := mustInit(t, arch, 11)
	before := m.Clone()
	rng := rand.New(rand.NewPCG(12, 13))
	x := randF32(rng, n*in)
	y := randLabels(rng, n, classes)

	// Ours: one SGD step with lr 1 turns the weights into w - grad.
	tr, err := NewTrainer(m, Optimizer{Name: SGD, LR: 1}, n)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	loss, err := tr.Step(context.Background(), x, y)
	if err != nil {
		t.Fatal(err)
	}
	got := make([][]float64, len(m.Params))
	for i := range m.Params {
		got[i] = make([]float64, len(m.Params[i].Data))
		for j := range got[i] {
			got[i][j] = float64(before.Params[i].Data[j]) - float64(tr.Model().Params[i].Data[j])
		}
	}

	// The unfused reference graph, in float64.
	g := G.NewGraph()
	xs := G.NewMatrix(g, tensor.Float64, G.WithShape(n, in), G.WithName("x"), G.WithValue(tensor.New(tensor.WithShape(n, in), tensor.WithBacking(f64(x)))))
	onehot := make([]float64, n*classes)
	for i, k := range y {
		onehot[i*classes+int(k)] = 1
	}
	oh := G.NewMatrix(g, tensor.Float64, G.WithShape(n, classes), G.WithName("onehot"), G.WithValue(tensor.New(tensor.WithShape(n, classes), tensor.WithBacking(onehot))))
	// Weights as in×out matrices (the transpose of PyTorch's [out, in]).
	w1 := G.NewMatrix(g, tensor.Float64, G.WithShape(in, hidden), G.WithName("w1"), G.WithValue(tensor.New(tensor.WithShape(in, hidden), tensor.WithBacking(transposed(before.Params[0].Data, hidden, in)))))
	b1 := G.NewVector(g, tensor.Float64, G.WithShape(hidden), G.WithName("b1"), G.WithValue(tensor.New(tensor.WithShape(hidden), tensor.WithBacking(f64(before.Params[1].Data)))))
	w2 := G.NewMatrix(g, tensor.Float64, G.WithShape(hidden, classes), G.WithName("w2"), G.WithValue(tensor.New(tensor.WithShape(hidden, classes), tensor.WithBacking(transposed(before.Params[2].Data, classes, hidden)))))
	b2 := G.NewVector(g, tensor.Float64, G.WithShape(classes), G.WithName("b2"), G.WithValue(tensor.New(tensor.WithShape(classes), tensor.WithBacking(f64(before.Params[3].Data)))))
	h := G.Must(builtin(G.Must(G.BroadcastAdd(G.Must(G.Mul(xs, w1)), b1, nil, []byte{0}))))
	logits := G.Must(G.BroadcastAdd(G.Must(G.Mul(h, w2)), b2, nil, []byte{0}))
	lse := G.Must(G.Log(G.Must(G.Sum(G.Must(G.Exp(logits)), 1))))
	logp := G.Must(G.BroadcastSub(logits, lse, nil, []byte{1}))
	cost := G.Must(G.Neg(G.Must(G.Div(G.Must(G.Sum(G.Must(G.HadamardProd(logp, oh)))), G.NewConstant(float64(n))))))
	grads, err := G.Grad(cost, w1, b1, w2, b2)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	defer vm.Close()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	if want := cost.Value().Data().(float64); math.Abs(loss-want) > 1e-5*(1+math.Abs(want)) {
		t.Errorf("loss %g, unfused graph %g", loss, want)
	}
	wantGrads := [][]float64{
		transposed64(grads[0].Value().Data().([]float64), in, hidden),
		grads[1].Value().Data().([]float64),
		transposed64(grads[2].Value().Data().([]float64), hidden, classes),
		grads[3].Value().Data().([]float64),
	}
	for i, want := range wantGrads {
		for j := range want {
			if d := math.Abs(got[i][j] - want[j]); d > 1e-5*(1+math.Abs(want[j])) {
				t.Fatalf("gradient of %s[%d] = %g, unfused graph %g", m.Params[i].Name, j, got[i][j], want[j])
			}
		}
	}
}

func f64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

// transposed returns the rows×cols row-major matrix a as cols×rows, in
// float64.
func transposed(a []float32, rows, cols int) []float64 {
	out := make([]float64, rows*cols)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			out[c*rows+r] = float64(a[r*cols+c])
		}
	}
	return out
}

func transposed64(a []float64, rows, cols int) []float64 {
	out := make([]float64, rows*cols)
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			out[c*rows+r] = a[r*cols+c]
		}
	}
	return out
}
