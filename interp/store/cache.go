package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// CacheEntry records a stage output kept for reuse. Key is computed by the
// caller from everything the output depends on; Ingredients is what the
// key was made of (parameters, input keys, component versions), kept so
// that the caller can explain a miss by comparing with CacheLast.
type CacheEntry struct {
	Key         string
	Experiment  string
	Stage       string
	Component   string
	Digest      Digest
	Size        int64
	Ingredients map[string]string
	// Created is when the entry was first put; Used when it was last put
	// or hit. CachePut sets both.
	Created time.Time
	Used    time.Time
	// RunID is the record ID of the run that produced the output.
	RunID string
}

const cacheColumns = `key, experiment, stage, component, digest, size, ingredients, created, used, run_id`

func scanCacheEntry(sc scanner) (*CacheEntry, error) {
	var e CacheEntry
	var ingredients string
	var created, used int64
	if err := sc.Scan(&e.Key, &e.Experiment, &e.Stage, &e.Component, &e.Digest, &e.Size,
		&ingredients, &created, &used, &e.RunID); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(ingredients), &e.Ingredients); err != nil {
		return nil, err
	}
	e.Created, e.Used = fromUnixNano(created), fromUnixNano(used)
	return &e, nil
}

// CacheGet returns the entry for key after checking that its object is
// intact, and records the hit in Used. A miss gives an error wrapping
// ErrNotFound; a hit whose object is missing, truncated or corrupt gives an
// error wrapping ErrCorrupt (the caller then reruns the stage and puts the
// entry again, which repairs the object).
func (s *Store) CacheGet(ctx context.Context, key string) (*CacheEntry, error) {
	e, err := s.cacheEntry(ctx, key)
	if err != nil {
		return nil, err
	}
	if err := s.verifyFile(e.Digest, s.ObjectPath(e.Digest)); err != nil {
		return nil, err
	}
	e.Used = time.Now().UTC()
	err = s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE cache SET used = ? WHERE key = ?`, e.Used.UnixNano(), key)
		if err != nil {
			return s.errorf("recording cache hit %s: %w", key, err)
		}
		return nil
	})
	return e, err
}

func (s *Store) cacheEntry(ctx context.Context, key string) (*CacheEntry, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+cacheColumns+` FROM cache WHERE key = ?`, key)
	e, err := scanCacheEntry(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, s.notFound("cache entry", key)
	}
	if err != nil {
		return nil, s.errorf("reading cache entry %s: %w", key, err)
	}
	if !e.Digest.Valid() {
		return nil, s.corruptError(e.Digest, "", "cache entry "+key+" has a malformed digest")
	}
	return e, nil
}

// CachePut records e. Its object must already be in the store. Putting a
// key again replaces the entry's fields but keeps its original Created, so
// repeating a put is harmless. Created and Used are set by the store.
func (s *Store) CachePut(ctx context.Context, e CacheEntry) error {
	if e.Key == "" {
		return s.errorf("cache entry without a key")
	}
	if err := s.requireObject(e.Digest); err != nil {
		return err
	}
	ingredients, err := json.Marshal(orEmpty(e.Ingredients))
	if err != nil {
		return s.errorf("encoding ingredients of cache entry %s: %w", e.Key, err)
	}
	now := time.Now().UnixNano()
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO cache (`+cacheColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (key) DO UPDATE SET experiment = excluded.experiment, stage = excluded.stage,
			component = excluded.component, digest = excluded.digest, size = excluded.size,
			ingredients = excluded.ingredients, used = excluded.used, run_id = excluded.run_id`,
			e.Key, e.Experiment, e.Stage, e.Component, string(e.Digest), e.Size, string(ingredients),
			now, now, e.RunID)
		if err != nil {
			return s.errorf("recording cache entry %s: %w", e.Key, err)
		}
		return nil
	})
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// CacheLast returns the entry of the given experiment and stage name that
// was most recently put or hit, so the caller can explain why a stage
// missed the cache by comparing Ingredients. It gives an error wrapping
// ErrNotFound when the stage has no entry.
func (s *Store) CacheLast(ctx context.Context, experiment, stage string) (*CacheEntry, error) {
	row := s.db.QueryRowContext(ctx, `SELECT `+cacheColumns+` FROM cache WHERE experiment = ? AND stage = ?
		ORDER BY used DESC, created DESC, key LIMIT 1`, experiment, stage)
	e, err := scanCacheEntry(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, s.notFound("cache entry for stage", experiment+"."+stage)
	}
	if err != nil {
		return nil, s.errorf("reading cache of stage %s.%s: %w", experiment, stage, err)
	}
	return e, nil
}

// CacheDelete removes the entry for key, if there is one. Its object stays
// until GC.
func (s *Store) CacheDelete(ctx context.Context, key string) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM cache WHERE key = ?`, key); err != nil {
			return s.errorf("deleting cache entry %s: %w", key, err)
		}
		return nil
	})
}

