package safetensors

import (
	"encoding/binary"
	"math"
	"math/bits"
	"slices"
)

// Tensor is a named tensor as stored in a safetensors file: its dtype, its
// shape (empty for a scalar) and its elements as raw little-endian,
// row-major bytes.
type Tensor struct {
	Name  string
	DType DType
	Shape []int
	Data  []byte
}

// F32 returns a tensor of dtype F32 holding data, which should have as many
// values as shape has elements (Write checks). It copies shape and data.
func F32(name string, shape []int, data []float32) Tensor {
	raw := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	return Tensor{Name: name, DType: DTypeF32, Shape: slices.Clone(shape), Data: raw}
}

// I64 returns a tensor of dtype I64 holding data, which should have as many
// values as shape has elements (Write checks). It copies shape and data.
func I64(name string, shape []int, data []int64) Tensor {
	raw := make([]byte, 8*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(v))
	}
	return Tensor{Name: name, DType: DTypeI64, Shape: slices.Clone(shape), Data: raw}
}

// elementCount returns the number of elements of a tensor of the given
// shape (1 for a scalar), and false if a dimension is negative or the count
// does not fit in an int64.
func elementCount(shape []int) (int64, bool) {
	count := uint64(1)
	for _, d := range shape {
		if d < 0 {
			return 0, false
		}
		var ok bool
		if count, ok = mulInt64(count, uint64(d)); !ok {
			return 0, false
		}
	}
	return int64(count), true
}

// byteSize returns the number of bytes of a tensor of the given shape whose
// elements take elemSize bytes, and false if a dimension is negative or the
// element count or the size does not fit in an int64.
func byteSize(shape []int, elemSize int) (int64, bool) {
	count, ok := elementCount(shape)
	if !ok {
		return 0, false
	}
	size, ok := mulInt64(uint64(count), uint64(elemSize))
	return int64(size), ok
}

// mulInt64 returns a*b and whether it fits in an int64.
func mulInt64(a, b uint64) (uint64, bool) {
	hi, lo := bits.Mul64(a, b)
	return lo, hi == 0 && lo <= math.MaxInt64
}
