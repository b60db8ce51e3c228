package parser_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/parser"
)

const spanSrc = `mlpipe 1
# header comment   
fit = train(net, data.train, loss: cross_entropy())  # trailing
l = [1, 2,
  3]   # after the list
s = a + b * c # sum
p = (x)	| -y.z
experiment "e" {
  seed = 7
}
import "lib.mlp"
param lr = 1e-3
m = f(
  a: 1,
)
`

// pos formats a span as line:col-line:col.
func pos(s lang.Span) string {
	return fmt.Sprintf("%d:%d-%d:%d", s.Start.Line, s.Start.Col, s.End.Line, s.End.Col)
}

// text returns the source text a span covers, by offsets.
func text(src string, s lang.Span) string {
	if s.Start.Offset < 0 || s.End.Offset > len(src) || s.Start.Offset > s.End.Offset {
		return fmt.Sprintf("<bad offsets %d..%d>", s.Start.Offset, s.End.Offset)
	}
	return src[s.Start.Offset:s.End.Offset]
}

// TestSpans checks the Start and End of chosen nodes. End is exclusive and
// must be just past the node's last token, not at the next token (the
// trap of participle's EndPos) and not past trailing blanks or comments.
func TestSpans(t *testing.T) {
	f, err := parser.Parse("s.mlp", []byte(spanSrc))
	if err != nil {
		t.Fatal(err)
	}
	bind := func(i int) *lang.BindStmt { return f.Stmts[i].(*lang.BindStmt) }
	fit := bind(0).Value.(*lang.CallExpr)
	list := bind(1).Value.(*lang.ListExpr)
	sum := bind(2).Value.(*lang.BinaryExpr)
	pipe := bind(3).Value.(*lang.BinaryExpr)
	exp := f.Stmts[4].(*lang.ExperimentStmt)
	imp := f.Stmts[5].(*lang.ImportStmt)
	param := f.Stmts[6].(*lang.ParamStmt)
	multi := bind(7).Value.(*lang.CallExpr)

	for _, tc := range []struct {
		name     string
		span     lang.Span
		pos      string
		wantText string
	}{
		{"header", f.Header, "1:1-1:9", "mlpipe 1"},
		{"bind fit", bind(0).At, "3:1-3:52", "fit = train(net, data.train, loss: cross_entropy())"},
		{"bind name", bind(0).Name.At, "3:1-3:4", "fit"},
		{"call", fit.At, "3:7-3:52", "train(net, data.train, loss: cross_entropy())"},
		{"call func", fit.Func.At, "3:7-3:12", "train"},
		{"positional arg", fit.Args[0].At, "3:13-3:16", "net"},
		{"selector arg", fit.Args[1].At, "3:18-3:28", "data.train"},
		{"selector member", fit.Args[1].Value.(*lang.SelectorExpr).Sel.At, "3:23-3:28", "train"},
		{"named arg", fit.Args[2].At, "3:30-3:51", "loss: cross_entropy()"},
		{"inner call", fit.Args[2].Value.Span(), "3:36-3:51", "cross_entropy()"},
		{"list over two lines", list.At, "4:5-5:5", "[1, 2,\n  3]"},
		{"bind of list", bind(1).At, "4:1-5:5", "l = [1, 2,\n  3]"},
		{"list element", list.Elems[2].Span(), "5:3-5:4", "3"},
		{"sum", sum.At, "6:5-6:14", "a + b * c"},
		{"sum operator", sum.OpSpan, "6:7-6:8", "+"},
		{"product", sum.Y.Span(), "6:9-6:14", "b * c"},
		{"product operator", sum.Y.(*lang.BinaryExpr).OpSpan, "6:11-6:12", "*"},
		{"pipe", pipe.At, "7:5-7:15", "(x)\t| -y.z"},
		{"paren", pipe.X.Span(), "7:5-7:8", "(x)"},
		{"unary", pipe.Y.Span(), "7:11-7:15", "-y.z"},
		{"experiment", exp.At, "8:1-10:2", "experiment \"e\" {\n  seed = 7\n}"},
		{"experiment name", exp.NameSpan, "8:12-8:15", `"e"`},
		{"attribute", exp.Attrs[0].At, "9:3-9:11", "seed = 7"},
		{"import", imp.At, "11:1-11:17", `import "lib.mlp"`},
		{"import path", imp.PathSpan, "11:8-11:17", `"lib.mlp"`},
		{"param", param.At, "12:1-12:16", "param lr = 1e-3"},
		{"param value", param.Value.Span(), "12:12-12:16", "1e-3"},
		{"multi-line call", multi.At, "13:5-15:2", "f(\n  a: 1,\n)"},
		{"comment with trailing blanks", f.Comments[0].At, "2:1-2:17", "# header comment"},
		{"trailing comment", f.Comments[1].At, "3:54-3:64", "# trailing"},
		{"whole file", f.Whole, "1:1-16:1", spanSrc},
	} {
		if got := pos(tc.span); got != tc.pos {
			t.Errorf("%s: span %s, want %s", tc.name, got, tc.pos)
		}
		if got := text(spanSrc, tc.span); got != tc.wantText {
			t.Errorf("%s: span covers %q, want %q", tc.name, got, tc.wantText)
		}
		if tc.span.File != "s.mlp" {
			t.Errorf("%s: span file %q, want s.mlp", tc.name, tc.span.File)
		}
	}
	if n := len(f.Comments); n != 4 {
		t.Errorf("%d comments, want 4", n)
	}
}

