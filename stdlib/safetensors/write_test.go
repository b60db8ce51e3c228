package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// le16, le32 and le64 return the little-endian bytes of values.
func le16(values ...uint16) []byte {
	var b []byte
	for _, v := range values {
		b = binary.LittleEndian.AppendUint16(b, v)
	}
	return b
}

func le32(values ...uint32) []byte {
	var b []byte
	for _, v := range values {
		b = binary.LittleEndian.AppendUint32(b, v)
	}
	return b
}

func le64(values ...uint64) []byte {
	var b []byte
	for _, v := range values {
		b = binary.LittleEndian.AppendUint64(b, v)
	}
	return b
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name     string
		tensors  []Tensor
		metadata map[string]string
	}{
		{name: "no tensors"},
		{name: "metadata only", metadata: map[string]string{"format": "pt", "": "empty key", "q\"\\\n": "é\x00"}},
		{name: "F32 matrix", tensors: []Tensor{F32("0.weight", []int{2, 3}, []float32{1, -2, 3.5, 0, float32(math.Inf(1)), 1e-40})}},
		{name: "I64 scalar", tensors: []Tensor{I64("1.num_batches_tracked", []int{}, []int64{math.MinInt64})}},
		{name: "zero-size", tensors: []Tensor{F32("empty", []int{0, 5}, nil), F32("x", []int{1}, []float32{2})}},
		{name: "only zero-size", tensors: []Tensor{F32("a", []int{0}, nil), I64("b", []int{3, 0}, nil)}},
		{name: "every dtype", metadata: map[string]string{"format": "pt"}, tensors: []Tensor{
			{Name: "f64", DType: DTypeF64, Shape: []int{2}, Data: le64(math.Float64bits(1.5), math.Float64bits(math.Copysign(0, -1)))},
			{Name: "f16", DType: DTypeF16, Shape: []int{3}, Data: le16(0x3c00, 0xc000, 0x7bff)},
			{Name: "bf16", DType: DTypeBF16, Shape: []int{1, 2}, Data: le16(0x3f80, 0xffff)},
			{Name: "f8e4m3", DType: DTypeF8E4M3, Shape: []int{1}, Data: []byte{0x38}},
			{Name: "f8e5m2", DType: DTypeF8E5M2, Shape: []int{1}, Data: []byte{0x3c}},
			{Name: "i32", DType: DTypeI32, Shape: []int{2, 2}, Data: le32(1, 2, 3, math.MaxUint32)},
			{Name: "i16", DType: DTypeI16, Shape: []int{1}, Data: le16(0x8000)},
			{Name: "i8", DType: DTypeI8, Shape: []int{3}, Data: []byte{0x80, 0, 0x7f}},
			{Name: "u64", DType: DTypeU64, Shape: []int{}, Data: le64(math.MaxUint64)},
			{Name: "u32", DType: DTypeU32, Shape: []int{1}, Data: le32(7)},
			{Name: "u16", DType: DTypeU16, Shape: []int{1, 1, 1}, Data: le16(9)},
			{Name: "u8", DType: DTypeU8, Shape: []int{5}, Data: []byte{1, 2, 3, 4, 5}},
			{Name: "bool", DType: DTypeBool, Shape: []int{2}, Data: []byte{0, 1}},
			I64("i64", []int{2}, []int64{-1, 1 << 62}),
			F32("f32", []int{}, []float32{float32(math.NaN())}),
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := mustWrite(t, tt.tensors, tt.metadata)
			if again := mustWrite(t, tt.tensors, tt.metadata); !bytes.Equal(b, again) {
				t.Fatal("Write gave different bytes for the same input")
			}
			reversed := slices.Clone(tt.tensors)
			slices.Reverse(reversed)
			if other := mustWrite(t, reversed, tt.metadata); !bytes.Equal(b, other) {
				t.Fatal("Write gave different bytes for the same tensors in another order")
			}
			if headerEnd := 8 + binary.LittleEndian.Uint64(b); headerEnd%8 != 0 {
				t.Errorf("buffer starts at %d, not a multiple of 8", headerEnd)
			}
			f, err := Parse(b)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := sameTensors(allTensors(t, f), tt.tensors); diff != "" {
				t.Errorf("tensors after a round trip: %s", diff)
			}
			if !sameMetadata(f.Metadata, tt.metadata) {
				t.Errorf("metadata = %v, want %v", f.Metadata, tt.metadata)
			}
			checkAligned(t, f)
		})
	}
}

// checkAligned checks that every tensor of f starts at a multiple of its
// element size and that f.Tensors is in offset order.
func checkAligned(t *testing.T, f *File) {
	t.Helper()
	for i, info := range f.Tensors {
		if info.Offsets[0]%int64(info.DType.Size()) != 0 {
			t.Errorf("tensor %q at offset %d is not aligned to %d", info.Name, info.Offsets[0], info.DType.Size())
		}
		if i > 0 && info.Offsets[0] < f.Tensors[i-1].Offsets[1] {
			t.Errorf("Tensors not in offset order at %q", info.Name)
		}
	}
}

