package attack

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestProxVectors checks test vectors T1–T5 of the spec, with the
// reference implementation's variants where they differ.
func TestProxVectors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		prox   func(dst, s []float32, lambda float64)
		s      []float32
		lambda float64
		want   []float32
	}{
		{"T1 l2", ProxL2, []float32{3, 4}, 1, []float32{2.4, 3.2}},
		{"T1 l2, inside the ball", ProxL2, []float32{3, 4}, 6, []float32{0, 0}},
		{"T1 l2, on the sphere", ProxL2, []float32{3, 4}, 5, []float32{0, 0}},
		{"l2, λ = 0", ProxL2, []float32{3, 4}, 0, []float32{3, 4}},
		{"l2, zero", ProxL2, []float32{0, 0}, 0, []float32{0, 0}},
		{"T2 l0 exact, threshold 1", ProxL0, []float32{0.5, -0.8, 0.71, 0}, 0.5, []float32{0, 0, 0, 0}},
		{"T2 l0 repo, threshold 0.7071", RepoProxL0, []float32{0.5, -0.8, 0.71, 0}, 0.5, []float32{0, -0.8, 0.71, 0}},
		{"l0 exact, λ = 2: threshold 2", ProxL0, []float32{2.5, -1.9, 2.1}, 2, []float32{2.5, 0, 2.1}},
		{"l0 repo, λ = 2: threshold 2.83", RepoProxL0, []float32{2.5, -1.9, 2.9}, 2, []float32{0, 0, 2.9}},
		{"T3 linf", ProxLinf, []float32{3, 1, -2}, 1, []float32{2, 1, -2}},
		{"T3 linf repo", RepoProxLinf, []float32{3, 1, -2}, 1, []float32{2, 1, -2}},
		{"T4 linf, small s", ProxLinf, []float32{0.2, -0.1}, 1, []float32{0, 0}},
		{"T4 linf repo, small s", RepoProxLinf, []float32{0.2, -0.1}, 1, []float32{-0.35, 0.35}},
		{"linf, λ = 0", ProxLinf, []float32{0.2, -0.1}, 0, []float32{0.2, -0.1}},
		{"linf repo, λ = 0", RepoProxLinf, []float32{0.2, -0.1}, 0, []float32{0.2, -0.1}},
		{"linf, level 1.5", ProxLinf, []float32{2, -2, 1, 0}, 1, []float32{1.5, -1.5, 1, 0}},
		{"T5 l1 soft threshold", ProxL1, []float32{0.5, -0.2, 0.05}, 0.1, []float32{0.4, -0.1, 0}},
		{"T5 l1 repo increment", RepoProxL1, []float32{0.5, -0.2, 0.05}, 0.1, []float32{1, -1, 0}},
	} {
		got := make([]float32, len(tc.s))
		tc.prox(got, tc.s, tc.lambda)
		approx(t, tc.name, got, tc.want)
		// In place gives the same.
		in := slices.Clone(tc.s)
		tc.prox(in, in, tc.lambda)
		approx(t, tc.name+", in place", in, tc.want)
	}
}

// objective is ½‖p − s‖² + λ·d(p) in float64.
func objective(norm Norm, p, s []float32, lambda float64) float64 {
	zero := make([]float32, len(p))
	var q float64
	for j := range p {
		d := float64(p[j]) - float64(s[j])
		q += d * d
	}
	return q/2 + lambda*Distance(norm, zero, p)
}

// TestProxMinimises checks that each exact operator's output minimises
// ½‖p − s‖² + λ·d(p): against random points near it and random points
// anywhere for the convex norms, and against every candidate (each value
// either kept or zeroed) for l0.
func TestProxMinimises(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	ops := map[Norm]func(dst, s []float32, lambda float64){L1: ProxL1, L2: ProxL2, Linf: ProxLinf}
	for trial := range 200 {
		n := 1 + rng.IntN(8)
		s := make([]float32, n)
		for j := range s {
			s[j] = float32(rng.NormFloat64())
		}
		lambda := 2 * rng.Float64()
		for norm, op := range ops {
			p := make([]float32, n)
			op(p, s, lambda)
			best := objective(norm, p, s, lambda)
			for range 50 {
				q := make([]float32, n)
				r := math.Pow(10, -4+4*rng.Float64())
				for j := range q {
					q[j] = p[j] + float32(r*rng.NormFloat64())
					if rng.IntN(4) == 0 {
						q[j] = float32(2 * rng.NormFloat64())
					}
				}
				if f := objective(norm, q, s, lambda); f < best-1e-6 {
					t.Fatalf("%s, trial %d: prox(%v, λ=%v) = %v with objective %v; %v has %v", norm, trial, s, lambda, p, best, q, f)
				}
			}
		}
		// l0: the minimiser keeps or zeroes each value; try all 2^n.
		p := make([]float32, n)
		ProxL0(p, s, lambda)
		best := objective(L0, p, s, lambda)
		for mask := range 1 << n {
			q := make([]float32, n)
			for j := range q {
				if mask&(1<<j) != 0 {
					q[j] = s[j]
				}
			}
			if f := objective(L0, q, s, lambda); f < best-1e-6 {
				t.Fatalf("l0, trial %d: prox(%v, λ=%v) = %v with objective %v; %v has %v", trial, s, lambda, p, best, q, f)
			}
		}
	}
}

