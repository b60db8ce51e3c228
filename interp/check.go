package interp

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strings"

	"github.com/mlpipe/mlpipe/lang"
)

// Override is a --set NAME=VALUE given on the command line. Expr is VALUE
// parsed as an expression, or nil when it does not parse (it is then taken
// as a bare string, for string parameters).
type Override struct {
	Name string
	Raw  string
	Expr lang.Expr
}

// Config holds the options of Check.
type Config struct {
	Overrides []Override
	// Seed, if set, replaces the experiment block's seed (it must be >= 0).
	Seed *int64
	// Variant, if set, checks variant *Variant of the pipeline's sweep
	// block: its params replace theirs and its seed the experiment's. A
	// --set of a swept param is then an error.
	Variant *int
}

// Experiment is the checked experiment block.
type Experiment struct {
	Name    string
	Version string
	Seed    int64
	Doc     string
	Span    lang.Span
}

// Param is a checked `param` with its final value (default or override).
type Param struct {
	Name       string
	Type       lang.Type
	Value      any
	Overridden bool
	Stmt       *lang.ParamStmt
}

// Binding is a checked `name = expr` statement.
type Binding struct {
	Name string
	Stmt *lang.BindStmt
	Type lang.Type
	Deps []string // names of the bindings it refers to, sorted
	// Const is the binding's value when it is a constant (a literal, a
	// list of constants, arithmetic on params); IsConst says whether it is.
	Const   any
	IsConst bool
}

// Checked is a program that passed the checker: every name resolved, every
// expression typed, parameters final.
type Checked struct {
	Program    *lang.Program
	Experiment Experiment
	Params     []*Param   // in source order
	Bindings   []*Binding // in dependency order: a depth-first walk in source order, each binding after those it uses
	Types      map[lang.Expr]lang.Type
	Consts     map[lang.Expr]any
	Registry   *Registry
	Sweep      *Sweep // the sweep block; nil when there is none
}

// Param returns the parameter called name.
func (c *Checked) Param(name string) (*Param, bool) {
	for _, p := range c.Params {
		if p.Name == name {
			return p, true
		}
	}
	return nil, false
}

type checker struct {
	reg       *Registry
	diags     lang.Diagnostics
	paramDecl map[string]bool // every declared param, checked or not yet
	params    map[string]*Param
	binds     map[string]*Binding
	decl      map[string]lang.Span // where each top-level name is declared
	types     map[lang.Expr]lang.Type
	consts    map[lang.Expr]any
}

