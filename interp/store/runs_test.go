package store

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestRunRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	r := mustBegin(t, s, sampleRun("quickstart"))
	if !regexp.MustCompile(`^\d{8}-\d{6}-[0-9a-f]{6}$`).MatchString(r.ID) {
		t.Errorf("record id %q does not look like 20261202-183012-a1b2c3", r.ID)
	}
	if r.Status != Running || r.PID != os.Getpid() || r.Host == "" || r.Started.IsZero() || r.Variant != NoVariant {
		t.Errorf("BeginRun did not fill the run: %+v", r)
	}
	src := []byte("mlpipe 1\n# quickstart\n")
	if err := s.AddSource(ctx, r.ID, "pipelines/quickstart.mlp", src); err != nil {
		t.Fatal(err)
	}
	df := DataFile{Path: "/usr/share/datasets/digits.idx", Digest: DigestOf([]byte("digits")), Size: 6}
	if err := s.AddDataFile(ctx, r.ID, df); err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 2, 18, 30, 12, 345678900, time.UTC)
	metrics := []Metric{
		{Stage: "fit", Name: "loss", Step: 0, Value: 2.5, Time: t0},
		{Stage: "fit", Name: "loss", Step: 1, Value: math.NaN(), Time: t0.Add(time.Second)},
		{Stage: "fit", Name: "loss", Step: 2, Value: math.Inf(1), Time: t0.Add(2 * time.Second)},
		{Stage: "score", Name: "accuracy", Step: FinalStep, Value: 0.9666, Time: t0.Add(3 * time.Second)},
	}
	if err := s.LogMetrics(ctx, r.ID, metrics); err != nil {
		t.Fatal(err)
	}
	weights := mustPut(t, s, "safetensors bytes")
	art := Artifact{Stage: "fit", Name: "model.safetensors", MediaType: "application/octet-stream", Digest: weights, Size: 17}
	if err := s.AddArtifact(ctx, r.ID, art); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishRun(ctx, r.ID, Done, ""); err != nil {
		t.Fatal(err)
	}

	got, err := s.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *r
	want.Status = Done
	want.Sources = []Source{{Path: "pipelines/quickstart.mlp", Digest: DigestOf(src)}}
	want.DataFiles = []DataFile{df}
	want.Artifacts = []Artifact{art}
	if got.Ended.Before(got.Started) || got.Ended.IsZero() {
		t.Errorf("Ended %v not after Started %v", got.Ended, got.Started)
	}
	if !sameTime(got.Started, r.Started) {
		t.Errorf("Started = %v, want %v", got.Started, r.Started)
	}
	gotMetrics := got.Metrics
	got.Metrics, got.Ended, got.Started = nil, time.Time{}, time.Time{}
	want.Metrics, want.Ended, want.Started = nil, time.Time{}, time.Time{}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("GetRun:\n got %+v\nwant %+v", *got, want)
	}
	checkMetrics(t, gotMetrics, metrics)
	if fm := (&Run{Metrics: gotMetrics}).FinalMetrics(); !reflect.DeepEqual(fm, map[string]float64{"score.accuracy": 0.9666}) {
		t.Errorf("FinalMetrics = %v", fm)
	}
	content, err := s.ReadObject(ctx, got.Sources[0].Digest)
	if err != nil || string(content) != string(src) {
		t.Errorf("source object = %q, %v", content, err)
	}

	listed, err := s.ListRuns(ctx, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(listed) != 1 || listed[0].Canonical != "" || listed[0].Metrics != nil || listed[0].Sources != nil ||
		!reflect.DeepEqual(listed[0].Params, r.Params) {
		t.Errorf("ListRuns = %+v, want one light run with params", listed)
	}
}

