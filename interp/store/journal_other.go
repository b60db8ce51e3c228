//go:build !linux

package store

// journalMode returns the journal mode for a store in dir: WAL, since
// network file systems are only detected on Linux.
func journalMode(dir string) string { return "WAL" }
