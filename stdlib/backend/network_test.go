package backend

import (
	"math/rand/v2"
	"testing"
)

// TestNetworkGradients checks the weight gradients of whole training graphs
// against central finite differences of the float64 reference loss.
func TestNetworkGradients(t *testing.T) {
	tests := []struct {
		name string
		arch Arch
		rows int
	}{
		{"5-6-relu-4 bias", Arch{lin(5, 6, true), act(ReLU), lin(6, 4, true)}, 7},
		{"5-6-relu-4 no bias", Arch{lin(5, 6, false), act(ReLU), lin(6, 4, false)}, 7},
		{"5-6-tanh-5-sigmoid-3", Arch{lin(5, 6, true), act(Tanh), lin(6, 5, true), act(Sigmoid), lin(5, 3, true)}, 4},
		{"one row", Arch{lin(5, 6, true), act(ReLU), lin(6, 4, true)}, 1},
		{"one output", Arch{lin(3, 4, true), act(ReLU), lin(4, 1, true)}, 3},
		{"relu first, identity, relu last", Arch{act(ReLU), lin(4, 5, true), act(Identity), act(ReLU), lin(5, 3, false), act(ReLU)}, 5},
		{"linear only", Arch{lin(4, 3, true)}, 6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mustInit(t, tc.arch, 3)
			rng := rand.New(rand.NewPCG(7, 7))
			x32, x64 := randRows(rng, tc.rows, tc.arch.InputWidth())
			y := randLabels(rng, tc.rows, tc.arch.OutputWidth())

			net, err := buildNetwork(m, tc.rows, netSpec{train: true})
			if err != nil {
				t.Fatal(err)
			}
			defer net.close()
			copy(net.x, x32)
			for i, k := range y {
				net.y[i] = float32(k)
			}
			if err := net.run(); err != nil {
				t.Fatal(err)
			}

			ref := toRef(m)
			want, minRelu := ref.loss(x64, y)
			if minRelu < 1e-3 {
				t.Fatalf("a ReLU input is %g from its kink; pick other seeds", minRelu)
			}
			if !closeTo(net.ce.mean, want, 1e-6, 1e-5) {
				t.Errorf("loss = %v, reference %v", net.ce.mean, want)
			}
			const eps = 1e-6
			for k, vg := range net.vgs {
				gv, err := vg.Grad()
				if err != nil {
					t.Fatalf("%s: %v", m.Params[k].Name, err)
				}
				gt, err := dense(gv, -1)
				if err != nil {
					t.Fatal(err)
				}
				got := gt.Float32s()
				if len(got) != len(ref.params[k]) {
					t.Fatalf("%s: %d gradient values for %d weights", m.Params[k].Name, len(got), len(ref.params[k]))
				}
				for j := range ref.params[k] {
					p := ref.params[k][j]
					ref.params[k][j] = p + eps
					lp, _ := ref.loss(x64, y)
					ref.params[k][j] = p - eps
					lm, _ := ref.loss(x64, y)
					ref.params[k][j] = p
					fd := (lp - lm) / (2 * eps)
					if !closeTo(float64(got[j]), fd, 2e-6, 1e-4) {
						t.Errorf("%s[%d]: gradient %v, finite difference %v", m.Params[k].Name, j, got[j], fd)
					}
				}
			}
		})
	}
}
