package datasets

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// update rewrites the golden files under testdata/ (and the fuzz seed
// corpora) instead of comparing against them:
//
//	go test ./stdlib/datasets -run TestGolden -update
var update = flag.Bool("update", false, "rewrite golden files and fuzz seeds under testdata/")

// numbered returns a valid Dataset of n samples of f features in which
// sample i has X values i*1000+j and label i%3, so that a sample can be
// recognised after a shuffle.
func numbered(n, f int) *Dataset {
	d := &Dataset{Name: "numbered", N: n, Shape: []int{f}, Classes: 3, Source: []string{"mem"}}
	for i := range n {
		for j := range f {
			d.X = append(d.X, float32(i*1000+j))
		}
		d.Y = append(d.Y, int32(i%3))
	}
	return d
}

// ids returns which samples of a numbered Dataset d holds, in order, after
// checking that each sample is intact (its features and label belong
// together).
func ids(t *testing.T, d *Dataset) []int {
	t.Helper()
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	f := d.Features()
	out := make([]int, d.N)
	for k := range d.N {
		i := int(d.X[k*f]) / 1000
		for j := range f {
			if d.X[k*f+j] != float32(i*1000+j) {
				t.Fatalf("sample %d: feature %d is %v, want %v", k, j, d.X[k*f+j], float32(i*1000+j))
			}
		}
		if d.Y[k] != int32(i%3) {
			t.Fatalf("sample %d (was %d): label %d, want %d", k, i, d.Y[k], i%3)
		}
		out[k] = i
	}
	return out
}

func TestFeatures(t *testing.T) {
	for _, tc := range []struct {
		shape []int
		want  int
	}{
		{[]int{1, 28, 28}, 784},
		{[]int{8, 8}, 64},
		{[]int{5}, 5},
		{nil, 0},
		{[]int{3, 0}, 0},
		{[]int{-1, 4}, 0},
		{[]int{math.MaxInt, 2}, 0},
	} {
		d := &Dataset{Shape: tc.shape}
		if got := d.Features(); got != tc.want {
			t.Errorf("Shape %v: Features() = %d, want %d", tc.shape, got, tc.want)
		}
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(d *Dataset)
		want   string // "" = valid
	}{
		{"valid", func(d *Dataset) {}, ""},
		{"empty", func(d *Dataset) { *d = *d.Limit(0) }, ""},
		{"negative N", func(d *Dataset) { d.N = -1 }, "sample count N is -1"},
		{"no shape", func(d *Dataset) { d.Shape = nil }, "shape is empty"},
		{"zero dim", func(d *Dataset) { d.Shape = []int{2, 0} }, "dimension 1 is 0"},
		{"overflowing shape", func(d *Dataset) { d.Shape = []int{math.MaxInt / 2, 3} }, "overflows"},
		{"overflowing N*F", func(d *Dataset) { d.N = math.MaxInt / 2 }, "overflows"},
		{"short X", func(d *Dataset) { d.X = d.X[:len(d.X)-1] }, "len(X) is 11, want N*Features = 3*4 = 12"},
		{"short Y", func(d *Dataset) { d.Y = d.Y[:2] }, "len(Y) is 2, want N = 3"},
		{"no classes", func(d *Dataset) { d.Classes = 0 }, "class count Classes is 0"},
		{"label too big", func(d *Dataset) { d.Y[1] = 3 }, "sample 1: label 3 not in [0, 3)"},
		{"negative label", func(d *Dataset) { d.Y[2] = -1 }, "sample 2: label -1 not in [0, 3)"},
		{"NaN", func(d *Dataset) { d.X[5] = float32(math.NaN()) }, "sample 1: feature 1 is NaN"},
		{"Inf", func(d *Dataset) { d.X[0] = float32(math.Inf(-1)) }, "sample 0: feature 0 is -Inf"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := numbered(3, 4)
			tc.modify(d)
			err := d.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), `datasets: data set "numbered": `) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestSubset(t *testing.T) {
	d := numbered(5, 3)
	s := d.Subset([]int{4, 0, 4, 2})
	if got, want := ids(t, s), []int{4, 0, 4, 2}; !slices.Equal(got, want) {
		t.Errorf("Subset ids = %v, want %v", got, want)
	}
	if s.Name != d.Name || s.Classes != d.Classes || !slices.Equal(s.Shape, d.Shape) || !slices.Equal(s.Source, d.Source) {
		t.Errorf("Subset lost metadata: %+v", s)
	}
	s.X[0], s.Shape[0] = -1, 99
	if d.X[12] != 4000 || d.Shape[0] != 3 {
		t.Error("Subset shares memory with its source")
	}
	if e := d.Subset(nil); e.N != 0 || e.Validate() != nil {
		t.Errorf("Subset(nil) = %+v, %v", e, e.Validate())
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "index 5 out of range [0, 5)") {
			t.Errorf("Subset([5]) recovered %v, want an out-of-range panic", r)
		}
	}()
	d.Subset([]int{5})
}

