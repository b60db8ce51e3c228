package certify

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/stdlib/attack"
	"github.com/mlpipe/mlpipe/stdlib/backend"
)

// TestRadiiHandValues checks margins and radii on the spec's T3-like
// values: a margin m and a bound L give the l2 radius m/(√2·L), the l∞
// radius that divided by √n and the l1 radius equal to the l2 one.
func TestRadiiHandValues(t *testing.T) {
	logits := []float32{
		0.9, 0.5, 0.1, // label 0, margin 0.4
		0.1, 0.5, 0.9, // label 0, misclassified: margin −0.8
		0.5, 0.5, 0.2, // label 1, a tie: margin 0
		-1, 2, 1.5, // label 1, margin 0.5
		3, -2, 1, // label 2, margin −2
	}
	y := []int32{0, 0, 1, 1, 2}
	margins, err := Margins(logits, y, 3)
	if err != nil {
		t.Fatal(err)
	}
	wantM := []float64{0.4, -0.8, 0, 0.5, -2}
	for i, m := range margins {
		if math.Abs(m-wantM[i]) > 1e-7 {
			t.Errorf("margin %d = %v, want %v", i, m, wantM[i])
		}
	}
	// With L = √2 the margins are 2-Lipschitz, so the l2 radius of the
	// margin 0.4 is 0.4/2 = 0.2 (spec 2(e) T3: gap 0.4, L = 2 → 0.2).
	const n = 4
	l := Lipschitz{Bound: math.Sqrt2, Inputs: n, Classes: 3}
	l2 := []float64{0.2, 0, 0, 0.25, 0}
	for _, c := range []struct {
		norm attack.Norm
		want []float64
	}{
		{attack.L2, l2},
		{attack.Linf, []float64{0.1, 0, 0, 0.125, 0}}, // √n = 2
		{attack.L1, l2},
	} {
		radii, err := Radii(margins, l, c.norm)
		if err != nil {
			t.Fatal(err)
		}
		c2, err := NewCertifier(l, c.norm, n)
		if err != nil {
			t.Fatal(err)
		}
		if c2.Norm() != c.norm || c2.Bound() != l.Bound || c2.Inputs() != n {
			t.Errorf("certifier %v: norm %v, bound %v, inputs %d", c.norm, c2.Norm(), c2.Bound(), c2.Inputs())
		}
		fromLogits, err := c2.Radii(logits, y)
		if err != nil {
			t.Fatal(err)
		}
		for i := range c.want {
			if math.Abs(radii[i]-c.want[i]) > 1e-7 || math.Abs(fromLogits[i]-c.want[i]) > 1e-7 {
				t.Errorf("%v radius %d = %v (certifier %v), want %v", c.norm, i, radii[i], fromLogits[i], c.want[i])
			}
		}
	}
	// L = 2: r = 0.4/(2√2).
	if r, _ := Radii([]float64{0.4}, Lipschitz{Bound: 2}, attack.L2); math.Abs(r[0]-0.4/(2*math.Sqrt2)) > 1e-15 {
		t.Errorf("radius %v, want %v", r[0], 0.4/(2*math.Sqrt2))
	}
	if got := CertifiedAccuracy(l2, 0.2); got != 0.2 {
		t.Errorf("certified accuracy at 0.2 = %v, want 0.2 (radii must exceed the budget)", got)
	}
	if got := CertifiedAccuracy(l2, 0.1999); got != 0.4 {
		t.Errorf("certified accuracy at 0.1999 = %v, want 0.4", got)
	}
	if got := CertifiedAccuracy(l2, 0); got != 0.4 {
		t.Errorf("certified accuracy at 0 = %v, want 0.4", got)
	}
	if got := CertifiedAccuracy(nil, 0); got != 0 {
		t.Errorf("certified accuracy of nothing = %v", got)
	}
}

