package interp

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/mlpipe/mlpipe/lang"
)

// StageKey is the cache identity of a stage: the hash of everything its
// value depends on.
type StageKey struct {
	// Key is "sha256:" and 64 hex digits.
	Key string
	// Ingredients is what Key hashes, one entry per thing a change of
	// which re-runs the stage:
	//
	//	stage              the binding's name (stage seeds derive from it)
	//	seed               the experiment's seed
	//	call               the outermost component, when the stage is a call
	//	arg NAME           each of its parameters in canonical form, defaults included
	//	expr               the canonical expression, when the stage is not a call
	//	param NAME         the value of each param it names (also folded into its arguments)
	//	input NAME         the key of each stage it uses
	//	component NAME     the version of each component it calls
	//	data PATH          the digest of each data file it reads
	//	codec KIND         the version of the encoding of its value
	//	format             the version of the canonical form
	//
	// Other stages appear in the arguments as @NAME; their keys are in the
	// input entries.
	Ingredients map[string]string
	// Component is the outermost component ("train"), or "".
	Component string
	// Cacheable reports whether the stage's value kind has a codec.
	Cacheable bool
	// DataFiles lists the data files the stage reads.
	DataFiles []DataFile
}

// Keys computes the cache key of every stage of g, hashing the data files
// the stages read. A data file that cannot be read is reported as a
// *StageError at the call that names it.
func (g *Graph) Keys(ctx context.Context) (map[string]*StageKey, error) {
	c := g.checked
	keys := make(map[string]*StageKey, len(g.Nodes))
	p := &canonPrinter{c: c}
	ref := func(name string) string { return "@" + name }
	for _, n := range g.Nodes {
		k := &StageKey{Ingredients: map[string]string{
			"stage":  n.Name,
			"seed":   strconv.FormatInt(c.Experiment.Seed, 10),
			"format": strconv.Itoa(CanonicalVersion),
		}}
		ing := k.Ingredients
		top := unparen(n.Expr)
		if call, ok := top.(*lang.CallExpr); ok {
			if comp, ok := c.Registry.Lookup(call.Func.Name); ok {
				k.Component = comp.Spec.Name
				ing["call"] = comp.Spec.Name
				for _, a := range p.args(comp, call, ref) {
					ing["arg "+a.name] = a.text
				}
			}
		}
		if k.Component == "" {
			ing["expr"] = p.expr(n.Expr, ref)
		}
		for _, d := range n.Deps {
			ing["input "+d.Name] = keys[d.Name].Key
		}
		freeNames(n.Expr, func(id *lang.Ident) {
			if prm, ok := c.Param(id.Name); ok {
				ing["param "+prm.Name] = formatConst(prm.Value, prm.Type)
			}
		})
		var err error
		walkCalls(n.Expr, func(call *lang.CallExpr) {
			comp, ok := c.Registry.Lookup(call.Func.Name)
			if !ok || err != nil {
				return
			}
			ing["component "+comp.Spec.Name] = strconv.Itoa(comp.Version())
			files, ferr := comp.Fingerprint(ctx, call.At, constArgs(c, comp, call))
			if ferr != nil {
				err = &StageError{Stage: n.Name, Span: call.At, Err: fmt.Errorf("%s: %w", comp.Spec.Name, ferr)}
				return
			}
			for _, f := range files {
				ing["data "+f.Path] = f.Digest
				k.DataFiles = append(k.DataFiles, f)
			}
		})
		if err != nil {
			return nil, err
		}
		if o, ok := n.Type.(*lang.Object); ok {
			if codec, ok := c.Registry.Codec(o.Kind); ok {
				k.Cacheable = true
				ing["codec "+string(o.Kind)] = strconv.Itoa(max(codec.Version, 1))
			}
		}
		k.Key = hashText(ingredientText(ing))
		keys[n.Name] = k
	}
	return keys, nil
}

// ingredientText is the hashed form of a key's ingredients: one sorted
// "name\tvalue" line each.
func ingredientText(ing map[string]string) string {
	names := make([]string, 0, len(ing))
	for name := range ing {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "%s\t%s\n", name, ing[name])
	}
	return b.String()
}

// constArgs returns the constant arguments of a call, by parameter name.
func constArgs(c *Checked, comp *Component, call *lang.CallExpr) map[string]any {
	vals := map[string]any{}
	for name, a := range argsByParam(&comp.Spec, call) {
		if v, ok := c.Consts[a]; ok {
			ps, _ := comp.Spec.Param(name)
			vals[name] = convertConst(v, ps.Type)
		}
	}
	return vals
}

func unparen(e lang.Expr) lang.Expr {
	for {
		p, ok := e.(*lang.ParenExpr)
		if !ok {
			return e
		}
		e = p.X
	}
}

