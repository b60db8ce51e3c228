package stdlib_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/lang/printer"
	"github.com/mlpipe/mlpipe/parser"
	"github.com/mlpipe/mlpipe/stdlib"
	"github.com/mlpipe/mlpipe/stdlib/backend"
	"github.com/mlpipe/mlpipe/stdlib/stages"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// The conformance tests hold every registered component to the same
// contract: documented, with a canonical example that checks, an Infer that
// accepts the defaults and returns the declared kind, and a Build that runs
// deterministically in a real pipeline. A new component fails
// TestComponentBuild until it gets an entry in buildPrograms.

func components(t *testing.T) []*interp.Component {
	t.Helper()
	all := stdlib.NewRegistry().All()
	if len(all) == 0 {
		t.Fatal("the standard registry is empty")
	}
	return all
}

// TestComponentDocs checks that every component and every parameter is
// documented and that each component has an example.
func TestComponentDocs(t *testing.T) {
	for _, c := range components(t) {
		s := &c.Spec
		if strings.TrimSpace(s.Doc) == "" {
			t.Errorf("%s: no doc", s.Name)
		} else if !strings.HasSuffix(s.Doc, ".") {
			t.Errorf("%s: doc %q does not end with a full stop", s.Name, s.Doc)
		}
		if strings.TrimSpace(s.Example) == "" {
			t.Errorf("%s: no example", s.Name)
		}
		if s.Category == "" {
			t.Errorf("%s: no category", s.Name)
		}
		if s.Result == nil || s.Result == lang.Invalid {
			t.Errorf("%s: no result type", s.Name)
		}
		for _, p := range s.Params {
			if strings.TrimSpace(p.Doc) == "" {
				t.Errorf("%s: parameter %s has no doc", s.Name, p.Name)
			}
			if p.Type == nil || p.Type == lang.Invalid {
				t.Errorf("%s: parameter %s has no type", s.Name, p.Name)
			}
		}
	}
}

// examplePreamble defines the names the examples refer to. An example that
// binds one of them replaces it, so the rest of the preamble uses it.
var examplePreamble = []struct{ name, value string }{
	{"data", "digits(test: 0.2)"},
	{"net", "mlp(hidden: [16], out: 10)"},
	{"fit", "train(net, data.train, epochs: 1)"},
	{"score", "evaluate(fit.model, data.test)"},
}

// TestComponentExamples checks that every example is one binding in
// canonical format that calls its component, and that it checks with no
// diagnostic in a small pipeline.
func TestComponentExamples(t *testing.T) {
	reg := stdlib.NewRegistry()
	for _, c := range components(t) {
		s := &c.Spec
		t.Run(s.Name, func(t *testing.T) {
			if s.Example == "" {
				t.Skip("no example (reported by TestComponentDocs)")
			}
			src := "mlpipe 1\n\n" + s.Example + "\n"
			f, err := parser.Parse("example.mlp", []byte(src))
			if err != nil {
				t.Fatalf("example %q does not parse: %v", s.Example, err)
			}
			if len(f.Stmts) != 1 {
				t.Fatalf("example %q: want one statement, got %d", s.Example, len(f.Stmts))
			}
			bind, ok := f.Stmts[0].(*lang.BindStmt)
			if !ok {
				t.Fatalf("example %q: want a binding NAME = ..., got %T", s.Example, f.Stmts[0])
			}
			// The right-hand side alone parses as an expression.
			_, rhs, _ := strings.Cut(s.Example, "=")
			if _, err := parser.ParseExpr("example", strings.TrimSpace(rhs)); err != nil {
				t.Errorf("the right-hand side of %q does not parse: %v", s.Example, err)
			}
			if canon := bind.Name.Name + " = " + printer.FormatExpr(bind.Value); canon != s.Example {
				t.Errorf("example is not in canonical format:\n got  %s\n want %s", s.Example, canon)
			}
			if !callsComponent(bind.Value, s.Name) {
				t.Errorf("example %q does not call %s", s.Example, s.Name)
			}

			var prog strings.Builder
			prog.WriteString("mlpipe 1\n\n")
			for _, b := range examplePreamble {
				if b.name != bind.Name.Name {
					fmt.Fprintf(&prog, "%s = %s\n", b.name, b.value)
				}
			}
			prog.WriteString(s.Example + "\n")
			text := prog.String()
			ld := parser.Loader{ReadFile: func(string) ([]byte, error) { return []byte(text), nil }}
			p, sources, err := ld.Load("example.mlp")
			if err == nil {
				_, err = interp.Check(p, reg, interp.Config{})
			}
			if err != nil {
				var b bytes.Buffer
				lang.Fprint(&b, lang.DiagnosticsOf(err), sources)
				t.Errorf("example does not check in\n%s\n%s%v", text, b.String(), errIfNoDiags(err))
			}
		})
	}
}

func errIfNoDiags(err error) string {
	if len(lang.DiagnosticsOf(err)) == 0 {
		return err.Error()
	}
	return ""
}

