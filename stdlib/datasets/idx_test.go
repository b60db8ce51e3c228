package datasets

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// idxHeader returns an IDX header: magic, then the dimensions.
func idxHeader(magic uint32, dims ...uint32) []byte {
	b := binary.BigEndian.AppendUint32(nil, magic)
	for _, d := range dims {
		b = binary.BigEndian.AppendUint32(b, d)
	}
	return b
}

// tinyImages returns a plain IDX images file of n images of rows x cols
// whose pixel k (counting through the whole file) is byte(k*51).
func tinyImages(n, rows, cols int) []byte {
	b := idxHeader(idxImagesMagic, uint32(n), uint32(rows), uint32(cols))
	for k := range n * rows * cols {
		b = append(b, byte(k*51))
	}
	return b
}

// tinyLabels returns a plain IDX labels file.
func tinyLabels(labels ...byte) []byte {
	return append(idxHeader(idxLabelsMagic, uint32(len(labels))), labels...)
}

// gz returns b gzip-compressed.
func gz(b []byte) []byte {
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	_, _ = w.Write(b)
	_ = w.Close()
	return buf.Bytes()
}

func cat(bs ...[]byte) []byte { return slices.Concat(bs...) }

func TestReadIDX(t *testing.T) {
	images := tinyImages(3, 2, 2)
	labels := tinyLabels(4, 0, 2)
	for _, tc := range []struct {
		name           string
		images, labels []byte
	}{
		{"plain", images, labels},
		{"gzip", gz(images), gz(labels)},
		{"mixed", images, gz(labels)},
		{"gzip members", cat(gz(images[:10]), gz(images[10:])), labels},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ReadIDX(bytes.NewReader(tc.images), bytes.NewReader(tc.labels), "img", "lab", Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Validate(); err != nil {
				t.Fatal(err)
			}
			if d.N != 3 || !slices.Equal(d.Shape, []int{1, 2, 2}) || d.Features() != 4 || d.Classes != 5 {
				t.Errorf("N %d Shape %v Classes %d, want 3 [1 2 2] 5", d.N, d.Shape, d.Classes)
			}
			wantX := []float32{0, 0.2, 0.4, 0.6, 0.8, 1, float32(50) / 255, float32(101) / 255, float32(152) / 255, float32(203) / 255, float32(254) / 255, float32(49) / 255}
			if !slices.Equal(d.X, wantX) {
				t.Errorf("X = %v, want %v", d.X, wantX)
			}
			if !slices.Equal(d.Y, []int32{4, 0, 2}) {
				t.Errorf("Y = %v", d.Y)
			}
			if d.Name != "img" || !slices.Equal(d.Source, []string{"img", "lab"}) {
				t.Errorf("Name %q Source %v", d.Name, d.Source)
			}
		})
	}
}

// errReader fails after delivering its data.
type errReader struct {
	data []byte
	err  error
}

