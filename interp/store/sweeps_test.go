package store

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestSweepRecordAndProgress(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	sw := &Sweep{ID: "grid-0123456789ab", SweepID: fakeRunID("s"), Name: "grid", Experiment: "e", Pipeline: "/p.mlp",
		Args: []string{"--set", "epochs=2"}, Axes: []string{"lr"}, Variants: 3, Executor: "local", OutDir: "/out"}
	if err := s.PutSweep(ctx, sw); err != nil {
		t.Fatal(err)
	}
	sw.Executor, sw.Job = "slurm", "42"
	if err := s.PutSweep(ctx, sw); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetSweep(ctx, sw.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Executor != "slurm" || got.Job != "42" || !slices.Equal(got.Args, sw.Args) || got.Variants != 3 {
		t.Errorf("sweep read back as %+v", got)
	}
	if latest, err := s.LatestSweep(ctx); err != nil || latest.ID != sw.ID || !slices.Equal(latest.Axes, sw.Axes) {
		t.Errorf("LatestSweep: %+v, %v", latest, err)
	}
	if _, err := s.GetSweep(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("GetSweep(nope): %v, want ErrNotFound", err)
	}

	// Variant 0 failed, then ran again and is done; variant 2 is running;
	// variant 1 never ran.
	for _, step := range []struct {
		variant int
		status  Status
	}{{0, Failed}, {0, Done}, {2, Running}} {
		r := sampleRun("e")
		r.Sweep, r.Variant = sw.ID, step.variant
		mustBegin(t, s, r)
		if step.status != Running {
			if err := s.FinishRun(ctx, r.ID, step.status, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	progress, err := s.SweepProgress(ctx, sw.ID, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []Status{Done, "", Running}
	for i, p := range progress {
		if p.Variant != i || p.Status != want[i] {
			t.Errorf("variant %d: %+v, want status %q", i, p, want[i])
		}
	}
}
