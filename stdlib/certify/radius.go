package certify

import (
	"errors"
	"fmt"
	"math"

	"github.com/mlpipe/mlpipe/stdlib/attack"
)

// Margins returns the logit margin m = f_y − max_{i≠y} f_i of each of the
// len(y) samples whose logits are the rows of logits (len(y) × classes
// values, row-major). A margin is positive exactly when the label has the
// largest logit alone; it is zero on a tie and negative for a
// misclassified sample. It returns an error if classes < 2, if logits
// does not hold len(y)·classes values, if a label is not a class in
// [0, classes), or if a logit is NaN or infinite (no margin can be
// trusted then).
func Margins(logits []float32, y []int32, classes int) ([]float64, error) {
	if classes < 2 {
		return nil, fmt.Errorf("certify: margins: %d classes, want at least 2", classes)
	}
	if len(logits) != len(y)*classes {
		return nil, fmt.Errorf("certify: margins: %d logits for %d samples of %d classes", len(logits), len(y), classes)
	}
	margins := make([]float64, len(y))
	for i, k := range y {
		if k < 0 || int(k) >= classes {
			return nil, fmt.Errorf("certify: margins: label %d of sample %d is not a class in [0, %d)", k, i, classes)
		}
		row := logits[i*classes : (i+1)*classes]
		other := math.Inf(-1)
		for j, f := range row {
			if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
				return nil, fmt.Errorf("certify: margins: logit %d of sample %d is %v", j, i, f)
			}
			if j != int(k) {
				other = max(other, float64(f))
			}
		}
		margins[i] = float64(row[k]) - other
	}
	return margins, nil
}

// Radii returns the certified radius in norm norm of each margin (see
// Margins) of a model whose logits are l.Bound-Lipschitz in l2 on inputs
// of l.Inputs values: no perturbation δ with ‖δ‖ < r changes the class
// the model predicts. The radii are
//
//   - l2: r = m/(√2·L), for m > 0, and 0 for m ≤ 0 (see the package
//     documentation);
//   - l∞: r/√n, n = l.Inputs, since ‖δ‖₂ ≤ √n·‖δ‖∞;
//   - l1: r, since ‖δ‖₂ ≤ ‖δ‖₁.
//
// It returns an error if l.Bound is not finite and positive, if l.Inputs
// is not positive (for l∞), if norm is not attack.L2, attack.Linf or
// attack.L1, or if a margin is NaN.
func Radii(margins []float64, l Lipschitz, norm attack.Norm) ([]float64, error) {
	scale, err := radiusScale(l.Bound, norm, l.Inputs)
	if err != nil {
		return nil, fmt.Errorf("certify: radii: %w", err)
	}
	radii := make([]float64, len(margins))
	for i, m := range margins {
		if math.IsNaN(m) {
			return nil, fmt.Errorf("certify: radii: margin %d is NaN", i)
		}
		if m > 0 {
			radii[i] = m * scale
		}
	}
	return radii, nil
}

// radiusScale returns the factor that turns a positive margin into a
// certified radius in norm norm, for an l2 Lipschitz bound on inputs of
// the given width.
func radiusScale(bound float64, norm attack.Norm, inputs int) (float64, error) {
	if !(bound > 0) || math.IsInf(bound, 0) {
		return 0, fmt.Errorf("the Lipschitz bound %v is not finite and positive", bound)
	}
	scale := 1 / (math.Sqrt2 * bound)
	switch norm {
	case attack.L2, attack.L1:
		return scale, nil
	case attack.Linf:
		if inputs < 1 {
			return 0, fmt.Errorf("%d inputs: an l∞ radius needs the input width", inputs)
		}
		return scale / math.Sqrt(float64(inputs)), nil
	}
	return 0, fmt.Errorf("unknown norm %q (want %s, %s or %s)", norm, attack.L2, attack.Linf, attack.L1)
}

// CertifiedAccuracy returns the fraction of the radii above budget: the
// fraction of samples that no perturbation of norm at most budget can
// make misclassified (a misclassified sample has radius 0, so it never
// counts). It returns 0 for no radii.
func CertifiedAccuracy(radii []float64, budget float64) float64 {
	if len(radii) == 0 {
		return 0
	}
	n := 0
	for _, r := range radii {
		if r > budget {
			n++
		}
	}
	return float64(n) / float64(len(radii))
}

// Certifier turns a model's logits into certified radii in one norm, from
// a global Lipschitz bound of the model (see Bound and Radii). It has the
// methods the robustness battery's certifiers need. Make one with
// NewCertifier; the zero Certifier certifies nothing (Radii fails).
type Certifier struct {
	bound   float64
	classes int // 0: any
	inputs  int
	norm    attack.Norm
	scale   float64 // radius per unit of margin
}

// NewCertifier returns a Certifier for a model whose logits are
// l.Bound-Lipschitz in l2, with inputs of inputs values, giving radii in
// norm (attack.L2, attack.Linf or attack.L1). It returns an error if
// l.Bound is not finite and positive, if inputs is not positive or
// differs from a non-zero l.Inputs, or for another norm. When l.Classes
// is set, Radii checks that the logits have that many classes.
func NewCertifier(l Lipschitz, norm attack.Norm, inputs int) (Certifier, error) {
	if inputs < 1 {
		return Certifier{}, fmt.Errorf("certify: certifier: %d inputs, want at least 1", inputs)
	}
	if l.Inputs != 0 && l.Inputs != inputs {
		return Certifier{}, fmt.Errorf("certify: certifier: %d inputs, but the Lipschitz bound is of a model of %d", inputs, l.Inputs)
	}
	if l.Classes < 0 {
		return Certifier{}, fmt.Errorf("certify: certifier: %d classes", l.Classes)
	}
	scale, err := radiusScale(l.Bound, norm, inputs)
	if err != nil {
		return Certifier{}, fmt.Errorf("certify: certifier: %w", err)
	}
	return Certifier{bound: l.Bound, classes: l.Classes, inputs: inputs, norm: norm, scale: scale}, nil
}

// Norm returns the norm of the radii.
func (c Certifier) Norm() attack.Norm { return c.norm }

// Bound returns the l2 Lipschitz bound the radii come from.
func (c Certifier) Bound() float64 { return c.bound }

// Inputs returns the number of input values of a sample.
func (c Certifier) Inputs() int { return c.inputs }

// Radii returns the certified radius, in c's norm, of each of the len(y)
// samples with labels y whose logits are the rows of logits (len(y) ×
// classes values, row-major): 0 for a misclassified sample (or a tie),
// else its margin times 1/(√2·L), divided by √n for l∞ (see the package
// function Radii). The number of classes is the bound's Classes if it was
// set, else len(logits)/len(y). It returns Margins' errors, and an error
// for a zero Certifier.
func (c Certifier) Radii(logits []float32, y []int32) ([]float64, error) {
	if c.scale == 0 {
		return nil, errors.New("certify: zero Certifier (use NewCertifier)")
	}
	if len(y) == 0 {
		if len(logits) != 0 {
			return nil, fmt.Errorf("certify: radii: %d logits for no samples", len(logits))
		}
		return []float64{}, nil
	}
	classes := c.classes
	if classes == 0 {
		if len(logits)%len(y) != 0 {
			return nil, fmt.Errorf("certify: radii: %d logits are not a whole number of rows for %d samples", len(logits), len(y))
		}
		classes = len(logits) / len(y)
	}
	margins, err := Margins(logits, y, classes)
	if err != nil {
		return nil, err
	}
	for i, m := range margins {
		margins[i] = max(m, 0) * c.scale
	}
	return margins, nil
}
