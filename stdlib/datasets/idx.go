package datasets

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"os"
	"path/filepath"
)

// IDX magic numbers: two zero bytes, the data type (0x08 = unsigned byte),
// the number of dimensions.
const (
	idxImagesMagic = 0x00000803
	idxLabelsMagic = 0x00000801
	idxTypeUint8   = 0x08
)

// idxTypeNames names the IDX data types, for error messages.
var idxTypeNames = map[byte]string{
	0x08: "unsigned byte",
	0x09: "signed byte",
	0x0B: "int16",
	0x0C: "int32",
	0x0D: "float32",
	0x0E: "float64",
}

// idxKind describes one of the two IDX files ReadIDX reads.
type idxKind struct {
	what   string   // "images" or "labels"
	magic  uint32   // expected magic number
	fields []string // names of the dimension fields, in header order
}

var (
	idxImages = idxKind{"images", idxImagesMagic, []string{"count", "rows", "cols"}}
	idxLabels = idxKind{"labels", idxLabelsMagic, []string{"count"}}
)

// readIDXHeader reads and checks the magic number and dimensions of an IDX
// file of the given kind, and checks that the data they promise is within
// maxBytes. It returns the dimensions and the data size in bytes.
func readIDXHeader(r io.Reader, name string, kind idxKind, maxBytes int64) (dims []int, size int64, err error) {
	headerLen := 4 + 4*len(kind.fields)
	var magic [4]byte
	if n, err := io.ReadFull(r, magic[:]); err != nil {
		return nil, 0, headerError(name, kind, headerLen, n, err)
	}
	got := binary.BigEndian.Uint32(magic[:])
	switch {
	case magic[0] != 0 || magic[1] != 0:
		return nil, 0, fmt.Errorf("%s: IDX field \"magic\": 0x%08x is not an IDX magic number (want 0x%08x for an %s file)",
			name, got, kind.magic, kind.what)
	case magic[2] != idxTypeUint8:
		t, ok := idxTypeNames[magic[2]]
		if !ok {
			t = "unknown"
		}
		return nil, 0, fmt.Errorf("%s: IDX field \"magic\": unsupported IDX data type 0x%02x (%s) in magic 0x%08x; only 0x08 (unsigned byte) is supported",
			name, magic[2], t, got)
	case got != kind.magic:
		hint := ""
		if got == idxImagesMagic || got == idxLabelsMagic {
			other := map[uint32]string{idxImagesMagic: "an images", idxLabelsMagic: "a labels"}[got]
			hint = fmt.Sprintf(" (this is %s file; are the arguments swapped?)", other)
		}
		return nil, 0, fmt.Errorf("%s: IDX field \"magic\": 0x%08x has %d dimensions, want 0x%08x (%s, %d dimensions)%s",
			name, got, magic[3], kind.magic, kind.what, len(kind.fields), hint)
	}

	raw := make([]byte, 4*len(kind.fields))
	if n, err := io.ReadFull(r, raw); err != nil {
		return nil, 0, headerError(name, kind, headerLen, 4+n, err)
	}
	dims = make([]int, len(kind.fields))
	size = 1
	overflow := false
	for i, field := range kind.fields {
		v := binary.BigEndian.Uint32(raw[4*i:])
		if v == 0 {
			return nil, 0, fmt.Errorf("%s: IDX field %q is 0: no data", name, field)
		}
		if v > math.MaxInt32 {
			return nil, 0, fmt.Errorf("%s: IDX field %q is %d, more than the IDX maximum of %d", name, field, v, math.MaxInt32)
		}
		dims[i] = int(v)
		hi, lo := bits.Mul64(uint64(size), uint64(v))
		if hi != 0 || lo > math.MaxInt64 {
			overflow = true
		}
		size = int64(lo)
	}
	if overflow || size > maxBytes || size > math.MaxInt/4 {
		return nil, 0, fmt.Errorf("%s: IDX fields %s = %s: header promises %s bytes of data, over the limit of %d bytes (Limits.MaxBytes)",
			name, joinFields(kind.fields), joinDims(dims), sizeString(dims), min(maxBytes, math.MaxInt/4))
	}
	return dims, size, nil
}

