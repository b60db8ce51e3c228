package parser_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/parser"
)

var update = flag.Bool("update", os.Getenv("MLPIPE_UPDATE") != "",
	"rewrite the golden files (testdata/parse/*.txtar out/ast sections, testdata/grammar.ebnf) with the current output")

// parseCase is one testdata/parse/*.txtar archive: an in.mlp section and
// the expected tree in out/ast.
type parseCase struct {
	file    string
	archive *txtar.Archive
	in      []byte
	outIdx  int // index of out/ast in archive.Files, -1 if absent
}

func readParseCases(t testing.TB) []parseCase {
	t.Helper()
	files, err := filepath.Glob("testdata/parse/*.txtar")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata/parse/*.txtar files")
	}
	var out []parseCase
	for _, file := range files {
		a, err := txtar.ParseFile(file)
		if err != nil {
			t.Fatal(err)
		}
		c := parseCase{file: file, archive: a, outIdx: -1}
		for i, f := range a.Files {
			switch f.Name {
			case "in.mlp":
				c.in = f.Data
			case "out/ast":
				c.outIdx = i
			default:
				t.Fatalf("%s: unexpected section %q", file, f.Name)
			}
		}
		if c.in == nil {
			t.Fatalf("%s: no -- in.mlp -- section", file)
		}
		out = append(out, c)
	}
	return out
}

// TestParseTrees parses the in.mlp section of every testdata/parse/*.txtar
// file and compares the S-expression dump of the tree with the out/ast
// section. With -update it rewrites out/ast instead.
func TestParseTrees(t *testing.T) {
	for _, c := range readParseCases(t) {
		t.Run(strings.TrimSuffix(filepath.Base(c.file), ".txtar"), func(t *testing.T) {
			f, err := parser.Parse("in.mlp", c.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got := dumpFile(f)
			if *update {
				if c.outIdx < 0 {
					c.archive.Files = append(c.archive.Files, txtar.File{Name: "out/ast"})
					c.outIdx = len(c.archive.Files) - 1
				}
				c.archive.Files[c.outIdx].Data = []byte(got)
				if err := os.WriteFile(c.file, txtar.Format(c.archive), 0o666); err != nil {
					t.Fatal(err)
				}
				return
			}
			if c.outIdx < 0 {
				t.Fatalf("no -- out/ast -- section; run go test -update")
			}
			if want := string(c.archive.Files[c.outIdx].Data); got != want {
				t.Errorf("tree differs (run go test ./parser -update to accept)\ngot:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// TestParseExprTrees checks ParseExpr, the entry point of --set values, on
// single expressions.
func TestParseExprTrees(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"3e-4", "(float 0.0003 3e-4)"},
		{"-2", "(neg (int 2))"},
		{"[64, 32,]", "(list (int 64) (int 32))"},
		{`"a b"`, `(string "a b")`},
		{"true", "(bool true)"},
		{"relu", "(ident relu)"},
		{"a | b | c", "(| (| (ident a) (ident b)) (ident c))"},
		{"1 - 2 - 3", "(- (- (int 1) (int 2)) (int 3))"},
		{"  7  # a comment\n", "(int 7)"},
	} {
		e, err := parser.ParseExpr("--set x", tc.src)
		if err != nil {
			t.Errorf("ParseExpr(%q): %v", tc.src, err)
			continue
		}
		if got := dumpExpr(e); got != tc.want {
			t.Errorf("ParseExpr(%q) = %s, want %s", tc.src, got, tc.want)
		}
	}
}

func TestParseExprErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"", "--set x:1:1: syntax error: unexpected end of file (expected an expression)"},
		{"1 2", `--set x:1:3: syntax error: unexpected token "2"`},
		{"a b", `--set x:1:3: syntax error: unexpected token "b"`},
		{"f(", "--set x:1:3: syntax error: unexpected end of file (expected \")\")"},
		{"@", `--set x:1:1: syntax error: unexpected character "@"`},
		{"99999999999999999999", "--set x:1:1: integer 99999999999999999999 is out of range"},
	} {
		_, err := parser.ParseExpr("--set x", tc.src)
		if err == nil {
			t.Errorf("ParseExpr(%q) succeeded, want error %s", tc.src, tc.want)
			continue
		}
		if got := err.Error(); got != tc.want {
			t.Errorf("ParseExpr(%q) error:\n got %s\nwant %s", tc.src, got, tc.want)
		}
		if n := len(lang.DiagnosticsOf(err)); n != 1 {
			t.Errorf("ParseExpr(%q): %d diagnostics, want 1", tc.src, n)
		}
	}
}
