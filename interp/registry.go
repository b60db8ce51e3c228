package interp

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/mlpipe/mlpipe/lang"
)

// Def declares one component: everything the checker, the documentation and
// the executor need. A is the component's argument struct; each exported
// field with an `mlp` tag is a parameter:
//
//	type AdamArgs struct {
//		LR float64 `mlp:"lr" doc:"Learning rate." range:"(0,inf)"`
//	}
//
// Tags: mlp:"name[,positional]" names the parameter (positional ones may be
// given without their name, in field order); doc is required; range gives an
// interval for numbers (and list elements); enum lists the allowed strings;
// kind gives the kind of a reference (Value or []Value field); required:"true"
// makes a scalar parameter required, optional:"true" makes a reference
// optional. Field types: bool, int, int64, float64, string, []int,
// []float64, []string, *int64, *float64 (nil: not given), Value and []Value.
// The values in Defaults are the parameters' defaults.
type Def[A any] struct {
	Name     string
	Category lang.Kind
	Doc      string
	Example  string
	// Result is the result type when Infer is nil or does not refine it.
	Result lang.Type
	// Defaults holds the default value of every parameter.
	Defaults A
	// Infer, if set, runs at check time with the checked arguments (Static
	// values in reference fields, defaults where an argument is not a
	// constant) and returns the precise result type, or an error; an
	// *ArgError blames one parameter.
	Infer func(a *A) (lang.Type, error)
	// Build runs the component with its arguments.
	Build func(ctx context.Context, env *Env, a *A) (Value, error)
	// Version is the version of the component's behaviour, part of the
	// stage-cache key of every stage that calls it: raise it whenever the
	// same arguments would give a different result, so that cached results
	// of the old behaviour are not reused. 0 means 1.
	Version int
	// Fingerprint, if set, lists the data files the component reads for
	// the given arguments (constants only; references are nil) when called
	// at the source position at (relative paths are relative to at.File),
	// with their contents' digests. They are part of the stage-cache key,
	// so a stage re-runs when a file it reads changes, and they are
	// recorded with the run. Use HashFile and HashBytes.
	Fingerprint func(ctx context.Context, at lang.Span, a *A) ([]DataFile, error)
}

// Component is a registered component in type-erased form.
type Component struct {
	Spec        lang.ComponentSpec
	version     int
	infer       func(vals map[string]any) (lang.Type, error)
	build       func(ctx context.Context, env *Env, vals map[string]any) (Value, error)
	fingerprint func(ctx context.Context, at lang.Span, vals map[string]any) ([]DataFile, error)
}

// Version returns the version of the component's behaviour (see
// Def.Version).
func (c *Component) Version() int { return c.version }

// Fingerprint lists the data files the component reads with the given
// constant arguments; nil when it reads none.
func (c *Component) Fingerprint(ctx context.Context, at lang.Span, vals map[string]any) ([]DataFile, error) {
	if c.fingerprint == nil {
		return nil, nil
	}
	return c.fingerprint(ctx, at, vals)
}

// Infer computes the result type for the given argument values (constants,
// Static values for references). Absent parameters take their defaults.
func (c *Component) Infer(vals map[string]any) (lang.Type, error) { return c.infer(vals) }

// Build runs the component with the given argument values.
func (c *Component) Build(ctx context.Context, env *Env, vals map[string]any) (Value, error) {
	return c.build(ctx, env, vals)
}

// PipeFunc composes values of one kind, a | b | c, at run time.
type PipeFunc func(parts []Value) (Value, error)

// SumFunc builds a weighted sum of values of one kind, a + 0.1 * b, at run
// time.
type SumFunc func(terms []Term) (Value, error)

// Registry holds the components a program may call. It is built explicitly
// (see stdlib.Register) and is read-only once built.
type Registry struct {
	comps  map[string]*Component
	pipes  map[lang.Kind]PipeFunc
	sums   map[lang.Kind]SumFunc
	codecs map[lang.Kind]Codec
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{comps: map[string]*Component{}, pipes: map[lang.Kind]PipeFunc{}, sums: map[lang.Kind]SumFunc{}, codecs: map[lang.Kind]Codec{}}
}

