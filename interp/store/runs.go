package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"strings"
	"time"
)

// Status is the state of a run.
type Status string

// The states of a run. A run is Running from BeginRun until FinishRun; a run
// whose process died before FinishRun is marked Interrupted by the next Open
// on its host.
const (
	Running     Status = "running"
	Done        Status = "done"
	Failed      Status = "failed"
	Interrupted Status = "interrupted"
)

// valid reports whether st is one of the four states.
func (st Status) valid() bool {
	switch st {
	case Running, Done, Failed, Interrupted:
		return true
	}
	return false
}

// FinalStep is the Step of a final metric (the value a stage reports once,
// at its end), as opposed to a metric over time, whose Step is 0 or more
// (an epoch, an iteration).
const FinalStep int64 = -1

// NoVariant is the Variant of a run that is not part of a sweep.
const NoVariant = -1

// DiedError is the Error recorded on a run that Open found left Running by
// a process that no longer exists.
const DiedError = "process died"

// Run is the record of one execution of a pipeline.
type Run struct {
	// ID is the record id, unique per execution, short and sortable by start
	// time: "20261202-183012-a1b2c3" (UTC start time and 6 random hex
	// digits). BeginRun fills it.
	ID string
	// RunID is the deterministic run id the caller computes from the
	// definition id, the seed and the mlpipe version ("sha256:..."). Two
	// executions of the same pipeline share it.
	RunID string
	// DefinitionID is the hash of the canonical pipeline ("sha256:...").
	DefinitionID string
	// Experiment is the experiment name; ExperimentVersion its version.
	Experiment        string
	ExperimentVersion string
	// Seed is the run's seed (for a sweep variant, the derived seed).
	Seed int64
	// MlpipeVersion is the version of mlpipe that executed the run.
	MlpipeVersion string
	// Backend names the compute backend (e.g. "gonum", "openblas").
	Backend string
	// Canonical is the canonical pipeline text. ListRuns leaves it empty.
	Canonical string
	// Params are the resolved parameters, as source text.
	Params map[string]string
	// Sweep names the sweep the run belongs to; "" when none.
	Sweep string
	// Variant is the run's index in its sweep; NoVariant (-1) when Sweep is
	// "". BeginRun stores -1 whenever Sweep is "".
	Variant int
	// OutDir is the run's output directory.
	OutDir string
	// Host and PID identify the process that executed the run; BeginRun
	// fills them.
	Host string
	PID  int
	// Status is the run's state; Error the failure message, if any.
	Status Status
	Error  string
	// Started is set by BeginRun; Ended by FinishRun, or by Open for a run
	// whose process died (then the time of its last metric, or Started).
	Started time.Time
	Ended   time.Time

	// The parts below are loaded by GetRun only.

	// Sources are the pipeline's source files, stored as objects.
	Sources []Source
	// DataFiles are fingerprints of the data files the run read.
	DataFiles []DataFile
	// Metrics holds every metric the run logged, in logging order.
	Metrics []Metric
	// Artifacts are the files the run produced, stored as objects.
	Artifacts []Artifact
}

// Source is one source file of a run's pipeline; its content is the object
// Digest.
type Source struct {
	Path   string
	Digest Digest
}

// DataFile is the fingerprint of a data file a run read. The file itself is
// not stored; Digest is the hash of its content as the caller computed it.
type DataFile struct {
	Path   string
	Digest Digest
	Size   int64
}

// Metric is one value a stage reported. Step is 0 or more for a value over
// time (epoch, iteration) and FinalStep (-1) for a final metric. Value may
// be NaN or infinite. A zero Time is replaced by the time of logging.
type Metric struct {
	Stage string
	Name  string
	Step  int64
	Value float64
	Time  time.Time
}

// IsFinal reports whether m is a final metric (Step is FinalStep).
func (m Metric) IsFinal() bool { return m.Step == FinalStep }

// Artifact is a file a stage of a run produced, stored as the object Digest.
type Artifact struct {
	Stage     string
	Name      string
	MediaType string
	Digest    Digest
	Size      int64
}

// FinalMetrics returns r's final metrics keyed "STAGE.NAME" (or "NAME" when
// the stage is empty); the last one logged wins.
func (r *Run) FinalMetrics() map[string]float64 {
	out := map[string]float64{}
	for _, m := range r.Metrics {
		if m.IsFinal() {
			out[metricKey(m)] = m.Value
		}
	}
	return out
}

func metricKey(m Metric) string {
	if m.Stage == "" {
		return m.Name
	}
	return m.Stage + "." + m.Name
}

