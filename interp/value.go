package interp

import (
	"fmt"

	"github.com/mlpipe/mlpipe/lang"
)

// Value is a run-time pipeline value of some kind: a data set, a model, a
// loss, the result of training, .... Scalars (int64, float64, string, bool)
// and lists ([]any) flow through the interpreter as plain Go values.
type Value interface {
	// Type returns the value's static type; for a value built from checked
	// arguments it agrees with the type the checker inferred.
	Type() lang.Type
}

// Selector is a Value with members, selected by x.name in the language.
type Selector interface {
	Value
	// Select returns the member called name: a Value or a scalar.
	Select(name string) (any, error)
}

// Static stands for a value while checking: it carries only the type the
// checker inferred. Infer functions see Static values in their reference
// parameters.
type Static struct{ T lang.Type }

// Type returns the carried type.
func (s Static) Type() lang.Type { return s.T }

// TypeOf returns the static type of v, or lang.Invalid for nil.
func TypeOf(v Value) lang.Type {
	if v == nil {
		return lang.Invalid
	}
	return v.Type()
}

// ObjectOf returns the object type of v, or nil when v is nil or not an
// object (or an already invalid reference).
func ObjectOf(v Value) *lang.Object {
	if v == nil {
		return nil
	}
	o, _ := v.Type().(*lang.Object)
	return o
}

// Term is one weighted term of a sum of values, such as 0.1 * orthogonality().
type Term struct {
	Weight float64
	Value  Value
}

// ArgError is returned by Infer and Build functions to blame one parameter;
// the checker reports it at that argument's position (or at the call when
// the argument was not given).
type ArgError struct {
	Param string
	Msg   string
}

// Error returns the message.
func (e *ArgError) Error() string { return e.Msg }

// ArgErrorf returns an *ArgError for param.
func ArgErrorf(param, format string, args ...any) error {
	return &ArgError{Param: param, Msg: fmt.Sprintf(format, args...)}
}