func (r *errReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadIDXErrors(t *testing.T) {
	images := tinyImages(2, 2, 2) // 16 header bytes + 8 data bytes
	labels := tinyLabels(1, 0)    // 8 header bytes + 2 data bytes
	badCRC := gz(images)
	badCRC[len(badCRC)-8] ^= 0xff // the CRC-32 of the gzip trailer
	bigHeader := idxHeader(idxImagesMagic, 60000, 28, 28)
	noisy := idxHeader(idxImagesMagic, 100, 8, 8) // with incompressible pixels
	for k := range 6400 {
		noisy = append(noisy, byte(k*k*7919>>5))
	}
	for _, tc := range []struct {
		name           string
		images, labels []byte
		limits         Limits
		want           string // the error starts with the file named in it
	}{
		{"empty images", nil, labels, Limits{}, "img: truncated IDX header: file has 0 bytes, an IDX images header needs 16"},
		{"short header", images[:7], labels, Limits{}, "img: truncated IDX header: file has 7 bytes, an IDX images header needs 16"},
		{"short magic", images[:3], labels, Limits{}, "img: truncated IDX header: file has 3 bytes"},
		{"short labels header", images, labels[:6], Limits{}, "lab: truncated IDX header: file has 6 bytes, an IDX labels header needs 8"},
		{"text file", []byte("hello, world, this is csv\n"), labels, Limits{}, `img: IDX field "magic": 0x68656c6c is not an IDX magic number (want 0x00000803 for an images file)`},
		{"float32 type", cat(idxHeader(0x00000D03, 2, 2, 2), images[16:]), labels, Limits{}, `img: IDX field "magic": unsupported IDX data type 0x0d (float32)`},
		{"unknown type", cat(idxHeader(0x00004203, 2, 2, 2), images[16:]), labels, Limits{}, `unsupported IDX data type 0x42 (unknown)`},
		{"int32 labels", images, cat(idxHeader(0x00000C01, 2), make([]byte, 8)), Limits{}, `lab: IDX field "magic": unsupported IDX data type 0x0c (int32)`},
		{"swapped", labels, images, Limits{}, `img: IDX field "magic": 0x00000801 has 1 dimensions, want 0x00000803 (images, 3 dimensions) (this is a labels file; are the arguments swapped?)`},
		{"two dims", cat(idxHeader(0x00000802, 2, 4), images[16:]), labels, Limits{}, `img: IDX field "magic": 0x00000802 has 2 dimensions`},
		{"zero count", idxHeader(idxImagesMagic, 0, 2, 2), tinyLabels(), Limits{}, `img: IDX field "count" is 0`},
		{"zero rows", idxHeader(idxImagesMagic, 2, 0, 2), labels, Limits{}, `img: IDX field "rows" is 0`},
		{"negative cols", idxHeader(idxImagesMagic, 2, 2, 0xffffffff), labels, Limits{}, `img: IDX field "cols" is 4294967295, more than the IDX maximum`},
		{"huge dims", idxHeader(idxImagesMagic, math.MaxInt32, math.MaxInt32, math.MaxInt32), labels, Limits{},
			"img: IDX fields count*rows*cols = 2147483647*2147483647*2147483647: header promises more than 18446744073709551615 bytes of data, over the limit of 2147483648 bytes"},
		{"over default limit", idxHeader(idxImagesMagic, 70000, 256, 256), labels, Limits{}, "header promises 4587520000 bytes of data, over the limit of 2147483648 bytes (Limits.MaxBytes)"},
		{"over limit", images, labels, Limits{MaxBytes: 7}, "img: IDX fields count*rows*cols = 2*2*2: header promises 8 bytes of data, over the limit of 7 bytes"},
		{"count mismatch", images, tinyLabels(1, 2, 3), Limits{}, `lab: IDX field "count" is 3 labels, but img has 2 images`},
		{"truncated data", images[:21], labels, Limits{}, "img: truncated: header says 8 bytes of data, file has 5"},
		{"no data", images[:16], labels, Limits{}, "img: truncated: header says 8 bytes of data, file has 0"},
		{"truncated labels", images, labels[:9], Limits{}, "lab: truncated: header says 2 bytes of data, file has 1"},
		{"truncated gzip", gz(noisy)[:500], tinyLabels(make([]byte, 100)...), Limits{}, "img: truncated: header says 6400 bytes of data, file has"},
		{"gzip without trailer", gz(images)[:len(gz(images))-8], labels, Limits{}, "img: truncated gzip stream after the 8 bytes of data"},
		{"truncated gzip header", gz(images)[:5], labels, Limits{}, "img: truncated gzip header"},
		{"gzip of short data", gz(images[:20]), labels, Limits{}, "img: truncated: header says 8 bytes of data, file has 4"},
		{"big header little data", gz(cat(bigHeader, make([]byte, 100))), labels, Limits{}, `lab: IDX field "count" is 2 labels, but img has 60000 images`},
		{"trailing bytes", cat(images, []byte{1, 2, 3}), labels, Limits{}, "img: trailing garbage: 3 bytes after the 8 bytes of data the header promises"},
		{"trailing label", images, cat(labels, []byte{9}), Limits{}, "lab: trailing garbage: 1 bytes after the 2 bytes"},
		{"trailing megabytes", gz(cat(images, make([]byte, 3<<20))), labels, Limits{}, "img: trailing garbage: at least 1048576 bytes"},
		{"trailing data in gzip", gz(cat(images, []byte{0})), labels, Limits{}, "img: trailing garbage: 1 bytes"},
		{"garbage after gzip", cat(gz(images), []byte("junk and more junk")), labels, Limits{}, "img: after the 8 bytes of data: gzip: invalid header"},
		{"gzip checksum", badCRC, labels, Limits{}, "img: after the 8 bytes of data: gzip: invalid checksum"},
		{"corrupt deflate", cat(gz(images)[:10], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}), labels, Limits{}, "img: reading IDX header: flate: corrupt input"},
		{"not gzip after magic", []byte{0x1f, 0x8b, 0, 0, 0, 0, 0, 0, 0, 0}, labels, Limits{}, "img: gzip: invalid header"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ReadIDX(bytes.NewReader(tc.images), bytes.NewReader(tc.labels), "img", "lab", tc.limits)
			if err == nil {
				t.Fatalf("ReadIDX succeeded (%d samples), want error %q", d.N, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "img: ") && !strings.HasPrefix(err.Error(), "lab: ") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
	t.Run("read error", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := ReadIDX(&errReader{images[:20], boom}, bytes.NewReader(labels), "img", "lab", Limits{})
		if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "img: ") {
			t.Errorf("error %v, want one wrapping boom", err)
		}
	})
	t.Run("truncation wraps ErrUnexpectedEOF", func(t *testing.T) {
		_, err := ReadIDX(bytes.NewReader(images[:20]), bytes.NewReader(labels), "img", "lab", Limits{})
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("error %v does not wrap io.ErrUnexpectedEOF", err)
		}
	})
}

