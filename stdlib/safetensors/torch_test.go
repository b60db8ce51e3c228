package safetensors

import (
	"context"
	"math"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlpipe/mlpipe/stdlib/internal/torchtest"
)

// torchModel is the state dict of nn.Sequential(nn.Linear(4, 3), nn.ReLU(),
// nn.Linear(3, 2)) with fixed weights.
func torchModel() []Tensor {
	values := func(n int, seed float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(math.Sin(seed + 1.7*float64(i)))
		}
		return v
	}
	return []Tensor{
		F32("0.weight", []int{3, 4}, values(12, 0.1)),
		F32("0.bias", []int{3}, values(3, 0.2)),
		F32("2.weight", []int{2, 3}, values(6, 0.3)),
		F32("2.bias", []int{2}, values(2, 0.4)),
	}
}

// linear returns x·wᵀ + b for x of shape [n, in] and w of shape [out, in].
func linear(x []float32, n int, w []float32, b []float32) []float32 {
	out, in := len(b), len(w)/len(b)
	y := make([]float32, n*out)
	for i := range n {
		for o := range out {
			sum := b[o]
			for k := range in {
				sum += x[i*in+k] * w[o*in+k]
			}
			y[i*out+o] = sum
		}
	}
	return y
}

// forward runs the model of torchModel on x, n rows of 4.
func forward(model []Tensor, x []float32, n int) []float32 {
	f := func(i int) []float32 {
		data := model[i].Data
		v := make([]float32, len(data)/4)
		for j := range v {
			v[j] = math.Float32frombits(uint32(data[4*j]) | uint32(data[4*j+1])<<8 | uint32(data[4*j+2])<<16 | uint32(data[4*j+3])<<24)
		}
		return v
	}
	h := linear(x, n, f(0), f(1))
	for i, v := range h {
		h[i] = max(v, 0)
	}
	return linear(h, n, f(2), f(3))
}

// TestTorchInterop has PyTorch load a state dict the package wrote, run
// the module and write its own file, which the package then reads.
func TestTorchInterop(t *testing.T) {
	torchtest.Require(t)
	dir := t.TempDir()
	in, out := filepath.Join(dir, "model.safetensors"), filepath.Join(dir, "torch.safetensors")
	const step = 1234567890123 // needs more than 32 bits
	model := torchModel()
	if err := WriteFile(in, append(slices.Clone(model), I64("step", []int{}, []int64{step})),
		map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, torchtest.Python, filepath.Join("testdata", "torch_interop.py"), in, out)
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("torch_interop.py: %v\n%s", err, output)
	}

	f, err := ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" || !strings.HasPrefix(f.Metadata["writer"], "torch ") {
		t.Errorf("metadata = %v", f.Metadata)
	}
	checkStateDict(t, f, model)
	checkStep(t, f, step+1)
	checkOutput(t, f, model)
	checkProbes(t, f)
}

// checkStateDict checks that torch's state dict is bit for bit the one
// the package wrote.
func checkStateDict(t *testing.T, f *File, model []Tensor) {
	t.Helper()
	var got []Tensor
	for _, want := range model {
		tensor, err := f.Tensor(want.Name)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, tensor)
	}
	if diff := sameTensors(got, model); diff != "" {
		t.Errorf("state dict written by torch: %s", diff)
	}
}

// checkStep checks the int64 scalar torch incremented.
func checkStep(t *testing.T, f *File, want int64) {
	t.Helper()
	tensor, err := f.Tensor("step")
	if err != nil {
		t.Fatal(err)
	}
	if want := I64("step", []int{}, []int64{want}); sameTensors([]Tensor{tensor}, []Tensor{want}) != "" {
		t.Errorf("step = %+v, want %+v", tensor, want)
	}
}

// checkOutput checks torch's output against a forward pass in Go.
func checkOutput(t *testing.T, f *File, model []Tensor) {
	t.Helper()
	x, xShape, err := f.Float32("input")
	if err != nil {
		t.Fatal(err)
	}
	want := forward(model, x, xShape[0])
	got, shape, err := f.Float32("output")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(shape, []int{xShape[0], 2}) {
		t.Fatalf("output shape %v", shape)
	}
	for i := range want {
		if diff := math.Abs(float64(got[i] - want[i])); diff > 1e-5*(1+math.Abs(float64(want[i]))) {
			t.Errorf("output[%d] = %v, forward pass in Go gives %v", i, got[i], want[i])
		}
	}
	// The F64 copy converts back to the F32 output exactly; F16 and BF16
	// copies are within their precision.
	tolerances := map[string]float64{"output.f64": 0, "output.f16": 1e-3, "output.bf16": 1e-2}
	for name, tolerance := range tolerances {
		converted, _, err := f.Float32(name)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if diff := math.Abs(float64(converted[i] - got[i])); diff > tolerance*(1+math.Abs(float64(got[i]))) {
				t.Errorf("%s[%d] = %v, output is %v", name, i, converted[i], got[i])
			}
		}
	}
}

// checkProbes checks Float32 against torch's own conversions to float32.
func checkProbes(t *testing.T, f *File) {
	t.Helper()
	probes := 0
	for _, info := range f.Tensors {
		if !strings.HasPrefix(info.Name, "probe.") || strings.HasSuffix(info.Name, ".as_f32") {
			continue
		}
		probes++
		got, _, err := f.Float32(info.Name)
		if err != nil {
			t.Fatal(err)
		}
		want, _, err := f.Float32(info.Name + ".as_f32")
		if err != nil {
			t.Fatal(err)
		}
		if !sameFloats(got, want) {
			t.Errorf("%s (%s): Float32 gives %v, torch gives %v", info.Name, info.DType, got, want)
		}
	}
	if probes != 9 {
		t.Errorf("found %d probes, want 9", probes)
	}
}