func TestRadiiErrors(t *testing.T) {
	nan := float32(math.NaN())
	for _, c := range []struct {
		name   string
		logits []float32
		y      []int32
		k      int
		want   string
	}{
		{"one class", []float32{1, 2}, []int32{0, 0}, 1, "1 classes"},
		{"short", []float32{1, 2, 3}, []int32{0, 1}, 2, "3 logits for 2 samples"},
		{"label", []float32{1, 2, 3, 4}, []int32{0, 2}, 2, "label 2 of sample 1"},
		{"negative label", []float32{1, 2}, []int32{-1}, 2, "label -1"},
		{"NaN", []float32{1, 2, nan, 4}, []int32{0, 1}, 2, "logit 0 of sample 1 is NaN"},
	} {
		if _, err := Margins(c.logits, c.y, c.k); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Margins %s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	if _, err := Radii([]float64{math.NaN()}, Lipschitz{Bound: 1}, attack.L2); err == nil {
		t.Error("Radii of a NaN margin: no error")
	}
	if _, err := Radii([]float64{1}, Lipschitz{Bound: 1}, attack.Linf); err == nil || !strings.Contains(err.Error(), "0 inputs") {
		t.Errorf("l∞ radii without the input width: error %v", err)
	}
	l := Lipschitz{Bound: 2, Inputs: 3, Classes: 2}
	for _, c := range []struct {
		name   string
		l      Lipschitz
		norm   attack.Norm
		inputs int
		want   string
	}{
		{"zero bound", Lipschitz{Bound: 0}, attack.L2, 3, "bound 0 is not finite and positive"},
		{"negative bound", Lipschitz{Bound: -1}, attack.L2, 3, "bound -1"},
		{"NaN bound", Lipschitz{Bound: math.NaN()}, attack.L2, 3, "bound NaN"},
		{"infinite bound", Lipschitz{Bound: math.Inf(1)}, attack.Linf, 3, "bound +Inf"},
		{"l0", l, attack.L0, 3, `unknown norm "l0"`},
		{"other norm", l, "l3", 3, `unknown norm "l3"`},
		{"no inputs", l, attack.L2, 0, "0 inputs"},
		{"wrong inputs", l, attack.L2, 4, "4 inputs, but the Lipschitz bound is of a model of 3"},
	} {
		if _, err := NewCertifier(c.l, c.norm, c.inputs); err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "certify: certifier: ") {
			t.Errorf("NewCertifier %s: error %v, want one containing %q", c.name, err, c.want)
		}
		if _, err := Radii([]float64{1}, Lipschitz{Bound: c.l.Bound, Inputs: c.inputs}, c.norm); c.name != "wrong inputs" && c.name != "no inputs" && err == nil {
			t.Errorf("Radii %s: no error", c.name)
		}
	}
	c, err := NewCertifier(l, attack.L2, 3)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Radii([]float32{1, 2, 3}, []int32{0}); err == nil || !strings.Contains(err.Error(), "3 logits for 1 samples of 2 classes") {
		t.Errorf("radii of 3 logits for 2 classes: error %v", err)
	}
	if r, err := c.Radii(nil, nil); err != nil || len(r) != 0 {
		t.Errorf("radii of no samples: %v, %v", r, err)
	}
	// Without Classes, the rows give the number of classes.
	c, _ = NewCertifier(Lipschitz{Bound: 1}, attack.L2, 3)
	if r, err := c.Radii([]float32{1, 2, 3, 4, 5, 1}, []int32{2, 1}); err != nil || math.Abs(r[0]-1/math.Sqrt2) > 1e-12 || math.Abs(r[1]-1/math.Sqrt2) > 1e-12 {
		t.Errorf("radii with 3 inferred classes: %v, %v", r, err)
	}
	if _, err := c.Radii([]float32{1, 2, 3, 4, 5}, []int32{2, 1}); err == nil {
		t.Error("5 logits for 2 samples: no error")
	}
	if _, err := (Certifier{}).Radii([]float32{1, 2}, []int32{0}); err == nil {
		t.Error("zero Certifier: no error")
	}
}

// classes returns the predicted class of each of the n rows of x.
func classes(t *testing.T, m *backend.Model, x []float32, n int) []int {
	t.Helper()
	k := m.Arch.OutputWidth()
	out := predict(t, m, x, n)
	cs := make([]int, n)
	for i := range cs {
		cs[i] = argmax(out[i*k : (i+1)*k])
	}
	return cs
}

// worstPerturbations returns, for each class j ≠ y, the perturbation of
// norm r in norm p that lowers the margin f_y − f_j of a linear model
// with weight w (classes × in) the most: along −g, g = w_y − w_j, for l2;
// −r·sign(g) for l∞; −r·sign(g_k)·e_k at the largest |g_k| for l1.
func worstPerturbations(w []float32, in, y int, r float64, p attack.Norm) [][]float64 {
	var ds [][]float64
	for j := range len(w) / in {
		if j == y {
			continue
		}
		g := make([]float64, in)
		for k := range g {
			g[k] = float64(w[y*in+k]) - float64(w[j*in+k])
		}
		d := make([]float64, in)
		switch p {
		case attack.L2:
			n := norm2(g)
			for k := range d {
				d[k] = -r * g[k] / n
			}
		case attack.Linf:
			for k := range d {
				d[k] = -r * math.Copysign(1, g[k])
			}
		case attack.L1:
			big := 0
			for k := range g {
				if math.Abs(g[k]) > math.Abs(g[big]) {
					big = k
				}
			}
			d[big] = -r * math.Copysign(1, g[big])
		}
		ds = append(ds, d)
	}
	return ds
}

