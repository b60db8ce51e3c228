package value

import (
	"reflect"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/stdlib/backend"
)

func TestArchFor(t *testing.T) {
	lin := func(out int) Layer { return Layer{Kind: backend.Linear, Out: out, Bias: true} }
	relu := Layer{Kind: backend.Activation, Activation: backend.ReLU}
	bn := Layer{Kind: backend.BatchNorm1d}
	conv := func(out, k, s, p int) Layer {
		return Layer{Kind: backend.Conv2d, Out: out, Kernel: k, Stride: s, Padding: p, Bias: true}
	}
	pool := Layer{Kind: backend.MaxPool2d, Kernel: 2}
	gap := Layer{Kind: backend.GlobalAvgPool2d}
	flat := Layer{Kind: backend.Flatten}
	bRelu := func(w int) backend.Layer {
		return backend.Layer{Kind: backend.Activation, Activation: backend.ReLU, In: w, Out: w}
	}
	planeRelu := backend.Layer{Kind: backend.Activation, Activation: backend.ReLU}

	for _, tc := range []struct {
		name    string
		layers  []Layer
		sample  []int
		want    backend.Arch
		wantErr string
		in, out int // InWidth and OutWidth of the model
	}{
		{
			name: "dense layers read images as flat rows", layers: []Layer{lin(8), bn, relu, lin(3)}, sample: []int{4, 5},
			want: backend.Arch{{Kind: backend.Linear, In: 20, Out: 8, Bias: true}, {Kind: backend.BatchNorm1d, In: 8}, bRelu(8), {Kind: backend.Linear, In: 8, Out: 3, Bias: true}},
			out:  3,
		},
		{
			name: "the peer's CNN encoder on [H, W] images", layers: []Layer{conv(4, 3, 1, 1), bn, relu, pool, conv(6, 3, 1, 1), bn, relu, gap, lin(5)}, sample: []int{8, 8},
			want: backend.Arch{
				{Kind: backend.Conv2d, In: 1, Out: 4, Kernel: 3, Stride: 1, Padding: 1, Bias: true, InShape: [3]int{1, 8, 8}},
				{Kind: backend.BatchNorm2d, In: 4}, planeRelu, {Kind: backend.MaxPool2d, Kernel: 2},
				{Kind: backend.Conv2d, In: 4, Out: 6, Kernel: 3, Stride: 1, Padding: 1, Bias: true},
				{Kind: backend.BatchNorm2d, In: 6}, planeRelu, {Kind: backend.GlobalAvgPool2d},
				{Kind: backend.Linear, In: 6, Out: 5, Bias: true},
			},
			out: 5,
		},
		{
			name: "channels, stride and flatten", layers: []Layer{conv(2, 2, 2, 0), flat, lin(3)}, sample: []int{3, 5, 4},
			want: backend.Arch{
				{Kind: backend.Conv2d, In: 3, Out: 2, Kernel: 2, Stride: 2, Bias: true, InShape: [3]int{3, 5, 4}},
				{Kind: backend.Flatten}, {Kind: backend.Linear, In: 2 * 2 * 2, Out: 3, Bias: true},
			},
			out: 3,
		},
		{
			name: "pooling first, ending in a global average", layers: []Layer{pool, conv(7, 1, 1, 0), gap}, sample: []int{2, 4, 4},
			want: backend.Arch{{Kind: backend.MaxPool2d, Kernel: 2, InShape: [3]int{2, 4, 4}}, {Kind: backend.Conv2d, In: 2, Out: 7, Kernel: 1, Stride: 1, Bias: true}, {Kind: backend.GlobalAvgPool2d}},
			out:  7,
		},
		{name: "conv on flat data", layers: []Layer{conv(2, 3, 1, 1), gap}, sample: []int{64}, wantErr: "layer 0 (conv2d) needs images [C, H, W], but the data's samples have shape [64]"},
		{name: "conv after a dense layer", layers: []Layer{lin(16), relu, conv(2, 3, 1, 1), gap}, sample: []int{4, 4}, wantErr: "layer 2 (conv2d) needs images [C, H, W], but flat rows of 16 values reach it"},
		{name: "dense on images", layers: []Layer{conv(2, 3, 1, 1), lin(3)}, sample: []int{4, 4}, wantErr: "layer 1: a dense layer gets images of shape [2 4 4]: put flatten() or global_avg_pool() before it"},
		{name: "ends with images", layers: []Layer{conv(2, 3, 1, 1), relu}, sample: []int{4, 4}, wantErr: "the model ends with images of shape [2 4 4]"},
		{name: "kernel too large", layers: []Layer{conv(2, 3, 1, 0), pool, conv(2, 3, 1, 0), gap}, sample: []int{6, 6}, wantErr: "layer 2 (conv2d): kernel 3 does not fit images of shape [2 2 2] with padding 0"},
		{name: "zero kernel", layers: []Layer{{Kind: backend.MaxPool2d}, gap}, sample: []int{4, 4}, wantErr: "layer 0 (max_pool): kernel 0 does not fit images of shape [1 4 4] with padding 0"},
		{name: "fixed channels", layers: []Layer{{Kind: backend.Conv2d, In: 3, Out: 2, Kernel: 1, Stride: 1}, gap}, sample: []int{4, 4}, wantErr: "the convolution takes 3 channels but receives 1"},
		{name: "pooling after global average", layers: []Layer{conv(2, 1, 1, 0), gap, pool, lin(2)}, sample: []int{4, 4}, wantErr: "layer 2 (max_pool) needs images [C, H, W], but flat rows of 2 values reach it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := &Model{Layers: tc.layers}
			got, err := m.ArchFor(tc.sample)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ArchFor(%v) error %v, want %q", tc.sample, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ArchFor(%v) =\n%+v\nwant\n%+v", tc.sample, got, tc.want)
			}
			if m.InWidth() != tc.in || m.OutWidth() != tc.out {
				t.Errorf("InWidth, OutWidth = %d, %d; want %d, %d", m.InWidth(), m.OutWidth(), tc.in, tc.out)
			}
		})
	}
}
