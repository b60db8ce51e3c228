package datasets

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// DefaultFashionMNISTDir is where Debian's dataset-fashion-mnist package
// installs the Fashion-MNIST files.
const DefaultFashionMNISTDir = "/usr/share/datasets/fashion-mnist"

// fashionMNISTFiles are the four Fashion-MNIST files LoadFashionMNIST reads
// from its directory: train images and labels, test images and labels. Each
// may also be present without the .gz suffix (decompressed).
var fashionMNISTFiles = [4]string{
	"train-images-idx3-ubyte.gz",
	"train-labels-idx1-ubyte.gz",
	"t10k-images-idx3-ubyte.gz",
	"t10k-labels-idx1-ubyte.gz",
}

// fashionMNISTInstallHint ends the error for a missing Fashion-MNIST file.
const fashionMNISTInstallHint = "install it with `apt-get install -y dataset-fashion-mnist` " +
	"(which puts it in " + DefaultFashionMNISTDir + "), " +
	"or give the dir parameter a directory holding " +
	"train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, " +
	"t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz (also accepted without .gz), " +
	"or set MLPIPE_DATA to a directory whose fashion-mnist subdirectory holds them"

// FashionMNISTClasses is the number of Fashion-MNIST classes (T-shirt/top,
// Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot).
const FashionMNISTClasses = 10

// LoadFashionMNIST reads the Fashion-MNIST training set (60,000 images) and
// test set (10,000 images) from the IDX files train-images-idx3-ubyte.gz,
// train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and
// t10k-labels-idx1-ubyte.gz (each also accepted without .gz) in dir
// (DefaultFashionMNISTDir if dir is ""). The images are 28x28 (Shape
// [1 28 28]), scaled to [0, 1]; Classes is 10 and every label must be below
// it. The Datasets are named "fashion-mnist/train" and "fashion-mnist/test".
//
// If dir or one of the files does not exist, the error (which wraps
// fs.ErrNotExist) says how to install the data set: Debian's
// dataset-fashion-mnist package installs it in DefaultFashionMNISTDir.
func LoadFashionMNIST(dir string) (train, test *Dataset, err error) {
	paths, err := FashionMNISTFiles(dir)
	if err != nil {
		return nil, nil, err
	}
	train, err = loadFashionPart(paths[0], paths[1], "fashion-mnist/train")
	if err != nil {
		return nil, nil, err
	}
	test, err = loadFashionPart(paths[2], paths[3], "fashion-mnist/test")
	if err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// FashionMNISTFiles returns the paths of the four files LoadFashionMNIST
// reads from dir (DefaultFashionMNISTDir if dir is ""), with the same
// errors for a missing directory or file.
func FashionMNISTFiles(dir string) ([]string, error) {
	if dir == "" {
		dir = DefaultFashionMNISTDir
	}
	if st, err := os.Stat(dir); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("datasets: Fashion-MNIST directory %s does not exist (%w); %s",
				dir, err, fashionMNISTInstallHint)
		}
		return nil, fmt.Errorf("datasets: Fashion-MNIST: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("datasets: Fashion-MNIST: %s is not a directory; %s", dir, fashionMNISTInstallHint)
	}
	paths := make([]string, len(fashionMNISTFiles))
	for i, name := range fashionMNISTFiles {
		p, err := findFile(dir, name)
		if err != nil {
			return nil, err
		}
		paths[i] = p
	}
	return paths, nil
}

// findFile returns the path of name (ending in .gz) in dir, or of name
// without .gz if only that exists.
func findFile(dir, name string) (string, error) {
	p := filepath.Join(dir, name)
	_, err := os.Stat(p)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("datasets: Fashion-MNIST: %w", err)
	}
	plain := p[:len(p)-len(".gz")]
	if _, err2 := os.Stat(plain); err2 == nil {
		return plain, nil
	}
	return "", fmt.Errorf("datasets: Fashion-MNIST file %s (or %s) is missing (%w); %s",
		p, filepath.Base(plain), err, fashionMNISTInstallHint)
}

func loadFashionPart(images, labels, name string) (*Dataset, error) {
	d, err := LoadIDX(images, labels)
	if err != nil {
		return nil, err
	}
	if d.Shape[1] != 28 || d.Shape[2] != 28 {
		return nil, fmt.Errorf("%s: Fashion-MNIST images are 28x28, this file has %dx%d", images, d.Shape[1], d.Shape[2])
	}
	for i, y := range d.Y {
		if y >= FashionMNISTClasses {
			return nil, fmt.Errorf("%s: label %d of sample %d is not a Fashion-MNIST class (0..%d)", labels, y, i, FashionMNISTClasses-1)
		}
	}
	d.Name = name
	d.Classes = FashionMNISTClasses
	return d, nil
}
