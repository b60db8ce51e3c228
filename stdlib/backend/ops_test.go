package backend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// input is an input node of a test graph.
type input struct {
	name  string
	shape []int
	data  []float32
	wrt   bool // differentiate the cost with respect to it
}

// runGraph builds a graph from inputs and body (which returns the scalar
// cost), compiles the cost and its gradients with respect to the wrt inputs
// as the trainer does, runs it, and returns the cost and the gradients.
func runGraph(t *testing.T, inputs []input, body func(ids *idSource, in G.Nodes) (*G.Node, error)) (float64, [][]float32) {
	t.Helper()
	g := G.NewGraph()
	var nodes, wrt G.Nodes
	for _, in := range inputs {
		v := tensor.New(tensor.WithShape(in.shape...), tensor.WithBacking(in.data))
		n := G.NewTensor(g, G.Float32, len(in.shape), G.WithShape(in.shape...), G.WithName(in.name), G.WithValue(v))
		nodes = append(nodes, n)
		if in.wrt {
			wrt = append(wrt, n)
		}
	}
	cost, err := body(new(idSource), nodes)
	if err != nil {
		t.Fatal(err)
	}
	grads, err := G.Grad(cost, wrt...)
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g.SubgraphRoots(append(G.Nodes{cost}, grads...)...))
	defer vm.Close()
	for range 2 { // the second run checks that reruns give the same results
		vm.Reset()
		if err := vm.RunAll(); err != nil {
			t.Fatal(err)
		}
	}
	c, err := scalar(cost.Value())
	if err != nil {
		t.Fatal(err)
	}
	var out [][]float32
	for _, n := range grads {
		d, err := dense(n.Value(), -1)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, append([]float32(nil), d.Float32s()...))
	}
	return c, out
}

// centralDiff returns the central finite differences of f at x (float64).
func centralDiff(x []float64, f func([]float64) float64) []float64 {
	const eps = 1e-6
	d := make([]float64, len(x))
	for i, v := range x {
		x[i] = v + eps
		fp := f(x)
		x[i] = v - eps
		fm := f(x)
		x[i] = v
		d[i] = (fp - fm) / (2 * eps)
	}
	return d
}

func to64(x []float32) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v)
	}
	return out
}

func labelsF32(y []int32) []float32 {
	out := make([]float32, len(y))
	for i, k := range y {
		out[i] = float32(k)
	}
	return out
}