// callsComponent reports whether e contains a call of name.
func callsComponent(e lang.Expr, name string) bool {
	switch e := e.(type) {
	case *lang.CallExpr:
		if e.Func.Name == name {
			return true
		}
		for _, a := range e.Args {
			if callsComponent(a.Value, name) {
				return true
			}
		}
	case *lang.BinaryExpr:
		return callsComponent(e.X, name) || callsComponent(e.Y, name)
	case *lang.ParenExpr:
		return callsComponent(e.X, name)
	case *lang.ListExpr:
		for _, x := range e.Elems {
			if callsComponent(x, name) {
				return true
			}
		}
	case *lang.SelectorExpr:
		return callsComponent(e.X, name)
	case *lang.UnaryExpr:
		return callsComponent(e.X, name)
	}
	return false
}

// typedStatics are realistic check-time types for references of some
// kinds: those of the digits pipeline.
var typedStatics = map[lang.Kind]lang.Type{
	lang.KindData:    value.DataType([]int{8, 8}, 10, "train", "test"),
	lang.KindDataset: value.DatasetType([]int{8, 8}, 10),
	lang.KindModel:   value.ModelType(0, 10),
	lang.KindTrained: value.TrainedType(64, 10),
	lang.KindMetric:  value.MetricType("accuracy", ""),
	lang.KindMetrics: value.MetricsType([]*lang.Object{value.MetricType("accuracy", ""), value.MetricType("nll", "")}),
}

// fabricate returns an argument for the required parameter p: a Static of
// p's kind for a reference (typed with widths if typed is set and the kind
// has an entry in typedStatics, else bare), and the least value allowed by
// p's range or enum for a scalar.
func fabricate(p *lang.ParamSpec, typed bool) (any, error) {
	static := func(k lang.Kind) interp.Static {
		if t, ok := typedStatics[k]; ok && typed {
			return interp.Static{T: t}
		}
		return interp.Static{T: lang.ObjectOf(k)}
	}
	switch t := p.Type.(type) {
	case *lang.Object:
		return static(t.Kind), nil
	case *lang.List:
		if o, ok := t.Elem.(*lang.Object); ok {
			return []any{static(o.Kind)}, nil
		}
		e, err := scalar(t.Elem, p)
		return []any{e}, err
	}
	return scalar(p.Type, p)
}

func scalar(t lang.Type, p *lang.ParamSpec) (any, error) {
	switch t {
	case lang.Bool:
		return false, nil
	case lang.String:
		if len(p.Enum) > 0 {
			return p.Enum[0], nil
		}
		return "x", nil
	case lang.Int:
		v := int64(1)
		if r := p.Range; r != nil && !math.IsInf(r.Min, -1) {
			v = int64(math.Ceil(r.Min))
			if r.MinOpen && float64(v) == r.Min {
				v++
			}
		}
		if p.Range != nil && !p.Range.Contains(float64(v)) {
			return nil, fmt.Errorf("cannot fabricate an int in %s", p.Range)
		}
		return v, nil
	case lang.Float:
		v := 1.0
		if r := p.Range; r != nil && !math.IsInf(r.Min, -1) {
			switch {
			case !r.MinOpen:
				v = r.Min
			case math.IsInf(r.Max, 1):
				v = r.Min + 1
			default:
				v = (r.Min + r.Max) / 2
			}
		}
		if p.Range != nil && !p.Range.Contains(v) {
			return nil, fmt.Errorf("cannot fabricate a float in %s", p.Range)
		}
		return v, nil
	}
	return nil, fmt.Errorf("cannot fabricate a %s", t)
}

// TestComponentInferDefaults calls every component's Infer with its
// defaults and fabricated required arguments, with references both of
// unknown widths (as for a value whose type is not precise) and typed as in
// the digits pipeline: it must succeed and return the declared kind.
func TestComponentInferDefaults(t *testing.T) {
	for _, c := range components(t) {
		s := &c.Spec
		for _, typed := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/typed=%v", s.Name, typed), func(t *testing.T) {
				vals := map[string]any{}
				for i := range s.Params {
					p := &s.Params[i]
					if !p.Required {
						continue
					}
					v, err := fabricate(p, typed)
					if err != nil {
						t.Fatalf("parameter %s: %v", p.Name, err)
					}
					vals[p.Name] = v
				}
				got, err := c.Infer(vals)
				if err != nil {
					t.Fatalf("Infer(%v): %v", vals, err)
				}
				if err := sameKind(got, s.Result); err != nil {
					t.Errorf("Infer(%v): %v", vals, err)
				}
			})
		}
	}
}

// sameKind reports whether got is of the kind of the declared result want.
func sameKind(got, want lang.Type) error {
	if got == nil || got == lang.Invalid {
		return fmt.Errorf("result type %v", got)
	}
	if w, ok := want.(*lang.Object); ok {
		g, ok := got.(*lang.Object)
		if !ok || g.Kind != w.Kind {
			return fmt.Errorf("result %s, want a %s", got, w.Kind)
		}
		return nil
	}
	if !lang.AssignableTo(got, want) {
		return fmt.Errorf("result %s, want %s", got, want)
	}
	return nil
}

// buildProgram is a small pipeline on tiny data that exercises one
// component; empty fields take the defaults of render.
type buildProgram struct {
	data, net, fit, score, extra string
}

