package attack

import (
	"fmt"
	"math"
	"slices"
)

// The proximal operators below act on a perturbation s = u − x0 and write
// prox_{λd}(s) = argmin_p ½‖p − s‖₂² + λ·d(p) into dst, computing in
// float64 and rounding once; dst may be s itself. ProxLogBarrier adds x0
// back. They panic if the lengths of dst and s differ or λ is negative or
// NaN.
//
// The Repo* variants reproduce the operators of the reference ProxLogBarrier
// implementation (prox.py at commit e39f6574) where they are not the exact
// proximal operators; they exist to compare against published numbers.

// ProxL2 is the proximal operator of λ‖·‖₂, the block soft-threshold
// (1 − λ/max(λ, ‖s‖₂))·s: zero when ‖s‖₂ ≤ λ, else s shortened by λ.
func ProxL2(dst, s []float32, lambda float64) {
	checkProx(dst, s, lambda)
	var q float64
	for _, v := range s {
		q += float64(v) * float64(v)
	}
	r := math.Sqrt(q)
	if r <= lambda {
		clear(dst)
		return
	}
	f := 1 - lambda/r
	for j, v := range s {
		dst[j] = float32(f * float64(v))
	}
}

// ProxL0 is the exact proximal operator of λ‖·‖₀, hard thresholding at
// √(2λ): it keeps the values with |s_j| > √(2λ) and zeroes the others (at
// |s_j| = √(2λ) both are minimisers; it picks zero).
func ProxL0(dst, s []float32, lambda float64) {
	checkProx(dst, s, lambda)
	hardThreshold(dst, s, math.Sqrt(2*lambda))
}

// RepoProxL0 is the reference implementation's l0 operator, hard
// thresholding at √2·λ instead of √(2λ): the two agree at λ = 1 (the
// default prox weight) only.
func RepoProxL0(dst, s []float32, lambda float64) {
	checkProx(dst, s, lambda)
	hardThreshold(dst, s, math.Sqrt2*lambda)
}

func hardThreshold(dst, s []float32, t float64) {
	for j, v := range s {
		if math.Abs(float64(v)) > t {
			dst[j] = v
		} else {
			dst[j] = 0
		}
	}
}

// ProxL1 is the proximal operator of λ‖·‖₁, soft thresholding:
// sign(s_j)·max(|s_j| − λ, 0).
func ProxL1(dst, s []float32, lambda float64) {
	checkProx(dst, s, lambda)
	for j, v := range s {
		a := math.Abs(float64(v)) - lambda
		if a <= 0 {
			dst[j] = 0
			continue
		}
		dst[j] = float32(math.Copysign(a, float64(v)))
	}
}

// RepoProxL1 is the reference implementation's "l1" operator, which is not
// a proximal operator: sign(s_j) where |s_j| > λ and 0 elsewhere, so that
// surviving values move by a full unit (to the box bound once clamped).
func RepoProxL1(dst, s []float32, lambda float64) {
	checkProx(dst, s, lambda)
	for j, v := range s {
		if math.Abs(float64(v)) > lambda {
			dst[j] = sign(v)
		} else {
			dst[j] = 0
		}
	}
}

// ProxLinf is the proximal operator of λ‖·‖∞, by the Moreau decomposition
// s − P(s) with P the exact projection onto the l1 ball of radius λ: zero
// when ‖s‖₁ ≤ λ, else s with its magnitudes clipped at the level t where
// Σ max(|s_j| − t, 0) = λ.
func ProxLinf(dst, s []float32, lambda float64) {
	checkProx(dst, s, lambda)
	proxLinf(dst, s, lambda, nil)
}

// proxLinf is ProxLinf with a scratch buffer for the sort, which it may
// grow and returns.
func proxLinf(dst, s []float32, lambda float64, scratch []float64) []float64 {
	theta, scratch, inside := l1Level(s, lambda, scratch)
	if inside {
		clear(dst)
		return scratch
	}
	for j, v := range s {
		a := math.Min(math.Abs(float64(v)), theta)
		dst[j] = float32(math.Copysign(a, float64(v)))
	}
	return scratch
}