// BeginRun records the start of a run. It fills r.ID, r.Host, r.PID,
// r.Started and r.Status (Running), sets r.Variant to NoVariant when r.Sweep
// is empty, and stores r with its Params in one transaction. Sources,
// DataFiles, Metrics and Artifacts in r are ignored; add them with their own
// calls.
func (s *Store) BeginRun(ctx context.Context, r *Run) error {
	r.Host, r.PID = s.self.Host, s.self.PID
	r.Status = Running
	r.Error = ""
	r.Ended = time.Time{}
	if r.Sweep == "" {
		r.Variant = NoVariant
	}
	const attempts = 5
	var err error
	for range attempts {
		r.Started = time.Now().UTC()
		r.ID = newRecordID(r.Started)
		err = s.write(ctx, func(tx *sql.Tx) error { return s.insertRun(ctx, tx, r) })
		if !isUniqueViolation(err) {
			break
		}
	}
	if err != nil {
		r.ID = ""
		return err
	}
	return nil
}

func (s *Store) insertRun(ctx context.Context, tx *sql.Tx, r *Run) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO runs (id, run_id, definition_id, experiment,
		experiment_version, seed, mlpipe_version, backend, canonical, sweep, variant, out_dir,
		host, pid, pid_start, status, error, started, ended)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)`,
		r.ID, r.RunID, r.DefinitionID, r.Experiment, r.ExperimentVersion, r.Seed,
		r.MlpipeVersion, r.Backend, r.Canonical, r.Sweep, r.Variant, r.OutDir,
		r.Host, r.PID, s.self.Start, string(r.Status), r.Error, toUnixNano(r.Started))
	if err != nil {
		if isUniqueViolation(err) {
			return err
		}
		return s.errorf("recording run %s: %w", r.ID, err)
	}
	for name, value := range r.Params {
		if _, err := tx.ExecContext(ctx, `INSERT INTO params (run, name, value) VALUES (?, ?, ?)`,
			r.ID, name, value); err != nil {
			return s.errorf("recording param %s of run %s: %w", name, r.ID, err)
		}
	}
	return nil
}

// newRecordID returns "YYYYMMDD-HHMMSS-xxxxxx": the UTC time t and 6 random
// hex digits.
func newRecordID(t time.Time) string {
	var b [3]byte
	rand.Read(b[:])
	return t.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed: runs.id")
}

// AddSource stores content as an object and records it as the source file
// path of the run with record id runID. Adding the same path again replaces
// it.
func (s *Store) AddSource(ctx context.Context, runID, path string, content []byte) error {
	d, err := s.PutBytes(ctx, content)
	if err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := s.requireRun(ctx, tx, runID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO sources (run, path, digest) VALUES (?, ?, ?)
			ON CONFLICT (run, path) DO UPDATE SET digest = excluded.digest`, runID, path, string(d))
		if err != nil {
			return s.errorf("recording source %s of run %s: %w", path, runID, err)
		}
		return nil
	})
}

// AddDataFile records the fingerprint of a data file the run read. Adding
// the same path again replaces it.
func (s *Store) AddDataFile(ctx context.Context, runID string, f DataFile) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := s.requireRun(ctx, tx, runID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO data_files (run, path, digest, size) VALUES (?, ?, ?, ?)
			ON CONFLICT (run, path) DO UPDATE SET digest = excluded.digest, size = excluded.size`,
			runID, f.Path, string(f.Digest), f.Size)
		if err != nil {
			return s.errorf("recording data file %s of run %s: %w", f.Path, runID, err)
		}
		return nil
	})
}

// LogMetrics appends ms to the run's metrics in one transaction: all are
// recorded or none. A metric with a zero Time gets the time of the call.
func (s *Store) LogMetrics(ctx context.Context, runID string, ms []Metric) error {
	now := time.Now().UnixNano()
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := s.requireRun(ctx, tx, runID); err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO metrics (run, stage, name, step, value, time)
			VALUES (?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return s.errorf("logging metrics of run %s: %w", runID, err)
		}
		defer stmt.Close()
		for _, m := range ms {
			t := toUnixNano(m.Time)
			if t == 0 {
				t = now
			}
			if _, err := stmt.ExecContext(ctx, runID, m.Stage, m.Name, m.Step, storedValue(m.Value), t); err != nil {
				return s.errorf("logging metric %s of run %s: %w", metricKey(m), runID, err)
			}
		}
		return nil
	})
}

// storedValue maps NaN, which SQLite cannot store as a REAL, to NULL.
func storedValue(v float64) sql.NullFloat64 {
	return sql.NullFloat64{Float64: v, Valid: !math.IsNaN(v)}
}

func loadedValue(v sql.NullFloat64) float64 {
	if !v.Valid {
		return math.NaN()
	}
	return v.Float64
}

// AddArtifact records an artifact of the run. Its object must already be in
// the store (PutObject or PutBytes). Adding the same stage and name again
// replaces it.
func (s *Store) AddArtifact(ctx context.Context, runID string, a Artifact) error {
	if err := s.requireObject(a.Digest); err != nil {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		if err := s.requireRun(ctx, tx, runID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO artifacts (run, stage, name, media_type, digest, size)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run, stage, name) DO UPDATE SET
			media_type = excluded.media_type, digest = excluded.digest, size = excluded.size`,
			runID, a.Stage, a.Name, a.MediaType, string(a.Digest), a.Size)
		if err != nil {
			return s.errorf("recording artifact %s/%s of run %s: %w", a.Stage, a.Name, runID, err)
		}
		return nil
	})
}