func (p buildProgram) render() string {
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	var b strings.Builder
	b.WriteString("mlpipe 1\n\nexperiment \"conformance\" {\n  seed = 3\n}\n\n")
	fmt.Fprintf(&b, "data = %s\n", or(p.data, "digits(limit: 300)"))
	fmt.Fprintf(&b, "net = %s\n", or(p.net, "mlp(hidden: [16], out: 10)"))
	fmt.Fprintf(&b, "fit = %s\n", or(p.fit, "train(net, data.train, epochs: 1, batch: 32)"))
	fmt.Fprintf(&b, "score = %s\n", or(p.score, "evaluate(fit.model, data.test)"))
	b.WriteString("summary = report(score, training: fit)\n")
	if p.extra != "" {
		b.WriteString(p.extra + "\n")
	}
	return b.String()
}

const fashionFiles = `train_images: "fashion/train-images-idx3-ubyte.gz", train_labels: "fashion/train-labels-idx1-ubyte.gz", test_images: "fashion/t10k-images-idx3-ubyte.gz", test_labels: "fashion/t10k-labels-idx1-ubyte.gz"`

// buildPrograms holds, for every registered component, a pipeline that
// runs it. The data files it names (fashion/, train.csv) are made by
// writeTinyData.
var buildPrograms = map[string]buildProgram{
	// data
	"digits": {
		data:  "digits(test: 0.3, validation: 0.2, limit: 400)",
		extra: "val = evaluate(fit.model, data.validation, metrics: [accuracy()])",
	},
	"fashion_mnist": {data: `fashion_mnist(dir: "fashion", limit: 40, validation: 0.25)`},
	"idx":           {data: "idx(" + fashionFiles + ", limit: 30)"},
	"csv": {
		data: `csv(train: "train.csv", label: 1, header: true, scale: 255.0, test_fraction: 0.25)`,
		net:  "mlp(hidden: [8], out: 3)",
	},
	"limit": {
		fit:   "train(net, limit(data.train, 100, shuffle: true), epochs: 1)",
		score: "evaluate(fit.model, limit(data.test, 50))",
	},
	// models
	"mlp":    {net: `mlp(hidden: [16, 8], out: 10, activation: "tanh", bias: false)`},
	"linear": {net: "linear(out: 10)"},
	"load_weights": {
		net:   `load_weights(mlp(hidden: [16], out: 10), "weights.safetensors")`,
		extra: "untrained = evaluate(net, data.test)",
	},
	"relu":     {net: "linear(out: 16) | relu() | linear(out: 10)"},
	"tanh":     {net: "linear(out: 16) | tanh() | linear(out: 10)"},
	"sigmoid":  {net: "linear(out: 16) | sigmoid() | linear(out: 10)"},
	"conv2d":   {net: "conv2d(out: 4, kernel: 3, padding: 1) | relu() | conv2d(out: 3, kernel: 2, stride: 2, bias: false, in: 4) | flatten() | linear(out: 10)"},
	"max_pool": {net: "conv2d(out: 4, padding: 1) | batch_norm() | relu() | max_pool(kernel: 3, stride: 2, padding: 1) | flatten() | linear(out: 10)"},
	"global_avg_pool": {
		net:   "conv2d(out: 6, padding: 1) | batch_norm() | relu() | max_pool() | conv2d(out: 8, padding: 1) | relu() | global_avg_pool() | linear(out: 10)",
		extra: sslCNN,
	},
	"flatten": {net: "flatten() | linear(out: 10)"},
	// losses
	"cross_entropy": {fit: "train(net, data.train, loss: cross_entropy(), epochs: 1)"},
	// optimisers
	"adam": {fit: "train(net, data.train, optimizer: adam(lr: 0.01, beta1: 0.8, weight_decay: 0.0001), epochs: 1)"},
	"sgd":  {fit: "train(net, data.train, optimizer: sgd(lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.0001), epochs: 1)"},
	// metrics
	"accuracy": {score: "evaluate(fit.model, data.test, metrics: [accuracy()])"},
	"nll":      {score: "evaluate(fit.model, data.test, metrics: [nll()])"},
	// stages
	"train": {
		fit:   "train(net, data.train, epochs: 2, batch: 50, shuffle: false, seed: 5)",
		extra: "more = train(fit.model, data.train, epochs: 1, save: \"more\")\nscore2 = evaluate(more.model, data.test)",
	},
	"evaluate": {score: "evaluate(fit.model, data.test, metrics: [nll(), accuracy()], batch: 7)"},
	"report":   {extra: `named = report(score, name: "conformance")`},
	// self-supervised learning, on the 8x8 digits
	"batch_norm":          {net: "linear(out: 16) | batch_norm() | relu() | linear(out: 10)"},
	"zoom":                sslProgram("barlow_twins()", "zoom(scale: [0.5, 1.0])", 2),
	"random_resized_crop": sslProgram("barlow_twins()", "random_resized_crop(scale: [0.3, 1.0], ratio: [0.8, 1.25])", 2),
	"pad_crop":            sslProgram("barlow_twins()", "pad_crop(pad: 1)", 2),
	"hflip":               sslProgram("barlow_twins()", "hflip(p: 0.3)", 2),
	"rotate":              sslProgram("barlow_twins()", "rotate(degrees: 15)", 2),
	"jitter":              sslProgram("barlow_twins()", "jitter(brightness: 0.2, contrast: 0.3)", 2),
	"intensity":           sslProgram("barlow_twins()", "intensity(range: [0.8, 1.2])", 2),
	"noise":               sslProgram("barlow_twins()", "noise(std: 0.1)", 2),
	"blur":                sslProgram("barlow_twins()", "blur(sigma: [0.5, 1.0])", 2),
	"cutout":              sslProgram("barlow_twins()", "cutout(size: 2)", 2),
	"barlow_twins":        sslProgram(`barlow_twins(lambda: 0.01, standardize: "joint", eps: 0.000001, multiview: "mean")`, "zoom() | noise()", 3),
	"vicreg":              sslProgram(`vicreg(sim: 20, std: 20, cov: 2, multiview: "mean")`, "zoom() | hflip()", 3),
	"orthogonality":       sslProgram("barlow_twins(beta: 2) + 0.5 * orthogonality()", "zoom() | hflip()", 2),
	"pretrain":            sslProgram("barlow_twins()", "hflip() | noise()", 4),
	"linear_probe":        sslProgram("vicreg()", "zoom()", 2),
	// adversarial robustness
	"fgsm":             {extra: "rob = robustness(fit.model, data.test, attacks: [fgsm()], samples: 40)\nrep = report(rob, name: \"rob\")"},
	"pgd":              {extra: `rob = robustness(fit.model, data.test, attacks: [pgd(steps: 3, random_start: true, seed: 2), pgd(norm: "l2", step: 0.5)], linf: [0.1], l2: [0.5], samples: 40, batch: 16)`},
	"robustness":       {extra: `rob = robustness(fit.model, data.test, attacks: [fgsm(), pgd(norm: "l2")], linf: [0.02, 0.2], l2: [0.3], l1: [2], l0: [5], samples: 30, range: [0, 1])`},
	"prox_log_barrier": {extra: `rob = robustness(fit.model, data.test, attacks: [prox_log_barrier(norm: "l0", outer: 3, inner: 3), prox_log_barrier(norm: "l1", outer: 2, inner: 2, repo_prox: true, seed: 4, init: "classes"), prox_log_barrier(norm: "linf", outer: 2, inner: 2, init: "pgd", softmax: true)], samples: 20)`},
	"log_barrier":      {extra: `rob = robustness(fit.model, data.test, attacks: [log_barrier(outer: 2, inner: 5), log_barrier(norm: "linf", outer: 2, inner: 3, init: "pgd", softmax: false, t: 2000)], l2: [0.5], samples: 20)`},
	"greedy_l0":        {extra: `rob = robustness(fit.model, data.test, attacks: [greedy_l0(), greedy_l0(max_changes: 3)], l0: [2, 5], samples: 20)`},
	"pgd_bisection":    {extra: `rob = robustness(fit.model, data.test, attacks: [pgd_bisection(), pgd_bisection(norm: "l2", steps: 5, step: 0.5, iters: 6)], samples: 20)`},
	"adversarial": {fit: "train(net, data.train, loss: 0.5 * cross_entropy() + 0.5 * adversarial(fgsm(), eps: 0.1), epochs: 1, batch: 32)",
		extra: "madry = train(net, data.train, loss: adversarial(pgd(steps: 3, random_start: true), eps: 0.05, range: [0, 1]), epochs: 1, batch: 32, save: \"madry\")"},
	"gradient_penalty": {fit: `train(net, data.train, loss: cross_entropy() + 0.1 * gradient_penalty(h: 0.02, direction: "l1"), epochs: 1, batch: 32)`},
	"lipschitz":        {fit: "train(net, data.train, loss: cross_entropy() + 0.01 * lipschitz(), epochs: 1, batch: 32)"},
	"embedding_stats": {extra: sslProgram("barlow_twins()", "zoom()", 2).extra +
		"\nstats = embedding_stats(pre.model, data.test, augment: zoom(), samples: 50)\nplain = embedding_stats(pre.encoder, data.train)"},
}

