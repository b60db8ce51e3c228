package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/interp/store"
	"github.com/mlpipe/mlpipe/lang"
)

// storeEnv names the environment variable that, when set, names the run
// store of every command that has no --store flag.
const storeEnv = "MLPIPE_STORE"

// defaultStoreDir is where a pipeline's runs are recorded unless --store
// says otherwise: $MLPIPE_STORE if set, else .mlpipe beside the pipeline
// file.
func defaultStoreDir(pipeline string) string {
	if d := os.Getenv(storeEnv); d != "" {
		return d
	}
	return filepath.Join(filepath.Dir(pipeline), ".mlpipe")
}

// storeCache is the stage cache of one experiment, kept in a run store.
type storeCache struct {
	st         *store.Store
	experiment string
	record     string // the record id of the run that stores entries
}

// Get returns the cached bytes for key, verified against their digest.
func (c *storeCache) Get(ctx context.Context, key string) ([]byte, error) {
	e, err := c.st.CacheGet(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, interp.ErrCacheMiss
	}
	if err != nil {
		return nil, err
	}
	return c.st.ReadObject(ctx, e.Digest)
}

// Put stores data as the value of e.Key.
func (c *storeCache) Put(ctx context.Context, e interp.CacheEntry, data []byte) error {
	d, err := c.st.PutBytes(ctx, data)
	if err != nil {
		return err
	}
	return c.st.CachePut(ctx, store.CacheEntry{
		Key: e.Key, Experiment: c.experiment, Stage: e.Stage, Component: e.Component,
		Digest: d, Size: int64(len(data)), Ingredients: e.Ingredients, RunID: c.record,
	})
}

// Delete forgets the entry under key.
func (c *storeCache) Delete(ctx context.Context, key string) error {
	err := c.st.CacheDelete(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	return err
}

// Last returns the entry last stored for stage in this experiment.
func (c *storeCache) Last(ctx context.Context, stage string) (*interp.CacheEntry, error) {
	e, err := c.st.CacheLast(ctx, c.experiment, stage)
	if errors.Is(err, store.ErrNotFound) {
		return nil, interp.ErrCacheMiss
	}
	if err != nil {
		return nil, err
	}
	return &interp.CacheEntry{Key: e.Key, Stage: e.Stage, Component: e.Component, Ingredients: e.Ingredients}, nil
}

// recorder writes what a run produces into its record: output files as
// artifacts and measurements as metrics. A failure to record does not stop
// the run; the first one is reported at its end.
type recorder struct {
	st     *store.Store
	record string
	warn   io.Writer

	mu       sync.Mutex
	firstErr error
}

func (r *recorder) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.firstErr == nil {
		r.firstErr = err
		fmt.Fprintf(r.warn, "mlpipe: warning: the run record is incomplete: %v\n", err)
	}
}

// output records a file a stage wrote as an artifact.
func (r *recorder) output(o interp.Output) {
	ctx := context.Background()
	d, err := r.st.PutBytes(ctx, o.Data)
	if err == nil {
		err = r.st.AddArtifact(ctx, r.record, store.Artifact{Stage: o.Stage, Name: o.Name, MediaType: o.MediaType, Digest: d, Size: int64(len(o.Data))})
	}
	if err != nil {
		r.fail(err)
	}
}

// measure records a stage's measurements as metrics.
func (r *recorder) measure(stage string, ms []interp.Measurement) {
	out := make([]store.Metric, len(ms))
	for i, m := range ms {
		out[i] = store.Metric{Stage: stage, Name: m.Name, Step: m.Step, Value: m.Value}
	}
	if err := r.st.LogMetrics(context.Background(), r.record, out); err != nil {
		r.fail(err)
	}
}

// beginRecord starts the record of a run of checked in st: ids, canonical
// form, params, source files and data fingerprints.
//
// sweep and variant, when sweep is not "", say which variant of which sweep
// the run is.
func beginRecord(ctx context.Context, st *store.Store, checked *interp.Checked, sources lang.Sources, keys map[string]*interp.StageKey, outDir, backend, sweep string, variant int) (*store.Run, error) {
	def := interp.DefinitionID(checked)
	run := &store.Run{
		RunID:             interp.RunID(def, checked.Experiment.Seed, Version),
		DefinitionID:      def,
		Experiment:        checked.Experiment.Name,
		ExperimentVersion: checked.Experiment.Version,
		Seed:              checked.Experiment.Seed,
		MlpipeVersion:     Version,
		Backend:           backend,
		Canonical:         interp.Canonical(checked),
		Params:            map[string]string{},
		Sweep:             sweep,
		Variant:           variant,
		OutDir:            outDir,
	}
	for _, p := range checked.Params {
		run.Params[p.Name] = lang.FormatValue(p.Value)
	}
	if err := st.BeginRun(ctx, run); err != nil {
		return nil, err
	}
	files := make([]string, 0, len(sources))
	for f := range sources {
		files = append(files, f)
	}
	sort.Strings(files)
	for _, f := range files {
		if err := st.AddSource(ctx, run.ID, f, sources[f]); err != nil {
			return run, err
		}
	}
	seen := map[string]bool{}
	for _, name := range sortedKeyNames(keys) {
		for _, f := range keys[name].DataFiles {
			if seen[f.Path] {
				continue
			}
			seen[f.Path] = true
			if err := st.AddDataFile(ctx, run.ID, store.DataFile{Path: f.Path, Digest: store.Digest(f.Digest), Size: f.Size}); err != nil {
				return run, err
			}
		}
	}
	return run, nil
}

func sortedKeyNames(keys map[string]*interp.StageKey) []string {
	names := make([]string, 0, len(keys))
	for n := range keys {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
