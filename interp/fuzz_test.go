package interp_test

import (
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/parser"
)

// FuzzCheck checks every input that parses with the standard registry.
// Properties:
//   - Check never panics;
//   - every diagnostic has a span inside the file;
//   - a program that checks compiles, and its graph dumps.
//
// The corpus is seeded from testdata/check (imports are not followed: the
// names they define are then undefined, which is one more error case),
// ../pipelines and testdata/fuzz/FuzzCheck. Run it with
//
//	go test ./interp -run '^$' -fuzz FuzzCheck -fuzztime 120s
func FuzzCheck(f *testing.F) {
	for _, pattern := range []string{"testdata/check/*.mlp", "testdata/check/lib/*.mlp", "../pipelines/*.mlp"} {
		files, _ := filepath.Glob(pattern)
		for _, path := range files {
			src, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(src)
		}
	}
	reg := stdRegistry()
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := parser.Parse("f.mlp", src)
		if err != nil {
			return
		}
		prog := &lang.Program{Main: file, Files: []*lang.File{file}}
		checked, err := interp.Check(prog, reg, interp.Config{})
		sources := lang.Sources{"f.mlp": src}
		for _, d := range lang.DiagnosticsOf(err) {
			if msg := spanProblem(d.Span, sources); msg != "" {
				t.Errorf("%s: %s", d, msg)
			}
		}
		if err != nil {
			if len(lang.DiagnosticsOf(err)) == 0 {
				t.Fatalf("error without diagnostics: %v", err)
			}
			return
		}
		g, err := interp.Compile(checked)
		if err != nil {
			t.Fatalf("a checked program does not compile: %v", err)
		}
		g.Dump(io.Discard)
	})
}
