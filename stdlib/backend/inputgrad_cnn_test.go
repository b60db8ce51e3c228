package backend

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// This file tests input gradients through the layers with batch
// statistics or pooling: eval-mode batch norms (running statistics),
// convolutions, max and global average pooling.

// bn1d is a BatchNorm1d layer of c features.
func bn1d(c int) Layer { return Layer{Kind: BatchNorm1d, In: c} }

// inputGradCase is a network of the input-gradient tests: rows is the
// compiled batch, partial a smaller batch also checked.
type inputGradCase struct {
	name          string
	arch          Arch
	rows, partial int
}

// inputGradCases are the networks the input-gradient tests are written
// for; inputGradNets adds the whole-network CNN cases of cnn_test.go.
var inputGradCases = []inputGradCase{
	{"conv-bn-relu-pool-conv-gap-linear", Arch{withShape(conv(2, 4, 3, 1, 1, true), 2, 6, 6), bn(4), act(ReLU), pool(2, 2, 0), conv(4, 5, 3, 1, 1, false), gap(), flatten(), lin(5, 3, true)}, 4, 3},
	{"mlp with batch norm 1d", Arch{lin(6, 8, true), bn1d(8), act(ReLU), lin(8, 5, false), bn1d(5), act(Tanh), lin(5, 3, true)}, 5, 2},
	{"strided conv, padded overlapping pool, 1x1 conv, bn then tanh", Arch{withShape(conv(1, 3, 3, 2, 1, false), 1, 9, 9), bn(3), act(ReLU), pool(3, 2, 1), conv(3, 4, 1, 1, 0, true), bn(4), act(Tanh), gap(), lin(4, 3, false)}, 3, 1},
	{"bn and pool first", Arch{withShape(bn(2), 2, 4, 4), pool(2, 2, 0), flatten(), bn1d(8), lin(8, 3, true)}, 2, 1},
}

// inputGradNets returns inputGradCases and the cases of cnnCases (every
// layer kind in other orders), with a partial batch of one row fewer.
func inputGradNets() []inputGradCase {
	cases := slices.Clone(inputGradCases)
	for _, tc := range cnnCases {
		cases = append(cases, inputGradCase{"cnn case " + tc.name, tc.arch, tc.rows, max(tc.rows-1, 1)})
	}
	return cases
}

// setBatchNormParams gives every batch norm of m non-default weights,
// biases and running statistics.
func setBatchNormParams(t *testing.T, m *Model, rng *rand.Rand) {
	t.Helper()
	for _, p := range m.Params {
		layer, field, ok := strings.Cut(p.Name, ".")
		i, err := strconv.Atoi(layer)
		if !ok || err != nil || i >= len(m.Arch) {
			t.Fatalf("unexpected tensor name %q", p.Name)
		}
		if k := m.Arch[i].Kind; k != BatchNorm1d && k != BatchNorm2d {
			continue
		}
		for j := range p.Data {
			switch field {
			case "weight":
				p.Data[j] = float32(0.5 + rng.Float64())
			case "bias":
				p.Data[j] = float32(0.2 * rng.NormFloat64())
			case "running_mean":
				p.Data[j] = float32(0.3 * rng.NormFloat64())
			case "running_var":
				p.Data[j] = float32(0.3 + rng.Float64())
			}
		}
	}
}

