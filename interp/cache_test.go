package interp_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/mlpipe/mlpipe/interp"
	"github.com/mlpipe/mlpipe/lang"
	"github.com/mlpipe/mlpipe/parser"
)

// cacheWorld counts how often each fake component built.
type cacheWorld struct {
	mu     sync.Mutex
	builds map[string]int
}

func (w *cacheWorld) built(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.builds[name]++
}

// labelled is the value of the cache test's components.
type labelled struct {
	kind  lang.Kind
	label string
}

func (v *labelled) Type() lang.Type { return lang.ObjectOf(v.kind) }

type srcArgs struct {
	File string `mlp:"file" doc:"A file it reads." required:"true"`
}

type fitArgs struct {
	Data   interp.Value `mlp:"data,positional" doc:"The data." kind:"data"`
	Epochs int          `mlp:"epochs" doc:"Epochs." range:"[1,100]"`
}

type scoreArgs struct {
	Fit interp.Value `mlp:"fit,positional" doc:"A fit." kind:"trained"`
}

type showArgs struct {
	Score interp.Value `mlp:"score,positional" doc:"A score." kind:"metrics"`
}

// cacheRegistry has a data source that reads a file, a cacheable fit and
// score, and an uncached show.
func cacheRegistry(w *cacheWorld) *interp.Registry {
	r := interp.NewRegistry()
	interp.Register(r, interp.Def[srcArgs]{
		Name: "src", Category: lang.KindData, Doc: "Reads a file.", Result: lang.ObjectOf(lang.KindData),
		Build: func(ctx context.Context, env *interp.Env, a *srcArgs) (interp.Value, error) {
			w.built("src")
			data, err := os.ReadFile(a.File)
			if err != nil {
				return nil, err
			}
			return &labelled{lang.KindData, string(data)}, nil
		},
		Fingerprint: func(ctx context.Context, at lang.Span, a *srcArgs) ([]interp.DataFile, error) {
			f, err := interp.HashFile(ctx, a.File)
			return []interp.DataFile{f}, err
		},
	})
	interp.Register(r, interp.Def[fitArgs]{
		Name: "fit", Category: "stage", Doc: "Fits.", Result: lang.ObjectOf(lang.KindTrained), Defaults: fitArgs{Epochs: 1},
		Build: func(ctx context.Context, env *interp.Env, a *fitArgs) (interp.Value, error) {
			w.built("fit")
			return &labelled{lang.KindTrained, "fit of " + a.Data.(*labelled).label}, nil
		},
	})
	interp.Register(r, interp.Def[scoreArgs]{
		Name: "score", Category: "stage", Doc: "Scores.", Result: lang.ObjectOf(lang.KindMetrics),
		Build: func(ctx context.Context, env *interp.Env, a *scoreArgs) (interp.Value, error) {
			w.built("score")
			return &labelled{lang.KindMetrics, "score of " + a.Fit.(*labelled).label}, nil
		},
	})
	interp.Register(r, interp.Def[showArgs]{
		Name: "show", Category: "stage", Doc: "Shows.", Result: lang.ObjectOf(lang.KindReport),
		Build: func(ctx context.Context, env *interp.Env, a *showArgs) (interp.Value, error) {
			w.built("show")
			return &labelled{lang.KindReport, "shown " + a.Score.(*labelled).label}, nil
		},
	})
	for _, k := range []lang.Kind{lang.KindTrained, lang.KindMetrics} {
		r.RegisterCodec(k, interp.Codec{
			Encode: func(v interp.Value) ([]byte, error) { return []byte(v.(*labelled).label), nil },
			Decode: func(b []byte) (interp.Value, error) {
				if strings.HasPrefix(string(b), "corrupt") {
					return nil, errors.New("bad bytes")
				}
				return &labelled{k, string(b)}, nil
			},
		})
	}
	return r
}

// memCache is an in-memory interp.Cache.
type memCache struct {
	mu      sync.Mutex
	entries map[string][]byte
	last    map[string]interp.CacheEntry
}

func newMemCache() *memCache {
	return &memCache{entries: map[string][]byte{}, last: map[string]interp.CacheEntry{}}
}

func (c *memCache) Get(ctx context.Context, key string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.entries[key]
	if !ok {
		return nil, interp.ErrCacheMiss
	}
	return b, nil
}