// sslCNN pretrains and probes a convolutional encoder.
const sslCNN = "cnn = pretrain(conv2d(out: 4, padding: 1) | batch_norm() | relu() | max_pool() | conv2d(out: 8, padding: 1) | batch_norm() | relu() | global_avg_pool() | linear(out: 8), data.train, loss: barlow_twins(), augment: zoom() | hflip(), epochs: 1, batch: 32)\n" +
	"cnn_probe = linear_probe(cnn.encoder, data.train, data.test, epochs: 1)\n" +
	"cnn_stats = embedding_stats(cnn.encoder, data.test, augment: zoom(), samples: 40)"

// sslProgram is the conformance program of a self-supervised loss or
// augmentation: a short pretraining with views views on the digits and a
// linear probe of its encoder.
func sslProgram(loss, augment string, views int) buildProgram {
	return buildProgram{extra: fmt.Sprintf("pre = pretrain(linear(out: 16) | batch_norm() | relu() | linear(out: 8), data.train, loss: %s, augment: %s, views: %d, epochs: 2, batch: 32, fraction: 0.8)\n"+
		"probe = linear_probe(pre.encoder, data.train, data.test, epochs: 2, batch: 64, lr: 0.01)", loss, augment, views)}
}

// TestComponentBuild runs, for every component, its pipeline of
// buildPrograms twice: it must check with no diagnostic, run, give values
// whose types agree with the checked ones and non-negative training losses,
// and give identical results both times.
func TestComponentBuild(t *testing.T) {
	registered := map[string]bool{}
	for _, c := range components(t) {
		registered[c.Spec.Name] = true
	}
	for name := range buildPrograms {
		if !registered[name] {
			t.Errorf("buildPrograms has an entry for %s, which is not a registered component", name)
		}
	}
	for _, c := range components(t) {
		name := c.Spec.Name
		t.Run(name, func(t *testing.T) {
			bp, ok := buildPrograms[name]
			if !ok {
				t.Fatalf("component %s has no conformance program: add one to buildPrograms in stdlib/conformance_test.go", name)
			}
			src := bp.render()
			f, err := parser.Parse("p.mlp", []byte(src))
			if err != nil {
				t.Fatalf("program does not parse: %v\n%s", err, src)
			}
			if !containsCall(f, name) {
				t.Fatalf("the program does not call %s:\n%s", name, src)
			}
			dir := t.TempDir()
			writeTinyData(t, dir)
			path := filepath.Join(dir, "p.mlp")
			if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			checked, first := runProgram(t, path, filepath.Join(dir, "out1"))
			_, second := runProgram(t, path, filepath.Join(dir, "out2"))

			for _, b := range checked.Bindings {
				v, ok := first.Values[b.Name]
				if !ok {
					t.Errorf("no value for %s", b.Name)
					continue
				}
				if iv, ok := v.(interp.Value); ok {
					if err := agrees(b.Type, iv.Type()); err != nil {
						t.Errorf("%s: the checker inferred %s, the run gave %s: %v", b.Name, b.Type, iv.Type(), err)
					}
				}
				if tr, ok := v.(*value.Trained); ok {
					for _, h := range tr.History {
						if !(h.Loss >= 0) || math.IsInf(h.Loss, 0) {
							t.Errorf("%s: epoch %d has training loss %v, want finite and >= 0", b.Name, h.Epoch, h.Loss)
						}
					}
				}
			}
			compareResults(t, first, second)
		})
	}
}

