package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestDigitsEmbeddedSHA256(t *testing.T) {
	sum := sha256.Sum256(digitsCSV)
	if got := hex.EncodeToString(sum[:]); got != DigitsSHA256 {
		t.Errorf("sha256 of the embedded digits.csv.gz is %s, want %s", got, DigitsSHA256)
	}
	note, err := os.ReadFile(filepath.Join("digits", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{DigitsSHA256, "CC BY 4.0", "BSD-3-Clause", "UCI"} {
		if !strings.Contains(string(note), want) {
			t.Errorf("digits/README.md (the license note) does not mention %q", want)
		}
	}
}

func TestDigits(t *testing.T) {
	d, err := Digits()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if d.Name != "digits" || d.N != 1797 || d.Features() != 64 || !slices.Equal(d.Shape, []int{1, 8, 8}) || d.Classes != 10 {
		t.Fatalf("Name %q N %d Features %d Shape %v Classes %d, want digits 1797 64 [1 8 8] 10",
			d.Name, d.N, d.Features(), d.Shape, d.Classes)
	}
	counts := make([]int, 10)
	for _, y := range d.Y {
		counts[y]++
	}
	for c, n := range counts {
		if n < 170 || n > 190 {
			t.Errorf("class %d has %d samples, want about 180", c, n)
		}
	}
	ones := 0
	for i, x := range d.X {
		if x < 0 || x > 1 {
			t.Fatalf("X[%d] = %v, not in [0, 1]", i, x)
		}
		if v := x * 16; v != float32(int(v)) {
			t.Fatalf("X[%d] = %v is not a multiple of 1/16", i, x)
		}
		if x == 1 {
			ones++
		}
	}
	if ones == 0 {
		t.Error("no pixel is 1 (16/16)")
	}
	// The first row of digits.csv: 0,0,5,13,9,1,0,0,... label 0.
	if want := []float32{0, 0, 5. / 16, 13. / 16, 9. / 16, 1. / 16, 0, 0}; !slices.Equal(d.X[:8], want) || d.Y[0] != 0 {
		t.Errorf("first sample starts %v (label %d), want %v (label 0)", d.X[:8], d.Y[0], want)
	}
	e, err := Digits()
	if err != nil {
		t.Fatal(err)
	}
	e.X[2], e.Y[0] = 0.75, 9
	if d.X[2] != 5./16 || d.Y[0] != 0 {
		t.Error("two Digits() results share memory")
	}
}
