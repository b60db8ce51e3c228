package pipelines_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/parser"
	"github.com/mlpipe/mlpipe/stdlib"
	"github.com/mlpipe/mlpipe/stdlib/value"
)

// TestSSLPipelinesSmoke runs every experiment of pipelines/ssl shrunk as CI
// runs it (1024 images, one epoch) when Fashion-MNIST is installed, and
// checks that the pretraining trained (its loss fell, its encoder is a
// prefix of its model) and that the linear probes beat chance.
func TestSSLPipelinesSmoke(t *testing.T) {
	dir := fashionDir()
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("Fashion-MNIST is not installed in %s (apt-get install -y dataset-fashion-mnist): %v", dir, err)
	}
	files, err := filepath.Glob("ssl/*.mlp")
	if err != nil || len(files) == 0 {
		t.Fatalf("no pipelines in ssl/: %v", err)
	}
	ran := 0
	for _, path := range files {
		src, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(src), "experiment ") {
			continue // a file of shared definitions
		}
		ran++
		t.Run(path, func(t *testing.T) {
			prog, sources, err := parser.Loader{}.Load(path)
			if err != nil {
				t.Fatalf("load:\n%s", diagText(err, sources))
			}
			checked, err := interp.Check(prog, stdlib.NewRegistry(), interp.Config{Overrides: []interp.Override{
				override(t, "limit", "1024"),
				override(t, "epochs", "1"),
			}})
			if err != nil {
				t.Fatalf("check:\n%s", diagText(err, sources))
			}
			graph, err := interp.Compile(checked)
			if err != nil {
				t.Fatal(err)
			}
			var stdout, log syncBuffer
			res, err := interp.Run(context.Background(), graph, &interp.RunConfig{OutDir: t.TempDir(), Stdout: &stdout, Log: &log, Parallel: 2})
			if err != nil {
				t.Fatalf("run: %v\nlog:\n%s", err, log.String())
			}
			pretrained, probes := 0, 0
			for name, v := range res.Values {
				switch v := v.(type) {
				case *value.Trained:
					pretrained++
					if v.EncoderLayers < 1 || v.EncoderLayers >= len(v.Model.Layers) {
						t.Errorf("%s: encoder of %d layers in a model of %d", name, v.EncoderLayers, len(v.Model.Layers))
					}
					if len(v.History) == 0 || v.Steps == 0 {
						t.Errorf("%s: history %v, %d steps", name, v.History, v.Steps)
					}
				case *value.Metrics:
					if er, ok := v.Values["effective_rank"]; ok {
						if er < 1 || len(v.Files) != 2 {
							t.Errorf("%s: effective rank %v, %d files", name, er, len(v.Files))
						}
						continue
					}
					probes++
					if acc := v.Values["accuracy"]; acc < 0.3 || acc > 1 {
						t.Errorf("%s: probe accuracy %.4f, want in [0.3, 1] (chance is 0.1)", name, acc)
					}
				}
			}
			if pretrained == 0 || probes < pretrained {
				t.Errorf("%d pretrainings and %d probes", pretrained, probes)
			}
		})
	}
	if ran == 0 {
		t.Fatal("no experiment in ssl/")
	}
}
