package value

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/safetensors"
)

func testTrained(t *testing.T) *Trained {
	t.Helper()
	arch := mlpArch([]int{4, 3, 2}, backend.ReLU)
	m, err := backend.Init(arch, 9)
	if err != nil {
		t.Fatal(err)
	}
	return &Trained{
		Model: &Model{Layers: []Layer{
			{Kind: backend.Linear, Out: 3, Bias: true},
			{Kind: backend.Activation, Activation: backend.ReLU},
			{Kind: backend.Linear, In: 3, Out: 2, Bias: true},
		}, In: 4, Weights: m},
		History: []EpochStats{{Epoch: 1, Loss: 0.7, Seconds: 0.01}, {Epoch: 2, Loss: 0.5, Seconds: 0.02}},
		Seconds: 0.03, Steps: 8, Samples: 64, SaveAs: "model",
	}
}

func TestTrainedCodecRoundTrip(t *testing.T) {
	want := testTrained(t)
	data, err := EncodeTrained(want)
	if err != nil {
		t.Fatal(err)
	}
	again, err := EncodeTrained(want)
	if err != nil || string(again) != string(data) {
		t.Fatalf("encoding is not deterministic (err %v)", err)
	}
	got, err := DecodeTrained(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
	for _, cut := range []int{0, 7, len(data) / 2, len(data) - 1} {
		if _, err := DecodeTrained(data[:cut]); err == nil {
			t.Errorf("DecodeTrained accepted the first %d of %d bytes", cut, len(data))
		}
	}
}

func TestMetricsCodecRoundTrip(t *testing.T) {
	want := &Metrics{Names: []string{"accuracy", "nll", "odd"}, Values: map[string]float64{"accuracy": 0.875, "nll": 0.1 + 0.2, "odd": math.Inf(1)},
		Samples: 100, Docs: map[string]string{"accuracy": "Fraction right."}}
	data, err := EncodeMetrics(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeMetrics(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
	nan := &Metrics{Names: []string{"x"}, Values: map[string]float64{"x": math.NaN()}}
	data, _ = EncodeMetrics(nan)
	if got, err := DecodeMetrics(data); err != nil || !math.IsNaN(got.(*Metrics).Values["x"]) {
		t.Errorf("NaN did not survive: %v, %v", got, err)
	}
	for _, bad := range []string{"", "{", `{"names":["a"],"values":{}}`, `{"names":["a"],"values":{"a":"x"}}`} {
		if _, err := DecodeMetrics([]byte(bad)); err == nil {
			t.Errorf("DecodeMetrics accepted %q", bad)
		}
	}
}

// TestLoadWeightsErrors checks that a weights file that does not fit the
// architecture is refused with the name of the tensor at fault.
func TestLoadWeightsErrors(t *testing.T) {
	arch := mlpArch([]int{4, 3, 2}, backend.ReLU)
	m, err := backend.Init(arch, 1)
	if err != nil {
		t.Fatal(err)
	}
	tensors := func(edit func(ts []safetensors.Tensor) []safetensors.Tensor) *safetensors.File {
		var ts []safetensors.Tensor
		for _, p := range m.Params {
			ts = append(ts, safetensors.F32(p.Name, p.Shape, p.Data))
		}
		var buf strings.Builder
		if err := safetensors.Write(&buf, edit(ts), nil); err != nil {
			t.Fatal(err)
		}
		f, err := safetensors.Parse([]byte(buf.String()))
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	for name, tc := range map[string]struct {
		edit func([]safetensors.Tensor) []safetensors.Tensor
		want string
	}{
		"missing": {func(ts []safetensors.Tensor) []safetensors.Tensor { return ts[1:] }, `no tensor "0.weight" (the model needs one of shape [3 4])`},
		"shape": {func(ts []safetensors.Tensor) []safetensors.Tensor {
			ts[2] = safetensors.F32("2.weight", []int{3, 2}, make([]float32, 6))
			return ts
		}, `tensor "2.weight" has shape [3 2], but the model needs [2 3]`},
		"extra": {func(ts []safetensors.Tensor) []safetensors.Tensor {
			return append(ts, safetensors.F32("4.weight", []int{1}, []float32{1}))
		}, `a tensor "4.weight" that the model does not use`},
	} {
		_, err := LoadWeights(tensors(tc.edit), arch)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
	if _, err := LoadWeights(tensors(func(ts []safetensors.Tensor) []safetensors.Tensor { return ts }), arch); err != nil {
		t.Errorf("the model's own tensors: %v", err)
	}
}
