package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// MinPrefix is the shortest prefix GetRun accepts.
const MinPrefix = 4

// AmbiguousError is returned by GetRun when its argument matches several run
// records. Matches holds them, newest first, without their heavy parts.
type AmbiguousError struct {
	Query   string
	Matches []Run
}

// Error lists the matching records, one per line.
func (e *AmbiguousError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q matches %d runs; give more of the id:", e.Query, len(e.Matches))
	for _, r := range e.Matches {
		fmt.Fprintf(&b, "\n  %s  %s  %s  %s  %s", r.ID, shortRunID(r.RunID), r.Experiment, r.Status,
			r.Started.Format(time.RFC3339))
	}
	return b.String()
}

func shortRunID(id string) string {
	h := strings.TrimPrefix(id, digestPrefix)
	if len(h) > 12 {
		h = h[:12]
	}
	return h
}

// Filter selects runs for ListRuns. Empty fields select everything; set
// fields must all match.
type Filter struct {
	// Experiment selects runs of this experiment.
	Experiment string
	// Status selects runs in this state.
	Status Status
	// Params selects runs whose params include every one of these, with
	// exactly this source text.
	Params map[string]string
	// Sweep selects runs of this sweep.
	Sweep string
}

// runColumns are the columns scanRun reads, in order.
const runColumns = `id, run_id, definition_id, experiment, experiment_version, seed, mlpipe_version,
	backend, sweep, variant, out_dir, host, pid, status, error, started, ended`

type scanner interface{ Scan(dest ...any) error }

func scanRun(sc scanner) (Run, error) {
	var r Run
	var status string
	var started, ended int64
	err := sc.Scan(&r.ID, &r.RunID, &r.DefinitionID, &r.Experiment, &r.ExperimentVersion, &r.Seed,
		&r.MlpipeVersion, &r.Backend, &r.Sweep, &r.Variant, &r.OutDir, &r.Host, &r.PID, &status,
		&r.Error, &started, &ended)
	r.Status = Status(status)
	r.Started, r.Ended = fromUnixNano(started), fromUnixNano(ended)
	return r, err
}

// ListRuns returns the runs that match f, newest first, with their Params
// but without Canonical, Sources, DataFiles, Metrics and Artifacts (GetRun
// loads those).
func (s *Store) ListRuns(ctx context.Context, f Filter) ([]Run, error) {
	where, args := filterClause(f)
	var runs []Run
	err := s.read(ctx, func(tx *sql.Tx) error {
		var err error
		runs, err = s.queryRuns(ctx, tx, where, args...)
		if err != nil {
			return err
		}
		return s.loadParams(ctx, tx, runs)
	})
	return runs, err
}

func filterClause(f Filter) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, vals ...any) {
		conds = append(conds, cond)
		args = append(args, vals...)
	}
	if f.Experiment != "" {
		add(`experiment = ?`, f.Experiment)
	}
	if f.Status != "" {
		add(`status = ?`, string(f.Status))
	}
	if f.Sweep != "" {
		add(`sweep = ?`, f.Sweep)
	}
	for _, name := range sortedKeys(f.Params) {
		add(`EXISTS (SELECT 1 FROM params p WHERE p.run = runs.id AND p.name = ? AND p.value = ?)`,
			name, f.Params[name])
	}
	if len(conds) == 0 {
		return "1", nil
	}
	return strings.Join(conds, " AND "), args
}

func (s *Store) queryRuns(ctx context.Context, tx *sql.Tx, where string, args ...any) ([]Run, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+runColumns+` FROM runs WHERE `+where+
		` ORDER BY started DESC, id DESC`, args...)
	if err != nil {
		return nil, s.errorf("listing runs: %w", err)
	}
	defer rows.Close()
	var runs []Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, s.errorf("listing runs: %w", err)
		}
		runs = append(runs, r)
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("listing runs: %w", err)
	}
	return runs, nil
}

func (s *Store) loadParams(ctx context.Context, tx *sql.Tx, runs []Run) error {
	for i := range runs {
		params, err := s.params(ctx, tx, runs[i].ID)
		if err != nil {
			return err
		}
		runs[i].Params = params
	}
	return nil
}