// containsCall reports whether any binding of f calls name.
func containsCall(f *lang.File, name string) bool {
	for _, s := range f.Stmts {
		if b, ok := s.(*lang.BindStmt); ok && callsComponent(b.Value, name) {
			return true
		}
	}
	return false
}

func runProgram(t *testing.T, path, out string) (*interp.Checked, *interp.Results) {
	t.Helper()
	prog, sources, err := parser.Loader{}.Load(path)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	checked, err := interp.Check(prog, stdlib.NewRegistry(), interp.Config{})
	if err != nil {
		var b bytes.Buffer
		lang.Fprint(&b, lang.DiagnosticsOf(err), sources)
		t.Fatalf("check:\n%s%s", b.String(), errIfNoDiags(err))
	}
	g, err := interp.Compile(checked)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, log syncBuffer
	res, err := interp.Run(context.Background(), g, &interp.RunConfig{OutDir: out, Stdout: &stdout, Log: &log, Parallel: 2})
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log.String())
	}
	return checked, res
}

// agrees reports whether a run-time type is consistent with the static
// type the checker inferred: the same kind, the same widths where the
// checker knew them, and every member the checker allowed.
func agrees(static, dynamic lang.Type) error {
	s, ok := static.(*lang.Object)
	if !ok {
		if static != dynamic {
			return fmt.Errorf("static %s, dynamic %s", static, dynamic)
		}
		return nil
	}
	d, ok := dynamic.(*lang.Object)
	if !ok {
		return fmt.Errorf("not an object")
	}
	if s.Kind != d.Kind {
		return fmt.Errorf("kind %s, want %s", d.Kind, s.Kind)
	}
	if s.In > 0 && d.In != s.In {
		return fmt.Errorf("in %d, want %d", d.In, s.In)
	}
	if s.Out > 0 && d.Out != s.Out {
		return fmt.Errorf("out %d, want %d", d.Out, s.Out)
	}
	for _, f := range s.Fields {
		df, ok := d.Field(f.Name)
		if !ok {
			return fmt.Errorf("no member %s", f.Name)
		}
		if err := agrees(f.Type, df.Type); err != nil {
			return fmt.Errorf("member %s: %v", f.Name, err)
		}
	}
	return nil
}

// compareResults checks that two runs of one program gave the same values.
func compareResults(t *testing.T, a, b *interp.Results) {
	t.Helper()
	if !slices.Equal(a.Order, b.Order) {
		t.Errorf("stage order differs: %v and %v", a.Order, b.Order)
	}
	for name, va := range a.Values {
		vb, ok := b.Values[name]
		if !ok {
			t.Errorf("%s: missing in the second run", name)
			continue
		}
		if err := sameValue(va, vb); err != nil {
			t.Errorf("%s differs between two runs: %v", name, err)
		}
	}
}

