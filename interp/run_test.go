package interp_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/parser"
)

// fakeValue is the run-time value of every fake component: a label and a
// kind.
type fakeValue struct {
	kind  lang.Kind
	label string
}

func (v *fakeValue) Type() lang.Type { return lang.ObjectOf(v.kind) }

// envInfo is what a fake component saw of its Env.
type envInfo struct {
	Stage, Path string
	Span        lang.Span
	Seed        int64
	ExpSeed     int64
	Params      map[string]any
}

// fakeWorld is the state the fake components share with a test.
type fakeWorld struct {
	mu      sync.Mutex
	log     []string           // "start x", "end x", ...
	envs    map[string]envInfo // by call path
	started chan string        // block() sends its label when it starts
	arrive  [2]chan struct{}   // meet(id) closes arrive[id] and waits for the other
	meetFor time.Duration      // how long meet waits for the other
	writes  map[string]string  // write(): name -> path written or error
}

func (w *fakeWorld) record(format string, args ...any) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.log = append(w.log, fmt.Sprintf(format, args...))
}

func (w *fakeWorld) saw(env *interp.Env) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.envs[env.Path] = envInfo{Stage: env.Stage, Path: env.Path, Span: env.Span, Seed: env.Seed(), ExpSeed: env.Experiment.Seed, Params: env.Params}
}

type recArgs struct {
	Name  string         `mlp:"name,positional" doc:"The label." required:"true"`
	After []interp.Value `mlp:"after" doc:"Values it depends on." kind:"model" optional:"true"`
	Inner interp.Value   `mlp:"inner" doc:"A nested value." kind:"model" optional:"true"`
	Sleep int            `mlp:"sleep" doc:"Milliseconds to sleep." range:"[0,10000]"`
}

type lossArgs struct {
	Name string `mlp:"name,positional" doc:"The label." required:"true"`
}

type failArgs struct {
	Msg   string `mlp:"msg" doc:"The error message."`
	Blame bool   `mlp:"blame" doc:"Blame the msg argument."`
	Wait  bool   `mlp:"wait" doc:"Wait until a block() has started."`
}

type noArgs struct{}

type meetArgs struct {
	ID int `mlp:"id,positional" doc:"0 or 1." range:"[0,1]" required:"true"`
}

type writeArgs struct {
	Name string `mlp:"name,positional" doc:"File name." required:"true"`
	Data string `mlp:"data" doc:"Content."`
}

