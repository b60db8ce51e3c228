package safetensors

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// MaxHeaderSize is the largest header, in bytes, the reader accepts and
// the writer writes, the limit of the reference implementation.
const MaxHeaderSize = 100_000_000

// MaxRank is the largest number of dimensions of a tensor's shape the
// reader accepts and the writer writes.
const MaxRank = 64

// prefixSize is the size of the header length at the start of a file.
const prefixSize = 8

// ErrInvalid is wrapped by every error that says a file is not a valid
// safetensors file (as opposed to an I/O error).
var ErrInvalid = errors.New("invalid safetensors file")

// ErrNotFound is wrapped by the error of File.Tensor and File.Float32 for a
// name the file does not hold.
var ErrNotFound = errors.New("no such tensor")

// Info describes a tensor of a file: its name, dtype, shape (empty for a
// scalar) and the offsets [begin, end) of its data relative to the start
// of the file's buffer.
type Info struct {
	Name    string
	DType   DType
	Shape   []int
	Offsets [2]int64
}

// File is a parsed safetensors file: its metadata (nil if the header has
// no "__metadata__"), the descriptions of its tensors in file order (by
// offset), and their data, which Tensor and Float32 return. Tensor and
// Float32 use the layout as it was read: changing Tensors does not change
// what they return.
type File struct {
	Metadata map[string]string
	Tensors  []Info

	source string // the file's path, for errors; empty if unknown
	byName []Info // the tensors sorted by name, sharing no memory with Tensors
	data   []byte // the buffer
}

// Parse parses b, a whole safetensors file. The File it returns refers to
// b's buffer, so b must not be changed while the File is in use; the
// tensors it returns are copies. Parse never panics; its errors for an
// invalid file wrap ErrInvalid.
func Parse(b []byte) (*File, error) {
	f, err := parseBytes(b)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

// Read reads the safetensors file of size bytes that r holds. It reads the
// header first and the buffer only once the header is valid, then holds
// the buffer in memory (r is not used after Read returns). If r has a
// Name method, like *os.File, errors name the file. Errors for an invalid
// file (including one shorter than size) wrap ErrInvalid; I/O errors
// don't.
func Read(r io.ReaderAt, size int64) (*File, error) {
	var source string
	if named, ok := r.(interface{ Name() string }); ok {
		source = named.Name()
	}
	return readFrom(r, size, source)
}

// ReadFile reads the safetensors file at path, as Read does. Errors name
// the file.
func ReadFile(path string) (*File, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer file.Close()
	info, err := file.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return readFrom(file, info.Size(), path)
}

// readFrom reads a file of size bytes from r; source names it in errors.
func readFrom(r io.ReaderAt, size int64, source string) (*File, error) {
	f, err := readLayout(r, size)
	if err != nil {
		return nil, wrapSource(source, err)
	}
	f.source = source
	return f, nil
}

// wrapSource prefixes err with the package name and the file's name.
func wrapSource(source string, err error) error {
	if source == "" {
		return fmt.Errorf("safetensors: %w", err)
	}
	return fmt.Errorf("safetensors: %s: %w", source, err)
}

// readLayout reads and checks the header, then reads the buffer.
func readLayout(r io.ReaderAt, size int64) (*File, error) {
	if size < prefixSize {
		return nil, invalidf("file is %d bytes, too short for the %d-byte header length", size, prefixSize)
	}
	// Reading the last byte first proves that the file is as long as
	// claimed before anything is allocated from its size.
	var last [1]byte
	if err := readFull(r, last[:], size-1); err != nil {
		return nil, err
	}
	var prefix [prefixSize]byte
	if err := readFull(r, prefix[:], 0); err != nil {
		return nil, err
	}
	headerLen, err := checkHeaderLength(binary.LittleEndian.Uint64(prefix[:]), size)
	if err != nil {
		return nil, err
	}
	header := make([]byte, headerLen)
	if err := readFull(r, header, prefixSize); err != nil {
		return nil, err
	}
	bufStart := prefixSize + headerLen
	f, err := parseLayout(header, size-bufStart)
	if err != nil {
		return nil, err
	}
	f.data = make([]byte, size-bufStart)
	if err := readFull(r, f.data, bufStart); err != nil {
		return nil, err
	}
	return f, nil
}

// readFull reads len(p) bytes at offset off. Running out of data is an
// invalid (truncated) file; any other error is an I/O error.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return invalidf("file is truncated: read %d of %d bytes at offset %d", n, len(p), off)
	}
	return fmt.Errorf("reading %d bytes at offset %d: %w", len(p), off, err)
}

// parseBytes parses a whole file held in b.
func parseBytes(b []byte) (*File, error) {
	size := int64(len(b))
	if size < prefixSize {
		return nil, invalidf("file is %d bytes, too short for the %d-byte header length", size, prefixSize)
	}
	headerLen, err := checkHeaderLength(binary.LittleEndian.Uint64(b), size)
	if err != nil {
		return nil, err
	}
	bufStart := prefixSize + headerLen
	f, err := parseLayout(b[prefixSize:bufStart], size-bufStart)
	if err != nil {
		return nil, err
	}
	f.data = b[bufStart:]
	return f, nil
}

// checkHeaderLength checks the header length n read from the prefix of a
// file of size bytes and returns it as an int64.
func checkHeaderLength(n uint64, size int64) (int64, error) {
	if n > MaxHeaderSize {
		return 0, invalidf("header length %d is more than the limit of %d", n, MaxHeaderSize)
	}
	if n > uint64(size-prefixSize) {
		return 0, invalidf("header length %d is more than the %d bytes after the header length (truncated file?)", n, size-prefixSize)
	}
	return int64(n), nil
}

