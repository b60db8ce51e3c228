package safetensors

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestFloat32(t *testing.T) {
	inf, nan := float32(math.Inf(1)), float32(math.NaN())
	tests := []struct {
		tensor Tensor
		want   []float32
	}{
		{F32("f32", []int{3}, []float32{1, -0.5, inf}), []float32{1, -0.5, inf}},
		{Tensor{Name: "f64", DType: DTypeF64, Shape: []int{4}, Data: le64(
			math.Float64bits(0.1), math.Float64bits(-1e300), math.Float64bits(1e-300), math.Float64bits(1+1e-12))},
			[]float32{0.1, float32(math.Inf(-1)), 0, 1}},
		{Tensor{Name: "f16", DType: DTypeF16, Shape: []int{2, 4}, Data: le16(
			0x3c00, 0xc000, 0x7bff, 0x0001, 0x8400, 0x7c00, 0xfc00, 0x8000)},
			[]float32{1, -2, 65504, 1.0 / (1 << 24), -1.0 / (1 << 14), inf, -inf, float32(math.Copysign(0, -1))}},
		{Tensor{Name: "bf16", DType: DTypeBF16, Shape: []int{3}, Data: le16(0x3f80, 0xc040, 0x0001)},
			[]float32{1, -3, math.Float32frombits(0x00010000)}},
		{I64("i64", []int{3}, []int64{-5, 1 << 24, 1<<24 + 1}), []float32{-5, 1 << 24, 1 << 24}},
		{Tensor{Name: "i32", DType: DTypeI32, Shape: []int{2}, Data: le32(0xffffffff, 0x7fffffff)}, []float32{-1, 1 << 31}},
		{Tensor{Name: "i16", DType: DTypeI16, Shape: []int{2}, Data: le16(0x8000, 7)}, []float32{-32768, 7}},
		{Tensor{Name: "i8", DType: DTypeI8, Shape: []int{2}, Data: []byte{0xff, 0x7f}}, []float32{-1, 127}},
		{Tensor{Name: "u64", DType: DTypeU64, Shape: []int{}, Data: le64(math.MaxUint64)}, []float32{1 << 64}},
		{Tensor{Name: "u32", DType: DTypeU32, Shape: []int{1}, Data: le32(0xffffffff)}, []float32{1 << 32}},
		{Tensor{Name: "u16", DType: DTypeU16, Shape: []int{1}, Data: le16(0xffff)}, []float32{65535}},
		{Tensor{Name: "u8", DType: DTypeU8, Shape: []int{2}, Data: []byte{0, 255}}, []float32{0, 255}},
		{Tensor{Name: "bool", DType: DTypeBool, Shape: []int{3}, Data: []byte{0, 1, 2}}, []float32{0, 1, 1}},
		{F32("empty", []int{2, 0}, nil), []float32{}},
		{Tensor{Name: "nan16", DType: DTypeF16, Shape: []int{1}, Data: le16(0x7e00)}, []float32{nan}},
	}
	var tensors []Tensor
	for _, tt := range tests {
		tensors = append(tensors, tt.tensor)
	}
	f, err := Parse(mustWrite(t, tensors, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.tensor.Name, func(t *testing.T) {
			got, shape, err := f.Float32(tt.tensor.Name)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(shape, tt.tensor.Shape) {
				t.Errorf("shape %v, want %v", shape, tt.tensor.Shape)
			}
			if !sameFloats(got, tt.want) {
				t.Errorf("values %v, want %v", got, tt.want)
			}
		})
	}
}

// sameFloats reports whether a and b hold the same values, bit for bit
// except that all NaNs are the same.
func sameFloats(a, b []float32) bool {
	return slices.EqualFunc(a, b, func(x, y float32) bool {
		return math.Float32bits(x) == math.Float32bits(y) || x != x && y != y
	})
}

func TestFloat16ToFloat32IsExact(t *testing.T) {
	for h := range 1 << 16 {
		got := float16ToFloat32(uint16(h))
		// Rebuild the value from its fields with float64 arithmetic.
		sign, exponent, mantissa := h>>15, h>>10&0x1f, h&0x3ff
		var want float64
		switch {
		case exponent == 0x1f && mantissa == 0:
			want = math.Inf(1)
		case exponent == 0x1f:
			if got == got {
				t.Fatalf("%#04x: got %v, want NaN", h, got)
			}
			continue
		case exponent == 0:
			want = math.Ldexp(float64(mantissa), -24)
		default:
			want = math.Ldexp(float64(mantissa|0x400), exponent-25)
		}
		if sign != 0 {
			want = -want
		}
		if float64(got) != want || math.Signbit(float64(got)) != (sign != 0) {
			t.Fatalf("%#04x: got %v, want %v", h, got, want)
		}
	}
}

func TestFloat32Unconvertible(t *testing.T) {
	for _, dtype := range []DType{DTypeF8E4M3, DTypeF8E5M2} {
		tensor := Tensor{Name: "scale." + string(dtype), DType: dtype, Shape: []int{1}, Data: []byte{1}}
		f, err := Parse(mustWrite(t, []Tensor{tensor}, nil))
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = f.Float32(tensor.Name)
		if !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), `tensor "`+tensor.Name+`"`) ||
			!strings.Contains(err.Error(), string(dtype)) {
			t.Errorf("%s: error = %v, want ErrUnsupported naming the tensor and dtype", dtype, err)
		}
	}
}

func TestDTypeSize(t *testing.T) {
	sizes := map[DType]int{
		DTypeF64: 8, DTypeF32: 4, DTypeF16: 2, DTypeBF16: 2, DTypeF8E4M3: 1, DTypeF8E5M2: 1,
		DTypeI64: 8, DTypeI32: 4, DTypeI16: 2, DTypeI8: 1, DTypeU64: 8, DTypeU32: 4, DTypeU16: 2, DTypeU8: 1,
		DTypeBool: 1, "F33": 0, "": 0, "f32": 0,
	}
	for dtype, want := range sizes {
		if got := dtype.Size(); got != want {
			t.Errorf("%q.Size() = %d, want %d", dtype, got, want)
		}
		if dtype.Valid() != (want > 0) {
			t.Errorf("%q.Valid() = %v", dtype, dtype.Valid())
		}
	}
}