// TestInputGradientCNN checks each sample's loss, logits and input
// gradient through eval-mode batch norms, convolutions and pooling against
// the float64 reference (batch norms using the running statistics) and
// central finite differences of each sample's own loss, for a full and a
// partial batch, and that the graph follows updates of the running
// statistics.
func TestInputGradientCNN(t *testing.T) {
	for ci, tc := range inputGradNets() {
		t.Run(tc.name, func(t *testing.T) {
			m := mustInit(t, tc.arch, int64(40+ci))
			rng := rand.New(rand.NewPCG(uint64(ci), 31))
			setBatchNormParams(t, m, rng)
			ig, err := NewInputGradient(m, tc.rows)
			if err != nil {
				t.Fatal(err)
			}
			defer ig.Close()
			in, classes := tc.arch.InputWidth(), tc.arch.OutputWidth()
			check := func(what string, n int) {
				t.Helper()
				// Draw samples until every ReLU input and pooled
				// maximum is at least 1e-4 from its kink (0, or the
				// window's runner-up), far beyond the finite
				// differences' step of 1e-6 (times the small
				// sensitivities of these networks) and float32
				// rounding.
				ref := toRef(m)
				var (
					x32      []float32
					x64, out []float64
					margin   float64
					y        []int32
				)
				for try := 0; try < 20 && margin < 1e-4; try++ {
					x32, x64 = randRows(rng, n, in)
					y = randLabels(rng, n, classes)
					out, margin = ref.run(t, x64, n, false)
				}
				if margin < 1e-4 {
					t.Fatalf("%s: 20 batches drawn, each with a ReLU input or pool runner-up within 1e-4 of its kink", what)
				}
				grad, logits, loss := make([]float32, n*in), make([]float32, n*classes), make([]float32, n)
				if err := ig.Compute(context.Background(), x32, y, grad, logits, loss); err != nil {
					t.Fatal(err)
				}
				checkClose(t, what+" logits", logits, out, 1e-5, 1e-5)
				for i := 0; i < n; i++ {
					f := func(v []float64) float64 {
						o, _ := ref.run(t, v, 1, false)
						return refCE(o, y[i:i+1], classes)
					}
					xi := slices.Clone(x64[i*in : (i+1)*in])
					if want := f(xi); !closeTo(float64(loss[i]), want, 1e-5, 1e-5) {
						t.Errorf("%s sample %d: loss %v, reference %v", what, i, loss[i], want)
					}
					checkClose(t, fmt.Sprintf("%s sample %d dx", what, i), grad[i*in:(i+1)*in], centralDiff(xi, f), 2e-6, 1e-4)
				}
			}
			check("full batch", tc.rows)
			check("partial batch", tc.partial)
			// The compiled graph reads the running statistics in place.
			setBatchNormParams(t, m, rng)
			check("new statistics", tc.rows)
		})
	}
}

// inputGradRun is one Compute's results.
type inputGradRun struct{ grad, logits, loss []float32 }

func computeInputGrad(t *testing.T, ig *InputGradient, x []float32, y []int32) inputGradRun {
	t.Helper()
	n := len(y)
	r := inputGradRun{make([]float32, n*ig.Inputs()), make([]float32, n*ig.Classes()), make([]float32, n)}
	if err := ig.Compute(context.Background(), x, y, r.grad, r.logits, r.loss); err != nil {
		t.Fatal(err)
	}
	return r
}

// row returns sample i's part of r.
func (r inputGradRun) row(i, in, classes int) inputGradRun {
	return inputGradRun{r.grad[i*in : (i+1)*in], r.logits[i*classes : (i+1)*classes], r.loss[i : i+1]}
}

func (r inputGradRun) equal(o inputGradRun) bool {
	return slices.Equal(r.grad, o.grad) && slices.Equal(r.logits, o.logits) && slices.Equal(r.loss, o.loss)
}