// TestSweepSpans checks the spans of a sweep block, with and without a
// name.
func TestSweepSpans(t *testing.T) {
	src := "mlpipe 1\nsweep \"g\" {\n  lr = [1, 2]\n}\nsweep { seeds = 2 }\n"
	f, err := parser.Parse("s.mlp", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	named := f.Stmts[0].(*lang.SweepStmt)
	bare := f.Stmts[1].(*lang.SweepStmt)
	for _, tc := range []struct {
		name     string
		span     lang.Span
		pos      string
		wantText string
	}{
		{"sweep", named.At, "2:1-4:2", "sweep \"g\" {\n  lr = [1, 2]\n}"},
		{"sweep name", named.NameSpan, "2:7-2:10", `"g"`},
		{"axis", named.Attrs[0].At, "3:3-3:14", "lr = [1, 2]"},
		{"axis name", named.Attrs[0].Name.At, "3:3-3:5", "lr"},
		{"sweep without a name", bare.At, "5:1-5:20", "sweep { seeds = 2 }"},
	} {
		if got := pos(tc.span); got != tc.pos {
			t.Errorf("%s: span %s, want %s", tc.name, got, tc.pos)
		}
		if got := text(src, tc.span); got != tc.wantText {
			t.Errorf("%s: span covers %q, want %q", tc.name, got, tc.wantText)
		}
	}
	if bare.NameSpan.IsValid() || bare.Name != "" {
		t.Errorf("a sweep without a name has name %q at %s", bare.Name, pos(bare.NameSpan))
	}
}

// TestSpansEveryNode checks, for every node of every parse-tree test input,
// that its span covers text that starts and ends with a token: no leading
// or trailing blanks or comments, and Start <= End.
func TestSpansEveryNode(t *testing.T) {
	for _, c := range readParseCases(t) {
		src := string(c.in)
		f, err := parser.Parse("in.mlp", c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.file, err)
		}
		walkFile(f, func(n lang.Node) {
			sp := n.Span()
			txt := text(src, sp)
			if sp.End.Before(sp.Start) || txt == "" {
				t.Errorf("%s: %T has empty or reversed span %s", c.file, n, pos(sp))
				return
			}
			if strings.TrimSpace(txt) != txt {
				t.Errorf("%s: %T span %s covers %q, with blanks at an end", c.file, n, pos(sp), txt)
			}
			if _, isComment := n.(*lang.Comment); !isComment && strings.Contains(lastLine(txt), "#") && !strings.Contains(txt, `"`) {
				t.Errorf("%s: %T span %s covers %q, ending in a comment", c.file, n, pos(sp), txt)
			}
			if got := lineCol(src, sp.Start.Offset); got != [2]int{sp.Start.Line, sp.Start.Col} {
				t.Errorf("%s: %T start offset %d is at %v, but the span says %d:%d", c.file, n, sp.Start.Offset, got, sp.Start.Line, sp.Start.Col)
			}
			if got := lineCol(src, sp.End.Offset); got != [2]int{sp.End.Line, sp.End.Col} {
				t.Errorf("%s: %T end offset %d is at %v, but the span says %d:%d", c.file, n, sp.End.Offset, got, sp.End.Line, sp.End.Col)
			}
		})
	}
}

func lastLine(s string) string { return s[strings.LastIndexByte(s, '\n')+1:] }

// lineCol computes the 1-based line and byte column of offset in src.
func lineCol(src string, offset int) [2]int {
	line, col := 1, 1
	for i := 0; i < offset && i < len(src); i++ {
		if src[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return [2]int{line, col}
}

// walkFile calls fn for every statement, expression, argument, attribute,
// identifier and comment of f.
func walkFile(f *lang.File, fn func(lang.Node)) {
	for _, c := range f.Comments {
		fn(c)
	}
	for _, s := range f.Stmts {
		fn(s)
		switch s := s.(type) {
		case *lang.ParamStmt:
			fn(s.Name)
			walkExpr(s.Value, fn)
		case *lang.BindStmt:
			fn(s.Name)
			walkExpr(s.Value, fn)
		case *lang.ExperimentStmt:
			for _, a := range s.Attrs {
				fn(a)
				fn(a.Name)
				walkExpr(a.Value, fn)
			}
		case *lang.SweepStmt:
			for _, a := range s.Attrs {
				fn(a)
				fn(a.Name)
				walkExpr(a.Value, fn)
			}
		}
	}
}

func walkExpr(e lang.Expr, fn func(lang.Node)) {
	fn(e)
	switch e := e.(type) {
	case *lang.ListExpr:
		for _, x := range e.Elems {
			walkExpr(x, fn)
		}
	case *lang.CallExpr:
		fn(e.Func)
		for _, a := range e.Args {
			fn(a)
			if a.Name != nil {
				fn(a.Name)
			}
			walkExpr(a.Value, fn)
		}
	case *lang.SelectorExpr:
		walkExpr(e.X, fn)
		fn(e.Sel)
	case *lang.BinaryExpr:
		walkExpr(e.X, fn)
		walkExpr(e.Y, fn)
	case *lang.UnaryExpr:
		walkExpr(e.X, fn)
	case *lang.ParenExpr:
		walkExpr(e.X, fn)
	}
}
