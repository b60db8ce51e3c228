package interp

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/mlpipe/mlpipe/lang"
)

// Limits of a sweep block.
const (
	maxSweepSeeds    = 1000
	maxSweepVariants = 10000
)

// Sweep is a checked sweep block: a grid over params and a number of seed
// replicates, each combination one run (a Variant).
type Sweep struct {
	// ID identifies the sweep: the hash of the pipeline's definition with
	// every param at its default (and --set overrides), the sweep's name,
	// axes and seeds. The same sweep written differently has the same ID.
	ID    string
	Name  string      // the block's name, or the experiment's name
	Axes  []SweepAxis // in source order
	Seeds int         // replicates per grid point, >= 1
	Span  lang.Span
}

// SweepAxis is one swept param and its values, converted to the param's
// type.
type SweepAxis struct {
	Param  string
	Values []any
	Span   lang.Span
}

// Variant is one run of a sweep.
type Variant struct {
	Index     int          // 0-based position in Variants' order
	Params    []SweepValue // the grid point: one value per axis, in axis order
	Replicate int          // 0..Seeds-1
	Seed      int64        // the experiment seed of this run
}

// SweepValue is the value of one swept param in a variant.
type SweepValue struct {
	Param string
	Value any
}

// varies reports whether the sweep has an axis for param.
func (s *Sweep) varies(param string) bool {
	for _, ax := range s.Axes {
		if ax.Param == param {
			return true
		}
	}
	return false
}

// Len returns the number of variants.
func (s *Sweep) Len() int {
	n := s.Seeds
	for _, ax := range s.Axes {
		n *= len(ax.Values)
	}
	return n
}

// Variants expands the sweep: grid points in row-major order of the axes
// (the last axis varies fastest) and, for each point, its replicates
// 0..Seeds-1. Replicate 0 runs with the experiment's own seed, so it is
// the same run as `mlpipe run --set ...` with the point's params (and
// shares its cached stages); replicate k >= 1 runs with
// DeriveSeed(experimentSeed, "sweep replicate k"), the same for every grid
// point (common random numbers across the grid).
func (s *Sweep) Variants(experimentSeed int64) []Variant {
	out := make([]Variant, 0, s.Len())
	for i := range s.Len() {
		out = append(out, s.variant(i, experimentSeed))
	}
	return out
}

// variant returns variant i.
func (s *Sweep) variant(i int, experimentSeed int64) Variant {
	v := Variant{Index: i, Replicate: i % s.Seeds}
	rest := i / s.Seeds
	v.Params = make([]SweepValue, len(s.Axes))
	for a := len(s.Axes) - 1; a >= 0; a-- {
		ax := s.Axes[a]
		v.Params[a] = SweepValue{Param: ax.Param, Value: ax.Values[rest%len(ax.Values)]}
		rest /= len(ax.Values)
	}
	v.Seed = replicateSeed(experimentSeed, v.Replicate)
	return v
}

// replicateSeed is the experiment seed of replicate k.
func replicateSeed(experimentSeed int64, k int) int64 {
	if k == 0 {
		return experimentSeed
	}
	return DeriveSeed(experimentSeed, fmt.Sprintf("sweep replicate %d", k))
}

// Overrides returns the --set overrides that make a check of the pipeline
// compute this variant's params: one per swept param, its value as source
// text (lang.FormatValue) and as a literal expression whose span is in the
// synthetic file "sweep variant N". The variant's seed is not among them: a
// check with Config.Seed set to v.Seed (or Config.Variant) gives it.
func (v Variant) Overrides() []Override {
	at := lang.Span{File: fmt.Sprintf("sweep variant %d", v.Index)}
	out := make([]Override, len(v.Params))
	for i, p := range v.Params {
		out[i] = Override{Name: p.Param, Raw: lang.FormatValue(p.Value), Expr: literal(p.Value, at)}
	}
	return out
}

// literal returns a constant as a literal expression at span at.
func literal(v any, at lang.Span) lang.Expr {
	switch v := v.(type) {
	case int64:
		return &lang.IntLit{Value: v, Raw: strconv.FormatInt(v, 10), At: at}
	case int:
		return &lang.IntLit{Value: int64(v), Raw: strconv.Itoa(v), At: at}
	case float64:
		return &lang.FloatLit{Value: v, Raw: lang.FormatFloat(v), At: at}
	case string:
		return &lang.StringLit{Value: v, Raw: lang.FormatValue(v), At: at}
	case bool:
		return &lang.BoolLit{Value: v, At: at}
	case []any:
		list := &lang.ListExpr{Elems: make([]lang.Expr, len(v)), At: at}
		for i, e := range v {
			list.Elems[i] = literal(e, at)
		}
		return list
	}
	return &lang.Ident{Name: fmt.Sprint(v), At: at}
}