// walkCalls calls f for every call in e, outermost first.
func walkCalls(e lang.Expr, f func(*lang.CallExpr)) {
	switch e := e.(type) {
	case *lang.CallExpr:
		f(e)
		for _, a := range e.Args {
			walkCalls(a.Value, f)
		}
	case *lang.ListExpr:
		for _, x := range e.Elems {
			walkCalls(x, f)
		}
	case *lang.SelectorExpr:
		walkCalls(e.X, f)
	case *lang.BinaryExpr:
		walkCalls(e.X, f)
		walkCalls(e.Y, f)
	case *lang.UnaryExpr:
		walkCalls(e.X, f)
	case *lang.ParenExpr:
		walkCalls(e.X, f)
	}
}

// Explain says why a stage's key differs from the key it had when its
// value was last cached: the ingredients that changed, were added or were
// removed, most telling first. It returns "" when they are the same.
func Explain(prev, cur map[string]string) string {
	var changed []string
	names := make([]string, 0, len(cur))
	for name := range cur {
		names = append(names, name)
	}
	for name := range prev {
		if _, ok := cur[name]; !ok {
			names = append(names, name)
		}
	}
	sort.SliceStable(names, func(i, j int) bool {
		ri, rj := explainRank(names[i]), explainRank(names[j])
		if ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	var paramChanges [][2]string // old and new values of changed params
	for _, name := range names {
		was, inPrev := prev[name]
		now, inCur := cur[name]
		if strings.HasPrefix(name, "param ") && inPrev && inCur && was != now {
			paramChanges = append(paramChanges, [2]string{was, now})
		}
		switch {
		case inPrev && inCur && was != now && strings.HasPrefix(name, "arg ") && explainedBy(paramChanges, was, now):
			// The changed param says it already.
		case inPrev && inCur && was != now:
			changed = append(changed, describeChange(name, was, now))
		case inCur && !inPrev:
			changed = append(changed, fmt.Sprintf("%s is new (%s)", describeIngredient(name), shorten(now)))
		case inPrev && !inCur:
			changed = append(changed, fmt.Sprintf("%s is gone (was %s)", describeIngredient(name), shorten(was)))
		}
	}
	return strings.Join(changed, "; ")
}

// explainedBy reports whether the change of an argument from was to now
// follows from one of the param changes.
func explainedBy(paramChanges [][2]string, was, now string) bool {
	for _, c := range paramChanges {
		if strings.Contains(was, c[0]) && strings.Contains(now, c[1]) {
			return true
		}
	}
	return false
}

// explainRank orders ingredients in explanations: arguments and data
// first, then inputs, then the rest.
func explainRank(name string) int {
	switch {
	case strings.HasPrefix(name, "param "):
		return -1
	case strings.HasPrefix(name, "arg "), name == "expr":
		return 0
	case strings.HasPrefix(name, "data "):
		return 1
	case strings.HasPrefix(name, "input "):
		return 2
	case name == "seed":
		return 3
	}
	return 4
}

func describeIngredient(name string) string {
	kind, rest, _ := strings.Cut(name, " ")
	switch kind {
	case "param":
		return "param " + rest
	case "arg":
		return "parameter " + rest
	case "input":
		return "input " + rest
	case "component":
		return "component " + rest + "'s version"
	case "data":
		return "data file " + rest
	case "codec":
		return "the cache encoding of " + rest + " values"
	case "format":
		return "the canonical form's version"
	case "expr":
		return "the expression"
	}
	return name
}

func describeChange(name, was, now string) string {
	if strings.HasPrefix(name, "input ") || strings.HasPrefix(name, "data ") {
		return fmt.Sprintf("%s changed", describeIngredient(name))
	}
	was, now = differingParts(was, now)
	return fmt.Sprintf("%s changed: %s -> %s", describeIngredient(name), shorten(was), shorten(now))
}

// differingParts cuts the common beginning and end off two long canonical
// texts, at argument boundaries, so that an explanation shows the part that
// changed: "adam(lr: 0.001, beta1: 0.9, ...)" against the same with lr 0.01
// gives "...lr: 0.001..." and "...lr: 0.01...".
func differingParts(a, b string) (string, string) {
	const short = 60
	if len(a) <= short && len(b) <= short {
		return a, b
	}
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	// Widen the differing middle to whole arguments.
	start := strings.LastIndexAny(a[:pre], "(,[") + 1
	for start < pre && a[start] == ' ' {
		start++
	}
	endA, endB := len(a)-suf, len(b)-suf
	if i := strings.IndexAny(a[endA:], ",)]"); i >= 0 {
		endA += i
		endB += i
	} else {
		endA, endB = len(a), len(b)
	}
	cut := func(s string, from, to int) string {
		out := s[from:to]
		if from > 0 {
			out = "..." + out
		}
		if to < len(s) {
			out += "..."
		}
		return out
	}
	return cut(a, start, endA), cut(b, start, endB)
}

// shorten keeps explanations on one line.
func shorten(s string) string {
	const maxLen = 80
	if len(s) > maxLen {
		return s[:maxLen-3] + "..."
	}
	return s
}
