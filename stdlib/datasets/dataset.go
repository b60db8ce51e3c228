package datasets

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
)

// Dataset is an in-memory labelled data set: N samples, each a row of
// Features() float32 values in X (row-major, sample i is
// X[i*Features() : (i+1)*Features()]), and an int32 class label per sample
// in Y, in [0, Classes).
//
// The methods other than Validate assume that d is valid (see Validate);
// every loader of this package returns valid Datasets, and the methods
// return valid Datasets when given one.
type Dataset struct {
	// Name is a short human-readable name, e.g. "digits" or
	// "fashion-mnist/train".
	Name string
	// X holds the features, N*Features() values, sample after sample.
	X []float32
	// Y holds the N class labels.
	Y []int32
	// N is the number of samples.
	N int
	// Shape is the shape of one sample, e.g. [1 28 28] (channels, rows,
	// columns) for an IDX image or [k] for a CSV row of k features.
	Shape []int
	// Classes is the number of classes; every label is in [0, Classes).
	Classes int
	// Source lists the files the data was read from, for provenance.
	Source []string
}

// Features returns the number of values per sample, the product of Shape.
// It returns 0 if Shape is empty, has a dimension < 1, or its product
// overflows int; Validate reports those cases.
func (d *Dataset) Features() int {
	f, err := shapeSize(d.Shape)
	if err != nil {
		return 0
	}
	return f
}

// shapeSize returns the product of shape, or an error if shape is empty, has
// a dimension < 1 or the product overflows int.
func shapeSize(shape []int) (int, error) {
	if len(shape) == 0 {
		return 0, errors.New("shape is empty")
	}
	p := 1
	for i, s := range shape {
		if s < 1 {
			return 0, fmt.Errorf("shape %v: dimension %d is %d, want >= 1", shape, i, s)
		}
		if p > math.MaxInt/s {
			return 0, fmt.Errorf("shape %v: product overflows int", shape)
		}
		p *= s
	}
	return p, nil
}

// Validate checks d's internal consistency: N >= 0, a valid Shape,
// len(X) == N*Features(), len(Y) == N, Classes >= 1, every label in
// [0, Classes) and every feature value finite. Loaders return only
// Datasets that Validate.
func (d *Dataset) Validate() error {
	if err := d.validate(); err != nil {
		return fmt.Errorf("datasets: data set %q: %w", d.Name, err)
	}
	return nil
}

func (d *Dataset) validate() error {
	if d.N < 0 {
		return fmt.Errorf("sample count N is %d, want >= 0", d.N)
	}
	f, err := shapeSize(d.Shape)
	if err != nil {
		return err
	}
	if d.N > 0 && f > math.MaxInt/d.N {
		return fmt.Errorf("size N*Features = %d*%d overflows int", d.N, f)
	}
	if len(d.X) != d.N*f {
		return fmt.Errorf("len(X) is %d, want N*Features = %d*%d = %d", len(d.X), d.N, f, d.N*f)
	}
	if len(d.Y) != d.N {
		return fmt.Errorf("len(Y) is %d, want N = %d", len(d.Y), d.N)
	}
	if d.Classes < 1 {
		return fmt.Errorf("class count Classes is %d, want >= 1", d.Classes)
	}
	for i, y := range d.Y {
		if y < 0 || int64(y) >= int64(d.Classes) {
			return fmt.Errorf("sample %d: label %d not in [0, %d)", i, y, d.Classes)
		}
	}
	for i, x := range d.X {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return fmt.Errorf("sample %d: feature %d is %v", i/f, i%f, x)
		}
	}
	return nil
}

// derive returns a Dataset with d's metadata (copied) and the given data.
func (d *Dataset) derive(x []float32, y []int32) *Dataset {
	return &Dataset{
		Name:    d.Name,
		X:       x,
		Y:       y,
		N:       len(y),
		Shape:   slices.Clone(d.Shape),
		Classes: d.Classes,
		Source:  slices.Clone(d.Source),
	}
}

// Subset returns a new Dataset holding copies of the samples idx[0],
// idx[1], ... of d, in that order; an index may repeat. Shape, Classes,
// Name and Source are kept. Like slice indexing, Subset panics if an index
// is outside [0, N).
func (d *Dataset) Subset(idx []int) *Dataset {
	f := d.Features()
	x := make([]float32, len(idx)*f)
	y := make([]int32, len(idx))
	for k, i := range idx {
		if i < 0 || i >= d.N {
			panic(fmt.Sprintf("datasets: Subset index %d out of range [0, %d)", i, d.N))
		}
		copy(x[k*f:(k+1)*f], d.X[i*f:(i+1)*f])
		y[k] = d.Y[i]
	}
	return d.derive(x, y)
}

// Shuffle returns a new Dataset holding copies of d's samples in a
// pseudo-random order that depends only on seed and N: the same on every
// platform and every run.
//
// The order is a Fisher-Yates shuffle of 0..N-1 (for i from N-1 down to 1,
// swap i with j uniform in [0, i]) driven by math/rand/v2's PCG generator
// created with rand.NewPCG(uint64(seed), 0); j is drawn from the generator's
// 64-bit outputs by Lemire's multiply-and-reject method, without going
// through rand.Rand (whose bounded draws differ between 32- and 64-bit
// platforms).
func (d *Dataset) Shuffle(seed int64) *Dataset {
	return d.Subset(permutation(d.N, seed))
}

// permutation returns the permutation of 0..n-1 described at Shuffle.
func permutation(n int, seed int64) []int {
	src := rand.NewPCG(uint64(seed), 0)
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	for i := n - 1; i > 0; i-- {
		j := int(uniform(src, uint64(i)+1))
		p[i], p[j] = p[j], p[i]
	}
	return p
}

// uniform returns a uniformly distributed value in [0, n), n > 0, from src
// (Lemire, "Fast Random Integer Generation in an Interval", 2019).
func uniform(src *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(src.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(src.Uint64(), n)
		}
	}
	return hi
}

// Limit returns a Dataset with the first n samples of d, or all of them if
// n >= N (n < 0 counts as 0). The result shares the memory of X and Y with
// d (capacity-limited, so appending to it never overwrites d); use Subset
// for a copy.
func (d *Dataset) Limit(n int) *Dataset {
	n = max(0, min(n, d.N))
	f := d.Features()
	return d.derive(d.X[:n*f:n*f], d.Y[:n:n])
}

// Split shuffles d as Shuffle(seed) does and cuts the result in two: b gets
// the last round(frac*N) samples of the shuffled order and a the rest
// (either may be empty). Both are copies. frac must be in [0, 1).
//
// Typical use: train, test, err := d.Split(0.2, seed).
func (d *Dataset) Split(frac float64, seed int64) (a, b *Dataset, err error) {
	if !(frac >= 0 && frac < 1) {
		return nil, nil, fmt.Errorf("datasets: data set %q: split fraction %v not in [0, 1)", d.Name, frac)
	}
	if err := d.Validate(); err != nil {
		return nil, nil, err
	}
	k := int(math.Round(frac * float64(d.N)))
	p := permutation(d.N, seed)
	return d.Subset(p[:d.N-k]), d.Subset(p[d.N-k:]), nil
}