// RegisterCodec makes stages whose values are of kind k cacheable: their
// values are encoded into the stage cache after they run and decoded
// instead of running them again. Register codecs for the kinds that are
// expensive to compute (trained models, evaluations), not for those that
// are cheaper to recompute than to store (data sets, architectures).
func (r *Registry) RegisterCodec(k lang.Kind, c Codec) {
	if c.Encode == nil || c.Decode == nil {
		panic(fmt.Sprintf("interp.RegisterCodec %s: Encode and Decode are required", k))
	}
	r.codecs[k] = c
}

// Codec returns the codec of values of kind k.
func (r *Registry) Codec(k lang.Kind) (Codec, bool) { c, ok := r.codecs[k]; return c, ok }

// Lookup returns the component called name.
func (r *Registry) Lookup(name string) (*Component, bool) {
	c, ok := r.comps[name]
	return c, ok
}

// Names returns every component name, sorted.
func (r *Registry) Names() []string {
	out := make([]string, 0, len(r.comps))
	for n := range r.comps {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// All returns every component, sorted by category and name.
func (r *Registry) All() []*Component {
	out := make([]*Component, 0, len(r.comps))
	for _, c := range r.comps {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Spec.Category != out[j].Spec.Category {
			return out[i].Spec.Category < out[j].Spec.Category
		}
		return out[i].Spec.Name < out[j].Spec.Name
	})
	return out
}

// RegisterPipe makes | compose values of kind k.
func (r *Registry) RegisterPipe(k lang.Kind, f PipeFunc) { r.pipes[k] = f }

// RegisterSum makes + and * combine values of kind k.
func (r *Registry) RegisterSum(k lang.Kind, f SumFunc) { r.sums[k] = f }

// CanPipe reports whether values of kind k compose with |.
func (r *Registry) CanPipe(k lang.Kind) bool { _, ok := r.pipes[k]; return ok }

// CanSum reports whether values of kind k combine with + and *.
func (r *Registry) CanSum(k lang.Kind) bool { _, ok := r.sums[k]; return ok }

var namePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

var valueType = reflect.TypeFor[Value]()

// field maps a parameter to its struct field.
type field struct {
	index int
	spec  *lang.ParamSpec
	kind  reflect.Type
}

// Register adds the component declared by d to r. It panics on a malformed
// declaration (bad or duplicate name, missing doc, unsupported field type,
// a default outside its range or enum), so that a mistake fails every test
// at once rather than surfacing in a user's pipeline.
func Register[A any](r *Registry, d Def[A]) {
	fail := func(format string, args ...any) {
		panic(fmt.Sprintf("interp.Register %s: %s", d.Name, fmt.Sprintf(format, args...)))
	}
	if !namePattern.MatchString(d.Name) {
		fail("name must match %s", namePattern)
	}
	if _, dup := r.comps[d.Name]; dup {
		fail("registered twice")
	}
	if d.Doc == "" || d.Category == "" || d.Build == nil || d.Result == nil {
		fail("Doc, Category, Result and Build are required")
	}
	t := reflect.TypeFor[A]()
	if t.Kind() != reflect.Struct {
		fail("Args must be a struct, got %s", t)
	}
	spec := lang.ComponentSpec{Name: d.Name, Category: d.Category, Doc: d.Doc, Example: d.Example, Result: d.Result}
	var fields []field
	defaults := reflect.ValueOf(d.Defaults)
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		tag, ok := sf.Tag.Lookup("mlp")
		if !ok {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if !sf.IsExported() {
			fail("field %s: a parameter field must be exported", sf.Name)
		}
		if !namePattern.MatchString(name) {
			fail("field %s: parameter name %q must match %s", sf.Name, name, namePattern)
		}
		if _, dup := spec.Param(name); dup {
			fail("parameter %q declared twice", name)
		}
		p := lang.ParamSpec{Name: name, Doc: sf.Tag.Get("doc"), Positional: opts == "positional"}
		if p.Doc == "" {
			fail("parameter %q has no doc tag", name)
		}
		typ, isRef, err := paramType(sf)
		if err != nil {
			fail("parameter %q: %v", name, err)
		}
		p.Type = typ
		if e := sf.Tag.Get("enum"); e != "" {
			if !elemIs(typ, lang.String) {
				fail("parameter %q: an enum needs a string parameter, not %s", name, typ)
			}
			p.Enum = strings.Split(e, ",")
		}
		if rg := sf.Tag.Get("range"); rg != "" {
			if !elemIs(typ, lang.Int) && !elemIs(typ, lang.Float) {
				fail("parameter %q: a range needs a number parameter, not %s", name, typ)
			}
			if p.Range, err = lang.ParseRange(rg); err != nil {
				fail("parameter %q: %v", name, err)
			}
		}
		dv := defaults.Field(i)
		switch {
		case isRef:
			p.Required = sf.Tag.Get("optional") != "true"
		case sf.Tag.Get("required") == "true":
			p.Required = true
		case sf.Type.Kind() == reflect.Pointer:
			// optional; nil default means "not given"
		default:
			p.Default = fromGo(dv)
			if msg := checkConstraints(&p, p.Default); msg != "" {
				fail("default of %q: %s", name, msg)
			}
		}
		spec.Params = append(spec.Params, p)
		fields = append(fields, field{index: i, spec: &spec.Params[len(spec.Params)-1], kind: sf.Type})
	}
	// Re-point the field specs at the final slice (append may have moved it).
	for i := range fields {
		fields[i].spec = &spec.Params[i]
	}
	assign := func(vals map[string]any) (*A, error) {
		a := cloneDefaults(d.Defaults)
		av := reflect.ValueOf(a).Elem()
		for _, f := range fields {
			v, ok := vals[f.spec.Name]
			if !ok {
				continue
			}
			if err := toGo(v, av.Field(f.index)); err != nil {
				return nil, ArgErrorf(f.spec.Name, "parameter %s of %s: %v", f.spec.Name, d.Name, err)
			}
		}
		return a, nil
	}
	c := &Component{Spec: spec, version: max(d.Version, 1)}
	if d.Fingerprint != nil {
		c.fingerprint = func(ctx context.Context, at lang.Span, vals map[string]any) ([]DataFile, error) {
			a, err := assign(vals)
			if err != nil {
				return nil, err
			}
			return d.Fingerprint(ctx, at, a)
		}
	}
	c.infer = func(vals map[string]any) (lang.Type, error) {
		a, err := assign(vals)
		if err != nil {
			return nil, err
		}
		if d.Infer == nil {
			return d.Result, nil
		}
		return d.Infer(a)
	}
	c.build = func(ctx context.Context, env *Env, vals map[string]any) (Value, error) {
		for _, f := range fields {
			if v, ok := vals[f.spec.Name]; ok {
				if msg := checkConstraints(f.spec, v); msg != "" {
					return nil, ArgErrorf(f.spec.Name, "parameter %s of %s %s", f.spec.Name, d.Name, msg)
				}
			}
		}
		a, err := assign(vals)
		if err != nil {
			return nil, err
		}
		return d.Build(ctx, env, a)
	}
	r.comps[d.Name] = c
}

// paramType returns the language type of a parameter field and whether it
// is a reference to another pipeline value.
func paramType(sf reflect.StructField) (lang.Type, bool, error) {
	kind := lang.Kind(sf.Tag.Get("kind"))
	switch sf.Type {
	case valueType:
		if kind == "" {
			return nil, false, fmt.Errorf("a Value field needs a kind tag")
		}
		return lang.ObjectOf(kind), true, nil
	case reflect.SliceOf(valueType):
		if kind == "" {
			return nil, false, fmt.Errorf("a []Value field needs a kind tag")
		}
		return lang.ListOf(lang.ObjectOf(kind)), true, nil
	}
	t := sf.Type
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
		if t.Kind() != reflect.Int64 && t.Kind() != reflect.Float64 {
			return nil, false, fmt.Errorf("unsupported pointer field type %s", sf.Type)
		}
	}
	if b := basicOf(t.Kind()); b != nil {
		return b, false, nil
	}
	if t.Kind() == reflect.Slice {
		if b := basicOf(t.Elem().Kind()); b != nil && b != lang.Bool {
			return lang.ListOf(b), false, nil
		}
	}
	return nil, false, fmt.Errorf("unsupported field type %s", sf.Type)
}