func checkMetrics(t *testing.T, got, want []Metric) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d metrics, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		sameValue := g.Value == w.Value || (math.IsNaN(g.Value) && math.IsNaN(w.Value))
		if g.Stage != w.Stage || g.Name != w.Name || g.Step != w.Step || !sameValue || !g.Time.Equal(w.Time) {
			t.Errorf("metric %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestWritesToUnknownRun(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	d := mustPut(t, s, "x")
	for name, call := range map[string]func() error{
		"AddSource":   func() error { return s.AddSource(ctx, "nope", "a.mlp", []byte("x")) },
		"AddDataFile": func() error { return s.AddDataFile(ctx, "nope", DataFile{Path: "a", Digest: d}) },
		"LogMetrics":  func() error { return s.LogMetrics(ctx, "nope", []Metric{{Name: "m"}}) },
		"AddArtifact": func() error { return s.AddArtifact(ctx, "nope", Artifact{Name: "a", Digest: d}) },
		"FinishRun":   func() error { return s.FinishRun(ctx, "nope", Done, "") },
	} {
		if err := call(); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s on an unknown run: %v, want ErrNotFound", name, err)
		}
	}
	r := mustBegin(t, s, sampleRun("e"))
	if err := s.FinishRun(ctx, r.ID, Running, ""); err == nil {
		t.Error("FinishRun accepted status running")
	}
	missing := DigestOf([]byte("never stored"))
	if err := s.AddArtifact(ctx, r.ID, Artifact{Name: "a", Digest: missing}); !errors.Is(err, ErrCorrupt) {
		t.Errorf("AddArtifact of a missing object: %v, want ErrCorrupt", err)
	}
}

