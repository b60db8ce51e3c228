package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlpipe/mlpipe/stdlib/datasets"
)

// FashionMNIST is met when the Fashion-MNIST files are where the
// fashion_mnist loader (and the twin scripts) look for them:
// $MLPIPE_DATA/fashion-mnist if MLPIPE_DATA is set, else
// /usr/share/datasets/fashion-mnist.
var FashionMNIST = Need{Name: "Fashion-MNIST", Check: checkFashionMNIST}

// FashionMNISTDir returns the directory the fashion_mnist loader reads by
// default.
func FashionMNISTDir() string {
	if d := os.Getenv("MLPIPE_DATA"); d != "" {
		return filepath.Join(d, "fashion-mnist")
	}
	return datasets.DefaultFashionMNISTDir
}

func checkFashionMNIST(Options) error {
	dir := FashionMNISTDir()
	var missing []string
	for _, name := range []string{"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"} {
		_, errGz := os.Stat(filepath.Join(dir, name+".gz"))
		_, errPlain := os.Stat(filepath.Join(dir, name))
		if errGz != nil && errPlain != nil {
			missing = append(missing, name+".gz")
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("Fashion-MNIST not found in %s (missing %s): install it with "+
			"`apt-get install -y dataset-fashion-mnist`, or set MLPIPE_DATA to a directory whose "+
			"fashion-mnist subdirectory holds the IDX files", dir, strings.Join(missing, ", "))
	}
	return nil
}

// pipelineNeed is met when the repository's pipeline file rel (such as
// "pipelines/fashion_mlp.mlp") exists under Options.Root.
func pipelineNeed(rel string) Need {
	return Need{Name: rel, Check: func(o Options) error {
		p := filepath.Join(o.Root, rel)
		if _, err := os.Stat(p); err != nil {
			return fmt.Errorf("%s not found (%v): run mlpipe bench inside the mlpipe repository, or give it with --repo DIR", rel, err)
		}
		return nil
	}}
}