// elemIs reports whether t is b or a list of b.
func elemIs(t lang.Type, b *lang.Basic) bool {
	if l, ok := t.(*lang.List); ok {
		t = l.Elem
	}
	return t == b
}

func basicOf(k reflect.Kind) *lang.Basic {
	switch k {
	case reflect.Bool:
		return lang.Bool
	case reflect.Int, reflect.Int64:
		return lang.Int
	case reflect.Float64:
		return lang.Float
	case reflect.String:
		return lang.String
	}
	return nil
}

// cloneDefaults returns a copy of d whose slices are fresh, so Build
// functions cannot alter the declaration's defaults.
func cloneDefaults[A any](d A) *A {
	a := d
	v := reflect.ValueOf(&a).Elem()
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() == reflect.Slice && !f.IsNil() && f.CanSet() {
			c := reflect.MakeSlice(f.Type(), f.Len(), f.Len())
			reflect.Copy(c, f)
			f.Set(c)
		}
	}
	return &a
}

// fromGo converts a default field value to a language constant.
func fromGo(v reflect.Value) any {
	switch v.Kind() {
	case reflect.Bool:
		return v.Bool()
	case reflect.Int, reflect.Int64:
		return v.Int()
	case reflect.Float64:
		return v.Float()
	case reflect.String:
		return v.String()
	case reflect.Slice:
		out := make([]any, v.Len())
		for i := range out {
			out[i] = fromGo(v.Index(i))
		}
		return out
	}
	return nil
}

