package interp_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/parser"
)

// checkSources checks an in-memory program whose main file is main.mlp.
func checkSources(t *testing.T, files map[string]string, overrides ...string) *interp.Checked {
	t.Helper()
	ld := parser.Loader{ReadFile: func(name string) ([]byte, error) {
		src, ok := files[name]
		if !ok {
			return nil, os.ErrNotExist
		}
		return []byte(src), nil
	}}
	prog, _, err := ld.Load("main.mlp")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	var cfg interp.Config
	for _, o := range overrides {
		name, raw, _ := strings.Cut(o, "=")
		e, err := parser.ParseExpr("--set", raw)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Overrides = append(cfg.Overrides, interp.Override{Name: name, Raw: raw, Expr: e})
	}
	c, err := interp.Check(prog, stdRegistry(), cfg)
	if err != nil {
		t.Fatalf("check: %v", err)
	}
	return c
}

const canonBase = `mlpipe 1
experiment "q" { version = "1.0.0" seed = 7 doc = "base" }
param lr = 3e-3
param epochs = 30
data = digits(test: 0.2)
net = mlp(hidden: [64], out: 10)
fit = train(net, data.train, loss: cross_entropy(), optimizer: adam(lr: lr), epochs: epochs, batch: 32)
score = evaluate(fit.model, data.test, metrics: [accuracy(), nll()])
`

// TestDefinitionID: what the canonical form ignores and what it sees.
func TestDefinitionID(t *testing.T) {
	base := interp.DefinitionID(checkSources(t, map[string]string{"main.mlp": canonBase}))
	for _, tc := range []struct {
		name      string
		files     map[string]string
		overrides []string
		same      bool
	}{
		{"reformatted, commented, reordered", map[string]string{"main.mlp": `mlpipe 1
# a comment
param epochs = 30
experiment "q" {
  seed = 7
  version = "1.0.0"
  doc = "another description"
}
score = evaluate(fit.model, data.test, metrics: [accuracy(), nll()]) # last first
fit = train(
  net,
  data.train,
  optimizer: adam(lr: lr),   # arguments in another order
  loss: cross_entropy(),
  batch: 32,
  epochs: epochs,
)
param lr = 0.003
net = mlp(out: 10, hidden: [64])
data = digits(test: 0.2)
`}, nil, true},
		{"defaults spelled out", map[string]string{"main.mlp": strings.Replace(canonBase, "adam(lr: lr)", "adam(lr: lr, beta1: 0.9, beta2: 0.999)", 1)}, nil, true},
		{"a float written as an integer", map[string]string{"main.mlp": strings.Replace(canonBase, "param lr = 3e-3", "param lr = 0.003", 1)}, nil, true},
		{"params folded into constants", map[string]string{"main.mlp": strings.Replace(canonBase, "epochs: epochs", "epochs: 10 * 3", 1)}, nil, true},
		{"a binding moved to an imported file", map[string]string{
			"main.mlp": strings.Replace(strings.Replace(canonBase, "data = digits(test: 0.2)\n", "", 1), "param epochs", "import \"lib.mlp\"\nparam epochs", 1),
			"lib.mlp":  "mlpipe 1\ndata = digits(test: 0.2)\n",
		}, nil, true},
		{"an override equal to the file's value", map[string]string{"main.mlp": canonBase}, []string{"lr=0.003"}, true},
		{"an unused param", map[string]string{"main.mlp": canonBase + "param unused = 5\n"}, nil, true},

		{"a param changed in the file", map[string]string{"main.mlp": strings.Replace(canonBase, "3e-3", "1e-3", 1)}, nil, false},
		{"a param overridden", map[string]string{"main.mlp": canonBase}, []string{"epochs=31"}, false},
		{"the seed", map[string]string{"main.mlp": strings.Replace(canonBase, "seed = 7", "seed = 8", 1)}, nil, false},
		{"the experiment version", map[string]string{"main.mlp": strings.Replace(canonBase, `"1.0.0"`, `"1.0.1"`, 1)}, nil, false},
		{"a binding renamed", map[string]string{"main.mlp": strings.ReplaceAll(canonBase, "net", "model")}, nil, false},
		{"a default overridden", map[string]string{"main.mlp": strings.Replace(canonBase, "adam(lr: lr)", "adam(lr: lr, beta1: 0.8)", 1)}, nil, false},
		{"a stage added", map[string]string{"main.mlp": canonBase + "val = evaluate(fit.model, data.train)\n"}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := checkSources(t, tc.files, tc.overrides...)
			got := interp.DefinitionID(c)
			if (got == base) != tc.same {
				t.Errorf("same id = %v, want %v\ncanonical form:\n%s", got == base, tc.same, interp.Canonical(c))
			}
		})
	}
}

// TestCanonicalGolden pins the canonical form of the quickstart: a change
// here changes every definition id, so it must be deliberate (raise
// interp.CanonicalVersion). go test ./interp -update rewrites it.
func TestCanonicalGolden(t *testing.T) {
	src, err := os.ReadFile("../pipelines/quickstart.mlp")
	if err != nil {
		t.Fatal(err)
	}
	c := checkSources(t, map[string]string{"main.mlp": string(src)})
	got := interp.Canonical(c) + "id " + interp.DefinitionID(c) + "\n"
	golden := filepath.Join("testdata", "canon", "quickstart.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("canonical form changed:\n--- got\n%s--- want\n%s", got, want)
	}
}

func TestRunID(t *testing.T) {
	a := interp.RunID("sha256:aa", 7, "0.1.0")
	for _, b := range []string{interp.RunID("sha256:ab", 7, "0.1.0"), interp.RunID("sha256:aa", 8, "0.1.0"), interp.RunID("sha256:aa", 7, "0.1.1")} {
		if a == b {
			t.Errorf("run ids collide: %s", a)
		}
	}
	if a != interp.RunID("sha256:aa", 7, "0.1.0") {
		t.Errorf("run id not deterministic")
	}
	if got := interp.ShortID(a); len(got) != 12 {
		t.Errorf("ShortID(%s) = %q", a, got)
	}
}
