package lang

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// ComponentSpec describes a component of the standard library as the
// checker, `mlpipe doc` and editors see it. It is derived once from the
// component's declaration.
type ComponentSpec struct {
	Name     string
	Category Kind // the group it is listed under: data, model, loss, ...
	Doc      string
	Example  string // one line of .mlp showing a typical call
	Params   []ParamSpec
	Result   Type // the result type when the arguments do not refine it
}

// Param returns the parameter called name and whether it exists.
func (c *ComponentSpec) Param(name string) (*ParamSpec, bool) {
	for i := range c.Params {
		if c.Params[i].Name == name {
			return &c.Params[i], true
		}
	}
	return nil, false
}

// ParamNames lists the parameter names in declaration order.
func (c *ComponentSpec) ParamNames() []string {
	out := make([]string, len(c.Params))
	for i, p := range c.Params {
		out[i] = p.Name
	}
	return out
}

// ParamSpec describes one parameter of a component.
type ParamSpec struct {
	Name       string
	Type       Type
	Doc        string
	Required   bool // no default: the caller must give it
	Positional bool // may be given without its name, in declaration order
	Default    any  // the default value (int64, float64, string, bool, []any), nil if none
	Enum       []string
	Range      *Range // for int and float parameters (and their lists)
}

// Range is an interval of allowed numbers. Open ends exclude the bound; an
// infinite bound is math.Inf.
type Range struct {
	Min, Max         float64
	MinOpen, MaxOpen bool
}

// ParseRange parses interval notation such as "[0,1]", "(0,inf)" or
// "[1,1024]".
func ParseRange(s string) (*Range, error) {
	s = strings.TrimSpace(s)
	if len(s) < 5 {
		return nil, fmt.Errorf("range %q: want interval notation like [0,1) or (0,inf)", s)
	}
	r := &Range{}
	switch s[0] {
	case '[':
	case '(':
		r.MinOpen = true
	default:
		return nil, fmt.Errorf("range %q: must start with [ or (", s)
	}
	switch s[len(s)-1] {
	case ']':
	case ')':
		r.MaxOpen = true
	default:
		return nil, fmt.Errorf("range %q: must end with ] or )", s)
	}
	lo, hi, ok := strings.Cut(s[1:len(s)-1], ",")
	if !ok {
		return nil, fmt.Errorf("range %q: want two bounds separated by a comma", s)
	}
	var err error
	if r.Min, err = parseBound(lo); err != nil {
		return nil, fmt.Errorf("range %q: %w", s, err)
	}
	if r.Max, err = parseBound(hi); err != nil {
		return nil, fmt.Errorf("range %q: %w", s, err)
	}
	if r.Min > r.Max {
		return nil, fmt.Errorf("range %q: lower bound above upper bound", s)
	}
	return r, nil
}

func parseBound(s string) (float64, error) {
	switch s = strings.TrimSpace(s); s {
	case "inf", "+inf":
		return math.Inf(1), nil
	case "-inf":
		return math.Inf(-1), nil
	}
	return strconv.ParseFloat(s, 64)
}

// Contains reports whether x lies in r.
func (r *Range) Contains(x float64) bool {
	if math.IsNaN(x) {
		return false
	}
	if x < r.Min || (r.MinOpen && x == r.Min) {
		return false
	}
	if x > r.Max || (r.MaxOpen && x == r.Max) {
		return false
	}
	return true
}

// String returns r in interval notation.
func (r *Range) String() string {
	open, close := "[", "]"
	if r.MinOpen {
		open = "("
	}
	if r.MaxOpen {
		close = ")"
	}
	return open + formatBound(r.Min) + ", " + formatBound(r.Max) + close
}

// Describe returns r in words, as used in messages: "> 0", "in [0, 1]".
func (r *Range) Describe() string {
	lo, hi := math.IsInf(r.Min, -1), math.IsInf(r.Max, 1)
	switch {
	case lo && hi:
		return "any number"
	case hi && r.MinOpen:
		return "> " + formatBound(r.Min)
	case hi:
		return ">= " + formatBound(r.Min)
	case lo && r.MaxOpen:
		return "< " + formatBound(r.Max)
	case lo:
		return "<= " + formatBound(r.Max)
	}
	return "in " + r.String()
}

func formatBound(x float64) string {
	switch {
	case math.IsInf(x, 1):
		return "inf"
	case math.IsInf(x, -1):
		return "-inf"
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// FormatValue renders a constant (int64, float64, string, bool or []any) as
// .mlp source text.
func FormatValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "none"
	case int64:
		return strconv.FormatInt(v, 10)
	case int:
		return strconv.Itoa(v)
	case float64:
		return FormatFloat(v)
	case string:
		return strconv.Quote(v)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		parts := make([]string, len(v))
		for i, e := range v {
			parts[i] = FormatValue(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// FormatFloat renders x so that it reads back as a float: 0.001 → "0.001",
// 3 → "3.0", 1e-08 → "1e-08".
func FormatFloat(x float64) string {
	s := strconv.FormatFloat(x, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEnN") { // n, N: Inf, NaN
		s += ".0"
	}
	return s
}
