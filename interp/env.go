package interp

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/mlpipe/mlpipe/lang"
)

// Progress reports the advance of a long computation, such as training.
type Progress interface {
	// Add advances the count by n and shows status (for example the loss).
	Add(n int64, status string)
	// Finish ends the display.
	Finish()
}

// ProgressFunc starts a progress display for a stage: total units of work,
// named by unit ("batch", "sample").
type ProgressFunc func(stage string, total int64, unit string) Progress

// Env is what a component sees of the run while it builds: its place in
// the pipeline, its seed, where to write and how to report.
type Env struct {
	// Stage is the name of the binding being computed.
	Stage string
	// Path locates the call within its binding: "fit", "fit.loss",
	// "score.metrics[1]".
	Path string
	// Span is the call's source position.
	Span lang.Span
	// Experiment is the checked experiment block.
	Experiment Experiment
	// Params holds the final value of every param (defaults and --set
	// overrides). It must not be modified.
	Params map[string]any

	cfg  *RunConfig
	seed int64
	// stageKey is the cache key of the stage, "" when the run has no
	// cache; checkpoints records the checkpoint keys saved.
	stageKey    string
	checkpoints *checkpointSet
}

// checkpointSet collects the checkpoint keys a stage saved, to forget them
// once the stage's value is cached.
type checkpointSet struct {
	mu   sync.Mutex
	keys []string
}

func (s *checkpointSet) add(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.keys, key) {
		s.keys = append(s.keys, key)
	}
}

// checkpointKey is the cache key of the checkpoint of the call at e.Path.
func (e *Env) checkpointKey() string {
	return hashText("checkpoint\n" + e.stageKey + "\n" + e.Path)
}

// Checkpointing reports whether SaveCheckpoint keeps checkpoints in this
// run (it has a stage cache), so that a component can skip encoding them.
func (e *Env) Checkpointing() bool {
	return e.cfg != nil && e.cfg.Cache != nil && e.stageKey != ""
}

// SaveCheckpoint stores data as the checkpoint of this call, replacing the
// one before: if the run stops (Ctrl-C, a crash) and the same stage runs
// again with the same key, Checkpoint gives it back, so a long computation
// such as training continues where it stopped. It does nothing in a run
// without a stage cache. The checkpoint is forgotten once the stage's value
// is cached.
func (e *Env) SaveCheckpoint(ctx context.Context, data []byte) error {
	if !e.Checkpointing() {
		return nil
	}
	key := e.checkpointKey()
	if err := e.cfg.Cache.Put(ctx, CacheEntry{Key: key, Stage: e.Stage + "#checkpoint", Ingredients: map[string]string{"stage": e.stageKey, "path": e.Path}}, data); err != nil {
		return err
	}
	e.checkpoints.add(key)
	return nil
}

// Checkpoint returns the checkpoint SaveCheckpoint stored for this call in
// an earlier, unfinished run of the same stage, and whether there is one.
// An unreadable checkpoint is reported in the log and treated as none.
func (e *Env) Checkpoint(ctx context.Context) ([]byte, bool) {
	if !e.Checkpointing() {
		return nil, false
	}
	data, err := e.cfg.Cache.Get(ctx, e.checkpointKey())
	if err != nil {
		if !errors.Is(err, ErrCacheMiss) {
			e.Logf("warning: its checkpoint is unreadable (%v); starting afresh", err)
		}
		return nil, false
	}
	e.checkpoints.add(e.checkpointKey())
	return data, true
}

// Seed returns the seed for this call: derived from the experiment seed and
// the call's path, so each stage has its own stream, stable across runs and
// independent of the order in which stages run.
func (e *Env) Seed() int64 { return e.seed }

// DeriveSeed returns the seed for the call at path in an experiment with
// seed base: FNV-1a of "base/path", reduced to a non-negative int64.
func DeriveSeed(base int64, path string) int64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", base, path)
	return int64(h.Sum64() >> 1)
}