// toGo stores the language value v into the field dst.
func toGo(v any, dst reflect.Value) error {
	if dst.Type() == valueType {
		val, ok := v.(Value)
		if !ok {
			return fmt.Errorf("want a pipeline value, got %T", v)
		}
		dst.Set(reflect.ValueOf(&val).Elem())
		return nil
	}
	switch dst.Kind() {
	case reflect.Pointer:
		p := reflect.New(dst.Type().Elem())
		if err := toGo(v, p.Elem()); err != nil {
			return err
		}
		dst.Set(p)
		return nil
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("want a bool, got %T", v)
		}
		dst.SetBool(b)
	case reflect.Int, reflect.Int64:
		i, ok := v.(int64)
		if !ok {
			return fmt.Errorf("want an int, got %T", v)
		}
		dst.SetInt(i)
	case reflect.Float64:
		switch x := v.(type) {
		case float64:
			dst.SetFloat(x)
		case int64:
			dst.SetFloat(float64(x))
		default:
			return fmt.Errorf("want a float, got %T", v)
		}
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("want a string, got %T", v)
		}
		dst.SetString(s)
	case reflect.Slice:
		list, ok := v.([]any)
		if !ok {
			return fmt.Errorf("want a list, got %T", v)
		}
		out := reflect.MakeSlice(dst.Type(), len(list), len(list))
		for i, e := range list {
			if err := toGo(e, out.Index(i)); err != nil {
				return fmt.Errorf("element %d: %w", i+1, err)
			}
		}
		dst.Set(out)
	default:
		return fmt.Errorf("unsupported field kind %s", dst.Kind())
	}
	return nil
}

// checkConstraints checks a constant against p's range and enum and returns
// a message fragment ("must be > 0, got -1") or "".
func checkConstraints(p *lang.ParamSpec, v any) string {
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			if msg := checkConstraints(p, e); msg != "" {
				return fmt.Sprintf("element %d %s", i+1, msg)
			}
		}
	case int64:
		if p.Range != nil && !p.Range.Contains(float64(x)) {
			return fmt.Sprintf("must be %s, got %d", p.Range.Describe(), x)
		}
	case float64:
		if p.Range != nil && !p.Range.Contains(x) {
			return fmt.Sprintf("must be %s, got %s", p.Range.Describe(), lang.FormatFloat(x))
		}
		if math.IsNaN(x) {
			return "must be a number, got NaN"
		}
	case string:
		if len(p.Enum) > 0 {
			for _, e := range p.Enum {
				if e == x {
					return ""
				}
			}
			return fmt.Sprintf("must be one of %s, got %q", strings.Join(quoteAll(p.Enum), ", "), x)
		}
	}
	return ""
}

func quoteAll(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = fmt.Sprintf("%q", x)
	}
	return out
}