func checkClose(t *testing.T, what string, got []float32, want []float64, atol, rtol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !closeTo(float64(got[i]), want[i], atol, rtol) {
			t.Errorf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestSoftmaxCEOp(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	tests := []struct {
		name   string
		logits []float32
		y      []int32
		c      int
	}{
		{"extreme rows", []float32{100, 0, -200, -201, 0, 100, 1e-3, -1e-3}, []int32{0, 0, 0, 1}, 2},
		{"ties", []float32{5, 5, 5, 1, 1, -2}, []int32{1, 2}, 3},
		{"random", nil, randLabels(rng, 9, 7), 7},
		{"one row one class", []float32{3}, []int32{0}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := len(tc.y)
			if tc.logits == nil {
				tc.logits, _ = randRows(rng, n, tc.c)
				for i := range tc.logits {
					tc.logits[i] *= 4
				}
			}
			want, wantGrad, err := SoftmaxCrossEntropy(tc.logits, tc.y, tc.c)
			if err != nil {
				t.Fatal(err)
			}
			loss, grads := runGraph(t, []input{
				{"logits", []int{n, tc.c}, append([]float32(nil), tc.logits...), true},
				{"y", []int{n}, labelsF32(tc.y), false},
			}, func(ids *idSource, in G.Nodes) (*G.Node, error) {
				return G.ApplyOp(newSoftmaxCEOp(ids), in[0], in[1])
			})
			if !closeTo(loss, want, 1e-44, 1e-6) { // the graph's value is a float32
				t.Errorf("loss = %v, reference %v", loss, want)
			}
			checkClose(t, "grad vs reference", grads[0], to64(wantGrad), 1e-45, 1e-6)
			fd := centralDiff(to64(tc.logits), func(x []float64) float64 { return refCE(x, tc.y, tc.c) })
			checkClose(t, "grad vs finite differences", grads[0], fd, 1e-8, 1e-5)
		})
	}
}

func TestSoftmaxCEOpDirect(t *testing.T) {
	op := newSoftmaxCEOp(new(idSource))
	logits := tensor.New(tensor.WithShape(2, 2), tensor.WithBacking([]float32{100, 0, -200, -201}))
	labels := tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{0, 0}))
	v, err := op.Do(logits, labels)
	if err != nil {
		t.Fatal(err)
	}
	want := (math.Exp(-100) + 0.31326168751822286) / 2
	if got := float64(*v.(*G.F32)); !closeTo(got, want, 0, 1e-7) || !closeTo(op.mean, want, 0, 1e-15) {
		t.Errorf("loss = %v (float64 %v), want %v", got, op.mean, want)
	}
	// An incoming gradient other than 1 scales the gradient.
	gop := &lossGradOp{opID: opID{name: "test"}, grad: &op.grad, shape: tensor.Shape{2, 2}}
	two := G.F32(2)
	d, err := gop.Do(v, &two)
	if err != nil {
		t.Fatal(err)
	}
	e1 := math.Exp(-1)
	checkClose(t, "2·grad", d.(*tensor.Dense).Float32s(), []float64{-2 * math.Exp(-100) / 2, 1 / (1 + math.Exp(100)), 1/(1+e1) - 1, e1 / (1 + e1)}, 1e-44, 1e-6) // float32 denormals near 3.7e-44 have few bits

	for _, bad := range [][]float32{{0, 2}, {0, -1}, {0, 0.5}, {0, float32(math.NaN())}} {
		labels := tensor.New(tensor.WithShape(2), tensor.WithBacking(bad))
		if _, err := op.Do(logits, labels); err == nil {
			t.Errorf("labels %v accepted", bad)
		}
	}
	if _, err := op.Do(logits, tensor.New(tensor.WithShape(3), tensor.WithBacking([]float32{0, 0, 0}))); err == nil {
		t.Errorf("3 labels for 2 rows accepted")
	}
	if _, err := op.Do(logits); err == nil {
		t.Errorf("one input accepted")
	}
	if _, err := op.Do(tensor.New(tensor.WithShape(4), tensor.WithBacking([]float64{1, 2, 3, 4})), labels); err == nil {
		t.Errorf("float64 logits accepted")
	}
}

func TestReLUBits(t *testing.T) {
	negNaN := math.Float32frombits(0xffc00000) // x86's default NaN has the sign bit set
	tests := []struct {
		in, want float32
	}{
		{-1, 0}, {2.5, 2.5}, {0, 0}, {float32(math.Copysign(0, -1)), 0},
		{float32(math.Inf(1)), float32(math.Inf(1))}, {float32(math.Inf(-1)), 0},
		{math.MaxFloat32, math.MaxFloat32}, {-math.MaxFloat32, 0},
		{math.SmallestNonzeroFloat32, math.SmallestNonzeroFloat32}, {-math.SmallestNonzeroFloat32, 0},
	}
	for _, tc := range tests {
		dst := []float32{7}
		reluForward(dst, []float32{tc.in})
		if math.Float32bits(dst[0]) != math.Float32bits(tc.want) {
			t.Errorf("relu(%v) = %v (bits %#x), want %v", tc.in, dst[0], math.Float32bits(dst[0]), tc.want)
		}
	}
	for _, nan := range []float32{float32(math.NaN()), negNaN} {
		dst := []float32{0}
		reluForward(dst, []float32{nan})
		if !math.IsNaN(float64(dst[0])) {
			t.Errorf("relu(NaN %#x) = %v, want NaN", math.Float32bits(nan), dst[0])
		}
	}

	y := []float32{0, 1, 3, 0, math.SmallestNonzeroFloat32, float32(math.NaN())}
	g := []float32{5, 6, -7, 8, 9, 10}
	want := []float32{0, 6, -7, 0, 9, 10}
	dst := make([]float32, len(y))
	reluBackward(dst, y, g)
	for i := range want {
		if dst[i] != want[i] {
			t.Errorf("relu backward at y=%v: %v, want %v", y[i], dst[i], want[i])
		}
	}
	reluBackward(g, y, g) // in place
	for i := range want {
		if g[i] != want[i] {
			t.Errorf("in-place relu backward at y=%v: %v, want %v", y[i], g[i], want[i])
		}
	}
}

