package store

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The tests below re-execute the test binary as a helper process: with
// helperEnv set, TestHelperProcess does the helper's work and exits.
const (
	helperEnv      = "MLPIPE_STORE_HELPER" // "write" or "hang"
	helperDirEnv   = "MLPIPE_STORE_HELPER_DIR"
	helperIndexEnv = "MLPIPE_STORE_HELPER_INDEX"
)

const (
	writerMetrics = 200
	writerObjects = 10
)

func TestHelperProcess(t *testing.T) {
	mode := os.Getenv(helperEnv)
	if mode == "" {
		t.Skip("helper process for other tests")
	}
	index, _ := strconv.Atoi(os.Getenv(helperIndexEnv))
	var err error
	switch mode {
	case "write":
		err = helperWrite(os.Getenv(helperDirEnv), index)
	case "hang":
		err = helperHang(os.Getenv(helperDirEnv))
	default:
		err = fmt.Errorf("unknown helper mode %q", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func helperCommand(t *testing.T, mode, dir string, index int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, helperDirEnv+"="+dir,
		helperIndexEnv+"="+strconv.Itoa(index))
	cmd.Stderr = os.Stderr
	return cmd
}

// helperWrite records one run with writerMetrics metrics (logged in batches
// of various sizes and one by one), writerObjects artifacts of its own and
// one artifact whose content every writer shares.
func helperWrite(dir string, index int) error {
	ctx := context.Background()
	s, err := Open(ctx, dir)
	if err != nil {
		return err
	}
	defer s.Close()
	r := sampleRun("concurrent")
	r.Sweep, r.Variant = "grid", index
	r.Params = map[string]string{"index": strconv.Itoa(index)}
	if err := s.BeginRun(ctx, r); err != nil {
		return err
	}
	if err := s.AddSource(ctx, r.ID, "p.mlp", []byte("shared source")); err != nil {
		return err
	}
	for step := 0; step < writerMetrics; {
		batch := []Metric{}
		for n := 1 + step%7; n > 0 && step < writerMetrics; n-- {
			batch = append(batch, Metric{Stage: "fit", Name: "loss", Step: int64(step), Value: float64(index*1000 + step)})
			step++
		}
		if err := s.LogMetrics(ctx, r.ID, batch); err != nil {
			return err
		}
	}
	for i := range writerObjects {
		content := fmt.Sprintf("writer %d object %d", index, i)
		if err := addArtifact(ctx, s, r.ID, fmt.Sprintf("obj%d", i), content); err != nil {
			return err
		}
	}
	if err := addArtifact(ctx, s, r.ID, "shared", "the same content in every writer"); err != nil {
		return err
	}
	return s.FinishRun(ctx, r.ID, Done, "")
}

func addArtifact(ctx context.Context, s *Store, runID, name, content string) error {
	d, err := s.PutBytes(ctx, []byte(content))
	if err != nil {
		return err
	}
	return s.AddArtifact(ctx, runID, Artifact{Stage: "fit", Name: name, Digest: d, Size: int64(len(content))})
}

// helperHang begins a run, prints its id and blocks until killed.
func helperHang(dir string) error {
	ctx := context.Background()
	s, err := Open(ctx, dir)
	if err != nil {
		return err
	}
	r := sampleRun("hang")
	if err := s.BeginRun(ctx, r); err != nil {
		return err
	}
	if err := s.LogMetrics(ctx, r.ID, []Metric{{Stage: "fit", Name: "loss", Step: 0, Value: 1}}); err != nil {
		return err
	}
	fmt.Println(r.ID)
	// Sleep rather than select {}: with every goroutine blocked and no
	// timer pending, the runtime would end the helper with "all goroutines
	// are asleep", and its run would look killed.
	for {
		time.Sleep(time.Hour)
	}
}

func TestConcurrentProcessesLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 8 processes")
	}
	const writers = 8
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for i := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = helperCommand(t, "write", dir, i).Run()
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", i, err)
		}
	}

	ctx := context.Background()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	runs, err := s.ListRuns(ctx, Filter{Sweep: "grid"})
	if err != nil {
		t.Fatal(err)
	}
	if len(runs) != writers {
		t.Fatalf("%d runs recorded, want %d", len(runs), writers)
	}
	seen := map[int]bool{}
	for _, listed := range runs {
		r, err := s.GetRun(ctx, listed.ID)
		if err != nil {
			t.Fatal(err)
		}
		seen[r.Variant] = true
		checkWriterRun(t, s, r)
	}
	if len(seen) != writers {
		t.Errorf("variants %v, want 0..%d", seen, writers-1)
	}
}

