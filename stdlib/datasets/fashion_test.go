package datasets

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// writeFakeFashion writes small Fashion-MNIST-like files into dir: n train
// and n test images of rows x cols, with the given labels; the train files
// gzip-compressed, the test files plain.
func writeFakeFashion(t *testing.T, dir string, rows, cols int, labels []byte) {
	t.Helper()
	n := len(labels)
	files := map[string][]byte{
		"train-images-idx3-ubyte.gz": gz(tinyImages(n, rows, cols)),
		"train-labels-idx1-ubyte.gz": gz(tinyLabels(labels...)),
		"t10k-images-idx3-ubyte":     tinyImages(n, rows, cols),
		"t10k-labels-idx1-ubyte":     tinyLabels(labels...),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadFashionMNISTFake(t *testing.T) {
	dir := t.TempDir()
	writeFakeFashion(t, dir, 28, 28, []byte{3, 0, 9})
	train, test, err := LoadFashionMNIST(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []*Dataset{train, test} {
		if err := d.Validate(); err != nil {
			t.Fatal(err)
		}
		if d.N != 3 || !slices.Equal(d.Shape, []int{1, 28, 28}) || d.Classes != 10 || !slices.Equal(d.Y, []int32{3, 0, 9}) {
			t.Errorf("%s: N %d Shape %v Classes %d Y %v", d.Name, d.N, d.Shape, d.Classes, d.Y)
		}
	}
	if train.Name != "fashion-mnist/train" || test.Name != "fashion-mnist/test" {
		t.Errorf("names %q, %q", train.Name, test.Name)
	}
	if want := filepath.Join(dir, "t10k-images-idx3-ubyte"); test.Source[0] != want {
		t.Errorf("test Source %v, want %s first", test.Source, want)
	}

	for _, tc := range []struct {
		name       string
		rows, cols int
		labels     []byte
		want       string
	}{
		{"label 10", 28, 28, []byte{1, 10}, "train-labels-idx1-ubyte.gz: label 10 of sample 1 is not a Fashion-MNIST class (0..9)"},
		{"not 28x28", 28, 27, []byte{1, 2}, "train-images-idx3-ubyte.gz: Fashion-MNIST images are 28x28, this file has 28x27"},
	} {
		dir := t.TempDir()
		writeFakeFashion(t, dir, tc.rows, tc.cols, tc.labels)
		if _, _, err := LoadFashionMNIST(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want %q", tc.name, err, tc.want)
		}
	}
}

// checkInstallHint checks a missing-data error explains how to get the data.
func checkInstallHint(t *testing.T, err error, mentions ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error %v does not wrap fs.ErrNotExist", err)
	}
	msg := err.Error()
	mentions = append(mentions, "datasets: Fashion-MNIST", "apt-get install -y dataset-fashion-mnist",
		DefaultFashionMNISTDir, "MLPIPE_DATA", "dir parameter", "train-images-idx3-ubyte.gz")
	for _, want := range mentions {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q\ndoes not mention %q", msg, want)
		}
	}
}

func TestLoadFashionMNISTMissing(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	_, _, err := LoadFashionMNIST(missing)
	checkInstallHint(t, err, "directory "+missing+" does not exist")

	dir := t.TempDir()
	writeFakeFashion(t, dir, 28, 28, []byte{1})
	if err := os.Remove(filepath.Join(dir, "t10k-labels-idx1-ubyte")); err != nil {
		t.Fatal(err)
	}
	_, _, err = LoadFashionMNIST(dir)
	checkInstallHint(t, err, filepath.Join(dir, "t10k-labels-idx1-ubyte.gz")+" (or t10k-labels-idx1-ubyte) is missing")

	file := filepath.Join(dir, "train-images-idx3-ubyte.gz")
	if _, _, err := LoadFashionMNIST(file); err == nil || !strings.Contains(err.Error(), file+" is not a directory") {
		t.Errorf("file as dir: error %v", err)
	}
}

// raceEnabled is set by race_test.go under the race detector, which makes
// loading the real Fashion-MNIST take half a minute.
var raceEnabled = false

// TestLoadFashionMNIST loads the real data set where it is installed
// (apt-get install -y dataset-fashion-mnist).
func TestLoadFashionMNIST(t *testing.T) {
	if _, err := os.Stat(DefaultFashionMNISTDir); err != nil {
		t.Skipf("Fashion-MNIST is not installed in %s (apt-get install -y dataset-fashion-mnist): %v", DefaultFashionMNISTDir, err)
	}
	if testing.Short() || raceEnabled {
		t.Skip("loading Fashion-MNIST takes about a second (half a minute under -race); skipped with -short or -race")
	}
	train, test, err := LoadFashionMNIST("")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		d *Dataset
		n int
	}{{train, 60000}, {test, 10000}} {
		d := tc.d
		if err := d.Validate(); err != nil {
			t.Fatal(err)
		}
		if d.N != tc.n || !slices.Equal(d.Shape, []int{1, 28, 28}) || d.Features() != 784 || d.Classes != 10 {
			t.Errorf("%s: N %d Shape %v Classes %d, want %d [1 28 28] 10", d.Name, d.N, d.Shape, d.Classes, tc.n)
		}
		counts := make([]int, 10)
		for _, y := range d.Y {
			counts[y]++
		}
		for c, k := range counts {
			if k != tc.n/10 { // Fashion-MNIST is balanced
				t.Errorf("%s: class %d has %d samples, want %d", d.Name, c, k, tc.n/10)
			}
		}
		lo, hi := slices.Min(d.X), slices.Max(d.X)
		if lo != 0 || hi != 1 {
			t.Errorf("%s: pixels in [%v, %v], want [0, 1]", d.Name, lo, hi)
		}
	}
}
