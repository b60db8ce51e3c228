package interp_test

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/parser"
	"github.com/mlpipe/mlpipe/stdlib"
)

// The standard registry, built once: registering is deterministic and the
// registry is read-only afterwards.
var stdRegistry = sync.OnceValue(stdlib.NewRegistry)

// expectation is one `ERROR "regex"` in a comment.
type expectation struct {
	file string
	line int
	rx   *regexp.Regexp
	met  bool
}

// errorMarker matches one ERROR "regex" in a comment; inside the quotes, \"
// stands for a quote and every other backslash is part of the regexp.
var errorMarker = regexp.MustCompile(`ERROR "((?:[^"\\]|\\.)*)"`)

// expectations collects the ERROR markers in the comments of every file of
// prog. Several may share a line: # ERROR "a" ERROR "b".
func expectations(t *testing.T, prog *lang.Program) []*expectation {
	t.Helper()
	var out []*expectation
	for _, f := range prog.Files {
		for _, c := range f.Comments {
			for _, m := range errorMarker.FindAllStringSubmatch(c.Text, -1) {
				rx, err := regexp.Compile(strings.ReplaceAll(m[1], `\"`, `"`))
				if err != nil {
					t.Fatalf("%s: bad ERROR pattern: %v", c.At, err)
				}
				out = append(out, &expectation{file: c.At.File, line: c.At.Start.Line, rx: rx})
			}
			if strings.Contains(c.Text, "ERROR") && !errorMarker.MatchString(c.Text) {
				t.Fatalf("%s: malformed ERROR comment %q", c.At, c.Text)
			}
		}
	}
	return out
}

// checkFile loads path (and its imports) from disk and checks it with the
// standard registry. It returns the program and every diagnostic: the
// loader's if loading failed, else the checker's.
func checkFile(t *testing.T, path string, cfg interp.Config) (*lang.Program, lang.Sources, lang.Diagnostics) {
	t.Helper()
	// Read relative to the file's directory, so that diagnostics name
	// files as x.mlp and lib/y.mlp whatever the working directory.
	dir := filepath.Dir(path)
	ld := parser.Loader{ReadFile: func(name string) ([]byte, error) { return os.ReadFile(filepath.Join(dir, name)) }}
	prog, sources, err := ld.Load(filepath.Base(path))
	if err != nil {
		return prog, sources, lang.DiagnosticsOf(err)
	}
	_, err = interp.Check(prog, stdRegistry(), cfg)
	if err != nil && len(lang.DiagnosticsOf(err)) == 0 {
		t.Fatalf("Check returned an error without diagnostics: %v", err)
	}
	return prog, sources, lang.DiagnosticsOf(err)
}

// matchExpectations pairs diagnostics with expectations: a diagnostic meets
// the first unmet expectation on its file and line whose regexp matches its
// one-line text (with the "did you mean" suffix). It reports every
// diagnostic nobody expected and every expectation no diagnostic met.
func matchExpectations(t *testing.T, diags lang.Diagnostics, exps []*expectation) {
	t.Helper()
	for _, d := range diags {
		text := d.Error()
		found := false
		for _, e := range exps {
			if !e.met && e.file == d.Span.File && e.line == d.Span.Start.Line && e.rx.MatchString(text) {
				e.met, found = true, true
				break
			}
		}
		if !found {
			t.Errorf("unexpected diagnostic: %s", text)
		}
	}
	for _, e := range exps {
		if !e.met {
			t.Errorf("%s:%d: expected error matching %q, got none", e.file, e.line, e.rx)
		}
	}
}

func checkFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/check/*.mlp")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/check/*.mlp files")
	}
	return files
}

// TestCheckFiles checks every testdata/check/*.mlp file (files in
// testdata/check/lib are only imported) and compares the diagnostics with
// the ERROR comments on the offending lines.
func TestCheckFiles(t *testing.T) {
	for _, path := range checkFiles(t) {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".mlp"), func(t *testing.T) {
			prog, _, diags := checkFile(t, path, interp.Config{})
			if prog == nil || prog.Main == nil {
				t.Fatalf("cannot load %s: %v", path, diags)
			}
			matchExpectations(t, diags, expectations(t, prog))
		})
	}
}

// TestCheckOKFiles makes sure the harness is not vacuous: files without
// ERROR comments check cleanly and return a program.
func TestCheckOKFiles(t *testing.T) {
	paths, _ := filepath.Glob("../pipelines/*.mlp")
	for _, path := range append([]string{"testdata/check/ok.mlp", "testdata/check/experiment_ok.mlp"}, paths...) {
		prog, _, err := parser.Loader{}.Load(path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		checked, err := interp.Check(prog, stdRegistry(), interp.Config{})
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if len(checked.Bindings) == 0 && strings.HasPrefix(path, "testdata") {
			t.Errorf("%s: no bindings", path)
		}
		for _, b := range checked.Bindings {
			if b.Type == nil || b.Type == lang.Invalid {
				t.Errorf("%s: binding %s has type %v", path, b.Name, b.Type)
			}
		}
		if _, err := interp.Compile(checked); err != nil {
			t.Errorf("%s: Compile: %v", path, err)
		}
	}
}

// TestCheckDiagnosticSpans checks that every diagnostic of every check file
// points into a file of the program: a valid line and column on an
// existing line, an end not before the start, offsets inside the source.
func TestCheckDiagnosticSpans(t *testing.T) {
	for _, path := range checkFiles(t) {
		_, sources, diags := checkFile(t, path, interp.Config{})
		for _, d := range diags {
			if msg := spanProblem(d.Span, sources); msg != "" {
				t.Errorf("%s: %s", d, msg)
			}
		}
	}
}

// spanProblem describes what is wrong with a diagnostic's span, or returns
// "".
func spanProblem(s lang.Span, sources lang.Sources) string {
	src, ok := sources[s.File]
	if !ok {
		return fmt.Sprintf("file %q is not among the sources", s.File)
	}
	if !s.IsValid() || s.Start.Col < 1 {
		return "invalid start position"
	}
	lines := strings.Count(string(src), "\n") + 1
	if s.Start.Line > lines || s.End.Line > lines {
		return fmt.Sprintf("line %d..%d beyond the %d lines of the file", s.Start.Line, s.End.Line, lines)
	}
	if s.End.Before(s.Start) || s.Start.Offset < 0 || s.End.Offset > len(src) {
		return fmt.Sprintf("offsets %d..%d out of order or outside %d bytes", s.Start.Offset, s.End.Offset, len(src))
	}
	// The offset and the line agree.
	if n := strings.Count(string(src[:s.Start.Offset]), "\n") + 1; n != s.Start.Line {
		return fmt.Sprintf("start offset %d is on line %d, but the span says line %d", s.Start.Offset, n, s.Start.Line)
	}
	return ""
}

// TestNoCascade checks that one mistake gives one error: bindings that use
// a broken one are not reported again.
func TestNoCascade(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{
			name: "unknown component used three times",
			src: `mlpipe 1
data = digitz(test: 0.2)
fit = train(mlp(out: 10), data.train)
score = evaluate(fit.model, data.test)
summary = report(score, training: fit)
`,
			want: []string{`c.mlp:2:8: unknown component "digitz" (did you mean "digits"?)`},
		},
		{
			name: "bad argument inside a used binding",
			src: `mlpipe 1
opt = adam(lr: -1)
a = train(mlp(out: 10), digits().train, optimizer: opt)
b = train(mlp(out: 10), digits().train, optimizer: opt)
`,
			want: []string{`c.mlp:2:16: parameter lr of adam must be > 0, got -1.0`},
		},
		{
			name: "cycle with dependents",
			src: `mlpipe 1
a = b
b = a
c = a
d = c | b
`,
			want: []string{`c.mlp:2:1: cycle: a -> b -> a`},
		},
		{
			name: "broken param used everywhere",
			src: `mlpipe 1
param lr = 1 / 0
o1 = adam(lr: lr)
o2 = sgd(lr: lr * 2)
`,
			want: []string{`c.mlp:2:16: division by zero`},
		},
		{
			name: "unknown name in a pipe chain",
			src: `mlpipe 1
net = linear(out: 64) | relux() | linear(out: 10)
fit = train(net, digits().train)
`,
			want: []string{`c.mlp:2:25: unknown component "relux" (did you mean "relu"?)`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parser.Parse("c.mlp", []byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			_, err = interp.Check(&lang.Program{Main: f, Files: []*lang.File{f}}, stdRegistry(), interp.Config{})
			var got []string
			for _, d := range lang.DiagnosticsOf(err) {
				got = append(got, d.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("diagnostics:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestCheckedProgram checks what Check returns for a correct program: the
// experiment, params in source order, bindings in dependency order with
// their dependencies, and folded constants.
func TestCheckedProgram(t *testing.T) {
	src := `mlpipe 1
experiment "demo" {
  version = "1.2.0"
  seed = 7
  doc = "a demo"
}
param base = 1e-3
param lr = base * 10
param hidden = [64, 32]
score = evaluate(fit.model, data.test)
fit = train(net, data.train, optimizer: adam(lr: lr))
net = mlp(hidden: hidden, out: 10)
data = digits()
`
	f, err := parser.Parse("demo.mlp", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	c, err := interp.Check(&lang.Program{Main: f, Files: []*lang.File{f}}, stdRegistry(), interp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprintf("%+v", c.Experiment), `{Name:demo Version:1.2.0 Seed:7 Doc:a demo Span:demo.mlp:2:1}`; got != want {
		t.Errorf("experiment %s, want %s", got, want)
	}
	var params []string
	for _, p := range c.Params {
		params = append(params, fmt.Sprintf("%s:%s=%s", p.Name, p.Type, lang.FormatValue(p.Value)))
	}
	if got, want := strings.Join(params, " "), "base:float=0.001 lr:float=0.01 hidden:list of int=[64, 32]"; got != want {
		t.Errorf("params %s, want %s", got, want)
	}
	var binds []string
	for _, b := range c.Bindings {
		binds = append(binds, b.Name+"<-"+strings.Join(b.Deps, ","))
	}
	if got, want := strings.Join(binds, " "), "data<- net<- fit<-data,net score<-data,fit"; got != want {
		t.Errorf("bindings %s, want %s", got, want)
	}
	if p, ok := c.Param("lr"); !ok || p.Value != 0.01 {
		t.Errorf("Param(lr) = %v, %v", p, ok)
	}
	if _, ok := c.Param("nope"); ok {
		t.Errorf("Param(nope) found")
	}
	// Without a block the experiment is named after the file, seed 0.
	g, _ := parser.Parse("dir/other.mlp", []byte("mlpipe 1\nx = 1\n"))
	c2, err := interp.Check(&lang.Program{Main: g, Files: []*lang.File{g}}, stdRegistry(), interp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if c2.Experiment.Name != "other" || c2.Experiment.Seed != 0 {
		t.Errorf("default experiment %+v, want name other, seed 0", c2.Experiment)
	}
}
