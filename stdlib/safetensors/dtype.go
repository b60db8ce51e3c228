package safetensors

// DType is the type of a tensor's elements, as spelled in a safetensors
// header ("F32", "I64", ...).
type DType string

// The element types a safetensors file can hold. All multi-byte types are
// little-endian. The constants are named DTypeX because F32 and I64 are
// the constructors of tensors of those types.
const (
	DTypeF64    DType = "F64"     // IEEE 754 binary64
	DTypeF32    DType = "F32"     // IEEE 754 binary32
	DTypeF16    DType = "F16"     // IEEE 754 binary16
	DTypeBF16   DType = "BF16"    // bfloat16: the top 16 bits of a binary32
	DTypeF8E4M3 DType = "F8_E4M3" // 8-bit float, 4 exponent and 3 mantissa bits
	DTypeF8E5M2 DType = "F8_E5M2" // 8-bit float, 5 exponent and 2 mantissa bits
	DTypeI64    DType = "I64"     // signed 64-bit integer
	DTypeI32    DType = "I32"     // signed 32-bit integer
	DTypeI16    DType = "I16"     // signed 16-bit integer
	DTypeI8     DType = "I8"      // signed 8-bit integer
	DTypeU64    DType = "U64"     // unsigned 64-bit integer
	DTypeU32    DType = "U32"     // unsigned 32-bit integer
	DTypeU16    DType = "U16"     // unsigned 16-bit integer
	DTypeU8     DType = "U8"      // unsigned 8-bit integer
	DTypeBool   DType = "BOOL"    // one byte per element: 0 is false, anything else true
)

// Size returns the number of bytes of one element of type d, or 0 if d is
// not a dtype this package knows.
func (d DType) Size() int {
	switch d {
	case DTypeF64, DTypeI64, DTypeU64:
		return 8
	case DTypeF32, DTypeI32, DTypeU32:
		return 4
	case DTypeF16, DTypeBF16, DTypeI16, DTypeU16:
		return 2
	case DTypeF8E4M3, DTypeF8E5M2, DTypeI8, DTypeU8, DTypeBool:
		return 1
	}
	return 0
}

// Valid reports whether d is a dtype this package knows.
func (d DType) Valid() bool { return d.Size() > 0 }