// FinishRun records the end of a run: its final status (Done, Failed or
// Interrupted), error message and end time.
func (s *Store) FinishRun(ctx context.Context, runID string, status Status, errMsg string) error {
	if !status.valid() || status == Running {
		return s.errorf("finishing run %s: status %q is not done, failed or interrupted", runID, status)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, error = ?, ended = ? WHERE id = ?`,
			string(status), errMsg, time.Now().UnixNano(), runID)
		if err != nil {
			return s.errorf("finishing run %s: %w", runID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.notFound("run", runID)
		}
		return nil
	})
}

// ReopenRun marks a finished run Running again, as executed by this
// process, for a resumed execution that continues its record: its status,
// error and end time are cleared and its host and PID are this process's.
// A run that is Running already cannot be reopened.
func (s *Store) ReopenRun(ctx context.Context, runID string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, error = '', ended = 0, host = ?, pid = ?, pid_start = ?
			WHERE id = ? AND status != ?`,
			string(Running), s.self.Host, s.self.PID, s.self.Start, runID, string(Running))
		if err != nil {
			return s.errorf("reopening run %s: %w", runID, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if err := s.requireRun(ctx, tx, runID); err != nil {
				return err
			}
			return s.errorf("reopening run %s: it is still running", runID)
		}
		return nil
	})
}

// requireRun checks that a run record with this id exists.
func (s *Store) requireRun(ctx context.Context, tx *sql.Tx, runID string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM runs WHERE id = ?`, runID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return s.notFound("run", runID)
	}
	if err != nil {
		return s.errorf("looking up run %s: %w", runID, err)
	}
	return nil
}

// requireObject checks that the object d exists, so that no record refers
// to an object that is not there.
func (s *Store) requireObject(d Digest) error {
	path, err := s.objectPathChecked(d)
	if err != nil {
		return err
	}
	if _, err := os.Stat(path); err != nil {
		return s.objectReadError(d, path, err)
	}
	return nil
}

func (s *Store) notFound(what, id string) error {
	return fmt.Errorf("store %s: no %s %q: %w", s.dir, what, id, ErrNotFound)
}

// markDeadRuns marks Interrupted the runs left Running on this host by a
// process that no longer exists (or whose PID now names another process).
func (s *Store) markDeadRuns(ctx context.Context) error {
	dead, err := s.deadRuns(ctx)
	if err != nil || len(dead) == 0 {
		return err
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		for _, id := range dead {
			_, err := tx.ExecContext(ctx, `UPDATE runs SET status = ?, error = ?,
				ended = max(started, coalesce((SELECT max(time) FROM metrics WHERE run = runs.id), 0))
				WHERE id = ? AND status = ?`, string(Interrupted), DiedError, id, string(Running))
			if err != nil {
				return s.errorf("marking run %s interrupted: %w", id, err)
			}
		}
		return nil
	})
}

func (s *Store) deadRuns(ctx context.Context) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, pid, pid_start FROM runs WHERE status = ? AND host = ?`,
		string(Running), s.self.Host)
	if err != nil {
		return nil, s.errorf("looking for interrupted runs: %w", err)
	}
	defer rows.Close()
	var dead []string
	for rows.Next() {
		var id string
		p := process{Host: s.self.Host}
		if err := rows.Scan(&id, &p.PID, &p.Start); err != nil {
			return nil, s.errorf("looking for interrupted runs: %w", err)
		}
		if !p.alive() {
			dead = append(dead, id)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("looking for interrupted runs: %w", err)
	}
	return dead, nil
}
