package datasets

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// MaxCSVLabel is the largest class label ReadCSV accepts, so that a crafted
// label cannot make Classes (and whatever a caller sizes by it) huge.
const MaxCSVLabel = 1<<16 - 1

// CSVOptions configures ReadCSV and LoadCSV. The zero value reads a file
// without a header whose last column is the label.
type CSVOptions struct {
	// LabelColumn says which column holds the label, counting as error
	// messages do: 1 is the first column, 2 the second, and so on; 0 (the
	// default) and -1 mean the last column, -2 the one before it, and so
	// on. Every other column is a feature, in file order.
	LabelColumn int
	// Header says the first line is a header to skip. It counts for line
	// numbers, and must have as many fields as the data rows.
	Header bool
	// Scale divides every feature value (e.g. 255 for bytes, 16 for the
	// digits); 0 means 1. It must be finite and positive.
	Scale float64
	// Shape, if not empty, is the per-sample shape (e.g. [1 8 8]); its
	// product must equal the number of feature columns. Empty means
	// [features].
	Shape []int
	// MaxRows, if positive, stops reading after that many data rows;
	// later rows are neither read nor checked. 0 reads every row.
	MaxRows int
	// MaxBytes is the most text (after decompression) read before the
	// file is refused; 0 or less means DefaultMaxBytes.
	MaxBytes int64
}

// ReadCSV reads a numeric CSV file (gzip-compressed or plain, detected from
// the gzip magic bytes): one sample per row, every field a number, one
// column (see CSVOptions.LabelColumn) a non-negative integer label no larger
// than MaxCSVLabel. name names the file in errors, as the Dataset's Name and
// in its Source. Fields may be surrounded by spaces; empty lines are
// skipped; a leading UTF-8 byte order mark is ignored.
//
// Errors name the file and the 1-based line, counting the header:
// "file.csv:7: row has 63 fields, expected 65",
// "file.csv:3: field 12: "abc" is not a number". Feature values must be
// finite (NaN and Inf are refused) and fit a float32 after scaling.
// Classes is the largest label plus 1.
func ReadCSV(r io.Reader, name string, opts CSVOptions) (*Dataset, error) {
	scale := opts.Scale
	if scale == 0 {
		scale = 1
	}
	if !(scale > 0) || math.IsInf(scale, 0) {
		return nil, fmt.Errorf("%s: CSVOptions.Scale is %v, want a finite number > 0", name, opts.Scale)
	}
	var shapeFeatures int
	if len(opts.Shape) > 0 {
		var err error
		if shapeFeatures, err = shapeSize(opts.Shape); err != nil {
			return nil, fmt.Errorf("%s: CSVOptions.Shape: %w", name, err)
		}
	}
	maxBytes := opts.MaxBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}

	in, err := decompress(r, name)
	if err != nil {
		return nil, err
	}
	lim := &limitedReader{r: in, n: maxBytes}
	br := bufio.NewReader(lim)
	if bom, err := br.Peek(3); err == nil && string(bom) == "\uFEFF" {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1 // checked here, for a clearer message
	cr.ReuseRecord = true

	var (
		x        []float32
		y        []int32
		fields   = 0  // fields per row, set by the first record
		label    = -1 // 0-based label column
		maxLabel = int64(-1)
		rows     = 0
		header   = opts.Header // the header is still to skip
	)
	for opts.MaxRows <= 0 || rows < opts.MaxRows {
		rec, err := cr.Read()
		if lim.exceeded() {
			return nil, fmt.Errorf("%s: more than %d bytes (CSVOptions.MaxBytes): %w", name, maxBytes, errTooLarge)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%s:%d: %w", name, pe.Line, pe.Err)
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%s: truncated after %d data rows: %w", name, rows, err)
			}
			return nil, fmt.Errorf("%s: after %d data rows: %w", name, rows, err)
		}
		line, _ := cr.FieldPos(0)
		if fields == 0 {
			fields = len(rec)
			if fields < 2 {
				return nil, fmt.Errorf("%s:%d: row has 1 field, need at least 2 (features and a label)", name, line)
			}
			if label, err = labelIndex(opts.LabelColumn, fields); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, line, err)
			}
			if shapeFeatures != 0 && shapeFeatures != fields-1 {
				return nil, fmt.Errorf("%s:%d: row has %d fields: %d features, but CSVOptions.Shape %v has %d",
					name, line, fields, fields-1, opts.Shape, shapeFeatures)
			}
		}
		if len(rec) != fields {
			return nil, fmt.Errorf("%s:%d: row has %d fields, expected %d", name, line, len(rec), fields)
		}
		if header {
			header = false
			continue
		}
		for i, f := range rec {
			f = strings.TrimSpace(f)
			if i == label {
				l, err := parseLabel(f)
				if err != nil {
					return nil, fmt.Errorf("%s:%d: field %d (label): %w", name, line, i+1, err)
				}
				y = append(y, int32(l))
				maxLabel = max(maxLabel, l)
				continue
			}
			v, err := strconv.ParseFloat(f, 64)
			if err != nil {
				var ne *strconv.NumError
				if errors.As(err, &ne) {
					err = ne.Err
				}
				return nil, fmt.Errorf("%s:%d: field %d: %q is not a number: %w", name, line, i+1, f, err)
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, fmt.Errorf("%s:%d: field %d: %q is not a finite number", name, line, i+1, f)
			}
			v /= scale
			if math.Abs(v) > math.MaxFloat32 {
				return nil, fmt.Errorf("%s:%d: field %d: %q is out of float32 range after scaling", name, line, i+1, f)
			}
			x = append(x, float32(v))
		}
		rows++
	}
	if rows == 0 {
		if fields == 0 {
			return nil, fmt.Errorf("%s: empty file: no rows", name)
		}
		return nil, fmt.Errorf("%s: no data rows after the header", name)
	}
	shape := slices.Clone(opts.Shape)
	if len(shape) == 0 {
		shape = []int{fields - 1}
	}
	return &Dataset{
		Name:    name,
		X:       slices.Clip(x),
		Y:       slices.Clip(y),
		N:       rows,
		Shape:   shape,
		Classes: int(maxLabel) + 1,
		Source:  []string{name},
	}, nil
}