func checkWriterRun(t *testing.T, s *Store, r *Run) {
	t.Helper()
	if r.Status != Done || len(r.Metrics) != writerMetrics || len(r.Artifacts) != writerObjects+1 || len(r.Sources) != 1 {
		t.Errorf("run %s (variant %d): status %s, %d metrics, %d artifacts, %d sources",
			r.ID, r.Variant, r.Status, len(r.Metrics), len(r.Artifacts), len(r.Sources))
	}
	for i, m := range r.Metrics {
		if m.Step != int64(i) || m.Value != float64(r.Variant*1000+i) {
			t.Errorf("run %s metric %d = %+v", r.ID, i, m)
			break
		}
	}
	for _, a := range r.Artifacts {
		if _, err := s.ReadObject(context.Background(), a.Digest); err != nil {
			t.Errorf("artifact %s of run %s: %v", a.Name, r.ID, err)
		}
	}
}

// startHanging starts a helper that begins a run and blocks; it returns the
// command and the run's record id.
func startHanging(t *testing.T, dir string) (*exec.Cmd, string) {
	t.Helper()
	cmd := helperCommand(t, "hang", dir, 0)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the helper's run id: %v", err)
	}
	return cmd, strings.TrimSpace(line)
}

func TestKilledRunIsMarkedInterrupted(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	killed, killedID := startHanging(t, dir)
	_, liveID := startHanging(t, dir)

	if err := killed.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed.Wait()

	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dead, err := s.GetRun(ctx, killedID)
	if err != nil {
		t.Fatal(err)
	}
	if dead.Status != Interrupted || dead.Error != DiedError || dead.Ended.IsZero() {
		t.Errorf("killed run: status %s, error %q, ended %v; want interrupted, %q", dead.Status, dead.Error, dead.Ended, DiedError)
	}
	if want := dead.Metrics[0].Time; !dead.Ended.Equal(want) {
		t.Errorf("killed run ended %v, want its last sign of life %v", dead.Ended, want)
	}
	live, err := s.GetRun(ctx, liveID)
	if err != nil {
		t.Fatal(err)
	}
	if live.Status != Running {
		t.Errorf("live process's run is %s, want running", live.Status)
	}
}

func TestRunningRunsOfOtherProcesses(t *testing.T) {
	ctx := context.Background()
	s, dir := openTemp(t)
	insert := func(host string, pid int, pidStart int64) string {
		r := mustBegin(t, s, sampleRun("e"))
		if _, err := s.db.ExecContext(ctx, `UPDATE runs SET host = ?, pid = ?, pid_start = ? WHERE id = ?`,
			host, pid, pidStart, r.ID); err != nil {
			t.Fatal(err)
		}
		return r.ID
	}
	me := currentProcess()
	tests := []struct {
		name string
		id   string
		want Status
	}{
		{"this process", insert(me.Host, me.PID, me.Start), Running},
		{"other host", insert(me.Host+"-elsewhere", 1<<30, 0), Running},
		{"no such pid", insert(me.Host, 1<<30, 0), Interrupted},
	}
	if me.Start != 0 {
		tests = append(tests, struct {
			name string
			id   string
			want Status
		}{"pid reused by another process", insert(me.Host, me.PID, me.Start+1), Interrupted})
	}
	s2, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := s2.GetRun(ctx, tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tt.want {
				t.Errorf("status %s, want %s", r.Status, tt.want)
			}
		})
	}
}
