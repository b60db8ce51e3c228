package interp

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/mlpipe/mlpipe/lang"
)

// StageError is a failure while running a stage: the stage's name, the
// source position of the call that failed, and the cause.
type StageError struct {
	Stage string
	Span  lang.Span
	Err   error
}

// Error formats the error as file:line:col: stage NAME: cause.
func (e *StageError) Error() string {
	return fmt.Sprintf("%s: stage %s: %v", e.Span, e.Stage, e.Err)
}

// Unwrap returns the cause.
func (e *StageError) Unwrap() error { return e.Err }

// Results holds the value of every stage of a finished run.
type Results struct {
	Values map[string]any // by stage name; skipped stages have none
	Order  []string       // stage names in dependency order
	Stages []*StageReport // in dependency order
}

// StageStatus says what became of a stage in a run.
type StageStatus string

// What became of a stage.
const (
	StageRan     StageStatus = "ran"     // computed
	StageReused  StageStatus = "reused"  // its value came from the stage cache
	StageSkipped StageStatus = "skipped" // not needed: every stage using it was reused
)

// StageReport tells what became of one stage and why.
type StageReport struct {
	Name    string
	Status  StageStatus
	Reason  string    // why it ran, or where its value came from
	Key     *StageKey // nil when the run computed no keys
	Seconds float64   // time spent on it, decoding included
}

