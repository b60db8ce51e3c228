package interp

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"

	"github.com/mlpipe/mlpipe/lang"
)

// CanonicalVersion is the version of the canonical form. It is part of
// every hash, so a change to the form (which would change every id) is made
// by raising it.
const CanonicalVersion = 1

// Canonical returns the canonical form of a checked pipeline: the text
// that identifies what it computes, independent of how it is written.
//
// Imports are inlined (bindings from every file appear together), params
// are replaced by their resolved values (defaults and --set overrides
// applied), every call spells out all its parameters in declaration order
// (defaults included), constant expressions are folded, and bindings are
// sorted by name. Formatting, comments, the order of bindings and the files
// they live in do not matter; the experiment's name, version and seed do,
// and so do binding names (a stage's seed derives from its name). The
// experiment's doc string does not.
func Canonical(c *Checked) string {
	var b strings.Builder
	fmt.Fprintf(&b, "mlpipe-canonical %d\n", CanonicalVersion)
	fmt.Fprintf(&b, "experiment %q { version = %q seed = %d }\n", c.Experiment.Name, c.Experiment.Version, c.Experiment.Seed)
	p := &canonPrinter{c: c}
	for _, bind := range sortedBindings(c) {
		fmt.Fprintf(&b, "%s = %s\n", bind.Name, p.expr(bind.Stmt.Value, nil))
	}
	return b.String()
}

// DefinitionID returns the hash of the canonical form, "sha256:" and 64 hex
// digits.
func DefinitionID(c *Checked) string { return hashText(Canonical(c)) }

// RunID returns the id of a run of a definition with a seed by a version of
// mlpipe: the same three give the same id, so a run is found again by
// running it again.
func RunID(definitionID string, seed int64, mlpipeVersion string) string {
	return hashText(fmt.Sprintf("mlpipe-run %d\ndefinition %s\nseed %d\nmlpipe %s\n", CanonicalVersion, definitionID, seed, mlpipeVersion))
}

// ShortID returns the first 12 hex digits of an id, for display.
func ShortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		id = id[:12]
	}
	return id
}

func hashText(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "sha256:" + hex.EncodeToString(sum[:])
}

func sortedBindings(c *Checked) []*Binding {
	out := append([]*Binding(nil), c.Bindings...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// canonPrinter prints expressions in canonical form.
type canonPrinter struct {
	c *Checked
}

// expr prints e. ref, if not nil, prints a reference to a binding (the
// stage keys use it to print a binding's key instead of its name).
func (p *canonPrinter) expr(e lang.Expr, ref func(name string) string) string {
	if v, ok := p.c.Consts[e]; ok {
		return formatConst(v, p.c.Types[e])
	}
	switch e := e.(type) {
	case *lang.ParenExpr:
		return p.expr(e.X, ref)
	case *lang.Ident:
		if ref != nil {
			return ref(e.Name)
		}
		return e.Name
	case *lang.ListExpr:
		parts := make([]string, len(e.Elems))
		for i, x := range e.Elems {
			parts[i] = p.expr(x, ref)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case *lang.SelectorExpr:
		return p.expr(e.X, ref) + "." + e.Sel.Name
	case *lang.UnaryExpr:
		return "-(" + p.expr(e.X, ref) + ")"
	case *lang.BinaryExpr:
		return "(" + p.expr(e.X, ref) + " " + e.Op + " " + p.expr(e.Y, ref) + ")"
	case *lang.CallExpr:
		return p.call(e, ref)
	}
	return fmt.Sprintf("<%T>", e)
}

// call prints a call with every parameter named, in declaration order, the
// defaults of those not given included.
func (p *canonPrinter) call(e *lang.CallExpr, ref func(string) string) string {
	comp, ok := p.c.Registry.Lookup(e.Func.Name)
	if !ok {
		return e.Func.Name + "(<unknown>)"
	}
	args := p.args(comp, e, ref)
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = a.name + ": " + a.text
	}
	return comp.Spec.Name + "(" + strings.Join(parts, ", ") + ")"
}

// canonArg is one argument of a call in canonical form.
type canonArg struct{ name, text string }

// args returns the canonical text of every parameter of a call to comp, in
// declaration order: the arguments given and the defaults of the others
// (parameters with neither are left out).
func (p *canonPrinter) args(comp *Component, e *lang.CallExpr, ref func(string) string) []canonArg {
	spec := &comp.Spec
	given := argsByParam(spec, e)
	var out []canonArg
	for i := range spec.Params {
		ps := &spec.Params[i]
		var text string
		if a, ok := given[ps.Name]; ok {
			if v, isConst := p.c.Consts[a]; isConst {
				text = formatConst(convertConst(v, ps.Type), ps.Type)
			} else {
				text = p.expr(a, ref)
			}
		} else if ps.Default != nil {
			text = formatConst(ps.Default, ps.Type)
		} else {
			continue
		}
		out = append(out, canonArg{ps.Name, text})
	}
	return out
}

// argsByParam maps each parameter given in a call to its argument, placing
// positional arguments as the checker does.
func argsByParam(spec *lang.ComponentSpec, e *lang.CallExpr) map[string]lang.Expr {
	out := map[string]lang.Expr{}
	next := 0
	for _, a := range e.Args {
		if a.Name != nil {
			out[a.Name.Name] = a.Value
			continue
		}
		for next < len(spec.Params) && !spec.Params[next].Positional {
			next++
		}
		if next < len(spec.Params) {
			out[spec.Params[next].Name] = a.Value
			next++
		}
	}
	return out
}

// formatConst prints a constant so that an int and a float of the same
// value differ only where their types do: a float parameter given 3 prints
// 3.0 either way.
func formatConst(v any, t lang.Type) string {
	if t == lang.Float {
		switch x := v.(type) {
		case int64:
			return lang.FormatFloat(float64(x))
		case int:
			return lang.FormatFloat(float64(x))
		}
	}
	if l, ok := t.(*lang.List); ok {
		if xs, ok := v.([]any); ok {
			parts := make([]string, len(xs))
			for i, x := range xs {
				parts[i] = formatConst(x, l.Elem)
			}
			return "[" + strings.Join(parts, ", ") + "]"
		}
	}
	return lang.FormatValue(v)
}