// errTooLarge is wrapped by the error for a CSV file over MaxBytes.
var errTooLarge = errors.New("file too large")

// labelIndex turns CSVOptions.LabelColumn into a 0-based index for rows of
// the given number of fields.
func labelIndex(col, fields int) (int, error) {
	switch {
	case col == 0:
		return fields - 1, nil
	case col > 0 && col <= fields:
		return col - 1, nil
	case col < 0 && col >= -fields:
		return fields + col, nil
	}
	return 0, fmt.Errorf("CSVOptions.LabelColumn %d is outside a row of %d fields", col, fields)
}

// parseLabel parses a class label: a non-negative integer up to
// MaxCSVLabel, written as an integer or as a float with no fraction ("3.0").
func parseLabel(s string) (int64, error) {
	l, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != math.Trunc(f) || math.IsInf(f, 0) {
			return 0, fmt.Errorf("%q is not a non-negative integer", s)
		}
		if f < 0 || f > MaxCSVLabel {
			return 0, fmt.Errorf("%q is not in [0, %d]", s, MaxCSVLabel)
		}
		l = int64(f)
	}
	if l < 0 {
		return 0, fmt.Errorf("%q is not a non-negative integer", s)
	}
	if l > MaxCSVLabel {
		return 0, fmt.Errorf("%q is not in [0, %d]", s, MaxCSVLabel)
	}
	return l, nil
}

// limitedReader passes through at most n bytes of r; reading past them
// fails with errTooLarge (rather than io.EOF, so that a file cut at the
// limit is not mistaken for a complete one).
type limitedReader struct {
	r   io.Reader
	n   int64
	hit bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.hit {
		return 0, errTooLarge
	}
	// Ask for one byte more than allowed, to see whether there is more.
	if want := min(l.n, math.MaxInt64-1) + 1; int64(len(p)) > want {
		p = p[:want]
	}
	n, err := l.r.Read(p)
	if int64(n) > l.n {
		l.hit = true
		n = int(l.n)
		l.n = 0
		return n, errTooLarge
	}
	l.n -= int64(n)
	return n, err
}

func (l *limitedReader) exceeded() bool { return l.hit }

// LoadCSV reads the CSV file at path as ReadCSV does. Errors and Source
// name the path as given; the Dataset's Name is its base name.
func LoadCSV(path string, opts CSVOptions) (*Dataset, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("datasets: %w", err)
	}
	defer f.Close()
	d, err := ReadCSV(f, path, opts)
	if err != nil {
		return nil, err
	}
	d.Name = filepath.Base(path)
	return d, nil
}