// SweepID returns the id of c's sweep, "" when it has none: the hash of the
// canonical form of the pipeline with every swept param at its default
// (other --set overrides and Config.Seed applied), and of the sweep's name,
// axes in order, their values and seeds. Formatting and comments do not
// change it; a changed grid, or the same axes in another order (another
// order of the variants), does. It is the same for every variant.
func SweepID(c *Checked) string {
	if c.Sweep == nil {
		return ""
	}
	return c.Sweep.ID
}

// rawSweep is a sweep block read before the params are checked: its values
// are constants not yet converted to the params' types.
type rawSweep struct {
	stmt   *lang.SweepStmt
	axes   []rawAxis
	seeds  int
	failed bool // the block has errors: it has no variants
}

type rawAxis struct {
	param  string
	values []any
	types  []lang.Type
	spans  []lang.Span
	at     lang.Span
}

// readSweep reads a sweep block's attributes as constants, reporting what
// can be told without the params' types.
func (c *checker) readSweep(s *lang.SweepStmt) *rawSweep {
	raw := &rawSweep{stmt: s, seeds: 1}
	if s.NameSpan.IsValid() && strings.TrimSpace(s.Name) == "" {
		c.diags.Errorf(s.NameSpan, "sweep name is empty").WithNote("leave the name out to name the sweep after the experiment")
	}
	params := make([]string, 0, len(c.paramDecl))
	for n := range c.paramDecl {
		params = append(params, n)
	}
	sort.Strings(params)
	seen := map[string]bool{}
	ok := true
	for _, a := range s.Attrs {
		key := a.Name.Name
		if seen[key] {
			c.diags.Errorf(a.Name.At, "%s is given twice in the sweep block", key)
			ok = false
			continue
		}
		seen[key] = true
		if key == "seeds" {
			v, t, isConst := constantOf(c, a.Value)
			n, isInt := v.(int64)
			switch {
			case !isConst || !isInt:
				c.diags.Errorf(a.Value.Span(), "seeds must be an int constant, got %s", describeConst(t, isConst))
				ok = false
			case n < 1 || n > maxSweepSeeds:
				c.diags.Errorf(a.Value.Span(), "seeds must be in [1, %d], got %d", maxSweepSeeds, n)
				ok = false
			default:
				raw.seeds = int(n)
			}
			continue
		}
		if !c.paramDecl[key] {
			d := c.diags.Errorf(a.Name.At, "the sweep varies %q, which is not a param", key).WithSuggest(lang.Suggest(key, append(params, "seeds")))
			if len(params) > 0 {
				d.WithNote("this pipeline's params: %s; and seeds = N replicates each point", strings.Join(params, ", "))
			} else {
				d.WithNote("a sweep varies params: declare one with `param NAME = DEFAULT`")
			}
			ok = false
			continue
		}
		list, isList := a.Value.(*lang.ListExpr)
		if !isList {
			c.diags.Errorf(a.Value.Span(), "the values of %s must be a constant list, such as [0.001, 0.01]", key)
			ok = false
			continue
		}
		if len(list.Elems) == 0 {
			c.diags.Errorf(a.Value.Span(), "the sweep gives %s no values", key)
			ok = false
			continue
		}
		ax := rawAxis{param: key, at: a.At}
		for _, e := range list.Elems {
			v, t, isConst := constantOf(c, e)
			if !isConst {
				d := c.diags.Errorf(e.Span(), "a value of %s in the sweep must be a constant (a number, string, bool or list)", key)
				if usesName(e) {
					d.WithNote("sweep values are written out: they cannot use params or bindings")
				}
				ok = false
				continue
			}
			ax.values = append(ax.values, v)
			ax.types = append(ax.types, t)
			ax.spans = append(ax.spans, e.Span())
		}
		raw.axes = append(raw.axes, ax)
	}
	raw.failed = !ok
	if !ok {
		return raw
	}
	switch n := raw.len(); {
	case len(raw.axes) == 0 && raw.seeds == 1:
		c.diags.Errorf(s.At, "a sweep needs at least one param to vary or seeds > 1")
		raw.failed = true
	case n == math.MaxInt:
		c.diags.Errorf(s.At, "the sweep has more variants than the %d allowed", maxSweepVariants)
		raw.failed = true
	case n > maxSweepVariants:
		c.diags.Errorf(s.At, "the sweep has %d variants, more than the %d allowed", n, maxSweepVariants)
		raw.failed = true
	}
	return raw
}