func TestActivationOps(t *testing.T) {
	ref := map[string]func(float64) float64{
		ReLU:    func(x float64) float64 { return math.Max(x, 0) },
		Tanh:    math.Tanh,
		Sigmoid: func(x float64) float64 { return 1 / (1 + math.Exp(-x)) },
	}
	rng := rand.New(rand.NewPCG(2, 2))
	const n, c = 6, 5
	x, _ := randRows(rng, n, c)
	for i := range x {
		x[i] *= 3
		if math.Abs(float64(x[i])) < 0.05 { // keep finite differences away from ReLU's kink
			x[i] += 0.1
		}
	}
	y := randLabels(rng, n, c)
	for _, fn := range []string{ReLU, Tanh, Sigmoid} {
		t.Run(fn, func(t *testing.T) {
			// Forward, directly: Do leaves its input alone; UsePreallocDo
			// with the input as destination works in place.
			op := newActivationOp(new(idSource), fn)
			xt := tensor.New(tensor.WithShape(n, c), tensor.WithBacking(append([]float32(nil), x...)))
			want := make([]float64, len(x))
			for i, v := range x {
				want[i] = ref[fn](float64(v))
			}
			v, err := op.Do(xt)
			if err != nil {
				t.Fatal(err)
			}
			if v == G.Value(xt) {
				t.Fatalf("Do returned its input")
			}
			checkClose(t, "Do", v.(*tensor.Dense).Float32s(), want, 0, 1e-6)
			checkClose(t, "Do's input", xt.Float32s(), to64(x), 0, 0)
			v, err = op.UsePreallocDo(xt, xt)
			if err != nil {
				t.Fatal(err)
			}
			if v != G.Value(xt) {
				t.Errorf("UsePreallocDo(x, x) did not work in place")
			}
			checkClose(t, "in place", xt.Float32s(), want, 0, 1e-6)

			// Backward, through a graph with the loss on top, against
			// finite differences of the float64 reference.
			_, grads := runGraph(t, []input{
				{"x", []int{n, c}, append([]float32(nil), x...), true},
				{"y", []int{n}, labelsF32(y), false},
			}, func(ids *idSource, in G.Nodes) (*G.Node, error) {
				a, err := G.ApplyOp(newActivationOp(ids, fn), in[0])
				if err != nil {
					return nil, err
				}
				return G.ApplyOp(newSoftmaxCEOp(ids), a, in[1])
			})
			fd := centralDiff(to64(x), func(x []float64) float64 {
				a := make([]float64, len(x))
				for i, v := range x {
					a[i] = ref[fn](v)
				}
				return refCE(a, y, c)
			})
			checkClose(t, "grad vs finite differences", grads[0], fd, 1e-7, 1e-4)
		})
	}
}