// randomPerturbation returns a random perturbation of norm r in norm p.
func randomPerturbation(rng *rand.Rand, in int, r float64, p attack.Norm) []float64 {
	d := make([]float64, in)
	size := 0.0
	for k := range d {
		d[k] = rng.NormFloat64()
		switch p {
		case attack.L2:
			size += d[k] * d[k]
		case attack.Linf:
			size = max(size, math.Abs(d[k]))
		case attack.L1:
			size += math.Abs(d[k])
		}
	}
	if p == attack.L2 {
		size = math.Sqrt(size)
	}
	for k := range d {
		d[k] *= r / size
	}
	return d
}

// TestRadiiBruteForce checks on small linear models, through the
// backend's forward pass, that no worst-case or random perturbation just
// inside a certified radius changes the class, in each norm.
func TestRadiiBruteForce(t *testing.T) {
	rng := newRNG(5)
	const in, k, n = 4, 3, 100
	for seed := range int64(3) {
		m := initModel(t, backend.Arch{{Kind: backend.Linear, In: in, Out: k, Bias: true}}, seed)
		l, err := Bound(m)
		if err != nil {
			t.Fatal(err)
		}
		w := param(t, m, "0.weight").Data
		x := randF32(rng, n*in, 1)
		logits := predict(t, m, x, n)
		y := make([]int32, n)
		for i := range y {
			y[i] = int32(argmax(logits[i*k : (i+1)*k]))
		}
		y[0] = (y[0] + 1) % k // one misclassified sample
		for _, p := range []attack.Norm{attack.L2, attack.Linf, attack.L1} {
			c, err := NewCertifier(l, p, in)
			if err != nil {
				t.Fatal(err)
			}
			radii, err := c.Radii(logits, y)
			if err != nil {
				t.Fatal(err)
			}
			if radii[0] != 0 {
				t.Errorf("%v: misclassified sample has radius %v", p, radii[0])
			}
			var xs []float32
			var owner []int
			for i, r := range radii {
				if r == 0 {
					continue
				}
				ds := worstPerturbations(w, in, int(y[i]), 0.999*r, p)
				for range 5 {
					ds = append(ds, randomPerturbation(rng, in, 0.999*r, p))
				}
				for _, d := range ds {
					for j := range in {
						xs = append(xs, x[i*in+j]+float32(d[j]))
					}
					owner = append(owner, i)
				}
			}
			if len(owner) < n {
				t.Fatalf("%v: only %d perturbations", p, len(owner))
			}
			for q, cl := range classes(t, m, xs, len(owner)) {
				if i := owner[q]; cl != int(y[i]) {
					t.Errorf("%v, seed %d: sample %d (radius %v): a perturbation inside the radius gives class %d, not %d", p, seed, i, radii[i], cl, y[i])
				}
			}
		}
	}
}

// TestRadiiTight checks, on the identity model whose bound is tight, that
// a worst-case perturbation just outside the l2 and l∞ radii changes the
// class: the brute-force check above could catch radii that are too
// large.
func TestRadiiTight(t *testing.T) {
	m := initModel(t, backend.Arch{{Kind: backend.Linear, In: 2, Out: 2}}, 1)
	w := []float32{1, 0, 0, 1}
	setParam(t, m, "0.weight", w)
	l, err := Bound(m)
	if err != nil {
		t.Fatal(err)
	}
	x := []float32{1, 0.5} // class 0, margin 0.5
	for _, c := range []struct {
		p      attack.Norm
		inside bool // still class 0 at 1.001 times the radius
	}{{attack.L2, false}, {attack.Linf, false}, {attack.L1, true}} {
		cert, err := NewCertifier(l, c.p, 2)
		if err != nil {
			t.Fatal(err)
		}
		r, err := cert.Radii(predict(t, m, x, 1), []int32{0})
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range []float64{0.999, 1.001} {
			d := worstPerturbations(w, 2, 0, s*r[0], c.p)[0]
			xp := []float32{x[0] + float32(d[0]), x[1] + float32(d[1])}
			got := classes(t, m, xp, 1)[0]
			if want := s < 1 || c.inside; (got == 0) != want {
				t.Errorf("%v: at %v times the radius %v the class is %d", c.p, s, r[0], got)
			}
		}
	}
}