// TestGolden checks Write against files whose bytes are written out by
// hand, proving the exact layout, and kept in testdata/golden.
func TestGolden(t *testing.T) {
	tests := []struct {
		file     string
		tensors  []Tensor
		metadata map[string]string
		want     []byte
	}{
		{
			file:    "one_f32.safetensors",
			tensors: []Tensor{F32("t", []int{2}, []float32{1, -2})},
			want: slices.Concat(
				[]byte{56, 0, 0, 0, 0, 0, 0, 0}, // 54 bytes of JSON and 2 of padding
				[]byte(`{"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}  `),
				[]byte{0x00, 0x00, 0x80, 0x3f}, // 1.0
				[]byte{0x00, 0x00, 0x00, 0xc0}, // -2.0
			),
		},
		{
			file: "mixed.safetensors",
			tensors: []Tensor{
				F32("b", []int{1}, []float32{0.5}),
				{Name: "c", DType: DTypeU8, Shape: []int{3}, Data: []byte{1, 2, 3}},
				I64("a", []int{}, []int64{7}),
			},
			metadata: map[string]string{"format": "pt"},
			want: slices.Concat(
				[]byte{192, 0, 0, 0, 0, 0, 0, 0}, // 192 bytes of JSON, no padding needed
				[]byte(`{"__metadata__":{"format":"pt"},`+
					`"a":{"dtype":"I64","shape":[],"data_offsets":[0,8]},`+
					`"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},`+
					`"c":{"dtype":"U8","shape":[3],"data_offsets":[12,15]}}`),
				[]byte{7, 0, 0, 0, 0, 0, 0, 0}, // a: the 8-byte tensor first
				[]byte{0x00, 0x00, 0x00, 0x3f}, // b: 0.5
				[]byte{1, 2, 3},                // c
			),
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got := mustWrite(t, tt.tensors, tt.metadata)
			if !bytes.Equal(got, tt.want) {
				t.Errorf("Write wrote\n%q\nwant\n%q", got, tt.want)
			}
			stored, err := os.ReadFile(filepath.Join("testdata", "golden", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(stored, tt.want) {
				t.Errorf("testdata/golden/%s differs from the bytes written by hand", tt.file)
			}
			f, err := Parse(tt.want)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := sameTensors(allTensors(t, f), tt.tensors); diff != "" {
				t.Errorf("parsed tensors: %s", diff)
			}
		})
	}
}

func TestWriteRejects(t *testing.T) {
	ok := F32("ok", []int{1}, []float32{1})
	tests := []struct {
		name     string
		tensors  []Tensor
		metadata map[string]string
		want     string
	}{
		{"empty name", []Tensor{F32("", []int{1}, []float32{1})}, nil, "empty tensor name"},
		{"duplicate name", []Tensor{ok, ok}, nil, `duplicate tensor name "ok"`},
		{"metadata name", []Tensor{F32("__metadata__", []int{1}, []float32{1})}, nil, `may not be named "__metadata__"`},
		{"invalid UTF-8 name", []Tensor{F32("a\xff", []int{1}, []float32{1})}, nil, "not valid UTF-8"},
		{"too little data", []Tensor{F32("w", []int{2, 2}, []float32{1, 2, 3})}, nil, `tensor "w": has 12 bytes of data, shape [2 2] of F32 needs 16`},
		{"too much data", []Tensor{I64("s", []int{}, []int64{1, 2})}, nil, `tensor "s": has 16 bytes of data, shape [] of I64 needs 8`},
		{"unknown dtype", []Tensor{{Name: "x", DType: "F33", Data: []byte{1}}}, nil, `tensor "x": unknown dtype "F33"`},
		{"negative dimension", []Tensor{{Name: "x", DType: DTypeU8, Shape: []int{-1}}}, nil, `tensor "x": negative dimension`},
		{"overflowing shape", []Tensor{{Name: "x", DType: DTypeF32, Shape: []int{1 << 40, 1 << 40}}}, nil, `tensor "x": shape [1099511627776 1099511627776] is too large`},
		{"too many dimensions", []Tensor{{Name: "x", DType: DTypeU8, Shape: make([]int, MaxRank+1)}}, nil, "more than 64"},
		{"invalid UTF-8 metadata", []Tensor{ok}, map[string]string{"k": "\xff"}, `metadata "k"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := Write(&buf, tt.tensors, tt.metadata)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Write error = %v, want one containing %q", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Errorf("Write wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	tensors := []Tensor{F32("0.weight", []int{1, 2}, []float32{1, 2}), I64("step", nil, []int64{3})}
	if err := WriteFile(path, tensors, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := sameTensors(allTensors(t, f), tensors); diff != "" {
		t.Errorf("tensors read back: %s", diff)
	}
	want := mustWrite(t, tensors, map[string]string{"format": "pt"})
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Error("WriteFile wrote other bytes than Write")
	}
	if info, _ := os.Stat(path); info.Mode().Perm() != 0o644 {
		t.Errorf("file mode %v, want 0644", info.Mode().Perm())
	}

	// A failed write leaves the old file and no temporary file behind.
	bad := []Tensor{F32("w", []int{2}, []float32{1})}
	if err := WriteFile(path, bad, nil); err == nil {
		t.Fatal("WriteFile of an invalid tensor succeeded")
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, want) {
		t.Error("a failed WriteFile changed the existing file")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries after a failed write, want 1", len(entries))
	}
	if err := WriteFile(filepath.Join(dir, "missing", "m.safetensors"), tensors, nil); err == nil {
		t.Error("WriteFile into a missing directory succeeded")
	}
}

// failingWriter fails every write after the first n bytes.
type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if len(p) > w.n {
		return 0, os.ErrClosed
	}
	w.n -= len(p)
	return len(p), nil
}

func TestWriteReportsWriterErrors(t *testing.T) {
	tensors := []Tensor{F32("w", []int{2}, []float32{1, 2})}
	for _, n := range []int{0, 64} {
		err := Write(&failingWriter{n: n}, tensors, nil)
		if err == nil || !strings.Contains(err.Error(), os.ErrClosed.Error()) {
			t.Errorf("after %d bytes: error = %v, want the writer's", n, err)
		}
	}
}