// TestBiasActOp checks the fused act(z + b) against a float64 reference:
// forward (out of place and in place) and the gradients with respect to z
// and b against finite differences.
func TestBiasActOp(t *testing.T) {
	ref := map[string]func(float64) float64{
		Identity: func(x float64) float64 { return x },
		ReLU:     func(x float64) float64 { return math.Max(x, 0) },
		Tanh:     math.Tanh,
		Sigmoid:  func(x float64) float64 { return 1 / (1 + math.Exp(-x)) },
	}
	rng := rand.New(rand.NewPCG(5, 5))
	const n, c = 5, 4
	z, _ := randRows(rng, n, c)
	b, _ := randRows(rng, 1, c)
	for i := range z {
		z[i] *= 3
	}
	for i := range z { // keep finite differences away from ReLU's kink
		if s := z[i] + b[i%c]; math.Abs(float64(s)) < 0.05 {
			z[i] += 0.1
		}
	}
	y := randLabels(rng, n, c)
	forward := func(fn string, z, b []float64) []float64 {
		out := make([]float64, len(z))
		for i, v := range z {
			out[i] = ref[fn](v + b[i%c])
		}
		return out
	}
	for _, fn := range []string{Identity, ReLU, Tanh, Sigmoid} {
		t.Run(fn, func(t *testing.T) {
			op := newBiasActOp(new(idSource), fn)
			zt := tensor.New(tensor.WithShape(n, c), tensor.WithBacking(append([]float32(nil), z...)))
			bt := tensor.New(tensor.WithShape(c), tensor.WithBacking(append([]float32(nil), b...)))
			want := forward(fn, to64(z), to64(b))
			v, err := op.Do(zt, bt)
			if err != nil {
				t.Fatal(err)
			}
			checkClose(t, "Do", v.(*tensor.Dense).Float32s(), want, 1e-6, 1e-6)
			checkClose(t, "Do's input", zt.Float32s(), to64(z), 0, 0)
			if v, err = op.UsePreallocDo(zt, zt, bt); err != nil || v != G.Value(zt) {
				t.Fatalf("UsePreallocDo(z, z, b) = %v, %v; want z in place", v, err)
			}
			checkClose(t, "in place", zt.Float32s(), want, 1e-6, 1e-6)

			_, grads := runGraph(t, []input{
				{"z", []int{n, c}, append([]float32(nil), z...), true},
				{"b", []int{c}, append([]float32(nil), b...), true},
				{"y", []int{n}, labelsF32(y), false},
			}, func(ids *idSource, in G.Nodes) (*G.Node, error) {
				a, err := G.ApplyOp(newBiasActOp(ids, fn), in[0], in[1])
				if err != nil {
					return nil, err
				}
				return G.ApplyOp(newSoftmaxCEOp(ids), a, in[2])
			})
			b64 := to64(b)
			fdZ := centralDiff(to64(z), func(z []float64) float64 { return refCE(forward(fn, z, b64), y, c) })
			checkClose(t, "dz vs finite differences", grads[0], fdZ, 1e-7, 1e-4)
			z64 := to64(z)
			fdB := centralDiff(to64(b), func(b []float64) float64 { return refCE(forward(fn, z64, b), y, c) })
			checkClose(t, "db vs finite differences", grads[1], fdB, 1e-7, 1e-4)
		})
	}
}

