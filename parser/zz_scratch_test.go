package parser

import (
	"fmt"
	"testing"

	"github.com/mlpipe/mlpipe/lang"
)

func TestScratch(t *testing.T) {
	for _, src := range []string{
		"mlpipe 1\nx = f(a, b)  # c\n",
		"mlpipe 1\nx = f(a,\n  b,\n)\n",
		"mlpipe 1\nx = [1, 2 ] # c\ny = 1 + 2 # z\n",
		"mlpipe 1\nx = f(a",
		"mlpipe 1\nx = f(a,,b)",
		"mlpipe 1\nx = \"abc\ny = 2",
		"mlpipe 1\nx = @",
		"x = 1",
		"mlpipe 2\nx = @@@",
		"mlpipe 2\nx = 1",
		"mlpipe 0\nx = 1",
		"mlpipe 1\nparam x",
		"mlpipe 1\nparam x =",
		"mlpipe 1\nparam = 3",
		"mlpipe 1\ntrue = 3",
		"mlpipe 1\nimport = 3",
		"mlpipe 1\nexperiment = 3",
		"mlpipe 1\nmlpipe = 3",
		"mlpipe 1\nexperiment \"x\" {\n seed = 1\n",
		"mlpipe 1\nx = 99999999999999999999",
		"mlpipe 1\nx = 1e999",
		"mlpipe 1\nx = 1 + ",
		"mlpipe 1\nx = -",
		"",
		"mlpipe",
		"mlpipe 1\nx = (",
		"mlpipe 1\nx = a.",
		"mlpipe 1\nx = f(a: )",
		"mlpipe 1\nx = \"a\\qb\"",
		"mlpipe 1\nx = \"a\tb\r\"",
	} {
		f, err := Parse("t.mlp", []byte(src))
		fmt.Printf("=== %q\n", src)
		for _, d := range lang.DiagnosticsOf(err) {
			fmt.Printf("  DIAG %s  [%d:%d-%d:%d]\n", d.Error(), d.Span.Start.Line, d.Span.Start.Col, d.Span.End.Line, d.Span.End.Col)
		}
		if f != nil {
			for _, s := range f.Stmts {
				sp := s.Span()
				fmt.Printf("  STMT %T %d:%d-%d:%d\n", s, sp.Start.Line, sp.Start.Col, sp.End.Line, sp.End.Col)
				if b, ok := s.(*lang.BindStmt); ok {
					sp := b.Value.Span()
					fmt.Printf("    val %T %d:%d-%d:%d\n", b.Value, sp.Start.Line, sp.Start.Col, sp.End.Line, sp.End.Col)
				}
			}
			for _, c := range f.Comments {
				fmt.Printf("  COMMENT %q %d:%d-%d:%d\n", c.Text, c.At.Start.Line, c.At.Start.Col, c.At.End.Line, c.At.End.Col)
			}
		}
	}
}

func TestScratchGrammar(t *testing.T) { fmt.Println(Grammar()) }
