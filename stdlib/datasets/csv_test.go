package datasets

import (
	"bytes"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestReadCSV(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		opts    CSVOptions
		shape   []int
		classes int
		x       []float32
		y       []int32
	}{
		{"label last", "1,2,0\n3,4,2\n", CSVOptions{}, []int{2}, 3, []float32{1, 2, 3, 4}, []int32{0, 2}},
		{"label -1", "1,2,0\n3,4,2\n", CSVOptions{LabelColumn: -1}, []int{2}, 3, []float32{1, 2, 3, 4}, []int32{0, 2}},
		{"label first", "1,2,0\n3,4,2\n", CSVOptions{LabelColumn: 1}, []int{2}, 4, []float32{2, 0, 4, 2}, []int32{1, 3}},
		{"label middle", "1,2,0\n3,4,2\n", CSVOptions{LabelColumn: 2}, []int{2}, 5, []float32{1, 0, 3, 2}, []int32{2, 4}},
		{"label -2", "1,2,0\n3,4,2\n", CSVOptions{LabelColumn: -2}, []int{2}, 5, []float32{1, 0, 3, 2}, []int32{2, 4}},
		{"header", "a,b,label\n1,2,1\n", CSVOptions{Header: true}, []int{2}, 2, []float32{1, 2}, []int32{1}},
		{"scale", "8,16,1\n", CSVOptions{Scale: 16}, []int{2}, 2, []float32{0.5, 1}, []int32{1}},
		{"shape", "1,2,3,4,0\n", CSVOptions{Shape: []int{1, 2, 2}}, []int{1, 2, 2}, 1, []float32{1, 2, 3, 4}, []int32{0}},
		{"max rows", "1,0\n2,1\n3,x\n", CSVOptions{MaxRows: 2}, []int{1}, 2, []float32{1, 2}, []int32{0, 1}},
		{"spaces, CRLF, blank lines", " 1 , 2.5 ,1\r\n\r\n\n-3e-1,+4,0\r\n", CSVOptions{}, []int{2}, 2, []float32{1, 2.5, -0.3, 4}, []int32{1, 0}},
		{"no final newline", "1,2,0\n3,4,1", CSVOptions{}, []int{2}, 2, []float32{1, 2, 3, 4}, []int32{0, 1}},
		{"BOM and quotes", "\uFEFF\"1\",\"2\",1\n", CSVOptions{}, []int{2}, 2, []float32{1, 2}, []int32{1}},
		{"label as float", "1,3.0\n2,1e1\n", CSVOptions{}, []int{1}, 11, []float32{1, 2}, []int32{3, 10}},
		{"largest label", "1,65535\n", CSVOptions{}, []int{1}, 65536, []float32{1}, []int32{65535}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, compress := range []bool{false, true} {
				in := []byte(tc.in)
				if compress {
					in = gz(in)
				}
				d, err := ReadCSV(bytes.NewReader(in), "f.csv", tc.opts)
				if err != nil {
					t.Fatalf("gzip %v: %v", compress, err)
				}
				if err := d.Validate(); err != nil {
					t.Fatal(err)
				}
				if d.N != len(tc.y) || !slices.Equal(d.Shape, tc.shape) || d.Classes != tc.classes ||
					!slices.Equal(d.X, tc.x) || !slices.Equal(d.Y, tc.y) {
					t.Errorf("gzip %v: got N %d Shape %v Classes %d X %v Y %v\nwant N %d Shape %v Classes %d X %v Y %v",
						compress, d.N, d.Shape, d.Classes, d.X, d.Y, len(tc.y), tc.shape, tc.classes, tc.x, tc.y)
				}
				if d.Name != "f.csv" || !slices.Equal(d.Source, []string{"f.csv"}) {
					t.Errorf("Name %q Source %v", d.Name, d.Source)
				}
			}
		})
	}
}

func TestReadCSVErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		opts CSVOptions
		want string // the whole message up to any wrapped cause
	}{
		{"empty", "", CSVOptions{}, "f.csv: empty file: no rows"},
		{"blank lines only", "\n\n\r\n", CSVOptions{}, "f.csv: empty file: no rows"},
		{"header only", "a,b,c\n", CSVOptions{Header: true}, "f.csv: no data rows after the header"},
		{"one column", "1\n2\n", CSVOptions{}, "f.csv:1: row has 1 field, need at least 2 (features and a label)"},
		{"short row", "1,2,0\n1,2,0\n1,0\n", CSVOptions{}, "f.csv:3: row has 2 fields, expected 3"},
		{"long row", "1,2,0\n1,2,0,4\n", CSVOptions{}, "f.csv:2: row has 4 fields, expected 3"},
		{"ragged after header", "a,b,c\n1,2,0\n1,2\n", CSVOptions{Header: true}, "f.csv:3: row has 2 fields, expected 3"},
		{"header wider than rows", "a,b,c,d\n1,2,0\n", CSVOptions{Header: true}, "f.csv:2: row has 3 fields, expected 4"},
		{"not a number", "1,2,0\n1,2,0\n1,abc,0\n", CSVOptions{}, `f.csv:3: field 2: "abc" is not a number: invalid syntax`},
		{"line numbers count the header", "a,b,c\n1,x,0\n", CSVOptions{Header: true}, `f.csv:2: field 2: "x" is not a number`},
		{"line numbers count blank lines", "1,2,0\n\n\n1,2,y\n", CSVOptions{}, `f.csv:4: field 3 (label): "y" is not a non-negative integer`},
		{"empty field", "1,,0\n", CSVOptions{}, `f.csv:1: field 2: "" is not a number`},
		{"NaN", "NaN,1\n", CSVOptions{}, `f.csv:1: field 1: "NaN" is not a finite number`},
		{"Inf", "1,-Inf,1\n", CSVOptions{}, `f.csv:1: field 2: "-Inf" is not a finite number`},
		{"out of float64 range", "1e999,1\n", CSVOptions{}, `f.csv:1: field 1: "1e999" is not a number: value out of range`},
		{"out of float32 range", "1e39,1\n", CSVOptions{}, `f.csv:1: field 1: "1e39" is out of float32 range after scaling`},
		{"negative label", "1,2,-1\n", CSVOptions{}, `f.csv:1: field 3 (label): "-1" is not a non-negative integer`},
		{"fractional label", "1,2,1.5\n", CSVOptions{}, `f.csv:1: field 3 (label): "1.5" is not a non-negative integer`},
		{"negative float label", "1,2,-2.0\n", CSVOptions{}, `f.csv:1: field 3 (label): "-2.0" is not in [0, 65535]`},
		{"huge label", "1,2,65536\n", CSVOptions{}, `f.csv:1: field 3 (label): "65536" is not in [0, 65535]`},
		{"huger label", "1,2,99999999999999999999999\n", CSVOptions{}, `f.csv:1: field 3 (label): "99999999999999999999999" is not in [0, 65535]`},
		{"infinite label", "1,2,inf\n", CSVOptions{}, `f.csv:1: field 3 (label): "inf" is not a non-negative integer`},
		{"label in first column", "x,1\n", CSVOptions{LabelColumn: 1}, `f.csv:1: field 1 (label): "x" is not a non-negative integer`},
		{"label column too big", "1,2,0\n", CSVOptions{LabelColumn: 4}, "f.csv:1: CSVOptions.LabelColumn 4 is outside a row of 3 fields"},
		{"label column too small", "1,2,0\n", CSVOptions{LabelColumn: -4}, "f.csv:1: CSVOptions.LabelColumn -4 is outside a row of 3 fields"},
		{"shape mismatch", "1,2,3,0\n", CSVOptions{Shape: []int{2, 2}}, "f.csv:1: row has 4 fields: 3 features, but CSVOptions.Shape [2 2] has 4"},
		{"bad shape", "1,2,0\n", CSVOptions{Shape: []int{2, -1}}, "f.csv: CSVOptions.Shape: shape [2 -1]: dimension 1 is -1, want >= 1"},
		{"negative scale", "1,2,0\n", CSVOptions{Scale: -1}, "f.csv: CSVOptions.Scale is -1, want a finite number > 0"},
		{"bare quote", "1,2,0\n1,2\"3,0\n", CSVOptions{}, `f.csv:2: bare " in non-quoted-field`},
		{"open quote", "1,2,0\n1,\"2,0\n", CSVOptions{}, `f.csv:2: extraneous or missing " in quoted-field`},
		{"too large", "1,2,0\n3,4,1\n", CSVOptions{MaxBytes: 7}, "f.csv: more than 7 bytes (CSVOptions.MaxBytes): file too large"},
		{"binary", "\x00\x00\x08\x03\x00\x00", CSVOptions{}, "f.csv:1: row has 1 field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ReadCSV(strings.NewReader(tc.in), "f.csv", tc.opts)
			if err == nil {
				t.Fatalf("ReadCSV succeeded (%d rows), want error %q", d.N, tc.want)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %q\nwant it to start with %q", err, tc.want)
			}
		})
	}
	t.Run("exactly MaxBytes", func(t *testing.T) {
		if _, err := ReadCSV(strings.NewReader("1,2,0\n"), "f.csv", CSVOptions{MaxBytes: 6}); err != nil {
			t.Error(err)
		}
	})
	t.Run("truncated gzip", func(t *testing.T) {
		in := []byte(strings.Repeat("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,0\n", 2000))
		for i := range in {
			if in[i] == '1' && i%7 == 0 {
				in[i] = '2' // make it less compressible
			}
		}
		z := gz(in)
		_, err := ReadCSV(bytes.NewReader(z[:len(z)/2]), "f.csv.gz", CSVOptions{})
		if err == nil || !strings.HasPrefix(err.Error(), "f.csv.gz: truncated after ") {
			t.Errorf("error %v", err)
		}
	})
}

func TestLoadCSV(t *testing.T) {
	// testdata/small.csv: a header, the label in the first column, 2x2
	// "images" of values 0..255.
	path := filepath.Join("testdata", "small.csv")
	d, err := LoadCSV(path, CSVOptions{LabelColumn: 1, Header: true, Scale: 255, Shape: []int{2, 2}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.Name != "small.csv" || !slices.Equal(d.Source, []string{path}) || d.N != 4 || d.Classes != 3 ||
		!slices.Equal(d.Y, []int32{0, 2, 1, 0}) || d.X[3] != 1 || d.X[4] != 0 || d.X[5] != float32(51)/255 {
		t.Errorf("got %+v", d)
	}

	_, err = LoadCSV(filepath.Join("testdata", "nonexistent.csv"), CSVOptions{})
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "datasets: ") {
		t.Errorf("missing file: error %v", err)
	}
	_, err = LoadCSV(filepath.Join("testdata", "small.csv"), CSVOptions{})
	if want := `testdata/small.csv:1: field 1: "label" is not a number`; err == nil || !strings.HasPrefix(err.Error(), filepath.FromSlash(want)) {
		t.Errorf("header read as data: error %v, want %q", err, want)
	}
}
