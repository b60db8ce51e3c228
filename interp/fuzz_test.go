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
//   - a program that checks compiles, and its graph dumps;
//   - for a sweep, its first and last variants check, or fail with
//     diagnostics, and a variant that checks is the same definition as the
//     check with its Overrides and seed.
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
		if checked.Sweep != nil {
			fuzzVariants(t, prog, checked)
		}
	})
}

// fuzzVariants checks the first and the last variant of a checked sweep.
func fuzzVariants(t *testing.T, prog *lang.Program, checked *interp.Checked) {
	n := checked.Sweep.Len()
	if n < 1 || n > 10000 {
		t.Fatalf("a checked sweep has %d variants", n)
	}
	vs := checked.Sweep.Variants(checked.Experiment.Seed)
	if len(vs) != n {
		t.Fatalf("Variants gives %d variants, Len %d", len(vs), n)
	}
	for _, v := range []interp.Variant{vs[0], vs[n-1]} {
		k := v.Index
		byVariant, err := interp.Check(prog, stdRegistry(), interp.Config{Variant: &k})
		if err != nil {
			if len(lang.DiagnosticsOf(err)) == 0 {
				t.Fatalf("variant %d: error without diagnostics: %v", k, err)
			}
			continue
		}
		if byVariant.Experiment.Seed != v.Seed || interp.SweepID(byVariant) != interp.SweepID(checked) {
			t.Fatalf("variant %d: seed %d, sweep id %s; want %d, %s", k, byVariant.Experiment.Seed, interp.SweepID(byVariant), v.Seed, interp.SweepID(checked))
		}
		seed := v.Seed
		bySet, err := interp.Check(prog, stdRegistry(), interp.Config{Overrides: v.Overrides(), Seed: &seed})
		if err != nil {
			t.Fatalf("variant %d checks, but not with its overrides: %v", k, err)
		}
		if interp.DefinitionID(bySet) != interp.DefinitionID(byVariant) {
			t.Fatalf("variant %d: its overrides give\n%s\nthe variant gives\n%s", k, interp.Canonical(bySet), interp.Canonical(byVariant))
		}
	}
}
