package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"modernc.org/sqlite" // registers the pure-Go "sqlite" driver
	sqlite3 "modernc.org/sqlite/lib"
)

// DBName is the name of the database file inside a store directory.
const DBName = "mlpipe.db"

// ObjectsDir is the name of the directory inside a store directory that
// holds the content-addressed objects.
const ObjectsDir = "objects"

// SchemaVersion is the version of the database schema this package writes.
// It is kept in PRAGMA user_version. A store with a higher version was
// written by a newer mlpipe and is refused by Open.
const SchemaVersion = 1

// applicationID marks a SQLite file as an mlpipe store (PRAGMA
// application_id; the bytes spell "mlpp").
const applicationID = 0x6d6c7070

// busyTimeout is how long a connection waits for another writer's lock
// before giving up with SQLITE_BUSY.
const busyTimeout = 60 * time.Second

// ErrNotFound is wrapped by the errors of look-ups that found nothing: an
// unknown run, a cache miss.
var ErrNotFound = errors.New("not found")

// ErrCorrupt is wrapped by every error that reports an object whose content
// does not match its digest, or that is truncated or missing.
var ErrCorrupt = errors.New("corrupt object")

// ErrNewerSchema is wrapped by the error Open returns for a store written by
// a newer mlpipe.
var ErrNewerSchema = errors.New("store written by a newer mlpipe")

// Store is an open run store. It is safe for concurrent use by several
// goroutines; several processes may open the same directory at once.
type Store struct {
	dir     string
	db      *sql.DB
	self    process
	session string
}

// Open opens the store in dir, creating the directory, the database and its
// schema if needed. It refuses a database written by a newer mlpipe (an
// error wrapping ErrNewerSchema) and a file that is not an mlpipe database,
// naming the path in either case. It then marks as Interrupted every run
// left Running by a dead process on this host (see the package doc).
func Open(ctx context.Context, dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store %s: %w", dir, err)
	}
	if err := os.MkdirAll(filepath.Join(abs, ObjectsDir), 0o755); err != nil {
		return nil, fmt.Errorf("store %s: %w", abs, err)
	}
	s := &Store{dir: abs, self: currentProcess(), session: newSessionID()}
	if err := s.openDB(ctx); err != nil {
		return nil, err
	}
	if err := s.markDeadRuns(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// Dir returns the absolute path of the store directory.
func (s *Store) Dir() string { return s.dir }

// Close releases the objects this Store wrote but did not refer to (so GC
// may remove them) and closes the database.
func (s *Store) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), busyTimeout)
	defer cancel()
	unpinErr := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM object_pins WHERE session = ?`, s.session)
		return err
	})
	if err := s.db.Close(); err != nil {
		return s.errorf("closing database: %w", err)
	}
	return unpinErr
}

func (s *Store) dbPath() string { return filepath.Join(s.dir, DBName) }

// dsn builds the connection string: a file: URI so that any path works, with
// the pragmas every connection needs. Writes begin IMMEDIATE (_txlock).
func (s *Store) dsn() string {
	u := url.URL{Scheme: "file", Path: s.dbPath()}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode("+journalMode(s.dir)+")")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	return u.String() + "?" + q.Encode()
}

// openDB opens the database and checks (or creates) its schema. Several
// processes opening a new store at once can see SQLITE_BUSY here even with
// the busy timeout: the switch to WAL in each connection's pragmas does not
// wait for the busy handler. openDB then retries, with a growing pause,
// until busyTimeout has passed.
func (s *Store) openDB(ctx context.Context) error {
	deadline := time.Now().Add(busyTimeout)
	pause := 5 * time.Millisecond
	for {
		err := s.tryOpenDB(ctx)
		if err == nil || !isBusy(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
		pause = min(2*pause, 200*time.Millisecond)
	}
}

func (s *Store) tryOpenDB(ctx context.Context) error {
	db, err := sql.Open("sqlite", s.dsn())
	if err != nil {
		return fmt.Errorf("store %s: opening %s: %w", s.dir, s.dbPath(), err)
	}
	s.db = db
	if err := s.checkAndMigrate(ctx); err != nil {
		db.Close()
		return err
	}
	return nil
}

// isBusy reports whether err is SQLite's SQLITE_BUSY (or one of its
// extended codes): another connection holds a lock.
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_BUSY
}

func (s *Store) checkAndMigrate(ctx context.Context) error {
	version, err := s.schemaVersion(ctx, s.db)
	if err != nil {
		return err
	}
	if version == SchemaVersion {
		return nil
	}
	if version > SchemaVersion {
		return s.newerSchemaError(version)
	}
	return s.write(ctx, func(tx *sql.Tx) error {
		version, err := s.schemaVersion(ctx, tx)
		if err != nil || version == SchemaVersion {
			return err // another process created the schema meanwhile
		}
		if version > SchemaVersion {
			return s.newerSchemaError(version)
		}
		return s.createSchema(ctx, tx)
	})
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// schemaVersion reads user_version and application_id and refuses a SQLite
// database that belongs to another application.
func (s *Store) schemaVersion(ctx context.Context, q querier) (int, error) {
	var appID int64
	if err := q.QueryRowContext(ctx, `PRAGMA application_id`).Scan(&appID); err != nil {
		return 0, fmt.Errorf("store %s: %s is not a usable SQLite database: %w", s.dir, s.dbPath(), err)
	}
	var version int
	if err := q.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&version); err != nil {
		return 0, fmt.Errorf("store %s: reading schema version of %s: %w", s.dir, s.dbPath(), err)
	}
	if appID != 0 && appID != applicationID {
		return 0, fmt.Errorf("store %s: %s is a SQLite database of another application (application_id %#x), not an mlpipe store", s.dir, s.dbPath(), appID)
	}
	return version, nil
}

func (s *Store) newerSchemaError(version int) error {
	return fmt.Errorf("store %s: %s has schema version %d, but this mlpipe reads up to version %d; use a newer mlpipe: %w",
		s.dir, s.dbPath(), version, SchemaVersion, ErrNewerSchema)
}

func (s *Store) createSchema(ctx context.Context, tx *sql.Tx) error {
	for _, stmt := range schemaV1 {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return s.errorf("creating schema in %s: %w", s.dbPath(), err)
		}
	}
	pragmas := []string{
		fmt.Sprintf(`PRAGMA application_id = %d`, applicationID),
		fmt.Sprintf(`PRAGMA user_version = %d`, SchemaVersion),
	}
	for _, p := range pragmas {
		if _, err := tx.ExecContext(ctx, p); err != nil {
			return s.errorf("creating schema in %s: %w", s.dbPath(), err)
		}
	}
	return nil
}

// write runs fn in an immediate transaction and commits it if fn succeeds.
func (s *Store) write(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return s.errorf("beginning transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return s.errorf("committing: %w", err)
	}
	return nil
}

// read runs fn in a read-only transaction, so that everything it reads comes
// from one snapshot.
func (s *Store) read(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return s.errorf("beginning read: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

// errorf formats an error prefixed with the store directory.
func (s *Store) errorf(format string, args ...any) error {
	return fmt.Errorf("store %s: "+format, append([]any{s.dir}, args...)...)
}

func newSessionID() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b[:])
}

func toUnixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}
