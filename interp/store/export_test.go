package store

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func exportRuns() []Run {
	t0 := time.Date(2026, 12, 2, 18, 30, 12, 0, time.UTC)
	return []Run{
		{
			ID: "20261202-183012-a1b2c3", RunID: fakeRunID("aa"), DefinitionID: fakeRunID("d1"),
			Experiment: "fashion", ExperimentVersion: "2", Seed: 11, MlpipeVersion: "0.4.0", Backend: "openblas",
			Params: map[string]string{"lr": "0.1", "hidden": "[128, 64]"}, Sweep: "grid", Variant: 0,
			Host: "node1", Status: Done, Started: t0, Ended: t0.Add(90 * time.Second),
			Metrics: []Metric{
				{Stage: "fit", Name: "loss", Step: 0, Value: 0.9, Time: t0.Add(time.Second)},
				{Stage: "fit", Name: "loss", Step: 1, Value: 0.5, Time: t0.Add(2 * time.Second)},
				{Stage: "fit", Name: "loss", Step: FinalStep, Value: 0.45, Time: t0.Add(3 * time.Second)},
				{Stage: "score", Name: "accuracy", Step: FinalStep, Value: 0.8812, Time: t0.Add(4 * time.Second)},
			},
		},
		{
			ID: "20261202-183013-d4e5f6", RunID: fakeRunID("bb"), DefinitionID: fakeRunID("d2"),
			Experiment: "fashion", ExperimentVersion: "2", Seed: 12, MlpipeVersion: "0.4.0", Backend: "openblas",
			Params: map[string]string{"lr": "0.01", "dropout": "0.5"}, Sweep: "grid", Variant: 1,
			Host: "node2", Status: Failed, Error: "fit: loss is NaN, \"diverged\"", Started: t0.Add(time.Second),
			Ended: t0.Add(31 * time.Second),
			Metrics: []Metric{
				{Stage: "fit", Name: "loss", Step: FinalStep, Value: math.NaN(), Time: t0.Add(30 * time.Second)},
			},
		},
		{
			ID: "20261202-183014-0a0b0c", RunID: fakeRunID("cc"), DefinitionID: fakeRunID("d3"),
			Experiment: "quickstart", Seed: 7, MlpipeVersion: "0.4.0", Backend: "gonum",
			Variant: NoVariant, Host: "laptop", Status: Running, Started: t0.Add(2 * time.Second),
		},
	}
}

func TestExportCSVGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := ExportCSV(&buf, exportRuns()); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "export.csv")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("ExportCSV differs from %s:\n%s", golden, buf.String())
	}
	var again bytes.Buffer
	ExportCSV(&again, exportRuns())
	if !bytes.Equal(again.Bytes(), buf.Bytes()) {
		t.Error("ExportCSV is not deterministic")
	}
}

// mlflowRun is what the test reader gets back from an exported run.
type mlflowRun struct {
	meta      map[string]string
	metrics   map[string][]string
	params    map[string]string
	tags      map[string]string
	artifacts map[string]string
}

// readMLflowStore reads an MLflow file store: experiment id -> experiment
// meta, and run id -> run.
func readMLflowStore(t *testing.T, root string) (map[string]map[string]string, map[string]*mlflowRun) {
	t.Helper()
	exps := map[string]map[string]string{}
	runs := map[string]*mlflowRun{}
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() || e.Name() == ".trash" {
			continue
		}
		expDir := filepath.Join(root, e.Name())
		exps[e.Name()] = readMeta(t, filepath.Join(expDir, "meta.yaml"))
		runDirs, _ := os.ReadDir(expDir)
		for _, rd := range runDirs {
			if rd.IsDir() {
				runs[rd.Name()] = readMLflowRun(t, filepath.Join(expDir, rd.Name()))
			}
		}
	}
	return exps, runs
}