// TestInputGradientRowsIndependent checks that in eval mode a sample's
// loss, logits and input gradient do not depend on the other samples of
// the batch: they keep their bits when every other row (and label)
// changes, and when the batch is cut to the rows up to it. Logits, the
// forward-only graph, gives the same logits.
func TestInputGradientRowsIndependent(t *testing.T) {
	for ci, tc := range inputGradCases {
		t.Run(tc.name, func(t *testing.T) {
			m := mustInit(t, tc.arch, int64(60+ci))
			rng := rand.New(rand.NewPCG(uint64(ci), 37))
			setBatchNormParams(t, m, rng)
			ig, err := NewInputGradient(m, tc.rows)
			if err != nil {
				t.Fatal(err)
			}
			defer ig.Close()
			in, classes, n := tc.arch.InputWidth(), tc.arch.OutputWidth(), tc.rows
			x, _ := randRows(rng, n, in)
			y := randLabels(rng, n, classes)
			base := computeInputGrad(t, ig, x, y)
			for _, keep := range []int{0, n - 1} {
				other, _ := randRows(rng, n, in)
				for i := range other {
					other[i] *= 3
				}
				copy(other[keep*in:(keep+1)*in], x[keep*in:(keep+1)*in])
				oy := randLabels(rng, n, classes)
				oy[keep] = y[keep]
				got := computeInputGrad(t, ig, other, oy)
				if want := base.row(keep, in, classes); !got.row(keep, in, classes).equal(want) {
					t.Errorf("sample %d changed with the other rows:\n got %v\nwant %v", keep, got.row(keep, in, classes), want)
				}
				cut := computeInputGrad(t, ig, x[:(keep+1)*in], y[:keep+1])
				if want := base.row(keep, in, classes); !cut.row(keep, in, classes).equal(want) {
					t.Errorf("sample %d of a batch of %d:\n got %v\nwant %v", keep, keep+1, cut.row(keep, in, classes), want)
				}
			}
			logits := make([]float32, n*classes)
			if err := ig.Logits(context.Background(), x, logits); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(logits, base.logits) {
				t.Errorf("Logits %v, Compute's logits %v", logits, base.logits)
			}
		})
	}
}

// TestEvalOpInputGradients checks the input gradients of the eval-mode
// ops on their own against central finite differences: batch norm with
// given running statistics (flat rows and planes), and max pooling in
// every pool geometry (inputs are distinct values, so no window has a
// tie). A max pool whose gradient is not built records no positions.
func TestEvalOpInputGradients(t *testing.T) {
	rng := rand.New(rand.NewPCG(41, 41))
	for _, tc := range []struct{ c, plane int }{{5, 1}, {1, 1}, {3, 4}, {2, 25}} {
		t.Run(fmt.Sprintf("batchnorm c=%d plane=%d", tc.c, tc.plane), func(t *testing.T) {
			const n = 3
			c, plane := tc.c, tc.plane
			width := c * plane
			x32, x64 := randF64(rng, n*width, 2)
			g32, g64 := randF64(rng, c, 1.5)
			b32, b64 := randF64(rng, c, 0.5)
			rm32, rm64 := randF64(rng, c, 1)
			rv32, rv64 := make([]float32, c), make([]float64, c)
			for i := range rv32 {
				rv32[i] = float32(0.2 + rng.Float64())
				rv64[i] = float64(rv32[i])
			}
			labels := randLabels(rng, n, width)
			loss, grads := runGraph(t, []input{
				{"x", []int{n, width}, x32, true},
				{"gamma", []int{c}, g32, false},
				{"beta", []int{c}, b32, false},
				{"running_mean", []int{c}, rm32, false},
				{"running_var", []int{c}, rv32, false},
				{"y", []int{n}, labelsF32(labels), false},
			}, func(ids *idSource, in G.Nodes) (*G.Node, error) {
				h, err := G.ApplyOp(newBatchNormEvalOp(ids, c, plane), in[0], in[1], in[2], in[3], in[4])
				if err != nil {
					return nil, err
				}
				return G.ApplyOp(newSoftmaxCEOp(ids), h, in[5])
			})
			f := func(v []float64) float64 {
				y, _, _ := refBatchNorm(v, g64, b64, rm64, rv64, n, c, plane)
				return refCE(y, labels, width)
			}
			if want := f(x64); !closeTo(loss, want, 1e-5, 1e-5) {
				t.Errorf("loss %v, reference %v", loss, want)
			}
			checkClose(t, "dx", grads[0], centralDiff(slices.Clone(x64), f), 2e-6, 1e-4)
		})
	}
	for _, tc := range poolCases {
		t.Run(fmt.Sprintf("maxpool %+v", tc), func(t *testing.T) {
			g, err := newWindow(shape{tc.c, tc.h, tc.w}, tc.k, tc.s, tc.p, tc.k)
			if err != nil {
				t.Fatal(err)
			}
			const n = 3
			width := g.c * g.outPlane()
			perm := rng.Perm(n * g.inWidth())
			x32, x64 := make([]float32, len(perm)), make([]float64, len(perm))
			for i, p := range perm {
				x32[i] = float32(0.05*float64(p) - 1 + 0.01*rng.Float64())
				x64[i] = float64(x32[i])
			}
			if _, gap := refMaxPool(x64, n, g); gap < 0.02 {
				t.Fatalf("gap %v", gap)
			}
			fwd := newMaxPoolOp(new(idSource), g, false)
			if _, err := fwd.Do(dense32(x32, n, g.inWidth())); err != nil {
				t.Fatal(err)
			}
			if fwd.at != nil {
				t.Errorf("an eval-mode max pool without a gradient recorded %d positions", len(fwd.at))
			}
			labels := randLabels(rng, n, width)
			_, grads := runGraph(t, []input{
				{"x", []int{n, g.inWidth()}, x32, true},
				{"y", []int{n}, labelsF32(labels), false},
			}, func(ids *idSource, in G.Nodes) (*G.Node, error) {
				h, err := G.ApplyOp(newMaxPoolOp(ids, g, false), in[0])
				if err != nil {
					return nil, err
				}
				return G.ApplyOp(newSoftmaxCEOp(ids), h, in[1])
			})
			fd := centralDiff(slices.Clone(x64), func(v []float64) float64 {
				y, _ := refMaxPool(v, n, g)
				return refCE(y, labels, width)
			})
			checkClose(t, "dx", grads[0], fd, 1e-7, 1e-4)
		})
	}
}

