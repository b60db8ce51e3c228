package interp_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/parser"
)

const overrideSrc = `mlpipe 1
param lr = 1e-3
param epochs = 30
param name = "run"
param act = "relu"
param hidden = [64]
param rates = [0.1, 0.2]
param verbose = false
param empty = []
opt = adam(lr: lr)
net = mlp(hidden: hidden, out: 10, activation: act)
`

// set builds an override the way the command line does: the value parsed
// with parser.ParseExpr, nil when it does not parse.
func set(name, raw string) interp.Override {
	o := interp.Override{Name: name, Raw: raw}
	if e, err := parser.ParseExpr("--set "+name, raw); err == nil {
		o.Expr = e
	}
	return o
}

func checkWith(t *testing.T, src string, overrides ...interp.Override) (*interp.Checked, error) {
	t.Helper()
	f, err := parser.Parse("o.mlp", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return interp.Check(&lang.Program{Main: f, Files: []*lang.File{f}}, stdRegistry(), interp.Config{Overrides: overrides})
}

func TestOverrides(t *testing.T) {
	for _, tc := range []struct {
		name string
		sets []interp.Override
		// want maps a param to its expected final value, when the check
		// succeeds.
		want map[string]any
		// wantErr is the whole error text, when it fails.
		wantErr string
	}{
		{
			name: "float",
			sets: []interp.Override{set("lr", "3e-4")},
			want: map[string]any{"lr": 3e-4, "epochs": int64(30)},
		},
		{
			name: "int accepted for float, stored as float",
			sets: []interp.Override{set("lr", "1")},
			want: map[string]any{"lr": 1.0},
		},
		{
			name: "negative number",
			sets: []interp.Override{set("epochs", "-3")},
			want: map[string]any{"epochs": int64(-3)},
		},
		{
			name: "constant expression",
			sets: []interp.Override{set("epochs", "2 * 5")},
			want: map[string]any{"epochs": int64(10)},
		},
		{
			name: "int",
			sets: []interp.Override{set("epochs", "5")},
			want: map[string]any{"epochs": int64(5)},
		},
		{
			name: "quoted string",
			sets: []interp.Override{set("name", `"my run"`)},
			want: map[string]any{"name": "my run"},
		},
		{
			name: "bare word for a string",
			sets: []interp.Override{set("name", "baseline")},
			want: map[string]any{"name": "baseline"},
		},
		{
			name: "bare text that does not parse, for a string",
			sets: []interp.Override{set("name", "run #3: fast")},
			want: map[string]any{"name": "run #3: fast"},
		},
		{
			name: "number for a string is taken as text",
			sets: []interp.Override{set("name", "42")},
			want: map[string]any{"name": "42"},
		},
		{
			name: "bool",
			sets: []interp.Override{set("verbose", "true")},
			want: map[string]any{"verbose": true},
		},
		{
			name: "list of int",
			sets: []interp.Override{set("hidden", "[128, 64]")},
			want: map[string]any{"hidden": []any{int64(128), int64(64)}},
		},
		{
			name: "empty list",
			sets: []interp.Override{set("hidden", "[]")},
			want: map[string]any{"hidden": []any{}},
		},
		{
			name: "ints in a list of float become floats",
			sets: []interp.Override{set("rates", "[1, 0.5]")},
			want: map[string]any{"rates": []any{1.0, 0.5}},
		},
		{
			name: "several params",
			sets: []interp.Override{set("lr", "0.01"), set("epochs", "3"), set("act", "tanh")},
			want: map[string]any{"lr": 0.01, "epochs": int64(3), "act": "tanh"},
		},
		{
			name:    "unknown param, nothing close",
			sets:    []interp.Override{set("lerning_rate", "0.1")},
			wantErr: `--set lerning_rate=0.1: unknown param "lerning_rate"`,
		},
		{
			name:    "misspelt param",
			sets:    []interp.Override{set("epoch", "3")},
			wantErr: `--set epoch=3: unknown param "epoch" (did you mean "epochs"?)`,
		},
		{
			name:    "string for a float",
			sets:    []interp.Override{set("lr", `"fast"`)},
			wantErr: `--set lr="fast": param lr is a float (default 0.001), but --set gives "\"fast\""`,
		},
		{
			name:    "bare word for a float",
			sets:    []interp.Override{set("lr", "fast")},
			wantErr: `--set lr=fast: param lr is a float (default 0.001), but --set gives "fast"`,
		},
		{
			name:    "float for an int",
			sets:    []interp.Override{set("epochs", "2.5")},
			wantErr: `--set epochs=2.5: param epochs is an int (default 30), but --set gives "2.5"`,
		},
		{
			name:    "scalar for a list",
			sets:    []interp.Override{set("hidden", "64")},
			wantErr: `--set hidden=64: param hidden is a list of int (default [64]), but --set gives "64"`,
		},
		{
			name:    "list of the wrong element type",
			sets:    []interp.Override{set("hidden", "[1.5]")},
			wantErr: `--set hidden=[1.5]: param hidden is a list of int (default [64]), but --set gives "[1.5]"`,
		},
		{
			name:    "not a constant",
			sets:    []interp.Override{set("lr", "adam()")},
			wantErr: `--set lr=adam(): param lr is a float (default 0.001), but --set gives "adam()"`,
		},
		{
			name:    "division by zero",
			sets:    []interp.Override{set("lr", "1 / 0")},
			wantErr: `--set lr=1 / 0: param lr is a float (default 0.001), but --set gives "1 / 0"`,
		},
		{
			name:    "set twice",
			sets:    []interp.Override{set("lr", "0.1"), set("lr", "0.2")},
			wantErr: `--set lr=0.2: param lr is set twice`,
		},
		{
			name: "value out of the component's range",
			sets: []interp.Override{set("lr", "-1")},
			// The override itself is a float; adam rejects it where
			// the param is used.
			wantErr: `o.mlp:10:16: parameter lr of adam must be > 0, got -1.0`,
		},
		{
			name:    "enum checked where the param is used",
			sets:    []interp.Override{set("act", "gelu")},
			wantErr: `o.mlp:11:48: parameter activation of mlp must be one of "relu", "tanh", "sigmoid", got "gelu"`,
		},
		{
			name: "all errors at once",
			sets: []interp.Override{set("zzzzz", "1"), set("epochs", "x")},
			wantErr: "--set epochs=x: param epochs is an int (default 30), but --set gives \"x\"\n" +
				"--set zzzzz=1: unknown param \"zzzzz\"",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := checkWith(t, overrideSrc, tc.sets...)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("no error, want %s", tc.wantErr)
				}
				if got := err.Error(); got != tc.wantErr {
					t.Errorf("error:\n got %s\nwant %s", got, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tc.want {
				p, ok := c.Param(name)
				if !ok {
					t.Fatalf("no param %s", name)
				}
				if !reflect.DeepEqual(p.Value, want) {
					t.Errorf("%s = %#v, want %#v", name, p.Value, want)
				}
				overridden := false
				for _, o := range tc.sets {
					overridden = overridden || o.Name == name
				}
				if p.Overridden != overridden {
					t.Errorf("%s: Overridden = %v, want %v", name, p.Overridden, overridden)
				}
			}
		})
	}
}

// TestOverrideNotes checks the advice attached to an unknown param.
func TestOverrideNotes(t *testing.T) {
	_, err := checkWith(t, overrideSrc, set("zzzzz", "1"))
	d := lang.DiagnosticsOf(err)
	if len(d) != 1 || len(d[0].Notes) != 1 || d[0].Notes[0] != "this pipeline's params: act, empty, epochs, hidden, lr, name, rates, verbose" {
		t.Errorf("diagnostics %#v", d)
	}
	_, err = checkWith(t, "mlpipe 1\nx = 1\n", set("lr", "1"))
	d = lang.DiagnosticsOf(err)
	if len(d) != 1 || len(d[0].Notes) != 1 || d[0].Notes[0] != "this pipeline declares no params" {
		t.Errorf("diagnostics %#v", d)
	}
	if d[0].Span.IsValid() {
		t.Errorf("an override's diagnostic has a source position: %v", d[0].Span)
	}
}

// TestOverrideReachesUses checks that the overridden value, not the
// default, is what the bindings see.
func TestOverrideReachesUses(t *testing.T) {
	c, err := checkWith(t, overrideSrc, set("lr", "0.25"))
	if err != nil {
		t.Fatal(err)
	}
	var opt *interp.Binding
	for _, b := range c.Bindings {
		if b.Name == "opt" {
			opt = b
		}
	}
	call := opt.Stmt.Value.(*lang.CallExpr)
	if got := c.Consts[call.Args[0].Value]; got != 0.25 {
		t.Errorf("adam(lr: lr) sees lr = %v, want 0.25", got)
	}
	if !strings.Contains(c.Types[call].String(), "optimizer") {
		t.Errorf("type of adam() = %v", c.Types[call])
	}
}

// TestOverridesReachDerivedValues: an override takes effect where the param
// is declared, so params derived from it and the experiment block see it.
func TestOverridesReachDerivedValues(t *testing.T) {
	const src = `mlpipe 1
experiment "e" { seed = s }
param s = 3
param base = 1.0
param lr = base * 2
opt = adam(lr: lr)
`
	c, err := checkWith(t, src, set("s", "9"), set("base", "5.0"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Experiment.Seed != 9 {
		t.Errorf("experiment seed = %d, want 9", c.Experiment.Seed)
	}
	lr, _ := c.Param("lr")
	if lr.Value != 10.0 {
		t.Errorf("lr = %v, want 10 (derived from the overridden base)", lr.Value)
	}
	if _, err := checkWith(t, src, set("base", "-1.0")); err == nil || !strings.Contains(err.Error(), "parameter lr of adam must be > 0, got -2.0") {
		t.Errorf("a derived value out of range: err = %v", err)
	}
}