// Stdout is where components print results meant for the user (tables).
// Each Write reaches the run's output whole, never interleaved with another
// stage's: write a table in one call.
func (e *Env) Stdout() io.Writer {
	if e.cfg == nil || e.cfg.Stdout == nil {
		return io.Discard
	}
	return lockedWriter{mu: &e.cfg.logMu, w: e.cfg.Stdout}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// Logf writes one line of log output, prefixed with the stage name.
func (e *Env) Logf(format string, args ...any) {
	if e.cfg == nil || e.cfg.Log == nil {
		return
	}
	e.cfg.logMu.Lock()
	defer e.cfg.logMu.Unlock()
	fmt.Fprintf(e.cfg.Log, "%s: %s\n", e.Stage, fmt.Sprintf(format, args...))
}

// Progress starts a progress display for this stage. It never returns nil.
func (e *Env) Progress(total int64, unit string) Progress {
	if e.cfg == nil || e.cfg.Progress == nil {
		return nopProgress{}
	}
	return e.cfg.Progress(e.Stage, total, unit)
}

type nopProgress struct{}

func (nopProgress) Add(int64, string) {}
func (nopProgress) Finish()           {}

// OutDir returns the run's output directory ("" when the run writes no
// files).
func (e *Env) OutDir() string {
	if e.cfg == nil {
		return ""
	}
	return e.cfg.OutDir
}

// WriteFile writes data to name inside the run's output directory
// atomically: to a temporary file in the same directory, synced, then
// renamed, so an interrupted run never leaves a half-written file. It
// returns the path written.
func (e *Env) WriteFile(name string, data []byte) (string, error) {
	if e.OutDir() == "" {
		return "", fmt.Errorf("this run has no output directory")
	}
	return e.cfg.writeOutput(e.Stage, name, "", data)
}

// writeOutput writes a stage's output file atomically into the output
// directory, refusing a name another stage wrote, and reports it.
func (c *RunConfig) writeOutput(stage, name, mediaType string, data []byte) (string, error) {
	if !filepath.IsLocal(name) {
		return "", fmt.Errorf("output name %q leaves the output directory", name)
	}
	if err := c.claim(name, stage); err != nil {
		return "", err
	}
	path := filepath.Join(c.OutDir, name)
	if err := WriteFileAtomic(path, data); err != nil {
		return "", err
	}
	if c.OnOutput != nil {
		c.OnOutput(Output{Stage: stage, Name: name, Path: path, MediaType: mediaType, Data: data})
	}
	return path, nil
}

// Output is a file a stage wrote into the run's output directory.
type Output struct {
	Stage     string
	Name      string // its name inside the output directory
	Path      string // where it was written
	MediaType string // "" when unknown
	Data      []byte
}

// stageDone reports a stage's end.
func (c *RunConfig) stageDone(r *StageReport) {
	if c.OnStage != nil {
		c.logMu.Lock()
		defer c.logMu.Unlock()
		c.OnStage(*r)
	}
}

// logf writes a log line.
func (c *RunConfig) logf(format string, args ...any) {
	if c.Log == nil {
		return
	}
	c.logMu.Lock()
	defer c.logMu.Unlock()
	fmt.Fprintf(c.Log, format+"\n", args...)
}

// WriteFileAtomic writes data to path through a temporary file in the same
// directory and a rename, creating the directory if needed. The file gets
// mode 0644.
func WriteFileAtomic(path string, data []byte) error {
	return WriteFileAtomicPerm(path, data, 0o644)
}

// WriteFileAtomicPerm is WriteFileAtomic with the file mode perm.
func WriteFileAtomicPerm(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, perm)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// RunConfig holds the options of Run.
type RunConfig struct {
	// OutDir is the run's output directory; "" writes no files.
	OutDir string
	// Stdout receives tables and reports; nil discards them.
	Stdout io.Writer
	// Log receives log lines; nil discards them.
	Log io.Writer
	// Progress starts progress displays; nil shows none.
	Progress ProgressFunc
	// Parallel is the most stages run at once; 0 means 1.
	Parallel int
	// Cache, if set, is the stage cache: cacheable stages whose key it
	// holds are reused, and the others are stored in it once they ran.
	Cache Cache
	// Keys holds the stages' keys from Graph.Keys; when nil and Cache is
	// set, Run computes them.
	Keys map[string]*StageKey
	// OnStage, if set, is called as each stage ends: ran, reused or
	// skipped. Calls do not overlap.
	OnStage func(StageReport)
	// OnOutput, if set, is called for every file a stage writes into
	// OutDir. Calls may overlap.
	OnOutput func(Output)
	// OnMeasure, if set, receives the measurements of every stage value
	// that carries them (see Measured). Calls may overlap.
	OnMeasure func(stage string, ms []Measurement)

	logMu   sync.Mutex
	claimMu sync.Mutex
	written map[string]string // output file name -> the stage that wrote it
}

// claim records that stage writes name, refusing a name another stage of
// the run has written: two stages must not overwrite each other's results.
func (c *RunConfig) claim(name, stage string) error {
	c.claimMu.Lock()
	defer c.claimMu.Unlock()
	key := filepath.Clean(name)
	if prev, ok := c.written[key]; ok && prev != stage {
		return fmt.Errorf("output file %s is already written by stage %s; give one of them another name", name, prev)
	}
	if c.written == nil {
		c.written = map[string]string{}
	}
	c.written[key] = stage
	return nil
}