// RepoProxLinf is the reference implementation's l∞ operator: the Moreau
// decomposition s − λ·P(s/λ) with P the sort-based projection of |·| onto
// the surface {Σ_j w_j = 1, w ≥ 0} of the simplex, signs restored, in
// place of the projection onto the l1 ball. The two agree when
// ‖s‖₁ ≥ λ; inside the ball the surface projection pushes the result away
// from zero (for s = (0.2, −0.1), λ = 1 it gives (−0.35, 0.35), not 0).
// With λ = 0 it returns s.
func RepoProxLinf(dst, s []float32, lambda float64) {
	checkProx(dst, s, lambda)
	if lambda == 0 {
		copy(dst, s)
		return
	}
	w := make([]float64, len(s))
	for j, v := range s {
		w[j] = math.Abs(float64(v)) / lambda
	}
	u := slices.Clone(w)
	slices.Sort(u)
	slices.Reverse(u)
	var css, theta float64
	for j, v := range u {
		css += v
		if t := (1 - css) / float64(j+1); v+t > 0 {
			theta = t
		} else {
			break
		}
	}
	for j, v := range s {
		p := math.Copysign(math.Max(w[j]+theta, 0), float64(v))
		if v == 0 {
			p = 0 // sign(0) = 0 restores no sign
		}
		dst[j] = float32(float64(v) - lambda*p)
	}
}

// ProjectL1Ball writes into dst the Euclidean projection of v onto the l1
// ball {p : ‖p‖₁ ≤ radius}: v itself when it lies in the ball, else
// sign(v_j)·max(|v_j| − θ, 0) with θ > 0 found by sorting the magnitudes
// (Duchi et al. 2008). dst may be v. It panics if the lengths differ or
// radius is negative or NaN.
func ProjectL1Ball(dst, v []float32, radius float64) {
	checkProx(dst, v, radius)
	theta, _, inside := l1Level(v, radius, nil)
	if inside {
		copy(dst, v)
		return
	}
	for j, x := range v {
		a := math.Max(math.Abs(float64(x))-theta, 0)
		dst[j] = float32(math.Copysign(a, float64(x)))
	}
}

// l1Level returns the level θ ≥ 0 at which Σ max(|v_j| − θ, 0) = radius,
// or inside = true when ‖v‖₁ ≤ radius (the projection onto the ball is v).
// scratch, grown if needed, holds the sorted magnitudes.
func l1Level(v []float32, radius float64, scratch []float64) (theta float64, _ []float64, inside bool) {
	var l1 float64
	for _, x := range v {
		l1 += math.Abs(float64(x))
	}
	if l1 <= radius {
		return 0, scratch, true
	}
	scratch = slices.Grow(scratch[:0], len(v))
	for _, x := range v {
		scratch = append(scratch, math.Abs(float64(x)))
	}
	slices.Sort(scratch)
	// Walk the magnitudes from the largest: θ_ρ = (Σ_{top ρ} − radius)/ρ
	// for the largest ρ whose ρ-th magnitude still exceeds θ_ρ.
	var css float64
	for rho := 1; rho <= len(scratch); rho++ {
		a := scratch[len(scratch)-rho]
		t := (css + a - radius) / float64(rho)
		if rho > 1 && a <= t { // ρ = 1 always qualifies, also for radius 0
			break
		}
		css += a
		theta = t
	}
	return math.Max(theta, 0), scratch, false
}

func checkProx(dst, s []float32, lambda float64) {
	if len(dst) != len(s) {
		panic(fmt.Sprintf("attack: prox of %d values into %d", len(s), len(dst)))
	}
	if !(lambda >= 0) {
		panic(fmt.Sprintf("attack: prox weight %v: want at least 0", lambda))
	}
}

// proxFunc returns the operator ProxLogBarrier applies for norm.
func proxFunc(norm Norm, repo bool) func(dst, s []float32, lambda float64, scratch []float64) []float64 {
	plain := func(f func(dst, s []float32, lambda float64)) func(dst, s []float32, lambda float64, scratch []float64) []float64 {
		return func(dst, s []float32, lambda float64, scratch []float64) []float64 {
			f(dst, s, lambda)
			return scratch
		}
	}
	switch {
	case norm == L0 && repo:
		return plain(RepoProxL0)
	case norm == L0:
		return plain(ProxL0)
	case norm == L1 && repo:
		return plain(RepoProxL1)
	case norm == L1:
		return plain(ProxL1)
	case norm == L2:
		return plain(ProxL2)
	case norm == Linf && repo:
		return plain(RepoProxLinf)
	case norm == Linf:
		return func(dst, s []float32, lambda float64, scratch []float64) []float64 {
			checkProx(dst, s, lambda)
			return proxLinf(dst, s, lambda, scratch)
		}
	}
	return nil
}
