package interp

import (
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
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
	dir := e.OutDir()
	if dir == "" {
		return "", fmt.Errorf("this run has no output directory")
	}
	if !filepath.IsLocal(name) {
		return "", fmt.Errorf("output name %q leaves the output directory", name)
	}
	if err := e.cfg.claim(name, e.Stage); err != nil {
		return "", err
	}
	path := filepath.Join(dir, name)
	return path, WriteFileAtomic(path, data)
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