// TestBatchNormEvalGradInPlace checks the eval-mode batch norm's gradient
// op computing into its own buffer and in place in the incoming gradient,
// against dy·γ/sqrt(running_var + eps), for flat rows and planes.
func TestBatchNormEvalGradInPlace(t *testing.T) {
	rng := rand.New(rand.NewPCG(43, 43))
	for _, tc := range []struct{ n, c, plane int }{{4, 3, 1}, {2, 3, 7}} {
		width := tc.c * tc.plane
		x32, _ := randF64(rng, tc.n*width, 1)
		g32, g64 := randF64(rng, tc.c, 2)
		b32, _ := randF64(rng, tc.c, 1)
		rm32, _ := randF64(rng, tc.c, 1)
		rv32 := make([]float32, tc.c)
		for i := range rv32 {
			rv32[i] = float32(0.1 + rng.Float64())
		}
		fwd := newBatchNormEvalOp(new(idSource), tc.c, tc.plane)
		y, err := fwd.Do(dense32(x32, tc.n, width), dense32(g32, tc.c), dense32(b32, tc.c), dense32(rm32, tc.c), dense32(rv32, tc.c))
		if err != nil {
			t.Fatal(err)
		}
		dy32, dy64 := randF64(rng, tc.n*width, 1)
		want := make([]float64, len(dy64))
		for i, d := range dy64 {
			ch := i / tc.plane % tc.c
			want[i] = d * g64[ch] / math.Sqrt(float64(rv32[ch])+bnEps)
		}
		op := &bnEvalGradOp{opID: opID{name: "test"}, fwd: fwd}
		dy := dense32(slices.Clone(dy32), tc.n, width)
		v, err := op.Do(y, dy)
		if err != nil {
			t.Fatal(err)
		}
		if v == G.Value(dy) {
			t.Errorf("n=%d c=%d plane=%d: Do overwrote its input", tc.n, tc.c, tc.plane)
		}
		checkClose(t, "dx", v.(*tensor.Dense).Float32s(), want, 1e-7, 1e-6)
		v, err = op.UsePreallocDo(dy, y, dy)
		if err != nil {
			t.Fatal(err)
		}
		if v != G.Value(dy) {
			t.Errorf("n=%d c=%d plane=%d: not computed in place", tc.n, tc.c, tc.plane)
		}
		checkClose(t, "dx in place", dy.Float32s(), want, 1e-7, 1e-6)
		other := (tc.n + 1) * width
		if _, err := op.Do(dense32(make([]float32, other), tc.n+1, width), dense32(make([]float32, other), tc.n+1, width)); err == nil || !strings.Contains(err.Error(), errNotRun.Error()) {
			t.Errorf("a batch of another size: error %v", err)
		}
	}
}