// CacheClear removes every cache entry and returns how many there were.
// Their objects stay until GC, which frees those no run refers to.
func (s *Store) CacheClear(ctx context.Context) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM cache`)
		if err != nil {
			return s.errorf("clearing cache: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

// GCStats says what GC removed.
type GCStats struct {
	// Objects and Bytes count the removed objects and their sizes.
	Objects int
	Bytes   int64
	// TempFiles counts removed leftovers of interrupted writes.
	TempFiles int
}

// tempMaxAge is how old a temporary object file must be before GC takes it
// for the leftover of an interrupted write.
const tempMaxAge = time.Hour

// remotePinMaxAge is how long a pin from another host protects its object:
// that host's process cannot be checked from here.
const remotePinMaxAge = 24 * time.Hour

// GC removes the objects nothing refers to, and temporary files older than
// an hour. An object is referred to by a run's source file, a run's
// artifact or a cache entry; run records are never removed by GC, so the
// objects of every recorded run stay. An object written by a Store that is
// still open (in a live process on this host, or, for up to a day, in a
// process on another host) is kept too, since its writer may be about to
// refer to it. GC holds the database's write lock while it runs, so writers
// wait for it. Fan-out directories (objects/ab) stay, even when empty.
func (s *Store) GC(ctx context.Context) (GCStats, error) {
	var stats GCStats
	err := s.write(ctx, func(tx *sql.Tx) error {
		keep, err := s.keptObjects(ctx, tx)
		if err != nil {
			return err
		}
		stats, err = s.sweepObjects(ctx, keep)
		return err
	})
	return stats, err
}

// keptObjects returns the digests GC must keep, after dropping the pins of
// closed-but-dead sessions.
func (s *Store) keptObjects(ctx context.Context, tx *sql.Tx) (map[Digest]bool, error) {
	if err := s.dropDeadPins(ctx, tx); err != nil {
		return nil, err
	}
	keep := map[Digest]bool{}
	for _, q := range []string{
		`SELECT digest FROM sources`,
		`SELECT digest FROM artifacts`,
		`SELECT digest FROM cache`,
		`SELECT digest FROM object_pins`,
	} {
		digests, err := collect(ctx, s, tx, "object references", func(sc scanner) (Digest, error) {
			var d Digest
			err := sc.Scan(&d)
			return d, err
		}, q)
		if err != nil {
			return nil, err
		}
		for _, d := range digests {
			keep[d] = true
		}
	}
	return keep, nil
}

type pinOwner struct {
	session string
	proc    process
	created time.Time
}

func (s *Store) dropDeadPins(ctx context.Context, tx *sql.Tx) error {
	owners, err := collect(ctx, s, tx, "object pins", func(sc scanner) (pinOwner, error) {
		var o pinOwner
		var created int64
		err := sc.Scan(&o.session, &o.proc.Host, &o.proc.PID, &o.proc.Start, &created)
		o.created = fromUnixNano(created)
		return o, err
	}, `SELECT session, host, pid, pid_start, max(created) FROM object_pins GROUP BY session, host, pid, pid_start`)
	if err != nil {
		return err
	}
	for _, o := range owners {
		if s.pinLive(o) {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM object_pins WHERE session = ?`, o.session); err != nil {
			return s.errorf("dropping stale object pins: %w", err)
		}
	}
	return nil
}

func (s *Store) pinLive(o pinOwner) bool {
	switch {
	case o.session == s.session:
		return true
	case o.proc.Host == s.self.Host:
		return o.proc.alive()
	default:
		return time.Since(o.created) < remotePinMaxAge
	}
}

// sweepObjects walks DIR/objects and removes what keep does not hold.
func (s *Store) sweepObjects(ctx context.Context, keep map[Digest]bool) (GCStats, error) {
	var stats GCStats
	root := filepath.Join(s.dir, ObjectsDir)
	fanouts, err := os.ReadDir(root)
	if err != nil {
		return stats, s.errorf("collecting garbage: %w", err)
	}
	for _, fo := range fanouts {
		if err := ctx.Err(); err != nil {
			return stats, err
		}
		path := filepath.Join(root, fo.Name())
		switch {
		case strings.HasPrefix(fo.Name(), tempPrefix):
			if removeIfOld(path, tempMaxAge) {
				stats.TempFiles++
			}
		case fo.IsDir() && len(fo.Name()) == 2:
			if err := s.sweepFanout(path, fo.Name(), keep, &stats); err != nil {
				return stats, err
			}
		}
	}
	return stats, nil
}

func (s *Store) sweepFanout(dir, prefix string, keep map[Digest]bool, stats *GCStats) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return s.errorf("collecting garbage: %w", err)
	}
	for _, e := range entries {
		d := Digest(digestPrefix + prefix + e.Name())
		if !d.Valid() || e.IsDir() || keep[d] {
			continue // not an object, or kept
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return s.errorf("collecting garbage: %w", err)
		}
		stats.Objects++
		stats.Bytes += info.Size()
	}
	return nil
}

func removeIfOld(path string, age time.Duration) bool {
	info, err := os.Lstat(path)
	if err != nil || time.Since(info.ModTime()) < age {
		return false
	}
	return os.Remove(path) == nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
