package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// entry returns a tensor's header entry.
func entry(dtype, shape string, begin, end int) string {
	return fmt.Sprintf(`{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, dtype, shape, begin, end)
}

func TestParseRejects(t *testing.T) {
	f32x2 := entry("F32", "[2]", 0, 8)
	eight := make([]byte, 8)
	tests := []struct {
		name string
		file []byte
		want []string
	}{
		{"empty file", nil, []string{"file is 0 bytes, too short"}},
		{"truncated length", []byte{1, 0, 0}, []string{"file is 3 bytes, too short"}},
		{"header longer than file", rawFile(`{}`, nil)[:9], []string{"header length 2 is more than the 1 bytes"}},
		{"header length over limit", binary.LittleEndian.AppendUint64(nil, MaxHeaderSize+1), []string{"header length 100000001 is more than the limit of 100000000"}},
		{"header length 2^64-1", binary.LittleEndian.AppendUint64(nil, 1<<64-1), []string{"more than the limit"}},
		{"truncated data", rawFile(`{"w":`+f32x2+`}`, eight[:4]), []string{`tensor "w"`, "data_offsets [0, 8] go past the end of the 4-byte buffer"}},
		{"empty header", rawFile(``, nil), []string{"header does not start with '{'"}},
		{"array header", rawFile(`[1,2]`, nil), []string{"header does not start with '{'"}},
		{"leading space", rawFile(` {}`, nil), []string{"header does not start with '{'"}},
		{"invalid JSON", rawFile(`{"w":`+f32x2, eight), []string{"header is not valid JSON"}},
		{"trailing comma", rawFile(`{"w":`+f32x2+`,}`, eight), []string{"header is not valid JSON"}},
		{"two values", rawFile(`{}{}`, nil), []string{"more than one JSON value"}},
		{"trailing garbage", rawFile(`{}  x`, nil), []string{"more than one JSON value"}},
		{"invalid UTF-8", rawFile("{\"w\xff\":"+f32x2+"}", eight), []string{"not valid UTF-8"}},
		{"entry not an object", rawFile(`{"w":[1]}`, nil), []string{`tensor "w": entry is not a JSON object`}},
		{"unknown dtype", rawFile(`{"w":`+entry("F33", "[2]", 0, 8)+`}`, eight), []string{`tensor "w": unknown dtype "F33"`}},
		{"dtype not a string", rawFile(`{"w":{"dtype":4,"shape":[],"data_offsets":[0,4]}}`, eight[:4]), []string{`tensor "w": dtype is not a string`}},
		{"negative dimension", rawFile(`{"w":`+entry("F32", "[-2]", 0, 8)+`}`, eight), []string{`tensor "w": negative dimension -2`}},
		{"fractional dimension", rawFile(`{"w":`+entry("F32", "[1.5]", 0, 8)+`}`, eight), []string{`tensor "w": dimension 1.5 is not an integer`}},
		{"exponent dimension", rawFile(`{"w":`+entry("F32", "[2e0]", 0, 8)+`}`, eight), []string{`tensor "w": dimension 2e0 is not an integer`}},
		{"huge dimension", rawFile(`{"w":`+entry("F32", "[99999999999999999999]", 0, 8)+`}`, eight), []string{`tensor "w": dimension 99999999999999999999 is out of range`}},
		{"dimension not a number", rawFile(`{"w":`+entry("F32", `["2"]`, 0, 8)+`}`, eight), []string{`tensor "w": dimension is not a number`}},
		{"shape not an array", rawFile(`{"w":`+entry("F32", `2`, 0, 8)+`}`, eight), []string{`tensor "w": shape is not a JSON array`}},
		{"too many dimensions", rawFile(`{"w":`+entry("U8", "["+strings.Repeat("1,", MaxRank)+"1]", 0, 1)+`}`, eight[:1]), []string{`tensor "w": shape has more than 64 dimensions`}},
		{"overflowing shape", rawFile(`{"w":`+entry("F32", "[4294967296,4294967296]", 0, 8)+`}`, eight), []string{`tensor "w"`, "overflows an int64"}},
		{"overflowing byte size", rawFile(`{"w":`+entry("F32", "[4611686018427387904]", 0, 8)+`}`, eight), []string{`tensor "w"`, "overflows an int64"}},
		{"overflow before a zero", rawFile(`{"w":`+entry("F32", "[4294967296,4294967296,0]", 0, 0)+`}`, nil), []string{`tensor "w"`, "overflows an int64"}},
		{"end before begin", rawFile(`{"w":`+entry("U8", "[0]", 4, 0)+`}`, eight[:4]), []string{`tensor "w": data_offsets [4, 0] end before they begin`}},
		{"end out of buffer", rawFile(`{"w":`+entry("U8", "[4]", 8, 12)+`}`, eight), []string{`tensor "w": data_offsets [8, 12] go past the end of the 8-byte buffer`}},
		{"negative offset", rawFile(`{"w":`+entry("U8", "[0]", -1, -1)+`}`, nil), []string{`tensor "w": negative data offset -1`}},
		{"three offsets", rawFile(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1,2]}}`, eight[:1]), []string{`tensor "w": data_offsets has more than 2 values`}},
		{"one offset", rawFile(`{"w":{"dtype":"U8","shape":[0],"data_offsets":[0]}}`, nil), []string{`tensor "w": data_offsets has 1 values, want 2`}},
		{"size mismatch", rawFile(`{"w":`+entry("F32", "[3]", 0, 8)+`}`, eight), []string{`tensor "w": data_offsets [0, 8] hold 8 bytes, shape [3] of F32 needs 12`}},
		{"overlap", rawFile(`{"a":`+entry("F32", "[2]", 0, 8)+`,"b":`+entry("F32", "[1]", 4, 8)+`}`, eight), []string{`tensor "b": data_offsets [4, 8] overlap those of tensor "a"`}},
		{"same offsets", rawFile(`{"a":`+entry("F32", "[2]", 0, 8)+`,"b":`+entry("F32", "[2]", 0, 8)+`}`, eight), []string{`overlap those of tensor "a"`}},
		{"zero-size inside another", rawFile(`{"a":`+entry("F32", "[2]", 0, 8)+`,"b":`+entry("F32", "[0]", 4, 4)+`}`, eight), []string{`tensor "b": data_offsets [4, 4] overlap those of tensor "a"`}},
		{"hole", rawFile(`{"a":`+entry("U8", "[2]", 0, 2)+`,"b":`+entry("U8", "[2]", 4, 6)+`}`, eight[:6]), []string{`tensor "b": hole in the buffer: no tensor covers bytes [2, 4]`}},
		{"hole at start", rawFile(`{"a":`+entry("U8", "[2]", 2, 4)+`}`, eight[:4]), []string{`tensor "a": hole in the buffer: no tensor covers bytes [0, 2]`}},
		{"trailing bytes", rawFile(`{"a":`+entry("U8", "[2]", 0, 2)+`}`, eight[:5]), []string{"buffer has 5 bytes but tensors cover only 2"}},
		{"buffer without tensors", rawFile(`{}`, eight[:1]), []string{"buffer has 1 bytes but tensors cover only 0"}},
		{"duplicate tensor", rawFile(`{"w":`+entry("U8", "[4]", 0, 4)+`,"w":`+entry("U8", "[4]", 4, 8)+`}`, eight), []string{`duplicate tensor name "w"`}},
		{"duplicate field", rawFile(`{"w":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}}`, eight[:1]), []string{`tensor "w": duplicate field "dtype"`}},
		{"unknown field", rawFile(`{"w":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"extra":1}}`, eight[:1]), []string{`tensor "w": unknown field "extra"`}},
		{"missing field", rawFile(`{"w":{"dtype":"U8","shape":[1]}}`, eight[:1]), []string{`tensor "w": missing field "data_offsets"`}},
		{"empty name", rawFile(`{"":`+entry("U8", "[1]", 0, 1)+`}`, eight[:1]), []string{`tensor "": empty tensor name`}},
		{"metadata not an object", rawFile(`{"__metadata__":"pt"}`, nil), []string{"__metadata__ is not a JSON object"}},
		{"null metadata", rawFile(`{"__metadata__":null}`, nil), []string{"__metadata__ is not a JSON object"}},
		{"metadata number value", rawFile(`{"__metadata__":{"epochs":3}}`, nil), []string{`__metadata__: value of "epochs" is not a string`}},
		{"metadata nested value", rawFile(`{"__metadata__":{"cfg":{"a":"b"}}}`, nil), []string{`__metadata__: value of "cfg" is not a string`}},
		{"duplicate metadata key", rawFile(`{"__metadata__":{"k":"a","k":"b"}}`, nil), []string{`__metadata__: duplicate key "k"`}},
		{"duplicate metadata", rawFile(`{"__metadata__":{},"__metadata__":{}}`, nil), []string{`duplicate key "__metadata__"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.file)
			if f != nil {
				t.Errorf("Parse returned a File with its error")
			}
			wantInvalid(t, err, append([]string{"safetensors: "}, tt.want...)...)
			// Read takes the same decisions.
			_, err = Read(bytes.NewReader(tt.file), int64(len(tt.file)))
			wantInvalid(t, err, tt.want...)
		})
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name   string
		header string
		data   []byte
		names  []string // in file order
	}{
		{"whitespace and padding", "{}\n\t  ", nil, nil},
		{"escaped name", `{"a\u00e9\/":` + entry("U8", "[1]", 0, 1) + `}`, []byte{1}, []string{"aé/"}},
		{"fields in any order", `{"w":{"data_offsets":[0,1],"shape":[1],"dtype":"U8"}}`, []byte{1}, []string{"w"}},
		{"negative zero", `{"w":{"dtype":"U8","shape":[-0],"data_offsets":[0,-0]}}`, nil, []string{"w"}},
		{"file order by offset", `{"a":` + entry("U8", "[1]", 1, 2) + `,"b":` + entry("U8", "[1]", 0, 1) + `}`, []byte{1, 2}, []string{"b", "a"}},
		{"zero-size tensors share offsets", `{"a":` + entry("U8", "[0]", 1, 1) + `,"b":` + entry("U8", "[1]", 0, 1) + `,"c":` + entry("U8", "[0,3]", 1, 1) + `}`, []byte{1}, []string{"b", "a", "c"}},
		{"empty metadata", `{"__metadata__":{}}`, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(rawFile(tt.header, tt.data))
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, info := range f.Tensors {
				names = append(names, info.Name)
			}
			if fmt.Sprint(names) != fmt.Sprint(tt.names) {
				t.Errorf("tensors %q, want %q", names, tt.names)
			}
		})
	}
}

func TestReadFileNamesFileAndTensor(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.safetensors")
	b := rawFile(`{"0.weight":`+entry("F32", "[3]", 0, 8)+`}`, make([]byte, 8))
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := ReadFile(path)
	wantInvalid(t, err, path, `tensor "0.weight"`, "shape [3] of F32 needs 12")

	file, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	_, err = Read(file, int64(len(b)))
	wantInvalid(t, err, path, `tensor "0.weight"`)
}

func TestReadFileIOErrors(t *testing.T) {
	_, err := ReadFile(filepath.Join(t.TempDir(), "missing.safetensors"))
	if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalid) {
		t.Errorf("error for a missing file = %v, want ErrNotExist and not ErrInvalid", err)
	}
}

// failingReaderAt holds data and fails reads past it with err.
type failingReaderAt struct {
	data []byte
	err  error
}

func (r failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(r.data)) {
		return 0, r.err
	}
	n := copy(p, r.data[off:])
	if n < len(p) {
		return n, r.err
	}
	return n, nil
}

func TestReadIOErrorIsNotInvalid(t *testing.T) {
	errDisk := errors.New("disk on fire")
	b := mustWrite(t, []Tensor{F32("w", []int{2}, []float32{1, 2})}, nil)
	r := failingReaderAt{data: b[:len(b)-4], err: errDisk}
	_, err := Read(r, int64(len(b)))
	if !errors.Is(err, errDisk) || errors.Is(err, ErrInvalid) {
		t.Errorf("error = %v, want the reader's error and not ErrInvalid", err)
	}
}

// TestReadDoesNotTrustSizes checks that neither the size given to Read nor
// the header length makes Read allocate more than the data there is.
func TestReadDoesNotTrustSizes(t *testing.T) {
	shortFile := failingReaderAt{data: rawFile(`{}`, nil), err: io.EOF}
	tests := []struct {
		name string
		r    io.ReaderAt
		size int64
		want string
	}{
		{"size larger than the data", shortFile, 1 << 40, "file is truncated"},
		{"header length larger than the data", failingReaderAt{
			data: binary.LittleEndian.AppendUint64(nil, 90_000_000), err: io.EOF}, 90_000_008, "file is truncated"},
		{"header length over the limit", failingReaderAt{
			data: binary.LittleEndian.AppendUint64(nil, 1<<40), err: io.EOF}, 8, "more than the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			allocated := bytesAllocated(func() { _, err = Read(tt.r, tt.size) })
			wantInvalid(t, err, tt.want)
			if allocated > 1<<20 {
				t.Errorf("Read allocated %d bytes for a %d-byte file", allocated, len(shortFile.data))
			}
		})
	}
}

// TestParseMemoryIsBoundedByHeader checks that the parsed form of a header
// made only of tiny tensors stays within a few times the file's size.
func TestParseMemoryIsBoundedByHeader(t *testing.T) {
	var header strings.Builder
	header.WriteString("{")
	const count = 20000
	for i := range count {
		if i > 0 {
			header.WriteString(",")
		}
		fmt.Fprintf(&header, `"%d":{"dtype":"U8","shape":[],"data_offsets":[%d,%d]}`, i, i, i+1)
	}
	header.WriteString("}")
	b := rawFile(header.String(), make([]byte, count))
	var f *File
	var err error
	retained := bytesRetained(func() { f, err = Parse(b) })
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != count {
		t.Fatalf("parsed %d tensors, want %d", len(f.Tensors), count)
	}
	t.Logf("file of %d bytes, parsed form retains %d bytes (%.2fx)", len(b), retained, float64(retained)/float64(len(b)))
	if retained > 4*int64(len(b)) {
		t.Errorf("parsed form retains %d bytes for a %d-byte file", retained, len(b))
	}
	runtime.KeepAlive(f)
}

// bytesAllocated returns the bytes of heap run allocates.
func bytesAllocated(run func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	run()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// bytesRetained returns the growth of the live heap across run.
func bytesRetained(run func()) int64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	run()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return int64(after.HeapAlloc) - int64(before.HeapAlloc)
}

func TestTensorNotFound(t *testing.T) {
	f, err := Parse(mustWrite(t, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Tensor("w"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `tensor "w"`) {
		t.Errorf("Tensor error = %v, want ErrNotFound naming the tensor", err)
	}
	if _, _, err := f.Float32("w"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Float32 error = %v, want ErrNotFound", err)
	}
}

func TestFileIsIndependentOfCallers(t *testing.T) {
	b := mustWrite(t, []Tensor{F32("w", []int{2}, []float32{1, 2})}, nil)
	f, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	f.Tensors[0].Shape[0] = 1000
	f.Tensors[0].Offsets = [2]int64{0, 1 << 40}
	got, err := f.Tensor("w")
	if err != nil {
		t.Fatal(err)
	}
	got.Data[0] = 0xff
	again, _, err := f.Float32("w")
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got.Shape, again) != "[2] [1 2]" {
		t.Errorf("after changes by the caller: shape %v, values %v", got.Shape, again)
	}
}