// TestInputGradientParallelMatchesSerial checks that the input gradient of
// a CNN large enough for its ops to split their work over goroutines has
// the same bits with one processor as with four.
func TestInputGradientParallelMatchesSerial(t *testing.T) {
	arch := Arch{
		withShape(conv(2, 8, 3, 1, 1, true), 2, 24, 24), bn(8), act(ReLU), pool(2, 2, 0),
		conv(8, 12, 3, 1, 1, true), bn(12), act(ReLU), pool(3, 2, 1), conv(12, 16, 3, 1, 1, false), bn(16), act(ReLU), gap(),
		bn1d(16), lin(16, 5, true),
	}
	const rows = 16
	if rows*8*24*24 < 2*parallelMin {
		t.Fatalf("the first layers' %d values are too few to be split", rows*8*24*24)
	}
	m := mustInit(t, arch, 3)
	rng := rand.New(rand.NewPCG(47, 47))
	setBatchNormParams(t, m, rng)
	x, _ := randRows(rng, rows, arch.InputWidth())
	y := randLabels(rng, rows, arch.OutputWidth())
	var runs []inputGradRun
	for _, procs := range []int{1, 4} {
		prev := runtime.GOMAXPROCS(procs)
		ig, err := NewInputGradient(m, rows)
		if err == nil {
			runs = append(runs, computeInputGrad(t, ig, x, y))
			ig.Close()
		}
		runtime.GOMAXPROCS(prev)
		if err != nil {
			t.Fatal(err)
		}
	}
	if !runs[0].equal(runs[1]) {
		t.Errorf("GOMAXPROCS 1 and 4 differ: losses %v and %v", runs[0].loss, runs[1].loss)
	}
}

// TestInputGradientCNNAllocations checks that computing input gradients
// of a CNN with batch norms and pooling allocates only the TapeMachine's
// bookkeeping: no buffer is reallocated from call to call.
func TestInputGradientCNNAllocations(t *testing.T) {
	// One processor, as in TestCNNStepAllocations.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	batches := []int{1, 32}
	if CurrentBLAS().Name != BLASOpenBLAS {
		batches = batches[:1] // see TestCNNStepAllocations
	}
	arch := Arch{withShape(conv(1, 8, 3, 1, 1, true), 1, 12, 12), bn(8), act(ReLU), pool(2, 2, 0), conv(8, 8, 3, 2, 1, false), bn(8), act(ReLU), gap(), bn1d(8), lin(8, 10, true)}
	for _, batch := range batches {
		m := mustInit(t, arch, 1)
		ig, err := NewInputGradient(m, batch)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(5, 5))
		x, _ := randRows(rng, batch, arch.InputWidth())
		y := randLabels(rng, batch, arch.OutputWidth())
		grad, loss := make([]float32, len(x)), make([]float32, batch)
		ctx := context.Background()
		for range 3 {
			if err := ig.Compute(ctx, x, y, grad, nil, loss); err != nil {
				t.Fatal(err)
			}
		}
		const calls = 20
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range calls {
			if err := ig.Compute(ctx, x, y, grad, nil, loss); err != nil {
				t.Fatal(err)
			}
		}
		runtime.ReadMemStats(&after)
		ig.Close()
		perCall := (after.TotalAlloc - before.TotalAlloc) / calls
		t.Logf("batch %d: %d bytes per call", batch, perCall)
		if perCall > 8<<10 {
			t.Errorf("batch %d: a call allocates %d bytes, want at most 8 KB", batch, perCall)
		}
	}
}
