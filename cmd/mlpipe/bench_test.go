package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlpipe/mlpipe/stdlib/bench"
)

// TestBenchWorkerJSON runs the worker in process on a tiny mlp_step and
// checks that it prints exactly one JSON line of the documented shape.
func TestBenchWorkerJSON(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), []string{"bench-worker", "mlp_step", "--steps", "3", "--warmup", "1", "--tiny"}, &stdout, &stderr)
	if code != exitOK {
		t.Fatalf("status %d; stderr:\n%s", code, stderr.String())
	}
	out := stdout.String()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Fatalf("want one line, got %q", out)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &fields); err != nil {
		t.Fatalf("%v: %q", err, out)
	}
	var keys []string
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"extra", "ms_per_step", "seconds", "steps"}) {
		t.Errorf("keys %q", keys)
	}
	res, err := bench.ParseResult(stdout.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 3 || res.Extra["gflops"] <= 0 || res.Extra["loss_first"] <= 0 {
		t.Errorf("result %+v", res)
	}
}

func TestBenchWorkerUsage(t *testing.T) {
	for _, args := range [][]string{{"bench-worker", "nope"}, {"bench-worker"}, {"bench", "--only", "nope"}, {"bench", "--threads", "0"}, {"bench", "--repeats", "0"}} {
		var stdout, stderr bytes.Buffer
		if code := Main(context.Background(), args, &stdout, &stderr); code != exitUsage {
			t.Errorf("%q: status %d, want %d; stderr:\n%s", args, code, exitUsage, stderr.String())
		}
	}
	var stdout, stderr bytes.Buffer
	if code := Main(context.Background(), []string{"bench", "--list"}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "mlp_step (per step): ") {
		t.Errorf("bench --list: status %d, stdout:\n%s", code, stdout.String())
	}
}

func TestParseThreads(t *testing.T) {
	got, err := parseThreads("1, all,2,4", 2)
	if err != nil || !slices.Equal(got, []int{1, 2, 4}) {
		t.Errorf("parseThreads = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "x", "1,-2"} {
		if _, err := parseThreads(bad, 2); err == nil {
			t.Errorf("parseThreads(%q) accepted", bad)
		}
	}
}

// mlpipeBinary returns the mlpipe command that TestMain (script_test.go)
// puts on PATH: a copy of the test binary that runs Main when called
// mlpipe. mlpipe bench starts its workers from its own executable, so it
// must run as that command, not in process.
func mlpipeBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("mlpipe")
	if err != nil {
		t.Skipf("no mlpipe command on PATH: %v", err)
	}
	return p
}

// runBench runs `mlpipe ARGS...` with extra environment variables and
// returns its stdout, stderr and exit status.
func runBench(t *testing.T, timeout time.Duration, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, mlpipeBinary(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = filepath.Join("..", "..")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("mlpipe %q did not finish in %v; stderr:\n%s", args, timeout, stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), code
}

// TestBenchWithoutPyTorch points MLPIPE_PYTHON at a missing file: bench
// says how to install PyTorch and still times mlpipe.
func TestBenchWithoutPyTorch(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-python3")
	stdout, stderr, code := runBench(t, 2*time.Minute, []string{"MLPIPE_PYTHON=" + missing},
		"bench", "--repeats", "1", "--only", "mlp_step", "--threads", "1", "--tiny")
	if code != exitOK {
		t.Fatalf("status %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, bench.PeerMissingHint) || !strings.Contains(stdout, bench.PeerMissingHint) {
		t.Errorf("no %q on stderr and in the table's notes:\nstdout:\n%s\nstderr:\n%s", bench.PeerMissingHint, stdout, stderr)
	}
	if !strings.Contains(stdout, "mlp_step") || !strings.Contains(stdout, " ms (") || strings.Contains(stdout, "PyTorch: ") {
		t.Errorf("table:\n%s", stdout)
	}
}

// TestBenchEndToEnd runs the real command on one workload at one thread,
// both sides, full size. It takes about 7 s with OpenBLAS; with pure-Go
// matrix products (about 20 s) it is skipped, as under -short.
func TestBenchEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("runs mlpipe and PyTorch for several seconds")
	}
	var out bytes.Buffer
	describe := exec.Command(mlpipeBinary(t), "bench-worker", "--describe")
	describe.Stdout = &out
	if err := describe.Run(); err != nil {
		t.Fatalf("bench-worker --describe: %v", err)
	}
	if !strings.Contains(out.String(), "OpenBLAS") {
		t.Skipf("pure-Go matrix products make the full-size run too slow for a test: %s", out.String())
	}
	dir := t.TempDir()
	md := filepath.Join(dir, "bench.md")
	start := time.Now()
	stdout, stderr, code := runBench(t, 2*time.Minute, nil, "bench", "--repeats", "1", "--only", "mlp_step", "--threads", "1", "--markdown", md)
	t.Logf("mlpipe bench took %v", time.Since(start).Round(time.Second))
	if code != exitOK {
		t.Fatalf("status %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "[1/") {
		t.Errorf("no progress lines on stderr:\n%s", stderr)
	}
	data, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{stdout, string(data)} {
		if !strings.Contains(text, "mlp_step") || !strings.Contains(text, "GFLOP/s") {
			t.Errorf("no mlp_step row with GFLOP/s:\n%s", text)
		}
	}
	if strings.Contains(stderr, bench.PeerMissingHint) {
		t.Logf("PyTorch is not installed; only mlpipe was timed")
	} else if !strings.Contains(stdout, "OMP 1 + BLAS 1") {
		t.Errorf("no PyTorch column:\n%s", stdout)
	}
}
