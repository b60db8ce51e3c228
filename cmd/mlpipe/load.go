package main

import (
	"fmt"
	"strings"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/parser"
)

// parseSets turns --set NAME=VALUE flags into overrides.
func parseSets(sets []string) ([]interp.Override, error) {
	var out []interp.Override
	for _, s := range sets {
		name, raw, ok := strings.Cut(s, "=")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			return nil, fmt.Errorf("--set %q: want NAME=VALUE", s)
		}
		o := interp.Override{Name: name, Raw: raw}
		if e, err := parser.ParseExpr("--set "+name, raw); err == nil {
			o.Expr = e
		}
		out = append(out, o)
	}
	return out, nil
}

// load reads, parses and checks the pipeline at path with cfg. On failure
// it prints every diagnostic to stderr and returns nil.
func (a *app) load(path string, cfg interp.Config) (*interp.Checked, lang.Sources) {
	prog, sources, err := parser.Loader{}.Load(path)
	if err != nil {
		a.printDiags(err, sources)
		return nil, sources
	}
	checked, err := interp.Check(prog, a.registry, cfg)
	if err != nil {
		a.printDiags(err, sources)
		return nil, sources
	}
	return checked, sources
}

func (a *app) printDiags(err error, sources lang.Sources) {
	diags := lang.DiagnosticsOf(err)
	if len(diags) == 0 {
		fmt.Fprintf(a.stderr, "mlpipe: %v\n", err)
		return
	}
	lang.Fprint(a.stderr, diags, sources)
	n := 0
	for _, d := range diags {
		if d.Severity == lang.Error {
			n++
		}
	}
	if n > 1 {
		fmt.Fprintf(a.stderr, "%d errors\n", n)
	}
}