func sameValue(a, b any) error {
	switch x := a.(type) {
	case *value.Trained:
		y := b.(*value.Trained)
		if !reflect.DeepEqual(x.Model.Weights, y.Model.Weights) {
			return fmt.Errorf("trained weights differ")
		}
		if x.Steps != y.Steps || x.Samples != y.Samples || len(x.History) != len(y.History) {
			return fmt.Errorf("steps or samples differ")
		}
		for i := range x.History {
			if x.History[i].Loss != y.History[i].Loss {
				return fmt.Errorf("loss of epoch %d: %v and %v", i+1, x.History[i].Loss, y.History[i].Loss)
			}
		}
	case *value.Metrics:
		y := b.(*value.Metrics)
		if !reflect.DeepEqual(x.Values, y.Values) || !slices.Equal(x.Names, y.Names) || x.Samples != y.Samples {
			return fmt.Errorf("metrics %v and %v", x.Values, y.Values)
		}
	case *value.Metric:
		if x.Name != b.(*value.Metric).Name {
			return fmt.Errorf("metric %s and %s", x.Name, b.(*value.Metric).Name)
		}
	case *stages.Report:
		ra, err := readReport(x.Path)
		if err != nil {
			return err
		}
		rb, err := readReport(b.(*stages.Report).Path)
		if err != nil {
			return err
		}
		if !reflect.DeepEqual(ra, rb) {
			ja, _ := json.Marshal(ra)
			jb, _ := json.Marshal(rb)
			return fmt.Errorf("reports differ:\n%s\n%s", ja, jb)
		}
	default:
		// Data, datasets, models, losses, optimisers: plain data.
		if !reflect.DeepEqual(a, b) {
			return fmt.Errorf("%T values differ", a)
		}
	}
	return nil
}

// syncBuffer is a bytes.Buffer safe for concurrent use: the stages of a
// run, which may run at once, share RunConfig.Stdout and Log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// chunkWriter records each Write call separately.
type chunkWriter struct {
	mu     sync.Mutex
	chunks []string
}

func (w *chunkWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.chunks = append(w.chunks, string(p))
	return len(p), nil
}

