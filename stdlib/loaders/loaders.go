// Package loaders declares the data components of the standard library:
// the embedded digits set, Fashion-MNIST, generic IDX and CSV loaders, and
// limit. Each loads files named by its parameters (relative paths are
// relative to the pipeline file) and returns a value.Data with train, test
// and optionally validation splits.
package loaders

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/datasets"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// Register adds the data components to r.
func Register(r *interp.Registry) {
	interp.Register(r, digitsDef)
	interp.Register(r, fashionDef)
	interp.Register(r, idxDef)
	interp.Register(r, csvDef)
	interp.Register(r, limitDef)
}

// splitNames lists the splits a loader returns.
func splitNames(validation float64) []string {
	if validation > 0 {
		return []string{"train", "validation", "test"}
	}
	return []string{"train", "test"}
}

// finish applies limit and the validation split to train and test and
// returns the data value. All splits share the largest class count.
func finish(name string, train, test *datasets.Dataset, validation float64, limit int, seed int64) (*value.Data, error) {
	if limit > 0 {
		train = train.Shuffle(seed).Limit(limit)
		test = test.Shuffle(seed + 1).Limit(limit)
	}
	d := &value.Data{Name: name, Splits: map[string]*datasets.Dataset{}, Shape: train.Shape}
	classes := max(train.Classes, test.Classes)
	if validation > 0 {
		rest, val, err := train.Split(validation, seed+2)
		if err != nil {
			return nil, err
		}
		if val.N == 0 || rest.N == 0 {
			return nil, interp.ArgErrorf("validation", "validation fraction %g leaves an empty split of %d training samples", validation, train.N)
		}
		train = rest
		d.Splits["validation"] = val
	}
	d.Splits["train"], d.Splits["test"] = train, test
	d.Order = splitNames(validation)
	for _, s := range d.Splits {
		s.Classes = classes
	}
	d.Classes = classes
	return d, nil
}

// resolve interprets path relative to the directory of the pipeline file
// that names it.
func resolve(env *interp.Env, path string) string { return resolveAt(env.Span, path) }

// resolveAt interprets path relative to the directory of the file of at.
func resolveAt(at lang.Span, path string) string {
	if filepath.IsAbs(path) || at.File == "" {
		return path
	}
	return filepath.Join(filepath.Dir(at.File), path)
}

