package backend

import (
	"math"
	"strings"
	"testing"
)

// softmaxGrad returns (softmax(row) - onehot(k)) / n, computed by hand.
func softmaxGrad(row []float64, k int, n float64) []float64 {
	var s float64
	for _, v := range row {
		s += math.Exp(v)
	}
	g := make([]float64, len(row))
	for j, v := range row {
		g[j] = math.Exp(v) / s
		if j == k {
			g[j]--
		}
		g[j] /= n
	}
	return g
}

func TestSoftmaxCrossEntropyHandValues(t *testing.T) {
	e1 := math.Exp(-1)
	tests := []struct {
		name     string
		logits   []float32
		y        []int32
		classes  int
		want     float64
		wantGrad []float64
	}{
		{
			name: "[100, 0] label 0", logits: []float32{100, 0}, y: []int32{0}, classes: 2,
			want:     math.Exp(-100), // log(1 + e^-100) = 3.72e-44, not 0 or Inf
			wantGrad: []float64{-math.Exp(-100) / (1 + math.Exp(-100)), 1 / (1 + math.Exp(100))},
		},
		{
			name: "[100, 0] label 1", logits: []float32{100, 0}, y: []int32{1}, classes: 2,
			want: 100, wantGrad: []float64{1, -1},
		},
		{
			name: "[-200, -201] label 0", logits: []float32{-200, -201}, y: []int32{0}, classes: 2,
			want:     0.31326168751822286, // log(1 + e^-1)
			wantGrad: []float64{1/(1+e1) - 1, e1 / (1 + e1)},
		},
		{
			name: "[-200, -201] label 1", logits: []float32{-200, -201}, y: []int32{1}, classes: 2,
			want:     1.3132616875182228, // 1 + log(1 + e^-1)
			wantGrad: []float64{1 / (1 + e1), e1/(1+e1) - 1},
		},
		{
			name: "both rows", logits: []float32{100, 0, -200, -201}, y: []int32{1, 0}, classes: 2,
			want:     (100 + 0.31326168751822286) / 2,
			wantGrad: []float64{0.5, -0.5, (1/(1+e1) - 1) / 2, e1 / (1 + e1) / 2},
		},
		{
			name: "uniform", logits: []float32{3, 3, 3}, y: []int32{2}, classes: 3,
			want: math.Log(3), wantGrad: []float64{1.0 / 3, 1.0 / 3, -2.0 / 3},
		},
		{
			name: "[1, 2, 3] label 0", logits: []float32{1, 2, 3}, y: []int32{0}, classes: 3,
			want:     math.Log(math.Exp(1)+math.Exp(2)+math.Exp(3)) - 1, // 2.4076059644443806
			wantGrad: softmaxGrad([]float64{1, 2, 3}, 0, 1),
		},
		{
			name: "two rows of three", logits: []float32{1, 2, 3, 0.5, -0.5, 0}, y: []int32{2, 1}, classes: 3,
			want: (math.Log(math.Exp(1)+math.Exp(2)+math.Exp(3)) - 3 +
				math.Log(math.Exp(0.5)+math.Exp(-0.5)+math.Exp(0)) + 0.5) / 2,
			wantGrad: append(softmaxGrad([]float64{1, 2, 3}, 2, 2), softmaxGrad([]float64{0.5, -0.5, 0}, 1, 2)...),
		},
		{
			name: "one class", logits: []float32{7, -3}, y: []int32{0, 0}, classes: 1,
			want: 0, wantGrad: []float64{0, 0},
		},
		{name: "no rows", logits: nil, y: nil, classes: 4, want: 0, wantGrad: []float64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, grad, err := SoftmaxCrossEntropy(tc.logits, tc.y, tc.classes)
			if err != nil {
				t.Fatal(err)
			}
			if !closeTo(got, tc.want, 0, 1e-14) {
				t.Errorf("loss = %v, want %v", got, tc.want)
			}
			if len(grad) != len(tc.wantGrad) {
				t.Fatalf("%d gradient values, want %d", len(grad), len(tc.wantGrad))
			}
			for j, g := range grad {
				if !closeTo(float64(g), tc.wantGrad[j], 1e-45, 1e-6) {
					t.Errorf("grad[%d] = %v, want %v", j, g, tc.wantGrad[j])
				}
			}
		})
	}
}

func TestSoftmaxCrossEntropyNonFinite(t *testing.T) {
	tests := []struct {
		logits []float32
		y      []int32
	}{
		{[]float32{float32(math.NaN()), 0}, []int32{0}},
		{[]float32{0, float32(math.NaN())}, []int32{0}},
		{[]float32{float32(math.Inf(1)), 0}, []int32{0}},
		{[]float32{float32(math.Inf(-1)), 0}, []int32{0}},
	}
	for _, tc := range tests {
		got, _, err := SoftmaxCrossEntropy(tc.logits, tc.y, 2)
		if err != nil {
			t.Fatal(err)
		}
		if !math.IsNaN(got) && !math.IsInf(got, 0) {
			t.Errorf("loss of %v = %v, want NaN or Inf", tc.logits, got)
		}
	}
}

func TestSoftmaxCrossEntropyErrors(t *testing.T) {
	tests := []struct {
		name    string
		logits  []float32
		y       []int32
		classes int
		want    string
	}{
		{"label too big", []float32{1, 2}, []int32{2}, 2, "label 2 of row 0"},
		{"negative label", []float32{1, 2, 3, 4}, []int32{0, -1}, 2, "label -1 of row 1"},
		{"size mismatch", []float32{1, 2, 3}, []int32{0}, 2, "3 logits for 1 labels"},
		{"no classes", nil, nil, 0, "0 classes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := SoftmaxCrossEntropy(tc.logits, tc.y, tc.classes)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "backend: ") {
				t.Fatalf("err = %v, want one containing %q", err, tc.want)
			}
		})
	}
}