// newFakeRegistry returns a registry of tiny components that record what
// they do in w.
func newFakeRegistry(w *fakeWorld) *interp.Registry {
	r := interp.NewRegistry()
	model := lang.ObjectOf(lang.KindModel)
	interp.Register(r, interp.Def[recArgs]{
		Name: "rec", Category: lang.KindModel, Doc: "Records its start and end.", Result: model,
		Build: func(ctx context.Context, env *interp.Env, a *recArgs) (interp.Value, error) {
			w.record("start %s", a.Name)
			w.saw(env)
			time.Sleep(time.Duration(a.Sleep) * time.Millisecond)
			w.record("end %s", a.Name)
			return &fakeValue{kind: lang.KindModel, label: a.Name}, nil
		},
	})
	interp.Register(r, interp.Def[lossArgs]{
		Name: "lossc", Category: lang.KindLoss, Doc: "A labelled loss.", Result: lang.ObjectOf(lang.KindLoss),
		Build: func(ctx context.Context, env *interp.Env, a *lossArgs) (interp.Value, error) {
			w.saw(env)
			return &fakeValue{kind: lang.KindLoss, label: a.Name}, nil
		},
	})
	interp.Register(r, interp.Def[failArgs]{
		Name: "fail", Category: lang.KindModel, Doc: "Fails.", Result: model, Defaults: failArgs{Msg: "boom"},
		Build: func(ctx context.Context, env *interp.Env, a *failArgs) (interp.Value, error) {
			if a.Wait {
				<-w.started
			}
			if a.Blame {
				return nil, interp.ArgErrorf("msg", "bad msg %q", a.Msg)
			}
			return nil, errors.New(a.Msg)
		},
	})
	interp.Register(r, interp.Def[noArgs]{
		Name: "explode", Category: lang.KindModel, Doc: "Panics.", Result: model,
		Build: func(ctx context.Context, env *interp.Env, a *noArgs) (interp.Value, error) {
			var list []int
			return nil, fmt.Errorf("unreachable: %d", list[len(env.Stage)]) // index out of range: a run-time panic
		},
	})
	interp.Register(r, interp.Def[noArgs]{
		Name: "block", Category: lang.KindModel, Doc: "Blocks until cancelled.", Result: model,
		Build: func(ctx context.Context, env *interp.Env, a *noArgs) (interp.Value, error) {
			w.record("start %s", env.Stage)
			w.started <- env.Stage
			<-ctx.Done()
			w.record("cancelled %s", env.Stage)
			return nil, ctx.Err()
		},
	})
	interp.Register(r, interp.Def[meetArgs]{
		Name: "meet", Category: lang.KindModel, Doc: "Waits for its partner to run at the same time.", Result: model,
		Build: func(ctx context.Context, env *interp.Env, a *meetArgs) (interp.Value, error) {
			close(w.arrive[a.ID])
			select {
			case <-w.arrive[1-a.ID]:
				return &fakeValue{kind: lang.KindModel, label: env.Stage}, nil
			case <-time.After(w.meetFor):
				return nil, fmt.Errorf("meet %d: partner never came", a.ID)
			}
		},
	})
	interp.Register(r, interp.Def[writeArgs]{
		Name: "write", Category: lang.KindReport, Doc: "Writes a file.", Result: lang.ObjectOf(lang.KindReport),
		Build: func(ctx context.Context, env *interp.Env, a *writeArgs) (interp.Value, error) {
			path, err := env.WriteFile(a.Name, []byte(a.Data))
			w.mu.Lock()
			defer w.mu.Unlock()
			if err != nil {
				w.writes[a.Name] = "error: " + err.Error()
			} else {
				w.writes[a.Name] = path
			}
			return &fakeValue{kind: lang.KindReport, label: a.Name}, nil
		},
	})
	r.RegisterPipe(lang.KindModel, func(parts []interp.Value) (interp.Value, error) {
		var labels []string
		for _, p := range parts {
			labels = append(labels, p.(*fakeValue).label)
		}
		return &fakeValue{kind: lang.KindModel, label: strings.Join(labels, "|")}, nil
	})
	r.RegisterSum(lang.KindLoss, func(terms []interp.Term) (interp.Value, error) {
		var parts []string
		for _, t := range terms {
			parts = append(parts, fmt.Sprintf("%g*%s", t.Weight, t.Value.(*fakeValue).label))
		}
		return &fakeValue{kind: lang.KindLoss, label: strings.Join(parts, " + ")}, nil
	})
	return r
}

func newWorld() *fakeWorld {
	return &fakeWorld{
		envs:    map[string]envInfo{},
		started: make(chan string, 8),
		arrive:  [2]chan struct{}{make(chan struct{}), make(chan struct{})},
		meetFor: 5 * time.Second,
		writes:  map[string]string{},
	}
}