// TestMoreau checks the Moreau decomposition s = prox_{λ‖·‖}(s) +
// P_{λB*}(s), B* the unit ball of the dual norm, for each exact operator,
// with the projections computed independently (clipping for l∞ balls,
// scaling for l2 balls, ProjectL1Ball for l1 balls).
func TestMoreau(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for trial := range 300 {
		n := 1 + rng.IntN(10)
		s := make([]float32, n)
		for j := range s {
			s[j] = float32(rng.NormFloat64())
		}
		lambda := 3 * rng.Float64()
		proj := map[Norm][]float32{}
		clip := make([]float32, n)
		for j, v := range s {
			clip[j] = float32(math.Max(-lambda, math.Min(lambda, float64(v))))
		}
		proj[L1] = clip
		scale := math.Min(1, lambda/float64(norm2(s)))
		proj[L2] = make([]float32, n)
		for j, v := range s {
			proj[L2][j] = float32(scale * float64(v))
		}
		proj[Linf] = make([]float32, n)
		ProjectL1Ball(proj[Linf], s, lambda)
		for norm, op := range map[Norm]func(dst, s []float32, lambda float64){L1: ProxL1, L2: ProxL2, Linf: ProxLinf} {
			p := make([]float32, n)
			op(p, s, lambda)
			for j := range s {
				if math.Abs(float64(p[j]+proj[norm][j]-s[j])) > 1e-5 {
					t.Fatalf("%s, trial %d: prox %v + projection %v ≠ %v", norm, trial, p, proj[norm], s)
				}
			}
		}
	}
}

// TestProjectL1Ball checks the projection onto the l1 ball through its
// variational inequality ⟨v − P, q − P⟩ ≤ 0 at the ball's vertices q =
// ±r·e_j (enough for every q in the ball), and that points inside stay.
func TestProjectL1Ball(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	for trial := range 300 {
		n := 1 + rng.IntN(10)
		v := make([]float32, n)
		for j := range v {
			v[j] = float32(rng.NormFloat64())
		}
		radius := 4 * rng.Float64()
		if trial%10 == 0 {
			radius = 0
		}
		p := make([]float32, n)
		ProjectL1Ball(p, v, radius)
		var l1 float64
		for _, x := range p {
			l1 += math.Abs(float64(x))
		}
		if l1 > radius*(1+1e-6)+1e-7 {
			t.Fatalf("trial %d: projection %v of %v has l1 norm %v > %v", trial, p, v, l1, radius)
		}
		for j := range n {
			for _, sgn := range []float64{-1, 1} {
				var ip float64
				for m := range n {
					q := 0.0
					if m == j {
						q = sgn * radius
					}
					ip += (float64(v[m]) - float64(p[m])) * (q - float64(p[m]))
				}
				if ip > 1e-5 {
					t.Fatalf("trial %d: projection %v of %v onto radius %v: ⟨v−P, q−P⟩ = %v > 0 at vertex %d·%v", trial, p, v, radius, ip, j, sgn)
				}
			}
		}
	}
	in := []float32{0.1, -0.2, 0.3}
	p := make([]float32, 3)
	ProjectL1Ball(p, in, 0.6)
	approx(t, "a point on the sphere stays", p, in)
	ProjectL1Ball(p, in, 2)
	approx(t, "a point inside stays", p, in)
}

// TestRepoLinfOutsideBall checks that the reference's surface projection
// gives the exact l∞ prox whenever ‖s‖₁ ≥ λ, where the projections onto
// the ball and onto its surface agree.
func TestRepoLinfOutsideBall(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	for trial := range 200 {
		n := 1 + rng.IntN(10)
		s := make([]float32, n)
		var l1 float64
		for j := range s {
			s[j] = float32(rng.NormFloat64())
			l1 += math.Abs(float64(s[j]))
		}
		lambda := l1 * rng.Float64()
		exact, repo := make([]float32, n), make([]float32, n)
		ProxLinf(exact, s, lambda)
		RepoProxLinf(repo, s, lambda)
		for j := range s {
			if math.Abs(float64(exact[j]-repo[j])) > 1e-5 {
				t.Fatalf("trial %d: s %v, λ %v: exact %v, repo %v", trial, s, lambda, exact, repo)
			}
		}
	}
}

func TestProxPanics(t *testing.T) {
	for name, f := range map[string]func(){
		"lengths":         func() { ProxL2(make([]float32, 1), make([]float32, 2), 1) },
		"negative weight": func() { ProxL0(make([]float32, 2), make([]float32, 2), -1) },
		"NaN radius":      func() { ProjectL1Ball(make([]float32, 2), make([]float32, 2), math.NaN()) },
		"unknown norm":    func() { Distance("l3", nil, nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