// Check checks prog against the components in reg. It returns the checked
// program and, if anything is wrong, an error carrying every diagnostic
// (lang.DiagnosticsOf); the Checked value is then partial and must not be
// run.
func Check(prog *lang.Program, reg *Registry, cfg Config) (*Checked, error) {
	c := &checker{
		reg:       reg,
		paramDecl: map[string]bool{},
		params:    map[string]*Param{},
		binds:     map[string]*Binding{},
		decl:      map[string]lang.Span{},
		types:     map[lang.Expr]lang.Type{},
		consts:    map[lang.Expr]any{},
	}
	out := &Checked{Program: prog, Types: c.types, Consts: c.consts, Registry: reg}
	// Pass 1: declare every top-level name, so that each is known before
	// any expression is checked.
	var (
		binds      []*Binding
		params     []*lang.ParamStmt
		experiment *lang.ExperimentStmt
		sweepStmt  *lang.SweepStmt
	)
	for _, f := range prog.Files {
		if f == nil {
			continue
		}
		for _, s := range f.Stmts {
			switch s := s.(type) {
			case *lang.ExperimentStmt:
				switch {
				case f != prog.Main:
					c.diags.Errorf(s.At, "an experiment block belongs in the main file, not in an imported one")
				case experiment != nil:
					c.diags.Errorf(s.At, "duplicate experiment block").WithNote("the first is at %s", experiment.At)
				default:
					experiment = s
				}
			case *lang.SweepStmt:
				switch {
				case f != prog.Main:
					c.diags.Errorf(s.At, "a sweep block belongs in the main file, not in an imported one")
				case sweepStmt != nil:
					c.diags.Errorf(s.At, "duplicate sweep block").WithNote("the first is at %s", sweepStmt.At)
				default:
					sweepStmt = s
				}
			case *lang.ParamStmt:
				if c.declare(s.Name) {
					params = append(params, s)
					c.paramDecl[s.Name.Name] = true
				}
			case *lang.BindStmt:
				if !c.declare(s.Name) {
					continue
				}
				b := &Binding{Name: s.Name.Name, Stmt: s}
				c.binds[b.Name] = b
				binds = append(binds, b)
			}
		}
	}
	// Pass 2: params in order, each overridden as soon as it is defined so
	// that params derived from it see the override.
	overrides := c.validateOverrides(cfg.Overrides)
	var raw *rawSweep
	if sweepStmt != nil {
		raw = c.readSweep(sweepStmt)
	}
	variant := c.variant(cfg, sweepStmt, raw, overrides)
	for _, s := range params {
		p := c.param(s)
		if o, ok := overrides[p.Name]; ok {
			c.override(p, o)
		}
		if variant >= 0 {
			if v, ok := raw.sweepValue(variant, p); ok {
				p.Value, p.Overridden = v, true
			}
		}
		c.params[p.Name] = p
		out.Params = append(out.Params, p)
	}
	// Pass 3: the experiment block, which may use params.
	if experiment != nil {
		out.Experiment = c.experiment(experiment)
	} else if prog.Main != nil {
		out.Experiment = Experiment{Name: baseName(prog.Main.Name)}
	}
	if cfg.Seed != nil {
		if *cfg.Seed < 0 {
			c.diags.Errorf(lang.Span{File: "--seed"}, "--seed must be >= 0, got %d", *cfg.Seed)
		} else {
			out.Experiment.Seed = *cfg.Seed
		}
	}
	if variant >= 0 {
		out.Experiment.Seed = replicateSeed(out.Experiment.Seed, variant%raw.seeds)
	}
	// Pass 4: the bindings, dependencies first.
	out.Bindings = c.order(binds)
	for _, b := range out.Bindings {
		if b.Type == nil {
			b.Type, b.Const, b.IsConst = c.expr(b.Stmt.Value)
		}
	}
	if raw != nil {
		out.Sweep = c.finishSweep(raw, out.Experiment.Name)
	}
	c.diags.Sort()
	if err := c.diags.Err(); err != nil {
		return out, err
	}
	if out.Sweep != nil {
		// The sweep's id hashes the pipeline with every swept param at its
		// default, whichever variant this is and whatever --set fixes.
		base := out
		baseCfg := Config{Seed: cfg.Seed}
		for _, o := range cfg.Overrides {
			if !out.Sweep.varies(o.Name) {
				baseCfg.Overrides = append(baseCfg.Overrides, o)
			}
		}
		if variant >= 0 || len(baseCfg.Overrides) < len(cfg.Overrides) {
			var err error
			if base, err = Check(prog, reg, baseCfg); err != nil {
				return out, err
			}
		}
		out.Sweep.ID = hashText(DefinitionID(base) + "\n" + sweepText(out.Sweep))
	}
	return out, nil
}

// variant validates cfg.Variant and returns it, or -1 when no variant is
// to be checked (or it cannot be).
func (c *checker) variant(cfg Config, s *lang.SweepStmt, raw *rawSweep, overrides map[string]Override) int {
	if cfg.Variant == nil {
		return -1
	}
	k := *cfg.Variant
	at := lang.Span{File: fmt.Sprintf("--variant %d", k)}
	switch {
	case s == nil:
		c.diags.Errorf(at, "the pipeline has no sweep block, so it has no variants").
			WithNote("a sweep block declares the params to vary: sweep { lr = [0.001, 0.01] }")
		return -1
	case raw.failed:
		return -1 // the block has errors, reported already
	}
	n := raw.len()
	if k < 0 || k >= n {
		c.diags.Errorf(at, "the sweep has %d variants, numbered 0 to %d; there is no variant %d", n, n-1, k)
		return -1
	}
	for _, ax := range raw.axes {
		if o, ok := overrides[ax.param]; ok {
			c.diags.Errorf(overrideSpan(o), "param %s is swept; --set cannot fix it in a sweep", ax.param).
				WithNote("each variant of the sweep gives %s its own value; drop --set %s", ax.param, ax.param)
		}
	}
	return k
}