func TestMatMulOp(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const m, k, n = 4, 3, 5
	_, a64 := randRows(rng, m, k) // A is m×k, stored transposed when transA
	_, b64 := randRows(rng, k, n)
	y := randLabels(rng, m, n)
	// transpose returns the r×c row-major matrix x as c×r.
	transpose := func(x []float64, r, c int) []float64 {
		out := make([]float64, len(x))
		for i := 0; i < r; i++ {
			for j := 0; j < c; j++ {
				out[j*r+i] = x[i*c+j]
			}
		}
		return out
	}
	// product returns A·B for A m×k and B k×n given as stored (possibly
	// transposed).
	product := func(as, bs []float64, tA, tB bool) []float64 {
		if tA {
			as = transpose(as, k, m)
		}
		if tB {
			bs = transpose(bs, n, k)
		}
		c := make([]float64, m*n)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				for l := 0; l < k; l++ {
					c[i*n+j] += as[i*k+l] * bs[l*n+j]
				}
			}
		}
		return c
	}
	for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
		tA, tB := tr[0], tr[1]
		t.Run(fmt.Sprintf("transA=%t,transB=%t", tA, tB), func(t *testing.T) {
			as, bs := a64, b64
			aShape, bShape := []int{m, k}, []int{k, n}
			if tA {
				as, aShape = transpose(a64, m, k), []int{k, m}
			}
			if tB {
				bs, bShape = transpose(b64, k, n), []int{n, k}
			}
			a32, b32 := make([]float32, len(as)), make([]float32, len(bs))
			for i := range as {
				a32[i] = float32(as[i])
			}
			for i := range bs {
				b32[i] = float32(bs[i])
			}
			op := newMatMulOp(new(idSource), tA, tB, true)
			v, err := op.Do(tensor.New(tensor.WithShape(aShape...), tensor.WithBacking(a32)), tensor.New(tensor.WithShape(bShape...), tensor.WithBacking(b32)))
			if err != nil {
				t.Fatal(err)
			}
			if s := v.Shape(); !s.Eq(tensor.Shape{m, n}) {
				t.Fatalf("shape %v, want [%d %d]", s, m, n)
			}
			checkClose(t, "product", v.(*tensor.Dense).Float32s(), product(as, bs, tA, tB), 1e-6, 1e-6)

			_, grads := runGraph(t, []input{
				{"a", aShape, a32, true},
				{"b", bShape, b32, true},
				{"y", []int{m}, labelsF32(y), false},
			}, func(ids *idSource, in G.Nodes) (*G.Node, error) {
				c, err := G.ApplyOp(newMatMulOp(ids, tA, tB, true), in[0], in[1])
				if err != nil {
					return nil, err
				}
				return G.ApplyOp(newSoftmaxCEOp(ids), c, in[2])
			})
			fdA := centralDiff(append([]float64(nil), as...), func(x []float64) float64 { return refCE(product(x, bs, tA, tB), y, n) })
			fdB := centralDiff(append([]float64(nil), bs...), func(x []float64) float64 { return refCE(product(as, x, tA, tB), y, n) })
			checkClose(t, "dA", grads[0], fdA, 1e-7, 1e-4)
			checkClose(t, "dB", grads[1], fdB, 1e-7, 1e-4)
		})
	}

	op := newMatMulOp(new(idSource), false, false, true)
	if _, err := op.Do(tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(make([]float32, 6))), tensor.New(tensor.WithShape(2, 3), tensor.WithBacking(make([]float32, 6)))); err == nil {
		t.Errorf("2×3 · 2×3 accepted")
	}
}

func TestBiasOps(t *testing.T) {
	z := tensor.New(tensor.WithShape(2, 3), tensor.WithBacking([]float32{1, 2, 3, 4, 5, 6}))
	b := tensor.New(tensor.WithShape(3), tensor.WithBacking([]float32{10, 20, 30}))
	op := newBiasAddOp(new(idSource))
	v, err := op.Do(z, b)
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "z+b", v.(*tensor.Dense).Float32s(), []float64{11, 22, 33, 14, 25, 36}, 0, 0)
	checkClose(t, "z after Do", z.Float32s(), []float64{1, 2, 3, 4, 5, 6}, 0, 0)
	if v, err = op.UsePreallocDo(z, z, b); err != nil || v != G.Value(z) {
		t.Fatalf("UsePreallocDo(z, z, b) = %v, %v; want z in place", v, err)
	}
	checkClose(t, "z in place", z.Float32s(), []float64{11, 22, 33, 14, 25, 36}, 0, 0)
	if _, err := op.Do(z, tensor.New(tensor.WithShape(2), tensor.WithBacking([]float32{1, 2}))); err == nil {
		t.Errorf("2 biases for 3 columns accepted")
	}

	cs := &colSumOp{opID: opID{name: "col-sum"}}
	v, err = cs.Do(z)
	if err != nil {
		t.Fatal(err)
	}
	checkClose(t, "column sums", v.(*tensor.Dense).Float32s(), []float64{25, 47, 69}, 0, 0)
}