// len returns the number of variants, math.MaxInt if it does not fit in an
// int.
func (r *rawSweep) len() int {
	n := r.seeds
	for _, ax := range r.axes {
		if k := len(ax.values); k > 0 && n > math.MaxInt/k {
			return math.MaxInt
		}
		n *= len(ax.values)
	}
	return n
}

// usesName reports whether e refers to a name (a param or a binding).
func usesName(e lang.Expr) bool {
	found := false
	freeNames(e, func(*lang.Ident) { found = true })
	return found
}

// constantOf checks e on its own (it may not use params or bindings) and
// returns its value and type, and whether it is a constant.
func constantOf(c *checker, e lang.Expr) (any, lang.Type, bool) {
	sub := &checker{reg: c.reg, params: map[string]*Param{}, paramDecl: map[string]bool{}, binds: map[string]*Binding{}, types: c.types, consts: map[lang.Expr]any{}}
	t, v, isConst := sub.expr(e)
	if sub.diags.HasErrors() || t == lang.Invalid {
		return nil, lang.Invalid, false
	}
	return v, t, isConst
}

func describeConst(t lang.Type, isConst bool) string {
	if !isConst || t == lang.Invalid {
		return "something that is not a constant"
	}
	return lang.Describe(t)
}

// sweepValue returns the value the variant gives param, converted to its
// type, and whether the variant sets it; a value of the wrong type is
// reported by finishSweep, not here.
func (r *rawSweep) sweepValue(variant int, p *Param) (any, bool) {
	rest := variant / r.seeds
	for a := len(r.axes) - 1; a >= 0; a-- {
		ax := r.axes[a]
		i := rest % len(ax.values)
		rest /= len(ax.values)
		if ax.param == p.Name {
			if !lang.AssignableTo(ax.types[i], p.Type) {
				return nil, false
			}
			return convertConst(ax.values[i], p.Type), true
		}
	}
	return nil, false
}

// finishSweep checks the sweep's values against the params' types and
// returns the checked sweep.
func (c *checker) finishSweep(r *rawSweep, experiment string) *Sweep {
	s := &Sweep{Name: r.stmt.Name, Seeds: r.seeds, Span: r.stmt.At}
	if s.Name == "" {
		s.Name = experiment
	}
	ok := true
	for _, ax := range r.axes {
		p := c.params[ax.param]
		if p == nil || p.Type == lang.Invalid {
			ok = false
			continue
		}
		out := SweepAxis{Param: ax.param, Span: ax.at}
		seen := map[string]bool{}
		for i, v := range ax.values {
			if !lang.AssignableTo(ax.types[i], p.Type) {
				d := c.diags.Errorf(ax.spans[i], "param %s is %s (default %s), but the sweep gives %s", p.Name, lang.Describe(p.Type), lang.FormatValue(p.Value), lang.FormatValue(v))
				if _, isList := p.Type.(*lang.List); isList {
					if _, givesList := ax.types[i].(*lang.List); !givesList {
						d.WithNote("each value of a list param is a list: %s = [%s, ...]", p.Name, lang.FormatValue(p.Value))
					}
				}
				ok = false
				continue
			}
			v = convertConst(v, p.Type)
			// Values are compared as the canonical form prints them:
			// 1e-3 and 0.001, or 1 and 1.0 for a float param, are one value.
			text := formatConst(v, p.Type)
			if seen[text] {
				c.diags.Errorf(ax.spans[i], "%s is listed twice for %s", text, p.Name)
				ok = false
				continue
			}
			seen[text] = true
			out.Values = append(out.Values, v)
		}
		s.Axes = append(s.Axes, out)
	}
	if !ok || r.failed {
		return nil
	}
	return s
}

// sweepText is the canonical text of a sweep's grid, hashed into its ID.
func sweepText(s *Sweep) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mlpipe-sweep %d\nname %q\nseeds %d\n", CanonicalVersion, s.Name, s.Seeds)
	for _, ax := range s.Axes {
		parts := make([]string, len(ax.Values))
		for i, v := range ax.Values {
			parts[i] = lang.FormatValue(v)
		}
		fmt.Fprintf(&b, "axis %s [%s]\n", ax.Param, strings.Join(parts, ", "))
	}
	return b.String()
}