// checkFake parses src as run.mlp and checks it against r.
func checkFake(t *testing.T, r *interp.Registry, src string) *interp.Checked {
	t.Helper()
	f, err := parser.Parse("run.mlp", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c, err := interp.Check(&lang.Program{Main: f, Files: []*lang.File{f}}, r, interp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// compile parses, checks and compiles src against the fake registry.
func compile(t *testing.T, w *fakeWorld, src string) (*interp.Graph, *lang.File) {
	t.Helper()
	c := checkFake(t, newFakeRegistry(w), src)
	g, err := interp.Compile(c)
	if err != nil {
		t.Fatal(err)
	}
	return g, c.Program.Main
}

// run runs g with a deadline, so that a bug that deadlocks fails the test
// instead of hanging it.
func run(t *testing.T, ctx context.Context, g *interp.Graph, cfg *interp.RunConfig) (*interp.Results, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	type result struct {
		res *interp.Results
		err error
	}
	ch := make(chan result, 1)
	go func() {
		res, err := interp.Run(ctx, g, cfg)
		ch <- result{res, err}
	}()
	select {
	case r := <-ch:
		return r.res, r.err
	case <-time.After(25 * time.Second):
		t.Fatal("Run did not return")
		return nil, nil
	}
}

// callSpan finds the span of the first call of fn in binding name.
func callSpan(t *testing.T, f *lang.File, name, fn string) lang.Span {
	t.Helper()
	for _, s := range f.Stmts {
		b, ok := s.(*lang.BindStmt)
		if !ok || b.Name.Name != name {
			continue
		}
		var found lang.Span
		var walk func(e lang.Expr)
		walk = func(e lang.Expr) {
			switch e := e.(type) {
			case *lang.CallExpr:
				if e.Func.Name == fn && !found.IsValid() {
					found = e.At
				}
				for _, a := range e.Args {
					walk(a.Value)
				}
			case *lang.BinaryExpr:
				walk(e.X)
				walk(e.Y)
			case *lang.ListExpr:
				for _, x := range e.Elems {
					walk(x)
				}
			case *lang.ParenExpr:
				walk(e.X)
			}
		}
		walk(b.Value)
		if found.IsValid() {
			return found
		}
	}
	t.Fatalf("no call of %s in %s", fn, name)
	return lang.Span{}
}

func TestRunDependencyOrder(t *testing.T) {
	src := `mlpipe 1
d = rec("d", after: [b, c])
c = rec("c", after: [a], sleep: 5)
b = rec("b", after: [a], sleep: 10)
a = rec("a", sleep: 5)
e = rec("e")
`
	deps := map[string][]string{"d": {"b", "c"}, "c": {"a"}, "b": {"a"}}
	for _, par := range []int{0, 1, 2, 8} {
		t.Run(fmt.Sprintf("parallel=%d", par), func(t *testing.T) {
			w := newWorld()
			g, _ := compile(t, w, src)
			res, err := run(t, context.Background(), g, &interp.RunConfig{Parallel: par})
			if err != nil {
				t.Fatal(err)
			}
			at := map[string]int{}
			for i, entry := range w.log {
				at[entry] = i
			}
			for stage, ds := range deps {
				for _, d := range ds {
					if at["end "+d] > at["start "+stage] {
						t.Errorf("%s started before its dependency %s ended: %v", stage, d, w.log)
					}
				}
			}
			if len(w.log) != 10 {
				t.Errorf("log %v, want every stage started and ended once", w.log)
			}
			// Order lists dependencies first; ties keep source order.
			if got, want := strings.Join(res.Order, " "), "a b c d e"; got != want {
				t.Errorf("Order = %s, want %s", got, want)
			}
			for _, name := range res.Order {
				v, ok := res.Values[name].(*fakeValue)
				if !ok || v.label != name {
					t.Errorf("Values[%s] = %#v", name, res.Values[name])
				}
			}
		})
	}
}

// TestRunParallel runs two independent stages that can only finish if they
// run at the same time: each waits for the other to arrive.
func TestRunParallel(t *testing.T) {
	src := "mlpipe 1\nx = meet(0)\ny = meet(1)\nz = rec(\"z\", after: [x, y])\n"
	w := newWorld()
	g, _ := compile(t, w, src)
	res, err := run(t, context.Background(), g, &interp.RunConfig{Parallel: 2})
	if err != nil {
		t.Fatalf("with Parallel 2: %v", err)
	}
	if len(res.Values) != 3 {
		t.Errorf("values %v", res.Values)
	}

	// Run one at a time, the first to start waits in vain.
	w = newWorld()
	w.meetFor = 100 * time.Millisecond
	g, _ = compile(t, w, src)
	_, err = run(t, context.Background(), g, &interp.RunConfig{Parallel: 1})
	var se *interp.StageError
	if !errors.As(err, &se) || !strings.Contains(se.Err.Error(), "partner never came") {
		t.Errorf("with Parallel 1: error %v, want a StageError from meet", err)
	}
	if slices.Contains(w.log, "start z") {
		t.Errorf("z ran after its dependency failed")
	}
}

func TestRunStageError(t *testing.T) {
	w := newWorld()
	g, f := compile(t, w, "mlpipe 1\nok = rec(\"ok\")\nbad = rec(\"outer\", inner: fail(msg: \"disk on fire\"))\nafter = rec(\"after\", after: [bad])\n")
	_, err := run(t, context.Background(), g, &interp.RunConfig{Parallel: 1})
	var se *interp.StageError
	if !errors.As(err, &se) {
		t.Fatalf("error %v (%T), want a *interp.StageError", err, err)
	}
	if se.Stage != "bad" {
		t.Errorf("Stage = %q, want bad", se.Stage)
	}
	// The span is the failing call's, inside the binding.
	if want := callSpan(t, f, "bad", "fail"); se.Span != want {
		t.Errorf("Span = %s, want the call of fail at %s", pos(se.Span), pos(want))
	}
	if got, want := se.Error(), "run.mlp:3:27: stage bad: fail: disk on fire"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if slices.Contains(w.log, "start after") {
		t.Errorf("a stage ran after its dependency failed: %v", w.log)
	}
}

func TestRunBlamedArgument(t *testing.T) {
	w := newWorld()
	g, f := compile(t, w, "mlpipe 1\nblamed = fail(msg: \"x\", blame: true)\n")
	_, err := run(t, context.Background(), g, nil)
	var se *interp.StageError
	if !errors.As(err, &se) {
		t.Fatalf("error %v, want a StageError", err)
	}
	arg := f.Stmts[0].(*lang.BindStmt).Value.(*lang.CallExpr).Args[0]
	if se.Span != arg.At {
		t.Errorf("Span = %s, want the msg argument at %s", pos(se.Span), pos(arg.At))
	}
	var ae *interp.ArgError
	if !errors.As(err, &ae) || ae.Param != "msg" {
		t.Errorf("the ArgError is not in the chain: %v", err)
	}
}

func TestRunPanicBecomesError(t *testing.T) {
	w := newWorld()
	g, f := compile(t, w, "mlpipe 1\nfine = rec(\"fine\")\nx = rec(\"x\", inner: explode())\n")
	_, err := run(t, context.Background(), g, &interp.RunConfig{Parallel: 2})
	var se *interp.StageError
	if !errors.As(err, &se) {
		t.Fatalf("error %v, want a StageError", err)
	}
	if se.Stage != "x" || !strings.Contains(se.Err.Error(), "internal error") || !strings.Contains(se.Err.Error(), "index out of range") {
		t.Errorf("StageError %q: want stage x and the panic's message", se)
	}
	if want := f.Stmts[1].(*lang.BindStmt).At; se.Span != want {
		t.Errorf("Span = %s, want the binding at %s", pos(se.Span), pos(want))
	}
}

func TestRunCancel(t *testing.T) {
	w := newWorld()
	g, _ := compile(t, w, "mlpipe 1\nslow = block()\nafter = rec(\"after\", after: [slow])\n")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-w.started
		cancel()
	}()
	start := time.Now()
	res, err := run(t, ctx, g, &interp.RunConfig{Parallel: 2})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want one wrapping context.Canceled", err)
	}
	if res != nil {
		t.Errorf("results %v from a cancelled run", res)
	}
	if slices.Contains(w.log, "start after") {
		t.Errorf("a stage started after the cancel: %v", w.log)
	}
	if !slices.Contains(w.log, "cancelled slow") {
		t.Errorf("the running stage did not see the cancel: %v", w.log)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Run took %v to stop", d)
	}
}

func TestRunCancelledBeforeStart(t *testing.T) {
	w := newWorld()
	g, _ := compile(t, w, "mlpipe 1\na = rec(\"a\")\nb = rec(\"b\", after: [a])\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := run(t, ctx, g, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want one wrapping context.Canceled", err)
	}
	if len(w.log) != 0 {
		t.Errorf("stages ran: %v", w.log)
	}
}

