package bench

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestThreadSettings(t *testing.T) {
	m := mlpipeVariant(2)
	if got := m.settings(); !slices.Equal(got, []string{"GOMAXPROCS=2", "OPENBLAS_NUM_THREADS=2", "OMP_NUM_THREADS unset"}) {
		t.Errorf("mlpipe at 2: %q", got)
	}
	one := torchVariants(1, 4)
	if len(one) != 1 || !slices.Equal(one[0].settings(), []string{"OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1", "GOMAXPROCS unset"}) {
		t.Errorf("torch at 1: %+v", one)
	}
	all := torchVariants(4, 4)
	if len(all) != 2 || all[0].label != "default" || len(all[0].set) != 0 || all[1].label != "OMP 1 + BLAS 4" {
		t.Errorf("torch at all cores: %+v", all)
	}
	if got := all[1].settings(); !slices.Equal(got, []string{"OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=4", "GOMAXPROCS unset"}) {
		t.Errorf("torch best at 4: %q", got)
	}
	mid := torchVariants(2, 4)
	if len(mid) != 2 || mid[0].label != "OMP 2 + BLAS 2" || mid[1].label != "OMP 1 + BLAS 2" {
		t.Errorf("torch at 2 of 4: %+v", mid)
	}
}

func TestChildEnv(t *testing.T) {
	base := []string{"PATH=/bin", "OPENBLAS_CORETYPE=Haswell", "OPENBLAS_L2_SIZE=1", "OMP_NUM_THREADS=8", "GOMAXPROCS=8", "HOME=/root"}
	env := childEnv(base, mlpipeVariant(1))
	want := []string{"PATH=/bin", "OPENBLAS_CORETYPE=Haswell", "OPENBLAS_L2_SIZE=1", "HOME=/root", "GOMAXPROCS=1", "OPENBLAS_NUM_THREADS=1"}
	if !slices.Equal(env, want) {
		t.Errorf("mlpipe env %q, want %q", env, want)
	}
	env = childEnv(base, torchVariants(2, 2)[0]) // PyTorch's default: no thread variables
	want = []string{"PATH=/bin", "OPENBLAS_CORETYPE=Haswell", "OPENBLAS_L2_SIZE=1", "HOME=/root"}
	if !slices.Equal(env, want) {
		t.Errorf("torch default env %q, want %q", env, want)
	}
	// No setting ever touches the core type or cache size.
	for _, v := range append(torchVariants(3, 8), append(torchVariants(1, 8), torchVariants(8, 8)...)...) {
		for _, s := range append(v.settings(), mlpipeVariant(3).settings()...) {
			if strings.HasPrefix(s, "OPENBLAS_CORETYPE") || strings.HasPrefix(s, "OPENBLAS_L2_SIZE") {
				t.Errorf("a setting touches %s", s)
			}
		}
	}
}

func TestParseResult(t *testing.T) {
	r, err := ParseResult([]byte("log line\n{\"ms_per_step\": 2.5, \"steps\": 10, \"seconds\": 0.03, \"extra\": {\"gflops\": 100}}\n\n"))
	if err != nil || r.MsPerStep != 2.5 || r.Steps != 10 || r.Extra["gflops"] != 100 {
		t.Errorf("ParseResult = %+v, %v", r, err)
	}
	r, err = ParseResult([]byte(`{"unavailable": "no BLAS"}`))
	if err != nil || r.Unavailable != "no BLAS" {
		t.Errorf("unavailable: %+v, %v", r, err)
	}
	for _, bad := range []string{"", "not json", `{"ms_per_step": 0, "steps": 1, "seconds": 1}`, `{"ms_per_step": 1, "steps": 0, "seconds": 1}`, `{"ms_per_step": 1, "steps": 1, "seconds": 1, "other": 2}`} {
		if _, err := ParseResult([]byte(bad)); err == nil {
			t.Errorf("ParseResult(%q) accepted", bad)
		}
	}
}

// TestPeerMissing checks that Run without Python times mlpipe alone and
// says how to install PyTorch. The worker is a shell script printing a
// fixed result, so no mlpipe binary is needed.
func TestPeerMissing(t *testing.T) {
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh")
	}
	dir := t.TempDir()
	worker := filepath.Join(dir, "worker")
	script := "#!/bin/sh\nif [ \"$2\" = --describe ]; then echo fake mlpipe; exit 0; fi\n" +
		"echo '{\"ms_per_step\": 1.5, \"steps\": 3, \"seconds\": 0.005, \"extra\": {\"gflops\": 1}}'\n"
	if err := os.WriteFile(worker, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	w, _ := Lookup("mlp_step")
	r, err := Run(context.Background(), Config{
		Worker: []string{worker}, Python: filepath.Join(dir, "no-python"), Repeats: 2, Threads: []int{1},
		Workloads: []Workload{w}, Tiny: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r.Torch != "" || len(r.Notes) != 1 || !strings.HasPrefix(r.Notes[0], PeerMissingHint) {
		t.Errorf("torch %q, notes %q", r.Torch, r.Notes)
	}
	if r.Mlpipe != "fake mlpipe" || len(r.Cells) != 1 || len(r.Cells[0].Torch) != 0 || len(r.Cells[0].Mlpipe.Samples) != 2 {
		t.Fatalf("report %+v", r)
	}
	if p := r.Cells[0].Mlpipe.Samples[0].Result.Extra["process_seconds"]; p <= 0 {
		t.Errorf("process_seconds %v", p)
	}
	row := r.rows()[0]
	if row.mlpipe != "1.50 ms (1.50–1.50)" || row.torch != "—" || row.ratio != "—" {
		t.Errorf("row %+v", row)
	}
}