// Run executes the graph: each stage once its dependencies are done, up to
// cfg.Parallel at a time. With a cache, a stage whose key is cached is
// reused instead of run, and a stage that only such stages need is skipped.
// The first failure cancels the others and is returned as a *StageError; a
// cancelled ctx stops the run between steps and returns an error wrapping
// ctx.Err().
func Run(ctx context.Context, g *Graph, cfg *RunConfig) (*Results, error) {
	if cfg == nil {
		cfg = &RunConfig{}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ev := &evaluator{g: g, cfg: cfg, values: map[string]any{}, params: map[string]any{}}
	for _, p := range g.checked.Params {
		ev.params[p.Name] = p.Value
	}
	plan, err := ev.plan(ctx)
	if err != nil {
		return nil, err
	}
	ev.keys = map[string]string{}
	ev.checkpoints = map[string]*checkpointSet{}
	for n, st := range plan {
		if st.report.Key != nil {
			ev.keys[n.Name] = st.report.Key.Key
		}
		ev.checkpoints[n.Name] = &checkpointSet{}
	}
	par := max(cfg.Parallel, 1)
	sem := make(chan struct{}, par)
	done := make(map[*Node]chan struct{}, len(g.Nodes))
	for _, n := range g.Nodes {
		done[n] = make(chan struct{})
	}
	var (
		wg       sync.WaitGroup
		errMu    sync.Mutex
		firstErr error
	)
	fail := func(err error) {
		errMu.Lock()
		defer errMu.Unlock()
		if firstErr == nil {
			firstErr = err
			cancel(err)
		}
	}
	for _, n := range g.Nodes {
		wg.Add(1)
		go func(n *Node) {
			defer wg.Done()
			defer close(done[n])
			for _, d := range n.Deps {
				select {
				case <-done[d]:
				case <-ctx.Done():
					return
				}
			}
			st := plan[n]
			if st.report.Status == StageSkipped {
				cfg.stageDone(st.report)
				return
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			if ctx.Err() != nil {
				return
			}
			start := time.Now()
			v := st.cached
			if st.report.Status == StageRan {
				var err error
				if v, err = ev.node(ctx, n); err != nil {
					fail(err)
					return
				}
			}
			if err := ev.finish(ctx, n, st, v); err != nil {
				fail(err)
				return
			}
			ev.mu.Lock()
			ev.values[n.Name] = v
			ev.mu.Unlock()
			st.report.Seconds += time.Since(start).Seconds()
			cfg.stageDone(st.report)
		}(n)
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("run interrupted: %w", context.Cause(ctx))
	}
	res := &Results{Values: ev.values}
	for _, n := range g.Nodes {
		res.Order = append(res.Order, n.Name)
		res.Stages = append(res.Stages, plan[n].report)
	}
	return res, nil
}

// stagePlan is what the run will do with one stage.
type stagePlan struct {
	report *StageReport
	cached any // the decoded cached value of a reused stage
}

// plan decides for every stage whether it is reused from the cache, run,
// or skipped, and why.
func (ev *evaluator) plan(ctx context.Context) (map[*Node]*stagePlan, error) {
	cfg, g := ev.cfg, ev.g
	keys := cfg.Keys
	if keys == nil && cfg.Cache != nil {
		var err error
		if keys, err = g.Keys(ctx); err != nil {
			return nil, err
		}
	}
	plan := make(map[*Node]*stagePlan, len(g.Nodes))
	for _, n := range g.Nodes {
		st := &stagePlan{report: &StageReport{Name: n.Name, Status: StageRan, Key: keys[n.Name]}}
		plan[n] = st
		switch {
		case cfg.Cache == nil:
			st.report.Reason = "the stage cache is off"
		case !st.report.Key.Cacheable:
			st.report.Reason = fmt.Sprintf("%s values are computed, not cached", describeType(n.Type))
		default:
			ev.lookup(ctx, n, st)
		}
	}
	// A stage is needed if nothing uses it (it is a result), or if a
	// needed stage that runs uses it. Dependents come after their
	// dependencies in g.Nodes, so one backward pass settles every stage.
	used := map[*Node]bool{}
	for _, n := range g.Nodes {
		for _, d := range n.Deps {
			used[d] = true
		}
	}
	needed := map[*Node]bool{}
	for i := len(g.Nodes) - 1; i >= 0; i-- {
		n := g.Nodes[i]
		if !used[n] {
			needed[n] = true
		}
		st := plan[n]
		if !needed[n] {
			st.report.Reason = "not needed: every stage that uses it was reused"
			if st.report.Status == StageReused {
				st.report.Reason = "in the stage cache (key " + ShortID(st.report.Key.Key) + "), and not needed: every stage that uses it was reused"
			}
			st.report.Status = StageSkipped
			st.cached = nil
			continue
		}
		if st.report.Status == StageRan {
			for _, d := range n.Deps {
				needed[d] = true
			}
		}
	}
	return plan, nil
}

// lookup finds a cacheable stage's value in the cache, or says why it must
// run.
func (ev *evaluator) lookup(ctx context.Context, n *Node, st *stagePlan) {
	key := st.report.Key
	data, err := ev.cfg.Cache.Get(ctx, key.Key)
	if err == nil {
		codec, _ := ev.g.checked.Registry.Codec(kindOf(n.Type))
		v, derr := decodeValue(codec, data)
		if derr == nil {
			st.report.Status = StageReused
			st.report.Reason = "reused from the stage cache (key " + ShortID(key.Key) + ")"
			st.cached = v
			return
		}
		err = derr
	}
	if !errors.Is(err, ErrCacheMiss) {
		st.report.Reason = fmt.Sprintf("its cached value is unreadable (%v), so it runs again", err)
		return
	}
	prev, err := ev.cfg.Cache.Last(ctx, n.Name)
	switch {
	case errors.Is(err, ErrCacheMiss):
		st.report.Reason = "not in the stage cache: it has not run before"
	case err != nil:
		st.report.Reason = fmt.Sprintf("not in the stage cache (its last entry is unreadable: %v)", err)
	default:
		why := Explain(prev.Ingredients, key.Ingredients)
		if why == "" {
			why = "its cached value is gone (mlpipe cache gc?)"
		}
		st.report.Reason = why
	}
}

// decodeValue decodes a cached value, turning a panic of a faulty decoder
// into an error: cached bytes come from disk.
func decodeValue(c Codec, data []byte) (v Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decoding failed: %v", r)
		}
	}()
	return c.Decode(data)
}

