package store

// schemaV1 creates version 1 of the schema. Times are Unix nanoseconds (0 for
// "not set"); digests are "sha256:<hex>" text.
var schemaV1 = []string{
	`CREATE TABLE runs (
		id                 TEXT PRIMARY KEY,
		run_id             TEXT NOT NULL,
		definition_id      TEXT NOT NULL,
		experiment         TEXT NOT NULL,
		experiment_version TEXT NOT NULL,
		seed               INTEGER NOT NULL,
		mlpipe_version     TEXT NOT NULL,
		backend            TEXT NOT NULL,
		canonical          TEXT NOT NULL,
		sweep              TEXT NOT NULL,
		variant            INTEGER NOT NULL,
		out_dir            TEXT NOT NULL,
		host               TEXT NOT NULL,
		pid                INTEGER NOT NULL,
		pid_start          INTEGER NOT NULL,
		status             TEXT NOT NULL,
		error              TEXT NOT NULL,
		started            INTEGER NOT NULL,
		ended              INTEGER NOT NULL
	)`,
	`CREATE INDEX runs_by_run_id ON runs(run_id)`,
	`CREATE INDEX runs_by_experiment ON runs(experiment, started)`,
	`CREATE INDEX runs_by_status ON runs(status, host)`,
	`CREATE INDEX runs_by_sweep ON runs(sweep, variant)`,
	`CREATE TABLE params (
		run   TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		name  TEXT NOT NULL,
		value TEXT NOT NULL,
		PRIMARY KEY (run, name)
	) WITHOUT ROWID`,
	`CREATE TABLE sources (
		run    TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		path   TEXT NOT NULL,
		digest TEXT NOT NULL,
		PRIMARY KEY (run, path)
	) WITHOUT ROWID`,
	`CREATE INDEX sources_by_digest ON sources(digest)`,
	`CREATE TABLE data_files (
		run    TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		path   TEXT NOT NULL,
		digest TEXT NOT NULL,
		size   INTEGER NOT NULL,
		PRIMARY KEY (run, path)
	) WITHOUT ROWID`,
	// value is NULL for NaN, which SQLite cannot store as a REAL.
	`CREATE TABLE metrics (
		run   TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		stage TEXT NOT NULL,
		name  TEXT NOT NULL,
		step  INTEGER NOT NULL,
		value REAL,
		time  INTEGER NOT NULL
	)`,
	`CREATE INDEX metrics_by_run ON metrics(run, stage, name, step)`,
	`CREATE TABLE artifacts (
		run        TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
		stage      TEXT NOT NULL,
		name       TEXT NOT NULL,
		media_type TEXT NOT NULL,
		digest     TEXT NOT NULL,
		size       INTEGER NOT NULL,
		PRIMARY KEY (run, stage, name)
	) WITHOUT ROWID`,
	`CREATE INDEX artifacts_by_digest ON artifacts(digest)`,
	`CREATE TABLE cache (
		key         TEXT PRIMARY KEY,
		experiment  TEXT NOT NULL,
		stage       TEXT NOT NULL,
		component   TEXT NOT NULL,
		digest      TEXT NOT NULL,
		size        INTEGER NOT NULL,
		ingredients TEXT NOT NULL,
		created     INTEGER NOT NULL,
		used        INTEGER NOT NULL,
		run_id      TEXT NOT NULL
	)`,
	`CREATE INDEX cache_by_stage ON cache(experiment, stage, used)`,
	`CREATE INDEX cache_by_digest ON cache(digest)`,
	// sweeps records each sweep that was launched: what it runs and where.
	`CREATE TABLE sweeps (
		id         TEXT PRIMARY KEY,
		sweep_id   TEXT NOT NULL,
		name       TEXT NOT NULL,
		experiment TEXT NOT NULL,
		pipeline   TEXT NOT NULL,
		args       TEXT NOT NULL,
		axes       TEXT NOT NULL,
		variants   INTEGER NOT NULL,
		executor   TEXT NOT NULL,
		job        TEXT NOT NULL,
		out_dir    TEXT NOT NULL,
		created    INTEGER NOT NULL,
		updated    INTEGER NOT NULL
	)`,
	// object_pins protects objects written by an open Store from GC until
	// that Store closes or its process dies.
	`CREATE TABLE object_pins (
		digest    TEXT NOT NULL,
		session   TEXT NOT NULL,
		host      TEXT NOT NULL,
		pid       INTEGER NOT NULL,
		pid_start INTEGER NOT NULL,
		created   INTEGER NOT NULL,
		PRIMARY KEY (digest, session)
	) WITHOUT ROWID`,
}
