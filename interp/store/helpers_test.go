package store

import (
	"context"
	"strings"
	"testing"
	"time"
)

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// fakeRunID returns a "sha256:" id starting with prefix.
func fakeRunID(prefix string) string {
	return "sha256:" + prefix + strings.Repeat("0", 64-len(prefix))
}

func sampleRun(experiment string) *Run {
	return &Run{
		RunID:             fakeRunID("abcd"),
		DefinitionID:      fakeRunID("def0"),
		Experiment:        experiment,
		ExperimentVersion: "1",
		Seed:              7,
		MlpipeVersion:     "0.4.0",
		Backend:           "gonum",
		Canonical:         "mlpipe 1\ndata = digits()\n",
		Params:            map[string]string{"lr": "0.1", "hidden": "[64]"},
		OutDir:            "runs/" + experiment,
	}
}

func mustBegin(t *testing.T, s *Store, r *Run) *Run {
	t.Helper()
	if err := s.BeginRun(context.Background(), r); err != nil {
		t.Fatalf("BeginRun: %v", err)
	}
	return r
}

func mustPut(t *testing.T, s *Store, data string) Digest {
	t.Helper()
	d, err := s.PutBytes(context.Background(), []byte(data))
	if err != nil {
		t.Fatalf("PutBytes: %v", err)
	}
	return d
}

func sameTime(a, b time.Time) bool { return a.Equal(b) }