// TestReadIDXNoLargeAllocation checks that a header promising 2 GB with a
// few bytes behind it (plain or gzip) costs memory in proportion to the
// bytes present, not to the promise.
func TestReadIDXNoLargeAllocation(t *testing.T) {
	header := idxHeader(idxImagesMagic, 32768, 256, 256) // 2 GiB: just within the default limit
	labels := cat(idxHeader(idxLabelsMagic, 32768), make([]byte, 32768))
	for _, tc := range []struct {
		name   string
		images []byte
	}{
		{"plain", cat(header, make([]byte, 1000))},
		{"gzip", gz(cat(header, make([]byte, 1000)))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := ReadIDX(bytes.NewReader(tc.images), bytes.NewReader(labels), "img", "lab", Limits{})
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), "img: truncated: header says 2147483648 bytes of data, file has 1000") {
				t.Fatalf("error %v", err)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 2<<20 {
				t.Errorf("allocated %d bytes for a file of %d bytes", alloc, len(tc.images))
			}
		})
	}
}

func TestLoadIDX(t *testing.T) {
	// testdata/tiny-*: 3 images of 2x3 pixels with values 0, 15, 30, ..., 255,
	// labels 7, 0, 3; the images gzip-compressed, the labels plain. Written
	// by hand (Python's struct and gzip), independently of this package.
	d, err := LoadIDX(filepath.Join("testdata", "tiny-images-idx3-ubyte.gz"), filepath.Join("testdata", "tiny-labels-idx1-ubyte"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.N != 3 || !slices.Equal(d.Shape, []int{1, 2, 3}) || d.Classes != 8 || !slices.Equal(d.Y, []int32{7, 0, 3}) {
		t.Errorf("N %d Shape %v Classes %d Y %v", d.N, d.Shape, d.Classes, d.Y)
	}
	for i, x := range d.X {
		if want := float32(15*i) / 255; x != want {
			t.Errorf("X[%d] = %v, want %v", i, x, want)
		}
	}
	if d.Name != "tiny-images-idx3-ubyte.gz" || d.Source[0] != filepath.Join("testdata", "tiny-images-idx3-ubyte.gz") {
		t.Errorf("Name %q Source %v", d.Name, d.Source)
	}

	_, err = LoadIDX(filepath.Join("testdata", "nonexistent"), filepath.Join("testdata", "tiny-labels-idx1-ubyte"))
	if !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "datasets: ") || !strings.Contains(err.Error(), "nonexistent") {
		t.Errorf("missing file: error %v", err)
	}
	_, err = LoadIDX(filepath.Join("testdata", "tiny-images-idx3-ubyte.gz"), filepath.Join("testdata", "nonexistent"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing labels file: error %v", err)
	}
	_, err = LoadIDX("testdata", filepath.Join("testdata", "tiny-labels-idx1-ubyte"))
	if err == nil || !strings.HasPrefix(err.Error(), "testdata: ") {
		t.Errorf("directory as images file: error %v", err)
	}
	if _, err := os.Stat(filepath.Join("testdata", "tiny-labels-idx1-ubyte")); err != nil {
		t.Fatal(err)
	}
}
