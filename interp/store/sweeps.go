package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"
)

// Sweep records a launched sweep: which pipeline it expands, with which
// extra arguments, how many variants, and where they run. Its runs are the
// runs whose Sweep is the sweep's ID, one or more per variant (a variant
// run again after a failure has several).
type Sweep struct {
	// ID names the sweep in the store and in run records: its name and
	// the first 12 hex digits of SweepID ("lr-width-3f2a9c1b0d4e").
	ID string
	// SweepID is the hash of the sweep's canonical form ("sha256:...").
	SweepID    string
	Name       string
	Experiment string
	// Pipeline is the absolute path of the pipeline file.
	Pipeline string
	// Args are the extra arguments every variant's run gets (--set of
	// params that are not swept).
	Args []string
	// Axes are the swept params, in the sweep's order.
	Axes []string
	// Variants is the number of variants.
	Variants int
	// Executor is "local" or "slurm"; Job the SLURM array job id of the
	// latest submission ("" for local).
	Executor string
	Job      string
	// OutDir holds the variants' output directories and logs.
	OutDir  string
	Created time.Time
	Updated time.Time
}

// PutSweep records s, or updates the record of the sweep with s.ID (its
// executor, job, arguments and output directory; Created is kept).
func (s *Store) PutSweep(ctx context.Context, sw *Sweep) error {
	args, err := json.Marshal(sw.Args)
	if err != nil {
		return err
	}
	axes, err := json.Marshal(sw.Axes)
	if err != nil {
		return err
	}
	now := time.Now()
	if sw.Created.IsZero() {
		sw.Created = now
	}
	sw.Updated = now
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sweeps (id, sweep_id, name, experiment, pipeline, args, axes, variants, executor, job, out_dir, created, updated)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT(id) DO UPDATE SET pipeline = excluded.pipeline, args = excluded.args, executor = excluded.executor,
				job = excluded.job, out_dir = excluded.out_dir, updated = excluded.updated`,
			sw.ID, sw.SweepID, sw.Name, sw.Experiment, sw.Pipeline, string(args), string(axes), sw.Variants, sw.Executor, sw.Job, sw.OutDir,
			toUnixNano(sw.Created), toUnixNano(sw.Updated))
		if err != nil {
			return s.errorf("recording sweep %s: %w", sw.ID, err)
		}
		return nil
	})
}

// LatestSweep returns the sweep launched or updated last, or an error
// wrapping ErrNotFound when the store has none.
func (s *Store) LatestSweep(ctx context.Context) (*Sweep, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT id FROM sweeps ORDER BY updated DESC LIMIT 1`).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, s.notFound("sweep", "(any)")
	}
	if err != nil {
		return nil, s.errorf("reading sweeps: %w", err)
	}
	return s.GetSweep(ctx, id)
}

// GetSweep returns the sweep with this id, or an error wrapping
// ErrNotFound.
func (s *Store) GetSweep(ctx context.Context, id string) (*Sweep, error) {
	var (
		sw               Sweep
		args, axes       string
		created, updated int64
	)
	err := s.db.QueryRowContext(ctx, `SELECT id, sweep_id, name, experiment, pipeline, args, axes, variants, executor, job, out_dir, created, updated
		FROM sweeps WHERE id = ?`, id).Scan(&sw.ID, &sw.SweepID, &sw.Name, &sw.Experiment, &sw.Pipeline, &args, &axes, &sw.Variants,
		&sw.Executor, &sw.Job, &sw.OutDir, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, s.notFound("sweep", id)
	}
	if err != nil {
		return nil, s.errorf("reading sweep %s: %w", id, err)
	}
	if err := json.Unmarshal([]byte(args), &sw.Args); err != nil {
		return nil, s.errorf("sweep %s: its arguments are corrupt: %w", id, err)
	}
	if err := json.Unmarshal([]byte(axes), &sw.Axes); err != nil {
		return nil, s.errorf("sweep %s: its axes are corrupt: %w", id, err)
	}
	sw.Created, sw.Updated = fromUnixNano(created), fromUnixNano(updated)
	return &sw, nil
}

// VariantStatus is the state of one variant of a sweep: the status of its
// latest run, or "" when it has none yet.
type VariantStatus struct {
	Variant int
	Status  Status
	Record  string // the latest run's record id
	Error   string
}

// SweepProgress returns the state of every variant 0..n-1 of the sweep id,
// from its latest run.
func (s *Store) SweepProgress(ctx context.Context, id string, n int) ([]VariantStatus, error) {
	out := make([]VariantStatus, n)
	for i := range out {
		out[i].Variant = i
	}
	rows, err := s.db.QueryContext(ctx, `SELECT variant, status, id, error FROM runs WHERE sweep = ? ORDER BY started, id`, id)
	if err != nil {
		return nil, s.errorf("reading the runs of sweep %s: %w", id, err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			v      int
			st     string
			record string
			msg    string
		)
		if err := rows.Scan(&v, &st, &record, &msg); err != nil {
			return nil, s.errorf("reading the runs of sweep %s: %w", id, err)
		}
		if v >= 0 && v < n {
			out[v] = VariantStatus{Variant: v, Status: Status(st), Record: record, Error: msg}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, s.errorf("reading the runs of sweep %s: %w", id, err)
	}
	return out, nil
}
