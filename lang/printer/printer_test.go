package printer_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/lang/printer"
	"github.com/mlpipe/mlpipe/parser"
)

var update = flag.Bool("update", false, "rewrite the out.mlp sections of testdata/*.txtar with the current output")

// golden is one testdata/*.txtar case.
type golden struct {
	file    string
	archive *txtar.Archive
	in, out []byte
	outIdx  int // index of the out.mlp section, -1 if missing
}

func readGoldens(t testing.TB) []golden {
	t.Helper()
	files, err := filepath.Glob("testdata/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/*.txtar files")
	}
	var out []golden
	for _, file := range files {
		a, err := txtar.ParseFile(file)
		if err != nil {
			t.Fatal(err)
		}
		g := golden{file: file, archive: a, outIdx: -1}
		for i, f := range a.Files {
			switch f.Name {
			case "in.mlp":
				g.in = f.Data
			case "out.mlp":
				g.out = f.Data
				g.outIdx = i
			}
		}
		if g.in == nil {
			t.Fatalf("%s: no -- in.mlp -- section", file)
		}
		out = append(out, g)
	}
	return out
}

// TestGolden formats the in.mlp section of every testdata/*.txtar file and
// compares the result with its out.mlp section. With -update it rewrites
// out.mlp instead.
func TestGolden(t *testing.T) {
	for _, g := range readGoldens(t) {
		t.Run(strings.TrimSuffix(filepath.Base(g.file), ".txtar"), func(t *testing.T) {
			got := format(t, g.file, g.in)
			if *update {
				if g.outIdx < 0 {
					g.archive.Files = append(g.archive.Files, txtar.File{Name: "out.mlp"})
					g.outIdx = len(g.archive.Files) - 1
				}
				g.archive.Files[g.outIdx].Data = got
				if err := os.WriteFile(g.file, txtar.Format(g.archive), 0o666); err != nil {
					t.Fatal(err)
				}
				return
			}
			if g.outIdx < 0 {
				t.Fatalf("no -- out.mlp -- section (run go test -update)")
			}
			if !bytes.Equal(got, g.out) {
				t.Errorf("Format mismatch\n--- got:\n%s--- want:\n%s", got, g.out)
			}
		})
	}
}

// TestProperties checks idempotence, comment and tree preservation on every
// golden input and output.
func TestProperties(t *testing.T) {
	for _, g := range readGoldens(t) {
		t.Run(strings.TrimSuffix(filepath.Base(g.file), ".txtar"), func(t *testing.T) {
			checkProperties(t, g.file, g.in)
			if g.out != nil {
				checkProperties(t, g.file+" out.mlp", g.out)
			}
		})
	}
}