// finish does what follows a stage's value, whether it ran or was reused:
// it writes the value's output files, reports its measurements, and stores
// a freshly computed cacheable value in the cache.
func (ev *evaluator) finish(ctx context.Context, n *Node, st *stagePlan, v any) error {
	cfg := ev.cfg
	if o, ok := v.(Outputter); ok && cfg.OutDir != "" {
		files, err := o.Outputs()
		if err != nil {
			return &StageError{Stage: n.Name, Span: n.Span, Err: err}
		}
		for _, f := range files {
			if _, err := cfg.writeOutput(n.Name, f.Name, f.MediaType, f.Data); err != nil {
				return &StageError{Stage: n.Name, Span: n.Span, Err: err}
			}
		}
	}
	if m, ok := v.(Measured); ok && cfg.OnMeasure != nil {
		cfg.OnMeasure(n.Name, m.Measurements())
	}
	if st.report.Status != StageRan || cfg.Cache == nil || st.report.Key == nil || !st.report.Key.Cacheable {
		return nil
	}
	codec, _ := ev.g.checked.Registry.Codec(kindOf(n.Type))
	val, ok := v.(Value)
	if !ok {
		return nil
	}
	data, err := codec.Encode(val)
	if err == nil {
		err = cfg.Cache.Put(ctx, CacheEntry{Key: st.report.Key.Key, Stage: n.Name, Component: st.report.Key.Component, Ingredients: st.report.Key.Ingredients}, data)
	}
	if err != nil {
		cfg.logf("%s: warning: its result was not cached: %v", n.Name, err)
		return nil
	}
	// The value is cached: its checkpoints are of no more use.
	for _, key := range ev.checkpoints[n.Name].keys {
		if err := cfg.Cache.Delete(ctx, key); err != nil {
			cfg.logf("%s: warning: a checkpoint was not removed: %v", n.Name, err)
		}
	}
	return nil
}

// describeType names a type in messages: its kind for objects.
func describeType(t lang.Type) string {
	if k := kindOf(t); k != "" {
		return string(k)
	}
	return t.String()
}

// kindOf returns the kind of an object type, or "" for other types.
func kindOf(t lang.Type) lang.Kind {
	if o, ok := t.(*lang.Object); ok {
		return o.Kind
	}
	return ""
}

type evaluator struct {
	g      *Graph
	cfg    *RunConfig
	params map[string]any
	mu     sync.Mutex
	values map[string]any
	// keys and checkpoints are per stage, set up by Run before any stage
	// starts and read-only after.
	keys        map[string]string
	checkpoints map[string]*checkpointSet
}

// node computes one stage, turning panics into errors.
func (ev *evaluator) node(ctx context.Context, n *Node) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &StageError{Stage: n.Name, Span: n.Span, Err: fmt.Errorf("internal error (please report it): %v\n%s", r, firstFrames(debug.Stack()))}
		}
	}()
	return ev.eval(ctx, n, n.Expr, n.Name)
}

// firstFrames keeps the top of a stack trace for an internal-error report.
func firstFrames(stack []byte) string {
	lines := strings.Split(string(stack), "\n")
	if len(lines) > 16 {
		lines = lines[:16]
	}
	return strings.Join(lines, "\n")
}

