package value

import (
	"bytes"
	"context"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/internal/torchtest"
	"github.com/mlpipe/mlpipe/stdlib/safetensors"
)

// TestWeightsRoundTripWithPyTorch saves an mlpipe MLP's weights and loads
// them into the same nn.Sequential with load_state_dict(strict=True), and
// loads a PyTorch module's state dict into mlpipe: both ways, the two
// frameworks' logits on the same inputs agree.
func TestWeightsRoundTripWithPyTorch(t *testing.T) {
	torchtest.Require(t)
	for _, tc := range []struct {
		widths     []int
		activation string
	}{
		{[]int{6, 5, 3}, backend.ReLU},
		{[]int{4, 7, 6, 2}, backend.Tanh},
		{[]int{3, 2}, backend.Sigmoid}, // no hidden layer: logistic regression
	} {
		t.Run(tc.activation, func(t *testing.T) {
			arch := mlpArch(tc.widths, tc.activation)
			goModel, err := backend.Init(arch, 3)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			weights, err := EncodeWeights(goModel, nil)
			if err != nil {
				t.Fatal(err)
			}
			goPath := filepath.Join(dir, "go.safetensors")
			if err := os.WriteFile(goPath, weights, 0o644); err != nil {
				t.Fatal(err)
			}
			const n = 5
			x := make([]float32, n*tc.widths[0])
			for i := range x {
				x[i] = float32(math.Sin(0.37*float64(i) + 0.1))
			}
			inputsPath := filepath.Join(dir, "x.safetensors")
			if err := safetensors.WriteFile(inputsPath, []safetensors.Tensor{safetensors.F32("x", []int{n, tc.widths[0]}, x)}, nil); err != nil {
				t.Fatal(err)
			}
			outPath := filepath.Join(dir, "out.safetensors")
			runTorch(t, tc.widths, tc.activation, goPath, inputsPath, outPath)
			out, err := safetensors.ReadFile(outPath)
			if err != nil {
				t.Fatal(err)
			}

			// mlpipe's weights in PyTorch give mlpipe's logits.
			goLogits, err := backend.Predict(context.Background(), goModel, x, n, n)
			if err != nil {
				t.Fatal(err)
			}
			torchOnGo, _, err := out.Float32("go_logits")
			if err != nil {
				t.Fatal(err)
			}
			assertClose(t, "mlpipe weights: PyTorch vs mlpipe logits", torchOnGo, goLogits)

			// PyTorch's state dict, exactly as torch wrote it, loads into
			// mlpipe and gives PyTorch's logits.
			torchModel, err := LoadWeightsSubset(out, arch)
			if err != nil {
				t.Fatal(err)
			}
			goOnTorch, err := backend.Predict(context.Background(), torchModel, x, n, n)
			if err != nil {
				t.Fatal(err)
			}
			torchLogits, _, err := out.Float32("torch_logits")
			if err != nil {
				t.Fatal(err)
			}
			assertClose(t, "PyTorch weights: mlpipe vs PyTorch logits", goOnTorch, torchLogits)
		})
	}
}

// mlpArch is the architecture of mlp with the given widths, with biases.
func mlpArch(widths []int, activation string) backend.Arch {
	var arch backend.Arch
	for i := 0; i+1 < len(widths); i++ {
		if i > 0 {
			arch = append(arch, backend.Layer{Kind: backend.Activation, In: widths[i], Out: widths[i], Activation: activation})
		}
		arch = append(arch, backend.Layer{Kind: backend.Linear, In: widths[i], Out: widths[i+1], Bias: true})
	}
	return arch
}

func runTorch(t *testing.T, widths []int, activation, goPath, inputsPath, outPath string) {
	t.Helper()
	ws := make([]string, len(widths))
	for i, w := range widths {
		ws[i] = strconv.Itoa(w)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, torchtest.Python, filepath.Join("testdata", "torch_model.py"),
		strings.Join(ws, ","), activation, goPath, inputsPath, outPath)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("torch_model.py: %v\n%s", err, stderr.String())
	}
}

func assertClose(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5 {
			t.Fatalf("%s: value %d is %v, want %v", what, i, got[i], want[i])
		}
	}
}
