package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Digest names an object by its content: "sha256:" followed by the 64
// lower-case hex digits of the content's SHA-256.
type Digest string

const digestPrefix = "sha256:"

// tempPrefix starts the names of objects being written in DIR/objects.
const tempPrefix = ".tmp-"

// DigestOf returns the digest of data.
func DigestOf(data []byte) Digest {
	sum := sha256.Sum256(data)
	return Digest(digestPrefix + hex.EncodeToString(sum[:]))
}

// Valid reports whether d has the form "sha256:" + 64 lower-case hex digits.
func (d Digest) Valid() bool {
	h, ok := strings.CutPrefix(string(d), digestPrefix)
	if !ok || len(h) != sha256.Size*2 {
		return false
	}
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Hex returns the hex digits of d without the "sha256:" prefix.
func (d Digest) Hex() string { return strings.TrimPrefix(string(d), digestPrefix) }

// ObjectPath returns the file that holds (or would hold) the object d:
// DIR/objects/ab/cdef... for the hex digest abcdef.... It returns "" for a
// malformed digest. The file is not checked; use ReadObject or OpenObject to
// read it verified.
func (s *Store) ObjectPath(d Digest) string {
	if !d.Valid() {
		return ""
	}
	h := d.Hex()
	return filepath.Join(s.dir, ObjectsDir, h[:2], h[2:])
}

// PutObject stores the content read from r and returns its digest and size.
// Storing content that is already there is cheap and leaves one copy; an
// existing copy that is corrupt is replaced. The object is protected from GC
// until this Store is closed, so the caller can refer to it (AddArtifact,
// CachePut) in a later call.
func (s *Store) PutObject(ctx context.Context, r io.Reader) (Digest, int64, error) {
	tmp, err := os.CreateTemp(filepath.Join(s.dir, ObjectsDir), tempPrefix+"*")
	if err != nil {
		return "", 0, s.errorf("writing object: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	size, err := io.Copy(io.MultiWriter(tmp, h), contextReader{ctx, r})
	if err != nil {
		return "", 0, s.errorf("writing object %s: %w", tmp.Name(), err)
	}
	d := Digest(digestPrefix + hex.EncodeToString(h.Sum(nil)))
	// Pin before the object appears under its name, so a concurrent GC
	// either sees the pin or has finished before the object exists.
	if err := s.pin(ctx, d); err != nil {
		return "", 0, err
	}
	final := s.ObjectPath(d)
	if s.verifyFile(d, final) == nil {
		return d, size, nil
	}
	if err := s.install(tmp, final); err != nil {
		return "", 0, err
	}
	committed = true
	return d, size, nil
}

// install makes the written temporary file durable and renames it to its
// final name.
func (s *Store) install(tmp *os.File, final string) error {
	if err := tmp.Sync(); err != nil {
		return s.errorf("syncing object %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return s.errorf("closing object %s: %w", tmp.Name(), err)
	}
	dir := filepath.Dir(final)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return s.errorf("writing object: %w", err)
	}
	if err := os.Rename(tmp.Name(), final); err != nil {
		os.Remove(tmp.Name())
		return s.errorf("writing object: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return s.errorf("syncing %s: %w", dir, err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil && !errors.Is(err, errors.ErrUnsupported) {
		return err
	}
	return nil
}

// PutBytes stores data as an object and returns its digest; see PutObject.
func (s *Store) PutBytes(ctx context.Context, data []byte) (Digest, error) {
	d, _, err := s.PutObject(ctx, bytes.NewReader(data))
	return d, err
}

// ReadObject returns the content of the object d after checking it against
// d. A corrupt, truncated or missing object gives an error wrapping
// ErrCorrupt (a missing one also wraps fs.ErrNotExist).
func (s *Store) ReadObject(ctx context.Context, d Digest) ([]byte, error) {
	path, err := s.objectPathChecked(d)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, s.objectReadError(d, path, err)
	}
	if got := DigestOf(data); got != d {
		return nil, s.corruptError(d, path, fmt.Sprintf("content hashes to %s (%d bytes)", got, len(data)))
	}
	return data, nil
}

// OpenObject opens the object d for streaming. The content is checked
// against d as it is read: the Read that reaches the end returns an error
// wrapping ErrCorrupt instead of io.EOF if the content does not match, so a
// reader that reads to io.EOF has read exactly the stored content. A
// missing object gives an error wrapping ErrCorrupt at once.
func (s *Store) OpenObject(ctx context.Context, d Digest) (io.ReadCloser, error) {
	path, err := s.objectPathChecked(d)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, s.objectReadError(d, path, err)
	}
	return &verifyingReader{s: s, f: f, h: sha256.New(), want: d, path: path}, nil
}

type verifyingReader struct {
	s    *Store
	f    *os.File
	h    hash.Hash
	n    int64
	want Digest
	path string
	err  error // sticky result once the end was reached
}

func (r *verifyingReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.f.Read(p)
	r.h.Write(p[:n])
	r.n += int64(n)
	if err == io.EOF {
		r.err = io.EOF
		if got := Digest(digestPrefix + hex.EncodeToString(r.h.Sum(nil))); got != r.want {
			r.err = r.s.corruptError(r.want, r.path, fmt.Sprintf("content hashes to %s (%d bytes)", got, r.n))
		}
		return n, r.err
	}
	if err != nil {
		return n, r.s.errorf("reading object %s: %w", r.path, err)
	}
	return n, nil
}

func (r *verifyingReader) Close() error { return r.f.Close() }

// verifyFile checks that the file at path holds exactly the object d.
func (s *Store) verifyFile(d Digest, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return s.objectReadError(d, path, err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return s.errorf("reading object %s: %w", path, err)
	}
	if got := Digest(digestPrefix + hex.EncodeToString(h.Sum(nil))); got != d {
		return s.corruptError(d, path, fmt.Sprintf("content hashes to %s (%d bytes)", got, n))
	}
	return nil
}

func (s *Store) objectPathChecked(d Digest) (string, error) {
	path := s.ObjectPath(d)
	if path == "" {
		return "", s.errorf("malformed object digest %q (want sha256:<64 hex digits>)", string(d))
	}
	return path, nil
}

func (s *Store) objectReadError(d Digest, path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("store %s: object %s is missing (%s): %w (%w)", s.dir, d, path, ErrCorrupt, fs.ErrNotExist)
	}
	return s.errorf("reading object %s: %w", path, err)
}

func (s *Store) corruptError(d Digest, path, detail string) error {
	return fmt.Errorf("store %s: object %s (%s) is damaged: %s: %w", s.dir, d, path, detail, ErrCorrupt)
}

// pin records that this Store wrote d, protecting it from GC until Close.
func (s *Store) pin(ctx context.Context, d Digest) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO object_pins (digest, session, host, pid, pid_start, created)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (digest, session) DO NOTHING`,
			string(d), s.session, s.self.Host, s.self.PID, s.self.Start, time.Now().UnixNano())
		if err != nil {
			return s.errorf("pinning object %s: %w", d, err)
		}
		return nil
	})
}

// contextReader stops a copy when its context is done.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
