// Package pipelines_test checks the pipelines shipped in this directory:
// each one checks cleanly and is in canonical format, and the Fashion-MNIST
// baseline runs when its data is installed.
package pipelines_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/lang/printer"
	"github.com/mlpipe/mlpipe/parser"
	"github.com/mlpipe/mlpipe/stdlib"
)

// pipelineFiles returns every .mlp file under the current directory.
func pipelineFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == "testdata" {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".mlp") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no .mlp files found")
	}
	return files
}

// diagText renders the diagnostics of err as mlpipe prints them.
func diagText(err error, sources lang.Sources) string {
	diags := lang.DiagnosticsOf(err)
	if len(diags) == 0 {
		return err.Error()
	}
	var b bytes.Buffer
	lang.Fprint(&b, diags, sources)
	return b.String()
}

// TestPipelinesCheck loads and checks every pipeline: it must give no
// diagnostic at all.
func TestPipelinesCheck(t *testing.T) {
	reg := stdlib.NewRegistry()
	for _, path := range pipelineFiles(t) {
		t.Run(path, func(t *testing.T) {
			prog, sources, err := parser.Loader{}.Load(path)
			if err != nil {
				t.Fatalf("load:\n%s", diagText(err, sources))
			}
			checked, err := interp.Check(prog, reg, interp.Config{})
			if err != nil {
				t.Fatalf("check:\n%s", diagText(err, sources))
			}
			if len(checked.Bindings) == 0 {
				t.Errorf("the pipeline has no stages")
			}
			if _, err := interp.Compile(checked); err != nil {
				t.Errorf("compile: %v", err)
			}
		})
	}
}

// TestPipelinesFormatted checks that every pipeline is already in the
// canonical layout of `mlpipe fmt`.
func TestPipelinesFormatted(t *testing.T) {
	for _, path := range pipelineFiles(t) {
		t.Run(path, func(t *testing.T) {
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.Parse(path, src)
			if err != nil {
				t.Fatalf("parse:\n%s", diagText(err, lang.Sources{path: src}))
			}
			if got := printer.Format(f, src); !bytes.Equal(got, src) {
				t.Errorf("not in canonical format (run `mlpipe fmt -w pipelines/%s`): %s\ncanonical form:\n%s", path, firstDiff(src, got), got)
			}
		})
	}
}

// firstDiff describes the first line where have and want differ.
func firstDiff(have, want []byte) string {
	h := strings.Split(string(have), "\n")
	w := strings.Split(string(want), "\n")
	for i := 0; i < len(h) || i < len(w); i++ {
		var hl, wl string
		if i < len(h) {
			hl = h[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if hl != wl {
			return fmt.Sprintf("line %d (%d columns) is\n\t%s\nwhere the canonical form has\n\t%s", i+1, len(hl), hl, wl)
		}
	}
	return "the files differ"
}

// fashionDir returns the directory fashion_mnist() reads by default.
func fashionDir() string {
	if d := os.Getenv("MLPIPE_DATA"); d != "" {
		return filepath.Join(d, "fashion-mnist")
	}
	return "/usr/share/datasets/fashion-mnist"
}

// override builds the --set NAME=VALUE override the command line would.
func override(t *testing.T, name, raw string) interp.Override {
	t.Helper()
	e, err := parser.ParseExpr("--set "+name, raw)
	if err != nil {
		t.Fatalf("--set %s=%s: %v", name, raw, err)
	}
	return interp.Override{Name: name, Raw: raw, Expr: e}
}

// syncBuffer is a bytes.Buffer safe for concurrent use: the stages of a
// run, which may run at once, share RunConfig.Stdout and Log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestFashionMLPSmoke runs the Fashion-MNIST baseline on 300 samples for
// one epoch when the data set is installed.
func TestFashionMLPSmoke(t *testing.T) {
	dir := fashionDir()
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("Fashion-MNIST is not installed in %s (apt-get install -y dataset-fashion-mnist): %v", dir, err)
	}
	const path = "fashion_mlp.mlp"
	prog, sources, err := parser.Loader{}.Load(path)
	if err != nil {
		t.Fatalf("load:\n%s", diagText(err, sources))
	}
	checked, err := interp.Check(prog, stdlib.NewRegistry(), interp.Config{Overrides: []interp.Override{
		override(t, "limit", "300"),
		override(t, "epochs", "1"),
	}})
	if err != nil {
		t.Fatalf("check:\n%s", diagText(err, sources))
	}
	for name, want := range map[string]int64{"limit": 300, "epochs": 1} {
		if p, ok := checked.Param(name); !ok || p.Value != want || !p.Overridden {
			t.Fatalf("param %s after --set: %+v, want %d", name, p, want)
		}
	}
	graph, err := interp.Compile(checked)
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	var stdout, log syncBuffer
	res, err := interp.Run(context.Background(), graph, &interp.RunConfig{OutDir: out, Stdout: &stdout, Log: &log, Parallel: 2})
	if err != nil {
		t.Fatalf("run: %v\nlog:\n%s", err, log.String())
	}
	for _, stage := range []string{"data", "net", "fit", "score", "summary"} {
		if _, ok := res.Values[stage]; !ok {
			t.Errorf("no value for stage %s", stage)
		}
	}
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var report struct {
		Metrics  map[string]float64 `json:"metrics"`
		Samples  int                `json:"samples"`
		Training struct {
			Samples int `json:"samples"`
		} `json:"training"`
	}
	if err := json.Unmarshal(data, &report); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	acc := report.Metrics["accuracy"]
	t.Logf("fashion_mlp on 300 samples, 1 epoch: accuracy %.4f, nll %.4f", acc, report.Metrics["nll"])
	// Ten classes: chance is 0.1. One epoch on 300 samples does better.
	if acc <= 0.2 || acc > 1 {
		t.Errorf("accuracy %.4f, want in (0.2, 1]", acc)
	}
	if report.Samples != 300 || report.Training.Samples != 300 {
		t.Errorf("evaluated on %d and trained on %d samples, want 300 each", report.Samples, report.Training.Samples)
	}
	if !strings.Contains(stdout.String(), "accuracy") {
		t.Errorf("no metrics table:\n%s", stdout.String())
	}
}

// fencedBlock matches a fenced code block of Markdown; group 1 is its text.
var fencedBlock = regexp.MustCompile("(?s)```[a-z]*\n(.*?)```")

// TestReadmeExamples: every complete pipeline shown in README.md (a code
// block starting with the header) is one of the shipped pipelines, byte for
// byte, so the README cannot drift from what is tested.
func TestReadmeExamples(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	shipped := map[string]string{}
	files, _ := filepath.Glob("*.mlp")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		shipped[string(data)] = f
	}
	n := 0
	for _, m := range fencedBlock.FindAllStringSubmatch(string(readme), -1) {
		b := m[1]
		if !strings.HasPrefix(b, "mlpipe 1\n") {
			continue
		}
		n++
		if _, ok := shipped[b]; !ok {
			t.Errorf("README.md shows a pipeline that is not a file of pipelines/ (or differs from it):\n%s", b)
		}
	}
	if n < 3 {
		t.Errorf("README.md shows %d complete pipelines, want at least 3", n)
	}
}
