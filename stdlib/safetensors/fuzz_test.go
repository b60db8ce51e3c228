package safetensors

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors wrap
// ErrInvalid, and that whatever it accepts rewrites and reparses to the
// same tensors and metadata, the rewrite being a fixed point of Write. Its
// seed corpus, in testdata/fuzz/FuzzParse, holds valid and broken files.
func FuzzParse(f *testing.F) {
	f.Add(mustWrite(f, []Tensor{
		F32("0.weight", []int{2, 2}, []float32{1, 2, 3, 4}),
		I64("1.num_batches_tracked", []int{}, []int64{5}),
		F32("empty", []int{0}, nil),
	}, map[string]string{"format": "pt"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		parsed, err := Parse(b)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Parse error %q does not wrap ErrInvalid", err)
			}
			return
		}
		tensors := allTensors(t, parsed)
		for _, info := range parsed.Tensors {
			parsed.Float32(info.Name) // must not panic
		}
		rewritten := mustWrite(t, tensors, parsed.Metadata)
		reparsed, err := Parse(rewritten)
		if err != nil {
			t.Fatalf("Parse of the rewritten file: %v", err)
		}
		if diff := sameTensors(allTensors(t, reparsed), tensors); diff != "" {
			t.Fatalf("tensors changed on a rewrite: %s", diff)
		}
		if !sameMetadata(reparsed.Metadata, parsed.Metadata) {
			t.Fatalf("metadata changed on a rewrite: %v, was %v", reparsed.Metadata, parsed.Metadata)
		}
		if again := mustWrite(t, allTensors(t, reparsed), reparsed.Metadata); !bytes.Equal(again, rewritten) {
			t.Fatal("writing the reparsed file gave other bytes")
		}
	})
}

// TestFuzzCorpusNames checks that the seed files named valid_* parse and
// those named broken_* do not, so that the corpus covers both.
func TestFuzzCorpusNames(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzParse")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, entry := range entries {
		name := entry.Name()
		wantValid := strings.HasPrefix(name, "valid_")
		if !wantValid && !strings.HasPrefix(name, "broken_") {
			continue // found by the fuzzer
		}
		b := readCorpusFile(t, filepath.Join(dir, name))
		if _, err := Parse(b); (err == nil) != wantValid {
			t.Errorf("%s: Parse error = %v", name, err)
		}
	}
}

// readCorpusFile returns the []byte value of a "go test fuzz v1" file.
func readCorpusFile(t *testing.T, path string) []byte {
	t.Helper()
	content, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	body, ok := strings.CutPrefix(string(content), "go test fuzz v1\n[]byte(")
	body, ok2 := strings.CutSuffix(strings.TrimSpace(body), ")")
	if !ok || !ok2 {
		t.Fatalf("%s is not a go test fuzz v1 file of one []byte", path)
	}
	value, err := strconv.Unquote(body)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return []byte(value)
}
