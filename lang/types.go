package lang

import (
	"fmt"
	"strings"
)

// Type is the static type the checker gives an expression: a *Basic, a
// *List or an *Object.
type Type interface {
	String() string
	typeNode()
}

// Basic is a scalar type.
type Basic struct{ name string }

// The basic types. Invalid is the type of an expression that already has an
// error: it is assignable to and from everything, so one mistake is
// reported once.
var (
	Invalid = &Basic{"invalid"}
	Int     = &Basic{"int"}
	Float   = &Basic{"float"}
	Bool    = &Basic{"bool"}
	String  = &Basic{"string"}
)

func (b *Basic) String() string { return b.name }
func (*Basic) typeNode()        {}

// List is a list whose elements have type Elem. The empty list literal has
// element type Invalid and is assignable to every list type. Items, when
// not nil, holds the precise type of each element of a list literal.
type List struct {
	Elem  Type
	Items []Type
}

func (l *List) String() string { return "list of " + l.Elem.String() }
func (*List) typeNode()        {}

// ListOf returns the list type with elements of type elem.
func ListOf(elem Type) *List { return &List{Elem: elem} }

// Kind names what a pipeline value is: a data set, a model, a loss, ...
type Kind string

// The kinds of pipeline values.
const (
	KindData      Kind = "data"      // a loaded data set with splits (train, validation, test)
	KindDataset   Kind = "dataset"   // one split: samples and labels
	KindTransform Kind = "transform" // a data transform or augmentation
	KindModel     Kind = "model"     // an architecture, trained or not
	KindLoss      Kind = "loss"      // a training objective
	KindOptimizer Kind = "optimizer" // an optimisation algorithm
	KindMetric    Kind = "metric"    // an evaluation metric
	KindAttack    Kind = "attack"    // an adversarial attack
	KindTrained   Kind = "trained"   // the result of training
	KindMetrics   Kind = "metrics"   // the result of evaluation
	KindReport    Kind = "report"    // a written report
)

// Object is the type of a pipeline value of some Kind. In and Out carry the
// statically known widths, 0 when unknown: for a model its input and output
// width; for a data set its number of features (In) and of classes (Out).
// Shape is a data set's per-sample shape when known. Layers is a model's
// structure when the checker knows it (nil when not), so that shapes can be
// followed from the data through every layer before anything runs. Fields
// lists what member access (x.name) may select. Attrs holds further
// statically known settings a consumer may check, such as an attack's norm
// ("norm": "linf"); they do not affect assignability.
type Object struct {
	Kind   Kind
	In     int
	Out    int
	Shape  []int
	Layers []Layer
	Fields []Field
	Attrs  map[string]string
}

// Layer is one layer of a model's static structure, as its component
// declares it: Kind names the layer ("linear", "activation", "batch_norm",
// "conv2d", "max_pool", "global_avg_pool", "flatten"); the sizes are 0
// where the layer leaves them to what reaches it.
type Layer struct {
	Kind                    string
	In, Out                 int
	Kernel, Stride, Padding int
	Bias                    bool
	Activation              string
}

// Field is a member of an Object type.
type Field struct {
	Name string
	Type Type
	Doc  string
}

func (o *Object) String() string {
	var dims []string
	in, out := "in %d", "out %d"
	if o.Kind == KindData || o.Kind == KindDataset {
		in, out = "%d features", "%d classes"
	}
	if o.In > 0 {
		dims = append(dims, fmt.Sprintf(in, o.In))
	}
	if o.Out > 0 {
		dims = append(dims, fmt.Sprintf(out, o.Out))
	}
	if len(dims) == 0 {
		return string(o.Kind)
	}
	return fmt.Sprintf("%s (%s)", o.Kind, strings.Join(dims, ", "))
}
func (*Object) typeNode() {}

// Field returns the field called name and whether it exists.
func (o *Object) Field(name string) (Field, bool) {
	for _, f := range o.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// FieldNames lists the names of o's fields in order.
func (o *Object) FieldNames() []string {
	names := make([]string, len(o.Fields))
	for i, f := range o.Fields {
		names[i] = f.Name
	}
	return names
}

// ObjectOf returns a plain object type of kind k with no known widths.
func ObjectOf(k Kind) *Object { return &Object{Kind: k} }

// AssignableTo reports whether a value of type from may be used where a
// value of type to is expected: identical basic types, int where float is
// expected, lists element-wise, objects of the same kind, and Invalid
// anywhere.
func AssignableTo(from, to Type) bool {
	if from == Invalid || to == Invalid {
		return true
	}
	switch t := to.(type) {
	case *Basic:
		f, ok := from.(*Basic)
		return ok && (f == t || (f == Int && t == Float))
	case *List:
		f, ok := from.(*List)
		return ok && AssignableTo(f.Elem, t.Elem)
	case *Object:
		f, ok := from.(*Object)
		return ok && f.Kind == t.Kind
	}
	return false
}

// Describe returns a short phrase for t used in messages, with an article:
// "an int", "a list of float", "a model (in 64, out 10)".
func Describe(t Type) string {
	s := t.String()
	switch s[0] {
	case 'a', 'e', 'i', 'o', 'u':
		return "an " + s
	}
	return "a " + s
}
