package parser_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/parser"
)

// FuzzParse parses arbitrary input. Properties:
//   - Parse and ParseExpr never panic;
//   - every diagnostic has a position inside the file;
//   - on success, every node's span lies inside the file, with Start <= End
//     and offsets that agree with line and column.
//
// The corpus is seeded from ../pipelines/*.mlp, the testdata/parse inputs
// and testdata/fuzz/FuzzParse. Run it with
//
//	go test ./parser -run '^$' -fuzz FuzzParse -fuzztime 120s
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../pipelines/*.mlp")
	for _, path := range seeds {
		src, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	for _, c := range readParseCases(f) {
		f.Add(c.in)
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := parser.Parse("f.mlp", src)
		if file == nil {
			t.Fatal("Parse returned a nil file")
		}
		checkDiagSpans(t, "f.mlp", src, err)
		if err == nil {
			checkTreeSpans(t, src, file)
		}
		_, err = parser.ParseExpr("e", string(src))
		checkDiagSpans(t, "e", src, err)
	})
}

// checkDiagSpans checks that every diagnostic of err lies within src.
func checkDiagSpans(t *testing.T, name string, src []byte, err error) {
	t.Helper()
	if err == nil {
		return
	}
	diags := lang.DiagnosticsOf(err)
	if len(diags) == 0 {
		t.Fatalf("error carries no diagnostics: %v", err)
	}
	lines := strings.Count(string(src), "\n") + 1
	for _, d := range diags {
		s := d.Span
		if s.File != name {
			t.Errorf("%s: file %q, want %q", d, s.File, name)
		}
		if s.Start.Line < 1 || s.Start.Line > lines+1 || s.Start.Col < 1 {
			t.Errorf("%s: start %d:%d outside the file of %d lines", d, s.Start.Line, s.Start.Col, lines)
		}
		if s.End.Before(s.Start) || s.End.Offset > len(src) || s.End.Line > lines+1 {
			t.Errorf("%s: end %d:%d (offset %d) out of order or outside the file", d, s.End.Line, s.End.Col, s.End.Offset)
		}
	}
}

// checkTreeSpans checks the spans of every node of a file that parsed.
func checkTreeSpans(t *testing.T, src []byte, f *lang.File) {
	t.Helper()
	walkFile(f, func(n lang.Node) {
		s := n.Span()
		if !s.IsValid() || s.Start.Offset < 0 || s.End.Offset > len(src) || s.End.Before(s.Start) {
			t.Fatalf("%T: span %s (offsets %d..%d) outside the file of %d bytes", n, pos(s), s.Start.Offset, s.End.Offset, len(src))
		}
		for _, p := range []lang.Pos{s.Start, s.End} {
			if got := lineCol(string(src), p.Offset); got != [2]int{p.Line, p.Col} {
				t.Fatalf("%T: offset %d is at %v, but the span says %d:%d", n, p.Offset, got, p.Line, p.Col)
			}
		}
	})
}
