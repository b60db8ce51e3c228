package interp_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/parser"
)

const sweepSource = `mlpipe 1
experiment "s" { seed = 7 }
param lr = 0.01
param hidden = 64
param epochs = lr * 100
sweep "grid" {
  lr = [0.001, 1]
  hidden = [16, 32, 64]
  seeds = 2
}
net = mlp(hidden: [hidden], out: 10)
`

func checkSweep(t *testing.T, src string, cfg interp.Config) (*interp.Checked, error) {
	t.Helper()
	f, err := parser.Parse("s.mlp", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return interp.Check(&lang.Program{Main: f, Files: []*lang.File{f}}, stdRegistry(), cfg)
}

func TestSweepVariants(t *testing.T) {
	c, err := checkSweep(t, sweepSource, interp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	s := c.Sweep
	if s == nil || s.Name != "grid" || s.Seeds != 2 || len(s.Axes) != 2 {
		t.Fatalf("sweep %+v", s)
	}
	if v := s.Axes[0].Values[1]; v != 1.0 {
		t.Errorf("the int 1 given for the float lr is %v (%T), want 1.0", v, v)
	}
	vs := s.Variants(c.Experiment.Seed)
	if len(vs) != 12 || s.Len() != 12 {
		t.Fatalf("%d variants, want 12", len(vs))
	}
	// Row-major over the axes, replicates innermost.
	for i, want := range []string{"0.001 16 r0", "0.001 16 r1", "0.001 32 r0"} {
		v := vs[i]
		got := fmt.Sprintf("%s %s r%d", lang.FormatValue(v.Params[0].Value), lang.FormatValue(v.Params[1].Value), v.Replicate)
		if got != want {
			t.Errorf("variant %d is %s, want %s", i, got, want)
		}
	}
	if last := vs[11]; last.Params[0].Value != 1.0 || last.Params[1].Value != int64(64) || last.Replicate != 1 {
		t.Errorf("last variant %+v", last)
	}
	// Replicate 0 keeps the experiment's seed; replicate 1 has one seed of
	// its own, the same at every grid point.
	if vs[0].Seed != 7 || vs[1].Seed == 7 || vs[1].Seed != vs[3].Seed || vs[1].Seed < 0 {
		t.Errorf("seeds %d %d %d, want 7, s, s (s != 7)", vs[0].Seed, vs[1].Seed, vs[3].Seed)
	}

	// Checking a variant applies its params (also to params derived from
	// them) and its seed.
	k := 11
	cv, err := checkSweep(t, sweepSource, interp.Config{Variant: &k})
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]any{}
	for _, p := range cv.Params {
		params[p.Name] = p.Value
	}
	if params["lr"] != 1.0 || params["hidden"] != int64(64) || params["epochs"] != 100.0 {
		t.Errorf("variant 11's params: %v", params)
	}
	if cv.Experiment.Seed != vs[11].Seed {
		t.Errorf("variant 11 has seed %d, want %d", cv.Experiment.Seed, vs[11].Seed)
	}
	if interp.SweepID(cv) != interp.SweepID(c) || !strings.HasPrefix(interp.SweepID(c), "sha256:") {
		t.Errorf("the sweep id depends on the variant: %s vs %s", interp.SweepID(cv), interp.SweepID(c))
	}
	// The variant with lr 0.001, hidden 64 and replicate 0 is the plain run
	// with those params.
	k = 4
	c4, _ := checkSweep(t, sweepSource, interp.Config{Variant: &k})
	plain, _ := checkSweep(t, sweepSource, interp.Config{Overrides: overrides(t, "lr=0.001", "hidden=64")})
	if interp.DefinitionID(c4) != interp.DefinitionID(plain) {
		t.Errorf("variant 4 and the plain run with its params differ:\n%s\n%s", interp.Canonical(c4), interp.Canonical(plain))
	}
}

func TestSweepID(t *testing.T) {
	id := func(src string) string {
		c, err := checkSweep(t, src, interp.Config{})
		if err != nil {
			t.Fatal(err)
		}
		return interp.SweepID(c)
	}
	base := id(sweepSource)
	reformatted := strings.Replace(sweepSource, "sweep \"grid\" {\n  lr = [0.001, 1]", "# a comment\nsweep \"grid\" {\n  lr = [\n    0.001,\n    1.0,\n  ]", 1)
	if id(reformatted) != base {
		t.Error("formatting and comments changed the sweep id")
	}
	for name, src := range map[string]string{
		"a value":      strings.Replace(sweepSource, "[16, 32, 64]", "[16, 32, 128]", 1),
		"the seeds":    strings.Replace(sweepSource, "seeds = 2", "seeds = 3", 1),
		"the name":     strings.Replace(sweepSource, `"grid"`, `"other"`, 1),
		"the pipeline": strings.Replace(sweepSource, "out: 10", "out: 11", 1),
	} {
		if id(src) == base {
			t.Errorf("changing %s kept the sweep id", name)
		}
	}
	if c, err := checkSweep(t, "mlpipe 1\nparam lr = 0.1\n", interp.Config{}); err != nil || c.Sweep != nil || interp.SweepID(c) != "" {
		t.Errorf("a pipeline without a sweep block: sweep %v, error %v", c.Sweep, err)
	}
}

func TestSweepVariantErrors(t *testing.T) {
	k, bad := 3, 12
	for _, tc := range []struct {
		src  string
		cfg  interp.Config
		want string
	}{
		{sweepSource, interp.Config{Variant: &bad}, "the sweep has 12 variants, numbered 0 to 11; there is no variant 12"},
		{sweepSource, interp.Config{Variant: &k, Overrides: overrides(t, "lr=0.5")}, "param lr is swept; --set cannot fix it in a sweep"},
		{"mlpipe 1\nparam lr = 0.1\n", interp.Config{Variant: &k}, "the pipeline has no sweep block"},
	} {
		_, err := checkSweep(t, tc.src, tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want one containing %q", err, tc.want)
		}
	}
	// Without a variant, a --set of a swept param is just an override.
	if _, err := checkSweep(t, sweepSource, interp.Config{Overrides: overrides(t, "lr=0.5")}); err != nil {
		t.Errorf("--set of a swept param without a variant: %v", err)
	}
}

// overrides parses NAME=VALUE strings as --set does.
func overrides(t *testing.T, sets ...string) []interp.Override {
	t.Helper()
	var out []interp.Override
	for _, s := range sets {
		name, raw, _ := strings.Cut(s, "=")
		e, err := parser.ParseExpr("--set "+name, raw)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, interp.Override{Name: name, Raw: raw, Expr: e})
	}
	return out
}

