package parser_test

import (
	"bytes"
	"os"
	"testing"

	"github.com/mlpipe/mlpipe/parser"
)

const grammarGolden = "testdata/grammar.ebnf"

// TestGrammarGolden keeps testdata/grammar.ebnf equal to the grammar
// participle derives from grammar.go, so that a change to the grammar shows
// in review. go test ./parser -update rewrites it.
func TestGrammarGolden(t *testing.T) {
	got := parser.Grammar() + "\n"
	if *update {
		if err := os.WriteFile(grammarGolden, []byte(got), 0o666); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(grammarGolden)
	if err != nil {
		t.Fatalf("%v (run go test ./parser -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("the grammar changed (run go test ./parser -update to accept):\ngot:\n%s\nwant:\n%s", got, want)
	}
}

// TestGrammarShape checks properties of the grammar that the rest of the
// project relies on, independently of the golden file.
func TestGrammarShape(t *testing.T) {
	g := parser.Grammar()
	for _, rule := range []string{
		`Header = "mlpipe" <int> .`,
		`Statement = ImportDecl | ParamDecl | ExperimentDecl | SweepDecl | Binding .`,
		`SweepDecl = "sweep" <string>? "{" Attribute* "}" .`,
		`Expression = Sum PipeTail* .`,
		`PipeTail = "|" Sum .`,
	} {
		if !bytes.Contains([]byte(g), []byte(rule)) {
			t.Errorf("grammar lacks the rule %s", rule)
		}
	}
}