// hashFiles fingerprints the files at paths, relative to at's file.
func hashFiles(ctx context.Context, at lang.Span, paths ...string) ([]interp.DataFile, error) {
	out := make([]interp.DataFile, 0, len(paths))
	for _, p := range paths {
		if p == "" {
			continue
		}
		f, err := interp.HashFile(ctx, resolveAt(at, p))
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// DigitsArgs are the parameters of digits.
type DigitsArgs struct {
	Test       float64 `mlp:"test" doc:"Fraction of the 1797 samples held out as the test split." range:"(0,1)"`
	Validation float64 `mlp:"validation" doc:"Fraction of the remaining samples held out as the validation split (0: none)." range:"[0,1)"`
	Limit      int     `mlp:"limit" doc:"Use at most this many samples in all (0: all)." range:"[0,inf)"`
}

var digitsDef = interp.Def[DigitsArgs]{
	Name:     "digits",
	Category: lang.KindData,
	Doc:      "The UCI optical digits (8x8 images, 10 classes, 1797 samples), embedded in mlpipe: pixels scaled to [0,1], split by a seeded shuffle.",
	Example:  "data = digits(test: 0.2)",
	Result:   value.DataType([]int{8, 8}, 10, "train", "test"),
	Defaults: DigitsArgs{Test: 0.2},
	Infer: func(a *DigitsArgs) (lang.Type, error) {
		return value.DataType([]int{8, 8}, 10, splitNames(a.Validation)...), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *DigitsArgs) (interp.Value, error) {
		all, err := datasets.Digits()
		if err != nil {
			return nil, err
		}
		if a.Limit > 0 {
			all = all.Shuffle(env.Seed()).Limit(a.Limit)
		}
		train, test, err := all.Split(a.Test, env.Seed())
		if err != nil {
			return nil, err
		}
		if train.N == 0 || test.N == 0 {
			return nil, interp.ArgErrorf("test", "test fraction %g of %d samples leaves an empty split", a.Test, all.N)
		}
		return finish("digits", train, test, a.Validation, 0, env.Seed())
	},
	Fingerprint: func(ctx context.Context, at lang.Span, a *DigitsArgs) ([]interp.DataFile, error) {
		return []interp.DataFile{{Path: datasets.DigitsFile, Digest: "sha256:" + datasets.DigitsSHA256, Size: datasets.DigitsSize()}}, nil
	},
}

// FashionArgs are the parameters of fashion_mnist.
type FashionArgs struct {
	Dir        string  `mlp:"dir" doc:"Directory holding the four IDX files; empty means $MLPIPE_DATA/fashion-mnist if MLPIPE_DATA is set, else /usr/share/datasets/fashion-mnist."`
	Validation float64 `mlp:"validation" doc:"Fraction of the 60000 training samples held out as the validation split (0: none)." range:"[0,1)"`
	Limit      int     `mlp:"limit" doc:"Use at most this many samples of each of train and test, drawn by a seeded shuffle (0: all)." range:"[0,inf)"`
}

var fashionDef = interp.Def[FashionArgs]{
	Name:     "fashion_mnist",
	Category: lang.KindData,
	Doc:      "Fashion-MNIST (28x28 grayscale, 10 classes, 60000 train / 10000 test) from its IDX files: pixels scaled to [0,1]. Install with: apt-get install -y dataset-fashion-mnist.",
	Example:  "data = fashion_mnist(validation: 0.1)",
	Result:   value.DataType([]int{1, 28, 28}, 10, "train", "test"),
	Infer: func(a *FashionArgs) (lang.Type, error) {
		return value.DataType([]int{1, 28, 28}, 10, splitNames(a.Validation)...), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *FashionArgs) (interp.Value, error) {
		train, test, err := datasets.LoadFashionMNIST(fashionDir(env.Span, a))
		if err != nil {
			return nil, err
		}
		return finish("fashion_mnist", train, test, a.Validation, a.Limit, env.Seed())
	},
	Fingerprint: func(ctx context.Context, at lang.Span, a *FashionArgs) ([]interp.DataFile, error) {
		paths, err := datasets.FashionMNISTFiles(fashionDir(at, a))
		if err != nil {
			return nil, err
		}
		return hashFiles(ctx, lang.Span{}, paths...)
	},
}

// fashionDir is the directory fashion_mnist reads, called at at.
func fashionDir(at lang.Span, a *FashionArgs) string {
	switch {
	case a.Dir != "":
		return resolveAt(at, a.Dir)
	case os.Getenv("MLPIPE_DATA") != "":
		return filepath.Join(os.Getenv("MLPIPE_DATA"), "fashion-mnist")
	}
	return datasets.DefaultFashionMNISTDir
}

// IDXArgs are the parameters of idx.
type IDXArgs struct {
	TrainImages string  `mlp:"train_images" doc:"IDX file of training images (uint8, optionally gzipped)." required:"true"`
	TrainLabels string  `mlp:"train_labels" doc:"IDX file of training labels." required:"true"`
	TestImages  string  `mlp:"test_images" doc:"IDX file of test images." required:"true"`
	TestLabels  string  `mlp:"test_labels" doc:"IDX file of test labels." required:"true"`
	Validation  float64 `mlp:"validation" doc:"Fraction of the training samples held out as the validation split (0: none)." range:"[0,1)"`
	Limit       int     `mlp:"limit" doc:"Use at most this many samples of each of train and test (0: all)." range:"[0,inf)"`
}

var idxDef = interp.Def[IDXArgs]{
	Name:     "idx",
	Category: lang.KindData,
	Doc:      "A data set in IDX files (the MNIST format): uint8 images scaled to [0,1] and uint8 labels; paths are relative to the pipeline file.",
	Example:  `data = idx(train_images: "train-images-idx3-ubyte.gz", train_labels: "train-labels-idx1-ubyte.gz", test_images: "t10k-images-idx3-ubyte.gz", test_labels: "t10k-labels-idx1-ubyte.gz")`,
	Result:   value.DataType(nil, 0, "train", "test"),
	Infer: func(a *IDXArgs) (lang.Type, error) {
		return value.DataType(nil, 0, splitNames(a.Validation)...), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *IDXArgs) (interp.Value, error) {
		train, err := datasets.LoadIDX(resolve(env, a.TrainImages), resolve(env, a.TrainLabels))
		if err != nil {
			return nil, err
		}
		test, err := datasets.LoadIDX(resolve(env, a.TestImages), resolve(env, a.TestLabels))
		if err != nil {
			return nil, err
		}
		if train.Features() != test.Features() {
			return nil, fmt.Errorf("train images have %v pixels each but test images %v", train.Shape, test.Shape)
		}
		return finish("idx", train, test, a.Validation, a.Limit, env.Seed())
	},
	Fingerprint: func(ctx context.Context, at lang.Span, a *IDXArgs) ([]interp.DataFile, error) {
		return hashFiles(ctx, at, a.TrainImages, a.TrainLabels, a.TestImages, a.TestLabels)
	},
}

// CSVArgs are the parameters of csv.
type CSVArgs struct {
	Train      string  `mlp:"train" doc:"CSV file of training samples: numbers, one sample a row." required:"true"`
	Test       string  `mlp:"test" doc:"CSV file of test samples; empty: hold out test_fraction of the training file."`
	TestFrac   float64 `mlp:"test_fraction" doc:"Fraction of the training file held out as the test split when test is empty." range:"(0,1)"`
	Label      int     `mlp:"label" doc:"Column of the label: 1 is the first, -1 the last."`
	Header     bool    `mlp:"header" doc:"The first line is a header."`
	Scale      float64 `mlp:"scale" doc:"Divide every feature by this (255 for bytes)." range:"(0,inf)"`
	Validation float64 `mlp:"validation" doc:"Fraction of the training samples held out as the validation split (0: none)." range:"[0,1)"`
	Limit      int     `mlp:"limit" doc:"Use at most this many samples of each of train and test (0: all)." range:"[0,inf)"`
}

var csvDef = interp.Def[CSVArgs]{
	Name:     "csv",
	Category: lang.KindData,
	Doc:      "A labelled data set in numeric CSV files (optionally gzipped); paths are relative to the pipeline file.",
	Example:  `data = csv(train: "train.csv", test: "test.csv", label: -1, scale: 255.0)`,
	Result:   value.DataType(nil, 0, "train", "test"),
	Defaults: CSVArgs{TestFrac: 0.2, Label: -1, Scale: 1},
	Infer: func(a *CSVArgs) (lang.Type, error) {
		if a.Label == 0 {
			return nil, interp.ArgErrorf("label", "label column 0 does not exist: columns count from 1 (or from -1 for the last)")
		}
		return value.DataType(nil, 0, splitNames(a.Validation)...), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *CSVArgs) (interp.Value, error) {
		opts := datasets.CSVOptions{LabelColumn: a.Label, Header: a.Header, Scale: a.Scale}
		train, err := datasets.LoadCSV(resolve(env, a.Train), opts)
		if err != nil {
			return nil, err
		}
		var test *datasets.Dataset
		if a.Test != "" {
			if test, err = datasets.LoadCSV(resolve(env, a.Test), opts); err != nil {
				return nil, err
			}
			if test.Features() != train.Features() {
				return nil, fmt.Errorf("%s has %d features per row but %s has %d", a.Test, test.Features(), a.Train, train.Features())
			}
		} else {
			if train, test, err = train.Split(a.TestFrac, env.Seed()); err != nil {
				return nil, err
			}
		}
		return finish("csv", train, test, a.Validation, a.Limit, env.Seed())
	},
	Fingerprint: func(ctx context.Context, at lang.Span, a *CSVArgs) ([]interp.DataFile, error) {
		return hashFiles(ctx, at, a.Train, a.Test)
	},
}

// LimitArgs are the parameters of limit.
type LimitArgs struct {
	Dataset interp.Value `mlp:"dataset,positional" doc:"The data set to cut." kind:"dataset"`
	N       int          `mlp:"n,positional" doc:"Keep at most this many samples." range:"[1,inf)" required:"true"`
	Shuffle bool         `mlp:"shuffle" doc:"Draw the samples by a seeded shuffle instead of taking the first n."`
}

var limitDef = interp.Def[LimitArgs]{
	Name:     "limit",
	Category: lang.KindData,
	Doc:      "The first n samples of a data set (or n drawn by a seeded shuffle).",
	Example:  "small = limit(data.train, 500)",
	Result:   value.DatasetType(nil, 0),
	Infer: func(a *LimitArgs) (lang.Type, error) {
		return interp.TypeOf(a.Dataset), nil
	},
	Build: func(ctx context.Context, env *interp.Env, a *LimitArgs) (interp.Value, error) {
		d := a.Dataset.(*value.Dataset).D
		if a.Shuffle {
			d = d.Shuffle(env.Seed())
		}
		return &value.Dataset{D: d.Limit(a.N)}, nil
	},
}