// headerError reports a failure to read an IDX header whose first got bytes
// arrived.
func headerError(name string, kind idxKind, headerLen, got int, err error) error {
	if isTruncation(err) {
		return fmt.Errorf("%s: truncated IDX header: file has %d bytes, an IDX %s header needs %d: %w",
			name, got, kind.what, headerLen, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("%s: reading IDX header: %w", name, err)
}

func joinFields(fields []string) string {
	s := ""
	for i, f := range fields {
		if i > 0 {
			s += "*"
		}
		s += f
	}
	return s
}

func joinDims(dims []int) string {
	s := ""
	for i, d := range dims {
		if i > 0 {
			s += "*"
		}
		s += fmt.Sprint(d)
	}
	return s
}

// sizeString returns the product of dims in decimal, exactly (it may not fit
// in 64 bits).
func sizeString(dims []int) string {
	// Three factors below 2^31 fit in 93 bits: use two uint64 halves.
	var hi, lo uint64 = 0, 1
	for _, d := range dims {
		h1, l1 := bits.Mul64(lo, uint64(d))
		_, h2 := bits.Mul64(hi, uint64(d))
		hi, lo = h1+h2, l1
	}
	if hi == 0 {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("more than %d", uint64(math.MaxUint64))
}

// pixelScale maps a uint8 pixel to [0, 1].
var pixelScale = func() (t [256]float32) {
	for i := range t {
		t[i] = float32(i) / 255
	}
	return t
}()

// ReadIDX reads an images file and a labels file in the IDX format of MNIST
// and Fashion-MNIST. Each may be gzip-compressed or plain (detected from
// the gzip magic bytes). imagesName and labelsName name the files in errors
// and in the Dataset's Source; the Dataset's Name is imagesName.
//
// The images file must have magic 0x00000803 (unsigned bytes, 3 dimensions:
// count, rows, cols) and the labels file 0x00000801 (unsigned bytes, 1
// dimension: count); other data types are refused as "unsupported IDX data
// type". The two counts must match, the data section must hold exactly the
// bytes the header promises (a shorter file is "truncated", a longer one
// has "trailing garbage"), and count*rows*cols must be within
// limits.MaxBytes; these checks happen before the data is allocated.
//
// Pixels are scaled to [0, 1] (byte/255); Shape is [1, rows, cols];
// Classes is the largest label plus 1.
func ReadIDX(images, labels io.Reader, imagesName, labelsName string, limits Limits) (*Dataset, error) {
	maxBytes := limits.maxBytes()
	ir, err := decompress(images, imagesName)
	if err != nil {
		return nil, err
	}
	idims, isize, err := readIDXHeader(ir, imagesName, idxImages, maxBytes)
	if err != nil {
		return nil, err
	}
	lr, err := decompress(labels, labelsName)
	if err != nil {
		return nil, err
	}
	ldims, lsize, err := readIDXHeader(lr, labelsName, idxLabels, maxBytes)
	if err != nil {
		return nil, err
	}
	n := idims[0]
	if ldims[0] != n {
		return nil, fmt.Errorf("%s: IDX field \"count\" is %d labels, but %s has %d images",
			labelsName, ldims[0], imagesName, n)
	}

	pix, err := readExactly(ir, isize, imagesName)
	if err != nil {
		return nil, err
	}
	lab, err := readExactly(lr, lsize, labelsName)
	if err != nil {
		return nil, err
	}

	x := make([]float32, len(pix))
	for i, p := range pix {
		x[i] = pixelScale[p]
	}
	y := make([]int32, n)
	maxLabel := int32(0)
	for i, l := range lab {
		y[i] = int32(l)
		maxLabel = max(maxLabel, y[i])
	}
	return &Dataset{
		Name:    imagesName,
		X:       x,
		Y:       y,
		N:       n,
		Shape:   []int{1, idims[1], idims[2]},
		Classes: int(maxLabel) + 1,
		Source:  []string{imagesName, labelsName},
	}, nil
}

// LoadIDX reads an IDX images file and labels file (each gzip-compressed or
// plain) as ReadIDX does, with the default Limits. Errors and Source name
// the paths as given; the Dataset's Name is the base name of imagesPath.
func LoadIDX(imagesPath, labelsPath string) (*Dataset, error) {
	return loadIDX(imagesPath, labelsPath, Limits{})
}

func loadIDX(imagesPath, labelsPath string, limits Limits) (*Dataset, error) {
	fi, err := os.Open(imagesPath)
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	defer fi.Close()
	fl, err := os.Open(labelsPath)
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	defer fl.Close()
	d, err := ReadIDX(fi, fl, imagesPath, labelsPath, limits)
	if err != nil {
		return nil, err
	}
	d.Name = filepath.Base(imagesPath)
	return d, nil
}