func (ev *evaluator) wrap(n *Node, at lang.Span, err error) error {
	var se *StageError
	if errors.As(err, &se) {
		return err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &StageError{Stage: n.Name, Span: at, Err: err}
}

func (ev *evaluator) eval(ctx context.Context, n *Node, e lang.Expr, path string) (any, error) {
	if v, ok := ev.g.checked.Consts[e]; ok {
		return v, nil
	}
	switch e := e.(type) {
	case *lang.ParenExpr:
		return ev.eval(ctx, n, e.X, path)
	case *lang.Ident:
		if v, ok := ev.params[e.Name]; ok {
			return v, nil
		}
		ev.mu.Lock()
		v, ok := ev.values[e.Name]
		ev.mu.Unlock()
		if !ok {
			return nil, ev.wrap(n, e.At, fmt.Errorf("internal error: %s has no value", e.Name))
		}
		return v, nil
	case *lang.ListExpr:
		out := make([]any, len(e.Elems))
		for i, x := range e.Elems {
			v, err := ev.eval(ctx, n, x, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case *lang.SelectorExpr:
		x, err := ev.eval(ctx, n, e.X, path)
		if err != nil {
			return nil, err
		}
		s, ok := x.(Selector)
		if !ok {
			return nil, ev.wrap(n, e.At, fmt.Errorf("internal error: %T has no members", x))
		}
		v, err := s.Select(e.Sel.Name)
		if err != nil {
			return nil, ev.wrap(n, e.Sel.At, err)
		}
		return v, nil
	case *lang.CallExpr:
		return ev.call(ctx, n, e, path)
	case *lang.UnaryExpr:
		x, err := ev.eval(ctx, n, e.X, path)
		if err != nil {
			return nil, err
		}
		switch x := x.(type) {
		case int64:
			return -x, nil
		case float64:
			return -x, nil
		}
		return nil, ev.wrap(n, e.At, fmt.Errorf("cannot negate %T", x))
	case *lang.BinaryExpr:
		return ev.binary(ctx, n, e, path)
	}
	return nil, ev.wrap(n, e.Span(), fmt.Errorf("internal error: cannot evaluate %T", e))
}

func (ev *evaluator) call(ctx context.Context, n *Node, e *lang.CallExpr, path string) (any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	comp, ok := ev.g.checked.Registry.Lookup(e.Func.Name)
	if !ok {
		return nil, ev.wrap(n, e.Func.At, fmt.Errorf("internal error: unknown component %s", e.Func.Name))
	}
	spec := &comp.Spec
	vals := map[string]any{}
	argAt := map[string]lang.Span{}
	next := 0
	for _, a := range e.Args {
		var p *lang.ParamSpec
		if a.Name == nil {
			for next < len(spec.Params) && !spec.Params[next].Positional {
				next++
			}
			if next >= len(spec.Params) {
				return nil, ev.wrap(n, a.At, fmt.Errorf("internal error: too many arguments"))
			}
			p = &spec.Params[next]
			next++
		} else {
			p, _ = spec.Param(a.Name.Name)
			if p == nil {
				return nil, ev.wrap(n, a.At, fmt.Errorf("internal error: unknown parameter %s", a.Name.Name))
			}
		}
		v, err := ev.eval(ctx, n, a.Value, path+"."+p.Name)
		if err != nil {
			return nil, err
		}
		vals[p.Name] = convertConst(v, p.Type)
		argAt[p.Name] = a.At
	}
	env := &Env{
		Stage:       n.Name,
		Path:        path,
		Span:        e.At,
		Experiment:  ev.g.checked.Experiment,
		Params:      ev.params,
		cfg:         ev.cfg,
		seed:        DeriveSeed(ev.g.checked.Experiment.Seed, path),
		stageKey:    ev.keys[n.Name],
		checkpoints: ev.checkpoints[n.Name],
	}
	v, err := comp.Build(ctx, env, vals)
	if err != nil {
		at := e.At
		var ae *ArgError
		if errors.As(err, &ae) {
			if s, ok := argAt[ae.Param]; ok {
				at = s
			}
		}
		return nil, ev.wrap(n, at, fmt.Errorf("%s: %w", spec.Name, err))
	}
	return v, nil
}

func (ev *evaluator) binary(ctx context.Context, n *Node, e *lang.BinaryExpr, path string) (any, error) {
	t := ev.g.checked.Types[e]
	o, isObj := t.(*lang.Object)
	reg := ev.g.checked.Registry
	switch {
	case e.Op == "|" && isObj:
		var parts []lang.Expr
		flattenPipe(e, &parts)
		vals := make([]Value, len(parts))
		for i, p := range parts {
			v, err := ev.eval(ctx, n, p, fmt.Sprintf("%s|%d", path, i))
			if err != nil {
				return nil, err
			}
			vals[i] = v.(Value)
		}
		v, err := reg.pipes[o.Kind](vals)
		if err != nil {
			return nil, ev.wrap(n, e.At, err)
		}
		return v, nil
	case isObj:
		var terms []Term
		if err := ev.terms(ctx, n, e, 1, path, &terms); err != nil {
			return nil, err
		}
		v, err := reg.sums[o.Kind](terms)
		if err != nil {
			return nil, ev.wrap(n, e.At, err)
		}
		return v, nil
	}
	x, err := ev.eval(ctx, n, e.X, path)
	if err != nil {
		return nil, err
	}
	y, err := ev.eval(ctx, n, e.Y, path)
	if err != nil {
		return nil, err
	}
	xi, xInt := x.(int64)
	yi, yInt := y.(int64)
	if xInt && yInt && e.Op != "/" {
		switch e.Op {
		case "+":
			return xi + yi, nil
		case "-":
			return xi - yi, nil
		case "*":
			return xi * yi, nil
		}
	}
	xf, yf := toFloat(x), toFloat(y)
	switch e.Op {
	case "+":
		return xf + yf, nil
	case "-":
		return xf - yf, nil
	case "*":
		return xf * yf, nil
	case "/":
		if yf == 0 {
			return nil, ev.wrap(n, e.Y.Span(), fmt.Errorf("division by zero"))
		}
		return xf / yf, nil
	}
	return nil, ev.wrap(n, e.OpSpan, fmt.Errorf("internal error: operator %s", e.Op))
}

func flattenPipe(e lang.Expr, out *[]lang.Expr) {
	if b, ok := e.(*lang.BinaryExpr); ok && b.Op == "|" {
		flattenPipe(b.X, out)
		flattenPipe(b.Y, out)
		return
	}
	if p, ok := e.(*lang.ParenExpr); ok {
		flattenPipe(p.X, out)
		return
	}
	*out = append(*out, e)
}

// terms flattens a weighted sum of objects into terms, multiplying weights
// through * and / by numbers and negating through -.
func (ev *evaluator) terms(ctx context.Context, n *Node, e lang.Expr, w float64, path string, out *[]Term) error {
	switch x := e.(type) {
	case *lang.ParenExpr:
		return ev.terms(ctx, n, x.X, w, path, out)
	case *lang.BinaryExpr:
		_, xObj := ev.g.checked.Types[x.X].(*lang.Object)
		_, yObj := ev.g.checked.Types[x.Y].(*lang.Object)
		switch x.Op {
		case "+", "-":
			if err := ev.terms(ctx, n, x.X, w, path, out); err != nil {
				return err
			}
			if x.Op == "-" {
				return ev.terms(ctx, n, x.Y, -w, path, out)
			}
			return ev.terms(ctx, n, x.Y, w, path, out)
		case "*", "/":
			obj, num := x.X, x.Y
			if !xObj && yObj {
				obj, num = x.Y, x.X
			}
			nv, err := ev.eval(ctx, n, num, path)
			if err != nil {
				return err
			}
			f := toFloat(nv)
			if x.Op == "/" {
				if f == 0 {
					return ev.wrap(n, num.Span(), fmt.Errorf("division by zero"))
				}
				f = 1 / f
			}
			return ev.terms(ctx, n, obj, w*f, path, out)
		}
	}
	v, err := ev.eval(ctx, n, e, fmt.Sprintf("%s+%d", path, len(*out)))
	if err != nil {
		return err
	}
	*out = append(*out, Term{Weight: w, Value: v.(Value)})
	return nil
}
