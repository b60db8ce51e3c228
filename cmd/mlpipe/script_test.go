package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mlpipe/mlpipe/interp/store"
)

var updateScripts = flag.Bool("update", false, "rewrite the expected files of testdata/script/*.txtar from the actual output")

// statusEnv names the file where the mlpipe command of the scripts records
// its exit status, for the script command `status`.
const statusEnv = "MLPIPE_TEST_STATUS_FILE"

// TestMain makes the test binary double as the mlpipe command: the scripts
// run it as `exec mlpipe ...` in a separate process, so that exit statuses,
// signals and output are the real ones.
//
// Runs that the tests start in-process record into a temporary store, never
// into the repository's pipelines/.mlpipe.
func TestMain(m *testing.M) {
	var run testscript.TestingM = m
	if os.Getenv(storeEnv) == "" {
		dir, err := os.MkdirTemp("", "mlpipe-test-store")
		if err != nil {
			panic(err)
		}
		os.Setenv(storeEnv, dir)
		run = removeAfter{m, dir}
	}
	testscript.Main(run, map[string]func(){
		"mlpipe": mlpipeCommand,
	})
}

// removeAfter runs the tests, then removes dir.
type removeAfter struct {
	m   *testing.M
	dir string
}

func (r removeAfter) Run() int {
	defer os.RemoveAll(r.dir)
	return r.m.Run()
}

// mlpipeCommand is main, which it mirrors, plus a record of the exit status
// for the `status` script command (testscript's exec only tells zero from
// non-zero, and mlpipe's statuses 1, 2 and 130 mean different things).
func mlpipeCommand() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := Main(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if f := os.Getenv(statusEnv); f != "" {
		_ = os.WriteFile(f, []byte(strconv.Itoa(code)), 0o644)
	}
	os.Exit(code)
}

// TestScript runs the command-line scripts in testdata/script. Besides the
// standard commands, the scripts may use
//
//	status N        the last mlpipe command exited with status N
//	waitfile PATH   wait (up to a minute) until PATH exists
//	sleep DURATION  pause, as in `sleep 300ms`
//
// and $PIPELINES, the repository's pipelines directory.
func TestScript(t *testing.T) {
	pipelines, err := filepath.Abs(filepath.Join("..", "..", "pipelines"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(pipelines, "quickstart.mlp")); err != nil {
		t.Fatalf("the repository's pipelines directory: %v", err)
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *updateScripts,
		Setup: func(env *testscript.Env) error {
			env.Setenv("PIPELINES", pipelines)
			env.Setenv(statusEnv, filepath.Join(env.WorkDir, ".mlpipe-status"))
			env.Setenv(storeEnv, filepath.Join(env.WorkDir, "store"))
			// The scripts must not depend on the caller's data directory.
			env.Setenv("MLPIPE_DATA", "")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"status":         cmdStatus,
			"waitfile":       cmdWaitFile,
			"sleep":          cmdSleep,
			"waitcheckpoint": cmdWaitCheckpoint,
			"samemetrics":    cmdSameMetrics,
		},
	})
}

// cmdStatus checks the exit status recorded by the last mlpipe command and
// consumes it, so that a later mlpipe that dies without recording one (a
// crash) is not mistaken for this one.
func cmdStatus(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: status N")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("usage: status N")
	}
	path := ts.Getenv(statusEnv)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		ts.Fatalf("no exit status recorded: mlpipe did not run, or died without returning from Main")
	}
	ts.Check(err)
	ts.Check(os.Remove(path))
	got, err := strconv.Atoi(strings.TrimSpace(string(data)))
	ts.Check(err)
	if got != want {
		ts.Fatalf("mlpipe exited with status %d, want %d", got, want)
	}
	if panicTrace.MatchString(ts.ReadFile("stderr")) {
		ts.Fatalf("mlpipe printed a Go panic or stack trace on stderr")
	}
}

// panicTrace matches what a Go panic or stack dump prints.
var panicTrace = regexp.MustCompile(`(?m)^panic: |^goroutine \d+ \[|internal error \(please report it\)`)

// TestScriptConventions checks that every script follows each foreground
// `exec mlpipe` with `status`, which checks the exact exit status and that
// no panic trace was printed.
func TestScriptConventions(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "script", "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts: %v", err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		script, _, _ := strings.Cut(string(data), "\n-- ")
		lines := strings.Split(script, "\n")
		for i, line := range lines {
			cmd := strings.TrimSpace(line)
			if _, after, ok := strings.Cut(cmd, "] "); ok && strings.HasPrefix(cmd, "[") {
				cmd = after // drop a condition such as [symlink]
			}
			cmd = strings.TrimPrefix(cmd, "! ")
			if !strings.HasPrefix(cmd, "exec mlpipe") || strings.HasSuffix(cmd, "&") {
				continue
			}
			next := ""
			if i+1 < len(lines) {
				next = strings.TrimSpace(lines[i+1])
				if _, after, ok := strings.Cut(next, "] "); ok && strings.HasPrefix(next, "[") {
					next = after
				}
			}
			if !strings.HasPrefix(next, "status ") {
				t.Errorf("%s:%d: %q is not followed by a status line", file, i+1, line)
			}
		}
	}
}

func cmdWaitFile(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: waitfile PATH")
	}
	path := ts.MkAbs(args[0])
	deadline := time.Now().Add(time.Minute)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not appear within a minute", args[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func cmdSleep(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 || neg {
		ts.Fatalf("usage: sleep DURATION")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	time.Sleep(d)
}

// cmdWaitCheckpoint waits until the run store holds a training checkpoint
// of the stage of the experiment: waitcheckpoint STORE EXPERIMENT STAGE.
func cmdWaitCheckpoint(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 || neg {
		ts.Fatalf("usage: waitcheckpoint STORE EXPERIMENT STAGE")
	}
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(filepath.Join(ts.MkAbs(args[0]), store.DBName)); err == nil {
			st, err := store.Open(ctx, ts.MkAbs(args[0]))
			ts.Check(err)
			_, err = st.CacheLast(ctx, args[1], args[2]+"#checkpoint")
			st.Close()
			if err == nil {
				return
			}
			if !errors.Is(err, store.ErrNotFound) {
				ts.Fatalf("%v", err)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	ts.Fatalf("no checkpoint of %s appeared within a minute", args[2])
}

// cmdSameMetrics checks that two report.json files hold the same metrics:
// samemetrics A B.
func cmdSameMetrics(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 || neg {
		ts.Fatalf("usage: samemetrics A B")
	}
	read := func(path string) map[string]float64 {
		var doc struct {
			Metrics map[string]float64 `json:"metrics"`
		}
		ts.Check(json.Unmarshal([]byte(ts.ReadFile(path)), &doc))
		if len(doc.Metrics) == 0 {
			ts.Fatalf("%s has no metrics", path)
		}
		return doc.Metrics
	}
	a, b := read(args[0]), read(args[1])
	if !maps.Equal(a, b) {
		ts.Fatalf("metrics differ:\n%s: %v\n%s: %v", args[0], a, args[1], b)
	}
}