// TestPipelines checks the properties on the pipelines shipped in the
// repository, if there are any.
func TestPipelines(t *testing.T) {
	files, err := filepath.Glob("../../pipelines/*.mlp")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no ../../pipelines/*.mlp files")
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			src, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := parser.Parse(file, src); err != nil {
				t.Fatalf("does not parse: %v", err)
			}
			checkProperties(t, file, src)
		})
	}
}

// TestFormat covers cases that golden files cannot hold well (line endings,
// exact whitespace) and a few layout rules precisely.
func TestFormat(t *testing.T) {
	long := strings.Repeat("a", 120)
	tests := []struct {
		name, in, want string
	}{
		{"crlf", "mlpipe 1\r\n\r\n\r\nx = 1 # c \r\ny = f(a, # d\r\n b)\r\n", "mlpipe 1\n\nx = 1  # c\ny = f(\n  a,  # d\n  b,\n)\n"},
		{"no final newline", "mlpipe 1\nx = 1", "mlpipe 1\n\nx = 1\n"},
		{"many final newlines", "mlpipe 1\nx = 1\n\n\n\n", "mlpipe 1\n\nx = 1\n"},
		{"leading blank lines", "\n\n\nmlpipe 1\nx = 1\n", "mlpipe 1\n\nx = 1\n"},
		{"header only", "mlpipe 1", "mlpipe 1\n"},
		{"header and comment", "mlpipe 1 # v\n# end", "mlpipe 1  # v\n\n# end\n"},
		{"trailing spaces", "mlpipe 1   \nx = 1   \t\n# c   \t\n", "mlpipe 1\n\nx = 1\n# c\n"},
		{"tabs", "mlpipe\t1\nx\t=\tf(\ta\t)\n", "mlpipe 1\n\nx = f(a)\n"},
		{"one line many statements", "mlpipe 1 a = 1 b = 2 param c = 3 import \"x\"", "mlpipe 1\n\na = 1\nb = 2\nparam c = 3\nimport \"x\"\n"},
		// 100 columns exactly stay on one line; 101 break.
		{"fits 100", "mlpipe 1\nx = f(" + long[:90] + ", b)\n", "mlpipe 1\n\nx = f(" + long[:90] + ", b)\n"},
		{"breaks at 101", "mlpipe 1\nx = f(" + long[:91] + ", b)\n", "mlpipe 1\n\nx = f(\n  " + long[:91] + ",\n  b,\n)\n"},
		{"trailing comment does not count", "mlpipe 1\nx = f(" + long[:90] + ", b) # " + long + "\n", "mlpipe 1\n\nx = f(" + long[:90] + ", b)  # " + long + "\n"},
		{"int selector", "mlpipe 1\nx = 1 .y\n", "mlpipe 1\n\nx = 1 .y\n"},
		{"float selector", "mlpipe 1\nx = 1. .y + 1.5 .e\n", "mlpipe 1\n\nx = 1..y + 1.5.e\n"},
		{"empty experiment", "mlpipe 1\nexperiment \"e\" {}\n", "mlpipe 1\n\nexperiment \"e\" {\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(format(t, tt.name, []byte(tt.in)))
			if got != tt.want {
				t.Errorf("Format(%q)\n got: %q\nwant: %q", tt.in, got, tt.want)
			}
			checkProperties(t, tt.name, []byte(tt.in))
		})
	}
}

// TestFormatNoSource checks that Format without the source quotes the import
// path and experiment name afresh.
func TestFormatNoSource(t *testing.T) {
	src := []byte("mlpipe 1\nimport \"a\\tb.mlp\"\nexperiment \"x\\\"y\" { seed = 1 }\n")
	f, err := parser.Parse("t.mlp", src)
	if err != nil {
		t.Fatal(err)
	}
	want := "mlpipe 1\n\nimport \"a\\tb.mlp\"\nexperiment \"x\\\"y\" {\n  seed = 1\n}\n"
	if got := string(printer.Format(f, nil)); got != want {
		t.Errorf("Format(f, nil) = %q, want %q", got, want)
	}
}

// TestFormatExpr checks the one-line form of parsed and of built
// expressions.
func TestFormatExpr(t *testing.T) {
	parsed := []struct{ in, want string }{
		{"f( a ,b,key :value )", "f(a, b, key: value)"},
		{"[1,2 ,3]", "[1, 2, 3]"},
		{"[ ]", "[]"},
		{"g( )", "g()"},
		{"a|b|c", "a | b | c"},
		{"x+0.1*y", "x + 0.1 * y"},
		{"- x", "-x"},
		{"-(1+2)*3", "-(1 + 2) * 3"},
		{"((a))", "((a))"},
		{"a - -1", "a - -1"},
		{"data . train", "data.train"},
		{"1e-3", "1e-3"},
		{"0.10", "0.10"},
		{`"a\"b\n"`, `"a\"b\n"`},
		{"true", "true"},
		{"1 .x", "1 .x"},
		{"f(a, # c\n b)", "f(a, b)"},
		{"train(net, data.train, loss: cross_entropy() + 0.1 * l2(), optimizer: adam(lr: lr), epochs: 5, batch: 128)",
			"train(net, data.train, loss: cross_entropy() + 0.1 * l2(), optimizer: adam(lr: lr), epochs: 5, batch: 128)"},
	}
	for _, tt := range parsed {
		e, err := parser.ParseExpr("expr", tt.in)
		if err != nil {
			t.Fatalf("ParseExpr(%q): %v", tt.in, err)
		}
		if got := printer.FormatExpr(e); got != tt.want {
			t.Errorf("FormatExpr(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}

	id := func(s string) *lang.Ident { return &lang.Ident{Name: s} }
	built := []struct {
		e    lang.Expr
		want string
	}{
		{&lang.IntLit{Value: 42}, "42"},
		{&lang.FloatLit{Value: 3}, "3.0"},
		{&lang.FloatLit{Value: 1e-8}, "1e-08"},
		{&lang.StringLit{Value: "a\"b\\c\nd\te"}, `"a\"b\\c\nd\te"`},
		{&lang.BoolLit{Value: false}, "false"},
		{&lang.CallExpr{Func: id("adam"), Args: []*lang.Arg{{Value: id("x")}, {Name: id("lr"), Value: &lang.FloatLit{Value: 0.01}}}}, "adam(x, lr: 0.01)"},
		{&lang.UnaryExpr{Op: "-", X: &lang.SelectorExpr{X: id("a"), Sel: id("b")}}, "-a.b"},
		{&lang.BinaryExpr{Op: "|", X: id("a"), Y: &lang.ParenExpr{X: &lang.ListExpr{}}}, "a | ([])"},
		{nil, ""},
	}
	for _, tt := range built {
		if got := printer.FormatExpr(tt.e); got != tt.want {
			t.Errorf("FormatExpr(%#v) = %q, want %q", tt.e, got, tt.want)
		}
	}
}

// FuzzFormat checks, for every input that parses without error, that
// Format does not panic, is idempotent, and keeps the comments and the tree.
// The seed corpus is the golden inputs and outputs, the pipelines of the
// repository and testdata/fuzz/FuzzFormat.
func FuzzFormat(f *testing.F) {
	for _, g := range readGoldens(f) {
		f.Add(g.in)
		if g.out != nil {
			f.Add(g.out)
		}
	}
	pipelines, _ := filepath.Glob("../../pipelines/*.mlp")
	for _, file := range pipelines {
		if src, err := os.ReadFile(file); err == nil {
			f.Add(src)
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		if !parses(t, src) {
			return
		}
		checkProperties(t, "fuzz.mlp", src)
	})
}

// parses reports whether src parses without error. A parser panic fails
// the fuzz test like any other.
func parses(t *testing.T, src []byte) (ok bool) {
	_, err := parser.Parse("fuzz.mlp", src)
	return err == nil
}

// format parses src, which must be valid, and formats it.
func format(t testing.TB, name string, src []byte) []byte {
	t.Helper()
	f, err := parser.Parse(name, src)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return printer.Format(f, src)
}

// checkProperties checks, for a valid src: the output parses, gives the same
// tree and the same comments, is a fixed point of Format, ends with one
// newline and has no trailing blanks or carriage returns.
func checkProperties(t testing.TB, name string, src []byte) {
	t.Helper()
	f1, err := parser.Parse(name, src)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	out := printer.Format(f1, src)
	f2, err := parser.Parse(name, out)
	if err != nil {
		t.Fatalf("output of Format does not parse: %v\n--- input:\n%s\n--- output:\n%s", err, src, out)
	}
	if d1, d2 := dump(f1), dump(f2); d1 != d2 {
		t.Fatalf("Format changed the tree\n--- input:\n%s\n--- output:\n%s\n--- input tree:\n%s\n--- output tree:\n%s", src, out, d1, d2)
	}
	if c1, c2 := commentTexts(f1), commentTexts(f2); !slices.Equal(c1, c2) {
		t.Fatalf("Format changed the comments\n--- input:\n%s\n--- output:\n%s\n--- before: %q\n--- after:  %q", src, out, c1, c2)
	}
	if again := printer.Format(f2, out); !bytes.Equal(again, out) {
		t.Fatalf("Format is not idempotent\n--- input:\n%s\n--- once:\n%s\n--- twice:\n%s", src, out, again)
	}
	if len(out) > 0 && (!bytes.HasSuffix(out, []byte("\n")) || bytes.HasSuffix(out, []byte("\n\n"))) {
		t.Fatalf("output does not end with exactly one newline: %q", out)
	}
	for i, ln := range strings.Split(string(out), "\n") {
		if strings.TrimRight(ln, " \t") != ln {
			t.Fatalf("output line %d has trailing blanks: %q", i+1, ln)
		}
		if strings.HasSuffix(ln, "\r") {
			t.Fatalf("output line %d ends with \\r: %q", i+1, ln)
		}
	}
}

// commentTexts returns the sorted texts of f's comments.
func commentTexts(f *lang.File) []string {
	var out []string
	for _, c := range f.Comments {
		out = append(out, c.Text)
	}
	slices.Sort(out)
	return out
}

var (
	spanType = reflect.TypeFor[lang.Span]()
	fileType = reflect.TypeFor[lang.File]()
)

// dump prints a syntax tree without positions (every lang.Span is left
// out) and without the file's name and comments, one field a line.
func dump(v any) string {
	var b strings.Builder
	dumpValue(&b, reflect.ValueOf(v), 0)
	return b.String()
}

func dumpValue(b *strings.Builder, v reflect.Value, depth int) {
	indent := strings.Repeat("  ", depth)
	switch v.Kind() {
	case reflect.Invalid:
		b.WriteString("nil")
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		dumpValue(b, v.Elem(), depth)
	case reflect.Struct:
		b.WriteString(v.Type().String() + " {\n")
		for i := range v.NumField() {
			field := v.Type().Field(i)
			if field.Type == spanType || v.Type() == fileType && (field.Name == "Comments" || field.Name == "Name") {
				continue
			}
			b.WriteString(indent + "  " + field.Name + ": ")
			dumpValue(b, v.Field(i), depth+1)
			b.WriteString("\n")
		}
		b.WriteString(indent + "}")
	case reflect.Slice:
		b.WriteString("[\n")
		for i := range v.Len() {
			b.WriteString(indent + "  ")
			dumpValue(b, v.Index(i), depth+1)
			b.WriteString("\n")
		}
		b.WriteString(indent + "]")
	default:
		fmt.Fprintf(b, "%#v", v)
	}
}
