package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
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
	epochs, _ := first.Params["epochs"].(float64)
	if first.Training == nil || epochs < 1 || len(first.Training.History) != int(epochs) {
		t.Fatalf("report.json training history: %+v, want one entry per epoch (params %v)", first.Training, first.Params)
	}
	h := first.Training.History
	if h[len(h)-1].Loss >= h[0].Loss {
		t.Errorf("training loss did not fall: epoch 1 %.4f, epoch %d %.4f", h[0].Loss, len(h), h[len(h)-1].Loss)
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

// slowPipeline trains on the digits for far longer than any test runs.
const slowPipeline = `mlpipe 1

experiment "slow" {
  seed = 1
}

param epochs = 3

data = digits(limit: 400)
fit = train(mlp(hidden: [32], out: 10), data.train, epochs: epochs, batch: 16)
score = evaluate(fit.model, data.test)
summary = report(score, training: fit)
`

// signalWriter is a goroutine-safe buffer that closes seen once the text
// written to it contains want.
type signalWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func newSignalWriter(want string) *signalWriter {
	return &signalWriter{want: want, seen: make(chan struct{})}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n, err := w.buf.Write(p)
	if strings.Contains(w.buf.String(), w.want) {
		w.once.Do(func() { close(w.seen) })
	}
	return n, err
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func writePipeline(t *testing.T, dir, src string) string {
	t.Helper()
	path := filepath.Join(dir, "slow.mlp")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// assertNothingWritten fails if out holds anything: no report, and no
// temporary file left behind by an interrupted atomic write.
func assertNothingWritten(t *testing.T, out string) {
	t.Helper()
	entries, err := os.ReadDir(out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		t.Errorf("the interrupted run left %s in its output directory", e.Name())
	}
}

// TestInterruptDuringTraining cancels the context of a long training run
// shortly after it starts: mlpipe must stop promptly with status 130 and
// write nothing.
func TestInterruptDuringTraining(t *testing.T) {
	dir := t.TempDir()
	path := writePipeline(t, dir, slowPipeline)
	out := filepath.Join(dir, "out")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout bytes.Buffer
	stderr := newSignalWriter("running ")
	done := make(chan int, 1)
	start := time.Now()
	go func() {
		done <- Main(ctx, []string{"run", path, "--set", "epochs=100000", "--out", out}, &stdout, stderr)
	}()

	select {
	case <-stderr.seen:
	case code := <-done:
		t.Fatalf("mlpipe run ended with status %d before it was interrupted; stderr:\n%s", code, stderr)
	case <-time.After(30 * time.Second):
		t.Fatalf("mlpipe run did not start within 30s; stderr:\n%s", stderr)
	}
	// Let training get under way, then interrupt it.
	time.Sleep(300 * time.Millisecond)
	cancel()
	cancelled := time.Now()

	var code int
	select {
	case code = <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("mlpipe run still running 20s after it was interrupted; stderr:\n%s", stderr)
	}
	t.Logf("interrupted after %v, stopped %v later", cancelled.Sub(start).Round(time.Millisecond), time.Since(cancelled).Round(time.Millisecond))
	if code != exitInterrupted {
		t.Fatalf("status %d, want %d; stderr:\n%s", code, exitInterrupted, stderr)
	}
	errs := stderr.String()
	if !strings.Contains(errs, "interrupted") {
		t.Errorf("stderr does not say the run was interrupted:\n%s", errs)
	}
	for _, bad := range []string{"goroutine ", "panic", "stage fit failed"} {
		if strings.Contains(errs, bad) {
			t.Errorf("stderr holds %q:\n%s", bad, errs)
		}
	}
	if strings.Contains(stdout.String(), "accuracy") {
		t.Errorf("an interrupted run printed a report:\n%s", stdout.String())
	}
	if _, err := os.Stat(out); err != nil {
		t.Errorf("the output directory: %v", err)
	}
	assertNothingWritten(t, out)
}

// TestInterruptWithCause interrupts a run through a context cancelled with a
// cause, as signal.NotifyContext does (since Go 1.26) when Ctrl-C arrives;
// cancelling before Main starts makes the run stop between stages, where
// interp.Run reports the cause rather than context.Canceled. The status
// must still be 130.
func TestInterruptWithCause(t *testing.T) {
	dir := t.TempDir()
	path := writePipeline(t, dir, slowPipeline)
	out := filepath.Join(dir, "out")

	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(errors.New("interrupt signal received"))
	var stdout, stderr bytes.Buffer
	code := Main(ctx, []string{"run", path, "--out", out}, &stdout, &stderr)
	if code != exitInterrupted {
		t.Fatalf("status %d, want %d; stderr:\n%s", code, exitInterrupted, stderr.String())
	}
	if !strings.Contains(stderr.String(), "interrupted") {
		t.Errorf("stderr does not say the run was interrupted:\n%s", stderr.String())
	}
	assertNothingWritten(t, out)
}
