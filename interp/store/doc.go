// Package store is mlpipe's embedded run store: the record of every run
// (pipeline, parameters, seed, versions, data fingerprints, status, metrics
// over time, artifacts) and the content-addressed stage cache.
//
// The package is a leaf. It knows runs, metrics, artifacts and cache entries
// as plain data and imports nothing else from mlpipe.
//
// # Layout
//
// A store is one directory:
//
//	DIR/mlpipe.db              SQLite database, schema version in PRAGMA user_version
//	DIR/mlpipe.db-wal, -shm    SQLite's write-ahead log and shared-memory index
//	DIR/objects/ab/cdef...     one file per object, named by the hex sha256 of its content
//	DIR/objects/.tmp-*         objects being written (removed by GC after an hour)
//
// Objects hold source files, artifacts (model weights, tables, plots) and
// cached stage outputs. An object's name is its content's sha256, so equal
// contents are stored once. A Digest names an object as "sha256:" followed by
// 64 lower-case hex digits.
//
// # Concurrency
//
// Any number of goroutines and processes may use one store at once. Every
// connection sets a busy timeout (60 s), so a writer waits for another
// writer instead of failing, and every write runs in an immediate
// transaction, so two writers never deadlock upgrading read locks. On a
// local file system the database is in WAL mode and readers never block
// writers. WAL only works between processes of one host, so on Linux a
// store on a network file system (NFS, Lustre, GPFS, BeeGFS, CephFS, SMB,
// FUSE) uses a rollback journal instead, which relies on the file system's
// POSIX locks; such a store is as safe as those locks are (see
// https://www.sqlite.org/useovernet.html). A Store is safe for concurrent
// use.
//
// # Crash guarantees
//
// The database runs with synchronous=FULL: a call that returned nil has
// reached the disk, and a process killed at any point (SIGKILL included)
// leaves every committed transaction intact and none half-applied. A batch
// of metrics given to LogMetrics is committed whole or not at all.
//
// An object is written to a temporary file in DIR/objects, fsynced, renamed
// to its final name, and its directory is fsynced, so an object file either
// has its whole content or does not exist. Objects are written before the
// rows that refer to them, so a crash leaves at worst an unreferenced object,
// which GC removes. Every read of an object checks its content against its
// name; a corrupt, truncated or missing object is reported with an error
// wrapping ErrCorrupt and is never returned as if it were good.
//
// A run whose process died without calling FinishRun (SIGKILL, power loss,
// OOM killer) is left Running in the database. Open finds such runs started
// on the same host whose process is gone, or whose PID now belongs to a
// different process (told apart by the process start time from
// /proc/PID/stat), and marks them Interrupted with the error "process died".
// Runs started on other hosts are left alone, since their processes cannot
// be checked from here.
//
// # Garbage collection
//
// Objects are never removed while anything refers to them: a run's source
// file, a run's artifact or a cache entry. GC removes every other object,
// except objects that a still-open Store (in this or another live process)
// wrote and may be about to refer to; see GC for the details.
package store
