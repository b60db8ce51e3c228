package backend

import (
	"fmt"
	"math"
)

// SoftmaxCrossEntropy returns the mean over rows of the softmax
// cross-entropy of logits (len(y) rows of classes values, row-major) against
// the labels y, and its gradient with respect to the logits,
// (softmax(logits) - onehot(y)) / len(y), in a new slice.
//
// It is the plain-Go reference of the loss the trainer minimises, computed
// in float64: every row is shifted by its maximum and its log-sum-exp is
// max + log1p(sum of exp(x_j - max) over the other entries), so extreme but
// finite logits give finite, accurate losses (a row [100, 0] with label 0
// gives log(1+e^-100) ≈ 3.7e-44). Logits containing NaN or ±Inf may give a
// NaN or infinite mean; they are not an error. With no rows the mean is 0.
//
// It returns an error if classes < 1, if len(logits) != len(y)*classes, or
// if a label is outside [0, classes).
func SoftmaxCrossEntropy(logits []float32, y []int32, classes int) (mean float64, grad []float32, err error) {
	if classes < 1 {
		return 0, nil, fmt.Errorf("backend: softmax cross-entropy: %d classes", classes)
	}
	if len(logits) != len(y)*classes {
		return 0, nil, fmt.Errorf("backend: softmax cross-entropy: %d logits for %d labels of %d classes", len(logits), len(y), classes)
	}
	for i, k := range y {
		if k < 0 || int(k) >= classes {
			return 0, nil, fmt.Errorf("backend: softmax cross-entropy: label %d of row %d is not in [0, %d)", k, i, classes)
		}
	}
	grad = make([]float32, len(logits))
	if len(y) == 0 {
		return 0, grad, nil
	}
	n := float64(len(y))
	p := make([]float64, classes)
	var total float64
	for i, k := range y {
		row := logits[i*classes : (i+1)*classes]
		at := 0
		for j, v := range row {
			if v > row[at] {
				at = j
			}
		}
		mx := float64(row[at])
		var rest float64
		for j, v := range row {
			p[j] = math.Exp(float64(v) - mx)
			if j != at {
				rest += p[j]
			}
		}
		total += math.Log1p(rest) + (mx - float64(row[k]))
		for j := range p {
			d := p[j] / (1 + rest)
			switch {
			case j == int(k) && j == at:
				d = -rest / (1 + rest) // d - 1 without cancellation
			case j == int(k):
				d--
			}
			grad[i*classes+j] = float32(d / n)
		}
	}
	return total / n, grad, nil
}