func (c *memCache) Put(ctx context.Context, e interp.CacheEntry, data []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries[e.Key] = data
	c.last[e.Stage] = e
	return nil
}

func (c *memCache) Delete(ctx context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
	return nil
}

func (c *memCache) Last(ctx context.Context, stage string) (*interp.CacheEntry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.last[stage]
	if !ok {
		return nil, interp.ErrCacheMiss
	}
	return &e, nil
}

const cacheProgram = `mlpipe 1
experiment "cache" { version = "1" seed = 3 }
param epochs = 1
param file = "data.txt"
d = src(file: file)
f = fit(d, epochs: epochs)
s = score(f)
out = show(s)
`

// runCached checks and runs cacheProgram with overrides against cache and
// returns the stage reports by name.
func runCached(t *testing.T, w *cacheWorld, cache interp.Cache, sets map[string]string) (map[string]interp.StageReport, *interp.Results) {
	t.Helper()
	f, err := parser.Parse("cache.mlp", []byte(cacheProgram))
	if err != nil {
		t.Fatal(err)
	}
	prog := &lang.Program{Main: f, Files: []*lang.File{f}}
	var overrides []interp.Override
	for name, raw := range sets {
		e, err := parser.ParseExpr("--set "+name, raw)
		if err != nil {
			t.Fatal(err)
		}
		overrides = append(overrides, interp.Override{Name: name, Raw: raw, Expr: e})
	}
	checked, err := interp.Check(prog, cacheRegistry(w), interp.Config{Overrides: overrides})
	if err != nil {
		t.Fatal(err)
	}
	g, err := interp.Compile(checked)
	if err != nil {
		t.Fatal(err)
	}
	reports := map[string]interp.StageReport{}
	res, err := interp.Run(context.Background(), g, &interp.RunConfig{
		Cache:   cache,
		OnStage: func(r interp.StageReport) { reports[r.Name] = r },
	})
	if err != nil {
		t.Fatal(err)
	}
	return reports, res
}

func TestStageCache(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(file, []byte("v1"), 0o644); err != nil {
		t.Fatal(err)
	}
	cache := newMemCache()
	w := &cacheWorld{builds: map[string]int{}}
	quoted := `"` + file + `"`

	type want struct {
		status interp.StageStatus
		reason string // a substring of the reason
	}
	steps := []struct {
		name   string
		sets   map[string]string
		before func()
		want   map[string]want
		builds map[string]int // builds so far
	}{
		{
			name: "first run computes everything",
			want: map[string]want{
				"d":   {interp.StageRan, "data values are computed, not cached"},
				"f":   {interp.StageRan, "has not run before"},
				"s":   {interp.StageRan, "has not run before"},
				"out": {interp.StageRan, "report values are computed"},
			},
			builds: map[string]int{"src": 1, "fit": 1, "score": 1, "show": 1},
		},
		{
			name: "an unchanged re-run reuses fit and score and skips the data",
			want: map[string]want{
				"d":   {interp.StageSkipped, "not needed"},
				"f":   {interp.StageSkipped, "in the stage cache"},
				"s":   {interp.StageReused, "reused"},
				"out": {interp.StageRan, ""},
			},
			builds: map[string]int{"src": 1, "fit": 1, "score": 1, "show": 2},
		},
		{
			name: "a changed parameter re-runs its stage and those downstream",
			sets: map[string]string{"epochs": "2"},
			want: map[string]want{
				"d":   {interp.StageRan, ""},
				"f":   {interp.StageRan, "param epochs changed: 1 -> 2"},
				"s":   {interp.StageRan, "input f changed"},
				"out": {interp.StageRan, ""},
			},
			builds: map[string]int{"src": 2, "fit": 2, "score": 2, "show": 3},
		},
		{
			name: "going back to the first value reuses its entries",
			want: map[string]want{
				"d": {interp.StageSkipped, ""},
				"f": {interp.StageSkipped, "in the stage cache"},
				"s": {interp.StageReused, ""},
			},
			builds: map[string]int{"src": 2, "fit": 2, "score": 2, "show": 4},
		},
		{
			name:   "a changed data file re-runs everything that reads it",
			before: func() { os.WriteFile(file, []byte("v2"), 0o644) },
			want: map[string]want{
				"d": {interp.StageRan, ""},
				"f": {interp.StageRan, "input d changed"},
				"s": {interp.StageRan, "input f changed"},
			},
			builds: map[string]int{"src": 3, "fit": 3, "score": 3, "show": 5},
		},
		{
			name: "an unreadable cached value runs again",
			before: func() {
				for k, v := range cache.entries {
					if strings.HasPrefix(string(v), "score") {
						cache.entries[k] = []byte("corrupt")
					}
				}
			},
			want: map[string]want{
				"f": {interp.StageReused, ""},
				"s": {interp.StageRan, "unreadable (bad bytes)"},
			},
			builds: map[string]int{"src": 3, "fit": 3, "score": 4, "show": 6},
		},
	}
	for _, step := range steps {
		if step.before != nil {
			step.before()
		}
		sets := map[string]string{"file": quoted}
		for k, v := range step.sets {
			sets[k] = v
		}
		reports, res := runCached(t, w, cache, sets)
		for stage, wt := range step.want {
			r := reports[stage]
			if r.Status != wt.status || !strings.Contains(r.Reason, wt.reason) {
				t.Errorf("%s: stage %s: %s (%q), want %s (%q)", step.name, stage, r.Status, r.Reason, wt.status, wt.reason)
			}
		}
		for name, n := range step.builds {
			if w.builds[name] != n {
				t.Errorf("%s: %s built %d times in all, want %d", step.name, name, w.builds[name], n)
			}
		}
		if got := res.Values["out"].(*labelled).label; !strings.Contains(got, "fit of v") {
			t.Errorf("%s: out = %q", step.name, got)
		}
	}
}

