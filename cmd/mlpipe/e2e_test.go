package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// quickstartReport is the part of report.json the end-to-end test reads.
type quickstartReport struct {
	Experiment struct {
		Name string `json:"name"`
		Seed int64  `json:"seed"`
	} `json:"experiment"`
	Params   map[string]any     `json:"params"`
	Metrics  map[string]float64 `json:"metrics"`
	Samples  int                `json:"samples"`
	Training *struct {
		Steps   int `json:"steps"`
		History []struct {
			Epoch int     `json:"epoch"`
			Loss  float64 `json:"loss"`
		} `json:"history"`
	} `json:"training"`
}

func runQuickstart(t *testing.T) (quickstartReport, time.Duration) {
	t.Helper()
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	code := Main(context.Background(), []string{"run", filepath.Join("..", "..", "pipelines", "quickstart.mlp"), "--out", out}, &stdout, &stderr)
	wall := time.Since(start)
	if code != exitOK {
		t.Fatalf("mlpipe run quickstart: status %d; stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "accuracy") {
		t.Errorf("no metrics table on stdout:\n%s", stdout.String())
	}
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r quickstartReport
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("report.json: %v\n%s", err, data)
	}
	return r, wall
}

// TestQuickstartEndToEnd runs the repository's quickstart through the
// command line, checks that it learns the digits, and that a second run
// with the same seed gives exactly the same results.
func TestQuickstartEndToEnd(t *testing.T) {
	first, wall1 := runQuickstart(t)
	second, wall2 := runQuickstart(t)
	t.Logf("quickstart wall time: %v and %v; test accuracy %.4f, nll %.4f", wall1.Round(time.Millisecond), wall2.Round(time.Millisecond), first.Metrics["accuracy"], first.Metrics["nll"])

	if first.Experiment.Name != "quickstart" || first.Experiment.Seed != 7 {
		t.Errorf("experiment %+v, want quickstart with seed 7", first.Experiment)
	}
	acc, ok := first.Metrics["accuracy"]
	if !ok {
		t.Fatalf("report.json has no accuracy: %v", first.Metrics)
	}
	if acc < 0.95 || acc > 1 {
		t.Errorf("test accuracy %.4f, want >= 0.95", acc)
	}
	// 20% of the 1797 digits.
	if first.Samples != 360 && first.Samples != 359 {
		t.Errorf("evaluated on %d samples, want about 360 (20%% of 1797)", first.Samples)
	}
	if first.Training == nil || len(first.Training.History) != 30 {
		t.Fatalf("report.json training history: %+v, want 30 epochs", first.Training)
	}
	h := first.Training.History
	if h[len(h)-1].Loss >= h[0].Loss {
		t.Errorf("training loss did not fall: epoch 1 %.4f, epoch 30 %.4f", h[0].Loss, h[len(h)-1].Loss)
	}

	// Determinism: the same seed gives bit-identical results.
	if second.Metrics["accuracy"] != acc {
		t.Errorf("accuracy differs between two runs with the same seed: %v and %v", acc, second.Metrics["accuracy"])
	}
	if !reflect.DeepEqual(first.Metrics, second.Metrics) {
		t.Errorf("metrics differ between two runs with the same seed:\n%v\n%v", first.Metrics, second.Metrics)
	}
	if !reflect.DeepEqual(first.Training.History, second.Training.History) {
		t.Errorf("training losses differ between two runs with the same seed")
	}
}