// parseLayout parses and checks a header for a buffer of bufLen bytes. The
// File it returns has no data yet.
func parseLayout(header []byte, bufLen int64) (*File, error) {
	metadata, infos, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	byName := slices.Clone(infos)
	slices.SortFunc(byName, func(a, b Info) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; i < len(byName); i++ {
		if byName[i].Name == byName[i-1].Name {
			return nil, invalidf("duplicate tensor name %q", byName[i].Name)
		}
	}
	for _, info := range infos {
		if err := checkInfo(info, bufLen); err != nil {
			return nil, fmt.Errorf("tensor %q: %w", info.Name, err)
		}
	}
	slices.SortFunc(infos, func(a, b Info) int {
		return cmp.Or(cmp.Compare(a.Offsets[0], b.Offsets[0]), cmp.Compare(a.Offsets[1], b.Offsets[1]),
			strings.Compare(a.Name, b.Name))
	})
	if err := checkCoverage(infos, bufLen); err != nil {
		return nil, err
	}
	// Tensors gets its own shapes, and an exact capacity.
	tensors := make([]Info, len(infos))
	for i, info := range infos {
		info.Shape = slices.Clone(info.Shape)
		tensors[i] = info
	}
	return &File{Metadata: metadata, Tensors: tensors, byName: byName}, nil
}

// checkInfo checks a tensor's offsets against its shape and dtype and a
// buffer of bufLen bytes.
func checkInfo(info Info, bufLen int64) error {
	size, ok := byteSize(info.Shape, info.DType.Size())
	if !ok {
		return invalidf("shape %v of %s is too large: its byte size overflows an int64", info.Shape, info.DType)
	}
	begin, end := info.Offsets[0], info.Offsets[1]
	switch {
	case end < begin:
		return invalidf("data_offsets [%d, %d] end before they begin", begin, end)
	case end > bufLen:
		return invalidf("data_offsets [%d, %d] go past the end of the %d-byte buffer (truncated file?)", begin, end, bufLen)
	case end-begin != size:
		return invalidf("data_offsets [%d, %d] hold %d bytes, shape %v of %s needs %d",
			begin, end, end-begin, info.Shape, info.DType, size)
	}
	return nil
}

// checkCoverage checks that tensors, sorted by offset, cover a buffer of
// bufLen bytes exactly: no overlaps, no holes, no trailing bytes.
func checkCoverage(sorted []Info, bufLen int64) error {
	var covered int64
	for i, info := range sorted {
		begin := info.Offsets[0]
		if begin < covered {
			return invalidf("tensor %q: data_offsets [%d, %d] overlap those of tensor %q",
				info.Name, begin, info.Offsets[1], sorted[i-1].Name)
		}
		if begin > covered {
			return invalidf("tensor %q: hole in the buffer: no tensor covers bytes [%d, %d]",
				info.Name, covered, begin)
		}
		covered = info.Offsets[1]
	}
	if covered != bufLen {
		return invalidf("buffer has %d bytes but tensors cover only %d: no tensor covers bytes [%d, %d]",
			bufLen, covered, covered, bufLen)
	}
	return nil
}

// Tensor returns a copy of the tensor called name. Its error for a name the
// file does not hold wraps ErrNotFound.
func (f *File) Tensor(name string) (Tensor, error) {
	info, err := f.lookup(name)
	if err != nil {
		return Tensor{}, err
	}
	return Tensor{
		Name:  info.Name,
		DType: info.DType,
		Shape: slices.Clone(info.Shape),
		Data:  slices.Clone(f.data[info.Offsets[0]:info.Offsets[1]]),
	}, nil
}

// Float32 returns the values of the tensor called name converted to
// float32, and its shape. It converts F32, F64, F16 and BF16 (F64 rounds
// to nearest; NaN and infinities are kept), all the integer types (exact
// up to 2^24 in magnitude, rounded beyond) and BOOL (0 or 1); its error
// for the 8-bit float types, whose meaning depends on scales stored
// elsewhere, wraps errors.ErrUnsupported and names the tensor.
func (f *File) Float32(name string) (data []float32, shape []int, err error) {
	info, err := f.lookup(name)
	if err != nil {
		return nil, nil, err
	}
	data, ok := toFloat32(info.DType, f.data[info.Offsets[0]:info.Offsets[1]])
	if !ok {
		return nil, nil, fmt.Errorf("%stensor %q: cannot convert dtype %s to float32: %w",
			f.errorPrefix(), name, info.DType, errors.ErrUnsupported)
	}
	return data, slices.Clone(info.Shape), nil
}

// lookup returns the layout of the tensor called name.
func (f *File) lookup(name string) (Info, error) {
	i, found := slices.BinarySearchFunc(f.byName, name, func(info Info, name string) int {
		return strings.Compare(info.Name, name)
	})
	if !found {
		return Info{}, fmt.Errorf("%stensor %q: %w", f.errorPrefix(), name, ErrNotFound)
	}
	return f.byName[i], nil
}

// errorPrefix returns the start of the File's errors: the package's name
// and the file's.
func (f *File) errorPrefix() string {
	if f.source == "" {
		return "safetensors: "
	}
	return "safetensors: " + f.source + ": "
}