func TestStageKeysIgnoreLayout(t *testing.T) {
	w := &cacheWorld{builds: map[string]int{}}
	keysOf := func(src string) map[string]string {
		checked := checkFake(t, cacheRegistry(w), src)
		g, err := interp.Compile(checked)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := g.Keys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for name, k := range keys {
			out[name] = k.Key
		}
		return out
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "x")
	os.WriteFile(file, []byte("x"), 0o644)
	a := keysOf("mlpipe 1\nexperiment \"k\" { version = \"1\" seed = 1 }\nd = src(file: \"" + file + "\")\nf = fit(d)\n")
	b := keysOf("mlpipe 1\n# a comment\nexperiment \"k\" { version = \"1\" seed = 1 }\nf = fit(d, epochs: 1)\n\nd = src(\n  file: \"" + file + "\",\n)\n")
	c := keysOf("mlpipe 1\nexperiment \"k\" { version = \"1\" seed = 2 }\nd = src(file: \"" + file + "\")\nf = fit(d)\n")
	if a["f"] != b["f"] || a["d"] != b["d"] {
		t.Errorf("layout, comments, order or spelling out a default changed the keys: %v vs %v", a, b)
	}
	if a["f"] == c["f"] {
		t.Errorf("a different seed kept the key of f")
	}
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		prev, cur map[string]string
		want      string
	}{
		{map[string]string{"arg lr": "0.1"}, map[string]string{"arg lr": "0.1"}, ""},
		{map[string]string{"arg lr": "0.1", "input d": "k1"}, map[string]string{"arg lr": "0.2", "input d": "k2"},
			"parameter lr changed: 0.1 -> 0.2; input d changed"},
		{map[string]string{"component fit": "1"}, map[string]string{"component fit": "2"}, "component fit's version changed: 1 -> 2"},
		{map[string]string{}, map[string]string{"data /x": "sha256:1"}, "data file /x is new (sha256:1)"},
		{
			map[string]string{"arg optimizer": "adam(lr: 0.001, beta1: 0.9, beta2: 0.999, eps: 1e-08, weight_decay: 0.0)"},
			map[string]string{"arg optimizer": "adam(lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-08, weight_decay: 0.0)"},
			"parameter optimizer changed: ...lr: 0.001... -> ...lr: 0.01...",
		},
	} {
		if got := interp.Explain(tc.prev, tc.cur); got != tc.want {
			t.Errorf("Explain(%v, %v) = %q, want %q", tc.prev, tc.cur, got, tc.want)
		}
	}
}
