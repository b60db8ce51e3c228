package interp_test

import (
	"fmt"
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
