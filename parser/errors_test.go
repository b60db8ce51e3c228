package parser_test

import (
	"testing"

	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/parser"
)

// TestSyntaxErrors parses malformed files and checks the whole error text:
// exactly one diagnostic, in the one-line form file:line:col: message.
func TestSyntaxErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"missing close paren at EOF", "mlpipe 1\nx = f(a, b",
			`e.mlp:2:11: syntax error: unexpected end of file (expected ")")`},
		{"missing close paren before next statement", "mlpipe 1\nx = f(a, b\ny = 2\n",
			`e.mlp:3:1: syntax error: unexpected token "y" (expected ")")`},
		{"missing close bracket", "mlpipe 1\nx = [1, 2\n",
			`e.mlp:3:1: syntax error: unexpected end of file (expected "]")`},
		{"double comma in call", "mlpipe 1\nx = f(a,,b)\n",
			`e.mlp:2:9: syntax error: unexpected token "," (expected ")")`},
		{"double comma in list", "mlpipe 1\nx = [1,,2]\n",
			`e.mlp:2:8: syntax error: unexpected token "," (expected "]")`},
		{"columns count bytes after a multi-byte character", "mlpipe 1\nx = f(\"ü\",,)\n",
			`e.mlp:2:12: syntax error: unexpected token "," (expected ")")`},
		{"lone comma in list", "mlpipe 1\nx = [,]\n",
			`e.mlp:2:6: syntax error: unexpected token "," (expected "]")`},
		{"unterminated string", "mlpipe 1\nx = \"abc\ny = 2\n",
			`e.mlp:2:5: syntax error: unterminated string (a string ends with " on the same line)`},
		{"unterminated string at EOF", "mlpipe 1\nimport \"abc",
			`e.mlp:2:8: syntax error: unterminated string (a string ends with " on the same line)`},
		{"string ending in a backslash", "mlpipe 1\nx = \"a\\\"\n",
			`e.mlp:2:5: syntax error: unterminated string (a string ends with " on the same line)`},
		{"invalid escape", "mlpipe 1\nx = \"a\\qb\"\n",
			`e.mlp:2:5: syntax error: invalid escape \q in string (the escapes are \\, \", \n and \t)`},
		{"stray character", "mlpipe 1\nx = @\n",
			`e.mlp:2:5: syntax error: unexpected character "@"`},
		{"stray character after a valid line", "mlpipe 1\nx = 1\ny = 2 $\n",
			`e.mlp:3:7: syntax error: unexpected character "$"`},
		{"missing header", "x = 1\n",
			`e.mlp:1:1: missing language header`},
		{"missing header after comments", "# just a comment\n\nx = 1\n",
			`e.mlp:3:1: missing language header`},
		{"empty file", "",
			`e.mlp:1:1: missing language header`},
		{"header without version", "mlpipe\n",
			`e.mlp:2:1: syntax error: unexpected end of file (expected an integer)`},
		{"header version 2", "mlpipe 2\nx = 1\n",
			`e.mlp:1:1: this file is written for mlpipe language version 2, but this mlpipe reads version 1`},
		{"header version 2 with a grammar of its own", "mlpipe 2\nx = f(a) => g\nwhen x { y }\n",
			`e.mlp:1:1: this file is written for mlpipe language version 2, but this mlpipe reads version 1`},
		{"header version 2 with unknown characters", "# v2\nmlpipe 2\nx = a ? b : c\n",
			`e.mlp:2:1: this file is written for mlpipe language version 2, but this mlpipe reads version 1`},
		{"header version 0", "mlpipe 0\nx = 1\n",
			`e.mlp:1:1: this file is written for mlpipe language version 0, but this mlpipe reads version 1`},
		{"header version too large for an int", "mlpipe 99999999999999999999\n",
			`e.mlp:1:1: this file is written for mlpipe language version 99999999999999999999, but this mlpipe reads version 1`},
		{"header twice", "mlpipe 1\nmlpipe 1\n",
			`e.mlp:2:8: syntax error: unexpected token "1" (expected "=" and a value)`},
		{"param without value", "mlpipe 1\nparam lr\nx = 1\n",
			`e.mlp:3:1: syntax error: unexpected token "x" (expected "=" and a value)`},
		{"param with = but no value", "mlpipe 1\nparam lr =\n",
			`e.mlp:3:1: syntax error: unexpected end of file (expected an expression)`},
		{"param without name", "mlpipe 1\nparam = 3\n",
			`e.mlp:2:1: syntax error: param is a keyword and cannot be used as a name`},
		{"binding to true", "mlpipe 1\ntrue = 1\n",
			`e.mlp:2:1: syntax error: true is a keyword and cannot be used as a name`},
		{"binding to import", "mlpipe 1\nimport = \"x\"\n",
			`e.mlp:2:1: syntax error: import is a keyword and cannot be used as a name`},
		{"param named experiment", "mlpipe 1\nparam experiment = 1\n",
			`e.mlp:2:7: syntax error: experiment is a keyword and cannot be used as a name`},
		{"binding to mlpipe", "mlpipe 1\nmlpipe = 1\n",
			`e.mlp:2:1: syntax error: mlpipe is a keyword and cannot be used as a name`},
		// x = 1 reads as one more attribute of the block.
		{"unclosed experiment block", "mlpipe 1\nexperiment \"x\" {\n  seed = 1\n\nx = 1\n",
			`e.mlp:6:1: syntax error: unexpected end of file (expected "}")`},
		{"unclosed experiment block at EOF", "mlpipe 1\nexperiment \"x\" {\n  seed = 1\n",
			`e.mlp:4:1: syntax error: unexpected end of file (expected "}")`},
		{"experiment block without braces", "mlpipe 1\nexperiment \"x\"\n",
			`e.mlp:3:1: syntax error: unexpected end of file (expected "{")`},
		{"sweep block without braces", "mlpipe 1\nsweep \"x\"\n",
			`e.mlp:3:1: syntax error: unexpected end of file (expected "{")`},
		{"unclosed sweep block at EOF", "mlpipe 1\nsweep {\n  seeds = 2\n",
			`e.mlp:4:1: syntax error: unexpected end of file (expected "}")`},
		{"sweep with two names", "mlpipe 1\nsweep \"a\" \"b\" { }\n",
			`e.mlp:2:11: syntax error: unexpected token "\"b\"" (expected "{")`},
		// Without quotes the name reads as the start of a binding.
		{"sweep name not quoted", "mlpipe 1\nsweep grid { seeds = 2 }\n",
			`e.mlp:2:7: syntax error: unexpected token "grid" (expected "=" and a value)`},
		{"sweep attribute without =", "mlpipe 1\nsweep { lr [1] }\n",
			`e.mlp:2:12: syntax error: unexpected token "[" (expected "=" and a value)`},
		{"sweep attribute without value", "mlpipe 1\nsweep { lr = }\n",
			`e.mlp:2:14: syntax error: unexpected token "}" (expected an expression)`},
		{"bad escape in a sweep name", "mlpipe 1\nsweep \"a\\q\" { }\n",
			`e.mlp:2:7: syntax error: invalid escape \q in string (the escapes are \\, \", \n and \t)`},
		{"binding to sweep", "mlpipe 1\nsweep = 1\n",
			`e.mlp:2:1: syntax error: sweep is a keyword and cannot be used as a name`},
		{"param named sweep", "mlpipe 1\nparam sweep = [1]\n",
			`e.mlp:2:7: syntax error: sweep is a keyword and cannot be used as a name`},
		{"integer overflow", "mlpipe 1\nx = 9223372036854775808\n",
			`e.mlp:2:5: integer 9223372036854775808 is out of range`},
		{"float overflow", "mlpipe 1\nx = 1e400\n",
			`e.mlp:2:5: number 1e400 is out of range`},
		{"missing operand", "mlpipe 1\nx = 1 +\n",
			`e.mlp:3:1: syntax error: unexpected end of file (expected an expression)`},
		{"double minus", "mlpipe 1\nx = --1\n",
			`e.mlp:2:6: syntax error: unexpected token "-" (expected an expression)`},
		{"dot without member", "mlpipe 1\nx = a.\n",
			`e.mlp:3:1: syntax error: unexpected end of file (expected a name)`},
		{"named argument without value", "mlpipe 1\nx = f(a: )\n",
			`e.mlp:2:10: syntax error: unexpected token ")" (expected an expression)`},
		{"bare expression", "mlpipe 1\nf(x)\n",
			`e.mlp:2:2: syntax error: unexpected token "(" (expected "=" and a value)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parser.Parse("e.mlp", []byte(tc.src))
			if f == nil {
				t.Errorf("Parse returned a nil file")
			}
			if err == nil {
				t.Fatalf("no error, want %s", tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("error:\n got %s\nwant %s", got, tc.want)
			}
			diags := lang.DiagnosticsOf(err)
			if len(diags) != 1 {
				t.Fatalf("%d diagnostics, want 1", len(diags))
			}
			if d := diags[0]; !d.Span.IsValid() || d.Span.End.Before(d.Span.Start) {
				t.Errorf("bad span %s", pos(d.Span))
			}
		})
	}
}

// TestVersionNote checks the advice attached to the version and header
// diagnostics.
func TestVersionNote(t *testing.T) {
	for _, tc := range []struct{ src, note string }{
		{"mlpipe 2\n", "upgrade mlpipe to run it"},
		{"x = 1\n", "start the file with the line: mlpipe 1"},
	} {
		_, err := parser.Parse("e.mlp", []byte(tc.src))
		diags := lang.DiagnosticsOf(err)
		if len(diags) != 1 || len(diags[0].Notes) != 1 || diags[0].Notes[0] != tc.note {
			t.Errorf("Parse(%q): diagnostics %v, want one with note %q", tc.src, diags, tc.note)
		}
	}
}

// TestBadEscapes checks the message for each kind of escape the language
// lacks.
func TestBadEscapes(t *testing.T) {
	for _, tc := range []struct{ lit, esc string }{
		{`"\q"`, `\q`},
		{`"ok \n then \x41"`, `\x`},
		{`"\u00e9"`, `\u`},
		{"\"\\é\"", `\é`},
		{"\"\\\xff\"", `\xff`},
		{`"\'"`, `\'`},
	} {
		_, err := parser.Parse("e.mlp", []byte("mlpipe 1\nx = "+tc.lit+"\n"))
		want := `e.mlp:2:5: syntax error: invalid escape ` + tc.esc + ` in string (the escapes are \\, \", \n and \t)`
		if err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %s", tc.lit, err, want)
		}
	}
}