// TestVariantOverrides checks that a variant's Overrides and its seed, as
// --set and Config.Seed, check to the same run as Config.Variant.
func TestVariantOverrides(t *testing.T) {
	c, err := checkSweep(t, sweepSource, interp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range c.Sweep.Variants(c.Experiment.Seed) {
		k := v.Index
		byVariant, err := checkSweep(t, sweepSource, interp.Config{Variant: &k})
		if err != nil {
			t.Fatal(err)
		}
		seed := v.Seed
		bySet, err := checkSweep(t, sweepSource, interp.Config{Overrides: v.Overrides(), Seed: &seed})
		if err != nil {
			t.Fatalf("variant %d: %v", k, err)
		}
		if interp.DefinitionID(bySet) != interp.DefinitionID(byVariant) || bySet.Experiment.Seed != byVariant.Experiment.Seed {
			t.Errorf("variant %d: its overrides give\n%s\nbut the variant is\n%s", k, interp.Canonical(bySet), interp.Canonical(byVariant))
		}
	}
}

// TestSweepVariantOrder expands sweeps of several shapes: the count, the
// order (row-major over the axes, replicates innermost) and the seeds.
func TestSweepVariantOrder(t *testing.T) {
	r1 := interp.DeriveSeed(7, "sweep replicate 1")
	r2 := interp.DeriveSeed(7, "sweep replicate 2")
	for _, tc := range []struct {
		name, sweep string
		want        []string // "a=.. b=.. rK seed" per variant
	}{
		{"seeds only", "seeds = 3", []string{
			"r0 7", fmt.Sprintf("r1 %d", r1), fmt.Sprintf("r2 %d", r2),
		}},
		{"one axis", `b = ["x", "y", "z"]`, []string{
			`b="x" r0 7`, `b="y" r0 7`, `b="z" r0 7`,
		}},
		{"two axes, the last fastest", "a = [1, 2]\n  c = [true, false]", []string{
			"a=1.0 c=true r0 7", "a=1.0 c=false r0 7", "a=2.0 c=true r0 7", "a=2.0 c=false r0 7",
		}},
		{"axes in the block's order, not the params'", "c = [false]\n  a = [0.5, -1]\n  seeds = 2", []string{
			"c=false a=0.5 r0 7", fmt.Sprintf("c=false a=0.5 r1 %d", r1),
			"c=false a=-1.0 r0 7", fmt.Sprintf("c=false a=-1.0 r1 %d", r1),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := "mlpipe 1\nexperiment \"e\" { seed = 7 }\nparam a = 0.1\nparam b = \"w\"\nparam c = true\nsweep {\n  " + tc.sweep + "\n}\n"
			c, err := checkSweep(t, src, interp.Config{})
			if err != nil {
				t.Fatal(err)
			}
			if c.Sweep.Name != "e" {
				t.Errorf("sweep name %q, want the experiment's, e", c.Sweep.Name)
			}
			vs := c.Sweep.Variants(c.Experiment.Seed)
			var got []string
			for i, v := range vs {
				if v.Index != i {
					t.Errorf("variant %d has index %d", i, v.Index)
				}
				var parts []string
				for _, p := range v.Params {
					parts = append(parts, p.Param+"="+lang.FormatValue(p.Value))
				}
				parts = append(parts, fmt.Sprintf("r%d %d", v.Replicate, v.Seed))
				got = append(got, strings.Join(parts, " "))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("variants:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if c.Sweep.Len() != len(tc.want) {
				t.Errorf("Len() = %d, want %d", c.Sweep.Len(), len(tc.want))
			}
		})
	}
}

// TestVariantOverridesRoundTrip: for params of every constant type,
// checking with a variant's Overrides (and its seed) gives the variant's
// values, also to params derived from them, and the same definition as
// checking the variant itself.
func TestVariantOverridesRoundTrip(t *testing.T) {
	src := `mlpipe 1
experiment "o" { seed = 3 }
param lr = 0.1
param epochs = 5
param act = "relu"
param hidden = [64]
param rates = [0.5]
param verbose = false
param twice = lr * 2
sweep {
  lr = [1, 0.25, 1e-3]
  epochs = [-2, 7]
  act = ["tanh", "a \"quoted\" name"]
  hidden = [[], [32, 16]]
  rates = [[1, 2.5]]
  verbose = [true]
  seeds = 2
}
net = mlp(hidden: hidden, out: 10)
opt = adam(lr: twice)
`
	c, err := checkSweep(t, src, interp.Config{})
	if err != nil {
		t.Fatal(err)
	}
	vs := c.Sweep.Variants(c.Experiment.Seed)
	if len(vs) != 48 {
		t.Fatalf("%d variants, want 48", len(vs))
	}
	for _, v := range vs {
		seed := v.Seed
		cs, err := checkSweep(t, src, interp.Config{Overrides: v.Overrides(), Seed: &seed})
		if err != nil {
			t.Fatalf("variant %d: %v", v.Index, err)
		}
		for _, sv := range v.Params {
			p, _ := cs.Param(sv.Param)
			if !reflect.DeepEqual(p.Value, sv.Value) || !p.Overridden {
				t.Errorf("variant %d: %s = %#v (overridden %v), want %#v", v.Index, sv.Param, p.Value, p.Overridden, sv.Value)
			}
		}
		if p, _ := cs.Param("twice"); p.Value != 2*v.Params[0].Value.(float64) {
			t.Errorf("variant %d: twice = %v, want twice lr", v.Index, p.Value)
		}
		k := v.Index
		cv, err := checkSweep(t, src, interp.Config{Variant: &k})
		if err != nil {
			t.Fatal(err)
		}
		if interp.DefinitionID(cs) != interp.DefinitionID(cv) {
			t.Errorf("variant %d: its overrides give\n%s\nthe variant gives\n%s", k, interp.Canonical(cs), interp.Canonical(cv))
		}
	}
	for _, o := range vs[0].Overrides() {
		if got := o.Expr.Span().File; got != "sweep variant 0" {
			t.Errorf("override %s: span in %q, want \"sweep variant 0\"", o.Name, got)
		}
	}
	if got := fmt.Sprint(vs[1].Overrides()[2].Raw, " ", vs[1].Overrides()[3].Raw); got != `"tanh" []` {
		t.Errorf("raw text of the overrides: %s", got)
	}
}

// TestSweepIDInputs: what the sweep id sees beyond the block itself.
func TestSweepIDInputs(t *testing.T) {
	id := func(src string, cfg interp.Config) string {
		t.Helper()
		c, err := checkSweep(t, src, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return interp.SweepID(c)
	}
	src := strings.Replace(sweepSource, "out: 10", "out: classes", 1) + "param classes = 10\n"
	base := id(src, interp.Config{})
	seed := int64(8)
	for _, tc := range []struct {
		name string
		src  string
		cfg  interp.Config
		same bool
	}{
		{"a --set of a swept param", src, interp.Config{Overrides: overrides(t, "hidden=8")}, true},
		{"the axes in another order", strings.Replace(src, "  lr = [0.001, 1]\n  hidden = [16, 32, 64]\n", "  hidden = [16, 32, 64]\n  lr = [0.001, 1]\n", 1), interp.Config{}, false},
		{"a --set of a param not swept", src, interp.Config{Overrides: overrides(t, "classes=3")}, false},
		{"--seed", src, interp.Config{Seed: &seed}, false},
		{"a swept param's default, where it is used", strings.Replace(src, "param hidden = 64", "param hidden = 65", 1), interp.Config{}, false},
	} {
		if got := id(tc.src, tc.cfg); (got == base) != tc.same {
			t.Errorf("%s: same sweep id = %v, want %v", tc.name, got == base, tc.same)
		}
	}
	// The definition id of a plain run ignores the sweep block.
	withoutBlock := strings.Replace(sweepSource, "sweep \"grid\" {\n  lr = [0.001, 1]\n  hidden = [16, 32, 64]\n  seeds = 2\n}\n", "", 1)
	a, _ := checkSweep(t, sweepSource, interp.Config{})
	b, _ := checkSweep(t, withoutBlock, interp.Config{})
	if b.Sweep != nil || interp.DefinitionID(a) != interp.DefinitionID(b) {
		t.Errorf("the sweep block changes the definition id:\n%s\n%s", interp.Canonical(a), interp.Canonical(b))
	}
}

func TestConfigSeed(t *testing.T) {
	seed := int64(42)
	c, err := checkSweep(t, sweepSource, interp.Config{Seed: &seed})
	if err != nil {
		t.Fatal(err)
	}
	if c.Experiment.Seed != 42 {
		t.Errorf("seed %d, want 42", c.Experiment.Seed)
	}
	plain, _ := checkSweep(t, sweepSource, interp.Config{})
	if interp.DefinitionID(c) == interp.DefinitionID(plain) {
		t.Errorf("--seed does not change the definition id")
	}
	// Without an experiment block too.
	c, err = checkSweep(t, "mlpipe 1\nx = mlp(out: 2)\n", interp.Config{Seed: &seed})
	if err != nil || c.Experiment.Seed != 42 || c.Experiment.Name != "s" {
		t.Errorf("experiment %+v, error %v; want s with seed 42", c.Experiment, err)
	}
	// A variant's seeds derive from --seed.
	k := 1
	cv, err := checkSweep(t, sweepSource, interp.Config{Seed: &seed, Variant: &k})
	if err != nil {
		t.Fatal(err)
	}
	if want := interp.DeriveSeed(42, "sweep replicate 1"); cv.Experiment.Seed != want {
		t.Errorf("variant 1 with --seed 42 has seed %d, want %d", cv.Experiment.Seed, want)
	}
	if vs := c.Sweep; vs != nil {
		t.Errorf("a pipeline without a block has sweep %+v", vs)
	}
	neg := int64(-1)
	_, err = checkSweep(t, sweepSource, interp.Config{Seed: &neg})
	if err == nil || err.Error() != "--seed: --seed must be >= 0, got -1" {
		t.Errorf("--seed -1: error %v", err)
	}
}

// TestSweepNotes checks the advice attached to some sweep errors, and that
// a grid too large for an int is refused without overflowing.
func TestSweepNotes(t *testing.T) {
	var many strings.Builder
	many.WriteString("mlpipe 1\n")
	for i := range 64 {
		fmt.Fprintf(&many, "param p%d = 0\n", i)
	}
	many.WriteString("sweep {\n")
	for i := range 64 {
		fmt.Fprintf(&many, "  p%d = [0, 1]\n", i)
	}
	many.WriteString("}\n")
	k := 0
	for _, tc := range []struct {
		src  string
		cfg  interp.Config
		want string // the first diagnostic's message and notes
	}{
		{"mlpipe 1\nparam base = 0.1\nparam lr = 0.1\nsweep { lr = [base] }\n", interp.Config{},
			"a value of lr in the sweep must be a constant (a number, string, bool or list); sweep values are written out: they cannot use params or bindings"},
		{"mlpipe 1\nparam hidden = [64]\nsweep { hidden = [32] }\n", interp.Config{},
			"param hidden is a list of int (default [64]), but the sweep gives 32; each value of a list param is a list: hidden = [[64], ...]"},
		{"mlpipe 1\nparam lr = 0.1\nsweep { lrr = [1] }\n", interp.Config{},
			"the sweep varies \"lrr\", which is not a param; this pipeline's params: lr; and seeds = N replicates each point"},
		{many.String(), interp.Config{}, "the sweep has more variants than the 10000 allowed"},
		{"mlpipe 1\nparam lr = 0.1\n", interp.Config{Variant: &k},
			"the pipeline has no sweep block, so it has no variants; a sweep block declares the params to vary: sweep { lr = [0.001, 0.01] }"},
	} {
		_, err := checkSweep(t, tc.src, tc.cfg)
		diags := lang.DiagnosticsOf(err)
		if len(diags) == 0 {
			t.Errorf("%q: no error, want %s", tc.src, tc.want)
			continue
		}
		got := strings.Join(append([]string{diags[0].Message}, diags[0].Notes...), "; ")
		if got != tc.want {
			t.Errorf("diagnostic:\n got %s\nwant %s", got, tc.want)
		}
	}
}
