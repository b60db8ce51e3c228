package backend

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func lin(in, out int, bias bool) Layer { return Layer{Kind: Linear, In: in, Out: out, Bias: bias} }
func act(name string) Layer            { return Layer{Kind: Activation, Activation: name} }

func TestArchValidate(t *testing.T) {
	tests := []struct {
		name    string
		arch    Arch
		wantErr string // empty: valid
	}{
		{"mlp", Arch{lin(784, 256, true), act(ReLU), lin(256, 10, true)}, ""},
		{"single linear", Arch{lin(3, 2, false)}, ""},
		{"all activations", Arch{lin(3, 4, true), act(ReLU), act(Tanh), act(Sigmoid), act(Identity), lin(4, 2, true)}, ""},
		{"activation first with width", Arch{{Kind: Activation, Activation: ReLU, In: 3, Out: 3}, lin(3, 2, true)}, ""},
		{"activation widths set", Arch{lin(3, 4, true), {Kind: Activation, Activation: Tanh, In: 4, Out: 4}, lin(4, 2, true)}, ""},
		{"empty", Arch{}, "no layers"},
		{"no linear", Arch{act(ReLU)}, "no linear layer"},
		{"widths do not chain", Arch{lin(3, 4, true), act(ReLU), lin(5, 2, true)}, "does not match width 4"},
		{"zero width", Arch{lin(3, 0, true)}, "out of range"},
		{"negative width", Arch{lin(-1, 2, true)}, "out of range"},
		{"huge width", Arch{lin(1<<25, 2, true)}, "out of range"},
		{"unknown activation", Arch{lin(3, 4, true), act("gelu")}, "unknown activation"},
		{"empty activation", Arch{lin(3, 4, true), act("")}, "unknown activation"},
		{"activation on linear", Arch{{Kind: Linear, In: 3, Out: 2, Activation: ReLU}}, "has activation"},
		{"bias on activation", Arch{lin(3, 4, true), {Kind: Activation, Activation: ReLU, Bias: true}}, "has a bias"},
		{"activation width mismatch", Arch{lin(3, 4, true), {Kind: Activation, Activation: ReLU, In: 3, Out: 3}}, "do not match width 4"},
		{"activation in != out", Arch{lin(3, 4, true), {Kind: Activation, Activation: ReLU, In: 4, Out: 5}}, "do not match width 4"},
		{"zero kind", Arch{lin(3, 2, true), {In: 2, Out: 2}}, "layer 1: unknown layer kind LayerKind(0)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.arch.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("Validate() = nil, want an error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.wantErr)
			case err != nil && !strings.HasPrefix(err.Error(), "backend: "):
				t.Fatalf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestArchWidths(t *testing.T) {
	tests := []struct {
		arch    Arch
		in, out int
	}{
		{Arch{lin(784, 256, true), act(ReLU), lin(256, 10, true)}, 784, 10},
		{Arch{act(ReLU), lin(5, 3, false), act(Sigmoid)}, 5, 3},
		{Arch{act(ReLU)}, 0, 0},
		{nil, 0, 0},
	}
	for _, tc := range tests {
		if got := tc.arch.InputWidth(); got != tc.in {
			t.Errorf("%v.InputWidth() = %d, want %d", tc.arch, got, tc.in)
		}
		if got := tc.arch.OutputWidth(); got != tc.out {
			t.Errorf("%v.OutputWidth() = %d, want %d", tc.arch, got, tc.out)
		}
	}
}

func TestInit(t *testing.T) {
	arch := Arch{lin(784, 256, true), act(ReLU), lin(256, 10, false), act(Identity), act(Tanh), lin(10, 3, true)}
	m := mustInit(t, arch, 42)
	wantNames := []string{"0.weight", "0.bias", "2.weight", "5.weight", "5.bias"}
	wantShapes := [][]int{{256, 784}, {256}, {10, 256}, {3, 10}, {3}}
	fanIn := []int{784, 784, 256, 10, 10}
	if len(m.Params) != len(wantNames) {
		t.Fatalf("%d tensors, want %d", len(m.Params), len(wantNames))
	}
	for i, p := range m.Params {
		if p.Name != wantNames[i] || !slices.Equal(p.Shape, wantShapes[i]) || len(p.Data) != numel(wantShapes[i]) {
			t.Errorf("tensor %d: %q %v with %d values, want %q %v", i, p.Name, p.Shape, len(p.Data), wantNames[i], wantShapes[i])
		}
		bound := 1 / math.Sqrt(float64(fanIn[i]))
		var sum, sq float64
		for _, v := range p.Data {
			if math.Abs(float64(v)) > bound*(1+1e-7) {
				t.Fatalf("%s: %v outside ±%v", p.Name, v, bound)
			}
			sum += float64(v)
			sq += float64(v) * float64(v)
		}
		if n := float64(len(p.Data)); n > 1000 {
			// U(-b, b) has mean 0 and variance b²/3.
			mean, variance := sum/n, sq/n-(sum/n)*(sum/n)
			if math.Abs(mean) > 0.01*bound || math.Abs(variance/(bound*bound/3)-1) > 0.02 {
				t.Errorf("%s: mean %v, variance %v; want about 0 and %v", p.Name, mean, variance, bound*bound/3)
			}
		}
	}
	if err := m.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}

	again := mustInit(t, arch, 42)
	other := mustInit(t, arch, 43)
	for i := range m.Params {
		if !slices.Equal(m.Params[i].Data, again.Params[i].Data) {
			t.Errorf("%s differs between two Inits with the same seed", m.Params[i].Name)
		}
		if slices.Equal(m.Params[i].Data, other.Params[i].Data) {
			t.Errorf("%s is equal for seeds 42 and 43", m.Params[i].Name)
		}
	}
	arch[0].Out = 7 // Init must have copied the architecture
	if m.Arch[0].Out != 256 {
		t.Errorf("Init shares the caller's Arch")
	}
	if _, err := Init(Arch{act(ReLU)}, 1); err == nil {
		t.Errorf("Init of an invalid arch succeeded")
	}
}

func TestModelCloneAndValidate(t *testing.T) {
	m := mustInit(t, Arch{lin(4, 3, true), act(ReLU), lin(3, 2, true)}, 1)
	c := m.Clone()
	c.Params[0].Data[0]++
	c.Params[0].Shape[0] = 9
	c.Arch[0].In = 9
	if m.Params[0].Data[0] == c.Params[0].Data[0] || m.Params[0].Shape[0] != 3 || m.Arch[0].In != 4 {
		t.Fatalf("Clone shares memory with the original")
	}

	tests := []struct {
		name   string
		change func(*Model)
		want   string
	}{
		{"valid", func(*Model) {}, ""},
		{"missing tensor", func(m *Model) { m.Params = m.Params[:3] }, "has 3 tensors"},
		{"renamed", func(m *Model) { m.Params[1].Name = "0.b" }, `named "0.b"`},
		{"reshaped", func(m *Model) { m.Params[0].Shape = []int{4, 3} }, "has shape [4 3]"},
		{"short data", func(m *Model) { m.Params[2].Data = m.Params[2].Data[1:] }, "has 5 values"},
		{"bad arch", func(m *Model) { m.Arch[1].Activation = "swish" }, "unknown activation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := m.Clone()
			tc.change(c)
			err := c.Validate()
			if (err == nil) != (tc.want == "") || (err != nil && !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("Validate() = %v, want error containing %q", err, tc.want)
			}
		})
	}
	var nilModel *Model
	if nilModel.Validate() == nil {
		t.Errorf("nil model validates")
	}
}