func TestShuffle(t *testing.T) {
	d := numbered(50, 2)
	a := ids(t, d.Shuffle(7))
	if b := ids(t, d.Shuffle(7)); !slices.Equal(a, b) {
		t.Errorf("Shuffle(7) twice: %v and %v", a, b)
	}
	if c := ids(t, d.Shuffle(8)); slices.Equal(a, c) {
		t.Errorf("Shuffle(7) and Shuffle(8) agree: %v", a)
	}
	if slices.Equal(a, ids(t, d)) {
		t.Error("Shuffle(7) kept the order")
	}
	sorted := slices.Sorted(slices.Values(a))
	for i, v := range sorted {
		if v != i {
			t.Fatalf("Shuffle(7) is not a permutation: %v", a)
		}
	}
	if got := ids(t, d); !slices.Equal(got, ids(t, numbered(50, 2))) {
		t.Error("Shuffle modified its receiver")
	}
	for _, n := range []int{0, 1} {
		if s := numbered(n, 2).Shuffle(1); s.N != n || s.Validate() != nil {
			t.Errorf("Shuffle of %d samples: %+v", n, s)
		}
	}
}

// TestUniform checks that the bounded draw is in range and roughly uniform,
// for a bound that is not a power of two and for one just above 2^63 (where
// about half the raw draws are rejected).
func TestUniform(t *testing.T) {
	if p := permutation(0, 0); len(p) != 0 {
		t.Fatalf("permutation(0, 0) = %v", p)
	}
	counts := make([]int, 7)
	for seed := range int64(7000) {
		counts[permutation(7, seed)[6]]++
	}
	for v, c := range counts {
		if c < 850 || c > 1150 {
			t.Errorf("last element of a 7-permutation is %d in %d of 7000 seeds, want about 1000", v, c)
		}
	}
	src := rand.NewPCG(1, 2)
	const big = 1<<63 + 1
	high := 0
	for range 1000 {
		v := uniform(src, big)
		if v >= big {
			t.Fatalf("uniform(%d) = %d", uint64(big), v)
		}
		if v >= big/2 {
			high++
		}
	}
	if high < 400 || high > 600 {
		t.Errorf("uniform(2^63+1) was in the upper half %d times of 1000, want about 500", high)
	}
}

func TestLimit(t *testing.T) {
	d := numbered(5, 2)
	for _, tc := range []struct{ n, want int }{{-1, 0}, {0, 0}, {3, 3}, {5, 5}, {9, 5}} {
		l := d.Limit(tc.n)
		if got := ids(t, l); !slices.Equal(got, []int{0, 1, 2, 3, 4}[:tc.want]) {
			t.Errorf("Limit(%d) ids = %v, want the first %d", tc.n, got, tc.want)
		}
	}
	l := d.Limit(2)
	l.X = append(l.X, -7)
	l.Y = append(l.Y, 2)
	if d.X[4] != 2000 || d.Y[2] != 2 {
		t.Error("appending to a Limit overwrote the source")
	}
}

func TestSplit(t *testing.T) {
	d := numbered(10, 2)
	for _, tc := range []struct {
		frac  float64
		wantB int
		err   string
	}{
		{0, 0, ""},
		{0.2, 2, ""},
		{0.25, 3, ""}, // round(2.5) = 3: math.Round rounds half away from zero
		{0.5, 5, ""},
		{0.94, 9, ""},
		{0.96, 10, ""}, // a gets nothing
		{math.Nextafter(1, 0), 10, ""},
		{1, 0, "split fraction 1 not in [0, 1)"},
		{-0.1, 0, "split fraction -0.1 not in [0, 1)"},
		{math.NaN(), 0, "split fraction NaN"},
		{math.Inf(1), 0, "split fraction +Inf"},
	} {
		a, b, err := d.Split(tc.frac, 3)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Split(%v) error = %v, want %q", tc.frac, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Split(%v): %v", tc.frac, err)
			continue
		}
		if b.N != tc.wantB || a.N != 10-tc.wantB {
			t.Errorf("Split(%v): %d + %d samples, want %d + %d", tc.frac, a.N, b.N, 10-tc.wantB, tc.wantB)
		}
		all := append(ids(t, a), ids(t, b)...)
		if want := ids(t, d.Shuffle(3)); !slices.Equal(all, want) {
			t.Errorf("Split(%v, 3) = %v, want the order of Shuffle(3) %v", tc.frac, all, want)
		}
	}
	a1, b1, _ := d.Split(0.3, 1)
	a2, b2, _ := d.Split(0.3, 1)
	a3, _, _ := d.Split(0.3, 2)
	if !slices.Equal(ids(t, a1), ids(t, a2)) || !slices.Equal(ids(t, b1), ids(t, b2)) {
		t.Error("Split(0.3, 1) is not deterministic")
	}
	if slices.Equal(ids(t, a1), ids(t, a3)) {
		t.Error("Split(0.3, 1) and Split(0.3, 2) agree")
	}
	bad := numbered(3, 2)
	bad.Y[0] = 5
	if _, _, err := bad.Split(0.5, 1); err == nil {
		t.Error("Split of an invalid Dataset succeeded")
	}
}

// TestGoldenShuffle pins the permutations of Shuffle, so that a change of
// generator (which would silently change every seeded experiment) is seen.
func TestGoldenShuffle(t *testing.T) {
	var b strings.Builder
	b.WriteString("# Shuffle(seed) order of 20 samples; rewrite with go test -run TestGolden -update\n")
	for _, seed := range []int64{0, 1, 42, -1, math.MaxInt64} {
		fmt.Fprintf(&b, "seed %d: %v\n", seed, ids(t, numbered(20, 1).Shuffle(seed)))
	}
	golden(t, "shuffle.golden", b.String())
}

// golden compares got with testdata/name, or writes it there with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the golden file:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}