func baseName(path string) string {
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		path = path[i+1:]
	}
	return strings.TrimSuffix(path, ".mlp")
}

// declare records a top-level name, reporting duplicates.
func (c *checker) declare(id *lang.Ident) bool {
	if prev, dup := c.decl[id.Name]; dup {
		c.diags.Errorf(id.At, "duplicate definition of %q", id.Name).WithNote("%q is first defined at %s", id.Name, prev)
		return false
	}
	c.decl[id.Name] = id.At
	return true
}

// semver accepts 1, 1.2, 1.2.3 (with an optional v), then an optional
// pre-release (-rc.1) and optional build metadata (+build.5), as semver.
var semver = regexp.MustCompile(`^v?[0-9]+(\.[0-9]+){0,2}(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

var experimentKeys = []string{"version", "seed", "doc"}

func (c *checker) experiment(s *lang.ExperimentStmt) Experiment {
	e := Experiment{Name: s.Name, Span: s.At}
	if strings.TrimSpace(s.Name) == "" {
		c.diags.Errorf(s.NameSpan, "experiment name is empty")
	}
	seen := map[string]bool{}
	for _, a := range s.Attrs {
		key := a.Name.Name
		if seen[key] {
			c.diags.Errorf(a.Name.At, "duplicate experiment attribute %q", key)
			continue
		}
		seen[key] = true
		t, v, isConst := c.expr(a.Value)
		if t == lang.Invalid {
			continue
		}
		if !isConst {
			c.diags.Errorf(a.Value.Span(), "experiment %s must be a constant", key)
			continue
		}
		switch key {
		case "version":
			s, ok := v.(string)
			if !ok {
				c.diags.Errorf(a.Value.Span(), "experiment version must be a string such as \"1.0.0\", got %s", lang.Describe(t))
			} else if !semver.MatchString(s) {
				c.diags.Errorf(a.Value.Span(), "experiment version %q is not a version number such as \"1.2.0\"", s)
			}
			e.Version = s
		case "seed":
			n, ok := v.(int64)
			if !ok {
				c.diags.Errorf(a.Value.Span(), "experiment seed must be an int, got %s", lang.Describe(t))
			} else if n < 0 {
				c.diags.Errorf(a.Value.Span(), "experiment seed must be >= 0, got %d", n)
			}
			e.Seed = n
		case "doc":
			s, ok := v.(string)
			if !ok {
				c.diags.Errorf(a.Value.Span(), "experiment doc must be a string, got %s", lang.Describe(t))
			}
			e.Doc = s
		default:
			c.diags.Errorf(a.Name.At, "unknown experiment attribute %q", key).
				WithSuggest(lang.Suggest(key, experimentKeys)).
				WithNote("an experiment block takes %s", strings.Join(experimentKeys, ", "))
		}
	}
	return e
}

func (c *checker) param(s *lang.ParamStmt) *Param {
	p := &Param{Name: s.Name.Name, Stmt: s, Type: lang.Invalid}
	t, v, isConst := c.expr(s.Value)
	if t == lang.Invalid {
		return p
	}
	if !isConst {
		c.diags.Errorf(s.Value.Span(), "the default of param %s must be a constant (a number, string, bool or list)", p.Name)
		return p
	}
	if o, ok := t.(*lang.Object); ok {
		c.diags.Errorf(s.Value.Span(), "param %s must be a constant, not %s", p.Name, lang.Describe(o))
		return p
	}
	p.Type, p.Value = t, v
	return p
}

// validateOverrides reports overrides of unknown params and params set
// twice, and returns the others by name.
func (c *checker) validateOverrides(list []Override) map[string]Override {
	names := make([]string, 0, len(c.paramDecl))
	for n := range c.paramDecl {
		names = append(names, n)
	}
	sort.Strings(names)
	out := map[string]Override{}
	for _, o := range list {
		at := overrideSpan(o)
		if !c.paramDecl[o.Name] {
			d := c.diags.Errorf(at, "unknown param %q", o.Name).WithSuggest(lang.Suggest(o.Name, names))
			if len(names) > 0 {
				d.WithNote("this pipeline's params: %s", strings.Join(names, ", "))
			} else {
				d.WithNote("this pipeline declares no params")
			}
			continue
		}
		if _, dup := out[o.Name]; dup {
			c.diags.Errorf(at, "param %s is set twice", o.Name)
			continue
		}
		out[o.Name] = o
	}
	return out
}

func overrideSpan(o Override) lang.Span { return lang.Span{File: "--set " + o.Name + "=" + o.Raw} }

// override applies o to p, checking its type against p's default.
func (c *checker) override(p *Param, o Override) {
	if p.Type == lang.Invalid {
		return
	}
	var v any
	var t lang.Type = lang.Invalid
	if o.Expr != nil {
		sub := &checker{reg: c.reg, params: map[string]*Param{}, paramDecl: map[string]bool{}, binds: map[string]*Binding{}, types: map[lang.Expr]lang.Type{}, consts: map[lang.Expr]any{}}
		var isConst bool
		t, v, isConst = sub.expr(o.Expr)
		if !isConst || sub.diags.HasErrors() {
			t = lang.Invalid
		}
	}
	if p.Type == lang.String {
		if _, isString := v.(string); !isString {
			t, v = lang.String, o.Raw // a bare word
		}
	}
	if t == lang.Invalid || !lang.AssignableTo(t, p.Type) {
		c.diags.Errorf(overrideSpan(o), "param %s is %s (default %s), but --set gives %q", o.Name, lang.Describe(p.Type), lang.FormatValue(p.Value), o.Raw)
		return
	}
	p.Value, p.Overridden = convertConst(v, p.Type), true
}

// convertConst converts ints to floats where type t expects floats.
func convertConst(v any, t lang.Type) any {
	switch t := t.(type) {
	case *lang.Basic:
		if i, ok := v.(int64); ok && t == lang.Float {
			return float64(i)
		}
	case *lang.List:
		if list, ok := v.([]any); ok {
			out := make([]any, len(list))
			for i, e := range list {
				out[i] = convertConst(e, t.Elem)
			}
			return out
		}
	}
	return v
}

// order sorts the bindings so that dependencies come first, reports cycles
// and fills in Deps. Members of a cycle get type Invalid.
func (c *checker) order(binds []*Binding) []*Binding {
	for _, b := range binds {
		deps := map[string]bool{}
		freeNames(b.Stmt.Value, func(id *lang.Ident) {
			if _, ok := c.binds[id.Name]; ok {
				deps[id.Name] = true
			}
		})
		for d := range deps {
			b.Deps = append(b.Deps, d)
		}
		sort.Strings(b.Deps)
	}
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var out []*Binding
	reported := map[string]bool{}
	var visit func(b *Binding)
	visit = func(b *Binding) {
		color[b.Name] = grey
		stack = append(stack, b.Name)
		for _, d := range b.Deps {
			switch color[d] {
			case white:
				visit(c.binds[d])
			case grey:
				i := indexOf(stack, d)
				cycle := append(append([]string(nil), stack[i:]...), d)
				key := cycleKey(cycle[:len(cycle)-1])
				if !reported[key] {
					reported[key] = true
					first := c.binds[d]
					c.diags.Errorf(first.Stmt.Name.At, "cycle: %s", strings.Join(cycle, " -> ")).
						WithNote("a binding cannot depend on itself, directly or through others")
				}
				for _, n := range cycle {
					c.binds[n].Type = lang.Invalid
				}
			}
		}
		stack = stack[:len(stack)-1]
		color[b.Name] = black
		out = append(out, b)
	}
	for _, b := range binds {
		if color[b.Name] == white {
			visit(b)
		}
	}
	return out
}

func indexOf(xs []string, x string) int {
	for i, s := range xs {
		if s == x {
			return i
		}
	}
	return -1
}

func cycleKey(members []string) string {
	s := append([]string(nil), members...)
	sort.Strings(s)
	return strings.Join(s, ",")
}

// freeNames calls f for every identifier in e that refers to a top-level
// name (not a component being called, not a member after a dot, not an
// argument name).
func freeNames(e lang.Expr, f func(*lang.Ident)) {
	switch e := e.(type) {
	case *lang.Ident:
		f(e)
	case *lang.ListExpr:
		for _, x := range e.Elems {
			freeNames(x, f)
		}
	case *lang.CallExpr:
		for _, a := range e.Args {
			freeNames(a.Value, f)
		}
	case *lang.SelectorExpr:
		freeNames(e.X, f)
	case *lang.BinaryExpr:
		freeNames(e.X, f)
		freeNames(e.Y, f)
	case *lang.UnaryExpr:
		freeNames(e.X, f)
	case *lang.ParenExpr:
		freeNames(e.X, f)
	}
}

// expr checks e and returns its type and, when e is a constant, its value.
func (c *checker) expr(e lang.Expr) (t lang.Type, v any, isConst bool) {
	t, v, isConst = c.expr1(e)
	c.types[e] = t
	if isConst {
		c.consts[e] = v
	}
	return t, v, isConst
}

func (c *checker) expr1(e lang.Expr) (lang.Type, any, bool) {
	switch e := e.(type) {
	case *lang.IntLit:
		return lang.Int, e.Value, true
	case *lang.FloatLit:
		return lang.Float, e.Value, true
	case *lang.StringLit:
		return lang.String, e.Value, true
	case *lang.BoolLit:
		return lang.Bool, e.Value, true
	case *lang.ParenExpr:
		return c.expr(e.X)
	case *lang.Ident:
		return c.ident(e)
	case *lang.ListExpr:
		return c.list(e)
	case *lang.CallExpr:
		return c.call(e), nil, false
	case *lang.SelectorExpr:
		return c.selector(e), nil, false
	case *lang.UnaryExpr:
		t, v, isConst := c.expr(e.X)
		switch {
		case t == lang.Invalid:
			return lang.Invalid, nil, false
		case t == lang.Int:
			if isConst {
				if v.(int64) == math.MinInt64 {
					c.diags.Errorf(e.At, "arithmetic overflow")
					return lang.Invalid, nil, false
				}
				return t, -v.(int64), true
			}
			return t, nil, false
		case t == lang.Float:
			if isConst {
				return t, -v.(float64), true
			}
			return t, nil, false
		}
		c.diags.Errorf(e.At, "cannot negate %s", lang.Describe(t))
		return lang.Invalid, nil, false
	case *lang.BinaryExpr:
		return c.binary(e)
	}
	return lang.Invalid, nil, false
}

// topNames lists every top-level name, for suggestions.
func (c *checker) topNames() []string {
	out := make([]string, 0, len(c.decl))
	for n := range c.decl {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func (c *checker) ident(e *lang.Ident) (lang.Type, any, bool) {
	if p, ok := c.params[e.Name]; ok {
		if p.Type == lang.Invalid {
			return lang.Invalid, nil, false
		}
		return p.Type, p.Value, true
	}
	if c.paramDecl[e.Name] {
		c.diags.Errorf(e.At, "param %s is used before its declaration", e.Name).
			WithNote("a param's default may use only the params declared before it")
		return lang.Invalid, nil, false
	}
	if b, ok := c.binds[e.Name]; ok {
		if b.Type == nil {
			// Referenced before checked: only possible inside a param
			// default or an experiment attribute.
			c.diags.Errorf(e.At, "%s is a stage of the pipeline, not a constant", e.Name)
			return lang.Invalid, nil, false
		}
		return b.Type, b.Const, b.IsConst
	}
	if comp, ok := c.reg.Lookup(e.Name); ok {
		c.diags.Errorf(e.At, "%s is a component: call it, as in %s()", e.Name, comp.Spec.Name)
		return lang.Invalid, nil, false
	}
	d := c.diags.Errorf(e.At, "undefined name %q", e.Name).WithSuggest(lang.Suggest(e.Name, c.topNames()))
	if d.Suggest == "" {
		if s := lang.Suggest(e.Name, c.reg.Names()); s != "" {
			d.WithNote("%s is a component: call it, as in %s()", s, s)
		}
	}
	return lang.Invalid, nil, false
}

func (c *checker) list(e *lang.ListExpr) (lang.Type, any, bool) {
	var elem lang.Type = lang.Invalid
	allConst := true
	vals := make([]any, len(e.Elems))
	bad := false
	for i, x := range e.Elems {
		t, v, isConst := c.expr(x)
		vals[i] = v
		allConst = allConst && isConst
		if t == lang.Invalid {
			bad = true
			continue
		}
		switch {
		case elem == lang.Invalid:
			elem = t
		case lang.AssignableTo(t, elem):
		case lang.AssignableTo(elem, t):
			elem = t
		default:
			c.diags.Errorf(x.Span(), "list mixes %s and %s", lang.Describe(elem), lang.Describe(t))
			bad = true
		}
	}
	if bad {
		return lang.Invalid, nil, false
	}
	t := lang.ListOf(elem)
	if o, isObj := elem.(*lang.Object); isObj {
		t.Elem = lang.ObjectOf(o.Kind)
		for _, x := range e.Elems {
			t.Items = append(t.Items, c.types[x])
		}
	}
	if allConst {
		return t, convertConst(vals, t), true
	}
	return t, nil, false
}

func (c *checker) selector(e *lang.SelectorExpr) lang.Type {
	t, _, _ := c.expr(e.X)
	if t == lang.Invalid {
		return lang.Invalid
	}
	o, ok := t.(*lang.Object)
	if !ok {
		c.diags.Errorf(e.Sel.At, "%s has no members", lang.Describe(t))
		return lang.Invalid
	}
	f, ok := o.Field(e.Sel.Name)
	if !ok {
		d := c.diags.Errorf(e.Sel.At, "%s has no member %q", lang.Describe(o), e.Sel.Name).
			WithSuggest(lang.Suggest(e.Sel.Name, o.FieldNames()))
		if names := o.FieldNames(); len(names) > 0 {
			d.WithNote("its members: %s", strings.Join(names, ", "))
		}
		return lang.Invalid
	}
	return f.Type
}

func (c *checker) call(e *lang.CallExpr) lang.Type {
	comp, ok := c.reg.Lookup(e.Func.Name)
	if !ok {
		d := c.diags.Errorf(e.Func.At, "unknown component %q", e.Func.Name).WithSuggest(lang.Suggest(e.Func.Name, c.reg.Names()))
		if _, isBinding := c.decl[e.Func.Name]; isBinding {
			d.WithNote("%s is a binding, not a component; only components can be called", e.Func.Name)
		} else if d.Suggest == "" {
			d.WithNote("`mlpipe doc` lists every component")
		}
		for _, a := range e.Args {
			c.expr(a.Value)
		}
		return lang.Invalid
	}
	spec := &comp.Spec
	vals := map[string]any{}
	argAt := map[string]lang.Span{}
	bad := false
	next := 0 // next positional parameter
	named := false
	for _, a := range e.Args {
		t, v, isConst := c.expr(a.Value)
		var p *lang.ParamSpec
		if a.Name == nil {
			if named {
				c.diags.Errorf(a.At, "positional argument after a named one in a call of %s", spec.Name)
				bad = true
				continue
			}
			for next < len(spec.Params) && !spec.Params[next].Positional {
				next++
			}
			if next >= len(spec.Params) {
				d := c.diags.Errorf(a.At, "too many positional arguments for %s", spec.Name)
				if pos := positionalNames(spec); len(pos) > 0 {
					d.WithNote("%s takes %s positionally; name the others, as in %s", spec.Name, strings.Join(pos, ", "), firstNamedExample(spec))
				} else if len(spec.Params) == 0 {
					d.WithNote("%s takes no arguments", spec.Name)
				} else {
					d.WithNote("%s takes only named arguments, as in %s", spec.Name, firstNamedExample(spec))
				}
				bad = true
				continue
			}
			p = &spec.Params[next]
			next++
		} else {
			named = true
			var ok bool
			p, ok = spec.Param(a.Name.Name)
			if !ok {
				d := c.diags.Errorf(a.Name.At, "unknown parameter %q for %s", a.Name.Name, spec.Name).
					WithSuggest(lang.Suggest(a.Name.Name, spec.ParamNames()))
				if len(spec.Params) > 0 {
					d.WithNote("%s takes %s", spec.Name, strings.Join(spec.ParamNames(), ", "))
				} else {
					d.WithNote("%s takes no parameters", spec.Name)
				}
				bad = true
				continue
			}
		}
		if _, dup := argAt[p.Name]; dup {
			c.diags.Errorf(a.At, "parameter %s of %s is given twice", p.Name, spec.Name)
			bad = true
			continue
		}
		argAt[p.Name] = a.At
		if t == lang.Invalid {
			bad = true
			continue
		}
		if !lang.AssignableTo(t, p.Type) {
			c.diags.Errorf(a.Value.Span(), "parameter %s of %s wants %s, got %s", p.Name, spec.Name, lang.Describe(p.Type), lang.Describe(t))
			bad = true
			continue
		}
		switch {
		case isConst:
			v = convertConst(v, p.Type)
			if msg := checkConstraints(p, v); msg != "" {
				c.diags.Errorf(a.Value.Span(), "parameter %s of %s %s", p.Name, spec.Name, msg)
				bad = true
				continue
			}
			vals[p.Name] = v
		case isRef(p.Type):
			vals[p.Name] = staticValue(t)
		}
	}
	closing := lang.Span{File: e.At.File, Start: lastPos(e.At), End: e.At.End}
	for i := range spec.Params {
		p := &spec.Params[i]
		if _, given := argAt[p.Name]; !given && p.Required {
			c.diags.Errorf(closing, "missing required parameter %s for %s", p.Name, spec.Name).
				WithNote("%s: %s", p.Name, p.Doc)
			bad = true
		}
	}
	if bad {
		return lang.Invalid
	}
	t, err := comp.Infer(vals)
	if err != nil {
		at := e.At
		if ae, ok := err.(*ArgError); ok {
			if s, given := argAt[ae.Param]; given {
				at = s
			}
		}
		c.diags.Errorf(at, "%s", err.Error())
		return lang.Invalid
	}
	return t
}

func lastPos(s lang.Span) lang.Pos {
	p := s.End
	if p.Col > 1 {
		p.Col--
		p.Offset--
	}
	return p
}

func positionalNames(spec *lang.ComponentSpec) []string {
	var out []string
	for _, p := range spec.Params {
		if p.Positional {
			out = append(out, p.Name)
		}
	}
	return out
}

func firstNamedExample(spec *lang.ComponentSpec) string {
	if spec.Example != "" {
		return spec.Example
	}
	for _, p := range spec.Params {
		if !p.Positional {
			return fmt.Sprintf("%s(%s: ...)", spec.Name, p.Name)
		}
	}
	return spec.Name + "()"
}

func isRef(t lang.Type) bool {
	switch t := t.(type) {
	case *lang.Object:
		return true
	case *lang.List:
		return isRef(t.Elem)
	}
	return false
}

// staticValue returns the check-time stand-in for a reference of type t: a
// Static, or a list of them.
func staticValue(t lang.Type) any {
	if l, ok := t.(*lang.List); ok {
		out := make([]any, len(l.Items))
		for i, it := range l.Items {
			out[i] = Static{T: it}
		}
		return out
	}
	return Static{T: t}
}
