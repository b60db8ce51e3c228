package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// listedPackage is the part of `go list -json` output the import rules
// read.
type listedPackage struct {
	ImportPath string
	Standard   bool
	Module     *struct{ Path string }
	Imports    []string // direct imports
	Deps       []string // all transitive dependencies
	Error      *struct{ Err string }
}

// moduleRoot returns the directory of the go.mod above the current one.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// under reports whether pkg is path or inside it.
func under(pkg, path string) bool {
	return pkg == path || strings.HasPrefix(pkg, path+"/")
}

// TestImportRules enforces the layering of the module with the package
// graph of `go list -deps` (non-test code; transitive imports count):
//
//   - lang imports nothing of the module outside lang/...;
//   - parser and interp import nothing of the module but lang (and its
//     sub-packages);
//   - only stdlib/backend imports gorgonia.org/* directly; packages that
//     reach gorgonia through it must be under stdlib/ or be commands,
//     never lang, parser or interp;
//   - lang, parser and interp never depend on gorgonia.org/*, gonum.org/*
//     or stdlib;
//   - stdlib never depends on parser or on the commands.
func TestImportRules(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	root := moduleRoot(t)
	cmd := exec.Command(goCmd, "list", "-e", "-deps", "-json", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}

	var mod string
	modFile, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(modFile), "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			mod = strings.Trim(strings.TrimSpace(m), `"`)
			break
		}
	}
	if mod == "" {
		t.Fatal("go.mod has no module line")
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	var pkgs []listedPackage
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decoding go list output: %v", err)
		}
		if p.Standard || !under(p.ImportPath, mod) {
			continue
		}
		if p.Error != nil && !strings.Contains(p.Error.Err, "no non-test Go files") {
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, p)
	}
	for _, want := range []string{"lang", "lang/printer", "parser", "interp", "stdlib", "stdlib/backend", "cmd/mlpipe"} {
		want = mod + "/" + want
		found := false
		for _, p := range pkgs {
			found = found || p.ImportPath == want
		}
		if !found {
			t.Errorf("go list did not list %s", want)
		}
	}
	for _, v := range importViolations(mod, pkgs) {
		t.Error(v)
	}
}

// importViolations applies the rules of TestImportRules to the packages of
// module mod and returns one message per forbidden dependency.
func importViolations(mod string, pkgs []listedPackage) []string {
	var (
		lang    = mod + "/lang"
		parser  = mod + "/parser"
		interp  = mod + "/interp"
		stdlib  = mod + "/stdlib"
		backend = mod + "/stdlib/backend"
		cmds    = mod + "/cmd"
	)
	isCore := func(pkg string) bool { return under(pkg, lang) || under(pkg, parser) || under(pkg, interp) }
	var out []string
	for _, p := range pkgs {
		pkg := p.ImportPath
		forbid := func(dep, why string) {
			out = append(out, pkg+" depends on "+dep+": "+why)
		}
		for _, dep := range p.Imports {
			if under(dep, "gorgonia.org") && pkg != backend {
				forbid(dep, "only stdlib/backend may import gorgonia.org/* directly")
			}
		}
		for _, dep := range p.Deps {
			switch {
			case under(pkg, lang) && under(dep, mod) && !under(dep, lang):
				forbid(dep, "lang may import nothing of the module but its own sub-packages")
			case (under(pkg, parser) || under(pkg, interp)) && under(dep, mod) && !under(dep, lang):
				forbid(dep, "parser and interp may import nothing of the module but lang")
			case isCore(pkg) && (under(dep, "gorgonia.org") || under(dep, "gonum.org")):
				forbid(dep, "lang, parser and interp must not depend on the compute libraries")
			case under(dep, "gorgonia.org") && !under(pkg, stdlib) && !under(pkg, cmds):
				forbid(dep, "only stdlib (through stdlib/backend) and the commands may reach gorgonia.org/*")
			case under(pkg, stdlib) && (under(dep, parser) || under(dep, cmds)):
				forbid(dep, "stdlib must not depend on the parser or the commands")
			}
		}
	}
	return out
}

// TestImportViolations checks that importViolations catches each kind of
// forbidden edge, on made-up package graphs.
func TestImportViolations(t *testing.T) {
	const m = "example.com/m"
	pkg := func(path string, imports, deps []string) listedPackage {
		return listedPackage{ImportPath: path, Imports: imports, Deps: deps}
	}
	good := []listedPackage{
		pkg(m+"/lang", nil, []string{"fmt"}),
		pkg(m+"/lang/printer", []string{m + "/lang"}, []string{m + "/lang"}),
		pkg(m+"/parser", []string{m + "/lang"}, []string{m + "/lang", "github.com/alecthomas/participle/v2"}),
		pkg(m+"/interp", []string{m + "/lang"}, []string{m + "/lang"}),
		pkg(m+"/stdlib/backend", []string{"gorgonia.org/gorgonia"}, []string{"gorgonia.org/gorgonia", "gonum.org/v1/gonum/blas"}),
		pkg(m+"/stdlib/models", []string{m + "/stdlib/backend"}, []string{m + "/interp", m + "/lang", m + "/stdlib/backend", "gorgonia.org/gorgonia"}),
		pkg(m+"/stdlib", []string{m + "/stdlib/models"}, []string{m + "/stdlib/models", m + "/stdlib/backend", "gorgonia.org/tensor"}),
		pkg(m+"/cmd/tool", []string{m + "/stdlib", m + "/parser"}, []string{m + "/stdlib", m + "/parser", "gorgonia.org/tensor"}),
	}
	if v := importViolations(m, good); len(v) > 0 {
		t.Errorf("a sound graph has violations: %q", v)
	}
	for _, bad := range []listedPackage{
		pkg(m+"/lang", nil, []string{m + "/interp"}),
		pkg(m+"/lang/printer", nil, []string{m + "/parser"}),
		pkg(m+"/parser", nil, []string{m + "/interp"}),
		pkg(m+"/interp", nil, []string{m + "/stdlib/value"}),
		pkg(m+"/interp", nil, []string{"gonum.org/v1/gonum/floats"}),
		pkg(m+"/parser", nil, []string{"gorgonia.org/tensor"}),
		pkg(m+"/stdlib/models", []string{"gorgonia.org/gorgonia"}, nil),
		pkg(m+"/tools/x", nil, []string{"gorgonia.org/tensor"}),
		pkg(m+"/stdlib/loaders", nil, []string{m + "/parser"}),
		pkg(m+"/stdlib", nil, []string{m + "/cmd/tool"}),
	} {
		if v := importViolations(m, []listedPackage{bad}); len(v) == 0 {
			t.Errorf("%s with imports %v and deps %v: no violation found", bad.ImportPath, bad.Imports, bad.Deps)
		}
	}
}