// TestRunFailureCancelsOthers checks that the first failure stops a stage
// still running, and that the failure, not the cancellation, is returned.
func TestRunFailureCancelsOthers(t *testing.T) {
	w := newWorld()
	g, _ := compile(t, w, "mlpipe 1\nslow = block()\nbad = fail(msg: \"no\", wait: true)\n")
	res, err := run(t, context.Background(), g, &interp.RunConfig{Parallel: 2})
	var se *interp.StageError
	if !errors.As(err, &se) || se.Stage != "bad" {
		t.Fatalf("error %v, want bad's StageError", err)
	}
	if errors.Is(err, context.Canceled) {
		t.Errorf("error %v wraps context.Canceled; want the failure itself", err)
	}
	if res != nil {
		t.Errorf("results from a failed run")
	}
	if !slices.Contains(w.log, "cancelled slow") {
		t.Errorf("the blocked stage was not cancelled: %v", w.log)
	}
}

// TestRunEnv checks what components see of their Env: the stage, the path
// of the call within the binding, the call's span, the params and a seed
// derived from the experiment seed and the path.
func TestRunEnv(t *testing.T) {
	src := `mlpipe 1
experiment "e" { seed = 11 }
param k = 3
x = rec("x", inner: rec("y"))
z = rec("z", after: [rec("e0"), rec("e1")])
p = rec("a") | rec("b") | (rec("c") | rec("d"))
l = lossc("u") + 0.5 * lossc("v") - lossc("w") / 4
`
	w := newWorld()
	g, f := compile(t, w, src)
	res, err := run(t, context.Background(), g, &interp.RunConfig{Parallel: 4})
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for p, e := range w.envs {
		paths = append(paths, p)
		if e.ExpSeed != 11 || e.Seed != interp.DeriveSeed(11, p) {
			t.Errorf("%s: seed %d (experiment %d), want DeriveSeed(11, %q) = %d", p, e.Seed, e.ExpSeed, p, interp.DeriveSeed(11, p))
		}
		if e.Params["k"] != int64(3) {
			t.Errorf("%s: params %v", p, e.Params)
		}
		if !strings.HasPrefix(p, e.Stage) {
			t.Errorf("path %s does not start with its stage %s", p, e.Stage)
		}
	}
	slices.Sort(paths)
	want := "l+0 l+1 l+2 p|0 p|1 p|2 p|3 x x.inner z z.after[0] z.after[1]"
	if got := strings.Join(paths, " "); got != want {
		t.Errorf("paths %s, want %s", got, want)
	}
	if got, want := w.envs["x.inner"].Span, callSpan(t, f, "x", "rec"); got == want {
		t.Errorf("x.inner has the span of the outer call")
	}
	if got := text4(src, w.envs["x.inner"].Span); got != `rec("y")` {
		t.Errorf("x.inner span covers %q", got)
	}
	if got := res.Values["p"].(*fakeValue).label; got != "a|b|c|d" {
		t.Errorf("p = %s, want a|b|c|d", got)
	}
	if got := res.Values["l"].(*fakeValue).label; got != "1*u + 0.5*v + -0.25*w" {
		t.Errorf("l = %s", got)
	}
}

func text4(src string, s lang.Span) string { return src[s.Start.Offset:s.End.Offset] }

func pos(s lang.Span) string {
	return fmt.Sprintf("%d:%d-%d:%d", s.Start.Line, s.Start.Col, s.End.Line, s.End.Col)
}

func TestCompileRejectsUncheckedProgram(t *testing.T) {
	f, err := parser.Parse("bad.mlp", []byte("mlpipe 1\na = rec(\"a\")\nb = nope()\n"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := interp.Check(&lang.Program{Main: f, Files: []*lang.File{f}}, newFakeRegistry(newWorld()), interp.Config{})
	if err == nil {
		t.Fatal("Check succeeded")
	}
	if _, err := interp.Compile(c); err == nil || !strings.Contains(err.Error(), "binding b did not check") {
		t.Errorf("Compile error %v, want binding b did not check", err)
	}
}
