// Package value defines the run-time values that flow between the
// components of the standard library: data sets, models, losses,
// optimisers, metrics and the results of training and evaluation. Each
// implements interp.Value, and its Type agrees with the static type the
// checker infers from the component's Infer function.
package value

import (
	"fmt"
	"sort"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/stdlib/datasets"
)

// DatasetType returns the static type of a data set with the given per-sample
// shape and number of classes (zeros when unknown).
func DatasetType(shape []int, classes int) *lang.Object {
	features := 0
	if len(shape) > 0 {
		features = 1
		for _, d := range shape {
			features *= d
		}
	}
	return &lang.Object{Kind: lang.KindDataset, In: features, Out: classes, Shape: shape, Fields: []lang.Field{
		{Name: "size", Type: lang.Int, Doc: "Number of samples."},
	}}
}

// DataType returns the static type of a loaded data set with splits: each
// split named in splits is a member of type DatasetType(shape, classes).
func DataType(shape []int, classes int, splits ...string) *lang.Object {
	ds := DatasetType(shape, classes)
	o := &lang.Object{Kind: lang.KindData, In: ds.In, Out: classes, Shape: shape}
	for _, s := range splits {
		o.Fields = append(o.Fields, lang.Field{Name: s, Type: ds, Doc: "The " + s + " split."})
	}
	return o
}

// Dataset is one split of a data set.
type Dataset struct {
	D *datasets.Dataset
}

// Type returns the data set's type, with its shape and class count.
func (d *Dataset) Type() lang.Type { return DatasetType(d.D.Shape, d.D.Classes) }

// Select returns the member called name ("size").
func (d *Dataset) Select(name string) (any, error) {
	if name == "size" {
		return int64(d.D.N), nil
	}
	return nil, fmt.Errorf("a dataset has no member %q", name)
}

// Data is a loaded data set with named splits (train, validation, test).
type Data struct {
	Name    string
	Splits  map[string]*datasets.Dataset
	Order   []string // split names in declaration order
	Shape   []int
	Classes int
}

// Type returns the type listing the splits as members.
func (d *Data) Type() lang.Type { return DataType(d.Shape, d.Classes, d.Order...) }

// Select returns the split called name.
func (d *Data) Select(name string) (any, error) {
	s, ok := d.Splits[name]
	if !ok {
		names := append([]string(nil), d.Order...)
		sort.Strings(names)
		return nil, fmt.Errorf("data set %s has no split %q (it has %v)", d.Name, name, names)
	}
	return &Dataset{D: s}, nil
}

var (
	_ interp.Selector = (*Dataset)(nil)
	_ interp.Selector = (*Data)(nil)
)
