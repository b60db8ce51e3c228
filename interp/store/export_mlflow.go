package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// MLflow file-store constants (see MLflow's FileStore and RunStatus).
const (
	mlflowMeta             = "meta.yaml"
	mlflowDefaultExpID     = "0"
	mlflowDefaultExpName   = "Default"
	mlflowSourceTypeLocal  = 4
	mlflowLifecycleActive  = "active"
	mlflowStatusRunning    = 1
	mlflowStatusFinished   = 3
	mlflowStatusFailed     = 4
	mlflowStatusKilled     = 5
	mlflowArtifactsDirName = "artifacts"
)

// ExportMLflow writes runs into dir in the layout of MLflow's file store, so
// that `mlflow ui --backend-store-uri DIR` shows them. dir is the store
// root (what MLflow calls ./mlruns):
//
//	DIR/.trash/
//	DIR/0/meta.yaml                         the Default experiment MLflow expects
//	DIR/<experiment id>/meta.yaml           one experiment per mlpipe experiment
//	DIR/<experiment id>/<run id>/meta.yaml
//	    .../metrics/<STAGE.NAME>            lines "timestamp_ms value step"
//	    .../params/<NAME>                   the param's source text
//	    .../tags/<KEY>                      mlflow.runName, mlflow.source.name, mlpipe.*
//	    .../artifacts/<STAGE>/<NAME>        each artifact, copied and verified
//	    .../artifacts/mlpipe/canonical.mlp  the canonical pipeline
//	    .../artifacts/mlpipe/sources/...    the pipeline's source files
//
// Experiment ids are decimal numbers derived from the experiment name and
// MLflow run ids are 32 hex digits derived from the record ID, so exporting
// again into the same dir updates the runs in place. Metrics over time keep
// their step; a final metric is written under the same key at the highest
// step of that key (0 if none), so MLflow shows it as the latest value.
// Keys are reduced to the characters MLflow accepts (letters, digits, "_",
// "-", ".", " "; others become "_"). Pass runs loaded by GetRun; an artifact
// whose object is missing or corrupt stops the export with an error
// wrapping ErrCorrupt.
func (s *Store) ExportMLflow(ctx context.Context, dir string, runs []Run) error {
	root, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("exporting to MLflow %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(root, ".trash"), 0o755); err != nil {
		return fmt.Errorf("exporting to MLflow %s: %w", root, err)
	}
	if err := writeDefaultExperiment(root); err != nil {
		return err
	}
	for _, exp := range groupByExperiment(runs) {
		if err := writeMLflowExperiment(root, exp); err != nil {
			return err
		}
		for i := range exp.runs {
			if err := s.writeMLflowRun(ctx, root, exp.id, &exp.runs[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

type mlflowExperiment struct {
	id, name string
	runs     []Run
}

func groupByExperiment(runs []Run) []*mlflowExperiment {
	var order []*mlflowExperiment
	byName := map[string]*mlflowExperiment{}
	for _, r := range runs {
		e := byName[r.Experiment]
		if e == nil {
			e = &mlflowExperiment{id: mlflowExperimentID(r.Experiment), name: r.Experiment}
			if r.Experiment == "" {
				e.id, e.name = mlflowDefaultExpID, mlflowDefaultExpName
			}
			byName[r.Experiment] = e
			order = append(order, e)
		}
		e.runs = append(e.runs, r)
	}
	return order
}

// mlflowExperimentID derives a stable decimal id (never "0") from a name.
func mlflowExperimentID(name string) string {
	sum := sha256.Sum256([]byte("mlpipe-experiment:" + name))
	n := binary.BigEndian.Uint64(sum[:8]) >> 4 // at most 18 digits, like MLflow's ids
	if n == 0 {
		n = 1
	}
	return strconv.FormatUint(n, 10)
}

// mlflowRunID derives MLflow's 32-hex-digit run id from a record ID.
func mlflowRunID(recordID string) string {
	sum := sha256.Sum256([]byte("mlpipe-run:" + recordID))
	return hex.EncodeToString(sum[:16])
}

func fileURI(path string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
}

func writeDefaultExperiment(root string) error {
	path := filepath.Join(root, mlflowDefaultExpID, mlflowMeta)
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	return writeExperimentMeta(root, mlflowDefaultExpID, mlflowDefaultExpName, time.Now())
}

func writeMLflowExperiment(root string, e *mlflowExperiment) error {
	created := time.Now()
	for _, r := range e.runs {
		if !r.Started.IsZero() && r.Started.Before(created) {
			created = r.Started
		}
	}
	return writeExperimentMeta(root, e.id, e.name, created)
}

func writeExperimentMeta(root, id, name string, created time.Time) error {
	dir := filepath.Join(root, id)
	ms := created.UnixMilli()
	return writeYAML(filepath.Join(dir, mlflowMeta), []yamlField{
		{"artifact_location", yamlString(fileURI(dir))},
		{"creation_time", strconv.FormatInt(ms, 10)},
		{"experiment_id", yamlString(id)},
		{"last_update_time", strconv.FormatInt(ms, 10)},
		{"lifecycle_stage", mlflowLifecycleActive},
		{"name", yamlString(name)},
	})
}

func (s *Store) writeMLflowRun(ctx context.Context, root, expID string, r *Run) error {
	runID := mlflowRunID(r.ID)
	dir := filepath.Join(root, expID, runID)
	for _, sub := range []string{"metrics", "params", "tags", mlflowArtifactsDirName} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			return fmt.Errorf("exporting run %s to MLflow: %w", r.ID, err)
		}
	}
	if err := writeRunMeta(dir, expID, runID, r); err != nil {
		return err
	}
	if err := writeKeyFiles(filepath.Join(dir, "params"), r.Params); err != nil {
		return err
	}
	if err := writeKeyFiles(filepath.Join(dir, "tags"), mlflowTags(r)); err != nil {
		return err
	}
	if err := writeMetricFiles(filepath.Join(dir, "metrics"), r.Metrics); err != nil {
		return err
	}
	return s.writeArtifacts(ctx, filepath.Join(dir, mlflowArtifactsDirName), r)
}

func writeRunMeta(dir, expID, runID string, r *Run) error {
	end := "null"
	if !r.Ended.IsZero() {
		end = strconv.FormatInt(r.Ended.UnixMilli(), 10)
	}
	return writeYAML(filepath.Join(dir, mlflowMeta), []yamlField{
		{"artifact_uri", yamlString(fileURI(filepath.Join(dir, mlflowArtifactsDirName)))},
		{"end_time", end},
		{"entry_point_name", yamlString("")},
		{"experiment_id", yamlString(expID)},
		{"lifecycle_stage", mlflowLifecycleActive},
		{"run_id", yamlString(runID)},
		{"run_name", yamlString(r.ID)},
		{"run_uuid", yamlString(runID)},
		{"source_name", yamlString("")},
		{"source_type", strconv.Itoa(mlflowSourceTypeLocal)},
		{"source_version", yamlString("")},
		{"start_time", strconv.FormatInt(r.Started.UnixMilli(), 10)},
		{"status", strconv.Itoa(mlflowStatus(r.Status))},
		{"tags", "[]"},
		{"user_id", yamlString("")},
		{"deleted_time", "null"},
	})
}

func mlflowStatus(st Status) int {
	switch st {
	case Done:
		return mlflowStatusFinished
	case Failed:
		return mlflowStatusFailed
	case Interrupted:
		return mlflowStatusKilled
	}
	return mlflowStatusRunning
}

func mlflowTags(r *Run) map[string]string {
	source := r.Experiment
	if len(r.Sources) > 0 {
		source = r.Sources[0].Path
	}
	tags := map[string]string{
		"mlflow.runName":            r.ID,
		"mlflow.source.name":        source,
		"mlflow.source.type":        "LOCAL",
		"mlpipe.record_id":          r.ID,
		"mlpipe.run_id":             r.RunID,
		"mlpipe.definition_id":      r.DefinitionID,
		"mlpipe.experiment_version": r.ExperimentVersion,
		"mlpipe.seed":               strconv.FormatInt(r.Seed, 10),
		"mlpipe.status":             string(r.Status),
		"mlpipe.mlpipe_version":     r.MlpipeVersion,
		"mlpipe.backend":            r.Backend,
		"mlpipe.host":               r.Host,
		"mlpipe.out_dir":            r.OutDir,
	}
	if r.Error != "" {
		tags["mlpipe.error"] = r.Error
	}
	if r.Sweep != "" {
		tags["mlpipe.sweep"] = r.Sweep
		tags["mlpipe.variant"] = strconv.Itoa(r.Variant)
	}
	return tags
}

// writeKeyFiles writes one file per key holding its value, without a
// trailing newline, as MLflow does for params and tags.
func writeKeyFiles(dir string, values map[string]string) error {
	for _, k := range sortedKeys(values) {
		if err := writeFile(filepath.Join(dir, mlflowKey(k)), []byte(values[k])); err != nil {
			return err
		}
	}
	return nil
}

func writeMetricFiles(dir string, metrics []Metric) error {
	lines := map[string]*strings.Builder{}
	maxStep := map[string]int64{}
	for _, m := range metrics {
		if !m.IsFinal() && m.Step > maxStep[metricKey(m)] {
			maxStep[metricKey(m)] = m.Step
		}
	}
	for _, m := range metrics {
		key := metricKey(m)
		step := m.Step
		if m.IsFinal() {
			step = maxStep[key]
		}
		b := lines[key]
		if b == nil {
			b = &strings.Builder{}
			lines[key] = b
		}
		fmt.Fprintf(b, "%d %s %d\n", m.Time.UnixMilli(), formatFloat(m.Value), step)
	}
	for _, key := range sortedKeys(lines) {
		if err := writeFile(filepath.Join(dir, mlflowKey(key)), []byte(lines[key].String())); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) writeArtifacts(ctx context.Context, dir string, r *Run) error {
	if r.Canonical != "" {
		if err := writeFile(filepath.Join(dir, "mlpipe", "canonical.mlp"), []byte(r.Canonical)); err != nil {
			return err
		}
	}
	for _, src := range r.Sources {
		if err := s.copyObject(ctx, src.Digest, filepath.Join(dir, "mlpipe", "sources", safeRelPath(src.Path))); err != nil {
			return err
		}
	}
	for _, a := range r.Artifacts {
		if err := s.copyObject(ctx, a.Digest, filepath.Join(dir, safeRelPath(a.Stage+"/"+a.Name))); err != nil {
			return err
		}
	}
	return nil
}

// copyObject copies the verified object d to path.
func (s *Store) copyObject(ctx context.Context, d Digest, path string) error {
	in, err := s.OpenObject(ctx, d)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("exporting to MLflow: %w", err)
	}
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("exporting to MLflow: %w", err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(path)
		return fmt.Errorf("exporting to MLflow %s: %w", path, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("exporting to MLflow %s: %w", path, err)
	}
	return nil
}

// mlflowKey reduces a key to the characters MLflow accepts in a file-store
// key; "/" is replaced too, so every key is one file.
func mlflowKey(k string) string {
	b := []byte(k)
	for i, c := range b {
		ok := c == '_' || c == '-' || c == '.' || c == ' ' ||
			(c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !ok {
			b[i] = '_'
		}
	}
	k = string(b)
	if k == "" || strings.Trim(k, ".") == "" {
		k = strings.Repeat("_", max(len(k), 1))
	}
	return k
}

// safeRelPath turns a path from a record into a relative path that stays
// inside the directory it is joined to: no empty, "." or ".." components.
func safeRelPath(p string) string {
	var parts []string
	for _, part := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		switch part {
		case ".":
			continue
		case "..":
			part = "__"
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return "_"
	}
	return filepath.Join(parts...)
}

type yamlField struct{ key, value string }

// yamlString quotes s as a YAML double-quoted scalar. JSON string syntax is
// valid YAML; the C1 controls and DEL, which YAML readers refuse raw, are
// escaped as well.
func yamlString(s string) string {
	b, _ := json.Marshal(s)
	var out strings.Builder
	for _, r := range string(b) {
		if r >= 0x7f && r <= 0x9f {
			fmt.Fprintf(&out, `\u%04x`, r)
			continue
		}
		out.WriteRune(r)
	}
	return out.String()
}

func writeYAML(path string, fields []yamlField) error {
	var b strings.Builder
	for _, f := range fields {
		fmt.Fprintf(&b, "%s: %s\n", f.key, f.value)
	}
	return writeFile(path, []byte(b.String()))
}

func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("exporting to MLflow: %w", err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("exporting to MLflow: %w", err)
	}
	return nil
}
