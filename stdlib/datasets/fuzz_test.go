package datasets

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fuzzLimits keeps fuzzed IDX inputs small, so that a crafted header is
// refused rather than read.
var fuzzLimits = Limits{MaxBytes: 1 << 20}

// idxSeeds are the seed inputs of FuzzReadIDX: images file, labels file.
func idxSeeds() map[string][2][]byte {
	images, labels := tinyImages(3, 2, 2), tinyLabels(4, 0, 2)
	return map[string][2][]byte{
		"valid-plain":     {images, labels},
		"valid-gzip":      {gz(images), gz(labels)},
		"truncated":       {images[:20], labels},
		"trailing":        {append(images[:len(images):len(images)], 7), labels},
		"float32-type":    {cat(idxHeader(0x00000D03, 3, 2, 2), images[16:]), labels},
		"huge-dims":       {idxHeader(idxImagesMagic, 1<<31-1, 1<<31-1, 1<<31-1), labels},
		"count-mismatch":  {images, tinyLabels(1)},
		"swapped":         {labels, images},
		"gzip-truncated":  {gz(images)[:20], gz(labels)},
		"big-header-gzip": {gz(cat(idxHeader(idxImagesMagic, 60000, 28, 28), make([]byte, 64))), labels},
	}
}

// csvSeed is one seed input of FuzzReadCSV.
type csvSeed struct {
	data        string
	header      bool
	labelColumn int
	scale       float64
}

func csvSeeds() map[string]csvSeed {
	return map[string]csvSeed{
		"valid":        {"1,2,0\n3,4,2\n", false, 0, 0},
		"header":       {"a,b,label\n1,2,1\n0.5,-1e3,0\n", true, -1, 16},
		"label-first":  {"1,2,0\n3,4,2\n", false, 1, 255},
		"ragged":       {"1,2,0\n3,4\n", false, 0, 0},
		"not-a-number": {"1,abc,0\n", false, 0, 0},
		"quotes":       {"\"1\",\"2\n\",1\n1,2\"3,0\n", false, -2, 0},
		"bad-label":    {"1,2,-1\n1,2,1.5\n", false, 0, 0},
		"nan-inf":      {"NaN,Inf,1\n1e39,1,1\n", false, 0, 1e-30},
		"crlf-bom":     {"\uFEFF1,2,0\r\n\r\n3,4,1\r\n", false, 0, 0},
		"gzip":         {string(gz([]byte("1,2,0\n3,4,2\n"))), false, 0, 0},
		"min-column":   {"1,2,0\n", false, -1 << 63, 0},
	}
}

func FuzzReadIDX(f *testing.F) {
	for _, s := range idxSeeds() {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, images, labels []byte) {
		d, err := ReadIDX(bytes.NewReader(images), bytes.NewReader(labels), "img", "lab", fuzzLimits)
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "img: ") && !strings.HasPrefix(msg, "lab: ") {
				t.Fatalf("error %q does not start with the file name", msg)
			}
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("ReadIDX returned an invalid Dataset: %v", err)
		}
		if d.Classes > 256 || len(d.Shape) != 3 || d.Shape[0] != 1 {
			t.Fatalf("Classes %d Shape %v", d.Classes, d.Shape)
		}
		for _, x := range d.X {
			if x < 0 || x > 1 {
				t.Fatalf("pixel %v not in [0, 1]", x)
			}
		}
	})
}

func FuzzReadCSV(f *testing.F) {
	for _, s := range csvSeeds() {
		f.Add([]byte(s.data), s.header, s.labelColumn, s.scale)
	}
	f.Fuzz(func(t *testing.T, data []byte, header bool, labelColumn int, scale float64) {
		opts := CSVOptions{Header: header, LabelColumn: labelColumn, Scale: scale, MaxBytes: 1 << 20}
		d, err := ReadCSV(bytes.NewReader(data), "f.csv", opts)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.csv") {
				t.Fatalf("error %q does not start with the file name", err)
			}
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("ReadCSV returned an invalid Dataset: %v", err)
		}
		if d.Classes > MaxCSVLabel+1 {
			t.Fatalf("Classes %d", d.Classes)
		}
	})
}

// TestGoldenFuzzSeeds checks that the seed corpora under testdata/fuzz hold
// the seeds above (with -update: writes them), so that plain go test runs
// them even without -fuzz, alongside any crashers committed there.
func TestGoldenFuzzSeeds(t *testing.T) {
	for name, s := range idxSeeds() {
		golden(t, filepath.Join("fuzz", "FuzzReadIDX", "seed-"+name), corpusFile(s[0], s[1]))
	}
	for name, s := range csvSeeds() {
		golden(t, filepath.Join("fuzz", "FuzzReadCSV", "seed-"+name), corpusFile([]byte(s.data), s.header, s.labelColumn, s.scale))
	}
}

// corpusFile encodes values in the go test fuzz v1 corpus format.
func corpusFile(values ...any) string {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range values {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%s)\n", strconv.Quote(string(v)))
		case bool:
			fmt.Fprintf(&b, "bool(%v)\n", v)
		case int:
			fmt.Fprintf(&b, "int(%d)\n", v)
		case float64:
			fmt.Fprintf(&b, "float64(%s)\n", strconv.FormatFloat(v, 'g', -1, 64))
		default:
			panic(fmt.Sprintf("corpusFile: %T", v))
		}
	}
	return b.String()
}