func (s *Store) params(ctx context.Context, tx *sql.Tx, id string) (map[string]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, value FROM params WHERE run = ?`, id)
	if err != nil {
		return nil, s.errorf("loading params of run %s: %w", id, err)
	}
	defer rows.Close()
	params := map[string]string{}
	for rows.Next() {
		var name, value string
		if err := rows.Scan(&name, &value); err != nil {
			return nil, s.errorf("loading params of run %s: %w", id, err)
		}
		params[name] = value
	}
	return params, rows.Err()
}

// GetRun loads a run whole. idOrPrefix is a record ID, a RunID (with or
// without "sha256:"), or a prefix of either of at least MinPrefix
// characters. Several matching records give an *AmbiguousError listing
// them (several executions share a RunID, so a RunID alone is ambiguous
// once a pipeline ran twice); none gives an error wrapping ErrNotFound.
func (s *Store) GetRun(ctx context.Context, idOrPrefix string) (*Run, error) {
	query := strings.TrimSpace(idOrPrefix)
	if len(strings.TrimPrefix(query, digestPrefix)) < MinPrefix {
		return nil, s.errorf("run id %q is too short: give at least %d characters", idOrPrefix, MinPrefix)
	}
	var run *Run
	err := s.read(ctx, func(tx *sql.Tx) error {
		matches, err := s.matchRuns(ctx, tx, query)
		if err != nil {
			return err
		}
		switch len(matches) {
		case 0:
			return s.notFound("run", idOrPrefix)
		case 1:
			run = &matches[0]
			return s.loadWhole(ctx, tx, run)
		}
		return &AmbiguousError{Query: idOrPrefix, Matches: matches}
	})
	return run, err
}

// matchRuns finds the records whose ID, or RunID with or without its
// "sha256:", starts with query. An exact record ID wins over prefixes.
func (s *Store) matchRuns(ctx context.Context, tx *sql.Tx, query string) ([]Run, error) {
	exact, err := s.queryRuns(ctx, tx, `id = ?`, query)
	if err != nil || len(exact) == 1 {
		return exact, err
	}
	hexPart := strings.TrimPrefix(query, digestPrefix)
	return s.queryRuns(ctx, tx, `substr(id, 1, length(?1)) = ?1
		OR substr(run_id, 1, length(?1)) = ?1
		OR substr(run_id, 1, length(?2)) = ?2`, query, digestPrefix+hexPart)
}

func (s *Store) loadWhole(ctx context.Context, tx *sql.Tx, r *Run) error {
	if err := tx.QueryRowContext(ctx, `SELECT canonical FROM runs WHERE id = ?`, r.ID).Scan(&r.Canonical); err != nil {
		return s.errorf("loading run %s: %w", r.ID, err)
	}
	var err error
	if r.Params, err = s.params(ctx, tx, r.ID); err != nil {
		return err
	}
	if r.Sources, err = s.sources(ctx, tx, r.ID); err != nil {
		return err
	}
	if r.DataFiles, err = s.dataFiles(ctx, tx, r.ID); err != nil {
		return err
	}
	if r.Metrics, err = s.metrics(ctx, tx, r.ID); err != nil {
		return err
	}
	r.Artifacts, err = s.artifacts(ctx, tx, r.ID)
	return err
}

// collect runs query and appends one element per row, made by scan.
func collect[T any](ctx context.Context, s *Store, tx *sql.Tx, what string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.errorf("loading %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, s.errorf("loading %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("loading %s: %w", what, err)
	}
	return out, nil
}

func (s *Store) sources(ctx context.Context, tx *sql.Tx, id string) ([]Source, error) {
	return collect(ctx, s, tx, "sources of run "+id, func(sc scanner) (Source, error) {
		var src Source
		err := sc.Scan(&src.Path, &src.Digest)
		return src, err
	}, `SELECT path, digest FROM sources WHERE run = ? ORDER BY path`, id)
}

func (s *Store) dataFiles(ctx context.Context, tx *sql.Tx, id string) ([]DataFile, error) {
	return collect(ctx, s, tx, "data files of run "+id, func(sc scanner) (DataFile, error) {
		var f DataFile
		err := sc.Scan(&f.Path, &f.Digest, &f.Size)
		return f, err
	}, `SELECT path, digest, size FROM data_files WHERE run = ? ORDER BY path`, id)
}

func (s *Store) metrics(ctx context.Context, tx *sql.Tx, id string) ([]Metric, error) {
	return collect(ctx, s, tx, "metrics of run "+id, func(sc scanner) (Metric, error) {
		var m Metric
		var v sql.NullFloat64
		var t int64
		err := sc.Scan(&m.Stage, &m.Name, &m.Step, &v, &t)
		m.Value, m.Time = loadedValue(v), fromUnixNano(t)
		return m, err
	}, `SELECT stage, name, step, value, time FROM metrics WHERE run = ? ORDER BY rowid`, id)
}

func (s *Store) artifacts(ctx context.Context, tx *sql.Tx, id string) ([]Artifact, error) {
	return collect(ctx, s, tx, "artifacts of run "+id, func(sc scanner) (Artifact, error) {
		var a Artifact
		err := sc.Scan(&a.Stage, &a.Name, &a.MediaType, &a.Digest, &a.Size)
		return a, err
	}, `SELECT stage, name, media_type, digest, size FROM artifacts WHERE run = ? ORDER BY stage, name`, id)
}
