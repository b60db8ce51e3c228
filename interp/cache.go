package interp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrCacheMiss is returned by a Cache that holds no entry for a key.
var ErrCacheMiss = errors.New("not in the stage cache")

// Cache stores the encoded values of finished stages by key, so that a run
// of an unchanged stage reuses its result instead of computing it again.
// Implementations must be safe for concurrent use.
type Cache interface {
	// Get returns the encoded value stored under key, an error wrapping
	// ErrCacheMiss when there is none, or another error when the entry is
	// unreadable (corrupt, truncated); the stage then runs again.
	Get(ctx context.Context, key string) ([]byte, error)
	// Put stores an encoded value under e.Key.
	Put(ctx context.Context, e CacheEntry, data []byte) error
	// Last returns the entry most recently stored for the stage called
	// e.Stage in the same experiment, to explain why a stage ran again; an
	// error wrapping ErrCacheMiss when it never ran.
	Last(ctx context.Context, stage string) (*CacheEntry, error)
	// Delete forgets the entry under key, if there is one.
	Delete(ctx context.Context, key string) error
}

// CacheEntry describes a cached stage value: its key and what the key was
// made of.
type CacheEntry struct {
	Key       string
	Stage     string
	Component string // the outermost component of the stage ("train"), or ""
	// Ingredients is what the key was computed from (see StageKey).
	Ingredients map[string]string
}

// Codec encodes and decodes the values of one kind for the stage cache.
type Codec struct {
	// Version is the version of the encoding, part of every key: raise it
	// when the encoding changes. 0 means 1.
	Version int
	// Encode returns the bytes of v.
	Encode func(v Value) ([]byte, error)
	// Decode rebuilds a value from bytes written by Encode. The bytes come
	// from disk: a truncated or corrupt encoding must give an error, never
	// a panic.
	Decode func(data []byte) (Value, error)
}

// DataFile identifies a data file a component reads, by its contents.
type DataFile struct {
	Path   string // the file's path, or "embedded:NAME" for data inside mlpipe
	Digest string // "sha256:" and 64 hex digits of the contents
	Size   int64
}

// HashFile returns the DataFile of the file at path, hashing its contents.
func HashFile(ctx context.Context, path string) (DataFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return DataFile{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx: ctx, r: f})
	if err != nil {
		return DataFile{}, fmt.Errorf("reading %s: %w", path, err)
	}
	return DataFile{Path: path, Digest: "sha256:" + hex.EncodeToString(h.Sum(nil)), Size: n}, nil
}

// HashBytes returns the DataFile of data built into mlpipe, named name.
func HashBytes(name string, data []byte) DataFile {
	sum := sha256.Sum256(data)
	return DataFile{Path: "embedded:" + name, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(data))}
}

// ctxReader stops a long read when its context is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Outputter is a value that puts files into the run's output directory
// (a trained model's weights, say). The executor writes them whether the
// stage ran or was reused from the cache, so a run's directory is complete
// either way.
type Outputter interface {
	Outputs() ([]OutputFile, error)
}

// OutputFile is one file of an Outputter.
type OutputFile struct {
	Name      string // a local path inside the output directory
	MediaType string
	Data      []byte
}

// Measured is a value that carries metrics to record with the run: final
// figures (Step -1) and figures over time (an epoch's loss at Step epoch).
type Measured interface {
	Measurements() []Measurement
}

// Measurement is one figure of a Measured value.
type Measurement struct {
	Name  string
	Step  int64 // -1 for a final figure
	Value float64
}