func readMLflowRun(t *testing.T, dir string) *mlflowRun {
	r := &mlflowRun{meta: readMeta(t, filepath.Join(dir, "meta.yaml")), metrics: map[string][]string{}}
	for key, content := range readTree(t, filepath.Join(dir, "metrics")) {
		r.metrics[key] = strings.Split(strings.TrimSuffix(content, "\n"), "\n")
	}
	r.params = readTree(t, filepath.Join(dir, "params"))
	r.tags = readTree(t, filepath.Join(dir, "tags"))
	r.artifacts = readTree(t, filepath.Join(dir, "artifacts"))
	return r
}

// readMeta reads the flat "key: value" YAML the file store uses, decoding
// double-quoted values.
func readMeta(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	meta := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			t.Fatalf("%s: malformed line %q", path, sc.Text())
		}
		if strings.HasPrefix(value, `"`) {
			if err := json.Unmarshal([]byte(value), &value); err != nil {
				t.Fatalf("%s: %s: %v", path, key, err)
			}
		}
		meta[key] = value
	}
	return meta
}

func readTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, path)
		out[filepath.ToSlash(rel)] = string(data)
		return nil
	})
	return out
}

func TestExportMLflowReadBack(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	r := sampleRun("quickstart")
	r.Params = map[string]string{"lr": "0.1", "layers/hidden": "[64]"}
	mustBegin(t, s, r)
	if err := s.AddSource(ctx, r.ID, "pipelines/quickstart.mlp", []byte("mlpipe 1\n")); err != nil {
		t.Fatal(err)
	}
	t0 := time.UnixMilli(1_800_000_000_000).UTC()
	s.LogMetrics(ctx, r.ID, []Metric{
		{Stage: "fit", Name: "loss", Step: 0, Value: 0.75, Time: t0},
		{Stage: "fit", Name: "loss", Step: 1, Value: 0.25, Time: t0.Add(time.Second)},
		{Stage: "fit", Name: "loss", Step: FinalStep, Value: 0.2, Time: t0.Add(2 * time.Second)},
		{Stage: "score", Name: "accuracy", Step: FinalStep, Value: 0.9666, Time: t0.Add(3 * time.Second)},
	})
	weights := mustPut(t, s, "weights")
	s.AddArtifact(ctx, r.ID, Artifact{Stage: "fit", Name: "model.safetensors", Digest: weights, Size: 7})
	s.FinishRun(ctx, r.ID, Done, "")
	failed := mustBegin(t, s, sampleRun("quickstart"))
	s.FinishRun(ctx, failed.ID, Interrupted, "process died")

	var loaded []Run
	for _, id := range []string{r.ID, failed.ID} {
		run, err := s.GetRun(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		loaded = append(loaded, *run)
	}
	root := filepath.Join(t.TempDir(), "mlruns")
	if err := s.ExportMLflow(ctx, root, loaded); err != nil {
		t.Fatal(err)
	}
	// Exporting again updates in place.
	if err := s.ExportMLflow(ctx, root, loaded); err != nil {
		t.Fatal(err)
	}

	exps, runs := readMLflowStore(t, root)
	if exps["0"]["name"] != "Default" {
		t.Errorf("default experiment: %v", exps["0"])
	}
	expID := mlflowExperimentID("quickstart")
	exp := exps[expID]
	if exp["name"] != "quickstart" || exp["experiment_id"] != expID || exp["lifecycle_stage"] != "active" ||
		exp["artifact_location"] != fileURI(filepath.Join(root, expID)) {
		t.Errorf("experiment meta: %v", exp)
	}
	if len(exps) != 2 || len(runs) != 2 {
		t.Fatalf("%d experiments and %d runs, want 2 and 2", len(exps), len(runs))
	}
	got := runs[mlflowRunID(r.ID)]
	if got == nil {
		t.Fatalf("run %s not exported", mlflowRunID(r.ID))
	}
	loadedRun := loaded[0]
	wantMeta := map[string]string{
		"run_id": mlflowRunID(r.ID), "run_uuid": mlflowRunID(r.ID), "run_name": r.ID,
		"experiment_id": expID, "status": "3", "lifecycle_stage": "active", "source_type": "4",
		"start_time":   strconv.FormatInt(loadedRun.Started.UnixMilli(), 10),
		"end_time":     strconv.FormatInt(loadedRun.Ended.UnixMilli(), 10),
		"artifact_uri": fileURI(filepath.Join(root, expID, mlflowRunID(r.ID), "artifacts")),
		"tags":         "[]", "deleted_time": "null",
	}
	for k, want := range wantMeta {
		if got.meta[k] != want {
			t.Errorf("run meta %s = %q, want %q", k, got.meta[k], want)
		}
	}
	wantMetrics := map[string][]string{
		"fit.loss":       {"1800000000000 0.75 0", "1800000001000 0.25 1", "1800000002000 0.2 1"},
		"score.accuracy": {"1800000003000 0.9666 0"},
	}
	if !reflect.DeepEqual(got.metrics, wantMetrics) {
		t.Errorf("metrics = %v, want %v", got.metrics, wantMetrics)
	}
	if want := map[string]string{"lr": "0.1", "layers_hidden": "[64]"}; !reflect.DeepEqual(got.params, want) {
		t.Errorf("params = %v, want %v", got.params, want)
	}
	for k, want := range map[string]string{
		"mlflow.runName": r.ID, "mlflow.source.name": "pipelines/quickstart.mlp", "mlflow.source.type": "LOCAL",
		"mlpipe.run_id": r.RunID, "mlpipe.status": "done", "mlpipe.seed": "7",
	} {
		if got.tags[k] != want {
			t.Errorf("tag %s = %q, want %q", k, got.tags[k], want)
		}
	}
	wantArtifacts := map[string]string{
		"fit/model.safetensors":                   "weights",
		"mlpipe/canonical.mlp":                    r.Canonical,
		"mlpipe/sources/pipelines/quickstart.mlp": "mlpipe 1\n",
	}
	if !reflect.DeepEqual(got.artifacts, wantArtifacts) {
		t.Errorf("artifacts = %v, want %v", got.artifacts, wantArtifacts)
	}
	if st := runs[mlflowRunID(failed.ID)].meta["status"]; st != "5" {
		t.Errorf("interrupted run has MLflow status %s, want 5 (KILLED)", st)
	}
}

func TestExportMLflowRefusesCorruptArtifacts(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	r := mustBegin(t, s, sampleRun("e"))
	d := mustPut(t, s, "weights")
	s.AddArtifact(ctx, r.ID, Artifact{Stage: "fit", Name: "model", Digest: d})
	os.WriteFile(s.ObjectPath(d), []byte("w3ights"), 0o644)
	run, _ := s.GetRun(ctx, r.ID)
	err := s.ExportMLflow(ctx, t.TempDir(), []Run{*run})
	if err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("export of a corrupt artifact: %v", err)
	}
}

func TestSafeNames(t *testing.T) {
	tests := []struct{ in, key, path string }{
		{"fit.loss", "fit.loss", "fit.loss"},
		{"a/b", "a_b", "a/b"},
		{"../../etc/passwd", ".._.._etc_passwd", "__/__/etc/passwd"},
		{"/abs/./x", "_abs_._x", "abs/x"},
		{"..", "__", "__"},
		{"", "_", "_"},
		{"naïve=1", "na__ve_1", "naïve=1"},
	}
	for _, tt := range tests {
		if got := mlflowKey(tt.in); got != tt.key {
			t.Errorf("mlflowKey(%q) = %q, want %q", tt.in, got, tt.key)
		}
		if got := filepath.ToSlash(safeRelPath(tt.in)); got != tt.path {
			t.Errorf("safeRelPath(%q) = %q, want %q", tt.in, got, tt.path)
		}
	}
}