// TestReportTableAtOnce runs two reports that are ready at the same time
// and may run concurrently: each must print its table in one Write, so
// that the tables cannot interleave on a shared standard output.
func TestReportTableAtOnce(t *testing.T) {
	const src = `mlpipe 1

data = digits(limit: 200)
fit = train(mlp(hidden: [8], out: 10), data.train, epochs: 1)
score = evaluate(fit.model, data.test)
a = report(score, training: fit, name: "a")
b = report(score, training: fit, name: "b")
`
	dir := t.TempDir()
	path := filepath.Join(dir, "two.mlp")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	prog, _, err := parser.Loader{}.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	checked, err := interp.Check(prog, stdlib.NewRegistry(), interp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	g, err := interp.Compile(checked)
	if err != nil {
		t.Fatal(err)
	}
	var stdout chunkWriter
	if _, err := interp.Run(context.Background(), g, &interp.RunConfig{OutDir: filepath.Join(dir, "out"), Stdout: &stdout, Parallel: 2}); err != nil {
		t.Fatal(err)
	}
	if len(stdout.chunks) != 2 {
		t.Fatalf("two reports made %d writes, want 2: %q", len(stdout.chunks), stdout.chunks)
	}
	for _, c := range stdout.chunks {
		if !strings.HasPrefix(c, "metric ") || !strings.Contains(c, "\naccuracy ") || !strings.Contains(c, "\ntrain seconds ") || !strings.HasSuffix(c, "\n") {
			t.Errorf("a write is not one whole table: %q", c)
		}
	}
}

// reportContent is the deterministic part of a report file.
type reportContent struct {
	Metrics  map[string]float64 `json:"metrics"`
	Params   map[string]any     `json:"params"`
	Samples  int                `json:"samples"`
	Training *struct {
		Steps   int `json:"steps"`
		History []struct {
			Loss float64 `json:"loss"`
		} `json:"history"`
	} `json:"training"`
}

func readReport(path string) (*reportContent, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r reportContent
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	if len(r.Metrics) == 0 {
		return nil, fmt.Errorf("%s has no metrics", path)
	}
	return &r, nil
}

// writeTinyData writes the data files the build programs read: a
// Fashion-MNIST directory of 60 training and 20 test 28x28 images whose
// class shows in which rows are bright, and a CSV file of three classes.
func writeTinyData(t *testing.T, dir string) {
	t.Helper()
	writeTinyWeights(t, filepath.Join(dir, "weights.safetensors"))
	fashion := filepath.Join(dir, "fashion")
	if err := os.MkdirAll(fashion, 0o755); err != nil {
		t.Fatal(err)
	}
	seed := uint32(1)
	noise := func() byte {
		seed = seed*1664525 + 1013904223
		return byte(seed >> 27) // 0..31
	}
	for _, part := range []struct {
		prefix string
		n      int
	}{{"train", 60}, {"t10k", 20}} {
		images := make([]byte, 0, part.n*28*28)
		labels := make([]byte, part.n)
		for i := range part.n {
			y := i % 10
			labels[i] = byte(y)
			for r := range 28 {
				for range 28 {
					px := noise()
					if r/2 == y {
						px += 200
					}
					images = append(images, px)
				}
			}
		}
		writeIDX(t, filepath.Join(fashion, part.prefix+"-images-idx3-ubyte.gz"), 3, []int{part.n, 28, 28}, images)
		writeIDX(t, filepath.Join(fashion, part.prefix+"-labels-idx1-ubyte.gz"), 1, []int{part.n}, labels)
	}

	var csv strings.Builder
	csv.WriteString("label,a,b,c,d\n")
	for i := range 60 {
		y := i % 3
		fmt.Fprintf(&csv, "%d", y)
		for j := range 4 {
			v := int(noise())
			if j == y {
				v += 200
			}
			fmt.Fprintf(&csv, ",%d", v)
		}
		csv.WriteString("\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "train.csv"), []byte(csv.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeIDX writes a gzipped IDX file of unsigned bytes with the given
// dimensions.
func writeIDX(t *testing.T, path string, ndim byte, dims []int, data []byte) {
	t.Helper()
	var raw bytes.Buffer
	raw.Write([]byte{0, 0, 0x08, ndim})
	for _, d := range dims {
		_ = binary.Write(&raw, binary.BigEndian, uint32(d))
	}
	raw.Write(data)
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	if _, err := w.Write(raw.Bytes()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// takesReference reports whether c has a required parameter that takes
// another component's value (such as adversarial's attack), so that it
// cannot be built alone.
func takesReference(c *interp.Component) bool {
	for _, p := range c.Spec.Params {
		if _, ok := p.Type.(*lang.Object); ok && p.Required {
			return true
		}
	}
	return false
}

// buildAlone builds a component that takes no references, outside any
// pipeline.
func buildAlone(t *testing.T, c *interp.Component) interp.Value {
	t.Helper()
	v, err := c.Build(context.Background(), &interp.Env{Stage: "test", Path: "test"}, map[string]any{})
	if err != nil {
		t.Fatalf("%s: Build: %v", c.Spec.Name, err)
	}
	return v
}

// nllOf22 is the hand-computed mean cross-entropy of logits [[2, 1], [0, 3]]
// against labels [0, 0]: row 1 gives log(e^2+e^1) - 2 = log(1+e^-1), row 2
// log(e^0+e^3) - 0 = log(1+e^3).
var nllOf22 = (math.Log(1+math.Exp(-1)) + math.Log(1+math.Exp(3))) / 2

// metricCases holds, for every metric component, hand-computed values.
var metricCases = map[string][]struct {
	logits  []float32
	labels  []int32
	classes int
	want    float64
}{
	"accuracy": {
		{[]float32{2, 1, 0, 3}, []int32{0, 0}, 2, 0.5},
		{[]float32{2, 1, 0, 3}, []int32{0, 1}, 2, 1},
		{[]float32{2, 1, 0, 3}, []int32{1, 0}, 2, 0},
		// Ties go to the first class.
		{[]float32{1, 1}, []int32{0}, 2, 1},
		{[]float32{1, 1}, []int32{1}, 2, 0},
		{[]float32{0, 5, 1, 9, 0, 0, 3, 2, 1}, []int32{1, 0, 2}, 3, 2.0 / 3},
	},
	"nll": {
		{[]float32{2, 1, 0, 3}, []int32{0, 0}, 2, nllOf22},
		{[]float32{0, 0}, []int32{1}, 2, math.Ln2},
		{[]float32{0, 0, 0, 0}, []int32{3}, 4, math.Log(4)},
		// Extreme but finite logits stay finite and accurate.
		{[]float32{100, 0}, []int32{1}, 2, 100},
		{[]float32{1000, -1000}, []int32{0}, 2, 0},
	},
}

// TestMetricValues computes every metric on hand-computed cases, and checks
// that each rejects malformed input.
func TestMetricValues(t *testing.T) {
	for _, c := range components(t) {
		if c.Spec.Category != lang.KindMetric {
			continue
		}
		name := c.Spec.Name
		t.Run(name, func(t *testing.T) {
			m, ok := buildAlone(t, c).(*value.Metric)
			if !ok {
				t.Fatalf("Build gave %T, want *value.Metric", buildAlone(t, c))
			}
			cases, ok := metricCases[name]
			if !ok {
				t.Fatalf("metric %s has no hand-computed cases: add some to metricCases", name)
			}
			for _, tc := range cases {
				got, err := m.Compute(tc.logits, tc.labels, tc.classes)
				if err != nil {
					t.Errorf("%s(%v, %v): %v", name, tc.logits, tc.labels, err)
					continue
				}
				if math.Abs(got-tc.want) > 1e-6*math.Max(1, math.Abs(tc.want)) {
					t.Errorf("%s(%v, %v) = %.9g, want %.9g", name, tc.logits, tc.labels, got, tc.want)
				}
			}
			for _, bad := range []struct {
				why     string
				logits  []float32
				labels  []int32
				classes int
			}{
				{"a label outside the classes", []float32{1, 2}, []int32{2}, 2},
				{"a negative label", []float32{1, 2}, []int32{-1}, 2},
				{"too few logits", []float32{1, 2, 3}, []int32{0, 1}, 2},
				{"no samples", nil, nil, 2},
				{"no classes", nil, []int32{0}, 0},
			} {
				if got, err := m.Compute(bad.logits, bad.labels, bad.classes); err == nil {
					t.Errorf("%s with %s = %v, want an error", name, bad.why, got)
				}
			}
		})
	}
}

// lossFuncs computes each loss term by name on logits and labels.
var lossFuncs = map[string]func(logits []float32, labels []int32, classes int) (float64, error){
	"cross_entropy": func(logits []float32, labels []int32, classes int) (float64, error) {
		l, _, err := backend.SoftmaxCrossEntropy(logits, labels, classes)
		return l, err
	},
}

// TestLossValues builds every loss component and evaluates its terms on
// assorted logits: the loss is finite and >= 0 everywhere, and matches the
// hand-computed value on [[2, 1], [0, 3]] against [0, 0].
func TestLossValues(t *testing.T) {
	logitSets := []struct {
		logits  []float32
		labels  []int32
		classes int
	}{
		{[]float32{2, 1, 0, 3}, []int32{0, 0}, 2},
		{[]float32{0, 0, 0}, []int32{2}, 3},
		{[]float32{50, -50, 0, 0, 1e4, -1e4}, []int32{0, 1, 0}, 2},
		{[]float32{-3e4, 3e4}, []int32{0}, 2},
		{[]float32{1e-7, 2e-7, -1e-7, 0.5, 0.25, -0.125}, []int32{2, 0}, 3},
	}
	for _, c := range components(t) {
		if c.Spec.Category != lang.KindLoss {
			continue
		}
		name := c.Spec.Name
		if takesReference(c) {
			continue // built in its conformance program (TestComponentBuild)
		}
		t.Run(name, func(t *testing.T) {
			l, ok := buildAlone(t, c).(*value.Loss)
			if !ok {
				t.Fatalf("Build gave %T, want *value.Loss", buildAlone(t, c))
			}
			if len(l.Terms) == 0 {
				t.Fatal("the loss has no terms")
			}
			for _, term := range l.Terms {
				if term.Robust != nil || term.Name == "lipschitz" {
					// Terms of the inputs or the weights, not of the
					// logits: stdlib/stages and stdlib/certify test them.
					continue
				}
				if term.SSL != nil || term.Name == "orthogonality" {
					checkSSLTerm(t, term)
					continue
				}
				f, ok := lossFuncs[term.Name]
				if !ok {
					t.Fatalf("loss term %s has no reference computation: add it to lossFuncs", term.Name)
				}
				if !(term.Weight > 0) {
					t.Errorf("term %s has weight %v, want > 0", term.Name, term.Weight)
				}
				for _, s := range logitSets {
					v, err := f(s.logits, s.labels, s.classes)
					if err != nil {
						t.Errorf("%s(%v, %v): %v", term.Name, s.logits, s.labels, err)
						continue
					}
					if !(v >= 0) || math.IsInf(v, 0) {
						t.Errorf("%s(%v, %v) = %v, want finite and >= 0", term.Name, s.logits, s.labels, v)
					}
				}
			}
			if name == "cross_entropy" {
				got, err := lossFuncs[name]([]float32{2, 1, 0, 3}, []int32{0, 0}, 2)
				if err != nil || math.Abs(got-nllOf22) > 1e-6 {
					t.Errorf("cross_entropy([[2, 1], [0, 3]], [0, 0]) = %v, %v; want %v", got, err, nllOf22)
				}
			}
		})
	}
}

// checkSSLTerm checks a self-supervised loss term: a valid configuration
// (as pretrain completes it with its views) whose value on assorted
// embeddings of two and three views is finite and >= 0. The orthogonality
// term has no configuration of its own (pretrain adds its weight to the
// main loss); its values are tested in package backend.
func checkSSLTerm(t *testing.T, term value.LossTerm) {
	t.Helper()
	if !(term.Weight > 0) {
		t.Errorf("term %s has weight %v, want > 0", term.Name, term.Weight)
	}
	if term.SSL == nil {
		return
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for _, views := range []int{2, 3} {
		cfg := *term.SSL
		cfg.Views = views
		if err := cfg.Validate(); err != nil {
			t.Fatalf("%s with %d views: %v", term.Name, views, err)
		}
		for _, scale := range []float64{1e-3, 1, 1e3} {
			const rows, d = 8, 3
			z := make([]float32, views*rows*d)
			for i := range z {
				z[i] = float32(scale * rng.NormFloat64())
			}
			var w backend.SSLWork
			v, err := cfg.LossGrad(&w, z, rows, d, make([]float32, len(z)))
			if err != nil || !(v >= 0) || math.IsInf(v, 0) {
				t.Errorf("%s, %d views of scale %g: %v, %v; want finite and >= 0", term.Name, views, scale, v, err)
			}
		}
	}
}

// writeTinyWeights writes the weights of mlp(hidden: [16], out: 10) on the
// 64 digits pixels, as train would save them.
func writeTinyWeights(t *testing.T, path string) {
	t.Helper()
	arch := backend.Arch{
		{Kind: backend.Linear, In: 64, Out: 16, Bias: true},
		{Kind: backend.Activation, In: 16, Out: 16, Activation: backend.ReLU},
		{Kind: backend.Linear, In: 16, Out: 10, Bias: true},
	}
	m, err := backend.Init(arch, 1)
	if err != nil {
		t.Fatal(err)
	}
	data, err := value.EncodeWeights(m, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}