func TestListRunsFilters(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	type spec struct {
		name, experiment, sweep string
		variant                 int
		status                  Status
		params                  map[string]string
	}
	specs := []spec{
		{"a", "quickstart", "", 0, Done, map[string]string{"lr": "0.1"}},
		{"b", "quickstart", "", 0, Failed, map[string]string{"lr": "0.2"}},
		{"c", "fashion", "grid1", 0, Done, map[string]string{"lr": "0.1", "hidden": "[64]"}},
		{"d", "fashion", "grid1", 1, Running, map[string]string{"lr": "0.2", "hidden": "[64]"}},
	}
	ids := map[string]string{} // spec name -> record id
	for _, sp := range specs {
		r := sampleRun(sp.experiment)
		r.Sweep, r.Variant, r.Params = sp.sweep, sp.variant, sp.params
		mustBegin(t, s, r)
		if sp.status != Running {
			if err := s.FinishRun(ctx, r.ID, sp.status, ""); err != nil {
				t.Fatal(err)
			}
		}
		ids[sp.name] = r.ID
		time.Sleep(2 * time.Millisecond) // distinct start times, for the order
	}
	tests := []struct {
		name   string
		filter Filter
		want   []string // newest first
	}{
		{"all", Filter{}, []string{"d", "c", "b", "a"}},
		{"experiment", Filter{Experiment: "quickstart"}, []string{"b", "a"}},
		{"status", Filter{Status: Done}, []string{"c", "a"}},
		{"param", Filter{Params: map[string]string{"lr": "0.1"}}, []string{"c", "a"}},
		{"two params", Filter{Params: map[string]string{"lr": "0.2", "hidden": "[64]"}}, []string{"d"}},
		{"sweep", Filter{Sweep: "grid1"}, []string{"d", "c"}},
		{"combined", Filter{Experiment: "fashion", Status: Done, Params: map[string]string{"lr": "0.1"}}, []string{"c"}},
		{"no match", Filter{Experiment: "fashion", Params: map[string]string{"lr": "0.3"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			runs, err := s.ListRuns(ctx, tt.filter)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range runs {
				for name, id := range ids {
					if id == r.ID {
						got = append(got, name)
					}
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
	runs, _ := s.ListRuns(ctx, Filter{Sweep: "grid1"})
	if runs[0].Variant != 1 || runs[1].Variant != 0 {
		t.Errorf("variants = %d, %d; want 1, 0", runs[0].Variant, runs[1].Variant)
	}
	notSwept, _ := s.ListRuns(ctx, Filter{Experiment: "quickstart"})
	if notSwept[0].Variant != NoVariant {
		t.Errorf("variant of a run outside a sweep = %d, want -1", notSwept[0].Variant)
	}
}

func TestGetRunPrefix(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	mk := func(runID string) *Run {
		r := sampleRun("e")
		r.RunID = runID
		return mustBegin(t, s, r)
	}
	one := mk(fakeRunID("1111aaaa"))
	twiceA := mk(fakeRunID("2222bbbb"))
	twiceB := mk(fakeRunID("2222bbbb"))
	mk(fakeRunID("1112cccc"))

	tests := []struct {
		name      string
		query     string
		want      string   // record id, when found
		ambiguous []string // record ids, when ambiguous
		notFound  bool
		tooShort  bool
	}{
		{name: "record id", query: one.ID, want: one.ID},
		{name: "record id prefix", query: one.ID[:len(one.ID)-1], want: one.ID},
		{name: "shared date prefix", query: one.ID[:8], ambiguous: nil},
		{name: "run id", query: one.RunID, want: one.ID},
		{name: "run id without sha256", query: strings.TrimPrefix(one.RunID, "sha256:"), want: one.ID},
		{name: "run id prefix", query: "1111a", want: one.ID},
		{name: "run id prefix with sha256", query: "sha256:1111", want: one.ID},
		{name: "shared run id", query: "2222bbbb", ambiguous: []string{twiceB.ID, twiceA.ID}},
		{name: "ambiguous prefix", query: "111", tooShort: true},
		{name: "ambiguous run id prefix", query: "sha256:111", tooShort: true},
		{name: "not found", query: "9999", notFound: true},
		{name: "not found record", query: "19700101-000000", notFound: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := s.GetRun(ctx, tt.query)
			var amb *AmbiguousError
			switch {
			case tt.want != "":
				if err != nil || r.ID != tt.want {
					t.Fatalf("GetRun(%q) = %v, %v; want %s", tt.query, r, err, tt.want)
				}
				if r.Canonical == "" || r.Params == nil {
					t.Errorf("GetRun did not load the run whole: %+v", r)
				}
			case tt.notFound:
				if !errors.Is(err, ErrNotFound) {
					t.Errorf("GetRun(%q) error = %v, want ErrNotFound", tt.query, err)
				}
			case tt.tooShort:
				if err == nil || !strings.Contains(err.Error(), "too short") {
					t.Errorf("GetRun(%q) error = %v, want too short", tt.query, err)
				}
			case errors.As(err, &amb):
				var got []string
				for _, m := range amb.Matches {
					got = append(got, m.ID)
					if !strings.Contains(err.Error(), m.ID) {
						t.Errorf("error %q does not list %s", err, m.ID)
					}
				}
				if tt.ambiguous != nil && !slices.Equal(got, tt.ambiguous) {
					t.Errorf("matches %v, want %v", got, tt.ambiguous)
				}
			default:
				t.Errorf("GetRun(%q) = %v, %v; want an *AmbiguousError", tt.query, r, err)
			}
		})
	}
}

func TestSchemaVersionNewer(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.db.ExecContext(ctx, `PRAGMA user_version = 99`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(ctx, dir)
	if !errors.Is(err, ErrNewerSchema) || !strings.Contains(err.Error(), "schema version 99") ||
		!strings.Contains(err.Error(), "newer mlpipe") || !strings.Contains(err.Error(), dir) {
		t.Errorf("Open of a newer store: %v", err)
	}
}

func TestOpenRefusesForeignFiles(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		prepare func(t *testing.T, dbPath string)
		want    string
	}{
		{"not a database", func(t *testing.T, dbPath string) {
			os.WriteFile(dbPath, []byte(strings.Repeat("this is not SQLite\n", 400)), 0o644)
		}, "not a"},
		{"another application", func(t *testing.T, dbPath string) {
			s, err := Open(ctx, filepath.Dir(dbPath))
			if err != nil {
				t.Fatal(err)
			}
			s.db.ExecContext(ctx, `PRAGMA application_id = 42`)
			s.Close()
		}, "another application"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			dbPath := filepath.Join(dir, DBName)
			tt.prepare(t, dbPath)
			s, err := Open(ctx, dir)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), dbPath) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open error %q should name %s and say %q", err, dbPath, tt.want)
			}
		})
	}
}

func TestReopenRun(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	r := mustBegin(t, s, sampleRun("e"))
	if err := s.ReopenRun(ctx, r.ID); err == nil {
		t.Error("ReopenRun reopened a run that is still running")
	}
	if err := s.FinishRun(ctx, r.ID, Interrupted, "interrupted"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReopenRun(ctx, r.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRun(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != Running || got.Error != "" || !got.Ended.IsZero() {
		t.Errorf("reopened run: status %s, error %q, ended %v; want running, no error, no end", got.Status, got.Error, got.Ended)
	}
	if err := s.ReopenRun(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("ReopenRun of an unknown run: %v, want ErrNotFound", err)
	}
}
