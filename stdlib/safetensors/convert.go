package safetensors

import (
	"encoding/binary"
	"math"
)

// toFloat32 converts raw little-endian elements of type dtype to float32,
// and returns false for a dtype it does not convert. len(raw) must be a
// multiple of the dtype's size.
func toFloat32(dtype DType, raw []byte) ([]float32, bool) {
	size := dtype.Size()
	if size == 0 {
		return nil, false
	}
	convert := elementConverter(dtype)
	if convert == nil {
		return nil, false
	}
	out := make([]float32, len(raw)/size)
	for i := range out {
		out[i] = convert(raw[i*size : (i+1)*size])
	}
	return out, true
}

// elementConverter returns the function converting one element of type
// dtype to float32, or nil if dtype is not converted.
func elementConverter(dtype DType) func([]byte) float32 {
	le := binary.LittleEndian
	switch dtype {
	case DTypeF64:
		return func(b []byte) float32 { return float32(math.Float64frombits(le.Uint64(b))) }
	case DTypeF32:
		return func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) }
	case DTypeF16:
		return func(b []byte) float32 { return float16ToFloat32(le.Uint16(b)) }
	case DTypeBF16:
		return func(b []byte) float32 { return math.Float32frombits(uint32(le.Uint16(b)) << 16) }
	case DTypeI64:
		return func(b []byte) float32 { return float32(int64(le.Uint64(b))) }
	case DTypeI32:
		return func(b []byte) float32 { return float32(int32(le.Uint32(b))) }
	case DTypeI16:
		return func(b []byte) float32 { return float32(int16(le.Uint16(b))) }
	case DTypeI8:
		return func(b []byte) float32 { return float32(int8(b[0])) }
	case DTypeU64:
		return func(b []byte) float32 { return float32(le.Uint64(b)) }
	case DTypeU32:
		return func(b []byte) float32 { return float32(le.Uint32(b)) }
	case DTypeU16:
		return func(b []byte) float32 { return float32(le.Uint16(b)) }
	case DTypeU8:
		return func(b []byte) float32 { return float32(b[0]) }
	case DTypeBool:
		return func(b []byte) float32 { return boolToFloat32(b[0] != 0) }
	}
	return nil
}

// boolToFloat32 returns 1 for true and 0 for false.
func boolToFloat32(v bool) float32 {
	if v {
		return 1
	}
	return 0
}

// float16ToFloat32 converts an IEEE 754 binary16 value to float32, exactly:
// every binary16 value, subnormals, infinities and NaN payloads included,
// is a binary32 value.
func float16ToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exponent := uint32(h>>10) & 0x1f
	mantissa := uint32(h) & 0x3ff
	switch {
	case exponent == 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0x7f800000 | mantissa<<13)
	case exponent != 0: // normal: rebias the exponent from 15 to 127
		return math.Float32frombits(sign | (exponent+127-15)<<23 | mantissa<<13)
	default: // zero or subnormal: mantissa × 2^-24
		v := float32(mantissa) / (1 << 24)
		if sign != 0 {
			v = -v
		}
		return v
	}
}
